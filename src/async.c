/* async.c - async results (mp_map_async & co.) and futures (mp_submit).
 *
 * Both are a handle attached to a job slot while the call runs.  When the
 * job is DONE, whoever gets there first -- a thread waiting on the handle,
 * a caller that needs a free slot, mp_wait, or the pool's callback thread
 * -- "harvests" it under the pool lock: results and failures move into the
 * handle, the slot is freed, and the handle is finished.  Callbacks are
 * never run by the harvester (which may be a user's thread): they are queued
 * for the pool's callback thread, started on first need.
 *
 * The fast path of a future round trip touches no lock twice and makes no
 * system call: the waiter spins on the job's state word, then harvests.
 *
 * Lifetime: a handle has a reference for the user and one while attached to
 * a job or queued for callbacks; it is freed when the last goes.  Closing a
 * pool finishes (or cancels) and detaches every handle, which then needs no
 * pool: handles may be released before or after the pool.
 */
#include "pool.h"
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MP__H_ASYNC = 1, MP__H_FUTURE = 2 };
enum { MP__H_PENDING = 0, MP__H_DONE = 1, MP__H_CANCELLED = 2 };

typedef struct mp__callback {
    union {
        mp_async_callback async;
        mp_future_callback future;
    } fn;
    void *arg;
    int on_success;                  /* async: callback (1) or error_callback (0) */
    struct mp__callback *next;
} mp__callback;

/* An mp_async or an mp_future (the public types are this struct). */
typedef struct mp__handle {
    int kind;
    _Atomic int refs;                /* the user's + the job's (or callback queue's) */
    _Atomic int status;              /* MP__H_PENDING / DONE / CANCELLED */
    pid_t owner_pid;                 /* the process that made it (its pool's owner) */
    mp_pool *pool;                   /* NULL once the pool closed */
    mp__job *job;                    /* while attached (the pool lock) */
    mp__shape shape;                 /* where results go */
    bool want_failures;

    /* Outcome, written by the harvester under the pool lock. */
    int code;                        /* 0, MP_ETASK, MP_ECANCELED, MP_EBROKEN, ... */
    char message[MP_MESSAGE_MAX + 64];
    mp_failures failures;
    bool taken;                      /* a future's bytes handed over (mp_future_bytes) */

    /* Futures: the fixed-size result and the variable-size one. */
    void *fixed_out;
    mp_bytes bytes_slot;             /* where the task's mp_task_write lands */
    mp_bytes bytes;

    mp__callback *callbacks;
    bool callbacks_done;
    struct mp__handle *cb_next;      /* in pool->cb_queue */
    struct mp__handle *all_next;     /* in pool->handles, doubly linked: a */
    struct mp__handle **all_prev;    /* program may hold 10^5 futures */
} mp__handle;

/* ---- lifetime ---------------------------------------------------------- */

static void unlink_locked(mp_pool *pool, mp__handle *h)
{
    MP__ASSERT_POOL_LOCKED(pool);
    if (!h->all_prev)
        return;              /* not linked */
    MP__ASSERT(*h->all_prev == h);
    *h->all_prev = h->all_next;
    if (h->all_next)
        h->all_next->all_prev = h->all_prev;
    h->all_next = NULL;
    h->all_prev = NULL;
}

/* Frees the handle's private memory: what malloc gave this process.  Its
 * variable-size result lives in the shared arena and is not touched. */
static void free_private(mp__handle *h)
{
    mp_failures_free(&h->failures);
    for (mp__callback *cb = h->callbacks, *next; cb; cb = next) {
        next = cb->next;
        free(cb);
    }
    free(h->fixed_out);
    free(h);
}

/* Drops a reference; the last one frees the handle.  the pool lock held (if
 * the handle still has a pool). */
static void unref_locked(mp__handle *h)
{
    if (h->pool)
        MP__ASSERT_POOL_LOCKED(h->pool);
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    if (h->pool)
        unlink_locked(h->pool, h);
    mp_bytes_free(&h->bytes);
    mp_bytes_free(&h->bytes_slot);
    free_private(h);
}

/* True (with a message) in a process that did not make the handle: a
 * child forked from the pool's owner, which must not use it. */
static bool foreign(const mp__handle *h, const char *who)
{
    return mp__check_owner(h->owner_pid, who) != 0;
}

static void unref(mp__handle *h)
{
    mp_pool *pool = h->pool;
    if (pool)
        mp__pool_lock(pool);
    unref_locked(h);
    if (pool)
        mp__pool_unlock(pool);
}

static mp__handle *handle_new(mp_pool *pool, int kind)
{
    mp__handle *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->kind = kind;
    h->owner_pid = (pid_t)mp__pid();
    h->pool = pool;
    atomic_init(&h->refs, 2);      /* the user's, and the job's */
    atomic_init(&h->status, MP__H_PENDING);
    return h;
}

