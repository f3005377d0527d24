/* square_map.c - the same function on every element, first in a loop, then
 * on a pool of workers (the tutorials' first program: bar(x) = x*x over
 * foo = [0, 1, 2, 3, 4, 5], then multiprocessing.Pool(6).map).
 *
 *   usage: square_map [n]      squares 0 .. n-1 (default 6)
 *
 * mp_map is Pool.map: results come back in input order, whichever worker
 * ran each element.  MPROC_BACKEND=process runs the workers as processes,
 * as Python's Pool does; the default is threads.
 */
#include "example.h"

static long bar(long x)
{
    return x * x;
}

/* A task: one input element in, one output element out; 0 is success. */
static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    *(long *)out = bar(*(const long *)in);
    return 0;
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 6);
    long *foo = range_list(n), *result = allocate((size_t)n, sizeof *result);

    for (long i = 0; i < n; i++) /* the serial loop */
        result[i] = bar(foo[i]);
    print_list("serial:   ", result, n);

    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = 6 }));
    check(mp_map(pool, square, foo, (size_t)n, sizeof *foo, result, sizeof *result, NULL));
    check(mp_pool_close(pool));
    print_list("parallel: ", result, n);

    free(foo);
    free(result);
    return 0;
}
