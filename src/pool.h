/* pool.h - the pool's internal structures, shared by the front end
 * (pool.c), the scheduler (sched.c) and the backends (backend_*.c).
 *
 * Layering, top to bottom:
 *   pool.c      argument checks, staging data where workers can see it,
 *               collecting results and failures            (front end)
 *   sched.c     jobs in a control block, atomic chunk claiming, the worker
 *               loop, spin-then-futex waiting                (scheduler)
 *   backend_*.c what a worker is: start, watch and stop threads or
 *               processes                                    (backends)
 * A backend whose workers share no memory with the caller (MPI ranks) will
 * implement the mp__backend_ops job hooks by messages instead of the
 * shared control block; the front end does not change.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "evc.h"
#include "internal.h"
#include "supervise.h"

#include <pthread.h>
#include <sys/types.h>

#define MP__JOB_SLOTS 64                 /* jobs in flight per pool */
/* The claim word: gen << 48 | next index.  Claims past the end overshoot
 * by at most one chunk per worker, so counts up to 2^40 and chunks up to
 * 2^32 never carry into the generation bits. */
#define MP__CLAIM_SHIFT 48
#define MP__CLAIM_MASK ((UINT64_C(1) << MP__CLAIM_SHIFT) - 1)
#define MP__GEN_MASK 0xffffu
#define MP__MAX_COUNT (UINT64_C(1) << 40)   /* tasks per call */
#define MP__MAX_CHUNK (UINT64_C(1) << 32)
#define MP__CHUNK_STREAM (UINT64_C(1) << 63)   /* or-ed into chunksize: a stream job */
#define MP__MAX_WORKERS 4096

/* job->state.  A caller waiting for its job sleeps on job->finished. */
enum {
    MP__JOB_FREE = 0,      /* the slot is free */
    MP__JOB_ACTIVE = 1,    /* reserved by a caller, then published */
    MP__JOB_DONE = 2       /* every task finished or was taken back */
};

enum mp__job_kind { MP__KIND_MAP, MP__KIND_STAR };

/* A failed task, recorded by the worker in the shared arena and linked into
 * its job's list; the front end turns the list into mp_failures. */
typedef struct mp__failure_rec {
    struct mp__failure_rec *next;
    size_t index;
    int code;
    char message[MP_MESSAGE_MAX];
} mp__failure_rec;

/* One call's tasks.  Written by the submitting caller while the slot is
 * FREE, then published; read-only for workers while ACTIVE.  The hot
 * counters sit on cache lines of their own. */
typedef struct mp__job {
    _Atomic uint64_t claim MP__ALIGNED;  /* next unclaimed task, tagged with gen */
    _Atomic uint64_t done MP__ALIGNED;   /* tasks finished (flushed in batches) */
    _Atomic uint32_t state MP__ALIGNED;
    mp__evc finished;                    /* notified when state becomes DONE */
    uint32_t gen;                        /* bumped on each reuse of the slot */
    /* Read by workers before they hold a claim, so atomic: the slot may be
     * refilled under them.  Everything below is read only while holding a
     * claimed task, which keeps the job from finishing and being reused. */
    _Atomic uint64_t seq;                /* publish order: workers take oldest first */
    _Atomic size_t count;
    _Atomic size_t chunksize;            /* 0: guided */
    int kind;
    void (*fn)(void);                    /* mp_map_fn or mp_star_fn */
    size_t flush_every;                  /* completed tasks a worker batches */
    size_t nargs;
    const char *in[MP_MAX_ARGS];
    size_t in_size[MP_MAX_ARGS];
    char *out;
    size_t out_size;
    const void *ctx;
    size_t ctx_size;
    uint64_t rng_seed;                   /* task i's random stream: (rng_seed, rng_stream + i) */
    uint64_t rng_stream;
    _Atomic(mp__failure_rec *) failures;
    _Atomic uint64_t nfailed;
    _Atomic uint64_t ncancelled;         /* tasks taken back before they ran */
    mp_bytes *varout;                    /* per task (per ring slot): mp_task_write results */

    /* Streams (imap): `count` grows as the caller feeds inputs; task i uses
     * ring slot i % ring of the inputs, outputs and varout.  Workers report
     * each finished task: slot_done[i % ring] = i + 1, its index in the
     * `completed` ring (completion order), and a bump of `progress`. */
    size_t ring;                         /* 0: not a stream */
    _Atomic uint64_t *slot_done;
    _Atomic uint64_t *completed;
    mp__failure_rec *slot_fail;          /* a stream's failures, per ring slot */
    _Atomic uint64_t completed_tail MP__ALIGNED;
    /* Tasks reported finished or taken back, modulo 2^32; the consumer
     * sleeps on it. */
    mp__evc progress MP__ALIGNED;

    /* Small inputs and outputs (futures, apply) live here: no allocation. */
    char inline_in[128] MP__ALIGNED;
    char inline_out[128];

    /* Caller side only ------------------------------------------------- */
    /* Arena blocks staged for this job, freed when the slot is released
     * (or when the pool is destroyed, if a worker died and the job never
     * finished). */
    void *owned[MP_MAX_ARGS + 4];
    int nowned;
    /* Supervision (see supervise.h).  Atomic: the supervisor thread reads
     * them while the caller and workers run. */
    _Atomic int64_t timeout_ns;          /* per-task limit, 0: none */
    _Atomic uint32_t cancelled;          /* 1: skip every task not yet started */
    uint32_t cancel_seen;                /* caller side: pool cancel count at acquire */
    struct mp__handle *owner;            /* async result or future; NULL: sync/imap */
} mp__job;