static int harvest_all_locked(mp_pool *pool);

/* ---- the callback thread ------------------------------------------------- */

static void run_callbacks(mp__handle *h)
{
    for (mp__callback *cb = h->callbacks; cb; cb = cb->next) {
        if (h->kind == MP__H_FUTURE)
            cb->fn.future((mp_future *)h, cb->arg);
        else if (h->code == 0 ? cb->on_success : !cb->on_success)
            cb->fn.async((mp_async *)h, cb->arg);
    }
}

static void *callback_thread(void *arg)
{
    mp_pool *pool = arg;
    mp__pool_lock(pool);
    for (;;) {
        uint32_t seen = mp__evc_read(&pool->crew.sh->completions);
        harvest_all_locked(pool);
        mp__handle *h = pool->cb_queue;
        if (h) {
            pool->cb_queue = h->cb_next;
            mp__pool_unlock(pool);
            run_callbacks(h);
            mp__pool_lock(pool);
            h->callbacks_done = true;
            pthread_cond_broadcast(&pool->changed);
            mp__sched_notify_completion(pool->crew.sh);
            unref_locked(h);
            continue;
        }
        if (pool->cb_stop)
            break;
        mp__pool_wait_completion_locked(pool, seen, MP__WATCH_INTERVAL);
    }
    mp__pool_unlock(pool);
    return NULL;
}

static int ensure_callback_thread_locked(mp_pool *pool)
{
    MP__ASSERT_POOL_LOCKED(pool);
    if (pool->cb_started)
        return 0;
    int r = pthread_create(&pool->cb_thread, NULL, callback_thread, pool);
    if (r)
        return mp__error(-r, "cannot start the pool's callback thread");
    pool->cb_started = true;
    return 0;
}

static void stop_callbacks(mp_pool *pool)
{
    mp__pool_lock(pool);
    bool started = pool->cb_started;
    pool->cb_stop = true;
    mp__pool_unlock(pool);
    if (started) {
        mp__sched_notify_completion(pool->crew.sh);
        pthread_join(pool->cb_thread, NULL);
    }
}

/* ---- harvesting -------------------------------------------------------- */

/* Finishes a handle whose job is DONE (or was never run).  the pool lock held. */
static void harvest_locked(mp_pool *pool, mp__job *job, int forced_code)
{
    MP__ASSERT_POOL_LOCKED(pool);
    mp__handle *h = job->owner;
    MP__ASSERT(h && h->job == job);
    MP__ASSERT(forced_code || atomic_load(&job->state) == MP__JOB_DONE);
    int code = forced_code;
    if (!code) {
        mp_failures *want = h->kind == MP__H_FUTURE || h->want_failures ? &h->failures : NULL;
        code = mp__call_finish(pool, job, &h->shape, want);
        if (h->kind == MP__H_FUTURE) {
            h->bytes = h->bytes_slot;
            h->bytes_slot = (mp_bytes){ NULL, 0 };
        }
    }
    if (code)
        snprintf(h->message, sizeof h->message, "%s", mp_last_error());
    mp__call_end_bar(job, code, false);   /* the pool's lock is held: the progress thread finishes it */
    h->code = code;
    h->job = NULL;
    mp__pool_release_job(pool, job, true);
    atomic_store(&h->status, code == MP_ECANCELED ? MP__H_CANCELLED : MP__H_DONE);
    if (h->callbacks) {
        h->cb_next = NULL;
        mp__handle **tail = &pool->cb_queue;
        while (*tail)
            tail = &(*tail)->cb_next;
        *tail = h;                 /* the job's reference moves to the queue */
        ensure_callback_thread_locked(pool);
    } else {
        h->callbacks_done = true;
        unref_locked(h);           /* the job's reference */
    }
    pthread_cond_broadcast(&pool->changed);
}

static int harvest_all_locked(mp_pool *pool)
{
    MP__ASSERT_POOL_LOCKED(pool);
    int n = 0;
    mp__job *job;
    MP__FOR_EACH_ACTIVE(pool->crew.sh, job) {
        if (job->owner && atomic_load(&job->state) == MP__JOB_DONE) {
            harvest_locked(pool, job, 0);
            n++;
        }
    }
    return n;
}

/* Asks the backend whether a worker died.  the pool lock held; the backend
 * takes it itself, so it is dropped around the call. */
static int check_unlocked(mp_pool *pool)
{
    MP__ASSERT_POOL_LOCKED(pool);
    mp__pool_unlock(pool);
    int r = mp__pool_check(pool);
    mp__pool_lock(pool);
    return r;
}

