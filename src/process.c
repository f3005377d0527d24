/* process.c - mp_process: run a function in a forked child (Python's
 * multiprocessing.Process with the fork start method).
 *
 * The child is a fork of the caller, so it sees the argument blob and every
 * global as they were at the start, and all mp_shm memory.  It runs the
 * function and leaves with _exit(): no atexit handlers of the parent (test
 * frameworks, library destructors) run twice.  The parent watches the child
 * through a pidfd, which makes join-with-timeout a single poll(). */
#include "forked.h"
#include "ipc.h"
#include "shm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 127

struct mp_process {
    pid_t pid;
    int pidfd;          /* -1 when the kernel has no pidfd_open */
    int ended;          /* reaped; exitcode is valid */
    int exitcode;       /* as Python: status, or -signal */
    char name[NAME_MAX_LEN + 1];
};

static _Atomic unsigned process_counter;
/* The name of the calling process: "MainProcess" until an mp_process child
 * sets its own, right after fork (single-threaded at that point). */
static char current_name[NAME_MAX_LEN + 1] = "MainProcess";

const char *mp_process_current_name(void)
{
    return current_name;
}

int mp_process_current_pid(void)
{
    return (int)getpid();
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    /* pidfd_open always sets close-on-exec. */
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

static _Noreturn void child_main(mp_process *self, mp_process_fn fn, void *arg, size_t size, int flags, pid_t parent)
{
    /* The child has no use for its own handle: only the parent joins. */
    snprintf(current_name, sizeof current_name, "%s", self->name);
    free(self);
    mp__reseed_libc_random();
    if (flags & MP_PROCESS_DAEMON) {
        /* Die with the parent.  The parent may already be gone between the
         * fork and the prctl: then the signal never comes, so check. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            mp__child_exit(1);
    }
    int code = fn(arg, size);
    fflush(NULL);
    mp__child_exit(code & 0xff);
}

int mp_process_start(mp_process **out, const char *name, mp_process_fn fn, const void *arg, size_t size, int flags)
{
    if (!out || !fn)
        return mp__error(MP_EINVAL, "mp_process_start: %s is NULL", !out ? "out" : "fn");
    if (size > 0 && !arg)
        return mp__error(MP_EINVAL, "mp_process_start: arg is NULL but size is %zu", size);
    if (flags & ~MP_PROCESS_DAEMON)
        return mp__error(MP_EINVAL, "mp_process_start: unknown flags 0x%x", (unsigned)flags);
    if (name && (name[0] == '\0' || strlen(name) > NAME_MAX_LEN))
        return mp__error(MP_EINVAL, "mp_process_start: name is empty or longer than %d bytes", NAME_MAX_LEN);

    mp_process *p = calloc(1, sizeof *p);
    if (!p)
        return mp__error(MP_ENOMEM, "mp_process_start: out of memory");
    if (name)
        snprintf(p->name, sizeof p->name, "%s", name);
    else
        snprintf(p->name, sizeof p->name, "Process-%u", atomic_fetch_add(&process_counter, 1) + 1);

    pid_t parent = getpid();
    /* Unflushed output would otherwise be written twice, by both sides. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int r = mp__syserror("mp_process_start: fork");
        free(p);
        return r;
    }
    if (pid == 0)
        child_main(p, fn, (void *)arg, size, flags, parent);
    p->pid = pid;
    p->pidfd = open_pidfd(pid);
    mp__child_started((uint32_t)pid);
    *out = p;
    return 0;
}

/* Reaps the child if it has ended; `block` waits for it. */
static int reap(mp_process *p, int block)
{
    if (p->ended)
        return 1;
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0) {
        /* Someone else reaped it (a SIGCHLD handler set to SIG_IGN, or a
         * stray wait()): it has ended, its status is lost. */
        p->exitcode = 255;
    } else if (WIFSIGNALED(status)) {
        p->exitcode = -WTERMSIG(status);
    } else {
        p->exitcode = WEXITSTATUS(status);
    }
    p->ended = 1;
    mp__child_ended((uint32_t)p->pid);
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    return 1;
}

int mp_process_join(mp_process *p, double timeout)
{
    if (!p)
        return mp__error(MP_EINVAL, "mp_process_join: process is NULL");
    int r = mp__check_timeout("mp_process_join", timeout);
    if (r < 0)
        return r;
    if (reap(p, 0))
        return 0;
    if (timeout > MP__TIMEOUT_HUGE)
        timeout = MP_FOREVER;
    if (timeout < 0 && p->pidfd < 0) {
        reap(p, 1);
        return 0;
    }
    double deadline = timeout < 0 ? 0 : mp__now() + timeout;
    double nap = 0.0005;
    for (;;) {
        double left = timeout < 0 ? -1 : deadline - mp__now();
        if (timeout >= 0 && left <= 0)
            break;
        if (p->pidfd >= 0) {
            struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
            int ms = left < 0 ? -1 : (int)(left * 1000) + 1;
            poll(&pfd, 1, ms);
        } else {
            double d = left >= 0 && left < nap ? left : nap;
            struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
            nanosleep(&ts, NULL);
            nap = nap < 0.05 ? nap * 2 : nap;
        }
        if (reap(p, 0))
            return 0;
    }
    return mp__expired("mp_process_join", timeout);
}

int mp_process_is_alive(mp_process *p)
{
    if (!p)
        return 0;
    return !reap(p, 0);
}

int mp_process_exitcode(mp_process *p, int *code)
{
    if (!p || !code)
        return mp__error(MP_EINVAL, "mp_process_exitcode: %s is NULL", !p ? "process" : "code");
    if (!reap(p, 0))
        return mp__error(MP_EAGAIN, "mp_process_exitcode: %s (pid %d) is still running", p->name, (int)p->pid);
    *code = p->exitcode;
    return 0;
}

static int send_signal(mp_process *p, int sig, const char *who)
{
    if (!p)
        return mp__error(MP_EINVAL, "%s: process is NULL", who);
    /* Once reaped, the pid may belong to someone else: never signal it. */
    if (p->ended)
        return 0;
    if (kill(p->pid, sig) < 0 && errno != ESRCH)
        return mp__syserror("%s: kill(%d)", who, (int)p->pid);
    return 0;
}

int mp_process_terminate(mp_process *p)
{
    return send_signal(p, SIGTERM, "mp_process_terminate");
}

int mp_process_kill(mp_process *p)
{
    return send_signal(p, SIGKILL, "mp_process_kill");
}

int mp_process_pid(const mp_process *p)
{
    return p ? (int)p->pid : 0;
}

const char *mp_process_name(const mp_process *p)
{
    return p ? p->name : "";
}

int mp_process_close(mp_process *p)
{
    if (!p)
        return 0;
    if (!reap(p, 0))
        return mp__error(MP_EINVAL, "mp_process_close: %s (pid %d) is still running; join, terminate or kill it first",
                         p->name, (int)p->pid);
    free(p);
    return 0;
}
