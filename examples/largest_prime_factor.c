/* largest_prime_factor.c - the largest prime factor of ten numbers near
 * 1.9e20, with one apply_async per number, with one map_async, and in a
 * serial loop (the tutorial's findLargestPrimeFactor).
 *
 *   usage: largest_prime_factor [first [count]]
 *          (default: the tutorial's 188554848645154545454, 10 numbers)
 *
 * These numbers do not fit 64 bits (2^64 is about 1.8e19), so they are
 * unsigned __int128: an element of 16 bytes for mp_map like any other.
 * The Python version divides with `n /= i`, which turns n into a float and
 * prints rounded, wrong factors; integer arithmetic gives the exact ones.
 *
 * The method is the tutorial's trial division, stopped early once what is
 * left of n is a known prime: quick when at most one prime factor is large
 * (as for the tutorial's numbers), but minutes or more for a number with two prime
 * factors above 10^9 or so.  Such numbers need Pollard's rho.
 */
#include "example.h"

#include <stdint.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128; /* a GCC/clang extension */

/* (a * b) mod n for 64-bit values, through a 128-bit product. */
static uint64_t mul_mod(uint64_t a, uint64_t b, uint64_t n)
{
    return (uint64_t)((u128)a * b % n);
}

static uint64_t pow_mod(uint64_t base, uint64_t exp, uint64_t n)
{
    uint64_t result = 1;
    for (base %= n; exp; exp >>= 1, base = mul_mod(base, base, n))
        if (exp & 1)
            result = mul_mod(result, base, n);
    return result;
}

/* 1 if n is a strong probable prime to base a, where n - 1 = d * 2^s. */
static int strong_probable_prime(uint64_t n, uint64_t a, uint64_t d, int s)
{
    uint64_t x = pow_mod(a, d, n);
    if (x == 1 || x == n - 1)
        return 1;
    for (int r = 1; r < s; r++) {
        x = mul_mod(x, x, n);
        if (x == n - 1)
            return 1;
    }
    return 0;
}

/* Miller-Rabin with the first twelve primes as bases, which is exact for
 * every n below 2^64. */
static int is_prime_u64(uint64_t n)
{
    static const uint64_t bases[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    const size_t nbases = sizeof bases / sizeof *bases;
    if (n < 2)
        return 0;
    for (size_t i = 0; i < nbases; i++)
        if (n % bases[i] == 0)
            return n == bases[i];
    uint64_t d = n - 1;
    int s = 0;
    for (; d % 2 == 0; d /= 2)
        s++;
    for (size_t i = 0; i < nbases; i++)
        if (!strong_probable_prime(n, bases[i], d, s))
            return 0;
    return 1;
}

/* 1 if n is known to be prime: it fits 64 bits and passes the test above.
 * Larger cofactors are left to the trial division. */
static int known_prime(u128 n)
{
    return n <= UINT64_MAX && is_prime_u64((uint64_t)n);
}

/* Trial division by 2, 3, 5, 7, 9, ...; it stops as soon as what is left
 * is a known prime, so numbers with one huge prime factor finish at once. */
static u128 largest_prime_factor(u128 n)
{
    u128 largest = 1;
    if (known_prime(n))
        return n;
    for (uint64_t d = 2; (u128)d * d <= n; d += d == 2 ? 1 : 2) {
        if (n % d != 0)
            continue;
        while (n % d == 0)
            n /= d;
        largest = d;
        if (known_prime(n))
            break;
    }
    return n > 1 ? n : largest;
}

static int largest_factor_task(mp_task *task, const void *in, void *out)
{
    (void)task;
    *(u128 *)out = largest_prime_factor(*(const u128 *)in);
    return 0;
}

/* Decimal text of n, in a buffer of 40 bytes. */
static const char *u128_text(u128 n, char buf[40])
{
    char *p = buf + 39;
    *p = '\0';
    do
        *--p = (char)('0' + (int)(n % 10));
    while ((n /= 10) != 0);
    return p;
}

/* Parses a decimal number below 2^128; 0 on success, -1 if malformed. */
static int u128_parse(const char *s, u128 *out)
{
    u128 n = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > (~(u128)0 - (u128)(*s - '0')) / 10)
            return -1;
        n = n * 10 + (u128)(*s - '0');
    }
    *out = n;
    return 0;
}

int main(int argc, char **argv)
{
    u128 first;
    if (u128_parse(argc > 1 ? argv[1] : "188554848645154545454", &first) != 0) {
        fprintf(stderr, "usage: largest_prime_factor [first [count]]\n");
        return 2;
    }
    long count = count_arg(argc, argv, 2, 10);
    size_t n = (size_t)count;
    u128 *numbers = allocate(n, sizeof *numbers);
    u128 *with_apply = allocate(n, sizeof *with_apply), *with_map = allocate(n, sizeof *with_map);
    mp_async **applied = allocate(n, sizeof *applied);
    for (size_t i = 0; i < n; i++)
        numbers[i] = first + i;

    char text[40];
    printf("largest prime factor of 6: %s\n", u128_text(largest_prime_factor(6), text));

    mp_pool *pool;
    check(mp_pool_open(&pool, &(mp_pool_options){ .workers = 4 }));
    /* One async call per number, and one async map over all of them: both
     * run at once on the pool while this thread goes on. */
    for (size_t i = 0; i < n; i++)
        check(mp_apply_async(pool, largest_factor_task, &numbers[i], sizeof *numbers, &with_apply[i],
                             sizeof *with_apply, NULL, &applied[i]));
    mp_async *mapped;
    check(mp_map_async(pool, largest_factor_task, numbers, n, sizeof *numbers, with_map, sizeof *with_map, NULL,
                       &mapped));
    for (size_t i = 0; i < n; i++) {
        check(mp_async_get(applied[i], MP_FOREVER, NULL));
        mp_async_free(applied[i]);
    }
    check(mp_async_get(mapped, MP_FOREVER, NULL));
    mp_async_free(mapped);
    check(mp_pool_close(pool));

    int agree = 1;
    for (size_t i = 0; i < n; i++) {
        u128 serial = largest_prime_factor(numbers[i]);
        agree &= serial == with_apply[i] && serial == with_map[i];
        printf("%s: ", u128_text(numbers[i], text));
        printf("%s\n", u128_text(serial, text));
    }
    printf("apply_async, map_async and the serial loop agree: %s\n", agree ? "yes" : "NO");

    free(numbers);
    free(with_apply);
    free(with_map);
    free(applied);
    return agree ? 0 : 1;
}