/* A handle is "finished" for waiters once harvested and its callbacks ran
 * (a stronger promise than Python's, whose waiters may return while
 * callbacks still run).  Code running on the callback thread -- a callback
 * asking for a result -- only needs the harvest: waiting for the callbacks
 * there would wait for itself. */
static bool finished(const mp__handle *h)
{
    if (atomic_load(&h->status) == MP__H_PENDING)
        return false;
    if (h->callbacks_done)
        return true;
    const mp_pool *pool = h->pool;
    return pool && pool->cb_started && pthread_equal(pthread_self(), pool->cb_thread);
}

#define HANDLE_SPIN_SECONDS 50e-6

static bool job_done(void *job)
{
    return atomic_load(&((mp__job *)job)->state) == MP__JOB_DONE;
}

/* Waits until h is finished.  0 or MP_ETIMEDOUT. */
static int handle_wait(mp__handle *h, double timeout)
{
    mp_pool *pool = h->pool;
    if (!pool)
        return 0;                  /* detached: finished long ago */
    double deadline = timeout < 0 ? -1 : mp__now() + timeout;
    mp__pool_lock(pool);
    for (;;) {
        uint32_t seen = mp__evc_read(&pool->crew.sh->completions);
        if (h->job && atomic_load(&h->job->state) == MP__JOB_DONE)
            harvest_locked(pool, h->job, 0);
        if (finished(h))
            break;
        double left = deadline < 0 ? MP__WATCH_INTERVAL : deadline - mp__now();
        if (left <= 0) {
            mp__pool_unlock(pool);
            return mp__error(MP_ETIMEDOUT, "timed out waiting for the result");
        }
        /* Fast path: spin a little on the job's own state word. */
        mp__job *job = h->job;
        if (job) {
            mp__pool_unlock(pool);
            mp__await(&job->finished, pool->crew.sh->futex_shared, job_done, job, HANDLE_SPIN_SECONDS, 0);
            mp__pool_lock(pool);
            if (h->job == job && atomic_load(&job->state) == MP__JOB_DONE)
                continue;
        }
        if (check_unlocked(pool) != 0 && h->job) {
            harvest_locked(pool, h->job, pool->crew.broken);
            continue;
        }
        mp__pool_wait_completion_locked(pool, seen, left < MP__WATCH_INTERVAL ? left : MP__WATCH_INTERVAL);
    }
    mp__pool_unlock(pool);
    return 0;
}

/* Cancels a handle's unstarted tasks.  the pool lock held.  For a future
 * (one task) this succeeds only if no worker claimed it yet. */
static bool cancel_locked(mp_pool *pool, mp__handle *h)
{
    MP__ASSERT_POOL_LOCKED(pool);
    mp__job *job = h->job;
    if (!job)
        return false;
    if (h->kind == MP__H_FUTURE) {
        uint64_t c = atomic_load(&job->claim);
        if ((c & MP__CLAIM_MASK) != 0 ||
            !atomic_compare_exchange_strong(&job->claim, &c, c + 1))
            return false;          /* a worker has it: running or done */
        atomic_store(&job->state, MP__JOB_DONE);
        harvest_locked(pool, job, MP_ECANCELED);
        return true;
    }
    return mp__job_cancel_unclaimed(pool->crew.sh, job) > 0;
}

/* Finishes or cancels every handle and detaches it: used by close and
 * shutdown.  the pool lock held. */
static void settle_all_locked(mp_pool *pool, bool cancel_pending, bool wait)
{
    MP__ASSERT_POOL_LOCKED(pool);
    for (;;) {
        uint32_t seen = mp__evc_read(&pool->crew.sh->completions);
        harvest_all_locked(pool);
        bool pending = false;
        mp__job *job;
        MP__FOR_EACH_ACTIVE(pool->crew.sh, job) {
            if (!job->owner)
                continue;
            if (cancel_pending && ((mp__handle *)job->owner)->kind == MP__H_FUTURE && cancel_locked(pool, job->owner))
                continue;
            pending = true;
        }
        if (!pending || !wait)
            return;
        if (check_unlocked(pool) != 0) {
            MP__FOR_EACH_ACTIVE(pool->crew.sh, job) {
                if (job->owner)
                    harvest_locked(pool, job, pool->crew.broken);
            }
            return;
        }
        mp__pool_wait_completion_locked(pool, seen, MP__WATCH_INTERVAL);
    }
}

/* mp_pool_shutdown (pool.c): settles every handle, then lets the callback
 * thread finish what it has queued. */
static void shutdown_locked(mp_pool *pool, bool wait, bool cancel_futures)
{
    settle_all_locked(pool, cancel_futures, wait);
    while (wait && pool->cb_queue)
        mp__pool_wait_changed(pool);
}

/* Close and terminate: finishes or cancels every handle, stops the
 * callback thread, and detaches the handles from the pool. */
