/* imap.c - mp_imap: results as an iterator, over inputs fed on demand.
 *
 * An iterator owns one "stream" job whose count grows.  Inputs, outputs,
 * failures and variable-size results live in rings of `window` slots in the
 * shared arena; task i uses slot i % window.  The iterator feeds inputs only
 * into slots whose previous task has been consumed, so at most `window`
 * inputs exist at any time: memory stays constant however long the input.
 *
 * Workers tell the consumer about each finished task through the job:
 * slot_done[slot] = i + 1 (for the ordered iterator), the task's index in the
 * `completed` ring (completion order, for the unordered one), and a bump of
 * the `progress` event count the consumer sleeps on.  Feeding, waiting and the
 * generator all run in the thread that calls mp_imap_next.
 */
#include "pool.h"
#include "progress.h"
#include "shm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MIN_WINDOW 256
#define SPIN_SECONDS 50e-6

struct mp_imap {
    pid_t owner_pid;                /* the process that opened it (the pool's owner) */
    mp_pool *pool;
    mp__job *job;
    mp_imap_order order;
    size_t ring, in_size, out_size;
    size_t batch;                   /* free slots that make feeding worth it */
    size_t chunk;

    const char *array;              /* array source, or NULL */
    mp_generator_fn generator;
    void *generator_state;
    int generator_error;

    size_t total;                   /* inputs in all; SIZE_MAX until known */
    size_t fed;                     /* inputs handed to the job */
    size_t yielded;                 /* results handed to the caller */
    size_t next_index;              /* ordered: the next task to yield */
    uint64_t completed_head;        /* unordered: next completion to read */
    size_t failed;                  /* failed results yielded */
    mp_bar *bar;                    /* counts results yielded; NULL: none */
    unsigned char *busy;            /* slot holds a task not yet consumed */
    char *in_ring, *out_ring;
    mp_imap *next;                  /* in pool->iterators */
};

/* ---- feeding ------------------------------------------------------------- */

/* Feeds inputs into free slots, but only once at least `min_free` slots
 * are free: each feed touches the counters every worker reads (and may
 * wake one), so feeding a batch at a time keeps those cache lines quiet. */
static void feed(mp_imap *it, size_t min_free)
{
    if (it->ring - (it->fed - it->yielded) < min_free)
        return;
    size_t before = it->fed;
    while (it->fed < it->total) {
        size_t slot = it->fed % it->ring;
        if (it->busy[slot])
            break;                   /* its task has not been consumed yet */
        char *in = it->in_size ? it->in_ring + slot * it->in_size : NULL;
        if (it->generator) {
            int r = it->generator(it->generator_state, in);
            if (r <= 0) {
                it->total = it->fed;
                if (it->bar)
                    mp_bar_set_total(it->bar, it->total);
                if (r < 0)
                    it->generator_error = r;
                break;
            }
        } else if (in) {
            memcpy(in, it->array + it->fed * it->in_size, it->in_size);
        }
        it->busy[slot] = 1;
        it->fed++;
    }
    if (it->fed != before)
        mp__pool_feed(it->pool, it->job, it->fed);
}

/* ---- opening ------------------------------------------------------------- */

static void close_iterators(mp_pool *pool, bool terminate);

/* The imap layer of a pool: close and terminate reach iterators here. */
static const mp__layer imap_layer = { .close = close_iterators };

/* Allocates a ring of `ring` elements of `size` bytes for the job (NULL
 * when that is 0 bytes).  check_window has made sure the product fits. */
static int alloc_ring(mp__job *job, size_t ring, size_t size, void **out)
{
    size_t bytes = ring * size;
    if (!bytes) {
        *out = NULL;
        return 0;
    }
    int r = mp__shm_alloc(bytes, true, out);
    if (r == 0)
        job->owned[job->nowned++] = *out;
    return r;
}

