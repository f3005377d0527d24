/* forkserver.h - the process backend's fork server (forkserver.c). */
#ifndef MPROC_FORKSERVER_H
#define MPROC_FORKSERVER_H

#include "backend.h"

#include <sys/types.h>

/* A single-threaded process that forks workers on request and
 * reports their deaths.  Messages are fixed-size records on a socket. */
enum { MP__FS_SPAWN = 1, MP__FS_KILL = 2, MP__FS_QUIT = 3,     /* requests */
       MP__FS_SPAWNED = 11, MP__FS_DIED = 12, MP__FS_FAILED = 13 };   /* reports */
typedef struct mp__fs_msg {
    int32_t type;
    int32_t worker;     /* worker id */
    int32_t pid;
    int32_t arg;        /* KILL: signal; DIED: wait status; FAILED: errno */
} mp__fs_msg;

/* Forks the fork server.  Each worker it forks calls worker_fn(crew, id).
 * Returns 0 with *pid and *fd (our end of the socket), or -errno. */
int mp__forkserver_start(mp__crew *crew, void (*worker_fn)(mp__crew *, int),
                         pid_t *pid, int *fd);

#endif