static void close_handles(mp_pool *pool, bool terminate)
{
    mp__pool_lock(pool);
    pool->closing = true;
    if (terminate) {
        /* Workers are gone or finishing: what has not finished now ends as
         * closed; a thread pool's running tasks complete first. */
        mp__job *job;
        MP__FOR_EACH_ACTIVE(pool->crew.sh, job) {
            if (!job->owner)
                continue;
            if (!pool->crew.ops->stops_running_tasks) {
                mp__job_cancel_unclaimed(pool->crew.sh, job);
            } else {
                mp__error(MP_ECLOSED, "pool was terminated before the call finished");
                atomic_store(&job->state, MP__JOB_DONE);
                harvest_locked(pool, job, MP_ECLOSED);
            }
        }
    }
    settle_all_locked(pool, false, true);
    mp__pool_unlock(pool);
    stop_callbacks(pool);
    /* Detach: from here on, handles need no pool. */
    mp__pool_lock(pool);
    for (mp__handle *h = pool->handles, *next; h; h = next) {
        next = h->all_next;
        h->pool = NULL;
        h->all_next = NULL;
        h->all_prev = NULL;
    }
    pool->handles = NULL;
    mp__pool_unlock(pool);
}

/* ---- submission ---------------------------------------------------------- */

/* The async layer of a pool: how the pool reaches handles (pool.h). */
static const mp__layer async_layer = {
    .reclaim_locked = harvest_all_locked,
    .shutdown_locked = shutdown_locked,
    .close = close_handles,
};

static int submit(mp_pool *pool, mp__handle *h, const mp_call *call)
{
    mp__pool_add_layer(pool, &async_layer);
    mp__pool_lock(pool);
    h->all_next = pool->handles;
    h->all_prev = &pool->handles;
    if (pool->handles)
        pool->handles->all_prev = &h->all_next;
    pool->handles = h;
    mp__pool_unlock(pool);
    /* The job is attached to h (h->job) before it is published, so a
     * harvester can never see the job finished before h knows it. */
    int r = mp__call_prepare(pool, &h->shape, call, h, &h->job);
    if (r) {
        mp__pool_lock(pool);
        unlink_locked(pool, h);
        mp__pool_unlock(pool);
        h->job = NULL;
    }
    return r;
}

/* Frees a handle whose submission failed (no job, no list) and returns r. */
static int discard_unsubmitted(mp__handle *h, int r)
{
    h->pool = NULL;
    atomic_store(&h->refs, 1);
    unref_locked(h);
    return r;
}

static int add_async_callbacks(mp__handle *h, const mp_call *call)
{
    for (int ok = 1; ok >= 0; ok--) {
        mp_async_callback fn = ok ? call->callback : call->error_callback;
        if (!fn)
            continue;
        mp__callback *cb = calloc(1, sizeof *cb);
        if (!cb)
            return mp__error(MP_ENOMEM, "out of memory");
        cb->fn.async = fn;
        cb->arg = call->callback_arg;
        cb->on_success = ok;
        cb->next = h->callbacks;
        h->callbacks = cb;
    }
    return 0;
}

static int start_async(mp_pool *pool, const mp__shape *c, const mp_call *call, mp_async **result)
{
    if (!result)
        return mp__error(MP_EINVAL, "%s: result is NULL", c->who);
    int r = mp__check_caller(pool, c->who, false);
    if (r)
        return r;
    mp__handle *h = handle_new(pool, MP__H_ASYNC);
    if (!h)
        return mp__error(MP_ENOMEM, "%s: out of memory", c->who);
    h->shape = *c;                 /* args: read only while submitting */
    h->want_failures = true;
    r = call ? add_async_callbacks(h, call) : 0;
    if (!r)
        r = submit(pool, h, call);
    h->shape.args = NULL;
    if (r)
        return discard_unsubmitted(h, r);
    *result = (mp_async *)h;
    return 0;
}

int mp_map_async(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                 void *out, size_t out_size, const mp_call *call, mp_async **result)
{
    mp_array arg;
    mp__shape c;
    int r = mp__shape_map("mp_map_async", pool, fn, in, count, in_size, out, out_size, call, &arg, &c);
    return r ? r : start_async(pool, &c, call, result);
}

int mp_map_strings_async(mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                         void *out, size_t out_size, const mp_call *call, mp_async **result)
{
    mp_array arg;
    mp__shape c;
    int r = mp__shape_strings("mp_map_strings_async", pool, fn, strings, count, out, out_size, call, &arg, &c);
    return r ? r : start_async(pool, &c, call, result);
}