/* What a task function sees of itself (mp_task_* accessors, task.c). */
struct mp_task {
    const mp__job *job;
    size_t index;
    int worker;
    bool has_message;
    char message[MP_MESSAGE_MAX];
    /* Supervision: the running task's deadline (mp__now seconds, 0: none)
     * and the tasks this worker has run (maxtasksperchild). */
    double deadline;
    uint64_t tasks_run;
    mp_bytes var;                        /* mp_task_write's buffer (arena) */
    size_t var_cap;
    /* mp_task_rng's generator and the task it was derived for: (job, its
     * publish seq, index).  Derived on demand, so the worker loop never
     * touches it; a mismatch means a later task asks, and derives anew. */
    const mp__job *rng_job;
    uint64_t rng_seq;
    size_t rng_index;
    mp_rng rng;
};

/* The control block every worker and the owning process share.  For the
 * process backend it lives in the shared arena. */
typedef struct mp__shared {
    mp__evc work MP__ALIGNED;              /* signalled on publish; idle workers spin on it, then sleep */
    _Atomic uint32_t spinners;             /* idle workers spinning now */
    uint32_t max_spinners;                 /* at most this many spin */
    _Atomic uint32_t shutdown;
    _Atomic uint64_t active MP__ALIGNED;   /* bit i: jobs[i] is published */
    /* Signalled whenever a job finishes or a slot is released; callers
     * waiting on several jobs (futures, async results) sleep on it. */
    mp__evc completions MP__ALIGNED;
    bool futex_shared;                     /* other processes sleep on these words */
    int workers;
    mp__job jobs[MP__JOB_SLOTS];
    /* Supervision (see supervise.h): one record per worker, and what every
     * worker must know about the pool's limits. */
    struct mp__wslot *wslots;
    bool supervised;                     /* process workers: claims must be recoverable */
    uint64_t maxtasks;                   /* maxtasksperchild, 0: none */
    _Atomic uint32_t ready;              /* workers that finished their initializer */
    mp__evc started;                     /* signalled when `ready` or init_code changes */
    _Atomic uint32_t init_claimed;       /* 1: a failing worker is writing init_msg */
    _Atomic int32_t init_code;           /* first initializer failure, 0: none */
    char init_msg[MP_MESSAGE_MAX];       /* written by the worker that set init_code */
} mp__shared;

typedef struct mp__backend_ops {
    const char *name;
    bool shares_caller_memory;       /* workers see the caller's pointers */
    int (*start)(mp_pool *pool);     /* start pool->workers workers */
    /* Called by a waiting caller every MP__WATCH_INTERVAL: 0, or an error
     * (and the pool marked broken) if a worker is gone. */
    int (*check)(mp_pool *pool);
    void (*stop)(mp_pool *pool, bool now); /* after shutdown is set: reap all */
    /* In a process that does not own the pool (a child forked from the
     * owner): frees this process's copy of the backend's private state --
     * memory, descriptors -- without signalling, joining or touching
     * anything shared. */
    void (*forget)(mp_pool *pool);
} mp__backend_ops;

#define MP__WATCH_INTERVAL 0.05

struct mp_pool {
    const mp__backend_ops *ops;
    mp_backend backend;
    int workers;
    mp__shared *sh;

