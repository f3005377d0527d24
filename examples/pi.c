/* pi.c - estimate pi by Monte Carlo, serially and on both pool backends.
 *
 * The samples are split into seeded tasks; each task counts the random
 * points that land inside the quarter circle.  mp_map runs the tasks and
 * returns the counts in task order, so the estimate is identical for any
 * number of workers and either backend -- only the time changes.
 *
 *   usage: pi [samples]        (default 400000000)
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

/* The task: in is unused (the task's index is its seed), out is its count. */
static int count_hits(mp_task *task, const void *in, void *out)
{
    (void)in;
    *(uint64_t *)out = pi_hits(mp_task_index(task), samples_per_task);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double estimate(const uint64_t *hits)
{
    uint64_t total = 0;
    for (int i = 0; i < TASKS; i++)
        total += hits[i];
    return 4.0 * (double)total / ((double)samples_per_task * TASKS);
}

/* Runs the tasks on a pool of the given backend; returns seconds, or -1. */
static double run_pool(mp_backend backend, uint64_t *hits, int *workers)
{
    mp_pool_options opts = { .backend = backend };
    mp_pool *pool;
    if (mp_pool_open(&pool, &opts) != 0) {
        fprintf(stderr, "pi: %s\n", mp_last_error());
        return -1;
    }
    *workers = mp_pool_workers(pool);
    double t0 = now();
    int r = mp_map(pool, count_hits, NULL, TASKS, 0, hits, sizeof *hits, NULL);
    double t = now() - t0;
    mp_pool_close(pool);
    if (r != 0) {
        fprintf(stderr, "pi: %s\n", mp_last_error());
        return -1;
    }
    return t;
}

int main(int argc, char **argv)
{
    uint64_t samples = argc > 1 ? strtoull(argv[1], NULL, 10) : UINT64_C(400000000);
    samples_per_task = samples / TASKS ? samples / TASKS : 1;
    printf("Monte Carlo pi: %llu samples in %d seeded tasks\n\n",
           (unsigned long long)(samples_per_task * TASKS), TASKS);
    printf("%-8s %7s %12s %10s %8s %8s\n", "run", "workers", "estimate", "error", "time", "speedup");

    static uint64_t hits[3][TASKS];
    double t0 = now();
    for (int i = 0; i < TASKS; i++)
        hits[0][i] = pi_hits((uint64_t)i, samples_per_task);
    double serial = now() - t0;
    double pi0 = estimate(hits[0]);
    printf("%-8s %7d %12.8f %10.2e %7.3fs %7.2fx\n", "serial", 1, pi0, fabs(pi0 - M_PI), serial, 1.0);

    const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };
    int same = 1;
    for (int b = 0; b < 2; b++) {
        int workers = 0;
        double t = run_pool(backends[b], hits[b + 1], &workers);
        if (t < 0)
            return 1;
        double pi = estimate(hits[b + 1]);
        same &= pi == pi0;
        printf("%-8s %7d %12.8f %10.2e %7.3fs %7.2fx\n", mp_backend_name(backends[b]), workers, pi,
               fabs(pi - M_PI), t, serial / t);
    }
    printf("\nall three estimates identical: %s\n", same ? "yes" : "NO");
    return same ? 0 : 1;
}
