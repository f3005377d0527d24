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
    for (int i = 0; i < SPAWN_ACTION_CACHE; i++)
        if (s->actions[i].ready)
            posix_spawn_file_actions_destroy(&s->actions[i].fa);
    if (s->devnull >= 0)
        close(s->devnull);
    free(s->env);
    s->env = NULL;
    free(s->slot_name_var);
    s->slot_name_var = NULL;
}

int spawner_add_slot_var(spawner *s, const char *name)
{
    size_t len = strlen(name);
    s->slot_name_var = malloc(len + 2 + 24);
    size_t n = 0;
    while (s->env[n])
        n++;
    char **env = realloc(s->env, (n + 2) * sizeof *env);
    if (!s->slot_name_var || !env) {
        if (env)
            s->env = env;
        return ENOMEM;
    }
    s->env = env;
    memcpy(s->slot_name_var, name, len);
    s->slot_name_var[len] = '=';
    s->slot_name_var[len + 1] = '\0';
    s->slot_name_len = len + 1;
    /* Drop the variable's value from our environment, keeping the order
     * of the rest: the job variables stay where spawner_init put them. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(env[i], s->slot_name_var, len + 1) != 0 || env[i] == s->seq_var || env[i] == s->slot_var) {
            if (i == s->env_seq)
                s->env_seq = k;
            if (i == s->env_slot)
                s->env_slot = k;
            env[k++] = env[i];
        }
    }
    env[k++] = s->slot_name_var;
    env[k] = NULL;
    return 0;
}

/* The file actions for these descriptors, built on first use. */
static posix_spawn_file_actions_t *actions_for(spawner *s, const int fds[3], int *rc)
{
    for (int i = 0; i < SPAWN_ACTION_CACHE; i++)
        if (s->actions[i].ready && !memcmp(s->actions[i].fds, fds, sizeof s->actions[i].fds))
            return &s->actions[i].fa;
    spawn_actions *a = &s->actions[s->next_evict];
    s->next_evict = (s->next_evict + 1) % SPAWN_ACTION_CACHE;
    if (a->ready)
        posix_spawn_file_actions_destroy(&a->fa);
    a->ready = 0;
    *rc = posix_spawn_file_actions_init(&a->fa);
    if (*rc)
        return NULL;
    /* dup2 clears close-on-exec on the copy; the originals close at exec. */
    *rc = posix_spawn_file_actions_adddup2(&a->fa, fds[0] >= 0 ? fds[0] : s->devnull, 0);
    for (int fd = 1; fd <= 2 && !*rc; fd++)
        if (fds[fd] >= 0)
            *rc = posix_spawn_file_actions_adddup2(&a->fa, fds[fd], fd);
    if (*rc) {
        posix_spawn_file_actions_destroy(&a->fa);
        return NULL;
    }
    memcpy(a->fds, fds, sizeof a->fds);
    a->ready = 1;
    return &a->fa;
}

int spawner_start(spawner *s, const char *path, char *const argv[], const int fds[3], unsigned long seq,
                  unsigned long slot, pid_t *pid)
{
    int rc = 0;
    posix_spawn_file_actions_t *fa = actions_for(s, fds, &rc);
    if (!fa)
        return rc;
    snprintf(s->seq_var, sizeof s->seq_var, "PARALLEL_SEQ=%lu", seq);
    snprintf(s->slot_var, sizeof s->slot_var, "PARALLEL_JOBSLOT=%lu", slot);
    if (s->slot_name_var)
        snprintf(s->slot_name_var + s->slot_name_len, 24, "%lu", slot - 1);
    return posix_spawn(pid, path, fa, &s->attr, argv, s->env);
}
