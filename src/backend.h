/* backend.h - the backend contract: what a pool asks of whatever its
 * workers are (threads, processes, MPI ranks), and what a backend
 * sees of the pool.
 *
 * The front end (pool.c and the layers above it) calls a backend only
 * through its mp__backend_ops table, and never asks which backend it has:
 * every difference between backends is a capability or a hook below.  A
 * backend sees the pool only as its crew (mp__crew): the workers' control
 * block, the supervision options, and the broken state it may set.  The
 * scheduler (sched.h) is below both: the backend runs the scheduler's
 * worker loop in each worker.
 *
 * Threads: every hook is called from the thread that calls the public
 * function named in its contract, never concurrently for one pool except
 * where a contract says so (check, watch).  Adding a backend:
 * docs/ARCHITECTURE.md, "Adding a backend".
 */
#ifndef MPROC_BACKEND_H
#define MPROC_BACKEND_H

#include "sched.h"

#include <pthread.h>
#include <sys/types.h>

/* How a waiting caller polls for dead workers and cancels, in seconds. */
#define MP__WATCH_INTERVAL 0.05

/* How the caller's memory reaches the workers. */
typedef enum mp__memory_model {
    /* Workers see the caller's address space: inputs, outputs and the
     * context are used in place (threads). */
    MP__MEMORY_SHARED,
    /* Workers see only the shared arena (mp_shm_alloc): the front end
     * stages inputs and outputs there unless they already live there, and
     * copies results back (processes forked at open). */
    MP__MEMORY_STAGED,
    /* Workers see nothing of the caller: the backend ships the job's
     * inputs and brings its results back by message (MPI ranks).  What
     * sends and receives runs in the caller's process (proxy workers), so
     * the front end stages nothing: inputs, outputs and the context are
     * read and written where the caller has them, as for threads.  What
     * differs from SHARED is what tasks may do: only the bytes of their
     * inputs and context reach them (map-reduce, whose tasks share tables,
     * refuses such pools). */
    MP__MEMORY_SHIPPED
} mp__memory_model;

/* What a backend sees of its pool.  Owned by the pool (embedded in it);
 * the backend owns backend_data. */
typedef struct mp__crew {
    const struct mp__backend_ops *ops;
    int workers;                     /* how many the backend starts */
    int width;                       /* tasks that run at once (mp_pool_workers):
                                        `workers`, unless prepare says otherwise */
    mp__shared *sh;                  /* the workers' control block */
    void *backend_data;              /* the backend's private state */

    /* The pool lock.  Taken by callers before they reuse a job slot, and by
     * a supervisor while it reads a dead worker's job, which orders the
     * two.  Guards `broken` and the pool's own fields (pool.h). */
    pthread_mutex_t lock;
#ifdef MPROC_ASSERTS
    _Atomic unsigned long lock_holder; /* the thread holding `lock`, 0: none */
#endif
    int broken;                      /* 0, or the error that broke the pool */
    char broken_msg[256];

    /* Supervision options (mp_pool_options), fixed at open. */
    int (*initializer)(const void *context);
    void *init_ctx;                  /* private copy, freed with the pool */
    size_t init_ctx_size;
    int retries;
    _Atomic bool timeouts_used;      /* some call asked for a task timeout */
} mp__crew;

typedef struct mp__backend_ops {
    const char *name;

    /* ---- capabilities: what the front end must do for this backend ---- */

    /* How caller memory reaches workers (staging, see above). */
    mp__memory_model memory;
    /* The scheduler keeps worker slots exact per task and claims by
     * compare-and-swap only, so that a supervisor can recover a dead
     * worker's claims (mp__shared.supervised).  Costs a few stores per
     * task. */
    bool supervised;
    /* Workers in other processes sleep on the control block's futex words
     * (mp__shared.futex_shared: shared, not private, futexes). */
    bool futex_shared;
    /* true: stop(crew, true) returns only once no worker will touch a
     * job again, soon (processes are killed; MPI proxies wait for the
     * ranges they have in flight, which cancel keeps few), so terminate
     * stops the workers before it settles calls.  false: a worker cannot
     * be stopped (a thread), so terminate settles calls first and lets
     * each worker finish its task. */
    bool stops_running_tasks;

    /* ---- life cycle ---------------------------------------------------- */

    /* mp_pool_open, before the control block exists; NULL: nothing to do.
     * May set crew->workers (the control block's worker slots) and
     * crew->width from what is there to run on; `requested` is the count
     * the options or MPROC_WORKERS asked for, 0 if neither did.  May set
     * backend_data, which start then takes over; if the open fails before
     * start, forget frees it.  0, or an error with a message and nothing
     * to undo. */
    int (*prepare)(mp__crew *crew, int requested);
    /* mp_pool_open, in the opening thread, once the control block exists.
     * Starts crew->workers workers, each running mp__crew_worker_init and
     * then mp__sched_worker_main, and returns once every worker ran its
     * initializer: 0; or the initializer's error, or MP_ENOMEM, or -errno,
     * with a message and nothing left running, backend_data freed (the
     * front end frees the control block). */
    int (*start)(mp__crew *crew);
    /* A caller waiting for a job, every MP__WATCH_INTERVAL; any thread,
     * concurrently with every hook but start and stop.  How the pool learns
     * a worker is gone: 0 while the pool can finish its jobs; else the
     * error that broke it (crew->broken), with its message, once a worker
     * died in a way the backend could not recover from. */
    int (*check)(mp__crew *crew);
    /* mp_pool_close and mp_pool_terminate, in the closing thread, after
     * mp__sched_shutdown.  now = false: workers finish their work and
     * exit; now = true: they are stopped as soon as the backend can (see
     * stops_running_tasks).  Returns once every worker is gone and reaped,
     * and backend_data is freed. */
    void (*stop)(mp__crew *crew, bool now);
    /* close, terminate or a free function called in a process forked from
     * the pool's owner: frees that process's copy of backend_data (memory,
     * descriptors) without signalling, joining or touching anything
     * shared; the owner's workers go on. */
    void (*forget)(mp__crew *crew);

    /* ---- jobs ------------------------------------------------------------ */

    /* At the start of each call, with its task function: 0, or MP_EINVAL
     * with a message naming `who` when the workers cannot run `fn`.  Any
     * thread.  NULL for backends whose workers run any function of this
     * process. */
    int (*check_fn)(mp__crew *crew, void (*fn)(void), const char *who);
    /* How a published job is announced: called by the submitting thread,
     * under no lock, once the job is filled (mp__sched_publish's
     * preconditions hold).  Control-block backends publish it in place; a
     * shipping backend sends it.  Results and failures come back the way
     * workers report them (mp__job_credit, mp__job_record_failure, and
     * outputs in the job's arena blocks) before the job is DONE. */
    void (*publish)(mp__crew *crew, mp__job *job);
    /* A stream job (imap) got input up to `count`: announce it.  Called by
     * the consuming thread. */
    void (*feed)(mp__crew *crew, mp__job *job, size_t count);
    /* Supervision changed: a job was cancelled (its running tasks should
     * stop) or the first task timeout was set (deadlines need watching).
     * Any thread, concurrently with check; must not block and may be called
     * needlessly.  Backends that cannot stop a running task do nothing. */
    void (*watch)(mp__crew *crew);
} mp__backend_ops;

