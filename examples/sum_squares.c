/* sum_squares.c - map-reduce: the sum of f(x) = x*x over 0..7, where each
 * f takes a while; the map runs on a pool of 4, the reduction (the sum) in
 * the caller (the tutorial's sum(p.map(f, L)) next to sum(map(f, L))).
 *
 *   usage: sum_squares [n]     0 .. n-1 (default 8)
 *
 * mp_map returns the squares in input order; adding them up is ordinary
 * serial code after it.  The same as a map-reduce: each task emits its
 * square under one key, and a combiner adds them up as they come
 * (mp_mapreduce_array; a word count is the same with a key per word).
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

/* The map of the map-reduce: one pair, key "sum", value the square. */
static int emit_square(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    long sq = f(*(const long *)in);
    return mp_emit(emit, "sum", 3, &sq);
}

static void add(void *acc, const void *value)
{
    *(long *)acc += *(const long *)value;
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
    long parallel = sum(squares, n); /* reduce */
    printf("parallel: sum = %ld in %.2f s\n", parallel, seconds_now() - start);

    start = seconds_now();
    mp_mapreduce mr = { .map = emit_square, .combine = add, .value_size = sizeof(long) };
    mp_mr_result result;
    check(mp_mapreduce_array(pool, &mr, L, (size_t)n, sizeof *L, &result));
    long reduced = result.count ? *(const long *)result.items[0].value : 0;   /* n == 0: no key at all */
    printf("map-reduce: sum = %ld in %.2f s\n", reduced, seconds_now() - start);
    mp_mr_result_free(&result);
    check(mp_pool_close(pool));

    free(L);
    free(squares);
    return serial == parallel && serial == reduced ? 0 : 1;
}
