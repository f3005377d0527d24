/* forkserver.c - the fork server: a single-threaded process, forked when a
 * process pool opens, that forks every worker of that pool on request.
 *
 * Why: a replacement worker must see globals as they were when the pool
 * opened (the memory rule), and forking the live program later -- which may
 * run threads holding locks -- could hand a worker a lock no one will ever
 * release.  The fork server is a frozen copy of the program at open time
 * with one thread; forking it is always safe.
 *
 * Workers are the fork server's children: it learns of their deaths
 * (SIGCHLD, read from a signalfd -- the fork server is a process of our
 * own, so taking its SIGCHLD disturbs no one; pidfds would do too, but
 * valgrind does not know them), reaps them and reports each death with its
 * wait status to the supervisor.  It also sends signals on the
 * supervisor's behalf: only the process that reaps a pid may signal it
 * without risking a reused pid.
 *
 * Lifetime: the fork server dies with the thread that forked it (the pool's
 * supervisor thread, which lives as long as the pool) by PR_SET_PDEATHSIG,
 * and every worker dies with the fork server the same way, so killing the
 * program, even by SIGKILL, leaves no process behind.  When its socket
 * closes or it is told to quit, it kills and reaps its workers and exits.
 */
#include "fault.h"
#include "forkserver.h"
#include "forked.h"
#include "shm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child {
    pid_t pid;     /* 0: none */
} child;

static void send_msg(int fd, int type, int worker, pid_t pid, int arg)
{
    mp__fs_msg m = { type, worker, (int32_t)pid, arg };
    while (send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* Reaps every child that has ended (all of them, blocking, when `all`) and
 * reports each death. */
static void reap(int fd, child *kids, int n, bool all)
{
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, all ? 0 : WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        for (int i = 0; i < n; i++)
            if (kids[i].pid == pid) {
                send_msg(fd, MP__FS_DIED, i, pid, status);
                kids[i].pid = 0;
            }
    }
}

static _Noreturn void quit(int fd, child *kids, int n)
{
    for (int i = 0; i < n; i++)
        if (kids[i].pid)
            kill(kids[i].pid, SIGKILL);
    reap(fd, kids, n, true);
    mp__child_exit(0);
}

static void spawn(mp__crew *crew, void (*worker_fn)(mp__crew *, int), int fd, int sigfd, child *kids, int id)
{
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(fd);
        close(sigfd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != me)
            mp__child_exit(1); /* the fork server died before we got here */
        mp__reseed_libc_random();
        mp__fault_watch(&crew->sh->wslots[id]);
        worker_fn(crew, id);
        mp__child_exit(0);
    }
    if (pid < 0) {
        send_msg(fd, MP__FS_FAILED, id, 0, errno);
        return;
    }
    kids[id].pid = pid;
    send_msg(fd, MP__FS_SPAWNED, id, pid, 0);
}

static _Noreturn void serve(mp__crew *crew, void (*worker_fn)(mp__crew *, int), int fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        mp__child_exit(1);
    /* Workers inherit this: a sane signal state whatever the program set.
     * SIGINT is the program's to handle (see mp_pool_open). */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    int n = crew->workers;
    child *kids = calloc((size_t)n, sizeof *kids);
    if (!kids || sigfd < 0)
        mp__child_exit(1);
    for (;;) {
        struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            quit(fd, kids, n);
        }
        if (pfd[1].revents) {
            struct signalfd_siginfo si[8];
            while (read(sigfd, si, sizeof si) > 0)
                ;
            reap(fd, kids, n, false);
        }
        if (pfd[0].revents) {
            mp__fs_msg m;
            ssize_t got = recv(fd, &m, sizeof m, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got != (ssize_t)sizeof m || m.type == MP__FS_QUIT)
                quit(fd, kids, n);       /* told to, or the supervisor is gone */
            if (m.type == MP__FS_SPAWN && m.worker >= 0 && m.worker < n && !kids[m.worker].pid)
                spawn(crew, worker_fn, fd, sigfd, kids, m.worker);
            else if (m.type == MP__FS_KILL && m.worker >= 0 && m.worker < n && kids[m.worker].pid == m.pid)
                kill(m.pid, m.arg);
        }
    }
}

int mp__forkserver_start(mp__crew *crew, void (*worker_fn)(mp__crew *, int), pid_t *pid_out, int *fd_out)
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
        serve(crew, worker_fn, sv[1], parent);
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
