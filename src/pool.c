/* pool.c - the pool front end: opening, shutting down, closing and
 * terminating, the pool's side of a job, and the map family.
 *
 * A call is checked here, its data staged where the workers can see it
 * (process workers see only the shared arena), run as one job by the
 * scheduler, and its results and failures handed back.  Nothing here asks
 * which backend a pool has: only what its table says it can do
 * (backend.h).  The layers above (async results, imap) are reached only
 * through the hooks they register (mp__layer).
 */
#include "pool.h"
#include "progress.h"
#include "shm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_STEPS 128       /* claims of a call with a progress bar */

/* ---- options --------------------------------------------------------- */

const char *mp_backend_name(mp_backend backend)
{
    switch (backend) {
    case MP_BACKEND_THREAD: return "thread";
    case MP_BACKEND_PROCESS: return "process";
    case MP_BACKEND_MPI: return "mpi";
    case MP_BACKEND_DEFAULT: return "default";
    }
    return "unknown";
}

static int resolve_backend(const mp_pool_options *opts, mp_backend *out)
{
    mp_backend b = opts ? opts->backend : MP_BACKEND_DEFAULT;
    if (b != MP_BACKEND_DEFAULT && b != MP_BACKEND_THREAD && b != MP_BACKEND_PROCESS && b != MP_BACKEND_MPI)
        return mp__error(MP_EINVAL, "mp_pool_open: unknown backend %d", (int)b);
    if (b == MP_BACKEND_DEFAULT) {
        const char *env = getenv("MPROC_BACKEND");
        b = MP_BACKEND_THREAD;
        if (env && *env) {
            if (!strcmp(env, "thread") || !strcmp(env, "threads"))
                b = MP_BACKEND_THREAD;
            else if (!strcmp(env, "process") || !strcmp(env, "processes"))
                b = MP_BACKEND_PROCESS;
            else if (!strcmp(env, "mpi"))
                b = MP_BACKEND_MPI;
            else
                return mp__error(MP_EINVAL, "MPROC_BACKEND: unknown backend '%s' (expected thread, process or mpi)", env);
        }
    }
    *out = b;
    return 0;
}

/* The worker count: the options', else MPROC_WORKERS, else the CPUs;
 * *requested: the first two, 0 if neither said. */
static int resolve_workers(const mp_pool_options *opts, int *out, int *requested)
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
        }
    }
    *requested = n;
    *out = n ? n : mp_cpu_count();
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
    pool->crew.initializer = opts->initializer;
    pool->crew.retries = opts->retries;
    pool->task_timeout_ns = t > 0 ? (int64_t)(t * 1e9) : 0;
    if (pool->task_timeout_ns)
        atomic_store(&pool->crew.timeouts_used, true);
    if (opts->initializer_context_size) {
        pool->crew.init_ctx = malloc(opts->initializer_context_size);
        if (!pool->crew.init_ctx)
            return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
        memcpy(pool->crew.init_ctx, opts->initializer_context, opts->initializer_context_size);
        pool->crew.init_ctx_size = opts->initializer_context_size;
    }
    return 0;
}

/* ---- who may call ------------------------------------------------------ */

int mp__check_owner(pid_t owner, const char *who)
{
    pid_t me = (pid_t)mp__pid();
    if (MP__LIKELY(owner == me))
        return 0;
    return mp__error(MP_EINVAL, "%s: the pool belongs to process %d and this is process %d, forked from it: "
                     "here it may only be closed or terminated (which releases this process's copy) and its "
                     "handles freed", who, (int)owner, (int)me);
}

int mp__check_not_own_task(const mp__shared *sh, const char *who)
{
    if (MP__LIKELY(!mp__sched_serving(sh)))
        return 0;
    return mp__error(MP_EINVAL, "%s: called from a task of the same pool, which would wait for itself", who);
}

int mp__pool_check_fn(mp_pool *pool, void (*fn)(void), const char *who)
{
    const mp__backend_ops *ops = pool->crew.ops;
    return ops->check_fn ? ops->check_fn(&pool->crew, fn, who) : 0;
}

bool mp__pool_ships_memory(const mp_pool *pool)
{
    return pool->crew.ops->memory == MP__MEMORY_SHIPPED;
}

bool mp__pool_shares_memory(const mp_pool *pool)
{
    return pool->crew.ops->memory == MP__MEMORY_SHARED;
}

