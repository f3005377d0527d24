/* backend_process.c - workers are processes forked once when the pool opens.
 *
 * Workers share the control block through the shared arena, which exists
 * before the fork.  Each worker asks the kernel to kill it when its parent
 * dies (PR_SET_PDEATHSIG), so no worker outlives the program.  A waiting
 * caller polls check() every MP__WATCH_INTERVAL: a worker that died is
 * reaped there and the pool is marked broken with the cause, so a call
 * never hangs on a dead worker. */
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct process_workers {
    pid_t *pids;           /* 0 once reaped */
} process_workers;

static void worker_child(mp_pool *pool, int id)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != pool->owner_pid)
        _exit(1);          /* the parent died before we got here */
    mp__worker_main(pool->sh, id);
    fflush(NULL);          /* the task's own buffered output */
    _exit(0);              /* no atexit handlers: they belong to the parent */
}

static void reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

static int process_start(mp_pool *pool)
{
    process_workers *pw = calloc(1, sizeof *pw);
    pid_t *pids = calloc((size_t)pool->workers, sizeof *pids);
    if (!pw || !pids) {
        free(pw);
        free(pids);
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    }
    pw->pids = pids;
    /* Buffered output would otherwise be written once by each worker. */
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < pool->workers; i++) {
        pid_t pid = fork();
        if (pid == 0)
            worker_child(pool, i);
        if (pid < 0) {
            int r = mp__syserror("mp_pool_open: cannot fork worker %d of %d", i + 1, pool->workers);
            for (int k = 0; k < i; k++) {
                kill(pids[k], SIGKILL);
                reap(pids[k], NULL);
            }
            free(pids);
            free(pw);
            return r;
        }
        pids[i] = pid;
    }
    pool->backend_data = pw;
    return 0;
}

static void describe_death(char *buf, size_t len, int id, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "worker %d (pid %d) was killed by %s", id, (int)pid, sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "a signal");
    else
        snprintf(buf, len, "worker %d (pid %d) exited with status %d", id, (int)pid, WEXITSTATUS(status));
}

static int process_check(mp_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    process_workers *pw = pool->backend_data;
    for (int i = 0; pw && i < pool->workers; i++) {
        int status;
        if (pw->pids[i] && waitpid(pw->pids[i], &status, WNOHANG) == pw->pids[i]) {
            char what[160];
            describe_death(what, sizeof what, i, pw->pids[i], status);
            pw->pids[i] = 0;
            if (!pool->broken) {
                pool->broken = MP_EBROKEN;
                snprintf(pool->broken_msg, sizeof pool->broken_msg, "pool is broken: %s", what);
            }
        }
    }
    int r = pool->broken;
    if (r)
        mp__error(r, "%s", pool->broken_msg);
    pthread_mutex_unlock(&pool->lock);
    return r;
}

static void process_stop(mp_pool *pool, bool now)
{
    pthread_mutex_lock(&pool->lock);
    process_workers *pw = pool->backend_data;
    for (int i = 0; pw && i < pool->workers; i++) {
        if (!pw->pids[i])
            continue;
        if (now)
            kill(pw->pids[i], SIGKILL);
        reap(pw->pids[i], NULL);
        pw->pids[i] = 0;
    }
    if (pw) {
        free(pw->pids);
        free(pw);
        pool->backend_data = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
}

const mp__backend_ops mp__process_backend = {
    .name = "process",
    .shares_caller_memory = false,
    .start = process_start,
    .check = process_check,
    .stop = process_stop,
};
