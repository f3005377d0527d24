/* sched.h - the scheduler's interface: jobs in a control block, the claim
 * protocol, worker slots and the worker loop (sched.c).
 *
 * A call becomes a job in one of the control block's MP__JOB_SLOTS slots.
 * Whoever submits it (the pool front end) reserves a slot, fills it while it
 * is ACTIVE but unpublished, publishes it, waits for DONE and frees it;
 * workers claim its tasks in chunks with one atomic operation on the claim
 * word and report them finished in batches.  The scheduler knows nothing of
 * pools, handles or backends: it sees a control block and its jobs, and a
 * backend runs mp__sched_worker_main in each of its workers.
 *
 * Worker slots.  Every worker owns one record (a worker slot) in the
 * control block.  Only that worker writes it, with plain (relaxed or
 * release) stores on its own cache line: no system call and no contended
 * atomic per task.  When the worker dies, the record says exactly what it
 * held, so a supervisor can hand every task it had not finished to someone
 * else.  Only supervised control blocks (mp__shared.supervised) keep the
 * per-task part of the record.
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
#ifndef MPROC_SCHED_H
#define MPROC_SCHED_H

#include "evc.h"
#include "internal.h"

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
#define MP__ELSEWHERE_WINDOW 32           /* ranges in flight per worker that runs tasks elsewhere */

/* job->state.  A caller waiting for its job sleeps on job->finished. */
enum {
    MP__JOB_FREE = 0,      /* the slot is free */
    MP__JOB_ACTIVE = 1,    /* reserved by a caller, then published */
    MP__JOB_DONE = 2       /* every task finished or was taken back */
};

/* MAP: task i gets element i of in[0].  STAR: element i of each in[k].
 * STRINGS: in[0] is an array of C string pointers; task i gets pointer i
 * itself (the string). */
enum mp__job_kind { MP__KIND_MAP, MP__KIND_STAR, MP__KIND_STRINGS };

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
    /* Supervision (see supervise.c).  Atomic: the supervisor thread reads
     * them while the caller and workers run. */
    _Atomic int64_t timeout_ns;          /* per-task limit, 0: none */
    _Atomic uint32_t cancelled;          /* 1: skip every task not yet started */
    uint32_t cancel_seen;                /* caller side: pool cancel count at acquire */
    void *owner;                         /* the front end's record of the call; NULL: none */
    struct mp_bar *bar;                  /* the call's progress bar (front end), NULL: none */
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

/* ---- worker slots (see the top of this file) ---- */

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
    /* Workers that run tasks elsewhere (a shipping backend, backend.h)
     * send each claimed range [begin, end) away instead of running it, and
     * keep up to MP__ELSEWHERE_WINDOW ranges in flight (of one job or
     * several), so that the next one is already there when one finishes.
     * send_elsewhere takes a range (it may hold it back to send several
     * together); finish_elsewhere waits until the oldest range the worker
     * handed over, which is of `job`, is back with its outputs and
     * failures in the job, and stores its bounds.  NULL: workers run tasks
     * themselves.  Fixed before workers start. */
    void (*send_elsewhere)(void *arg, int worker, mp__job *job, size_t begin, size_t end);
    void (*finish_elsewhere)(void *arg, int worker, mp__job *job, size_t *begin, size_t *end);
    void *elsewhere_arg;
    /* The most bytes of inputs and outputs one range sent elsewhere may
     * carry; a larger claim is sent in pieces.  0: no limit. */
    size_t elsewhere_max_bytes;
    mp__job jobs[MP__JOB_SLOTS];
    /* Supervision (see supervise.c): one record per worker, and what every
     * worker must know about the pool's limits. */
    struct mp__wslot *wslots;
    bool supervised;                     /* a supervisor recovers dead workers' claims (backend.h) */
    uint64_t maxtasks;                   /* maxtasksperchild, 0: none */
    _Atomic uint32_t ready;              /* workers that finished their initializer */
    mp__evc started;                     /* signalled when `ready` or init_code changes */
    _Atomic uint32_t init_claimed;       /* 1: a failing worker is writing init_msg */
    _Atomic int32_t init_code;           /* first initializer failure, 0: none */
    char init_msg[MP_MESSAGE_MAX];       /* written by the worker that set init_code */
} mp__shared;

/* ---- the control block ------------------------------------------------ */

