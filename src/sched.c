/* sched.c - the scheduler shared by the thread and process backends.
 *
 * A call becomes a job in one of the control block's slots.  Workers claim
 * tasks from it with one atomic operation on the job's claim word (a
 * fetch-add for fixed chunks, a compare-and-swap for guided ones), run them,
 * write results in place, and count finished tasks in batches.  The worker
 * whose batch brings `done` to `count` marks the job DONE and, if the caller
 * went to sleep, wakes it.  No system call happens per task: both sides spin
 * briefly before sleeping on a futex.
 *
 * The claim word carries the slot's generation in its top bits so that a
 * worker that looked at a job just before its slot was reused claims from
 * the new job knowingly (and reads that job's fields) rather than mixing the
 * two up.
 */
#include "sched.h"
#include "shm.h"

#include <limits.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <unistd.h>

#define SPIN_SECONDS 100e-6      /* how long an idle side spins before sleeping */

int mp__sched_create(int workers, bool futex_shared, bool supervised, mp__shared **out)
{
    void *mem;
    int r = mp__shm_alloc(sizeof(mp__shared), true, &mem);
    if (r)
        return r;
    mp__shared *sh = mem;
    sh->futex_shared = futex_shared;
    sh->supervised = supervised;
    sh->workers = workers;
    int cpus = mp_cpu_count();
    sh->max_spinners = cpus > 1 ? (uint32_t)(cpus - 1) : 1;
    if ((r = mp__shm_alloc((size_t)workers * sizeof(mp__wslot), true, &mem)) != 0) {
        mp_shm_free(sh);
        return r;
    }
    sh->wslots = mem;
    *out = sh;
    return 0;
}

void mp__sched_destroy(mp__shared *sh)
{
    if (!sh)
        return;
    /* Failure records a broken pool never collected. */
    for (int i = 0; i < MP__JOB_SLOTS; i++) {
        mp__job_free_staged(&sh->jobs[i]);
        mp__failure_rec *f = atomic_load(&sh->jobs[i].failures);
        while (f) {
            mp__failure_rec *next = f->next;
            mp_shm_free(f);
            f = next;
        }
    }
    mp_shm_free(sh->wslots);
    mp_shm_free(sh);
}

/* ---- worker side --------------------------------------------------------- */

/* A failed task's output element holds zeros, whatever the task wrote
 * before it failed or died: the same on every backend, since both write
 * the element where the failure is recorded (a thread worker in the
 * caller's array, a process worker or its supervisor in the staging copy
 * that is then copied back whole). */
static void clear_output(mp__job *job, size_t index)
{
    if (job->out && job->out_size)
        memset(job->out + (job->ring ? index % job->ring : index) * job->out_size, 0, job->out_size);
}

void mp__job_record_failure(mp__job *job, size_t index, int code, const char *message)
{
    mp__failure_rec *f;
    clear_output(job, index);
    atomic_fetch_add(&job->nfailed, 1);
    if (job->ring) {
        f = &job->slot_fail[index % job->ring];   /* read by the consumer with the result */
    } else {
        void *mem;
        if (mp__shm_alloc(sizeof(mp__failure_rec), false, &mem) != 0)
            return;   /* counted, but no room for the details */
        f = mem;
    }
    f->index = index;
    f->code = code;
    if (message)
        snprintf(f->message, sizeof f->message, "%s", message);
    else
        snprintf(f->message, sizeof f->message, "task %zu failed with code %d", index, code);
    if (job->ring)
        return;
    mp__failure_rec *head = atomic_load(&job->failures);
    do
        f->next = head;
    while (!atomic_compare_exchange_weak(&job->failures, &head, f));
}

static void record_failure(mp__job *job, mp_task *task, int code)
{
    mp__job_record_failure(job, task->index, code, task->has_message ? task->message : NULL);
}

/* A task that returned after its deadline.  Process workers past their
 * deadline are killed by the supervisor; one that finished just before the
 * kill lands here too, so both backends report the same way. */
static MP__NOINLINE int timed_out(bool supervised, mp_task *task, int64_t limit_ns, double started)
{
    double limit = (double)limit_ns * 1e-9, ran = mp__now() - started;
    if (supervised)
        snprintf(task->message, sizeof task->message, "task %zu timed out after %g s on worker %d", task->index, limit,
                 (int)getpid());
    else
        snprintf(task->message, sizeof task->message,
                 "task %zu timed out after %g s on worker thread %d (it ran %.3g s: a thread cannot be stopped)",
                 task->index, limit, task->worker, ran);
    task->has_message = true;
    return MP_ETIMEDOUT;
}

/* ---- the worker loop ---------------------------------------------------------
 *
 * Per task, a worker does one atomic operation (its claim, for chunks of
 * one), calls the task function, and otherwise touches only its own stack
 * and cache lines: what it needs of the job is read into a job_view once,
 * finished tasks are added to the job's `done` in batches, and its worker
 * slot is written only when a supervisor reads it. */

