/* pool.c - the pool front end: opening and closing, and the map family.
 *
 * A call is checked here, its data staged where the workers can see it
 * (process workers see only the shared arena), run as one job by the
 * scheduler, and its results and failures handed back.  Nothing here knows
 * whether workers are threads or processes beyond ops->shares_caller_memory.
 */
#include "pool.h"
#include "shm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- options --------------------------------------------------------- */

const char *mp_backend_name(mp_backend backend)
{
    switch (backend) {
    case MP_BACKEND_THREAD: return "thread";
    case MP_BACKEND_PROCESS: return "process";
    case MP_BACKEND_DEFAULT: return "default";
    }
    return "unknown";
}

static int resolve_backend(const mp_pool_options *opts, mp_backend *out)
{
    mp_backend b = opts ? opts->backend : MP_BACKEND_DEFAULT;
    if (b != MP_BACKEND_DEFAULT && b != MP_BACKEND_THREAD && b != MP_BACKEND_PROCESS)
        return mp__error(MP_EINVAL, "mp_pool_open: unknown backend %d", (int)b);
    if (b == MP_BACKEND_DEFAULT) {
        const char *env = getenv("MPROC_BACKEND");
        b = MP_BACKEND_THREAD;
        if (env && *env) {
            if (!strcmp(env, "thread") || !strcmp(env, "threads"))
                b = MP_BACKEND_THREAD;
            else if (!strcmp(env, "process") || !strcmp(env, "processes"))
                b = MP_BACKEND_PROCESS;
            else
                return mp__error(MP_EINVAL, "MPROC_BACKEND: unknown backend '%s' (expected thread or process)", env);
        }
    }
    *out = b;
    return 0;
}

static int resolve_workers(const mp_pool_options *opts, int *out)
{
    int n = opts ? opts->workers : 0;
    if (n < 0 || n > MP__MAX_WORKERS)
        return mp__error(MP_EINVAL, "mp_pool_open: workers is %d (expected 0 for the default, or 1 to %d)", n, MP__MAX_WORKERS);
    if (n == 0) {
        const char *env = getenv("MPROC_WORKERS");
        if (env && *env) {
            char *end;
            errno = 0;
            long v = strtol(env, &end, 10);
            if (errno || *end || end == env || v < 1 || v > MP__MAX_WORKERS)
                return mp__error(MP_EINVAL, "MPROC_WORKERS: '%s' is not a number from 1 to %d", env, MP__MAX_WORKERS);
            n = (int)v;
        } else {
            n = mp_cpu_count();
        }
    }
    *out = n;
    return 0;
}

/* Checks the supervision options (initializer, maxtasksperchild,
 * task_timeout, retries) and copies them into the pool. */
static int resolve_supervision(const mp_pool_options *opts, mp_pool *pool)
{
    if (!opts)
        return 0;
    if (opts->initializer_context_size && !opts->initializer_context)
        return mp__error(MP_EINVAL, "mp_pool_open: initializer_context is NULL but initializer_context_size is %zu",
                         opts->initializer_context_size);
    if (opts->maxtasksperchild < 0)
        return mp__error(MP_EINVAL, "mp_pool_open: maxtasksperchild is %ld (expected 0 for no limit, or more)", opts->maxtasksperchild);
    if (opts->retries < 0 || opts->retries > 100)
        return mp__error(MP_EINVAL, "mp_pool_open: retries is %d (expected 0 to 100)", opts->retries);
    double t = opts->task_timeout;
    if (t != MP_FOREVER && (isnan(t) || t < 0 || t > 1e9))
        return mp__error(MP_EINVAL, "mp_pool_open: task_timeout %g is not a number of seconds from 0 (no limit) to 1e9", t);
    pool->initializer = opts->initializer;
    pool->retries = opts->retries;
    pool->task_timeout_ns = t > 0 ? (int64_t)(t * 1e9) : 0;
    if (pool->task_timeout_ns)
        atomic_store(&pool->timeouts_used, true);
    if (opts->initializer_context_size) {
        pool->init_ctx = malloc(opts->initializer_context_size);
        if (!pool->init_ctx)
            return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
        memcpy(pool->init_ctx, opts->initializer_context, opts->initializer_context_size);
        pool->init_ctx_size = opts->initializer_context_size;
    }
    return 0;
}