int mp__check_caller(const mp_pool *pool, const char *who, bool blocking)
{
    int r;
    if (blocking && (r = mp__check_not_own_task(pool->crew.sh, who)))
        return r;
    /* A process worker's pool is a copy forked with it: say why plainly. */
    if (MP__UNLIKELY(mp__sched_serving(pool->crew.sh)) && pool->owner_pid != (pid_t)mp__pid())
        return mp__error(MP_EINVAL, "%s: called from a task of the same pool: a process worker cannot use the pool it serves", who);
    return mp__check_owner(pool->owner_pid, who);
}

/* ---- backends ------------------------------------------------------------ */

const mp__backend_ops *mp__backend_for(mp_backend backend)
{
    switch (backend) {
    case MP_BACKEND_THREAD:
        return &mp__thread_backend;
    case MP_BACKEND_PROCESS:
#ifdef MPROC_HAVE_PROCESS_BACKEND
        return &mp__process_backend;
#else
        return NULL;
#endif
    case MP_BACKEND_MPI:
#ifdef MPROC_HAVE_MPI_BACKEND
        return &mp__mpi_backend;
#else
        return NULL;
#endif
    case MP_BACKEND_DEFAULT:
        break;
    }
    return NULL;
}

/* ---- the pool's side of a job ------------------------------------------- */

#define WAIT_SPIN_SECONDS 100e-6   /* how long a caller spins on its job before sleeping */

int mp__pool_acquire_job(mp_pool *pool, mp__job **out)
{
    mp__shared *sh = pool->crew.sh;
    mp__pool_lock(pool);
    for (;;) {
        if (pool->closing || atomic_load(&pool->terminating)) {
            mp__pool_unlock(pool);
            return mp__error(MP_ECLOSED, "pool is closed or shutting down");
        }
        if (pool->crew.broken) {
            int code = pool->crew.broken;
            mp__pool_unlock(pool);
            return mp__error(code, "%s", pool->crew.broken_msg);
        }
        mp__job *job = mp__sched_reserve(sh, pool->next_seq);
        if (job) {
            pool->next_seq++;
            job->cancel_seen = atomic_load(&pool->cancels);
            pool->callers++;
            mp__pool_unlock(pool);
            *out = job;
            return 0;
        }
        /* Every slot is busy.  A layer may hold finished jobs nobody waits
         * on (async results, futures): let it release them, else wait for
         * a finish. */
        uint32_t seen = mp__evc_read(&sh->completions);
        int reclaimed = 0;
        for (int i = 0; i < pool->nlayers; i++)
            if (pool->layers[i]->reclaim_locked)
                reclaimed += pool->layers[i]->reclaim_locked(pool);
        if (reclaimed == 0)
            mp__pool_wait_completion_locked(pool, seen, MP__WATCH_INTERVAL);
    }
}

void mp__pool_publish(mp_pool *pool, mp__job *job)
{
    pool->crew.ops->publish(&pool->crew, job);
}

void mp__pool_publish_stream(mp_pool *pool, mp__job *job)
{
    mp__sched_publish_stream(pool->crew.sh, job);
    if (pool->task_timeout_ns)
        pool->crew.ops->watch(&pool->crew);   /* streams take the pool's task_timeout */
}

void mp__pool_feed(mp_pool *pool, mp__job *job, size_t count)
{
    pool->crew.ops->feed(&pool->crew, job, count);
}

void mp__pool_cancel_job(mp_pool *pool, mp__job *job)
{
    mp__job_cancel(pool->crew.sh, job);
    pool->crew.ops->watch(&pool->crew);   /* stop the tasks that are running */
}

/* What a finished job's caller is told: 0, or MP_ECANCELED if the call was
 * cancelled (its failure records are dropped: nothing is reported from a
 * cancelled call but the cancellation). */
static int finished(mp_pool *pool, mp__job *job)
{
    if (!atomic_load(&job->cancelled))
        return 0;
    if (atomic_load(&pool->terminating))
        return mp__error(MP_ECLOSED, "pool was terminated while the call ran");
    mp__failure_rec *f = atomic_exchange(&job->failures, NULL);
    while (f) {
        mp__failure_rec *next = f->next;
        mp_shm_free(f);
        f = next;
    }
    return mp__error(MP_ECANCELED, "the call was cancelled (mp_pool_cancel)");
}

static bool job_finished(void *job)
{
    return mp__job_done(job);
}