/* Creates a zeroed control block with `workers` worker slots in the shared
 * arena.  futex_shared: processes other than the caller's sleep on its
 * words; supervised: workers keep their slots exact per task (a supervisor
 * recovers a dead worker's claims).  0, or MP_ENOMEM. */
int mp__sched_create(int workers, bool futex_shared, bool supervised, mp__shared **out);
/* Frees the control block and whatever its jobs still hold.  No worker may
 * run.  NULL is ignored. */
void mp__sched_destroy(mp__shared *sh);

/* ---- workers (any thread or process that maps the control block) ------ */

/* The worker loop: runs tasks of published jobs, oldest first, until
 * mp__sched_shutdown.  A replacement worker (its slot HOLDING) first runs
 * what its predecessor left. */
void mp__sched_worker_main(mp__shared *sh, int worker);
/* Runs tasks [begin, end) of a job that is in no control block: a range
 * shipped to this process by a shipping backend.  Task i reads element
 * i - begin of each job->in[k] and writes element i - begin of job->out
 * and job->varout (either may be NULL); mp_task_index says i.  A failed
 * task's output element is zeroed and `failed` gets its index, code and
 * message (NULL: none).  Not for streams (job->ring must be 0). */
void mp__sched_run_detached(mp__job *job, int worker, size_t begin, size_t end,
                            void (*failed)(void *arg, size_t index, int code, const char *message), void *arg);
/* true if the calling thread is a worker of the control block sh. */
bool mp__sched_serving(const mp__shared *sh);
/* Tells every worker to leave its loop once idle. */
void mp__sched_shutdown(mp__shared *sh);

/* ---- submitting jobs (the front end; one submitter per slot) ---------- */

/* A FREE slot, now ACTIVE (reserved), or NULL if all are taken.  The
 * caller serialises reservations (the pool lock) and fills the slot. */
mp__job *mp__sched_reserve(mp__shared *sh, uint64_t seq);
/* Publishes a filled job: workers may claim its tasks.  A job of no task
 * is DONE at once. */
void mp__sched_publish(mp__shared *sh, mp__job *job);
/* Publishes a stream job with no input yet; mp__sched_feed adds input. */
void mp__sched_publish_stream(mp__shared *sh, mp__job *job);
/* A stream job got more input (its count raised to `count`). */
void mp__sched_feed(mp__shared *sh, mp__job *job, size_t count);
/* Returns a slot to FREE: its job is DONE (or was never published).  The
 * caller serialises this with mp__sched_reserve. */
void mp__sched_free(mp__shared *sh, mp__job *job);
/* Frees the arena blocks staged for the job. */
void mp__job_free_staged(mp__job *job);

/* ---- watching and stopping jobs ------------------------------------------ */

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

/* True once the job is DONE. */
static inline bool mp__job_done(const mp__job *job)
{
    return atomic_load(&job->state) == MP__JOB_DONE;
}
/* Takes back every unclaimed task and counts it as done, so the job
 * finishes once its running tasks do.  Returns how many were taken. */
size_t mp__job_cancel_unclaimed(mp__shared *sh, mp__job *job);
/* Marks the job cancelled (tasks not yet started are skipped) and takes
 * back its unclaimed tasks.  Running tasks go on: stopping them is the
 * backend's (mp__backend_ops.watch). */
void mp__job_cancel(mp__shared *sh, mp__job *job);
/* Cancels every published job's unclaimed tasks, so workers stop at their
 * next claim (terminate). */
void mp__sched_cancel_all(mp__shared *sh);
/* Wakes the caller waiting for the job (to look at its pool again). */
void mp__job_nudge(mp__shared *sh, mp__job *job);
/* Wakes every caller waiting for a job. */
void mp__sched_nudge_all(mp__shared *sh);
/* Signals sh->completions: a job finished or a slot was released. */
void mp__sched_notify_completion(mp__shared *sh);

/* ---- reporting for workers (and a supervisor settling a dead one) ------ */

/* Records a failure of task `index` (message copied) and counts it. */
void mp__job_record_failure(mp__job *job, size_t index, int code, const char *message);
/* Adds n finished tasks to job->done; completes the job if that was the
 * last.  n == 0: completes a job whose last flush happened but whose worker
 * died before marking it DONE (only when no live worker is in the job). */
void mp__job_credit(mp__shared *sh, mp__job *job, uint64_t n);
/* Tells a stream's consumer that tasks [begin, end) finished. */
void mp__job_report_stream(mp__shared *sh, mp__job *job, size_t begin, size_t end);

#endif