int mp_starmap_async(mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                     void *out, size_t out_size, const mp_call *call, mp_async **result)
{
    mp__shape c;
    int r = mp__shape_starmap("mp_starmap_async", pool, fn, args, nargs, out, out_size, call, &c);
    return r ? r : start_async(pool, &c, call, result);
}

int mp_apply_async(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                   void *out, size_t out_size, const mp_call *call, mp_async **result)
{
    mp_array arg;
    mp__shape c;
    int r = mp__shape_apply("mp_apply_async", pool, fn, in, in_size, out, out_size, call, &arg, &c);
    return r ? r : start_async(pool, &c, call, result);
}

/* ---- async results ----------------------------------------------------------- */

/* The checks of every call that waits on a handle: not NULL, made in
 * this process, not waited on by a task of its own pool, a valid
 * timeout. */
static int check_wait(const char *who, const void *handle, double timeout)
{
    const mp__handle *h = handle;
    int r;
    if (!h)
        return mp__error(MP_EINVAL, "%s: handle is NULL", who);
    if ((r = mp__check_owner(h->owner_pid, who)))
        return r;
    const mp_pool *pool = h->pool;
    if (pool && (r = mp__check_not_own_task(pool->crew.sh, who)))
        return r;
    return mp__check_timeout(who, timeout);
}

int mp_async_wait(mp_async *result, double timeout)
{
    int r = check_wait("mp_async_wait", result, timeout);
    return r ? r : handle_wait((mp__handle *)result, timeout);
}

/* Ready: the results are in place (callbacks may still be running; a
 * callback asking about its own handle sees it ready). */
int mp_async_ready(mp_async *result)
{
    if (!result || foreign((mp__handle *)result, "mp_async_ready"))
        return 0;
    mp__handle *h = (mp__handle *)result;
    if (h->pool && atomic_load(&h->status) == MP__H_PENDING) {
        mp__pool_lock(h->pool);
        if (h->job && atomic_load(&h->job->state) == MP__JOB_DONE)
            harvest_locked(h->pool, h->job, 0);
        mp__pool_unlock(h->pool);
    }
    return atomic_load(&h->status) != MP__H_PENDING;
}

int mp_async_successful(mp_async *result)
{
    if (!result)
        return mp__error(MP_EINVAL, "mp_async_successful: handle is NULL");
    if (foreign((mp__handle *)result, "mp_async_successful"))
        return MP_EINVAL;
    if (!mp_async_ready(result))
        return mp__error(MP_EAGAIN, "mp_async_successful: the call has not finished");
    return ((mp__handle *)result)->code == 0;
}

/* A copy of `from` that the caller owns (mp_failures_free). */
static int copy_failures(const char *who, const mp_failures *from, mp_failures *to)
{
    mp_failure *items = NULL;
    if (from->count) {
        items = malloc(from->count * sizeof *items);
        if (!items)
            return mp__error(MP_ENOMEM, "%s: out of memory for the list of %zu failures", who, from->count);
        memcpy(items, from->items, from->count * sizeof *items);
    }
    *to = (mp_failures){ from->count, items };
    return 0;
}

int mp_async_get(mp_async *result, double timeout, mp_failures *failures)
{
    int r = check_wait("mp_async_get", result, timeout);
    if (r)
        return r;
    mp__handle *h = (mp__handle *)result;
    if ((r = handle_wait(h, timeout)))
        return r;
    /* The handle keeps its list: every get reports the same outcome. */
    if (failures && (r = copy_failures("mp_async_get", &h->failures, failures)))
        return r;
    if (h->code)
        return mp__error(h->code, "%s", h->message);
    return 0;
}

static void release_user_ref(mp__handle *h)
{
    if (h->owner_pid != (pid_t)mp__pid()) {
        free_private(h);           /* a forked child's copy: nothing shared */
        return;
    }
    mp_pool *pool = h->pool;
    if (pool) {
        mp__pool_lock(pool);
        if (h->job) {
            cancel_locked(pool, h);   /* a pending future, an async's unstarted tasks */
            if (h->kind == MP__H_ASYNC && h->job) {
                /* Running tasks still write into the caller's `out`: the
                 * handle cannot go before they finish. */
                mp__pool_unlock(pool);
                handle_wait(h, MP_FOREVER);
                mp__pool_lock(pool);
            }
        }
        /* A running future finishes on its own; its job holds a reference. */
        unref_locked(h);
        mp__pool_unlock(pool);
        return;
    }
    unref_locked(h);
}

void mp_async_free(mp_async *result)
{
    if (result)
        release_user_ref((mp__handle *)result);
}

/* ---- futures ---------------------------------------------------------------- */

