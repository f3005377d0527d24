/* pi_workers.c - the tutorials' exercise: time Monte Carlo pi on 1, 2, ...
 * N workers and print the speedup and efficiency at each count.
 *
 *   usage: pi_workers [samples [max_workers]]   (default 100000000, 2 x CPUs)
 *          pi_workers --once [samples]          one run on MPROC_WORKERS workers
 *
 * The estimate is the same at every worker count (each task draws from its
 * own random stream).  For the plot -- measured speedup, the ideal line and
 * Amdahl's law fitted to the points -- time `--once` with mproc speedup:
 *
 *   mproc speedup --max 4 --svg pi-speedup.svg -- ./pi_workers --once
 *
 * (`make speedup-pi` does exactly that into build/pi-speedup.svg.)
 */
#include "example.h"
#include "pi_task.h"

#include <string.h>

#define TASKS 400

static uint64_t per_task;

static int count_hits(mp_task *task, const void *in, void *out)
{
    (void)in;
    *(uint64_t *)out = pi_count(mp_task_rng(task), per_task);
    return 0;
}

/* One run on a pool of `workers` (0: MPROC_WORKERS or every CPU); returns
 * the seconds the map took and the estimate. */
static double run(int workers, double *pi)
{
    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = workers }));
    uint64_t hits[TASKS];
    double start = seconds_now();
    check(mp_map(pool, count_hits, NULL, TASKS, 0, hits, sizeof hits[0], &(mp_call){ .seed = PI_SEED }));
    double seconds = seconds_now() - start;
    check(mp_pool_close(pool));
    uint64_t sum = 0;
    for (int i = 0; i < TASKS; i++)
        sum += hits[i];
    *pi = 4.0 * (double)sum / ((double)per_task * TASKS);
    return seconds;
}

int main(int argc, char **argv)
{
    int once = argc > 1 && strcmp(argv[1], "--once") == 0;
    long samples = count_arg(argc, argv, 1 + once, 100000000);
    per_task = (uint64_t)samples / TASKS ? (uint64_t)samples / TASKS : 1;
    double pi;
    if (once) {
        run(0, &pi);
        printf("pi ~ %.9f\n", pi);
        return 0;
    }
    long max_workers = count_arg(argc, argv, 2, 2 * mp_cpu_count());
    printf("%7s %9s %8s %10s %12s\n", "workers", "time", "speedup", "efficiency", "estimate");
    double one = 0;
    for (int k = 1; k <= max_workers; k++) {
        double t = run(k, &pi);
        if (k == 1)
            one = t;
        printf("%7d %8.3fs %7.2fx %9.0f%% %12.9f\n", k, t, one / t, 100 * one / t / k, pi);
    }
    printf("(%d usable CPUs: more workers than that only share them)\n", mp_cpu_count());
    return 0;
}
