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
#include <sched.h>
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
static MP__NOINLINE int timed_out(mp__shared *sh, mp_task *task, int64_t limit_ns, double started)
{
    double limit = (double)limit_ns * 1e-9, ran = mp__now() - started;
    if (sh->supervised)
        snprintf(task->message, sizeof task->message, "task %zu timed out after %g s on worker %d", task->index, limit,
                 (int)getpid());
    else
        snprintf(task->message, sizeof task->message,
                 "task %zu timed out after %g s on worker thread %d (it ran %.3g s: a thread cannot be stopped)",
                 task->index, limit, task->worker, ran);
    task->has_message = true;
    return MP_ETIMEDOUT;
}

/* Hands the task's variable-size result to the job, or discards it. */
static void settle_bytes(mp__job *job, mp_task *task, size_t slot, int rc)
{
    if (rc == 0 && task->var.data) {
        job->varout[slot] = task->var;
    } else {
        mp_shm_free(task->var.data);
        if (job->varout)
            job->varout[slot] = (mp_bytes){ NULL, 0 };
    }
    task->var = (mp_bytes){ NULL, 0 };
    task->var_cap = 0;
}

static inline void run_task(mp__shared *sh, mp__job *job, mp_task *task, mp__wslot *ws, size_t i)
{
    int rc;
    size_t slot = job->ring ? i % job->ring : i;
    task->index = i;
    task->has_message = false;
    int64_t limit = atomic_load_explicit(&job->timeout_ns, memory_order_relaxed);
    double started = 0;
    task->deadline = 0;
    if (MP__UNLIKELY(limit > 0)) {
        started = mp__now();
        task->deadline = started + (double)limit * 1e-9;
    }
    /* Only a supervisor reads the slot: thread pools skip the stores. */
    if (sh->supervised) {
        atomic_store_explicit(&ws->deadline_ns, limit > 0 ? (uint64_t)(started * 1e9) + (uint64_t)limit : 0,
                              memory_order_relaxed);
        /* The deadline is visible before the task is marked running. */
        atomic_store_explicit(&ws->pos, 2 * (uint64_t)i + 1, memory_order_release);
    }
    char *out = job->out ? job->out + slot * job->out_size : NULL;
    if (job->kind == MP__KIND_MAP) {
        const void *in = job->in[0] ? job->in[0] + slot * job->in_size[0] : NULL;
        rc = ((mp_map_fn)job->fn)(task, in, out);
    } else {
        const void *args[MP_MAX_ARGS];
        for (size_t k = 0; k < job->nargs; k++)
            args[k] = job->in[k] + slot * job->in_size[k];
        rc = ((mp_star_fn)job->fn)(task, args, out);
    }
    if (MP__UNLIKELY(limit > 0) && mp__now() > task->deadline)
        rc = timed_out(sh, task, limit, started);
    if (MP__UNLIKELY(rc != 0))
        record_failure(job, task, rc);
    if (MP__UNLIKELY(task->var.data != NULL) || job->varout)
        settle_bytes(job, task, slot, rc);
    if (sh->supervised)
        atomic_store_explicit(&ws->pos, 2 * (uint64_t)i + 2, memory_order_release);
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
 * streams are flushed when the worker goes idle (mp__worker_main).  Thread
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

/* Claims the next chunk of a job for a worker that knows it as generation
 * *gen.  Returns false when no unclaimed task is left.
 *
 * A worker may look at a job just before it finishes and its slot is
 * refilled; its claim then lands on the new job.  With a compare-and-swap
 * (guided chunks) the tag mismatch is seen first and nothing is claimed.
 * With a fetch-add the tasks are already ours: we run them as the new job,
 * whose fields were published before its claim word, which our fetch-add
 * read with acquire ordering.  *gen is updated to say so.  (Workers read a
 * job's other fields afresh for every task, never from a cached copy.) */
static inline bool claim(mp__job *job, int workers, uint32_t *gen, size_t *begin, size_t *end)
{
    /* Acquire: a stream's count publishes the inputs fed before it. */
    size_t count = atomic_load_explicit(&job->count, memory_order_acquire);
    size_t chunk = atomic_load_explicit(&job->chunksize, memory_order_relaxed);
    bool stream = chunk & MP__CHUNK_STREAM;
    chunk &= ~MP__CHUNK_STREAM;

    if (chunk && !stream) {
        /* Fixed chunks: a fetch-add with no load before it, so the
         * contended line moves once per claim.  A worker leaves a job at
         * its first failed claim, so claims past the end overshoot by at
         * most one chunk per worker. */
        uint64_t old = atomic_fetch_add(&job->claim, chunk);
        /* Re-read the shape: if the slot was refilled since we looked (even
         * back to the same generation), these tasks belong to the new job. */
        *gen = (uint32_t)(old >> MP__CLAIM_SHIFT);
        count = atomic_load_explicit(&job->count, memory_order_relaxed);
        size_t b = old & MP__CLAIM_MASK;
        if (b >= count)
            return false;
        *begin = b;
        *end = chunk < count - b ? b + chunk : count;   /* we advanced it by chunk */
        return true;
    }

    /* Guided chunks, and streams (whose count grows: never claim past what
     * has been fed), by compare-and-swap. */
    uint64_t old = atomic_load(&job->claim);
    for (;;) {
        size_t b = old & MP__CLAIM_MASK;
        if ((uint32_t)(old >> MP__CLAIM_SHIFT) != *gen || b >= count)
            return false;
        size_t n = stream ? chunk : (count - b) / (2 * (size_t)workers);
        if (n < 1) n = 1;
        if (n > count - b) n = count - b;
        if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
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
 * supervise.h).  Never claims past the end (nor past what a stream was
 * fed). */
static inline bool claim_recoverable(mp__job *job, mp__wslot *ws, int workers, uint32_t gen, uint64_t *hint,
                                     size_t *begin, size_t *end)
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
        if ((uint32_t)(old >> MP__CLAIM_SHIFT) != gen || b >= count)
            return false;
        size_t n = chunk ? chunk : (count - b) / (2 * (size_t)workers);
        if (n < 1) n = 1;
        if (n > count - b) n = count - b;
        atomic_store_explicit(&ws->begin, b, memory_order_relaxed);
        atomic_store_explicit(&ws->end, b + n, memory_order_relaxed);
        if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
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
    _exit(0);
}

static void run_range(mp__shared *sh, mp__job *job, mp_task *task, mp__wslot *ws, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++) {
        if (MP__UNLIKELY(atomic_load_explicit(&job->cancelled, memory_order_relaxed))) {
            /* Skipped tasks count as finished: the caller waits only for
             * the ones already running. */
            atomic_store_explicit(&ws->pos, 2 * (uint64_t)end, memory_order_release);
            return;
        }
        run_task(sh, job, task, ws, i);
        if (MP__UNLIKELY(task->tasks_run++ == 0))
            atomic_store_explicit(&ws->status, MP__WS_WORKED, memory_order_relaxed);
        if (MP__UNLIKELY(sh->maxtasks != 0) && task->tasks_run >= sh->maxtasks && sh->supervised)
            retire(ws);
    }
}