/* A worker's own state, for its whole life. */
typedef struct worker {
    mp__shared *sh;
    mp__wslot *ws;
    int workers;
    bool supervised;             /* sh->supervised, fixed before workers start */
    uint64_t maxtasks;           /* sh->maxtasks, likewise */
    mp_task task;                /* the handle every task of this worker gets */
} worker;

/* What a worker reads of a job to run its tasks.  A job's fields do not
 * change while the worker holds one of its tasks claimed and unreported:
 * that keeps the job from finishing and its slot from being refilled.  So
 * the view is read after a claim made while the worker held nothing of the
 * job, and reused for the claims it makes while it does (the generation
 * tag alone would not do: it wraps). */
typedef struct job_view {
    mp__job *job;
    uint32_t gen;
    int kind;
    void (*fn)(void);
    size_t nargs;
    const char *in[MP_MAX_ARGS];
    size_t in_size[MP_MAX_ARGS];
    char *out;
    size_t out_size;
    size_t ring;                 /* 0: not a stream */
    mp_bytes *varout;
    int64_t timeout_ns;
    size_t flush_every;
    bool plain;                  /* a map, not a stream, of no time limit: call_map */
} job_view;

static void view_job(job_view *v, mp__job *job, uint32_t gen)
{
    v->job = job;
    v->gen = gen;
    v->kind = job->kind;
    v->fn = job->fn;
    v->nargs = job->kind == MP__KIND_MAP ? 1 : job->nargs;
    for (size_t k = 0; k < v->nargs; k++) {
        v->in[k] = job->in[k];
        v->in_size[k] = job->in_size[k];
    }
    v->out = job->out;
    v->out_size = job->out_size;
    v->ring = job->ring;
    v->varout = job->varout;
    v->timeout_ns = atomic_load_explicit(&job->timeout_ns, memory_order_relaxed);
    v->flush_every = job->flush_every;
    v->plain = v->kind == MP__KIND_MAP && !v->ring && v->timeout_ns <= 0;
}

/* Hands the task's variable-size result to the job, or discards it. */
static void settle_bytes(const job_view *v, mp_task *task, size_t slot, int rc)
{
    if (rc == 0 && task->var.data) {
        v->varout[slot] = task->var;
    } else {
        mp_shm_free(task->var.data);
        if (v->varout)
            v->varout[slot] = (mp_bytes){ NULL, 0 };
    }
    task->var = (mp_bytes){ NULL, 0 };
    task->var_cap = 0;
}

/* Calls a plain map's task function (job_view.plain) on task i. */
static inline int call_map(const job_view *v, mp_task *task, size_t i)
{
    const char *in = v->in[0];
    char *out = v->out;
    return ((mp_map_fn)v->fn)(task, in ? in + i * v->in_size[0] : NULL, out ? out + i * v->out_size : NULL);
}

/* Calls the task function on task i's inputs and output. */
static inline int call_task(const job_view *v, mp_task *task, size_t slot)
{
    char *out = v->out ? v->out + slot * v->out_size : NULL;
    if (v->kind == MP__KIND_MAP) {
        const void *in = v->in[0] ? v->in[0] + slot * v->in_size[0] : NULL;
        return ((mp_map_fn)v->fn)(task, in, out);
    }
    if (v->kind == MP__KIND_STRINGS)
        return ((mp_map_fn)v->fn)(task, ((const char *const *)(const void *)v->in[0])[slot], out);
    const void *args[MP_MAX_ARGS];
    for (size_t k = 0; k < v->nargs; k++)
        args[k] = v->in[k] + slot * v->in_size[k];
    return ((mp_star_fn)v->fn)(task, args, out);
}

/* Runs a task with a time limit: its deadline goes in the task handle (and
 * the worker slot, for a supervisor to enforce); one that returns after it
 * fails as timed out. */
static MP__NOINLINE int call_task_timed(worker *w, const job_view *v, size_t i, size_t slot)
{
    mp_task *task = &w->task;
    int64_t limit = v->timeout_ns;
    double started = mp__now();
    task->deadline = started + (double)limit * 1e-9;
    if (w->supervised) {
        atomic_store_explicit(&w->ws->deadline_ns, (uint64_t)(started * 1e9) + (uint64_t)limit, memory_order_relaxed);
        /* The deadline is visible before the task is marked running. */
        atomic_store_explicit(&w->ws->pos, 2 * (uint64_t)i + 1, memory_order_release);
    }
    int rc = call_task(v, task, slot);
    if (mp__now() > task->deadline)
        rc = timed_out(w->supervised, task, limit, started);
    task->deadline = 0;
    return rc;
}

/* What every task's end needs: its failure recorded, its variable-size
 * result handed over (or discarded). */
static inline void finish_task(const job_view *v, mp_task *task, size_t slot, int rc)
{
    if (MP__UNLIKELY(rc != 0))
        record_failure(v->job, task, rc);
    if (MP__UNLIKELY(task->var.data != NULL) || v->varout)
        settle_bytes(v, task, slot, rc);
}

