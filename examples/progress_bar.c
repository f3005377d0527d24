/* progress_bar.c - a progress bar over imap_unordered (the tutorial's
 * tqdm(pool.imap_unordered(f, xs), total=len(xs))), over a map, and over a
 * loop of one's own.
 *
 *   usage: progress_bar [n]     n slow tasks (default 200)
 *
 * One option in the call draws the bar on stderr when it is a terminal:
 * count, percentage, elapsed time, ETA and rate, ten times a second from
 * mproc's progress thread.  Any program gets bars without a rebuild:
 *
 *   MPROC_PROGRESS=1 ./build/examples/square_map
 *   MPROC_PROGRESS=force ./progress_bar 2>log    (drawn into a file too)
 */
#include "example.h"

/* About 5 ms of work on a number: a bar worth watching. */
static int slow_cube(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    pause_for(0.005);
    *(long *)out = x * x * x;
    return 0;
}

int main(int argc, char **argv)
{
    long n = count_arg(argc, argv, 1, 200);
    long *xs = range_list(n);
    mp_pool *pool;
    check(mp_pool_open(&pool, NULL));

    /* imap_unordered with a bar: it counts the results taken. */
    mp_imap *it;
    mp_imap_options opts = { .order = MP_IMAP_UNORDERED,
                             .progress = { .mode = MP_PROGRESS_ON, .label = "imap_unordered" } };
    check(mp_imap_open(pool, slow_cube, xs, (size_t)n, sizeof *xs, NULL, NULL, sizeof(long), &opts, &it));
    long cube, sum = 0;
    int r;
    while ((r = mp_imap_next(it, MP_FOREVER, &cube, NULL, NULL)) == 0)
        sum += cube;
    if (r != MP_EEOF)
        check(r);
    mp_imap_free(it);
    printf("sum of cubes (imap_unordered): %ld\n", sum);

    /* A map with a bar: it counts the tasks finished. */
    long *cubes = allocate((size_t)n, sizeof *cubes);
    check(mp_map(pool, slow_cube, xs, (size_t)n, sizeof *xs, cubes, sizeof *cubes,
                 &(mp_call){ .progress = { .mode = MP_PROGRESS_ON, .label = "map" } }));
    sum = 0;
    for (long i = 0; i < n; i++)
        sum += cubes[i];
    printf("sum of cubes (map): %ld\n", sum);
    check(mp_pool_close(pool));

    /* The same bar over a serial loop of one's own. */
    mp_bar *bar;
    check(mp_bar_open(&bar, (uint64_t)n, &(mp_progress){ .mode = MP_PROGRESS_ON, .label = "serial" }));
    sum = 0;
    for (long i = 0; i < n; i++) {
        long c;
        slow_cube(NULL, &xs[i], &c);
        sum += c;
        mp_bar_add(bar, 1);
    }
    mp_bar_close(bar);
    printf("sum of cubes (serial): %ld\n", sum);
    free(cubes);
    free(xs);
    return 0;
}
