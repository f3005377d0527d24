/* sum_squares.c - map-reduce: the sum of f(x) = x*x over 0..7, where each
 * f takes a while; the map runs on a pool of 4, the reduction (the sum) in
 * the caller (the tutorial's sum(p.map(f, L)) next to sum(map(f, L))).
 *
 *   usage: sum_squares [n]     0 .. n-1 (default 8)
 *
 * mp_map returns the squares in input order; adding them up is ordinary
 * serial code after it.
 */
#include "example.h"

static long f(long x)
{
    pause_for(0.05); /* the tutorial's sleep(1), shortened */
    return x * x;
}

static int f_task(mp_task *task, const void *in, void *out)
{
    (void)task;
    *(long *)out = f(*(const long *)in);
    return 0;
}

static long sum(const long *xs, long n)
{
    long total = 0;
    for (long i = 0; i < n; i++)
        total += xs[i];
    return total;
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 8);
    long *L = range_list(n), *squares = allocate((size_t)n, sizeof *squares);

    double start = seconds_now();
    long serial = 0;
    for (long i = 0; i < n; i++)
        serial += f(L[i]);
    printf("serial:   sum = %ld in %.2f s\n", serial, seconds_now() - start);

    start = seconds_now();
    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = 4 }));
    check(mp_map(pool, f_task, L, (size_t)n, sizeof *L, squares, sizeof *squares, NULL)); /* map */
    check(mp_pool_close(pool));
    long parallel = sum(squares, n); /* reduce */
    printf("parallel: sum = %ld in %.2f s\n", parallel, seconds_now() - start);

    free(L);
    free(squares);
    return serial == parallel ? 0 : 1;
}