    pthread_mutex_t lock;            /* guards the fields below (mp__pool_lock) */
#ifdef MPROC_ASSERTS
    _Atomic unsigned long lock_holder; /* the thread holding `lock`, 0: none */
#endif
    pthread_cond_t changed;          /* a slot freed, a caller left */
    uint64_t next_seq;
    int callers;                     /* calls in progress */
    bool closing;
    _Atomic bool terminating;        /* read without the lock by waiters */
    int broken;                      /* 0, or the error that broke the pool */
    char broken_msg[256];

    pid_t owner_pid;                 /* the process that opened the pool owns it */
    void *backend_data;              /* owned by the backend */
    /* Supervision options and state (supervise.h). */
    int (*initializer)(const void *context);
    void *init_ctx;                  /* private copy, freed with the pool */
    size_t init_ctx_size;
    int retries;
    int64_t task_timeout_ns;         /* pool default, 0: none */
    _Atomic uint32_t cancels;        /* bumped by mp_pool_cancel */
    _Atomic bool timeouts_used;      /* some call asked for a task timeout */
    _Atomic uint64_t one_task_calls; /* apply/submit streams handed out (mp_call.seed) */

    /* async results and futures (async.c), under `lock` */
    struct mp__handle *handles;      /* every live handle */
    struct mp__handle *cb_queue;     /* finished handles whose callbacks are due */
    pthread_t cb_thread;
    bool cb_started, cb_stop;
    struct mp_imap *iterators;       /* open imap iterators (imap.c) */
};

/* The pool lock.  Every function named *_locked expects the caller to
 * hold it, and says so with MP__ASSERT_POOL_LOCKED, which contract-checking
 * builds can verify: they record the holding thread. */
static inline void mp__pool_lock(mp_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
#ifdef MPROC_ASSERTS
    atomic_store_explicit(&pool->lock_holder, (unsigned long)pthread_self(), memory_order_relaxed);
#endif
}

