/* supervise.h - what a supervisor needs to know about each worker, and the
 * supervisor's interface (supervise.c, forkserver.c, backend_process.c).
 *
 * Every worker owns one record (a worker slot) in the control block.  Only
 * that worker writes it, with plain (relaxed or release) stores on its own
 * cache line: no system call and no contended atomic per task.  When the
 * worker dies, the record says exactly what it held, so the supervisor can
 * hand every task it had not finished to someone else.
 *
 * The record is kept so that every single store leaves it consistent:
 *   acct = unflushed << 3 | state      one word, so that the tasks a worker
 *                                      finished but has not yet added to the
 *                                      job's `done` change together with its
 *                                      state;
 *   pos  = 2*i+1 while task i runs,    one word, so that "which task was
 *          2*i   once tasks before i   running" and "how many are finished"
 *                are finished          never disagree.
 * Two short windows cannot be made single-store: between a claim's
 * compare-and-swap and the store that records its success (CLAIMING), and
 * between the fetch-add on `done` and the store that clears the unflushed
 * count (FLUSHING).  A worker that dies in one of them leaves an uncertain
 * record, which the supervisor settles once no live worker is in that job:
 * every task is then either finished (counted in `done`), still unclaimed,
 * or held by a dead worker, so the number of missing tasks says which way
 * the uncertain operation went.
 */
#ifndef MPROC_SUPERVISE_H
#define MPROC_SUPERVISE_H

#include "internal.h"

#include "atomics.h"
#include <stdint.h>
#include <sys/types.h>

enum {
    MP__WS_IDLE = 0,       /* in no job */
    MP__WS_CLAIMING = 1,   /* in a job; trying to claim [begin, end) */
    MP__WS_HOLDING = 2,    /* holds [begin, end); pos says how far it got */
    MP__WS_FLUSHING = 3    /* adding its unflushed count to done */
};
#define MP__WS_BITS 3
#define MP__WS_STATE(acct) ((unsigned)((acct) & 7u))
#define MP__WS_UNFLUSHED(acct) ((acct) >> MP__WS_BITS)

/* status: how far the worker process got in its life. */
enum {
    MP__WS_STARTING = 0,
    MP__WS_READY = 1,        /* initializer done, running the worker loop */
    MP__WS_INIT_FAILED = 2,  /* its initializer failed (sh->init_code says how) */
    MP__WS_RETIRING = 3,     /* reached maxtasksperchild and exits on purpose */
    MP__WS_WORKED = 4        /* has finished at least one task */
};

typedef struct mp__wslot {
    _Atomic uint64_t acct;        /* unflushed << 3 | state */
    _Atomic uint64_t pos;         /* 2*i+1: running i; 2*i: all before i finished */
    _Atomic uint64_t begin, end;  /* held chunk, or the claim being attempted */
    _Atomic uint64_t deadline_ns; /* running task's deadline (CLOCK_MONOTONIC), 0: none */
    _Atomic uint32_t job;         /* job slot index */
    _Atomic uint32_t gen;         /* that job's generation */
    _Atomic uint32_t status;      /* MP__WS_STARTING ... */
    /* The fault the worker died of, stored by its SIGSEGV/SIGBUS handler
     * (fault.c): signal << 16 | si_code, 0 if none; and the address. */
    _Atomic uint32_t fault;
    _Atomic uint64_t fault_addr;
} MP__ALIGNED mp__wslot;

_Static_assert(sizeof(mp__wslot) == MP__CACHELINE, "a worker slot is one cache line");

static inline void mp__ws_set(mp__wslot *ws, uint64_t unflushed, unsigned state)
{
    MP__ASSERT(state <= MP__WS_FLUSHING && unflushed < (UINT64_C(1) << (64 - MP__WS_BITS)));
    atomic_store_explicit(&ws->acct, unflushed << MP__WS_BITS | state, memory_order_release);
}

static inline uint64_t mp__now_ns(void)
{
    return (uint64_t)(mp__now() * 1e9);
}

/* Exit status of a worker whose initializer failed (the message is in the
 * control block); any other way of ending is reported as it happened. */
#define MP__EXIT_INIT_FAILED 121

struct mp_pool;

/* supervise.c: the supervisor of a process pool, a thread of the parent.
 * start forks the fork server and the workers and waits until every worker
 * ran its initializer; on failure nothing is left running. */
int mp__supervisor_start(struct mp_pool *pool);
/* Stops the supervisor: workers are killed (now) or awaited (they were told
 * to shut down), the fork server ends, everything is reaped. */
void mp__supervisor_stop(struct mp_pool *pool, bool now);
/* In a child forked from the pool's owner: frees that process's copy of
 * the supervisor's memory and closes its copies of the descriptors.  The
 * supervisor thread, the fork server and the workers are the owner's and
 * are left alone. */
void mp__supervisor_forget(struct mp_pool *pool);
/* Wakes the supervisor to look at the workers now (a cancel, a timeout). */
void mp__supervisor_kick(struct mp_pool *pool);

/* fault.c: a process worker's SIGSEGV and SIGBUS are caught (on an
 * alternate stack) just long enough to store the faulting address in its
 * slot; then the worker dies of the signal as before.  Call in the worker,
 * before any task runs. */
void mp__fault_watch(mp__wslot *ws);
/* For the supervisor, after the worker died with wait `status`: appends to
 * buf (whose string is `used` bytes long) where it faulted and the likely
 * cause -- "address 0x... is not mapped in the worker: memory allocated after
 * the pool opened ..." -- or nothing when it did not die of a recorded fault. */
void mp__fault_explain(const mp__wslot *ws, int status, char *buf, size_t len, size_t used);

/* forkserver.c: a single-threaded process that forks workers on request and
 * reports their deaths.  Messages are fixed-size records on a socket. */
enum { MP__FS_SPAWN = 1, MP__FS_KILL = 2, MP__FS_QUIT = 3,     /* requests */
       MP__FS_SPAWNED = 11, MP__FS_DIED = 12, MP__FS_FAILED = 13 };   /* reports */
typedef struct mp__fs_msg {
    int32_t type;
    int32_t worker;     /* worker id */
    int32_t pid;
    int32_t arg;        /* KILL: signal; DIED: wait status; FAILED: errno */
} mp__fs_msg;

/* Forks the fork server.  Each worker it forks calls worker_fn(pool, id).
 * Returns 0 with *pid and *fd (our end of the socket), or -errno. */
int mp__forkserver_start(struct mp_pool *pool, void (*worker_fn)(struct mp_pool *, int),
                         pid_t *pid, int *fd);

#endif
