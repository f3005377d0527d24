/* pool.c - benchmarks of the map family against OpenMP on the same loop.
 *
 *   tiny_map  10^7 tasks that square a long, chunksize 1 and automatic,
 *             threads and processes, vs OpenMP schedule(dynamic,1)
 *   pi        the demo's Monte Carlo workload, vs a serial loop and OpenMP
 *   progress  tiny_map (automatic chunks) with a progress bar vs without
 */
#include "bench.h"
#include "../examples/pi_task.h"

#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef MPROC_BENCH_OPENMP
#include <omp.h>
#endif

#define WORKERS 2

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

static double time_map(mp_pool *pool, const long *in, long *out, size_t n, size_t chunk)
{
    mp_call call = { .chunksize = chunk };
    double t0 = bench_now();
    if (mp_map(pool, square, in, n, sizeof *in, out, sizeof *out, &call) != 0) {
        fprintf(stderr, "tiny_map: %s\n", mp_last_error());
        return -1;
    }
    return bench_now() - t0;
}

static double time_openmp_squares(const long *in, long *out, size_t n)
{
#ifdef MPROC_BENCH_OPENMP
    double t0 = bench_now();
    #pragma omp parallel for schedule(dynamic, 1) num_threads(WORKERS)
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * in[i];
    return bench_now() - t0;
#else
    (void)in; (void)out; (void)n;
    return -1;
#endif
}

static void keep_best(double *best, double t)
{
    if (t > 0 && (*best <= 0 || t < *best))
        *best = t;
}

/* The anchor and the four mproc variants run interleaved, round after
 * round, and each keeps its best round: drift on a shared machine then hits
 * all of them alike.  A short pause between runs lets the previous run's
 * idle threads (OpenMP's spin too) go to sleep first. */
static void tiny_map(const bench_ctx *ctx)
{
    size_t n = ctx->quick ? 1000000 : 10000000;
    int rounds = ctx->quick ? 2 : 5;
    long *in, *out;
    /* In shared memory: the figure is the scheduler's, not a copy's. */
    if (mp_shm_alloc(n * sizeof *in, (void **)&in) || mp_shm_alloc(n * sizeof *out, (void **)&out)) {
        fprintf(stderr, "tiny_map: %s\n", mp_last_error());
        return;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (long)i;
    const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };
    const size_t chunks[2] = { 1, 0 };
    mp_pool *pools[2] = { NULL, NULL };
    for (int b = 0; b < 2; b++)
        if (mp_pool_open(&pools[b], &(mp_pool_options){ .backend = backends[b], .workers = WORKERS })) {
            fprintf(stderr, "tiny_map: %s\n", mp_last_error());
            pools[b] = NULL;
        }
    double omp = 0, best[2][2] = { { 0, 0 }, { 0, 0 } };
    struct timespec pause = { 0, 20 * 1000 * 1000 };
    for (int r = 0; r < rounds; r++) {
        keep_best(&omp, time_openmp_squares(in, out, n));
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2 && pools[b]; c++) {
                nanosleep(&pause, NULL);
                keep_best(&best[b][c], time_map(pools[b], in, out, n, chunks[c]));
            }
        nanosleep(&pause, NULL);
    }
    double omp_rate = omp > 0 ? (double)n / omp : 0;
    for (int b = 0; b < 2; b++) {
        for (int c = 0; c < 2 && pools[b]; c++) {
            if (best[b][c] <= 0)
                continue;
            bench_row row = {
                .bench = "tiny_map", .backend = mp_backend_name(backends[b]), .workers = WORKERS,
                .chunksize = chunks[c], .value = (double)n / best[b][c], .unit = "tasks/s",
                .anchor = "openmp dynamic,1", .anchor_value = omp_rate,
                .goal = chunks[c] != 1 ? NULL : b == 0 ? "ratio >= 0.5" : "ratio >= 0.25",
            };
            bench_report(ctx, &row);
        }
        mp_pool_close(pools[b]);
    }
    mp_shm_free(in);
    mp_shm_free(out);
}

/* ---- progress: what a bar costs a tiny map -------------------------------- */

static void count_updates(uint64_t done, uint64_t total, void *arg)
{
    (void)done;
    (void)total;
    ++*(unsigned long *)arg;
}

/* tiny_map with automatic chunks, its progress reported (to a callback,
 * which is what a drawn bar costs the call: the thread, the finer claims,
 * the reads) against the same map without, interleaved and best of five. */