int mp_submit(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size, size_t out_size,
              const mp_call *call, mp_future **future)
{
    int r;
    if (!future)
        return mp__error(MP_EINVAL, "mp_submit: future is NULL");
    if (pool && (r = mp__check_caller(pool, "mp_submit", false)))
        return r;
    mp__handle *h = handle_new(pool, MP__H_FUTURE);
    if (!h)
        return mp__error(MP_ENOMEM, "mp_submit: out of memory");
    if (out_size && !(h->fixed_out = malloc(out_size))) {
        free(h);
        return mp__error(MP_ENOMEM, "mp_submit: out of memory");
    }
    mp_array arg;
    r = mp__shape_apply("mp_submit", pool, fn, in, in_size, h->fixed_out, out_size, NULL, &arg, &h->shape);
    /* Futures always collect variable-size output: mp_future_bytes. */
    h->shape.results = &h->bytes_slot;
    mp_call plain = { 0 };
    if (call) {
        plain.context = call->context;
        plain.context_size = call->context_size;
        plain.timeout = call->timeout;   /* checked and applied as map's */
        plain.seed = call->seed;
        plain.stream = call->stream;
        plain.stream_set = call->stream_set;
    }
    if (!r)
        r = submit(pool, h, &plain);
    if (r)
        return discard_unsubmitted(h, r);
    *future = (mp_future *)h;
    return 0;
}

int mp_future_wait(mp_future *future, double timeout)
{
    int r = check_wait("mp_future_wait", future, timeout);
    return r ? r : handle_wait((mp__handle *)future, timeout);
}

static int outcome(mp__handle *h)
{
    if (atomic_load(&h->status) == MP__H_CANCELLED)
        return mp__error(MP_ECANCELED, "the future was cancelled");
    if (h->code)
        return mp__error(h->code, "%s", h->message);
    return 0;
}

int mp_future_result(mp_future *future, double timeout, void *out, size_t out_size)
{
    int r = check_wait("mp_future_result", future, timeout);
    if (r)
        return r;
    mp__handle *h = (mp__handle *)future;
    if (out_size != h->shape.out_size || (!out && out_size))
        return mp__error(MP_EINVAL, "mp_future_result: out_size is %zu but the future's result has %zu bytes",
                         out_size, h->shape.out_size);
    if ((r = handle_wait(h, timeout)) || (r = outcome(h)))
        return r;
    if (out_size)
        memcpy(out, h->fixed_out, out_size);
    return 0;
}

int mp_future_bytes(mp_future *future, double timeout, mp_bytes *bytes)
{
    int r = check_wait("mp_future_bytes", future, timeout);
    if (r)
        return r;
    if (!bytes)
        return mp__error(MP_EINVAL, "mp_future_bytes: bytes is NULL");
    mp__handle *h = (mp__handle *)future;
    if ((r = handle_wait(h, timeout)) || (r = outcome(h)))
        return r;
    if (h->taken)
        return mp__error(MP_EINVAL, "mp_future_bytes: the result was already taken");
    h->taken = true;
    *bytes = h->bytes;
    h->bytes = (mp_bytes){ NULL, 0 };
    return 0;
}

const mp_failure *mp_future_failure(mp_future *future)
{
    mp__handle *h = (mp__handle *)future;
    if (!h || !mp_future_done(future) || atomic_load(&h->status) == MP__H_CANCELLED || !h->failures.count)
        return NULL;
    return &h->failures.items[0];
}

int mp_future_cancel(mp_future *future)
{
    if (!future)
        return mp__error(MP_EINVAL, "mp_future_cancel: future is NULL");
    mp__handle *h = (mp__handle *)future;
    if (foreign(h, "mp_future_cancel"))
        return MP_EINVAL;
    if (!h->pool)
        return 0;
    mp__pool_lock(h->pool);
    bool ok = cancel_locked(h->pool, h);
    mp__pool_unlock(h->pool);
    return ok;
}

int mp_future_cancelled(mp_future *future)
{
    return future && !foreign((mp__handle *)future, "mp_future_cancelled") &&
           atomic_load(&((mp__handle *)future)->status) == MP__H_CANCELLED;
}

int mp_future_running(mp_future *future)
{
    mp__handle *h = (mp__handle *)future;
    if (!h || foreign(h, "mp_future_running") || !h->pool)
        return 0;
    mp__pool_lock(h->pool);
    bool running = h->job && (atomic_load(&h->job->claim) & MP__CLAIM_MASK) != 0 &&
                   atomic_load(&h->job->state) != MP__JOB_DONE;
    mp__pool_unlock(h->pool);
    return running;
}

int mp_future_done(mp_future *future)
{
    return mp_async_ready((mp_async *)future);
}

