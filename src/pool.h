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
#define MP__MAX_WORKERS 4096

/* job->state, the word a waiting caller sleeps on. */
enum {
    MP__JOB_FREE = 0,
    MP__JOB_ACTIVE = 1,
    MP__JOB_DONE = 2,
    MP__JOB_WAITER = 0x100   /* or-ed in while a caller sleeps on the word */
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
    _Atomic(mp__failure_rec *) failures;
    _Atomic uint64_t nfailed;
    /* Caller side only: arena blocks staged for this job, freed when the
     * slot is released (or when the pool is destroyed, if a worker died
     * and the job never finished). */
    void *owned[MP_MAX_ARGS + 2];
    int nowned;
    /* Supervision (see supervise.h).  Atomic: the supervisor thread reads
     * them while the caller and workers run. */
    _Atomic int64_t timeout_ns;          /* per-task limit, 0: none */
    _Atomic uint32_t cancelled;          /* 1: skip every task not yet started */
    uint32_t cancel_seen;                /* caller side: pool cancel count at acquire */
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
};

/* The control block every worker and the owning process share.  For the
 * process backend it lives in the shared arena. */
typedef struct mp__shared {
    _Atomic uint32_t work_seq MP__ALIGNED; /* bumped on publish; idle workers sleep on it */
    _Atomic uint32_t sleepers;
    _Atomic uint32_t shutdown;
    _Atomic uint64_t active MP__ALIGNED;   /* bit i: jobs[i] is published */
    bool futex_shared;
    int workers;
    mp__job jobs[MP__JOB_SLOTS];
    /* Supervision (see supervise.h): one record per worker, and what every
     * worker must know about the pool's limits. */
    struct mp__wslot *wslots;
    bool supervised;                     /* process workers: claims must be recoverable */
    uint64_t maxtasks;                   /* maxtasksperchild, 0: none */
    _Atomic uint32_t ready;              /* workers that finished their initializer */
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
} mp__backend_ops;

#define MP__WATCH_INTERVAL 0.05

struct mp_pool {
    const mp__backend_ops *ops;
    mp_backend backend;
    int workers;
    mp__shared *sh;

    pthread_mutex_t lock;            /* guards the fields below */
    pthread_cond_t changed;          /* a slot freed, a caller left */
    uint64_t next_seq;
    int callers;                     /* calls in progress */
    bool closing;
    _Atomic bool terminating;        /* read without the lock by waiters */
    int broken;                      /* 0, or the error that broke the pool */
    char broken_msg[256];

    pid_t owner_pid;
    void *backend_data;              /* owned by the backend */
    /* Supervision options and state (supervise.h). */
    int (*initializer)(const void *context);
    void *init_ctx;                  /* private copy, freed with the pool */
    size_t init_ctx_size;
    int retries;
    int64_t task_timeout_ns;         /* pool default, 0: none */
    _Atomic uint32_t cancels;        /* bumped by mp_pool_cancel */
    _Atomic bool timeouts_used;      /* some call asked for a task timeout */
};

extern const mp__backend_ops mp__thread_backend;
extern const mp__backend_ops mp__process_backend;

/* sched.c */
int mp__shared_create(int workers, bool futex_shared, mp__shared **out);
void mp__shared_destroy(mp__shared *sh);
void mp__worker_main(mp__shared *sh, int worker);
/* Takes a free slot (waits while all are busy); the caller fills it. */
int mp__job_acquire(mp_pool *pool, mp__job **out);
void mp__job_publish(mp_pool *pool, mp__job *job);
/* Waits for the job to finish; returns 0, MP_ECLOSED or a backend error. */
int mp__job_wait(mp_pool *pool, mp__job *job);
void mp__job_release(mp_pool *pool, mp__job *job);
void mp__job_free_staged(mp__job *job);
void mp__shutdown_workers(mp__shared *sh);
/* Marks every unclaimed task of every published job as taken, so workers
 * stop at their next claim (terminate). */
void mp__cancel_all_jobs(mp__shared *sh);
void mp__futex_wake_job(mp_pool *pool, mp__job *job);

/* Supervision hooks in sched.c, used by the supervisor (supervise.c). */
/* Records a failure of task `index` (message copied) and counts it. */
void mp__job_record_failure(mp__job *job, size_t index, int code, const char *message);
/* Adds n finished tasks to job->done; completes the job if that was the last. */
void mp__job_credit(mp__shared *sh, mp__job *job, uint64_t n);
/* Cancels a job of the caller: no task not yet started will run. */
void mp__job_cancel(mp_pool *pool, mp__job *job);

/* initializer.c: a worker runs the pool's initializer (0, or its code after
 * recording the message in the control block); the opener waits for every
 * worker's, or for `failed` (may be NULL) to report an error. */
int mp__worker_init(mp_pool *pool, int worker);
int mp__workers_wait_ready(mp_pool *pool, int (*failed)(mp_pool *pool));
/* Wakes every caller sleeping on one of the pool's jobs (they re-check). */
void mp__wake_all_callers(mp_pool *pool);

/* pool.c */
void mp__pool_mark_broken(mp_pool *pool, int code, const char *fmt, ...) MP_PRINTF(3, 4);

#endif
