/* backend_thread.c - workers are threads of the calling process.
 *
 * Workers see the caller's memory and share the control block by
 * construction, so the backend only starts and joins threads.  A thread
 * cannot be killed: terminate lets each worker finish the task it is
 * running, and nothing needs supervising (a crash takes the process). */
#include "backend.h"

#include <stdlib.h>

typedef struct thread_worker {
    pthread_t thread;
    mp__crew *crew;
    int id;
} thread_worker;

static void *thread_main(void *arg)
{
    thread_worker *w = arg;
    if (mp__crew_worker_init(w->crew, w->id) == 0)
        mp__sched_worker_main(w->crew->sh, w->id);
    return NULL;
}

static void join_all(thread_worker *w, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(w[i].thread, NULL);
}

static int thread_start(mp__crew *crew)
{
    thread_worker *w = calloc((size_t)crew->workers, sizeof *w);
    if (!w)
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    for (int i = 0; i < crew->workers; i++) {
        w[i].crew = crew;
        w[i].id = i;
        int r = pthread_create(&w[i].thread, NULL, thread_main, &w[i]);
        if (r) {
            mp__sched_shutdown(crew->sh);
            join_all(w, i);
            free(w);
            return mp__error(-r, "mp_pool_open: cannot start worker thread %d of %d", i + 1, crew->workers);
        }
    }
    int r = mp__crew_wait_ready(crew, NULL);
    if (r) {
        mp__sched_shutdown(crew->sh);
        join_all(w, crew->workers);
        free(w);
        return r;
    }
    crew->backend_data = w;
    return 0;
}

static int thread_check(mp__crew *crew)
{
    MP__UNUSED(crew);
    return 0;   /* a thread cannot die alone: a crash takes the process */
}

static void thread_stop(mp__crew *crew, bool now)
{
    MP__UNUSED(now);
    join_all(crew->backend_data, crew->workers);
    free(crew->backend_data);
    crew->backend_data = NULL;
}

/* A forked child has none of the threads: only the array is its own. */
static void thread_forget(mp__crew *crew)
{
    free(crew->backend_data);
    crew->backend_data = NULL;
}

/* A running thread cannot be stopped, and deadlines are checked by the
 * worker itself when its task returns (sched.c): nothing to watch. */
static void thread_watch(mp__crew *crew)
{
    MP__UNUSED(crew);
}

const mp__backend_ops mp__thread_backend = {
    .name = "thread",
    .memory = MP__MEMORY_SHARED,
    .supervised = false,
    .futex_shared = false,
    .stops_running_tasks = false,
    .start = thread_start,
    .check = thread_check,
    .stop = thread_stop,
    .forget = thread_forget,
    .publish = mp__crew_publish_in_place,
    .feed = mp__crew_feed_in_place,
    .watch = thread_watch,
};