static int check_open(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                      mp_generator_fn generator, const mp_imap_options *o, mp_imap **out)
{
    if (!pool || !fn || !out)
        return mp__error(MP_EINVAL, "mp_imap_open: %s is NULL", !pool ? "pool" : !fn ? "task function" : "it");
    if (!generator && count && in_size && !in)
        return mp__error(MP_EINVAL, "mp_imap_open: in is NULL but count is %zu", count);
    if (!generator && in && !in_size)
        return mp__error(MP_EINVAL, "mp_imap_open: in_size is 0 but in is not NULL");
    size_t in_bytes;
    if (!generator && mp__mul_overflows(count, in_size, &in_bytes))
        return mp__error(MP_EINVAL, "mp_imap_open: %zu inputs of %zu bytes overflow a size", count, in_size);
    if (o->order != MP_IMAP_ORDERED && o->order != MP_IMAP_UNORDERED)
        return mp__error(MP_EINVAL, "mp_imap_open: unknown order %d", (int)o->order);
    if (o->context_size && !o->context)
        return mp__error(MP_EINVAL, "mp_imap_open: context is NULL but context_size is %zu", o->context_size);
    if (o->chunksize > MP__MAX_CHUNK || o->window > (SIZE_MAX >> 8))
        return mp__error(MP_EINVAL, "mp_imap_open: chunksize or window too large");
    if (o->window && o->window < (o->chunksize ? o->chunksize : 1))
        return mp__error(MP_EINVAL, "mp_imap_open: window %zu is smaller than chunksize %zu", o->window, o->chunksize);
    return 0;
}

/* Every ring of `ring` slots must have a size that fits a size_t: checked
 * before anything is allocated, so a window or element size too large for
 * the products is MP_EINVAL rather than a wrapped, overrun allocation. */
static int check_window(size_t ring, size_t in_size, size_t out_size)
{
    static const char *const what[] = { "inputs", "outputs", "failure records", "results" };
    const size_t size[] = { in_size, out_size, sizeof(mp__failure_rec), sizeof(mp_bytes) };
    size_t bytes;
    for (size_t k = 0; k < sizeof size / sizeof *size; k++)
        if (mp__mul_overflows(ring, size[k], &bytes))
            return mp__error(MP_EINVAL, "mp_imap_open: a window of %zu %s of %zu bytes overflows a size", ring,
                             what[k], size[k]);
    return 0;
}

int mp_imap_open(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                 mp_generator_fn generator, void *generator_state, size_t out_size,
                 const mp_imap_options *opts, mp_imap **out)
{
    static const mp_imap_options defaults;
    const mp_imap_options *o = opts ? opts : &defaults;
    int r = check_open(pool, fn, in, count, in_size, generator, o, out);
    if (r || (r = mp__check_caller(pool, "mp_imap_open", false)))
        return r;
    size_t chunk = o->chunksize ? o->chunksize : 1;
    size_t ring = o->window;
    if (!ring) {
        ring = 4 * (size_t)pool->crew.workers * chunk;
        if (ring < DEFAULT_MIN_WINDOW) ring = DEFAULT_MIN_WINDOW;
    }
    if ((r = check_window(ring, in_size, out_size)))
        return r;

    mp_imap *it = calloc(1, sizeof *it);
    unsigned char *busy = calloc(ring, 1);
    if (!it || !busy) {
        free(it);
        free(busy);
        return mp__error(MP_ENOMEM, "mp_imap_open: out of memory");
    }
    it->busy = busy;
    it->owner_pid = pool->owner_pid;
    it->pool = pool;
    it->order = o->order;
    it->ring = ring;
    it->batch = ring / 4 > chunk ? ring / 4 : chunk;
    it->chunk = chunk;
    it->in_size = in_size;
    it->out_size = out_size;
    it->array = in;
    it->generator = generator;
    it->generator_state = generator_state;
    it->total = generator ? SIZE_MAX : count;

    mp__pool_add_layer(pool, &imap_layer);
    mp__job *job;
    if ((r = mp__pool_check_fn(pool, (void (*)(void))fn, "mp_imap_open")) || (r = mp__pool_acquire_job(pool, &job))) {
        free(busy);
        free(it);
        return r;
    }
    it->job = job;
    job->kind = MP__KIND_MAP;
    job->fn = (void (*)(void))fn;
    job->nargs = 1;
    job->in_size[0] = in_size;
    job->out_size = out_size;
    job->ring = ring;
    job->owner = NULL;
    job->flush_every = 1;
    job->ctx = NULL;
    job->ctx_size = o->context_size;
    job->rng_seed = o->seed;              /* input i draws from stream i */
    job->rng_stream = 0;
    atomic_store(&job->completed_tail, 0);
    mp__evc_reset(&job->progress);
    void *p;
    if (!(r = alloc_ring(job, ring, in_size, &p))) {
        it->in_ring = p;
        job->in[0] = p;
    }
    if (!r && !(r = alloc_ring(job, ring, out_size, &p))) {
        it->out_ring = p;
        job->out = p;
    }
    if (!r && !(r = alloc_ring(job, ring, sizeof *job->slot_done, &p)))
        job->slot_done = p;
    if (!r && !(r = alloc_ring(job, ring, sizeof *job->slot_fail, &p)))
        job->slot_fail = p;
    job->completed = NULL;
    if (!r && o->order == MP_IMAP_UNORDERED && !(r = alloc_ring(job, ring, sizeof *job->completed, &p)))
        job->completed = p;
    job->varout = NULL;
    if (!r && o->collect_bytes && !(r = alloc_ring(job, ring, sizeof *job->varout, &p)))
        job->varout = p;
    if (!r && o->context_size && !(r = alloc_ring(job, 1, o->context_size, &p))) {
        memcpy(p, o->context, o->context_size);
        job->ctx = p;
    }
    if (r) {
        atomic_store(&job->state, MP__JOB_DONE);
        mp__pool_release_job(pool, job, false);
        free(busy);
        free(it);
        return r;
    }
    atomic_store(&job->chunksize, chunk | MP__CHUNK_STREAM);
    atomic_store(&job->timeout_ns, pool->task_timeout_ns);   /* the pool's task_timeout */
    mp__pool_publish_stream(pool, job);
    if (mp__progress_wanted(&o->progress))
        mp__bar_open(&it->bar, o->order == MP_IMAP_UNORDERED ? "mp_imap_unordered" : "mp_imap",
                     generator ? 0 : count, &o->progress, NULL);   /* no bar is no error */
    mp__pool_lock(pool);
    it->next = pool->iterators;
    pool->iterators = it;
    mp__pool_unlock(pool);
    feed(it, 1);
    *out = it;
    return 0;
}