/* One task on an unsupervised worker, of any kind of job. */
static inline void run_task(worker *w, const job_view *v, size_t i)
{
    mp_task *task = &w->task;
    size_t slot = v->ring ? i % v->ring : i;
    task->index = i;
    task->has_message = false;
    int rc = MP__UNLIKELY(v->timeout_ns > 0) ? call_task_timed(w, v, i, slot) : call_task(v, task, slot);
    finish_task(v, task, slot, rc);
}

/* A stream's consumer learns of each finished task (see sched.h). */
void mp__job_report_stream(mp__shared *sh, mp__job *job, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++) {
        atomic_store_explicit(&job->slot_done[i % job->ring], i + 1, memory_order_release);
        if (job->completed) {
            uint64_t at = atomic_fetch_add(&job->completed_tail, 1);
            atomic_store_explicit(&job->completed[at % job->ring], i + 1, memory_order_release);
        }
    }
    mp__evc_add(&job->progress, (uint32_t)(end - begin));
    mp__evc_wake(&job->progress, INT_MAX, sh->futex_shared);
}

/* What a process worker's tasks printed is written out before they are
 * reported finished, so that a program that exits right after a call
 * returns -- without closing its pool, which kills the workers -- loses no
 * line.  stdout is what tasks print to, and asking whether it holds
 * anything costs a load: the per-report check looks at it alone; other
 * streams are flushed when the worker goes idle (mp__sched_worker_main).  Thread
 * workers share the program's stdio: nothing to do. */
static inline void write_printed(const mp__shared *sh)
{
    if (sh->supervised && MP__UNLIKELY(__fpending(stdout) > 0))
        fflush(stdout);
}

static void complete(mp__shared *sh, mp__job *job)
{
    uint32_t old = atomic_exchange(&job->state, MP__JOB_DONE);
    MP__ASSERT(old == MP__JOB_ACTIVE);   /* completed once */
    MP__UNUSED(old);
    mp__evc_notify(&job->finished, INT_MAX, sh->futex_shared);
    mp__sched_notify_completion(sh);
}

static inline void flush_done(mp__shared *sh, mp__job *job, size_t *pending)
{
    if (!*pending)
        return;
    /* Read count while our unflushed tasks still keep the job alive. */
    uint64_t count = atomic_load_explicit(&job->count, memory_order_relaxed);
    uint64_t d = atomic_fetch_add(&job->done, *pending) + *pending;
    *pending = 0;
    if (d == count)
        complete(sh, job);
}

/* Claims the next chunk of a job.  `fresh`: the worker holds no unreported
 * task of the job; *v is then read anew once the claim succeeds.  Returns
 * false when no unclaimed task is left.
 *
 * The job may finish and its slot be refilled at any moment the worker
 * holds nothing of it.  So a fresh claim is a compare-and-swap on the
 * generation-tagged claim word, which fails if the slot moved on.  Once
 * the worker holds unreported tasks the job cannot finish, and fixed
 * chunks are claimed with a fetch-add: no load of the contended word
 * first, so its cache line moves once per claim.  (A fetch-add made while
 * holding nothing could land on a refilled slot, and the count read after
 * it could belong to either job.)  Guided chunks, and streams (whose count
 * grows: never claim past what has been fed), always compare-and-swap. */
static inline bool claim(job_view *v, mp__job *job, int workers, bool fresh, size_t *begin, size_t *end)
{
    /* Acquire: a stream's count publishes the inputs fed before it. */
    size_t count = atomic_load_explicit(&job->count, memory_order_acquire);
    size_t chunk = atomic_load_explicit(&job->chunksize, memory_order_relaxed);
    bool stream = chunk & MP__CHUNK_STREAM;
    chunk &= ~MP__CHUNK_STREAM;

    if (chunk && !stream && !fresh) {
        /* A worker leaves a job at its first failed claim, so claims past
         * the end overshoot by at most one chunk per worker. */
        uint64_t old = atomic_fetch_add(&job->claim, chunk);
        MP__ASSERT((uint32_t)(old >> MP__CLAIM_SHIFT) == v->gen);   /* our tasks keep the job */
        size_t b = old & MP__CLAIM_MASK;
        if (b >= count)
            return false;
        *begin = b;
        *end = chunk < count - b ? b + chunk : count;   /* we advanced it by chunk */
        return true;
    }

    uint64_t old = atomic_load(&job->claim);
    for (;;) {
        size_t b = old & MP__CLAIM_MASK;
        if ((uint32_t)(old >> MP__CLAIM_SHIFT) != v->gen || b >= count)
            return false;
        size_t n = chunk ? chunk : (count - b) / (2 * (size_t)workers);
        if (n < 1) n = 1;
        if (n > count - b) n = count - b;
        if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
            if (fresh)
                view_job(v, job, v->gen);   /* the tasks we now hold keep the job */
            *begin = b;
            *end = b + n;
            return true;
        }
        if (stream)
            count = atomic_load_explicit(&job->count, memory_order_acquire);
    }
}