static inline void mp__pool_unlock(mp_pool *pool)
{
#ifdef MPROC_ASSERTS
    MP__ASSERT(atomic_load_explicit(&pool->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self());
    atomic_store_explicit(&pool->lock_holder, 0, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&pool->lock);
}

/* Waits for pool->changed (a slot freed, a caller left); lock held. */
static inline void mp__pool_wait_changed(mp_pool *pool)
{
#ifdef MPROC_ASSERTS
    MP__ASSERT(atomic_load_explicit(&pool->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self());
    atomic_store_explicit(&pool->lock_holder, 0, memory_order_relaxed);
#endif
    pthread_cond_wait(&pool->changed, &pool->lock);
#ifdef MPROC_ASSERTS
    atomic_store_explicit(&pool->lock_holder, (unsigned long)pthread_self(), memory_order_relaxed);
#endif
}

#ifdef MPROC_ASSERTS
#define MP__ASSERT_POOL_LOCKED(pool) \
    MP__ASSERT(atomic_load_explicit(&(pool)->lock_holder, memory_order_relaxed) == (unsigned long)pthread_self())
#else
#define MP__ASSERT_POOL_LOCKED(pool) ((void)(pool))
#endif

extern const mp__backend_ops mp__thread_backend;
extern const mp__backend_ops mp__process_backend;

/* Who may call (pool.c).  A pool, and every handle and iterator of it,
 * belongs to the process that opened it; a child forked from that process
 * sees a copy it must not use (close, terminate and the free functions
 * release the copy only).  A blocking call from a task of the pool itself
 * would wait for itself.  Each check returns 0 or MP_EINVAL with a message
 * naming `who`. */
int mp__check_owner(pid_t owner, const char *who);
/* The calling thread is not a worker of the pool whose control block is sh
 * (NULL: a detached handle, nothing to wait for). */
int mp__check_not_own_task(const mp__shared *sh, const char *who);
/* Both, for a call on `pool`; the own-task check only when `blocking`. */
int mp__check_caller(const mp_pool *pool, const char *who, bool blocking);

/* sched.c */
/* true if the calling thread is a worker of the pool whose control block
 * is sh (it runs that pool's tasks). */
bool mp__serving(const mp__shared *sh);
int mp__shared_create(int workers, bool futex_shared, mp__shared **out);
void mp__shared_destroy(mp__shared *sh);
void mp__worker_main(mp__shared *sh, int worker);
/* Takes a free slot (waits while all are busy); the caller fills it. */
int mp__job_acquire(mp_pool *pool, mp__job **out);
void mp__job_publish(mp_pool *pool, mp__job *job);
/* Publishes a stream job with no input yet; mp__job_fed adds input. */
void mp__job_publish_stream(mp_pool *pool, mp__job *job);
/* Waits for the job to finish; returns 0, MP_ECLOSED or a backend error. */
int mp__job_wait(mp_pool *pool, mp__job *job);
/* Frees the slot (if the job finished) and ends the caller's turn.
 * `locked`: the caller holds pool->lock. */
void mp__job_release(mp_pool *pool, mp__job *job, bool locked);
/* Takes back every unclaimed task and counts it as done, so the job
 * finishes once its running tasks do.  Returns how many were taken. */
size_t mp__job_cancel_unclaimed(mp__shared *sh, mp__job *job);
/* A stream job got more input (count raised): wake idle workers. */
void mp__job_fed(mp_pool *pool, mp__job *job, size_t count);
void mp__job_free_staged(mp__job *job);
void mp__shutdown_workers(mp__shared *sh);
/* Marks every unclaimed task of every published job as taken, so workers
 * stop at their next claim (terminate). */
void mp__cancel_all_jobs(mp__shared *sh);
/* Wakes the caller waiting for the job, to look at its pool again. */
void mp__job_nudge(mp__shared *sh, mp__job *job);
/* Signals sh->completions. */
void mp__notify_completion(mp__shared *sh);
/* Sleeps on sh->completions until it moves past `seen` or `timeout`
 * (drops and retakes pool->lock). */
void mp__wait_completion_locked(mp_pool *pool, uint32_t seen, double timeout);

/* The published jobs, one at a time:
 *     mp__job *job;
 *     MP__FOR_EACH_ACTIVE(sh, job) { ... }
 * walks the jobs whose bit was set in sh->active when the walk began. */
static inline mp__job *mp__next_active(mp__shared *sh, uint64_t *mask)
{
    if (!*mask)
        return NULL;
    int i = __builtin_ctzll(*mask);
    *mask &= *mask - 1;
    return &sh->jobs[i];
}
#define MP__FOR_EACH_ACTIVE(sh, job) \
    for (uint64_t mp__active_ = atomic_load(&(sh)->active); ((job) = mp__next_active((sh), &mp__active_)) != NULL;)

/* Supervision hooks in sched.c, used by the supervisor (supervise.c). */
/* Records a failure of task `index` (message copied) and counts it. */
void mp__job_record_failure(mp__job *job, size_t index, int code, const char *message);
/* Adds n finished tasks to job->done; completes the job if that was the last. */
void mp__job_credit(mp__shared *sh, mp__job *job, uint64_t n);
/* Cancels a job of the caller: no task not yet started will run. */
void mp__job_cancel(mp_pool *pool, mp__job *job);
/* Tells a stream's consumer that tasks [begin, end) finished. */
void mp__report_stream(mp__shared *sh, mp__job *job, size_t begin, size_t end);

/* initializer.c: a worker runs the pool's initializer (0, or its code after
 * recording the message in the control block); the opener waits for every
 * worker's, or for `failed` (may be NULL) to report an error. */
int mp__worker_init(mp_pool *pool, int worker);
int mp__workers_wait_ready(mp_pool *pool, int (*failed)(mp_pool *pool));
/* Wakes every caller sleeping on one of the pool's jobs (they re-check). */
void mp__wake_all_callers(mp_pool *pool);

/* pool.c */
/* imap.c: close and terminate stop every open iterator; they stay valid
 * to free, and their next() returns MP_ECLOSED. */
void mp__imaps_close(mp_pool *pool);

/* async.c: moves every finished async result and future out of its job
 * slot (pool->lock held).  Returns how many it harvested. */
int mp__harvest_all_locked(mp_pool *pool);

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

struct mp__handle;
int mp__shape_map(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                  void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c);
int mp__shape_starmap(const char *who, mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                      void *out, size_t out_size, const mp_call *call, mp__shape *c);
int mp__shape_apply(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                    void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c);
/* Takes a job slot, stages the data and publishes the job.  On error
 * nothing is left behind. */
int mp__call_prepare(mp_pool *pool, const mp__shape *c, const mp_call *call, struct mp__handle *owner,
                     mp__job **job);
/* After the job is DONE: failures into *failures (optional) and the
 * last-error message, results copied back.  0, MP_ETASK, or MP_ECLOSED /
 * MP_ECANCELED when tasks were taken back before they ran.  The slot is
 * still held: the caller releases it. */
int mp__call_finish(mp_pool *pool, mp__job *job, const mp__shape *c, mp_failures *failures);
void mp__pool_mark_broken(mp_pool *pool, int code, const char *fmt, ...) MP_PRINTF(3, 4);

#endif