/* ---- open / close ------------------------------------------------------ */

int mp_pool_open(mp_pool **out, const mp_pool_options *opts)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_pool_open: out is NULL");
    mp_backend backend = MP_BACKEND_THREAD;
    int workers = 0, r;
    if ((r = resolve_backend(opts, &backend)) || (r = resolve_workers(opts, &workers)))
        return r;
    if ((r = mp__arena_init()))
        return r;

    mp_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    pool->backend = backend;
    pool->workers = workers;
    pool->ops = backend == MP_BACKEND_PROCESS ? &mp__process_backend : &mp__thread_backend;
    pool->owner_pid = getpid();
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);

    r = resolve_supervision(opts, pool);
    if (r == 0)
        r = mp__shared_create(workers, !pool->ops->shares_caller_memory, &pool->sh);
    if (r == 0) {
        pool->sh->supervised = !pool->ops->shares_caller_memory;
        pool->sh->maxtasks = opts && opts->maxtasksperchild > 0 ? (uint64_t)opts->maxtasksperchild : 0;
        if ((r = pool->ops->start(pool)) != 0)
            mp__shared_destroy(pool->sh);
    }
    if (r) {
        pthread_cond_destroy(&pool->changed);
        pthread_mutex_destroy(&pool->lock);
        free(pool->init_ctx);
        free(pool);
        return r;
    }
    *out = pool;
    return 0;
}

static void pool_free(mp_pool *pool)
{
    mp__shared_destroy(pool->sh);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->init_ctx);
    free(pool);
}

/* Stops accepting calls and waits until every call in progress returned. */
static void drain_callers(mp_pool *pool, bool terminate)
{
    pthread_mutex_lock(&pool->lock);
    pool->closing = true;
    while (pool->callers > 0) {
        if (terminate) {
            /* Wake callers sleeping on their jobs so they notice now. */
            for (int i = 0; i < MP__JOB_SLOTS; i++)
                mp__futex_wake_job(pool, &pool->sh->jobs[i]);
        }
        pthread_cond_wait(&pool->changed, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
}

int mp_pool_close(mp_pool *pool)
{
    if (!pool)
        return 0;
    drain_callers(pool, false);
    mp__shutdown_workers(pool->sh);
    pool->ops->stop(pool, false);
    int r = pool->broken;
    if (r)
        mp__error(r, "%s", pool->broken_msg);
    pool_free(pool);
    return r;
}

int mp_pool_terminate(mp_pool *pool)
{
    if (!pool)
        return 0;
    /* Take every unclaimed task back first, so workers stop at their next
     * claim, and tell waiting callers to give up. */
    mp__cancel_all_jobs(pool->sh);
    atomic_store(&pool->terminating, true);
    if (!pool->ops->shares_caller_memory)
        pool->ops->stop(pool, true);     /* processes die now */
    drain_callers(pool, true);
    mp__shutdown_workers(pool->sh);
    if (pool->ops->shares_caller_memory)
        pool->ops->stop(pool, true);     /* threads finish their task first */
    pool_free(pool);
    return 0;
}

int mp_pool_workers(const mp_pool *pool)
{
    return pool ? pool->workers : -1;
}

mp_backend mp_pool_backend(const mp_pool *pool)
{
    return pool ? pool->backend : MP_BACKEND_DEFAULT;
}

/* Async-signal-safe: an atomic add and futex wake-ups.  Each waiting caller
 * wakes, sees the count changed since its call began, and cancels its own
 * job (sched.c). */
int mp_pool_cancel(mp_pool *pool)
{
    if (!pool)
        return MP_EINVAL;   /* no message: mp__error is not async-signal-safe */
    atomic_fetch_add(&pool->cancels, 1);
    mp__wake_all_callers(pool);
    return 0;
}

void mp__pool_mark_broken(mp_pool *pool, int code, const char *fmt, ...)
{
    pthread_mutex_lock(&pool->lock);
    if (!pool->broken) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pool->broken_msg, sizeof pool->broken_msg, fmt, ap);
        va_end(ap);
        pool->broken = code;
    }
    pthread_mutex_unlock(&pool->lock);
}