static void progress_cost(const bench_ctx *ctx)
{
    size_t n = ctx->quick ? 1000000 : 10000000;
    int rounds = ctx->quick ? 2 : 5;
    long *in, *out;
    if (mp_shm_alloc(n * sizeof *in, (void **)&in) || mp_shm_alloc(n * sizeof *out, (void **)&out)) {
        fprintf(stderr, "progress: %s\n", mp_last_error());
        return;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (long)i;
    const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };
    unsigned long updates = 0;
    struct timespec pause = { 0, 20 * 1000 * 1000 };
    for (int b = 0; b < 2; b++) {
        mp_pool *pool;
        if (mp_pool_open(&pool, &(mp_pool_options){ .backend = backends[b], .workers = WORKERS })) {
            fprintf(stderr, "progress: %s\n", mp_last_error());
            continue;
        }
        double best[2] = { 0, 0 };
        for (int r = 0; r < rounds; r++)
            for (int on = 0; on < 2; on++) {
                mp_call call = { .progress = { .mode = on ? MP_PROGRESS_ON : MP_PROGRESS_OFF,
                                               .fn = on ? count_updates : NULL, .arg = &updates } };
                nanosleep(&pause, NULL);
                double t0 = bench_now();
                if (mp_map(pool, square, in, n, sizeof *in, out, sizeof *out, &call) != 0) {
                    fprintf(stderr, "progress: %s\n", mp_last_error());
                    continue;
                }
                keep_best(&best[on], bench_now() - t0);
            }
        mp_pool_close(pool);
        if (best[0] <= 0 || best[1] <= 0)
            continue;
        bench_row row = {
            .bench = "progress", .backend = mp_backend_name(backends[b]), .workers = WORKERS, .chunksize = 0,
            .value = (double)n / best[1], .unit = "tasks/s", .anchor = "same map, no bar",
            .anchor_value = (double)n / best[0], .goal = "ratio >= 0.98",
            .note = "tiny_map, automatic chunks, progress callback on",
        };
        bench_report(ctx, &row);
    }
    mp_shm_free(in);
    mp_shm_free(out);
}

/* ---- pi ---------------------------------------------------------------- */

#define PI_TASKS 400
static uint64_t pi_per_task;

static int pi_task(mp_task *task, const void *in, void *out)
{
    (void)in;
    *(uint64_t *)out = pi_hits(mp_task_index(task), pi_per_task);
    return 0;
}

static void pi(const bench_ctx *ctx)
{
    pi_per_task = (ctx->quick ? 40000000 : 400000000) / PI_TASKS;
    uint64_t hits[PI_TASKS];
    int reps = ctx->quick ? 1 : 3;

    double serial = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        for (int i = 0; i < PI_TASKS; i++)
            hits[i] = pi_hits((uint64_t)i, pi_per_task);
        double t = bench_now() - t0;
        if (t < serial) serial = t;
    }
    double omp = -1;
#ifdef MPROC_BENCH_OPENMP
    omp = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        #pragma omp parallel for schedule(dynamic, 1) num_threads(WORKERS)
        for (int i = 0; i < PI_TASKS; i++)
            hits[i] = pi_hits((uint64_t)i, pi_per_task);
        double t = bench_now() - t0;
        if (t < omp) omp = t;
    }
#endif
    bench_report(ctx, &(bench_row){ .bench = "pi", .backend = "openmp", .workers = WORKERS, .value = omp,
                                    .unit = "s", .anchor = "serial loop", .anchor_value = serial,
                                    .lower_is_better = 1, .note = "the anchor's own speedup" });

    const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };
    for (int b = 0; b < 2; b++) {
        mp_pool *pool;
        if (mp_pool_open(&pool, &(mp_pool_options){ .backend = backends[b], .workers = WORKERS })) {
            fprintf(stderr, "pi: %s\n", mp_last_error());
            continue;
        }
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now();
            if (mp_map(pool, pi_task, NULL, PI_TASKS, 0, hits, sizeof *hits, NULL)) {
                fprintf(stderr, "pi: %s\n", mp_last_error());
                break;
            }
            double t = bench_now() - t0;
            if (t < best) best = t;
        }
        mp_pool_close(pool);
        const char *name = mp_backend_name(backends[b]);
        bench_report(ctx, &(bench_row){ .bench = "pi", .backend = name, .workers = WORKERS, .value = best,
                                        .unit = "s", .anchor = "serial loop", .anchor_value = serial,
                                        .lower_is_better = 1, .goal = "ratio (speedup) >= 1.9" });
        if (omp > 0)
            bench_report(ctx, &(bench_row){ .bench = "pi", .backend = name, .workers = WORKERS, .value = best,
                                            .unit = "s", .anchor = "openmp dynamic,1", .anchor_value = omp,
                                            .lower_is_better = 1, .goal = "ratio >= 0.952 (time <= 1.05x)" });
    }
}

BENCH_REGISTER("tiny_map", tiny_map)
BENCH_REGISTER("pi", pi)
BENCH_REGISTER("progress", progress_cost)
