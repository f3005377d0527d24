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
#include "pool.h"
#include "futex.h"
#include "shm.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#define SPIN_SECONDS 100e-6      /* how long an idle side spins before sleeping */
#define SPIN_CHECK_EVERY 64      /* spin iterations between clock reads */

int mp__shared_create(int workers, bool futex_shared, mp__shared **out)
{
    void *mem;
    int r = mp__shm_alloc(sizeof(mp__shared), true, &mem);
    if (r)
        return r;
    mp__shared *sh = mem;
    sh->futex_shared = futex_shared;
    sh->workers = workers;
    int cpus = mp_cpu_count();
    sh->max_spinners = cpus > 1 ? (uint32_t)(cpus - 1) : 1;
    *out = sh;
    return 0;
}

void mp__shared_destroy(mp__shared *sh)
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
    mp_shm_free(sh);
}

/* ---- worker side --------------------------------------------------------- */

static void record_failure(mp__job *job, mp_task *task, size_t slot, int code)
{
    mp__failure_rec *f;
    atomic_fetch_add(&job->nfailed, 1);
    if (job->ring) {
        f = &job->slot_fail[slot];   /* read by the consumer with the result */
    } else {
        void *mem;
        if (mp__shm_alloc(sizeof(mp__failure_rec), false, &mem) != 0)
            return;   /* counted, but no room for the details */
        f = mem;
    }
    f->index = task->index;
    f->code = code;
    if (task->has_message)
        memcpy(f->message, task->message, sizeof f->message);
    else
        snprintf(f->message, sizeof f->message, "task %zu failed with code %d", task->index, code);
    if (job->ring)
        return;
    mp__failure_rec *head = atomic_load(&job->failures);
    do
        f->next = head;
    while (!atomic_compare_exchange_weak(&job->failures, &head, f));
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

static inline void run_task(mp__job *job, mp_task *task, size_t i)
{
    int rc;
    size_t slot = job->ring ? i % job->ring : i;
    task->index = i;
    task->has_message = false;
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
    if (MP__UNLIKELY(rc != 0))
        record_failure(job, task, slot, rc);
    if (MP__UNLIKELY(task->var.data != NULL) || job->varout)
        settle_bytes(job, task, slot, rc);
}

/* A stream's consumer learns of each finished task (see pool.h). */
static void report_stream(mp__shared *sh, mp__job *job, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++) {
        atomic_store_explicit(&job->slot_done[i % job->ring], i + 1, memory_order_release);
        if (job->completed) {
            uint64_t at = atomic_fetch_add(&job->completed_tail, 1);
            atomic_store_explicit(&job->completed[at % job->ring], i + 1, memory_order_release);
        }
    }
    atomic_fetch_add(&job->progress, (uint32_t)(end - begin));
    if (atomic_load(&job->progress_waiters))
        mp__futex_wake(&job->progress, INT_MAX, sh->futex_shared);
}

static void complete(mp__shared *sh, mp__job *job)
{
    uint32_t old = atomic_exchange(&job->state, MP__JOB_DONE);
    if (old & MP__JOB_WAITER)
        mp__futex_wake(&job->state, INT_MAX, sh->futex_shared);
    mp__notify_completion(sh);
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
    uint64_t old = atomic_load(&job->claim);
    if ((uint32_t)(old >> MP__CLAIM_SHIFT) != *gen || (old & MP__CLAIM_MASK) >= count)
        return false;
    if (chunk & MP__CHUNK_STREAM) {
        /* A stream's count grows: never claim past what has been fed. */
        chunk &= ~MP__CHUNK_STREAM;
        for (;;) {
            size_t b = old & MP__CLAIM_MASK;
            if ((uint32_t)(old >> MP__CLAIM_SHIFT) != *gen || b >= count)
                return false;
            size_t n = chunk < count - b ? chunk : count - b;
            if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
                *begin = b;
                *end = b + n;
                return true;
            }
            count = atomic_load_explicit(&job->count, memory_order_acquire);
        }
    }
    if (chunk) {
        old = atomic_fetch_add(&job->claim, chunk);
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
    for (;;) {
        size_t b = old & MP__CLAIM_MASK;
        if ((uint32_t)(old >> MP__CLAIM_SHIFT) != *gen || b >= count)
            return false;
        size_t n = (count - b) / (2 * (size_t)workers);
        if (n < 1) n = 1;
        if (atomic_compare_exchange_weak(&job->claim, &old, old + n)) {
            *begin = b;
            *end = b + n;
            return true;
        }
    }
}