/* ---- failures ------------------------------------------------------------ */

void mp_failures_free(mp_failures *failures)
{
    if (!failures)
        return;
    free(failures->items);
    failures->items = NULL;
    failures->count = 0;
}

static int by_index(const void *a, const void *b)
{
    size_t x = ((const mp_failure *)a)->index, y = ((const mp_failure *)b)->index;
    return x < y ? -1 : x > y;
}

/* Moves the job's failure records into *out (if wanted) and frees them.
 * Sets the last-error message naming the first failure.  Returns the
 * number of failed tasks. */
static size_t collect_failures(const char *who, mp__job *job, size_t count, mp_failures *out)
{
    size_t nfailed = atomic_load(&job->nfailed);
    mp__failure_rec *f = atomic_exchange(&job->failures, NULL);
    if (!nfailed)
        return 0;
    size_t nrec = 0;
    for (mp__failure_rec *p = f; p; p = p->next)
        nrec++;
    mp_failure *items = nrec ? malloc(nrec * sizeof *items) : NULL;
    size_t i = 0;
    mp__failure_rec first = { .index = SIZE_MAX };
    while (f) {
        mp__failure_rec *next = f->next;
        if (items) {
            items[i].index = f->index;
            items[i].code = f->code;
            memcpy(items[i].message, f->message, sizeof items[i].message);
            i++;
        }
        if (f->index < first.index)
            first = *f;
        mp_shm_free(f);
        f = next;
    }
    if (items)
        qsort(items, nrec, sizeof *items, by_index);
    if (nrec)
        mp__error(MP_ETASK, "%s: %zu of %zu tasks failed; first: task %zu (code %d): %s", who, nfailed, count,
                  first.index, first.code, first.message);
    else
        mp__error(MP_ETASK, "%s: %zu of %zu tasks failed (no memory for the details)", who, nfailed, count);
    if (out) {
        out->items = items;
        out->count = items ? nrec : 0;
    } else {
        free(items);
    }
    return nfailed;
}

/* ---- staging ----------------------------------------------------------------
 * Process workers see the caller's memory only as it was at fork time, so
 * inputs and the context blob are copied into the shared arena and results
 * come back through it -- unless they already live there. */

static int stage_in(mp_pool *pool, mp__job *job, const void *src, size_t bytes, const void **out)
{
    *out = src;
    if (!src || !bytes || pool->ops->shares_caller_memory || mp_shm_contains(src, bytes))
        return 0;
    void *copy;
    int r = mp__shm_alloc(bytes, false, &copy);
    if (r)
        return r;
    memcpy(copy, src, bytes);
    job->owned[job->nowned++] = copy;
    *out = copy;
    return 0;
}

static int stage_out(mp_pool *pool, mp__job *job, void *dst, size_t bytes, void **out)
{
    *out = dst;
    if (!dst || !bytes || pool->ops->shares_caller_memory || mp_shm_contains(dst, bytes))
        return 0;
    int r = mp__shm_alloc(bytes, false, out);
    if (r)
        return r;
    job->owned[job->nowned++] = *out;
    return 0;
}

/* Copies results back from the staging area, skipping failed tasks so that
 * their elements keep what the caller had there. */