/* ---- taking results ---------------------------------------------------- */

/* The iterator's bar gets its final line: at the end of the results, or
 * when the iterator stops early ("stopped"). */
static void end_bar(mp_imap *it, bool stopped)
{
    if (!it->bar)
        return;
    char note[48] = "";
    if (stopped)
        snprintf(note, sizeof note, "stopped");
    else if (it->generator_error)
        snprintf(note, sizeof note, "the generator failed");
    if (it->failed)
        snprintf(note + strlen(note), sizeof note - strlen(note), "%s%zu failed", *note ? ", " : "", it->failed);
    mp__bar_end(it->bar, note, true);
    it->bar = NULL;
}

/* Index of a finished task not yet consumed, or SIZE_MAX if none yet. */
static size_t ready_task(mp_imap *it)
{
    mp__job *job = it->job;
    if (it->order == MP_IMAP_ORDERED) {
        size_t slot = it->next_index % it->ring;
        if (atomic_load_explicit(&job->slot_done[slot], memory_order_acquire) == it->next_index + 1)
            return it->next_index;
        return SIZE_MAX;
    }
    _Atomic uint64_t *cell = &job->completed[it->completed_head % it->ring];
    uint64_t v = atomic_load_explicit(cell, memory_order_acquire);
    if (!v)
        return SIZE_MAX;
    atomic_store_explicit(cell, 0, memory_order_relaxed);
    it->completed_head++;
    return (size_t)(v - 1);
}

/* What wait_ready waits for: a task to consume, whose index it stores. */
typedef struct ready_wait {
    mp_imap *it;
    size_t *index;
} ready_wait;

static bool task_ready(void *arg)
{
    ready_wait *w = arg;
    return (*w->index = ready_task(w->it)) != SIZE_MAX;
}

static int wait_ready(mp_imap *it, double timeout, size_t *index)
{
    mp__job *job = it->job;
    mp__shared *sh = it->pool->crew.sh;
    double start = mp__now(), next_check = start + MP__WATCH_INTERVAL;
    /* Nothing ready yet.  If the workers are about to run dry, feed them
     * what we can now rather than a batch later. */
    size_t claimed = (size_t)(atomic_load(&job->claim) & MP__CLAIM_MASK);
    if (claimed + it->batch / 2 >= it->fed)
        feed(it, it->chunk);
    ready_wait w = { it, index };
    if (mp__await(&job->progress, sh->futex_shared, task_ready, &w, SPIN_SECONDS, 0))
        return 0;
    for (;;) {
        double now = mp__now();
        if (timeout >= 0 && now - start >= timeout)
            return mp__error(MP_ETIMEDOUT, "mp_imap_next: timed out");
        if (now >= next_check) {
            next_check = now + MP__WATCH_INTERVAL;
            int r = mp__pool_check(it->pool);
            if (r)
                return r;
        }
        double slice = MP__WATCH_INTERVAL;
        if (timeout >= 0 && timeout - (now - start) < slice)
            slice = timeout - (now - start);
        if (mp__await(&job->progress, sh->futex_shared, task_ready, &w, 0, slice))
            return 0;
    }
}

