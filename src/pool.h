/* pool.h - the pool: the front end's state, the layers above it (async
 * results, imap), and the pool's side of a job's life.
 *
 * Layering, top to bottom (docs/ARCHITECTURE.md draws it):
 *   async.c, imap.c   handles and iterators, installed as layers of the pool
 *   pool.c            argument checks, staging, collecting results; the
 *                     pool's jobs: acquire, wait, release (front end)
 *   backend_*.c       what a worker is (backend.h: the contract)
 *   sched.c           jobs in a control block, claiming, the worker loop
 * Nothing here asks which backend a pool has: only its capabilities.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "backend.h"

/* A layer above the pool (async.c, imap.c) registers these hooks with
 * mp__pool_add_layer before it first holds a job of the pool; the pool
 * reaches the layer only through them. */
typedef struct mp__layer {
    /* Every slot is taken: release the slots of finished jobs the layer
     * holds without anyone waiting on them.  Returns how many it released.
     * Pool lock held.  May be NULL. */
    int (*reclaim_locked)(mp_pool *pool);
    /* mp_pool_shutdown, pool lock held, `closing` already set: finish (or,
     * with cancel, cancel what has not started) what the layer holds;
     * wait: until it is done.  May be NULL. */
    void (*shutdown_locked)(mp_pool *pool, bool wait, bool cancel);
    /* Close (terminate: true for mp_pool_terminate), before the workers
     * stop: settle everything the layer holds and let go of the pool.
     * Called without the lock. */
    void (*close)(mp_pool *pool, bool terminate);
} mp__layer;

#define MP__MAX_LAYERS 4

struct mp_pool {
    mp__crew crew;                   /* what the backend sees (backend.h) */
    mp_backend backend;              /* for mp_pool_backend only */
    pid_t owner_pid;                 /* the process that opened the pool owns it */

    /* Under crew.lock (mp__pool_lock): */
    pthread_cond_t changed;          /* a slot freed, a caller left */
    uint64_t next_seq;
    int callers;                     /* calls in progress */
    bool closing;
    const mp__layer *layers[MP__MAX_LAYERS];
    int nlayers;

    _Atomic bool terminating;        /* read without the lock by waiters */
    int64_t task_timeout_ns;         /* pool default, 0: none */
    _Atomic uint32_t cancels;        /* bumped by mp_pool_cancel */
    _Atomic uint64_t one_task_calls; /* apply/submit streams handed out (mp_call.seed) */

    /* The layers' own state, under crew.lock; the pool never reads it. */
    struct mp__handle *handles;      /* async.c: every live handle */
    struct mp__handle *cb_queue;     /* async.c: finished handles whose callbacks are due */
    pthread_t cb_thread;
    bool cb_started, cb_stop;
    struct mp_imap *iterators;       /* imap.c: open iterators */
};

/* The pool lock (the crew's, see backend.h). */
static inline void mp__pool_lock(mp_pool *pool)
{
    mp__crew_lock(&pool->crew);
}

static inline void mp__pool_unlock(mp_pool *pool)
{
    mp__crew_unlock(&pool->crew);
}

/* Waits for pool->changed (a slot freed, a caller left); lock held. */
static inline void mp__pool_wait_changed(mp_pool *pool)
{
    mp__crew_wait(&pool->crew, &pool->changed);
}

#define MP__ASSERT_POOL_LOCKED(pool) MP__ASSERT_LOCKED(&(pool)->crew)

/* The backend's answer: can the pool still finish its jobs (0)? */
static inline int mp__pool_check(mp_pool *pool)
{
    return pool->crew.ops->check(&pool->crew);
}

/* Registers a layer (once; later calls with the same layer do nothing). */
void mp__pool_add_layer(mp_pool *pool, const mp__layer *layer);

/* Who may call.  A pool, and every handle and iterator of it, belongs to
 * the process that opened it; a child forked from that process sees a copy
 * it must not use (close, terminate and the free functions release the
 * copy only).  A blocking call from a task of the pool itself would wait
 * for itself.  Each check returns 0 or MP_EINVAL with a message naming
 * `who`. */
int mp__check_owner(pid_t owner, const char *who);
/* The calling thread is not a worker of the pool whose control block is sh
 * (NULL: a detached handle, nothing to wait for). */
