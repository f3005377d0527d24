/* rng.c - reproducible random streams: Philox4x32-10 and the per-task
 * generator seeded from it.
 *
 * A stream is named by (seed, stream).  Philox4x32-10 (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC 2011) is a keyed
 * bijection of a 128-bit counter: under the key `seed`, the counters
 * (0, 0, stream) and (1, 0, stream) give 256 bits that depend on nothing
 * else.  Those bits become the state of a xoshiro256++ generator (Blackman
 * and Vigna), which makes the bulk draws at about a nanosecond each.
 * Distinct (seed, stream) pairs start at unrelated points of xoshiro's
 * 2^256 - 1 period, so two streams overlap only with negligible
 * probability even for 2^40 tasks drawing 2^64 numbers each.
 */
#include "internal.h"

#include <math.h>

/* Philox4x32 round multipliers and Weyl key increments (the published
 * constants). */
#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)
#define PHILOX_ROUNDS 10

static inline uint32_t mul_hi_lo(uint32_t a, uint32_t b, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *lo = (uint32_t)p;
    return (uint32_t)(p >> 32);
}

/* One Philox block: out = Philox4x32-10_key(ctr).  out may alias ctr. */
static void philox_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < PHILOX_ROUNDS; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint32_t lo0, lo1;
        uint32_t hi0 = mul_hi_lo(PHILOX_M0, c0, &lo0);
        uint32_t hi1 = mul_hi_lo(PHILOX_M1, c2, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

int mp_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    if (!counter || !key || !out)
        return mp__error(MP_EINVAL, "mp_philox4x32: %s is NULL", !counter ? "counter" : !key ? "key" : "out");
    philox_block(counter, key, out);
    return 0;
}

int mp_rng_init(mp_rng *rng, uint64_t seed, uint64_t stream)
{
    if (!rng)
        return mp__error(MP_EINVAL, "mp_rng_init: rng is NULL");
    const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    for (uint32_t block = 0; block < 2; block++) {
        const uint32_t ctr[4] = { block, 0, (uint32_t)stream, (uint32_t)(stream >> 32) };
        uint32_t w[4];
        philox_block(ctr, key, w);
        rng->state[2 * block] = (uint64_t)w[1] << 32 | w[0];
        rng->state[2 * block + 1] = (uint64_t)w[3] << 32 | w[2];
    }
    /* xoshiro's one forbidden state.  Reaching it takes a 2^-256 chance,
     * but a generator stuck at zero would be silent, so rule it out. */
    if (!(rng->state[0] | rng->state[1] | rng->state[2] | rng->state[3]))
        rng->state[0] = 1;
    rng->spare = 0;
    rng->has_spare = 0;
    return 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256++: one output, one step of the state. */
static inline uint64_t next(mp_rng *rng)
{
    uint64_t *s = rng->state;
    uint64_t result = rotl(s[0] + s[3], 23) + s[0];
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static MP__NOINLINE void null_rng(const char *who)
{
    mp__error(MP_EINVAL, "%s: rng is NULL", who);
}

uint64_t mp_rng_u64(mp_rng *rng)
{
    if (MP__UNLIKELY(!rng)) {
        null_rng("mp_rng_u64");
        return 0;
    }
    return next(rng);
}

int mp_rng_fill(mp_rng *rng, uint64_t *out, size_t n)
{
    if (!rng || (!out && n))
        return mp__error(MP_EINVAL, "mp_rng_fill: %s is NULL", rng ? "out" : "rng");
    /* A local copy of the state stays in registers through the loop. */
    mp_rng local = *rng;
    for (size_t i = 0; i < n; i++)
        out[i] = next(&local);
    *rng = local;
    return 0;
}

/* The top 53 bits as a multiple of 2^-53: every double of that grid in
 * [0, 1) equally likely, and 1.0 never. */
static inline double to_unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

double mp_rng_double(mp_rng *rng)
{
    if (MP__UNLIKELY(!rng)) {
        null_rng("mp_rng_double");
        return 0;
    }
    return to_unit(next(rng));
}

/* 64 x 64 -> 128-bit product, as (high, low). */
static inline uint64_t mul_64(uint64_t a, uint64_t b, uint64_t *lo)
{
#ifdef __SIZEOF_INT128__
    unsigned __int128 p = (unsigned __int128)a * b;
    *lo = (uint64_t)p;
    return (uint64_t)(p >> 64);
#else
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *lo = (mid << 32) | (uint32_t)p00;
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* Lemire's nearly divisionless method ("Fast random integer generation in
 * an interval", 2019): the high word of x * bound is the result, and the x
 * whose low word falls below 2^64 mod bound are drawn again.  That leaves
 * exactly floor(2^64 / bound) accepted x for every result: no modulo bias.
 * The division is paid only when the low word is small enough to need the
 * test. */
uint64_t mp_rng_below(mp_rng *rng, uint64_t bound)
{
    if (MP__UNLIKELY(!rng)) {
        null_rng("mp_rng_below");
        return 0;
    }
    if (bound == 0)
        return next(rng);   /* documented: the whole 64-bit range */
    uint64_t lo, hi = mul_64(next(rng), bound, &lo);
    if (lo < bound) {
        uint64_t threshold = (0 - bound) % bound;   /* 2^64 mod bound */
        while (lo < threshold)
            hi = mul_64(next(rng), bound, &lo);
    }
    return hi;
}

/* Marsaglia's polar method: a point drawn uniformly in the unit disc gives
 * two independent normals; the second is kept for the next call, so it is
 * part of the stream's state and replays identically. */
double mp_rng_normal(mp_rng *rng)
{
    if (MP__UNLIKELY(!rng)) {
        null_rng("mp_rng_normal");
        return 0;
    }
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * to_unit(next(rng)) - 1.0;
        v = 2.0 * to_unit(next(rng)) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double scale = sqrt(-2.0 * log(s) / s);
    rng->spare = v * scale;
    rng->has_spare = 1;
    return u * scale;
}
