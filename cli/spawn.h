/* spawn.h - starting one job with posix_spawn.
 *
 * The child gets its own process group (so that a timeout or Ctrl-C can
 * stop everything the job started), an empty signal mask, the signal
 * dispositions mproc itself was given, standard input from /dev/null (or,
 * with --pipe, the job's block) and, when asked, pipes for standard output
 * and error. */
#ifndef MPROC_CLI_SPAWN_H
#define MPROC_CLI_SPAWN_H

#include <spawn.h>
#include <sys/types.h>

/* File actions depend only on the three descriptors given to the child, and
 * the kernel hands out the same few numbers again and again: building
 * them once per pair saves their validation (two getrlimit calls per
 * dup2) on every job. */
#define SPAWN_ACTION_CACHE 16

typedef struct spawn_actions {
    int fds[3];
    int ready;
    posix_spawn_file_actions_t fa;
} spawn_actions;

typedef struct spawner {
    posix_spawnattr_t attr;
    spawn_actions actions[SPAWN_ACTION_CACHE];
    unsigned next_evict;
    int devnull;            /* close-on-exec, given to the child as fd 0 */
    char **env;             /* environ plus the two per-job variables */
    size_t env_seq, env_slot;
    char seq_var[48];
    char slot_var[48];
    char *slot_name_var;    /* --process-slot-var: "NAME=" and room for the number */
    size_t slot_name_len;   /* the length of "NAME=" */
} spawner;

/* reset_sigpipe: jobs get the default SIGPIPE disposition back (set
 * unless SIGPIPE was already ignored when mproc started).  Returns 0, or
 * an errno value. */
int spawner_init(spawner *s, int reset_sigpipe);
void spawner_free(spawner *s);

/* --process-slot-var: every job also gets name=its slot - 1 (which
 * replaces any name in our environment).  Returns 0, or an errno value. */
int spawner_add_slot_var(spawner *s, const char *name);

/* Starts path with argv.  fds[0..2] become the child's fds 0, 1 and 2
 * (-1: /dev/null for fd 0, ours for 1 and 2).  Sets PARALLEL_SEQ and
 * PARALLEL_JOBSLOT.  Returns 0 with *pid set, or an errno value (the
 * program could not be run). */
int spawner_start(spawner *s, const char *path, char *const argv[], const int fds[3], unsigned long seq,
                  unsigned long slot, pid_t *pid);

#endif