int mp__pool_wait_job(mp_pool *pool, mp__job *job)
{
    mp__shared *sh = pool->crew.sh;
    double spin = WAIT_SPIN_SECONDS, next_check = mp__now() + MP__WATCH_INTERVAL;
    for (;; spin = 0) {
        if (mp__await(&job->finished, sh->futex_shared, job_finished, job, spin, MP__WATCH_INTERVAL))
            return finished(pool, job);
        if (atomic_load(&pool->cancels) != job->cancel_seen && !atomic_load(&job->cancelled)) {
            mp__pool_cancel_job(pool, job);
            continue;
        }
        /* Terminated: give up now -- unless the workers are proxies that
         * write the ranges they have in flight into the caller's memory
         * (shipping backends): then the call ends when those are back,
         * which its cancelled remainder makes soon. */
        if (atomic_load(&pool->terminating) && pool->crew.ops->memory != MP__MEMORY_SHIPPED)
            return mp__error(MP_ECLOSED, "pool was terminated while the call ran");
        double now = mp__now();
        if (now >= next_check) {
            next_check = now + MP__WATCH_INTERVAL;
            int r = mp__pool_check(pool);
            if (r)
                return r;
        }
    }
}

void mp__pool_release_job(mp_pool *pool, mp__job *job, bool locked)
{
    mp__shared *sh = pool->crew.sh;
    bool done = mp__job_done(job);
    /* After terminate no worker runs (processes were killed; thread pools
     * stage nothing), so the staged blocks can go. */
    if (done || atomic_load(&pool->terminating))
        mp__job_free_staged(job);
    mp__call_end_bar(job, MP_ECLOSED, false);   /* a call that ended without its caller's finish */
    if (!locked)
        mp__pool_lock(pool);
    MP__ASSERT_POOL_LOCKED(pool);
    MP__ASSERT(pool->callers > 0);
    /* A job that never finished (a worker died) keeps its slot: workers
     * may still be writing into it.  The pool is broken anyway. */
    if (done)
        mp__sched_free(sh, job);
    pool->callers--;
    pthread_cond_broadcast(&pool->changed);
    if (!locked)
        mp__pool_unlock(pool);
    mp__sched_notify_completion(sh);
}

void mp__pool_wait_completion_locked(mp_pool *pool, uint32_t seen, double timeout)
{
    MP__ASSERT_POOL_LOCKED(pool);
    mp__shared *sh = pool->crew.sh;
    mp__pool_unlock(pool);
    /* Registered after `seen` was read: every signal moves the count, so
     * one that came in between makes the sleep return at once. */
    mp__evc_prepare(&sh->completions);
    mp__evc_sleep(&sh->completions, seen, sh->futex_shared, timeout);
    mp__evc_done(&sh->completions);
    mp__pool_lock(pool);
}

/* ---- open / close ------------------------------------------------------ */

static int backend_missing(mp_backend backend)
{
    if (backend == MP_BACKEND_MPI)
        return mp__error(MP_ENOTSUP, "mp_pool_open: the mpi backend was left out of this build: install an MPI "
                                     "library (Debian: apt-get install libopenmpi-dev openmpi-bin) and rebuild "
                                     "(CMake finds it; see docs/mpi.md)");
    return mp__error(MP_ENOTSUP, "mp_pool_open: the %s backend was left out of this build", mp_backend_name(backend));
}

#ifndef MPROC_HAVE_MPI_BACKEND
int mp_pool_open_mpi(mp_pool **out, const mp_pool_options *opts, const void *comm, int root)
{
    MP__UNUSED(out), MP__UNUSED(opts), MP__UNUSED(comm), MP__UNUSED(root);
    return backend_missing(MP_BACKEND_MPI);
}
#endif