int mp_future_add_done_callback(mp_future *future, mp_future_callback fn, void *arg)
{
    if (!future || !fn)
        return mp__error(MP_EINVAL, "mp_future_add_done_callback: %s is NULL", future ? "callback" : "future");
    mp__handle *h = (mp__handle *)future;
    if (foreign(h, "mp_future_add_done_callback"))
        return MP_EINVAL;
    mp__callback *cb = calloc(1, sizeof *cb);
    if (!cb)
        return mp__error(MP_ENOMEM, "mp_future_add_done_callback: out of memory");
    cb->fn.future = fn;
    cb->arg = arg;
    mp_pool *pool = h->pool;
    if (pool) {
        mp__pool_lock(pool);
        if (h->job && atomic_load(&h->job->state) == MP__JOB_DONE)
            harvest_locked(pool, h->job, 0);
        if (atomic_load(&h->status) == MP__H_PENDING) {
            int r = ensure_callback_thread_locked(pool);
            if (!r) {
                cb->next = h->callbacks;
                h->callbacks = cb;
                h->callbacks_done = false;
            }
            mp__pool_unlock(pool);
            if (r)
                free(cb);
            return r;
        }
        /* Finished: wait for callbacks already queued, then run ours here. */
        while (!h->callbacks_done)
            mp__pool_wait_changed(pool);
        mp__pool_unlock(pool);
    }
    cb->next = h->callbacks;
    h->callbacks = cb;
    fn(future, arg);
    return 0;
}

void mp_future_free(mp_future *future)
{
    if (future)
        release_user_ref((mp__handle *)future);
}

/* ---- waiting on several futures -------------------------------------------------------- */

static int check_set(const char *who, mp_future *const *futures, size_t n, mp_pool **pool)
{
    if (!futures)
        return mp__error(MP_EINVAL, "%s: futures is NULL", who);
    if (n == 0)
        return mp__error(MP_EINVAL, "%s: the set of futures is empty", who);
    *pool = NULL;
    for (size_t i = 0; i < n; i++) {
        mp__handle *h = (mp__handle *)futures[i];
        if (!h)
            return mp__error(MP_EINVAL, "%s: futures[%zu] is NULL", who, i);
        if (h->kind != MP__H_FUTURE)
            return mp__error(MP_EINVAL, "%s: futures[%zu] is not a future", who, i);
        int r = mp__check_owner(h->owner_pid, who);
        if (r)
            return r;
        if (h->pool && *pool && h->pool != *pool)
            return mp__error(MP_EINVAL, "%s: futures[%zu] belongs to another pool", who, i);
        if (h->pool)
            *pool = h->pool;
    }
    return 0;
}

static bool ended_in_error(const mp__handle *h)
{
    return atomic_load(&h->status) == MP__H_DONE && h->code != 0;
}

int mp_wait(mp_future *const *futures, size_t n, double timeout, mp_wait_mode mode, size_t *ndone)
{
    mp_pool *pool;
    int r = check_set("mp_wait", futures, n, &pool);
    if (r || (pool && (r = mp__check_not_own_task(pool->crew.sh, "mp_wait"))) || (r = mp__check_timeout("mp_wait", timeout)))
        return r;
    if (mode != MP_FIRST_COMPLETED && mode != MP_FIRST_EXCEPTION && mode != MP_ALL_COMPLETED)
        return mp__error(MP_EINVAL, "mp_wait: unknown mode %d", (int)mode);
    double deadline = timeout < 0 ? -1 : mp__now() + timeout;
    /* A bar (when MPROC_PROGRESS asks) counts the futures finished. */
    mp_bar *bar = NULL;
    if (mp__progress_wanted(NULL))
        mp__bar_open(&bar, "mp_wait", n, NULL, NULL);
    if (pool)
        mp__pool_lock(pool);
    for (;;) {
        uint32_t seen = pool ? mp__evc_read(&pool->crew.sh->completions) : 0;
        if (pool)
            harvest_all_locked(pool);
        size_t done = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            const mp__handle *h = (const mp__handle *)futures[i];
            done += finished(h);
            bad += finished(h) && ended_in_error(h);
        }
        if (bar)
            mp_bar_set(bar, done);
        bool ok = mode == MP_ALL_COMPLETED ? done == n
                : mode == MP_FIRST_COMPLETED ? done > 0
                : bad > 0 || done == n;
        double left = deadline < 0 ? MP__WATCH_INTERVAL : deadline - mp__now();
        if (ok || left <= 0 || !pool) {
            if (pool)
                mp__pool_unlock(pool);
            if (ndone)
                *ndone = done;
            if (!ok)
                mp__error(MP_ETIMEDOUT, "mp_wait: timed out with %zu of %zu futures done", done, n);
            mp__bar_end(bar, ok ? "" : "timed out", true);
            return ok ? 0 : MP_ETIMEDOUT;
        }
        mp__pool_wait_completion_locked(pool, seen, left < MP__WATCH_INTERVAL ? left : MP__WATCH_INTERVAL);
    }
}