static void run_job(mp__shared *sh, mp__job *job, int worker)
{
    mp_task task = { .job = job, .worker = worker };
    uint32_t gen = (uint32_t)(atomic_load(&job->claim) >> MP__CLAIM_SHIFT);
    size_t pending = 0, begin, end;
    while (claim(job, sh->workers, &gen, &begin, &end)) {
        for (size_t i = begin; i < end; i++)
            run_task(job, &task, i);
        if (job->ring) {
            /* A stream counts finished tasks in `progress` instead. */
            report_stream(sh, job, begin, end);
            continue;
        }
        pending += end - begin;
        if (pending >= job->flush_every)
            flush_done(sh, job, &pending);
    }
    flush_done(sh, job, &pending);
}

/* The oldest published job that still has unclaimed tasks, or NULL. */
static mp__job *find_job(mp__shared *sh)
{
    uint64_t mask = atomic_load(&sh->active);
    mp__job *best = NULL;
    while (mask) {
        int i = __builtin_ctzll(mask);
        mask &= mask - 1;
        mp__job *job = &sh->jobs[i];
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
    uint64_t mask = atomic_load(&sh->active);
    while (mask) {
        mp__job *job = &sh->jobs[__builtin_ctzll(mask)];
        mask &= mask - 1;
        uint64_t next = atomic_load(&job->claim) & MP__CLAIM_MASK;
        uint64_t count = atomic_load_explicit(&job->count, memory_order_relaxed);
        if (next + (job == mine) < count)
            return true;
    }
    return false;
}

void mp__worker_main(mp__shared *sh, int worker)
{
    for (;;) {
        uint32_t seen = atomic_load(&sh->work_seq);
        if (atomic_load(&sh->shutdown))
            return;
        mp__job *job = find_job(sh);
        if (job) {
            /* Publishing a one-task job wakes nobody when a worker spins;
             * if more work waits than this worker takes, pass the wake on. */
            if (atomic_load(&sh->sleepers) && other_work_pending(sh, job))
                mp__futex_wake(&sh->work_seq, 1, sh->futex_shared);
            run_job(sh, job, worker);
            continue;
        }
        /* Idle: spin a little (a new job is picked up in well under a
         * microsecond), then sleep until the next publish.  Only a few
         * workers spin at once: more spinners than spare cores would take
         * the CPU from the threads doing the work. */
        if (atomic_fetch_add(&sh->spinners, 1) < sh->max_spinners) {
            bool woke = false;
            double deadline = 0;
            for (unsigned spin = 1; !woke; spin++) {
                if (atomic_load_explicit(&sh->work_seq, memory_order_relaxed) != seen)
                    woke = true;
                else
                    mp__spin_step(spin);
                if (spin % SPIN_CHECK_EVERY == 0) {
                    double now = mp__now();
                    if (!deadline)
                        deadline = now + SPIN_SECONDS;
                    else if (now > deadline)
                        break;
                }
            }
            atomic_fetch_sub(&sh->spinners, 1);
            if (woke)
                continue;
        } else {
            atomic_fetch_sub(&sh->spinners, 1);
        }
        atomic_fetch_add(&sh->sleepers, 1);
        if (!atomic_load(&sh->shutdown))
            mp__futex_wait(&sh->work_seq, seen, sh->futex_shared, -1);
        atomic_fetch_sub(&sh->sleepers, 1);
    }
}

void mp__shutdown_workers(mp__shared *sh)
{
    atomic_store(&sh->shutdown, 1);
    atomic_fetch_add(&sh->work_seq, 1);
    mp__futex_wake(&sh->work_seq, INT_MAX, sh->futex_shared);
}

/* ---- caller side ----------------------------------------------------------- */

/* Sleeps until some job finishes or a slot is released (or `timeout`).
 * Called with pool->lock held; returns with it held. */
void mp__wait_completion_locked(mp_pool *pool, uint32_t seen, double timeout)
{
    mp__shared *sh = pool->sh;
    atomic_fetch_add(&sh->completion_waiters, 1);
    pthread_mutex_unlock(&pool->lock);
    mp__futex_wait(&sh->completions, seen, sh->futex_shared, timeout);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_sub(&sh->completion_waiters, 1);
}

void mp__notify_completion(mp__shared *sh)
{
    atomic_fetch_add(&sh->completions, 1);
    if (atomic_load(&sh->completion_waiters))
        mp__futex_wake(&sh->completions, INT_MAX, sh->futex_shared);
}

int mp__job_acquire(mp_pool *pool, mp__job **out)
{
    mp__shared *sh = pool->sh;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->closing || atomic_load(&pool->terminating)) {
            pthread_mutex_unlock(&pool->lock);
            return mp__error(MP_ECLOSED, "pool is closed or shutting down");
        }
        if (pool->broken) {
            int code = pool->broken;
            pthread_mutex_unlock(&pool->lock);
            return mp__error(code, "%s", pool->broken_msg);
        }
        for (int i = 0; i < MP__JOB_SLOTS; i++) {
            mp__job *job = &sh->jobs[i];
            if (atomic_load(&job->state) == MP__JOB_FREE) {
                atomic_store(&job->state, MP__JOB_ACTIVE);  /* reserved */
                atomic_store_explicit(&job->seq, pool->next_seq++, memory_order_relaxed);
                pool->callers++;
                pthread_mutex_unlock(&pool->lock);
                *out = job;
                return 0;
            }
        }
        /* Every slot is busy.  Finished async results and futures hold
         * slots until harvested: harvest them, else wait for a finish. */
        uint32_t seen = atomic_load(&sh->completions);
        if (mp__harvest_all_locked(pool) == 0)
            mp__wait_completion_locked(pool, seen, MP__WATCH_INTERVAL);
    }
}