int mp_pool_open(mp_pool **out, const mp_pool_options *opts)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_pool_open: out is NULL");
    mp_backend backend = MP_BACKEND_THREAD;
    int workers = 0, requested = 0, r;
    if ((r = resolve_backend(opts, &backend)) || (r = resolve_workers(opts, &workers, &requested)))
        return r;
    if ((r = mp__arena_init()))
        return r;

    mp_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    pool->backend = backend;
    pool->crew.workers = workers;
    pool->crew.width = workers;
    pool->crew.ops = mp__backend_for(backend);
    pool->owner_pid = (pid_t)mp__pid();
    pthread_mutex_init(&pool->crew.lock, NULL);
    pthread_cond_init(&pool->changed, NULL);

    const mp__backend_ops *ops = pool->crew.ops;
    r = ops ? resolve_supervision(opts, pool) : backend_missing(backend);
    if (r == 0 && ops->prepare)
        r = ops->prepare(&pool->crew, requested);
    if (r == 0)
        r = mp__sched_create(pool->crew.workers, ops->futex_shared, ops->supervised, &pool->crew.sh);
    if (r == 0) {
        pool->crew.sh->maxtasks = opts && opts->maxtasksperchild > 0 ? (uint64_t)opts->maxtasksperchild : 0;
        if ((r = ops->start(&pool->crew)) != 0)
            mp__sched_destroy(pool->crew.sh);
    } else if (ops && pool->crew.backend_data) {
        ops->forget(&pool->crew);   /* what prepare made */
    }
    if (r) {
        pthread_cond_destroy(&pool->changed);
        pthread_mutex_destroy(&pool->crew.lock);
        free(pool->crew.init_ctx);
        free(pool);
        return r;
    }
    *out = pool;
    return 0;
}

static void pool_free(mp_pool *pool)
{
    mp__sched_destroy(pool->crew.sh);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->crew.lock);
    free(pool->crew.init_ctx);
    free(pool);
}

/* ---- layers ---------------------------------------------------------------- */

void mp__pool_add_layer(mp_pool *pool, const mp__layer *layer)
{
    mp__pool_lock(pool);
    bool known = false;
    for (int i = 0; i < pool->nlayers; i++)
        known |= pool->layers[i] == layer;
    MP__ASSERT(known || pool->nlayers < MP__MAX_LAYERS);
    if (!known)
        pool->layers[pool->nlayers++] = layer;
    mp__pool_unlock(pool);
}

/* Close and terminate: every layer settles what it holds, in the order the
 * layers registered.  The list no longer changes: the pool is closing. */
static void close_layers(mp_pool *pool, bool terminate)
{
    mp__pool_lock(pool);
    pool->closing = true;
    int n = pool->nlayers;
    mp__pool_unlock(pool);
    for (int i = 0; i < n; i++)
        pool->layers[i]->close(pool, terminate);
}

/* Stops accepting calls and waits until every call in progress returned. */
static void drain_callers(mp_pool *pool, bool terminate)
{
    mp__pool_lock(pool);
    pool->closing = true;
    while (pool->callers > 0) {
        if (terminate) {
            /* Wake callers sleeping on their jobs so they notice now. */
            mp__sched_nudge_all(pool->crew.sh);
        }
        mp__pool_wait_changed(pool);
    }
    mp__pool_unlock(pool);
}

/* Close and terminate, when they may not do their work here: refused in a
 * task of the pool itself (it would wait for itself), and, in a process
 * forked from the owner, reduced to freeing this process's copy -- nothing
 * shared is touched, no worker signalled, no thread joined, so the owner
 * goes on unharmed.  Returns true when it settled the call (*r: result). */
static bool not_here(mp_pool *pool, const char *who, int *r)
{
    if ((*r = mp__check_not_own_task(pool->crew.sh, who)))
        return true;
    if (MP__LIKELY(pool->owner_pid == (pid_t)mp__pid()))
        return false;
    pool->crew.ops->forget(&pool->crew);
    free(pool->crew.init_ctx);
    free(pool);
    return true;
}

int mp_pool_close(mp_pool *pool)
{
    int r;
    if (!pool)
        return 0;
    if (not_here(pool, "mp_pool_close", &r))
        return r;
    close_layers(pool, false);
    drain_callers(pool, false);
    mp__sched_shutdown(pool->crew.sh);
    pool->crew.ops->stop(&pool->crew, false);
    r = pool->crew.broken;
    if (r)
        mp__error(r, "%s", pool->crew.broken_msg);
    pool_free(pool);
    return r;
}

int mp_pool_terminate(mp_pool *pool)
{
    int r;
    if (!pool)
        return 0;
    if (not_here(pool, "mp_pool_terminate", &r))
        return r;
    /* Take every unclaimed task back first, so workers stop at their next
     * claim, and tell waiting callers to give up. */
    mp__sched_cancel_all(pool->crew.sh);
    atomic_store(&pool->terminating, true);
    const mp__backend_ops *ops = pool->crew.ops;
    if (ops->stops_running_tasks)
        ops->stop(&pool->crew, true);     /* workers end now: nothing runs on */
    close_layers(pool, true);
    drain_callers(pool, true);
    mp__sched_shutdown(pool->crew.sh);
    if (!ops->stops_running_tasks)
        ops->stop(&pool->crew, true);     /* workers finish their task first */
    pool_free(pool);
    return 0;
}