int mp__check_not_own_task(const mp__shared *sh, const char *who);
/* Both, for a call on `pool`; the own-task check only when `blocking`. */
int mp__check_caller(const mp_pool *pool, const char *who, bool blocking);
/* Whether the pool's workers see the caller's memory as it is (threads):
 * layers above the pool (map-reduce) ask it instead of naming backends. */
bool mp__pool_shares_memory(const mp_pool *pool);
/* Whether the workers see nothing of the caller and get bytes by message
 * (MPI ranks). */
bool mp__pool_ships_memory(const mp_pool *pool);
/* 0 if the pool's workers can run task function fn; else MP_EINVAL with a
 * message naming `who` (the backend's check_fn). */
int mp__pool_check_fn(mp_pool *pool, void (*fn)(void), const char *who);

/* ---- the pool's side of a job (pool.c) ------------------------------------ */

/* Takes a free slot, waiting while all are busy (after asking the layers to
 * reclaim finished ones); the caller fills it, then publishes it with
 * mp__pool_publish (or mp__pool_publish_stream).  MP_ECLOSED if the pool is
 * closing, its broken code if broken. */
int mp__pool_acquire_job(mp_pool *pool, mp__job **out);
/* Announces a filled job through the backend. */
void mp__pool_publish(mp_pool *pool, mp__job *job);
void mp__pool_publish_stream(mp_pool *pool, mp__job *job);
/* A stream job got input up to `count`. */
void mp__pool_feed(mp_pool *pool, mp__job *job, size_t count);
/* Waits for the job to finish; returns 0, MP_ECANCELED, MP_ECLOSED or the
 * backend's error.  Cancels the job if mp_pool_cancel was called. */
int mp__pool_wait_job(mp_pool *pool, mp__job *job);
/* Frees the slot (if the job finished) and ends the caller's turn.
 * `locked`: the caller holds the pool lock. */
void mp__pool_release_job(mp_pool *pool, mp__job *job, bool locked);
/* Cancels a job of the caller: no task not yet started will run, and the
 * backend is asked to stop the running ones. */
void mp__pool_cancel_job(mp_pool *pool, mp__job *job);
/* Sleeps on sh->completions until it moves past `seen` or `timeout`
 * (drops and retakes the pool lock). */
void mp__pool_wait_completion_locked(mp_pool *pool, uint32_t seen, double timeout);

/* pool.c: one call of the map family, described once, run by any form. */
typedef struct mp__shape {
    const char *who;            /* "mp_map", ... for messages */
    int kind;
    void (*fn)(void);
    size_t count;
    size_t nargs;
    const mp_array *args;       /* valid until mp__call_prepare returns */
    void *out;
    size_t out_size;
    mp_bytes *results;          /* caller's array for variable-size results */
    bool one_task;              /* apply or submit: numbered random streams */
} mp__shape;

int mp__shape_map(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                  void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c);
int mp__shape_starmap(const char *who, mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                      void *out, size_t out_size, const mp_call *call, mp__shape *c);
int mp__shape_strings(const char *who, mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                      void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c);
int mp__shape_apply(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                    void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c);
/* Takes a job slot, stages the data and publishes the job.  owner (the
 * caller's record of the call, an async handle; NULL: none) goes into
 * job->owner, and *job is set before the job is published, so a layer that
 * passes its record's own job field sees the job attached before any
 * harvester can see it finished.  On error nothing is left behind and *job
 * is not touched. */
int mp__call_prepare(mp_pool *pool, const mp__shape *c, const mp_call *call, void *owner, mp__job **job);
/* After the job is DONE: failures into *failures (optional) and the
 * last-error message, results copied back.  0, MP_ETASK, or MP_ECLOSED /
 * MP_ECANCELED when tasks were taken back before they ran.  The slot is
 * still held: the caller releases it. */
int mp__call_finish(mp_pool *pool, mp__job *job, const mp__shape *c, mp_failures *failures);
/* Ends the job's progress bar (if it has one) with what the call returns:
 * `code` and the job's failure and cancel counts make its final note.
 * `wait`: see mp__bar_end. */
void mp__call_end_bar(mp__job *job, int code, bool wait);

#endif