/* The claim of a supervised (process) pool: always a compare-and-swap, and
 * the range is written to the worker's slot before it, so that a worker
 * that dies right after winning leaves a record of what it took (see
 * sched.h).  Never claims past the end (nor past what a stream was fed). */
static inline bool claim_recoverable(job_view *v, mp__job *job, mp__wslot *ws, int workers, bool fresh,
                                     uint64_t *hint, size_t *begin, size_t *end)
{
    size_t count = atomic_load_explicit(&job->count, memory_order_acquire);
    size_t chunk = atomic_load_explicit(&job->chunksize, memory_order_relaxed);
    bool stream = chunk & MP__CHUNK_STREAM;
    chunk &= ~MP__CHUNK_STREAM;
    /* Start from where our last claim left the word instead of loading it:
     * a load then a compare-and-swap costs two trips of the contended cache
     * line; a (possibly failing) compare-and-swap costs one and returns the
     * current value.  The word only grows, so a stale hint never makes us
     * give up early. */
    uint64_t old = *hint;
    for (;;) {
        size_t b = old & MP__CLAIM_MASK;
        if ((uint32_t)(old >> MP__CLAIM_SHIFT) != v->gen || b >= count)
            return false;
        size_t n = chunk ? chunk : (count - b) / (2 * (size_t)workers);
        if (n < 1) n = 1;
        if (n > count - b) n = count - b;
        atomic_store_explicit(&ws->begin, b, memory_order_relaxed);
        atomic_store_explicit(&ws->end, b + n, memory_order_relaxed);
        if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
            if (fresh)
                view_job(v, job, v->gen);
            *hint = old + n;
            *begin = b;
            *end = b + n;
            return true;
        }
        if (stream)
            count = atomic_load_explicit(&job->count, memory_order_acquire);
    }
}

/* A worker that reached maxtasksperchild leaves between two tasks, its slot
 * saying what it finished and what it still held; the supervisor credits
 * the one and hands the other to its replacement. */
static MP__NOINLINE void retire(mp__wslot *ws)
{
    atomic_store(&ws->status, MP__WS_RETIRING);
    fflush(NULL);
    mp__child_exit(0);
}

/* run_range for the common case: a plain map (no stream, no time limit)
 * on workers nobody supervises.  The loop does only what every task needs:
 * the cancel check, the task handle, the call, and its outcome. */
static void run_plain_range(worker *w, const job_view *v, size_t begin, size_t end)
{
    mp_task *task = &w->task;
    mp__job *job = v->job;
    for (size_t i = begin; i < end; i++) {
        if (MP__UNLIKELY(atomic_load_explicit(&job->cancelled, memory_order_relaxed)))
            return;
        task->index = i;
        task->has_message = false;
        finish_task(v, task, i, call_map(v, task, i));
    }
}

/* run_range for a supervised worker: each task's start and end go in its
 * slot (pos, and the deadline first), so that a supervisor can settle its
 * death exactly; it counts the tasks it ran (maxtasksperchild). */
static void run_recorded_range(worker *w, const job_view *v, size_t begin, size_t end)
{
    mp_task *task = &w->task;
    mp__job *job = v->job;
    mp__wslot *ws = w->ws;
    uint64_t maxtasks = w->maxtasks;
    bool timed = v->timeout_ns > 0;
    for (size_t i = begin; i < end; i++) {
        if (MP__UNLIKELY(atomic_load_explicit(&job->cancelled, memory_order_relaxed))) {
            atomic_store_explicit(&ws->pos, 2 * (uint64_t)end, memory_order_release);
            return;
        }
        size_t slot = v->ring ? i % v->ring : i;
        task->index = i;
        task->has_message = false;
        int rc;
        if (MP__UNLIKELY(timed)) {
            rc = call_task_timed(w, v, i, slot);
        } else {
            atomic_store_explicit(&ws->deadline_ns, 0, memory_order_relaxed);
            atomic_store_explicit(&ws->pos, 2 * (uint64_t)i + 1, memory_order_release);
            rc = v->plain ? call_map(v, task, i) : call_task(v, task, slot);
        }
        finish_task(v, task, slot, rc);
        atomic_store_explicit(&ws->pos, 2 * (uint64_t)i + 2, memory_order_release);
        if (MP__UNLIKELY(task->tasks_run++ == 0))
            atomic_store_explicit(&ws->status, MP__WS_WORKED, memory_order_relaxed);
        if (MP__UNLIKELY(maxtasks != 0) && task->tasks_run >= maxtasks)
            retire(ws);
    }
}

/* Runs tasks [begin, end) of the job, or skips them once it is cancelled
 * (skipped tasks count as finished: the caller waits only for the ones
 * already running). */
static void run_range(worker *w, const job_view *v, size_t begin, size_t end)
{
    if (w->supervised) {
        run_recorded_range(w, v, begin, end);
        return;
    }
    if (v->plain) {
        run_plain_range(w, v, begin, end);
        return;
    }
    for (size_t i = begin; i < end; i++) {
        if (MP__UNLIKELY(atomic_load_explicit(&v->job->cancelled, memory_order_relaxed)))
            return;
        run_task(w, v, i);
    }
}

