/* backend_thread.c - workers are threads of the calling process.
 *
 * The control block is shared by construction, so the backend only starts
 * and joins threads.  A thread cannot be killed: terminate lets each worker
 * finish the task it is running. */
#include "pool.h"

#include <stdlib.h>

typedef struct thread_worker {
    pthread_t thread;
    mp_pool *pool;
    int id;
} thread_worker;

static void *thread_main(void *arg)
{
    thread_worker *w = arg;
    if (mp__worker_init(w->pool, w->id) == 0)
        mp__worker_main(w->pool->sh, w->id);
    return NULL;
}

static void join_all(thread_worker *w, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(w[i].thread, NULL);
}

static int thread_start(mp_pool *pool)
{
    thread_worker *w = calloc((size_t)pool->workers, sizeof *w);
    if (!w)
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    for (int i = 0; i < pool->workers; i++) {
        w[i].pool = pool;
        w[i].id = i;
        int r = pthread_create(&w[i].thread, NULL, thread_main, &w[i]);
        if (r) {
            mp__shutdown_workers(pool->sh);
            join_all(w, i);
            free(w);
            return mp__error(-r, "mp_pool_open: cannot start worker thread %d of %d", i + 1, pool->workers);
        }
    }
    int r = mp__workers_wait_ready(pool, NULL);
    if (r) {
        mp__shutdown_workers(pool->sh);
        join_all(w, pool->workers);
        free(w);
        return r;
    }
    pool->backend_data = w;
    return 0;
}

static int thread_check(mp_pool *pool)
{
    MP__UNUSED(pool);
    return 0;   /* a thread cannot die alone: a crash takes the process */
}

static void thread_stop(mp_pool *pool, bool now)
{
    MP__UNUSED(now);
    join_all(pool->backend_data, pool->workers);
    free(pool->backend_data);
    pool->backend_data = NULL;
}

/* A forked child has none of the threads: only the array is its own. */
static void thread_forget(mp_pool *pool)
{
    free(pool->backend_data);
    pool->backend_data = NULL;
}

const mp__backend_ops mp__thread_backend = {
    .name = "thread",
    .shares_caller_memory = true,
    .start = thread_start,
    .check = thread_check,
    .stop = thread_stop,
    .forget = thread_forget,
};
