/* pi.c - estimate pi by Monte Carlo, serially and on both pool backends.
 *
 * The samples are split into tasks; each task counts the random points
 * that land inside the quarter circle.  A task draws from its own random
 * stream, mp_task_rng(task), which depends only on the call's seed and the
 * task's index -- not on the worker, the backend or the chunk size -- so
 * every run prints the same count of hits.  Only the time changes.
 *
 *   usage: pi [samples [chunksize]]    (default 400000000, automatic chunks)
 *   MPROC_WORKERS sets the number of workers (default: every usable CPU).
 */
#include <mproc.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pi_task.h"

#define TASKS 400

static uint64_t samples_per_task;

/* The task: in is unused, out is its count of hits. */
static int count_hits(mp_task *task, const void *in, void *out)
{
    (void)in;
    *(uint64_t *)out = pi_count(mp_task_rng(task), samples_per_task);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t total(const uint64_t *hits)
{
    uint64_t sum = 0;
    for (int i = 0; i < TASKS; i++)
        sum += hits[i];
    return sum;
}

/* Runs the tasks on a pool of the given backend; returns seconds, or -1. */
static double run_pool(mp_backend backend, size_t chunksize, uint64_t *hits, int *workers)
{
    mp_pool_options opts = { .backend = backend };
    mp_pool *pool;
    if (mp_pool_open(&pool, &opts) != 0) {
        fprintf(stderr, "pi: %s\n", mp_last_error());
        return -1;
    }
    *workers = mp_pool_workers(pool);
    mp_call call = { .seed = PI_SEED, .chunksize = chunksize };
    double t0 = now();
    int r = mp_map(pool, count_hits, NULL, TASKS, 0, hits, sizeof *hits, &call);
    double t = now() - t0;
    mp_pool_close(pool);
    if (r != 0) {
        fprintf(stderr, "pi: %s\n", mp_last_error());
        return -1;
    }
    return t;
}

static void report(const char *run, int workers, uint64_t hits, double seconds, double serial)
{
    double pi = 4.0 * (double)hits / ((double)samples_per_task * TASKS);
    printf("%-8s %7d %12llu %12.9f %10.2e %7.3fs %7.2fx\n", run, workers, (unsigned long long)hits, pi,
           fabs(pi - M_PI), seconds, serial / seconds);
}

int main(int argc, char **argv)
{
    uint64_t samples = argc > 1 ? strtoull(argv[1], NULL, 10) : UINT64_C(400000000);
    size_t chunksize = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 0;
    samples_per_task = samples / TASKS ? samples / TASKS : 1;
    printf("Monte Carlo pi: %llu samples in %d tasks, seed %d\n\n",
           (unsigned long long)(samples_per_task * TASKS), TASKS, PI_SEED);
    printf("%-8s %7s %12s %12s %10s %8s %8s\n", "run", "workers", "hits", "estimate", "error", "time",
           "speedup");

    /* Serially, outside any pool: task i's stream is (PI_SEED, i). */
    static uint64_t hits[3][TASKS];
    double t0 = now();
    for (int i = 0; i < TASKS; i++)
        hits[0][i] = pi_hits((uint64_t)i, samples_per_task);
    double serial = now() - t0;
    report("serial", 1, total(hits[0]), serial, serial);

    const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };
    int same = 1;
    for (int b = 0; b < 2; b++) {
        int workers = 0;
        double t = run_pool(backends[b], chunksize, hits[b + 1], &workers);
        if (t < 0)
            return 1;
        same &= total(hits[b + 1]) == total(hits[0]);
        report(mp_backend_name(backends[b]), workers, total(hits[b + 1]), t, serial);
    }
    printf("\nall three estimates identical: %s\n", same ? "yes" : "NO");
    return same ? 0 : 1;
}
