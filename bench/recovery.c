/* recovery.c - how fast a process pool recovers from a dead worker.
 *
 *   recovery  time from a worker's death (SIGKILL, sent here) to its
 *             replacement running a task; median over 100 kills (10 with
 *             --quick).  No anchor: Python's multiprocessing.Pool never
 *             recovers (the map hangs, cpython#66587).  Goal: <= 5 ms.
 *
 * A long map of short tasks (chunksize 1) runs in a helper thread.  Each
 * task notes, in shared memory, when a new process first ran a task as
 * worker 0; the benchmark kills worker 0 and waits for that note.
 */
#include "bench.h"

#include <mproc.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct recovery_shared {
    _Atomic int pid;          /* the process running as worker 0 */
    _Atomic double first;     /* when it ran its first task */
} recovery_shared;

static recovery_shared *rs;   /* mp_shm memory, made before the pool opens */

static int spin_task(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    if (mp_task_worker(task) == 0 && atomic_load_explicit(&rs->pid, memory_order_relaxed) != getpid()) {
        atomic_store(&rs->first, bench_now());
        atomic_store(&rs->pid, getpid());
    }
    double t0 = bench_now();
    while (bench_now() - t0 < 20e-6 && !mp_task_cancelled(task))
        ;
    return 0;
}

typedef struct runner {
    mp_pool *pool;
    int result;
} runner;

static void *run_map(void *arg)
{
    runner *r = arg;
    r->result = mp_map(r->pool, spin_task, NULL, (size_t)1 << 30, 0, NULL, 0, &(mp_call){ .chunksize = 1 });
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

static void recovery(const bench_ctx *ctx)
{
    int kills = ctx->quick ? 10 : 100;
    if (mp_shm_alloc(sizeof *rs, (void **)&rs)) {
        fprintf(stderr, "recovery: %s\n", mp_last_error());
        return;
    }
    mp_pool *pool;
    if (mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 })) {
        fprintf(stderr, "recovery: %s\n", mp_last_error());
        mp_shm_free(rs);
        return;
    }
    runner r = { pool, 0 };
    pthread_t t;
    pthread_create(&t, NULL, run_map, &r);
    double *times = calloc((size_t)kills, sizeof *times);
    int measured = 0;
    for (int k = 0; k < kills; k++) {
        double wait0 = bench_now();
        while (atomic_load(&rs->pid) == 0 && bench_now() - wait0 < 2)
            sleep_s(100e-6);
        sleep_s(2e-3);                       /* let it settle into its work */
        int pid = atomic_load(&rs->pid);
        double t0 = bench_now();
        if (pid <= 0 || kill(pid, SIGKILL) != 0)
            break;
        /* Poll gently: a spinning observer would take a core from the very
         * processes whose recovery it times (the task notes the time). */
        while (atomic_load(&rs->pid) == pid && bench_now() - t0 < 2)
            sleep_s(50e-6);
        if (atomic_load(&rs->pid) == pid)
            break;                           /* not replaced within 2 s */
        times[measured++] = atomic_load(&rs->first) - t0;
    }
    mp_pool_cancel(pool);
    pthread_join(t, NULL);
    mp_pool_close(pool);
    mp_shm_free(rs);
    if (measured) {
        qsort(times, (size_t)measured, sizeof *times, by_value);
        char note[128];
        snprintf(note, sizeof note, "median of %d kills; fastest %.2f ms, slowest %.2f ms; Python's Pool hangs instead",
                 measured, times[0] * 1e3, times[measured - 1] * 1e3);
        bench_report(ctx, &(bench_row){ .bench = "recovery", .backend = "process", .workers = 2, .chunksize = 1,
                                        .value = times[measured / 2] * 1e3, .unit = "ms", .anchor = NULL,
                                        .lower_is_better = 1, .goal = "<= 5 ms", .note = note });
    } else {
        fprintf(stderr, "recovery: no replacement was seen running a task\n");
    }
    free(times);
}

BENCH_REGISTER("recovery", recovery)
