/* smallest_prime_factor.c - the tutorial's exercise: with 40 concurrent
 * workers, draw 100 random numbers between one million and one billion
 * (one apply_async each, every draw taking a while), then find the
 * smallest prime factor of each with map_async.
 *
 *   usage: smallest_prime_factor [count [seed]]   (default 100 numbers, seed 1)
 *
 * Where the random numbers come from: each draw is a function of the seed
 * and the number's position only, so a run is reproducible whichever worker
 * makes each draw -- and process workers, which start as copies of one
 * program, do not all draw the same numbers.
 */
#include "example.h"

#include <stdint.h>

#define WORKERS 40
#define LOWEST 1000000
#define HIGHEST 1000000000

typedef struct draw {
    uint64_t seed;
    long position;
} draw;

/* splitmix64: a well-mixed 64-bit value for each input. */
static uint64_t mix(uint64_t z)
{
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A random number in [LOWEST, HIGHEST], after "a long computation". */
static int generate_random_number(mp_task *task, const void *in, void *out)
{
    (void)task;
    const draw *d = in;
    pause_for(0.02);
    uint64_t r = mix(d->seed * UINT64_C(0x100000001b3) + (uint64_t)d->position);
    *(long *)out = LOWEST + (long)(r % (HIGHEST - LOWEST + 1));
    return 0;
}

/* The smallest factor above 1 is always prime.  Trying divisors up to the
 * square root is enough: past it, n itself is prime. */
static int smallest_prime_factor(mp_task *task, const void *in, void *out)
{
    (void)task;
    long n = *(const long *)in, factor = n;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0) {
            factor = d;
            break;
        }
    *(long *)out = factor;
    return 0;
}

int main(int argc, char **argv)
{
    long count = count_arg(argc, argv, 1, 100);
    uint64_t seed = (uint64_t)count_arg(argc, argv, 2, 1);
    long *numbers = allocate((size_t)count, sizeof *numbers), *factors = allocate((size_t)count, sizeof *factors);
    mp_async **draws = allocate((size_t)count, sizeof *draws);

    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = WORKERS }));
    printf("%d %s workers\n", mp_pool_workers(pool), mp_backend_name(mp_pool_backend(pool)));
    for (long i = 0; i < count; i++) {
        draw d = { seed, i };
        check(mp_apply_async(pool, generate_random_number, &d, sizeof d, &numbers[i], sizeof *numbers, NULL,
                             &draws[i]));
    }
    for (long i = 0; i < count; i++) {
        check(mp_async_get(draws[i], MP_FOREVER, NULL));
        mp_async_free(draws[i]);
    }

    mp_async *factoring;
    check(mp_map_async(pool, smallest_prime_factor, numbers, (size_t)count, sizeof *numbers, factors,
                       sizeof *factors, NULL, &factoring));
    check(mp_async_get(factoring, MP_FOREVER, NULL));
    mp_async_free(factoring);
    check(mp_pool_close(pool));

    for (long i = 0; i < count; i++)
        printf("%ld: %ld\n", numbers[i], factors[i]);
    free(numbers);
    free(factors);
    free(draws);
    return 0;
}
