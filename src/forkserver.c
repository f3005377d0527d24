/* forkserver.c - the fork server: a single-threaded process, forked when a
 * process pool opens, that forks every worker of that pool on request.
 *
 * Why: a replacement worker must see globals as they were when the pool
 * opened (the memory rule), and forking the live program later -- which may
 * run threads holding locks -- could hand a worker a lock no one will ever
 * release.  The fork server is a frozen copy of the program at open time
 * with one thread; forking it is always safe.
 *
 * Workers are the fork server's children: it learns of their deaths (one
 * pidfd per worker, in its poll set), reaps them and reports each death
 * with its wait status to the supervisor.  It also sends signals on the
 * supervisor's behalf: only the process that reaps a pid may signal it
 * without risking a reused pid.
 *
 * Lifetime: the fork server dies with the thread that forked it (the pool's
 * supervisor thread, which lives as long as the pool) by PR_SET_PDEATHSIG,
 * and every worker dies with the fork server the same way, so killing the
 * program, even by SIGKILL, leaves no process behind.  When its socket
 * closes or it is told to quit, it kills and reaps its workers and exits.
 */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child {
    pid_t pid;     /* 0: none */
    int pidfd;
} child;

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void send_msg(int fd, int type, int worker, pid_t pid, int arg)
{
    mp__fs_msg m = { type, worker, (int32_t)pid, arg };
    while (send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void reap(int fd, child *c, int worker)
{
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(c->pidfd);
    send_msg(fd, MP__FS_DIED, worker, c->pid, status);
    c->pid = 0;
    c->pidfd = -1;
}

static _Noreturn void quit(int fd, child *kids, int n)
{
    for (int i = 0; i < n; i++)
        if (kids[i].pid)
            kill(kids[i].pid, SIGKILL);
    for (int i = 0; i < n; i++)
        if (kids[i].pid)
            reap(fd, &kids[i], i);
    _exit(0);
}

static void spawn(mp_pool *pool, void (*worker_fn)(mp_pool *, int), int fd, child *kids, int n, int id)
{
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(fd);
        for (int i = 0; i < n; i++)
            if (kids[i].pid)
                close(kids[i].pidfd);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != me)
            _exit(1);        /* the fork server died before we got here */
        worker_fn(pool, id);
        _exit(0);
    }
    int pidfd = pid > 0 ? pidfd_open_(pid) : -1;
    if (pid < 0 || pidfd < 0) {
        int err = errno;
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        send_msg(fd, MP__FS_FAILED, id, 0, err);
        return;
    }
    kids[id].pid = pid;
    kids[id].pidfd = pidfd;
    send_msg(fd, MP__FS_SPAWNED, id, pid, 0);
}

static _Noreturn void serve(mp_pool *pool, void (*worker_fn)(mp_pool *, int), int fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Workers inherit this: a sane signal state whatever the program set.
     * SIGINT is the program's to handle (see mp_pool_open). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    int n = pool->workers;
    child *kids = calloc((size_t)n, sizeof *kids);
    struct pollfd *pfd = calloc((size_t)n + 1, sizeof *pfd);
    int *who = calloc((size_t)n + 1, sizeof *who);
    if (!kids || !pfd || !who)
        _exit(1);
    for (;;) {
        int np = 0;
        pfd[np++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        for (int i = 0; i < n; i++)
            if (kids[i].pid) {
                who[np] = i;
                pfd[np++] = (struct pollfd){ .fd = kids[i].pidfd, .events = POLLIN };
            }
        if (poll(pfd, (nfds_t)np, -1) < 0) {
            if (errno == EINTR)
                continue;
            quit(fd, kids, n);
        }
        for (int k = 1; k < np; k++)
            if (pfd[k].revents)
                reap(fd, &kids[who[k]], who[k]);
        if (pfd[0].revents) {
            mp__fs_msg m;
            ssize_t got = recv(fd, &m, sizeof m, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got != (ssize_t)sizeof m || m.type == MP__FS_QUIT)
                quit(fd, kids, n);       /* told to, or the supervisor is gone */
            if (m.type == MP__FS_SPAWN && m.worker >= 0 && m.worker < n && !kids[m.worker].pid)
                spawn(pool, worker_fn, fd, kids, n, m.worker);
            else if (m.type == MP__FS_KILL && m.worker >= 0 && m.worker < n && kids[m.worker].pid == m.pid)
                kill(m.pid, m.arg);
        }
    }
}

int mp__forkserver_start(mp_pool *pool, void (*worker_fn)(mp_pool *, int), pid_t *pid_out, int *fd_out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return mp__syserror("mp_pool_open: cannot make the fork server's socket");
    /* Buffered output would otherwise be written again by each worker. */
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        serve(pool, worker_fn, sv[1], parent);
    }
    int err = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        errno = err;
        return mp__syserror("mp_pool_open: cannot fork the fork server");
    }
    *pid_out = pid;
    *fd_out = sv[0];
    return 0;
}