struct mp_as_completed {
    pid_t owner_pid;
    mp_pool *pool;
    size_t n, yielded;
    mp__handle **items;      /* not yet yielded first; each holds a reference */
    mp_progress progress;    /* the bar's options (mp_as_completed_progress) */
    char label[64];
    bool progress_set;
    mp_bar *bar;             /* opened at the first next; counts futures yielded */
};

int mp_as_completed_progress(mp_as_completed *it, const mp_progress *opts)
{
    if (!it || !opts)
        return mp__error(MP_EINVAL, "mp_as_completed_progress: %s is NULL", it ? "opts" : "it");
    if (it->yielded || it->bar)
        return mp__error(MP_EINVAL, "mp_as_completed_progress: call it before the first mp_as_completed_next");
    it->progress = *opts;
    if (opts->label) {
        snprintf(it->label, sizeof it->label, "%s", opts->label);
        it->progress.label = it->label;
    }
    it->progress_set = true;
    return 0;
}

static void open_bar(mp_as_completed *it)
{
    const mp_progress *o = it->progress_set ? &it->progress : NULL;
    if (mp__progress_wanted(o))
        mp__bar_open(&it->bar, "mp_as_completed", it->n, o, NULL);   /* no bar is no error */
}

int mp_as_completed_open(mp_future *const *futures, size_t n, mp_as_completed **out)
{
    mp_pool *pool;
    int r = check_set("mp_as_completed_open", futures, n, &pool);
    if (r)
        return r;
    if (!out)
        return mp__error(MP_EINVAL, "mp_as_completed_open: it is NULL");
    mp_as_completed *it = calloc(1, sizeof *it);
    if (!it || !(it->items = malloc(n * sizeof *it->items))) {
        free(it);
        return mp__error(MP_ENOMEM, "mp_as_completed_open: out of memory");
    }
    it->owner_pid = (pid_t)mp__pid();
    it->pool = pool;
    it->n = n;
    for (size_t i = 0; i < n; i++) {
        it->items[i] = (mp__handle *)futures[i];
        atomic_fetch_add(&it->items[i]->refs, 1);
    }
    *out = it;
    return 0;
}

int mp_as_completed_next(mp_as_completed *it, double timeout, mp_future **future)
{
    if (!it || !future)
        return mp__error(MP_EINVAL, "mp_as_completed_next: %s is NULL", it ? "future" : "it");
    int r = mp__check_owner(it->owner_pid, "mp_as_completed_next");
    if (r || (r = mp__check_timeout("mp_as_completed_next", timeout)))
        return r;
    if (it->yielded == it->n)
        return MP_EEOF;
    if (it->yielded == 0 && !it->bar)
        open_bar(it);
    mp_pool *pool = it->pool;
    if (pool && it->items[0]->pool && (r = mp__check_not_own_task(pool->crew.sh, "mp_as_completed_next")))
        return r;
    double deadline = timeout < 0 ? -1 : mp__now() + timeout;
    for (;;) {
        if (pool && !it->items[0]->pool)
            pool = NULL;           /* the pool closed: every future is finished */
        if (pool)
            mp__pool_lock(pool);
        uint32_t seen = pool ? mp__evc_read(&pool->crew.sh->completions) : 0;
        if (pool)
            harvest_all_locked(pool);
        for (size_t i = it->yielded; i < it->n; i++) {
            if (finished(it->items[i])) {
                mp__handle *h = it->items[i];
                it->items[i] = it->items[it->yielded];
                it->items[it->yielded++] = h;
                if (pool)
                    mp__pool_unlock(pool);
                *future = (mp_future *)h;
                if (it->bar) {
                    mp_bar_set(it->bar, it->yielded);
                    if (it->yielded == it->n) {
                        mp__bar_end(it->bar, NULL, true);
                        it->bar = NULL;
                    }
                }
                return 0;
            }
        }
        double left = deadline < 0 ? MP__WATCH_INTERVAL : deadline - mp__now();
        if (left <= 0 || !pool) {
            if (pool)
                mp__pool_unlock(pool);
            return mp__error(MP_ETIMEDOUT, "mp_as_completed_next: timed out");
        }
        mp__pool_wait_completion_locked(pool, seen, left < MP__WATCH_INTERVAL ? left : MP__WATCH_INTERVAL);
        mp__pool_unlock(pool);
    }
}

void mp_as_completed_free(mp_as_completed *it)
{
    if (!it)
        return;
    /* A forked child's copy: its references count for nothing there. */
    bool own = it->owner_pid == (pid_t)mp__pid();
    if (own)
        mp__bar_end(it->bar, "stopped", true);
    for (size_t i = 0; i < it->n && own; i++)
        unref(it->items[i]);
    free(it->items);
    free(it);
}