void mp__sched_run_detached(mp__job *job, int id, size_t begin, size_t end,
                            void (*failed)(void *arg, size_t index, int code, const char *message), void *arg)
{
    MP__ASSERT(job->ring == 0 && begin <= end);
    worker w = { .supervised = false, .task = { .job = job, .worker = id } };
    job_view v;
    view_job(&v, job, 0);
    mp_task *task = &w.task;
    for (size_t i = begin; i < end; i++) {
        size_t slot = i - begin;
        task->index = i;
        task->has_message = false;
        int rc = MP__UNLIKELY(v.timeout_ns > 0) ? call_task_timed(&w, &v, i, slot) : call_task(&v, task, slot);
        if (MP__UNLIKELY(rc != 0)) {
            if (v.out && v.out_size)
                memset(v.out + slot * v.out_size, 0, v.out_size);
            failed(arg, i, rc, task->has_message ? task->message : NULL);
        }
        if (MP__UNLIKELY(task->var.data != NULL) || v.varout)
            settle_bytes(&v, task, slot, rc);
    }
}

/* The worker's slot says what it holds: written only for a supervisor. */
static inline void account(worker *w, uint64_t unflushed, unsigned state)
{
    if (w->supervised)
        mp__ws_set(w->ws, unflushed, state);
}

/* Adds the worker's finished tasks to the job's `done` (a stream reports
 * [begin, end) to its consumer instead). */
static inline void report(worker *w, const job_view *v, size_t *pending, size_t begin, size_t end)
{
    write_printed(w->sh);
    if (v->ring) {
        /* The slot says FLUSHING while they are reported: the supervisor
         * finds out which were from slot_done. */
        account(w, 0, MP__WS_FLUSHING);
        mp__job_report_stream(w->sh, v->job, begin, end);
        return;
    }
    account(w, *pending, MP__WS_FLUSHING);
    flush_done(w->sh, v->job, pending);
}

/* Runs a job's tasks until none is left to claim: first [begin, end) if a
 * dead predecessor left it to this worker, then chunk after chunk. */
static void run_job(worker *w, mp__job *job, uint32_t gen, size_t begin, size_t end)
{
    mp__shared *sh = w->sh;
    mp__wslot *ws = w->ws;
    MP__ASSERT(MP__WS_STATE(atomic_load(&ws->acct)) == (begin < end ? MP__WS_HOLDING : MP__WS_IDLE));
    job_view v = { .job = job, .gen = gen };
    size_t pending = 0;
    bool have = begin < end;
    uint64_t hint = atomic_load(&job->claim);
    w->task.job = job;
    if (have)
        view_job(&v, job, gen);   /* a dead predecessor's claim keeps the job alive */
    if (w->supervised) {
        atomic_store_explicit(&ws->job, (uint32_t)(job - sh->jobs), memory_order_relaxed);
        atomic_store_explicit(&ws->gen, gen, memory_order_relaxed);
    }
    if (!have)
        account(w, 0, MP__WS_CLAIMING);
    for (;;) {
        if (!have) {
            bool fresh = pending == 0;
            if (w->supervised) {
                if (!claim_recoverable(&v, job, ws, w->workers, fresh, &hint, &begin, &end))
                    break;
                atomic_store_explicit(&ws->pos, 2 * (uint64_t)begin, memory_order_relaxed);
                mp__ws_set(ws, pending, MP__WS_HOLDING);
            } else if (!claim(&v, job, w->workers, fresh, &begin, &end)) {
                break;
            }
        }
        have = false;
        run_range(w, &v, begin, end);
        if (v.ring) {
            report(w, &v, &pending, begin, end);
        } else {
            pending += end - begin;
            if (pending >= v.flush_every)
                report(w, &v, &pending, begin, end);
        }
        account(w, pending, MP__WS_CLAIMING);
    }
    if (pending)
        report(w, &v, &pending, begin, end);
    account(w, 0, MP__WS_IDLE);
}

/* The oldest published job that still has unclaimed tasks, or NULL. */
static mp__job *find_job(mp__shared *sh)
{
    mp__job *job, *best = NULL;
    MP__FOR_EACH_ACTIVE(sh, job) {
        uint64_t c = atomic_load(&job->claim);
        if ((c & MP__CLAIM_MASK) >= atomic_load_explicit(&job->count, memory_order_relaxed))
            continue;
        if (!best || atomic_load_explicit(&job->seq, memory_order_relaxed) <
                         atomic_load_explicit(&best->seq, memory_order_relaxed))
            best = job;
    }
    return best;
}

/* True if a published job other than `mine`, or `mine` beyond its next
 * task, has tasks nobody claimed. */
static bool other_work_pending(mp__shared *sh, mp__job *mine)
{
    mp__job *job;
    MP__FOR_EACH_ACTIVE(sh, job) {
        uint64_t next = atomic_load(&job->claim) & MP__CLAIM_MASK;
        uint64_t count = atomic_load_explicit(&job->count, memory_order_relaxed);
        if (next + (job == mine) < count)
            return true;
    }
    return false;
}

