/* which_worker.c - which worker handles each element, and in what order
 * (the tutorial's parallel_test, which prints x and os.getpid() from the
 * function that Pool(processes=6).map runs).
 *
 *   usage: which_worker [n]    elements 0 .. n-1 (default 6)
 *
 * With MPROC_BACKEND=process every worker is a process of its own, so the
 * pids differ; thread workers share the program's pid and differ by worker
 * number.  Either way the lines come out in the order the tasks ran, not in
 * input order.  (Python's Pool.map hands out one element per claim here;
 * mp_call.chunksize = 1 does the same.)
 */
#include "example.h"

/* Prints which worker runs it and returns that worker's pid. */
static int parallel_test(mp_task *task, const void *in, void *out)
{
    pause_for(0.02); /* some work, so that every worker gets a share */
    int pid = mp_process_current_pid();
    printf("x = %ld, pid = %d, worker %d\n", *(const long *)in, pid, mp_task_worker(task));
    /* A process worker's stdout is a buffer of its own: flush it now, or
     * the line waits there until the worker exits at mp_pool_close. */
    fflush(stdout);
    *(int *)out = pid;
    return 0;
}

/* How many distinct values the n pids hold. */
static long distinct(const int *pids, long n)
{
    long count = 0;
    for (long i = 0; i < n; i++) {
        long j = 0;
        while (j < i && pids[j] != pids[i])
            j++;
        count += j == i;
    }
    return count;
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 6);
    long *foo = range_list(n);
    int *pids = allocate((size_t)n, sizeof *pids);

    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = 6 }));
    printf("pool of %d %s workers; main program pid = %d\n", mp_pool_workers(pool),
           mp_backend_name(mp_pool_backend(pool)), mp_process_current_pid());
    fflush(stdout); /* before the workers' lines, which bypass this buffer */
    mp_call one_at_a_time = { .chunksize = 1 };
    check(mp_map(pool, parallel_test, foo, (size_t)n, sizeof *foo, pids, sizeof *pids, &one_at_a_time));
    check(mp_pool_close(pool));
    printf("%ld elements handled by %ld distinct process(es)\n", n, distinct(pids, n));

    free(foo);
    free(pids);
    return 0;
}
