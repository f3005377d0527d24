/* imap_squares.c - results one by one as they become available: imap in
 * input order, imap_unordered in the order the tasks finish (the
 * tutorial's Pool.imap and Pool.imap_unordered over slow_square).
 *
 *   usage: imap_squares [n]     squares of 0 .. n-1 (default 10)
 *
 * The inputs come from a generator, called when the iterator needs more
 * (Python's range): only a window of them is ever in flight, so n may be
 * as large as you like and memory stays constant.
 */
#include "example.h"

/* Slow for small numbers, quick for large ones: late inputs overtake
 * early ones. */
static int slow_square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    pause_for(0.001 * (double)(10 - x % 10));
    *(long *)out = x * x;
    return 0;
}

typedef struct range {
    long next, end;
} range;

/* The generator: 1 and the next number, or 0 at the end. */
static int next_number(void *state, void *in)
{
    range *r = state;
    if (r->next == r->end)
        return 0;
    *(long *)in = r->next++;
    return 1;
}

static void run(mp_pool *pool, long n, mp_imap_order order)
{
    range numbers = { 0, n };
    mp_imap *it;
    check(mp_imap_open(pool, slow_square, NULL, 0, sizeof(long), next_number, &numbers, sizeof(long),
                       &(mp_imap_options){ .order = order }, &it));
    long square;
    size_t index;
    int r;
    while ((r = mp_imap_next(it, MP_FOREVER, &square, &index, NULL)) == 0)
        printf("  %zu^2 = %ld\n", index, square);
    mp_imap_free(it);
    if (r != MP_EEOF) /* MP_EEOF: every result was taken */
        check(r);
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 10);
    mp_pool *pool;
    check(mp_pool_open(&pool, NULL));
    printf("imap (input order):\n");
    run(pool, n, MP_IMAP_ORDERED);
    printf("imap_unordered (completion order):\n");
    run(pool, n, MP_IMAP_UNORDERED);
    check(mp_pool_close(pool));
    return 0;
}