static void copy_results(char *dst, const char *src, size_t count, size_t size, const mp_failures *failed)
{
    if (!failed || failed->count == 0) {
        memcpy(dst, src, count * size);
        return;
    }
    size_t from = 0;
    for (size_t k = 0; k <= failed->count; k++) {
        size_t to = k < failed->count ? failed->items[k].index : count;
        if (to > from)
            memcpy(dst + from * size, src + from * size, (to - from) * size);
        from = to + 1;
    }
}

/* ---- the map family -------------------------------------------------------------- */

typedef struct call_shape {
    const char *who;
    int kind;
    void (*fn)(void);
    size_t count;
    size_t nargs;
    const mp_array *args;
    void *out;
    size_t out_size;
} call_shape;

static int run_call(mp_pool *pool, const call_shape *c, const mp_call *call)
{
    static const mp_call defaults;
    if (!call)
        call = &defaults;
    if (call->context_size && !call->context)
        return mp__error(MP_EINVAL, "%s: context is NULL but context_size is %zu", c->who, call->context_size);
    if (call->timeout != MP_FOREVER && (isnan(call->timeout) || call->timeout < 0 || call->timeout > 1e9))
        return mp__error(MP_EINVAL, "%s: timeout %g is not a number of seconds from 0 (the pool's) to 1e9, or MP_FOREVER",
                         c->who, call->timeout);
    int64_t timeout_ns = call->timeout > 0 ? (int64_t)(call->timeout * 1e9)
                       : call->timeout == MP_FOREVER ? 0 : pool->task_timeout_ns;
    if (call->failures) {
        call->failures->count = 0;
        call->failures->items = NULL;
    }

    mp__job *job;
    int r = mp__job_acquire(pool, &job);
    if (r)
        return r;
    job->kind = c->kind;
    job->fn = c->fn;
    job->nargs = c->nargs;
    job->out_size = c->out_size;
    job->ctx_size = call->context_size;
    for (size_t k = 0; k < c->nargs && !r; k++) {
        const void *in;
        job->in_size[k] = c->args[k].size;
        r = stage_in(pool, job, c->args[k].base, c->args[k].count * c->args[k].size, &in);
        job->in[k] = in;
    }
    void *out_stage = NULL;
    if (!r)
        r = stage_in(pool, job, call->context, call->context_size, &job->ctx);
    if (!r)
        r = stage_out(pool, job, c->out, c->count * c->out_size, &out_stage);
    if (r) {
        atomic_store(&job->state, MP__JOB_DONE);   /* never published */
        mp__job_release(pool, job);
        return r;
    }
    job->out = out_stage;

    size_t chunk = call->chunksize;
    if (chunk > c->count) chunk = c->count;
    if (chunk > MP__MAX_CHUNK) chunk = MP__MAX_CHUNK;
    atomic_store(&job->count, c->count);
    atomic_store(&job->chunksize, chunk);
    /* Workers report finished tasks in batches: fewer atomic operations on
     * the shared counter, at the price of a coarser `done` while running. */
    job->flush_every = 64;
    atomic_store(&job->timeout_ns, timeout_ns);
    if (timeout_ns && !atomic_exchange(&pool->timeouts_used, true) && pool->backend == MP_BACKEND_PROCESS)
        mp__supervisor_kick(pool);   /* start watching deadlines */

    mp__job_publish(pool, job);
    r = mp__job_wait(pool, job);
    if (r == 0) {
        mp_failures local = {0};
        mp_failures *failed = call->failures ? call->failures : (out_stage != c->out ? &local : NULL);
        size_t nfailed = collect_failures(c->who, job, c->count, failed);
        if (out_stage != c->out)
            copy_results(c->out, out_stage, c->count, c->out_size, failed);
        mp_failures_free(&local);
        if (nfailed)
            r = MP_ETASK;
    }
    mp__job_release(pool, job);
    return r;
}