/* ---- workers that run tasks elsewhere ------------------------------------
 *
 * A worker of a shipping backend (mp__shared.send_elsewhere) keeps up to
 * MP__ELSEWHERE_WINDOW claimed ranges in flight, of one job or of several
 * (futures are a job each), so that where they run the next one is there
 * when one finishes, and the backend may send several in one message.
 * Each range is reported when it is back.  A range in flight keeps its job
 * from finishing, as a task being run does: a later claim on the same job
 * reuses that range's view (not fresh). */

typedef struct sent_range {
    job_view v;
    size_t begin, end;
} sent_range;

/* A claim on `job` for the window: the view comes from a range of the
 * same job still in flight, else it is read with the claim. */
static bool claim_for_window(worker *w, const sent_range *win, int first, int n, mp__job *job, sent_range *out)
{
    bool fresh = true;
    for (int k = 0; k < n; k++) {
        const sent_range *r = &win[(first + k) % MP__ELSEWHERE_WINDOW];
        if (r->v.job == job) {
            out->v = r->v;
            fresh = false;
            break;
        }
    }
    if (fresh) {
        out->v.job = job;
        out->v.gen = (uint32_t)(atomic_load(&job->claim) >> MP__CLAIM_SHIFT);
    }
    return claim(&out->v, job, w->workers, fresh, &out->begin, &out->end);
}

/* Whether the worker may claim more of `job`: with none of it in flight,
 * always; else only while what it holds is less than its share of what is
 * left unclaimed.  Prefetching hides a round trip; it must not take a
 * large part of a call from the other workers (guided chunks start at a
 * quarter of the call). */
static bool may_hold_more(const worker *w, const sent_range *win, int first, int n, mp__job *job)
{
    uint64_t held = 0;
    for (int k = 0; k < n; k++) {
        const sent_range *r = &win[(first + k) % MP__ELSEWHERE_WINDOW];
        if (r->v.job == job)
            held += r->end - r->begin;
    }
    if (held == 0)
        return true;
    uint64_t next = atomic_load(&job->claim) & MP__CLAIM_MASK;
    uint64_t count = atomic_load_explicit(&job->count, memory_order_relaxed);
    uint64_t unclaimed = count > next ? count - next : 0;
    return held * (uint64_t)w->workers < unclaimed;
}

/* A range is done (run elsewhere, or skipped after a cancel): its tasks
 * count as finished. */
static void report_range(worker *w, sent_range *r)
{
    size_t pending = r->v.ring ? 0 : r->end - r->begin;
    report(w, &r->v, &pending, r->begin, r->end);
}

/* With ranges already in flight, a job this worker holds nothing of (a
 * future, a new call) is left to a worker that is idle, if one is: a
 * window of other calls' ranges would make it wait behind them while that
 * worker sleeps.  A sleeping one is woken for it (publishing wakes one
 * worker for a one-task job, and it may have been this one). */
static bool leave_to_idle(mp__shared *sh, const sent_range *win, int first, int n, mp__job *job)
{
    if (n == 0)
        return false;
    for (int k = 0; k < n; k++)
        if (win[(first + k) % MP__ELSEWHERE_WINDOW].v.job == job)
            return false;
    if (mp__evc_has_waiters(&sh->work)) {
        mp__evc_wake(&sh->work, 1, sh->futex_shared);
        return true;
    }
    return atomic_load(&sh->spinners) > 0;
}

/* Keeps at most what one send may carry (mp__shared.elsewhere_max_bytes)
 * in *r; the rest of the claim goes to *carry, sent next. */
static void cut_range(const mp__shared *sh, sent_range *r, sent_range *carry, bool *carrying)
{
    *carrying = false;
    if (!sh->elsewhere_max_bytes)
        return;
    size_t per_task = 64 + r->v.out_size;   /* 64: a failure's or a result's header in the reply */
    for (size_t k = 0; k < r->v.nargs; k++)
        per_task += r->v.in_size[k];
    size_t cap = sh->elsewhere_max_bytes / per_task;
    if (cap < 1)
        cap = 1;
    if (r->end - r->begin <= cap)
        return;
    *carry = *r;
    carry->begin = r->begin + cap;
    r->end = r->begin + cap;
    *carrying = true;
}

/* Fills the window from the published jobs, oldest first, and empties it;
 * returns once no range is in flight and none can be claimed.  True if
 * it claimed anything. */
