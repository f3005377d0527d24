/* executor_map.c - the same map on processes and on threads (the
 * tutorial's list(ProcessPoolExecutor().map(f, range(8))) and
 * ThreadPoolExecutor().map).
 *
 *   usage: executor_map [n]    f over 0 .. n-1 (default 8)
 *
 * The backend is an option of the pool; the call is the same.  Worker
 * counts follow Python's executors: processes as many as CPUs, threads
 * min(32, CPUs + 4), since tasks that mostly wait (here: sleep) gain from
 * more workers than CPUs.
 */
#include "example.h"

static int f(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    pause_for(0.05); /* the tutorial's sleep(1), shortened */
    *(long *)out = x * x;
    return 0;
}

static void run(mp_backend backend, int workers, const long *xs, long n, long *results)
{
    double start = seconds_now();
    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .backend = backend, .workers = workers }));
    check(mp_map(pool, f, xs, (size_t)n, sizeof *xs, results, sizeof *results, NULL));
    check(mp_pool_close(pool));
    char label[64];
    snprintf(label, sizeof label, "%-7s x %2d, %.2f s: ", mp_backend_name(backend), workers, seconds_now() - start);
    print_list(label, results, n);
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 8);
    long *xs = range_list(n), *results = allocate((size_t)n, sizeof *results);
    int cpus = mp_cpu_count();
    run(MP_BACKEND_PROCESS, cpus, xs, n, results);
    run(MP_BACKEND_THREAD, cpus + 4 < 32 ? cpus + 4 : 32, xs, n, results);
    free(xs);
    free(results);
    return 0;
}