/* Runs a job's tasks until none is left to claim: first [begin, end) if a
 * dead predecessor left it to this worker, then chunk after chunk. */
static void run_job(mp__shared *sh, mp__job *job, mp_task *task, uint32_t gen, size_t begin, size_t end)
{
    mp__wslot *ws = &sh->wslots[task->worker];
    MP__ASSERT(MP__WS_STATE(atomic_load(&ws->acct)) == (begin < end ? MP__WS_HOLDING : MP__WS_IDLE));
    size_t pending = 0;
    bool have = begin < end;
    uint64_t hint = atomic_load(&job->claim);
    task->job = job;
    atomic_store_explicit(&ws->job, (uint32_t)(job - sh->jobs), memory_order_relaxed);
    atomic_store_explicit(&ws->gen, gen, memory_order_relaxed);
    if (!have)
        mp__ws_set(ws, 0, MP__WS_CLAIMING);
    for (;;) {
        if (!have) {
            if (sh->supervised) {
                if (!claim_recoverable(job, ws, sh->workers, gen, &hint, &begin, &end))
                    break;
                atomic_store_explicit(&ws->pos, 2 * (uint64_t)begin, memory_order_relaxed);
                mp__ws_set(ws, pending, MP__WS_HOLDING);
            } else if (!claim(job, sh->workers, &gen, &begin, &end)) {
                break;
            }
        }
        have = false;
        run_range(sh, job, task, ws, begin, end);
        if (job->ring) {
            /* A stream counts finished tasks in `progress` instead.  The
             * slot says FLUSHING while they are reported: the supervisor
             * finds out which were from slot_done. */
            write_printed(sh);
            mp__ws_set(ws, 0, MP__WS_FLUSHING);
            mp__job_report_stream(sh, job, begin, end);
            mp__ws_set(ws, 0, MP__WS_CLAIMING);
            continue;
        }
        pending += end - begin;
        if (pending >= job->flush_every) {
            write_printed(sh);
            mp__ws_set(ws, pending, MP__WS_FLUSHING);
            flush_done(sh, job, &pending);
        }
        mp__ws_set(ws, pending, MP__WS_CLAIMING);
    }
    if (pending) {
        write_printed(sh);
        mp__ws_set(ws, pending, MP__WS_FLUSHING);
        flush_done(sh, job, &pending);
    }
    mp__ws_set(ws, 0, MP__WS_IDLE);
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

void mp__sched_worker_main(mp__shared *sh, int worker)
{
    mp_task task = { .worker = worker };
    serving = sh;
    mp__wslot *ws = &sh->wslots[worker];
    bool unflushed = sh->supervised;   /* the initializer may have printed */
    if (MP__WS_STATE(atomic_load(&ws->acct)) == MP__WS_HOLDING) {
        /* A replacement: run what the worker before it left unfinished. */
        mp__job *job = &sh->jobs[atomic_load(&ws->job)];
        run_job(sh, job, &task, atomic_load(&ws->gen), (size_t)(atomic_load(&ws->pos) / 2),
                (size_t)atomic_load(&ws->end));
    }
    for (;;) {
        idle_wait idle = { sh, mp__evc_read(&sh->work) };
        if (atomic_load(&sh->shutdown))
            return;
        mp__job *job = find_job(sh);
        if (job) {
            /* Publishing a one-task job wakes nobody when a worker spins;
             * if more work waits than this worker takes, pass the wake on. */
            if (mp__evc_has_waiters(&sh->work) && other_work_pending(sh, job))
                mp__evc_wake(&sh->work, 1, sh->futex_shared);
            run_job(sh, job, &task, (uint32_t)(atomic_load(&job->claim) >> MP__CLAIM_SHIFT), 0, 0);
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