static bool run_elsewhere(worker *w)
{
    mp__shared *sh = w->sh;
    sent_range win[MP__ELSEWHERE_WINDOW], carry;
    bool carrying = false;   /* claimed tasks not sent yet: the rest of a large claim */
    int first = 0, n = 0;
    bool worked = false;
    for (;;) {
        while (n < MP__ELSEWHERE_WINDOW) {
            sent_range *r = &win[(first + n) % MP__ELSEWHERE_WINDOW];
            if (carrying) {
                *r = carry;
            } else {
                mp__job *job = find_job(sh);
                if (!job || !may_hold_more(w, win, first, n, job) || leave_to_idle(sh, win, first, n, job))
                    break;
                if (!claim_for_window(w, win, first, n, job, r))
                    continue;    /* a race lost: that job has nothing left to claim now */
                worked = true;
            }
            cut_range(sh, r, &carry, &carrying);
            if (MP__UNLIKELY(atomic_load_explicit(&r->v.job->cancelled, memory_order_relaxed))) {
                report_range(w, r);
                continue;
            }
            sh->send_elsewhere(sh->elsewhere_arg, w->task.worker, r->v.job, r->begin, r->end);
            n++;
        }
        if (n == 0) {
            MP__ASSERT(!carrying);
            return worked;
        }
        sent_range *r = &win[first];
        size_t begin, end;
        sh->finish_elsewhere(sh->elsewhere_arg, w->task.worker, r->v.job, &begin, &end);
        MP__ASSERT(begin == r->begin && end == r->end);
        first = (first + 1) % MP__ELSEWHERE_WINDOW;
        n--;
        report_range(w, r);
    }
}

/* The control block of the pool this thread works for, NULL outside
 * workers: a task's blocking call on its own pool is refused by it. */
static _Thread_local const mp__shared *serving;

bool mp__sched_serving(const mp__shared *sh)
{
    return sh && serving == sh;
}

/* An idle worker waits for the work count to move past what it saw. */
typedef struct idle_wait {
    mp__shared *sh;
    uint32_t seen;
} idle_wait;

static bool work_published(void *arg)
{
    idle_wait *w = arg;
    return mp__evc_read(&w->sh->work) != w->seen;
}

void mp__sched_worker_main(mp__shared *sh, int id)
{
    worker w = { sh, &sh->wslots[id], sh->workers, sh->supervised, sh->maxtasks, { .worker = id } };
    serving = sh;
    mp__wslot *ws = w.ws;
    bool unflushed = sh->supervised;   /* the initializer may have printed */
    if (MP__WS_STATE(atomic_load(&ws->acct)) == MP__WS_HOLDING) {
        /* A replacement: run what the worker before it left unfinished. */
        mp__job *job = &sh->jobs[atomic_load(&ws->job)];
        run_job(&w, job, atomic_load(&ws->gen), (size_t)(atomic_load(&ws->pos) / 2), (size_t)atomic_load(&ws->end));
    }
    for (;;) {
        idle_wait idle = { sh, mp__evc_read(&sh->work) };
        if (atomic_load(&sh->shutdown))
            return;
        if (sh->send_elsewhere && run_elsewhere(&w))
            continue;
        mp__job *job = sh->send_elsewhere ? NULL : find_job(sh);
        if (job) {
            /* Publishing a one-task job wakes nobody when a worker spins;
             * if more work waits than this worker takes, pass the wake on. */
            if (mp__evc_has_waiters(&sh->work) && other_work_pending(sh, job))
                mp__evc_wake(&sh->work, 1, sh->futex_shared);
            run_job(&w, job, (uint32_t)(atomic_load(&job->claim) >> MP__CLAIM_SHIFT), 0, 0);
            unflushed = sh->supervised;
            continue;
        }
        /* Idle: spin a little (a new job is picked up in well under a
         * microsecond), then sleep until the next publish.  Only a few
         * workers spin at once: more spinners than spare cores would take
         * the CPU from the threads doing the work. */
        bool may_spin = atomic_fetch_add(&sh->spinners, 1) < sh->max_spinners;
        bool woke = mp__await(&sh->work, sh->futex_shared, work_published, &idle, may_spin ? SPIN_SECONDS : 0, 0);
        atomic_fetch_sub(&sh->spinners, 1);
        if (woke)
            continue;
        if (unflushed) {
            fflush(NULL);          /* every stream a task wrote to, before we sleep */
            unflushed = false;
        }
        mp__await(&sh->work, sh->futex_shared, work_published, &idle, 0, -1);
    }
}

void mp__sched_shutdown(mp__shared *sh)
{
    atomic_store(&sh->shutdown, 1);
    mp__evc_signal(&sh->work, INT_MAX, sh->futex_shared);
}

/* ---- submitting and stopping jobs ------------------------------------------ */

void mp__sched_notify_completion(mp__shared *sh)
{
    mp__evc_signal(&sh->completions, INT_MAX, sh->futex_shared);
}

mp__job *mp__sched_reserve(mp__shared *sh, uint64_t seq)
{
    for (int i = 0; i < MP__JOB_SLOTS; i++) {
        mp__job *job = &sh->jobs[i];
        if (atomic_load(&job->state) != MP__JOB_FREE)
            continue;
        MP__ASSERT(job->owner == NULL && job->nowned == 0);
        atomic_store(&job->state, MP__JOB_ACTIVE);
        atomic_store(&job->cancelled, 0);
        atomic_store(&job->timeout_ns, 0);
        atomic_store_explicit(&job->seq, seq, memory_order_relaxed);
        return job;
    }
    return NULL;
}