void mp__job_publish(mp_pool *pool, mp__job *job)
{
    mp__shared *sh = pool->sh;
    job->gen = (job->gen + 1) & MP__GEN_MASK;
    atomic_store(&job->failures, NULL);
    atomic_store(&job->nfailed, 0);
    atomic_store(&job->done, 0);
    if (atomic_load(&job->count) == 0) {
        atomic_store(&job->state, MP__JOB_DONE);
        return;
    }
    /* Fields first, then the claim word (release), then visibility. */
    atomic_store(&job->claim, (uint64_t)job->gen << MP__CLAIM_SHIFT);
    atomic_fetch_or(&sh->active, UINT64_C(1) << (job - sh->jobs));
    atomic_fetch_add(&sh->work_seq, 1);
    /* A spinning worker picks up a single task by itself; anything larger
     * wants every worker. */
    uint32_t sleeping = atomic_load(&sh->sleepers);
    if (sleeping && (atomic_load(&job->count) > 1 || atomic_load(&sh->spinners) == 0))
        mp__futex_wake(&sh->work_seq, atomic_load(&job->count) > 1 ? INT_MAX : 1, sh->futex_shared);
}

void mp__job_publish_stream(mp_pool *pool, mp__job *job)
{
    mp__shared *sh = pool->sh;
    job->gen = (job->gen + 1) & MP__GEN_MASK;
    atomic_store(&job->failures, NULL);
    atomic_store(&job->nfailed, 0);
    atomic_store(&job->done, 0);
    atomic_store(&job->count, 0);
    atomic_store(&job->claim, (uint64_t)job->gen << MP__CLAIM_SHIFT);
    atomic_fetch_or(&sh->active, UINT64_C(1) << (job - sh->jobs));
}