int mp_pool_shutdown(mp_pool *pool, int wait, int cancel_futures)
{
    if (!pool)
        return mp__error(MP_EINVAL, "mp_pool_shutdown: pool is NULL");
    int r = mp__check_caller(pool, "mp_pool_shutdown", true);
    if (r)
        return r;
    mp__pool_lock(pool);
    pool->closing = true;
    for (int i = 0; i < pool->nlayers; i++)
        if (pool->layers[i]->shutdown_locked)
            pool->layers[i]->shutdown_locked(pool, wait != 0, cancel_futures != 0);
    mp__pool_unlock(pool);
    return 0;
}

int mp_pool_workers(const mp_pool *pool)
{
    return pool ? pool->crew.width : -1;
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
    /* No message: mp__error is not async-signal-safe.  A forked child's
     * copy of the pool is not to be used (see mp__check_owner). */
    if (!pool || pool->owner_pid != (pid_t)mp__pid())
        return MP_EINVAL;
    atomic_fetch_add(&pool->cancels, 1);
    mp__sched_nudge_all(pool->crew.sh);
    return 0;
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
 * come back through it -- unless they already live there.  Small blocks
 * (a future's argument, an apply's result) go in the job slot itself. */

typedef struct stager {
    mp_pool *pool;
    mp__job *job;
    bool inline_in_used, inline_out_used;
    bool copy_inputs;        /* async forms: the caller may reuse its input at once */
} stager;

/* Whatever reads the job's inputs and writes its outputs does it in the
 * caller's address space: workers that are threads, or proxies that ship
 * bytes to workers elsewhere (backend.h).  Only STAGED workers need the
 * arena. */
static bool reads_in_place(const mp_pool *pool)
{
    return pool->crew.ops->memory != MP__MEMORY_STAGED;
}

static bool visible(const stager *st, const void *p, size_t bytes)
{
    return !p || !bytes || reads_in_place(st->pool) || mp_shm_contains(p, bytes);
}

static bool input_usable_in_place(const stager *st, const void *p, size_t bytes)
{
    if (st->copy_inputs)
        return !p || !bytes || mp_shm_contains(p, bytes);
    return visible(st, p, bytes);
}

static int stage_block(stager *st, size_t bytes, bool zero, void **out)
{
    int r = mp__shm_alloc(bytes, zero, out);
    if (r == 0)
        st->job->owned[st->job->nowned++] = *out;
    return r;
}

static int stage_in(stager *st, const void *src, size_t bytes, const void **out)
{
    *out = src;
    if (input_usable_in_place(st, src, bytes))
        return 0;
    void *copy;
    if (bytes <= sizeof st->job->inline_in && !st->inline_in_used) {
        copy = st->job->inline_in;
        st->inline_in_used = true;
    } else {
        int r = stage_block(st, bytes, false, &copy);
        if (r)
            return r;
    }
    memcpy(copy, src, bytes);
    *out = copy;
    return 0;
}

/* A strings call's input: the pointer array and every string, packed in
 * one arena block whose pointers point into the block itself (the arena is
 * at the same address in every worker).  Thread workers read the caller's
 * strings as they are, unless the call returns before its tasks run (the
 * async forms), when the caller may free them at once. */
static int stage_strings(stager *st, const char *const *strings, size_t count, const void **out)
{
    *out = strings;
    if (!count || (reads_in_place(st->pool) && !st->copy_inputs))
        return 0;
    size_t bytes = count * sizeof *strings;   /* fits: checked with the call */
    for (size_t i = 0; i < count; i++)
        if (strings[i] && __builtin_add_overflow(bytes, strlen(strings[i]) + 1, &bytes))
            return mp__error(MP_EINVAL, "the strings' total size overflows a size");
    void *block;
    int r = stage_block(st, bytes, false, &block);
    if (r)
        return r;
    const char **copy = block;
    char *text = (char *)block + count * sizeof *strings;
    for (size_t i = 0; i < count; i++) {
        copy[i] = NULL;
        if (strings[i]) {
            size_t n = strlen(strings[i]) + 1;
            memcpy(text, strings[i], n);
            copy[i] = text;
            text += n;
        }
    }
    *out = block;
    return 0;
}

static int stage_out(stager *st, void *dst, size_t bytes, void **out)
{
    *out = dst;
    if (visible(st, dst, bytes))
        return 0;
    if (bytes <= sizeof st->job->inline_out && !st->inline_out_used) {
        *out = st->job->inline_out;
        st->inline_out_used = true;
        return 0;
    }
    return stage_block(st, bytes, false, out);
}

/* ---- one call: prepare, (wait), finish ------------------------------------- */

/* The random stream of the call's first task (see mp_call.seed).  Taken
 * only once nothing can fail any more, so the numbers of one-task calls
 * follow the successful submissions. */
static uint64_t first_stream(mp_pool *pool, const mp__shape *c, const mp_call *call)
{
    if (c->one_task && !call->stream_set)
        return atomic_fetch_add(&pool->one_task_calls, 1);
    return call->stream;
}

int mp__call_prepare(mp_pool *pool, const mp__shape *c, const mp_call *call, void *owner, mp__job **out)
{
    static const mp_call defaults;
    if (!call)
        call = &defaults;
    if (call->context_size && !call->context)
        return mp__error(MP_EINVAL, "%s: context is NULL but context_size is %zu", c->who, call->context_size);
    if (!owner && (call->callback || call->error_callback))
        return mp__error(MP_EINVAL, "%s: callbacks are for the async forms (mp_map_async, ...)", c->who);
    if (call->timeout != MP_FOREVER && (isnan(call->timeout) || call->timeout < 0 || call->timeout > 1e9))
        return mp__error(MP_EINVAL, "%s: timeout %g is not a number of seconds from 0 (the pool's) to 1e9, or MP_FOREVER",
                         c->who, call->timeout);
    int64_t timeout_ns = call->timeout > 0 ? (int64_t)(call->timeout * 1e9)
                       : call->timeout == MP_FOREVER ? 0 : pool->task_timeout_ns;

    int r = mp__pool_check_fn(pool, c->fn, c->who);
    if (r)
        return r;
    mp__job *job;
    if ((r = mp__pool_acquire_job(pool, &job)))
        return r;
    stager st = { pool, job, false, false, owner != NULL };
    job->kind = c->kind;
    job->fn = c->fn;
    job->nargs = c->nargs;
    job->out_size = c->out_size;
    job->ctx_size = call->context_size;
    job->ring = 0;
    job->varout = NULL;
    job->owner = owner;
    for (size_t k = 0; k < c->nargs && !r; k++) {
        const void *in;
        job->in_size[k] = c->args[k].size;
        if (c->kind == MP__KIND_STRINGS)
            r = stage_strings(&st, c->args[k].base, c->args[k].count, &in);
        else
            r = stage_in(&st, c->args[k].base, c->args[k].count * c->args[k].size, &in);
        job->in[k] = in;
    }
    void *out_stage = NULL;
    if (!r)
        r = stage_in(&st, call->context, call->context_size, &job->ctx);
    if (!r)
        r = stage_out(&st, c->out, c->count * c->out_size, &out_stage);
    if (!r && c->results && c->count) {
        /* Each task's result pointer lands here; thread workers can use the
         * caller's array directly. */
        if (reads_in_place(pool)) {
            memset(c->results, 0, c->count * sizeof *c->results);
            job->varout = c->results;
        } else {
            void *v;
            r = stage_block(&st, c->count * sizeof(mp_bytes), true, &v);
            job->varout = v;
        }
    }
    if (r) {
        atomic_store(&job->state, MP__JOB_DONE);   /* never published */
        mp__pool_release_job(pool, job, false);
        return r;
    }
    job->out = out_stage;

    /* Workers report finished tasks in batches (fewer atomic operations
     * on the shared counter) at the end of a claimed chunk, and guided
     * chunks start at a quarter of the call: a coarse `done` while running.
     * A progress bar wants it finer, so with one and automatic chunks the
     * call is claimed in PROGRESS_STEPS steps, each reported when it is
     * done: a call of a few slow tasks moves its bar task by task, and a
     * call of millions makes a hundred-odd claims instead of a few dozen
     * (a step is under 1% of the bar, and of the work left to balance). */
    bool progress = c->count && mp__progress_wanted(&call->progress);
    size_t step = c->count / PROGRESS_STEPS ? c->count / PROGRESS_STEPS : 1;
    size_t chunk = call->chunksize || !progress ? call->chunksize : step;
    if (chunk > c->count) chunk = c->count;
    if (chunk > MP__MAX_CHUNK) chunk = MP__MAX_CHUNK;
    atomic_store(&job->count, c->count);
    atomic_store(&job->chunksize, chunk);
    job->flush_every = progress && step < 64 ? step : 64;
    job->rng_seed = call->seed;
    job->rng_stream = first_stream(pool, c, call);
    atomic_store(&job->timeout_ns, timeout_ns);
    if (timeout_ns && !atomic_exchange(&pool->crew.timeouts_used, true))
        pool->crew.ops->watch(&pool->crew);   /* start watching deadlines */
    /* The bar reads `done` from its opening on, and a harvester may end it
     * as soon as the job is published: open it first, on a count started
     * at zero (publishing starts it at zero again). */
    job->bar = NULL;
    if (progress) {
        atomic_store(&job->done, 0);
        mp__bar_open(&job->bar, c->who, c->count, &call->progress, &job->done);   /* no bar is no error */
    }
    *out = job;                                /* before anyone can see it finished */
    mp__pool_publish(pool, job);
    return 0;
}

void mp__call_end_bar(mp__job *job, int code, bool wait)
{
    if (!job->bar)
        return;
    char note[48] = "";
    uint64_t failed = atomic_load(&job->nfailed);
    if (code == MP_ECANCELED)
        snprintf(note, sizeof note, "cancelled");
    else if (code == MP_ECLOSED)
        snprintf(note, sizeof note, "stopped: the pool closed");
    else if (failed)
        snprintf(note, sizeof note, "%llu failed", (unsigned long long)failed);
    else if (code)
        snprintf(note, sizeof note, "%s", mp_strerror(code));
    mp__bar_end(job->bar, note, wait);
    job->bar = NULL;
}

int mp__call_finish(mp_pool *pool, mp__job *job, const mp__shape *c, mp_failures *failures)
{
    size_t cancelled = atomic_load(&job->ncancelled);
    size_t nfailed = collect_failures(c->who, job, c->count, failures);
    /* Failed tasks' elements were zeroed in the staging copy too. */
    if (job->out != c->out && c->count && c->out_size)
        memcpy(c->out, job->out, c->count * c->out_size);
    if (c->results && job->varout && job->varout != c->results)
        memcpy(c->results, job->varout, c->count * sizeof *c->results);
    if (cancelled) {
        bool terminated = atomic_load(&pool->terminating);
        return mp__error(terminated ? MP_ECLOSED : MP_ECANCELED, "%s: %zu of %zu tasks were cancelled%s", c->who,
                         cancelled, c->count, terminated ? " (the pool was terminated)" : "");
    }
    return nfailed ? MP_ETASK : 0;
}

static int run_call(mp_pool *pool, const mp__shape *c, const mp_call *call)
{
    int r = mp__check_caller(pool, c->who, true);
    if (r)
        return r;
    if (call && call->failures) {
        call->failures->count = 0;
        call->failures->items = NULL;
    }
    mp__job *job;
    if ((r = mp__call_prepare(pool, c, call, NULL, &job)))
        return r;
    r = mp__pool_wait_job(pool, job);
    if (r == 0)
        r = mp__call_finish(pool, job, c, call ? call->failures : NULL);
    mp__call_end_bar(job, r, true);
    mp__pool_release_job(pool, job, false);
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

/* count x size bytes must be a size the call can stage and copy. */
static int check_array_bytes(const char *who, const char *what, size_t count, size_t size)
{
    size_t bytes;
    if (mp__mul_overflows(count, size, &bytes))
        return mp__error(MP_EINVAL, "%s: %zu %s elements of %zu bytes overflow a size", who, count, what, size);
    return 0;
}

static int check_count(const char *who, size_t count, size_t in_size, size_t out_size, const mp_call *call)
{
    int r;
    if (count > MP__MAX_COUNT)
        return mp__error(MP_EINVAL, "%s: count %zu is larger than %llu", who, count, (unsigned long long)MP__MAX_COUNT);
    if ((r = check_array_bytes(who, "input", count, in_size)) || (r = check_array_bytes(who, "output", count, out_size)))
        return r;
    if (call && call->results)
        return check_array_bytes(who, "mp_bytes result", count, sizeof *call->results);
    return 0;
}

/* The three shapes of call.  Each validates its arguments (nothing is
 * started on error) and describes the call; `arg` is storage for the single
 * input array of map and apply. */
int mp__shape_map(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                  void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c)
{
    int r;
    if ((r = check_pool_fn(who, pool, (const void *)fn)) || (r = check_out(who, out, out_size)) ||
        (r = check_count(who, count, in_size, out_size, call)))
        return r;
    if (in && !in_size)
        return mp__error(MP_EINVAL, "%s: in_size is 0 but in is not NULL", who);
    if (!in && in_size)
        return mp__error(MP_EINVAL, "%s: in is NULL but in_size is %zu", who, in_size);
    *arg = (mp_array){ in, count, in_size };
    *c = (mp__shape){ who, MP__KIND_MAP, (void (*)(void))fn, count, 1, arg, out, out_size,
                      call ? call->results : NULL, false };
    return 0;
}

int mp__shape_starmap(const char *who, mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                      void *out, size_t out_size, const mp_call *call, mp__shape *c)
{
    int r;
    if ((r = check_pool_fn(who, pool, (const void *)fn)) || (r = check_out(who, out, out_size)))
        return r;
    if (!args)
        return mp__error(MP_EINVAL, "%s: args is NULL", who);
    if (nargs < 1 || nargs > MP_MAX_ARGS)
        return mp__error(MP_EINVAL, "%s: nargs is %zu (expected 1 to %d)", who, nargs, MP_MAX_ARGS);
    size_t count = args[0].count;
    for (size_t k = 0; k < nargs; k++) {
        if (!args[k].base && args[k].count)
            return mp__error(MP_EINVAL, "%s: args[%zu].base is NULL", who, k);
        if (!args[k].size)
            return mp__error(MP_EINVAL, "%s: args[%zu].size is 0", who, k);
        if (args[k].count != count)
            return mp__error(MP_EINVAL, "%s: args[%zu] has %zu elements but args[0] has %zu", who, k, args[k].count, count);
        if ((r = check_count(who, count, args[k].size, out_size, call)))
            return r;
    }
    *c = (mp__shape){ who, MP__KIND_STAR, (void (*)(void))fn, count, nargs, args, out, out_size,
                      call ? call->results : NULL, false };
    return 0;
}

int mp__shape_strings(const char *who, mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                      void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c)
{
    if (!strings && count)
        return mp__error(MP_EINVAL, "%s: strings is NULL but count is %zu", who, count);
    int r = mp__shape_map(who, pool, fn, strings, count, strings ? sizeof *strings : 0, out, out_size, call, arg, c);
    if (!r)
        c->kind = MP__KIND_STRINGS;
    return r;
}

int mp__shape_apply(const char *who, mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                    void *out, size_t out_size, const mp_call *call, mp_array *arg, mp__shape *c)
{
    int r = mp__shape_map(who, pool, fn, in, 1, in_size, out, out_size, call, arg, c);
    if (!r)
        c->one_task = true;
    return r;
}

int mp_map(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
           void *out, size_t out_size, const mp_call *call)
{
    mp_array arg;
    mp__shape c = { 0 };   /* gcc cannot see mp__shape_map fill it */
    int r = mp__shape_map("mp_map", pool, fn, in, count, in_size, out, out_size, call, &arg, &c);
    return r ? r : run_call(pool, &c, call);
}

int mp_map_strings(mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                   void *out, size_t out_size, const mp_call *call)
{
    mp_array arg;
    mp__shape c = { 0 };
    int r = mp__shape_strings("mp_map_strings", pool, fn, strings, count, out, out_size, call, &arg, &c);
    return r ? r : run_call(pool, &c, call);
}

int mp_starmap(mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
               void *out, size_t out_size, const mp_call *call)
{
    mp__shape c = { 0 };
    int r = mp__shape_starmap("mp_starmap", pool, fn, args, nargs, out, out_size, call, &c);
    return r ? r : run_call(pool, &c, call);
}

int mp_apply(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
             void *out, size_t out_size, const mp_call *call)
{
    mp_array arg;
    mp__shape c = { 0 };   /* gcc cannot see mp__shape_apply fill it */
    int r = mp__shape_apply("mp_apply", pool, fn, in, in_size, out, out_size, call, &arg, &c);
    return r ? r : run_call(pool, &c, call);
}