int mp_imap_next(mp_imap *it, double timeout, void *out, size_t *index, mp_bytes *bytes)
{
    if (!it)
        return mp__error(MP_EINVAL, "mp_imap_next: it is NULL");
    int r = mp__check_owner(it->owner_pid, "mp_imap_next");
    if (r || (r = mp__check_timeout("mp_imap_next", timeout)))
        return r;
    if (!it->pool)
        return mp__error(MP_ECLOSED, "mp_imap_next: the pool was closed");
    if ((r = mp__check_not_own_task(it->pool->crew.sh, "mp_imap_next")))
        return r;
    if (it->out_size && !out)
        return mp__error(MP_EINVAL, "mp_imap_next: out is NULL but results have %zu bytes", it->out_size);
    if (it->yielded == it->fed && it->fed == it->total) {
        end_bar(it, false);
        if (it->generator_error) {
            r = it->generator_error;
            it->generator_error = 0;
            return mp__error(r, "mp_imap_next: the generator failed with code %d", r);
        }
        return MP_EEOF;
    }
    size_t i;
    if ((r = wait_ready(it, timeout, &i)))
        return r;
    mp__job *job = it->job;
    size_t slot = i % it->ring;
    if (it->out_size)
        memcpy(out, it->out_ring + slot * it->out_size, it->out_size);
    if (job->varout) {
        if (bytes)
            *bytes = job->varout[slot];
        else
            mp_shm_free(job->varout[slot].data);
        job->varout[slot] = (mp_bytes){ NULL, 0 };
    } else if (bytes) {
        *bytes = (mp_bytes){ NULL, 0 };
    }
    if (index)
        *index = i;
    mp__failure_rec *f = &job->slot_fail[slot];
    r = 0;
    if (f->code && f->index == i) {
        r = mp__error(MP_ETASK, "mp_imap_next: task %zu failed (code %d): %s", i, f->code, f->message);
        f->code = 0;
        it->failed++;
    }
    it->busy[slot] = 0;
    it->yielded++;
    if (it->bar)
        mp_bar_set(it->bar, it->yielded);
    it->next_index++;
    feed(it, it->batch);
    return r;
}

/* Every task fed was reported finished or taken back: `progress` counts
 * them, modulo 2^32. */
static bool all_reported(void *arg)
{
    mp_imap *it = arg;
    return mp__evc_read(&it->job->progress) == (uint32_t)it->fed;
}

/* Stops the iterator's job: nothing more is fed, what no worker started is
 * taken back, and running tasks (which write into the rings) are waited
 * for.  Afterwards the iterator holds nothing of the pool. */
static void detach(mp_imap *it)
{
    mp_pool *pool = it->pool;
    mp__job *job = it->job;
    mp__shared *sh = pool->crew.sh;
    end_bar(it, it->yielded < it->fed || it->fed < it->total);
    it->total = it->fed;
    mp__job_cancel_unclaimed(sh, job);
    while (!mp__await(&job->progress, sh->futex_shared, all_reported, it, 0, MP__WATCH_INTERVAL) &&
           !mp__pool_check(pool))
        ;
    if (job->varout)
        for (size_t s = 0; s < it->ring; s++)
            mp_shm_free(job->varout[s].data);
    if (all_reported(it))
        atomic_store(&job->state, MP__JOB_DONE);
    mp__pool_lock(pool);
    for (mp_imap **p = &pool->iterators; *p; p = &(*p)->next)
        if (*p == it) {
            *p = it->next;
            break;
        }
    mp__pool_unlock(pool);
    mp__pool_release_job(pool, job, false);
    it->pool = NULL;
    it->job = NULL;
}

/* Close and terminate stop every open iterator; they stay valid to free,
 * and their next() returns MP_ECLOSED. */
static void close_iterators(mp_pool *pool, bool terminate)
{
    MP__UNUSED(terminate);
    for (;;) {
        mp__pool_lock(pool);
        mp_imap *it = pool->iterators;
        mp__pool_unlock(pool);
        if (!it)
            return;
        detach(it);
    }
}

void mp_imap_free(mp_imap *it)
{
    if (!it)
        return;
    /* In a child forked from the owner only this process's copy goes. */
    if (it->pool && it->owner_pid == (pid_t)mp__pid())
        detach(it);
    free(it->busy);
    free(it);
}