/* A slot starts a new job: a new generation and cleared counters. */
static void new_generation(mp__job *job)
{
    MP__ASSERT(atomic_load(&job->state) == MP__JOB_ACTIVE);   /* reserved, not yet published */
    job->gen = (job->gen + 1) & MP__GEN_MASK;
    atomic_store(&job->failures, NULL);
    atomic_store(&job->nfailed, 0);
    atomic_store(&job->ncancelled, 0);
    atomic_store(&job->done, 0);
}

void mp__sched_publish(mp__shared *sh, mp__job *job)
{
    new_generation(job);
    if (atomic_load(&job->count) == 0) {
        atomic_store(&job->state, MP__JOB_DONE);
        return;
    }
    /* Fields first, then the claim word (release), then visibility. */
    atomic_store(&job->claim, (uint64_t)job->gen << MP__CLAIM_SHIFT);
    atomic_fetch_or(&sh->active, UINT64_C(1) << (job - sh->jobs));
    mp__evc_add(&sh->work, 1);
    /* A spinning worker picks up a single task by itself; anything larger
     * wants every worker.  (Spinners are counted after the count moved: one
     * that stops spinning now sleeps past the new count at once.) */
    bool many = atomic_load(&job->count) > 1;
    if (many || atomic_load(&sh->spinners) == 0)
        mp__evc_wake(&sh->work, many ? INT_MAX : 1, sh->futex_shared);
}

void mp__sched_publish_stream(mp__shared *sh, mp__job *job)
{
    new_generation(job);
    atomic_store(&job->count, 0);
    atomic_store(&job->claim, (uint64_t)job->gen << MP__CLAIM_SHIFT);
    atomic_fetch_or(&sh->active, UINT64_C(1) << (job - sh->jobs));
}

void mp__sched_feed(mp__shared *sh, mp__job *job, size_t count)
{
    atomic_store(&job->count, count);
    mp__evc_signal(&sh->work, INT_MAX, sh->futex_shared);
}

void mp__sched_free(mp__shared *sh, mp__job *job)
{
    MP__ASSERT(atomic_load(&job->state) == MP__JOB_DONE);
    atomic_fetch_and(&sh->active, ~(UINT64_C(1) << (job - sh->jobs)));
    job->owner = NULL;
    atomic_store(&job->state, MP__JOB_FREE);
}

void mp__job_free_staged(mp__job *job)
{
    for (int i = 0; i < job->nowned; i++)
        mp_shm_free(job->owned[i]);
    job->nowned = 0;
}

void mp__job_credit(mp__shared *sh, mp__job *job, uint64_t n)
{
    uint64_t count = atomic_load(&job->count);
    if (n) {
        if (atomic_fetch_add(&job->done, n) + n == count)
            complete(sh, job);
        return;
    }
    /* n == 0: complete a job whose last flush happened but whose worker
     * died before marking it done (only the supervisor asks this, when no
     * live worker is in the job, so no one else can complete it now). */
    if (atomic_load(&job->state) != MP__JOB_DONE && atomic_load(&job->done) == count)
        complete(sh, job);
}

size_t mp__job_cancel_unclaimed(mp__shared *sh, mp__job *job)
{
    uint64_t count = atomic_load(&job->count);
    uint64_t old = atomic_load(&job->claim);
    while ((old & MP__CLAIM_MASK) < count &&
           !atomic_compare_exchange_weak(&job->claim, &old, (old & ~MP__CLAIM_MASK) | count))
        ;
    size_t taken = (old & MP__CLAIM_MASK) < count ? count - (old & MP__CLAIM_MASK) : 0;
    if (taken)
        atomic_fetch_add(&job->ncancelled, taken);
    if (taken && job->ring) {
        mp__evc_add(&job->progress, (uint32_t)taken);
    } else if (taken) {
        uint64_t d = atomic_fetch_add(&job->done, taken) + taken;
        if (d == count)
            complete(sh, job);
    }
    return taken;
}

void mp__job_cancel(mp__shared *sh, mp__job *job)
{
    atomic_store(&job->cancelled, 1);
    /* Every unclaimed task is counted as finished; tasks already claimed
     * are skipped by their workers, who count them the same way. */
    mp__job_cancel_unclaimed(sh, job);
}

void mp__job_nudge(mp__shared *sh, mp__job *job)
{
    mp__evc_notify(&job->finished, INT_MAX, sh->futex_shared);
}

void mp__sched_nudge_all(mp__shared *sh)
{
    for (int i = 0; i < MP__JOB_SLOTS; i++)
        mp__job_nudge(sh, &sh->jobs[i]);
}

void mp__sched_cancel_all(mp__shared *sh)
{
    mp__job *job;
    MP__FOR_EACH_ACTIVE(sh, job) {
        atomic_store(&job->cancelled, 1);
        if (!job->ring)
            mp__job_cancel_unclaimed(sh, job);
    }
}
