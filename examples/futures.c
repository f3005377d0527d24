/* futures.c - irregular work: submit tasks as they come, react to each as
 * it finishes, and stream a large input through imap_unordered.
 *
 * Part 1 submits ten "jobs" of uneven length as futures, attaches a done
 * callback to each (run on the pool's own thread), and waits for them all.
 * Part 2 tests n numbers (two million by default) for primality through
 * mp_imap_unordered, printing progress as results arrive in completion
 * order; only a small window of inputs is in flight at any time.
 *
 *   usage: futures [n]     part 2 tests 0 .. n-1 (default 2000000)
 */
#include "example.h"

#include <stdatomic.h>
#include <unistd.h>

/* A task of uneven length: job i sleeps (10 - i) ms and returns i * i. */
static int uneven_job(mp_task *task, const void *in, void *out)
{
    (void)task;
    long i = *(const long *)in;
    usleep((useconds_t)(10 - i) * 1000);
    *(long *)out = i * i;
    return 0;
}

static _Atomic int finished;

/* Runs on the pool's callback thread, once per future, when it finishes. */
static void announce(mp_future *future, void *arg)
{
    long r;
    if (mp_future_result(future, 0, &r, sizeof r) == 0)
        printf("  job %ld done: %ld\n", (long)(size_t)arg, r);
    atomic_fetch_add(&finished, 1);
}

/* Is n prime?  Output: 1 or 0. */
static int is_prime(mp_task *task, const void *in, void *out)
{
    (void)task;
    long n = *(const long *)in;
    int prime = n > 1;
    for (long d = 2; d * d <= n && prime; d++)
        prime = n % d != 0;
    *(int *)out = prime;
    return 0;
}

int main(int argc, char **argv)
{
    mp_pool *pool;
    if (mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS }) != 0) {
        fprintf(stderr, "futures: %s\n", mp_last_error());
        return 1;
    }

    printf("part 1: ten futures with done callbacks (later jobs are shorter)\n");
    mp_future *jobs[10];
    for (long i = 0; i < 10; i++) {
        if (mp_submit(pool, uneven_job, &i, sizeof i, sizeof(long), NULL, &jobs[i]) != 0 ||
            mp_future_add_done_callback(jobs[i], announce, (void *)(size_t)i) != 0) {
            fprintf(stderr, "futures: %s\n", mp_last_error());
            return 1;
        }
    }
    mp_wait(jobs, 10, MP_FOREVER, MP_ALL_COMPLETED, NULL);
    printf("  all %d callbacks ran\n", atomic_load(&finished));
    for (int i = 0; i < 10; i++)
        mp_future_free(jobs[i]);

    long n = count_arg(argc, argv, 1, 2000000);
    printf("part 2: primes below %ld through imap_unordered\n", n);
    long *numbers = range_list(n);
    mp_imap *it;
    mp_imap_options opts = { .order = MP_IMAP_UNORDERED, .chunksize = 1000 };
    if (mp_imap_open(pool, is_prime, numbers, (size_t)n, sizeof *numbers, NULL, NULL, sizeof(int), &opts, &it) != 0) {
        fprintf(stderr, "futures: %s\n", mp_last_error());
        return 1;
    }
    long primes = 0, seen = 0;
    int prime;
    while (mp_imap_next(it, MP_FOREVER, &prime, NULL, NULL) == 0) {
        primes += prime;
        if (++seen % (n / 4 ? n / 4 : 1) == 0)
            printf("  %ld of %ld results in, %ld primes so far\n", seen, n, primes);
    }
    mp_imap_free(it);
    free(numbers);
    printf("  %ld primes below %ld\n", primes, n);
    return mp_pool_close(pool) == 0 ? 0 : 1;
}
