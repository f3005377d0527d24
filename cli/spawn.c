/* spawn.c - posix_spawn with the job's process group, signals and fds. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int spawner_init(spawner *s, int reset_sigpipe)
{
    memset(s, 0, sizeof *s);
    s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->devnull < 0)
        return errno;
    int rc = posix_spawnattr_init(&s->attr);
    if (rc)
        return rc;
    /* The runner only blocks signals (it reads them from a signalfd) and
     * ignores SIGPIPE: an empty mask and, unless our own parent ignored it
     * too, a default SIGPIPE give the job what it would have had.  Other
     * dispositions are inherited as they came to us (nohup keeps working),
     * and each one reset would cost the child a system call. */
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    if (reset_sigpipe)
        sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigmask(&s->attr, &none);
    posix_spawnattr_setsigdefault(&s->attr, &deflt);
    posix_spawnattr_setpgroup(&s->attr, 0);
    rc = posix_spawnattr_setflags(&s->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF);
    if (rc)
        return rc;
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    s->env = calloc(n + 3, sizeof *s->env);
    if (!s->env)
        return ENOMEM;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "PARALLEL_SEQ=", 13) && strncmp(*e, "PARALLEL_JOBSLOT=", 17))
            s->env[k++] = *e;
    s->env_seq = k++;
    s->env_slot = k++;
    s->env[s->env_seq] = s->seq_var;
    s->env[s->env_slot] = s->slot_var;
    return 0;
}

void spawner_free(spawner *s)
{
    posix_spawnattr_destroy(&s->attr);
    if (s->devnull >= 0)
        close(s->devnull);
    free(s->env);
    s->env = NULL;
}

int spawner_start(spawner *s, const char *path, char *const argv[], int out_fd, int err_fd,
                  unsigned long seq, unsigned long slot, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    /* dup2 clears close-on-exec on the copy; the originals close at exec. */
    rc = posix_spawn_file_actions_adddup2(&fa, s->devnull, 0);
    if (!rc && out_fd >= 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (!rc && err_fd >= 0)
        rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    snprintf(s->seq_var, sizeof s->seq_var, "PARALLEL_SEQ=%lu", seq);
    snprintf(s->slot_var, sizeof s->slot_var, "PARALLEL_JOBSLOT=%lu", slot);
    if (!rc)
        rc = posix_spawn(pid, path, &fa, &s->attr, argv, s->env);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}