/* The backends built in (CMake options), or NULL when left out (pool.c). */
const mp__backend_ops *mp__backend_for(mp_backend backend);
extern const mp__backend_ops mp__thread_backend;    /* backend_thread.c */
extern const mp__backend_ops mp__process_backend;   /* backend_process.c, MPROC_PROCESS_BACKEND */
extern const mp__backend_ops mp__mpi_backend;       /* backend_mpi.c, MPROC_MPI_BACKEND */

/* ---- helpers for backends (crew.c) ----------------------------------------- */

/* The pool lock, and the contract every *_locked function states with
 * MP__ASSERT_LOCKED: contract-checking builds record the holding thread. */
static inline void mp__crew_lock(mp__crew *crew)
{
    pthread_mutex_lock(&crew->lock);
#ifdef MPROC_ASSERTS
    atomic_store_explicit(&crew->lock_holder, (unsigned long)pthread_self(), memory_order_relaxed);
#endif
}

static inline void mp__crew_unlock(mp__crew *crew)
{
#ifdef MPROC_ASSERTS
    MP__ASSERT(atomic_load_explicit(&crew->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self());
    atomic_store_explicit(&crew->lock_holder, 0, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&crew->lock);
}

/* Waits on `cond` with the pool lock, which the caller holds. */
static inline void mp__crew_wait(mp__crew *crew, pthread_cond_t *cond)
{
#ifdef MPROC_ASSERTS
    MP__ASSERT(atomic_load_explicit(&crew->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self());
    atomic_store_explicit(&crew->lock_holder, 0, memory_order_relaxed);
#endif
    pthread_cond_wait(cond, &crew->lock);
#ifdef MPROC_ASSERTS
    atomic_store_explicit(&crew->lock_holder, (unsigned long)pthread_self(), memory_order_relaxed);
#endif
}

#ifdef MPROC_ASSERTS
#define MP__ASSERT_LOCKED(crew) \
    MP__ASSERT(atomic_load_explicit(&(crew)->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self())
#else
#define MP__ASSERT_LOCKED(crew) ((void)(crew))
#endif

/* Marks the pool broken with `code` and a message (the first reason stays)
 * and wakes every waiting caller.  Pool lock held. */
void mp__crew_break_locked(mp__crew *crew, int code, const char *fmt, ...) MP_PRINTF(3, 4);
/* check's answer for backends whose only news is crew->broken: 0, or the
 * code with its message.  Takes the pool lock. */
int mp__crew_broken(mp__crew *crew);

/* In a worker, before its loop: runs the pool's initializer.  0, or its
 * code after recording the message in the control block. */
int mp__crew_worker_init(mp__crew *crew, int worker);
/* The part of mp__crew_worker_init after the initializer: the worker is
 * ready (for workers whose initializer runs elsewhere). */
void mp__crew_worker_ready(mp__crew *crew, int worker);
/* In start: waits until every worker ran its initializer, or one failed,
 * or `failed` (may be NULL), asked every 10 ms, reports an error. */
int mp__crew_wait_ready(mp__crew *crew, int (*failed)(mp__crew *crew));

/* The publish and feed hooks of every backend whose workers share the
 * control block: the job is announced in place (mp__sched_publish). */
void mp__crew_publish_in_place(mp__crew *crew, mp__job *job);
void mp__crew_feed_in_place(mp__crew *crew, mp__job *job, size_t count);

#endif
