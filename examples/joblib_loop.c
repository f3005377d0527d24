/* joblib_loop.c - a parallel for loop (the tutorial's joblib
 * Parallel(n_jobs=8)(delayed(f)(x) for x in range(8))).
 *
 *   usage: joblib_loop [n]     x from 0 to n-1 (default 8)
 *
 * The loop variable needs no input array: with `in` NULL, each task takes
 * its x from mp_task_index, its position in the loop.  Results come back
 * in loop order.
 */
#include "example.h"

static int f(mp_task *task, const void *in, void *out)
{
    (void)in;
    long x = (long)mp_task_index(task);
    pause_for(0.05); /* the tutorial's sleep(1), shortened */
    *(long *)out = x * x;
    return 0;
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 8);
    long *results = allocate((size_t)n, sizeof *results);
    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = 8 })); /* n_jobs=8 */
    check(mp_map(pool, f, NULL, (size_t)n, 0, results, sizeof *results, NULL));
    check(mp_pool_close(pool));
    print_list("", results, n);
    free(results);
    return 0;
}