int mp__job_wait(mp_pool *pool, mp__job *job)
{
    mp__shared *sh = pool->sh;
    double start = mp__now();
    for (unsigned spin = 1; atomic_load(&job->state) != MP__JOB_DONE; spin++) {
        mp__spin_step(spin);
        if (spin % SPIN_CHECK_EVERY == 0 && mp__now() - start > SPIN_SECONDS)
            break;
    }
    double next_check = mp__now() + MP__WATCH_INTERVAL;
    for (;;) {
        uint32_t st = atomic_load(&job->state);
        if (st == MP__JOB_DONE)
            return 0;
        if (!(st & MP__JOB_WAITER) &&
            !atomic_compare_exchange_strong(&job->state, &st, st | MP__JOB_WAITER))
            continue;
        mp__futex_wait(&job->state, st | MP__JOB_WAITER, sh->futex_shared, MP__WATCH_INTERVAL);
        if (atomic_load(&job->state) == MP__JOB_DONE)
            return 0;
        if (atomic_load(&pool->terminating))
            return mp__error(MP_ECLOSED, "pool was terminated while the call ran");
        double now = mp__now();
        if (now >= next_check) {
            next_check = now + MP__WATCH_INTERVAL;
            int r = pool->ops->check(pool);
            if (r)
                return r;
        }
    }
}

void mp__job_free_staged(mp__job *job)
{
    for (int i = 0; i < job->nowned; i++)
        mp_shm_free(job->owned[i]);
    job->nowned = 0;
}

void mp__job_release(mp_pool *pool, mp__job *job, bool locked)
{
    mp__shared *sh = pool->sh;
    bool done = atomic_load(&job->state) == MP__JOB_DONE;
    /* After terminate no worker runs (processes were killed; thread pools
     * stage nothing), so the staged blocks can go. */
    if (done || atomic_load(&pool->terminating))
        mp__job_free_staged(job);
    if (!locked)
        pthread_mutex_lock(&pool->lock);
    if (done) {
        atomic_fetch_and(&sh->active, ~(UINT64_C(1) << (job - sh->jobs)));
        job->owner = NULL;
        atomic_store(&job->state, MP__JOB_FREE);
    }
    /* A job that never finished (a worker died) keeps its slot: workers
     * may still be writing into it.  The pool is broken anyway. */
    pool->callers--;
    pthread_cond_broadcast(&pool->changed);
    if (!locked)
        pthread_mutex_unlock(&pool->lock);
    mp__notify_completion(sh);
}

size_t mp__job_cancel_unclaimed(mp__shared *sh, mp__job *job)
{
    uint64_t count = atomic_load(&job->count);
    uint64_t old = atomic_load(&job->claim);
    while ((old & MP__CLAIM_MASK) < count &&
           !atomic_compare_exchange_weak(&job->claim, &old, (old & ~MP__CLAIM_MASK) | count))
        ;
    size_t taken = (old & MP__CLAIM_MASK) < count ? count - (old & MP__CLAIM_MASK) : 0;
    if (taken && job->ring) {
        atomic_fetch_add(&job->progress, (uint32_t)taken);
    } else if (taken) {
        uint64_t d = atomic_fetch_add(&job->done, taken) + taken;
        if (d == count)
            complete(sh, job);
    }
    return taken;
}

void mp__job_fed(mp_pool *pool, mp__job *job, size_t count)
{
    mp__shared *sh = pool->sh;
    atomic_store(&job->count, count);
    atomic_fetch_add(&sh->work_seq, 1);
    if (atomic_load(&sh->sleepers))
        mp__futex_wake(&sh->work_seq, INT_MAX, sh->futex_shared);
}
void mp__futex_wake_job(mp_pool *pool, mp__job *job)
{
    mp__futex_wake(&job->state, INT_MAX, pool->sh->futex_shared);
}

void mp__cancel_all_jobs(mp__shared *sh)
{
    uint64_t mask = atomic_load(&sh->active);
    while (mask) {
        mp__job *job = &sh->jobs[__builtin_ctzll(mask)];
        mask &= mask - 1;
        if (!job->ring)
            mp__job_cancel_unclaimed(sh, job);
    }
}