static int check_pool_fn(const char *who, mp_pool *pool, const void *fn)
{
    if (!pool)
        return mp__error(MP_EINVAL, "%s: pool is NULL", who);
    if (!fn)
        return mp__error(MP_EINVAL, "%s: task function is NULL", who);
    return 0;
}

static int check_out(const char *who, const void *out, size_t out_size)
{
    if (out && !out_size)
        return mp__error(MP_EINVAL, "%s: out_size is 0 but out is not NULL", who);
    if (!out && out_size)
        return mp__error(MP_EINVAL, "%s: out is NULL but out_size is %zu", who, out_size);
    return 0;
}

static int check_count(const char *who, size_t count, size_t in_size, size_t out_size)
{
    if (count > MP__MAX_COUNT)
        return mp__error(MP_EINVAL, "%s: count %zu is larger than %llu", who, count, (unsigned long long)MP__MAX_COUNT);
    if ((in_size && count > SIZE_MAX / in_size) || (out_size && count > SIZE_MAX / out_size))
        return mp__error(MP_EINVAL, "%s: count %zu times the element size overflows", who, count);
    return 0;
}

int mp_map(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
           void *out, size_t out_size, const mp_call *call)
{
    int r;
    if ((r = check_pool_fn("mp_map", pool, (const void *)fn)) || (r = check_out("mp_map", out, out_size)) ||
        (r = check_count("mp_map", count, in_size, out_size)))
        return r;
    if (in && !in_size)
        return mp__error(MP_EINVAL, "mp_map: in_size is 0 but in is not NULL");
    if (!in && in_size)
        return mp__error(MP_EINVAL, "mp_map: in is NULL but in_size is %zu", in_size);
    mp_array arg = { in, count, in_size };
    call_shape c = { "mp_map", MP__KIND_MAP, (void (*)(void))fn, count, 1, &arg, out, out_size };
    return run_call(pool, &c, call);
}

int mp_starmap(mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
               void *out, size_t out_size, const mp_call *call)
{
    int r;
    if ((r = check_pool_fn("mp_starmap", pool, (const void *)fn)) || (r = check_out("mp_starmap", out, out_size)))
        return r;
    if (!args)
        return mp__error(MP_EINVAL, "mp_starmap: args is NULL");
    if (nargs < 1 || nargs > MP_MAX_ARGS)
        return mp__error(MP_EINVAL, "mp_starmap: nargs is %zu (expected 1 to %d)", nargs, MP_MAX_ARGS);
    size_t count = args[0].count;
    for (size_t k = 0; k < nargs; k++) {
        if (!args[k].base && args[k].count)
            return mp__error(MP_EINVAL, "mp_starmap: args[%zu].base is NULL", k);
        if (!args[k].size)
            return mp__error(MP_EINVAL, "mp_starmap: args[%zu].size is 0", k);
        if (args[k].count != count)
            return mp__error(MP_EINVAL, "mp_starmap: args[%zu] has %zu elements but args[0] has %zu", k, args[k].count, count);
        if ((r = check_count("mp_starmap", count, args[k].size, out_size)))
            return r;
    }
    call_shape c = { "mp_starmap", MP__KIND_STAR, (void (*)(void))fn, count, nargs, args, out, out_size };
    return run_call(pool, &c, call);
}

int mp_apply(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
             void *out, size_t out_size, const mp_call *call)
{
    int r;
    if ((r = check_pool_fn("mp_apply", pool, (const void *)fn)) || (r = check_out("mp_apply", out, out_size)))
        return r;
    if (in && !in_size)
        return mp__error(MP_EINVAL, "mp_apply: in_size is 0 but in is not NULL");
    if (!in && in_size)
        return mp__error(MP_EINVAL, "mp_apply: in is NULL but in_size is %zu", in_size);
    mp_array arg = { in, 1, in_size };
    call_shape c = { "mp_apply", MP__KIND_MAP, (void (*)(void))fn, 1, 1, &arg, out, out_size };
    return run_call(pool, &c, call);
}
