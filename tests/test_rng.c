/* labels: unit;rng */
/* test_rng.c - reproducible random streams: Philox4x32-10 bit for bit
 * against Random123, the per-task generator's draws, and streams that do
 * not depend on workers, backend, chunk size or schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "support.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The oracle: Random123's own Philox (Debian's librandom123-dev, installed
 * by scripts/deps.sh test). */
#if defined(__has_include)
#if __has_include(<Random123/philox.h>)
#include <Random123/philox.h>
#define HAVE_RANDOM123 1
#endif
#endif

/* Test inputs only: splitmix64 spreads a counter over 64 bits. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- Philox4x32-10 ------------------------------------------------------ */

/* Random123's published known-answer vectors (kat_vectors, the three
 * "philox4x32 10" lines): counter, key, expected output. */
static void test_philox_known_answers(void **state)
{
    (void)state;
    static const struct { uint32_t ctr[4], key[2], want[4]; } kat[] = {
        { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        assert_int_equal(mp_philox4x32(kat[i].ctr, kat[i].key, out), 0);
        assert_memory_equal(out, kat[i].want, sizeof out);
    }
}

static void test_philox_matches_random123(void **state)
{
    (void)state;
#ifdef HAVE_RANDOM123
    uint64_t x = 12345;
    for (int i = 0; i < 100000; i++) {
        philox4x32_ctr_t c;
        philox4x32_key_t k;
        for (int w = 0; w < 4; w++)
            c.v[w] = (uint32_t)splitmix(&x);
        k.v[0] = (uint32_t)splitmix(&x);
        k.v[1] = (uint32_t)splitmix(&x);
        /* Sparse counters too: the streams mproc derives are mostly zeros. */
        if (i % 4 == 0)
            c.v[1] = 0, c.v[0] &= 1;
        philox4x32_ctr_t want = philox4x32(c, k);
        uint32_t got[4];
        assert_int_equal(mp_philox4x32(c.v, k.v, got), 0);
        if (memcmp(got, want.v, sizeof got))
            fail_msg("philox mismatch at case %d: ctr %08x %08x %08x %08x key %08x %08x", i, c.v[0], c.v[1],
                     c.v[2], c.v[3], k.v[0], k.v[1]);
    }
#else
    fail_msg("Random123 headers missing: install librandom123-dev (scripts/deps.sh test)");
#endif
}

/* The documented derivation: the state is the Philox blocks of counters
 * (0, 0, stream) and (1, 0, stream) under the key `seed`. */
static void test_rng_state_is_documented_philox_blocks(void **state)
{
    (void)state;
    uint64_t x = 99;
    for (int i = 0; i < 1000; i++) {
        uint64_t seed = i % 3 ? splitmix(&x) : (uint64_t)i, stream = i % 2 ? splitmix(&x) : (uint64_t)i;
        mp_rng rng;
        assert_int_equal(mp_rng_init(&rng, seed, stream), 0);
        const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
        for (uint32_t b = 0; b < 2; b++) {
            const uint32_t ctr[4] = { b, 0, (uint32_t)stream, (uint32_t)(stream >> 32) };
            uint32_t w[4];
            mp_philox4x32(ctr, key, w);
            assert_true(rng.state[2 * b] == ((uint64_t)w[1] << 32 | w[0]));
            assert_true(rng.state[2 * b + 1] == ((uint64_t)w[3] << 32 | w[2]));
        }
    }
}

/* xoshiro256++ as its authors define it, restated here as the oracle of
 * the draws. */
static uint64_t rotl(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

static uint64_t xoshiro_reference(uint64_t s[4])
{
    uint64_t result = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void test_draws_follow_xoshiro_and_fill_agrees(void **state)
{
    (void)state;
    mp_rng a, b;
    mp_rng_init(&a, 7, 3);
    uint64_t ref[4];
    memcpy(ref, a.state, sizeof ref);
    b = a;
    static uint64_t filled[1000];
    assert_int_equal(mp_rng_fill(&b, filled, 1000), 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t want = xoshiro_reference(ref);
        assert_true(mp_rng_u64(&a) == want);
        assert_true(filled[i] == want);
    }
    assert_memory_equal(a.state, b.state, sizeof a.state);
    assert_int_equal(mp_rng_fill(&b, NULL, 0), 0);
}

static void test_streams_replay_and_differ(void **state)
{
    (void)state;
    mp_rng a, b, c, d;
    mp_rng_init(&a, 1, 2);
    mp_rng_init(&b, 1, 2);
    mp_rng_init(&c, 1, 3);
    mp_rng_init(&d, 2, 2);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = mp_rng_u64(&a);
        assert_true(x == mp_rng_u64(&b));
        same_c += x == mp_rng_u64(&c);
        same_d += x == mp_rng_u64(&d);
    }
    assert_int_equal(same_c, 0);
    assert_int_equal(same_d, 0);
}

/* ---- doubles, bounded integers, normals -------------------------------- */

static void test_doubles_in_unit_interval(void **state)
{
    (void)state;
    mp_rng rng;
    mp_rng_init(&rng, 11, 0);
    const int n = 1000000;
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = mp_rng_double(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        assert_true(u * 0x1.0p53 == floor(u * 0x1.0p53));   /* on the 2^-53 grid */
        sum += u;
        sum2 += u * u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    assert_true(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n));
    assert_true(fabs(var - 1.0 / 12) < 0.001);
    assert_true(lo < 1e-5 && hi > 1 - 1e-5);
}

/* Lemire's method restated: the high word of x * bound, for the first x
 * whose low word is at least 2^64 mod bound. */
static uint64_t below_reference(uint64_t s[4], uint64_t bound)
{
    for (;;) {
        unsigned __int128 m = (unsigned __int128)xoshiro_reference(s) * bound;
        if ((uint64_t)m >= (uint64_t)((((unsigned __int128)1) << 64) % bound))
            return (uint64_t)(m >> 64);
    }
}

static void test_below_is_lemire_on_edge_bounds(void **state)
{
    (void)state;
    static const uint64_t bounds[] = { 1, 2, 3, 7, 1000, UINT64_C(1) << 32, (UINT64_C(1) << 32) + 1,
                                       UINT64_C(1) << 63, (UINT64_C(1) << 63) + 1, UINT64_MAX - 1, UINT64_MAX };
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        mp_rng rng;
        mp_rng_init(&rng, 5, b);
        uint64_t ref[4];
        memcpy(ref, rng.state, sizeof ref);
        for (int i = 0; i < 20000; i++) {
            uint64_t v = mp_rng_below(&rng, bounds[b]);
            assert_true(v < bounds[b]);
            if (v != below_reference(ref, bounds[b]))
                fail_msg("bound %llu draw %d: %llu", (unsigned long long)bounds[b], i, (unsigned long long)v);
        }
        /* Every rejected draw was consumed the same way. */
        assert_memory_equal(rng.state, ref, sizeof ref);
    }
    /* bound 0: the whole range, one draw. */
    mp_rng a, b;
    mp_rng_init(&a, 5, 99);
    b = a;
    assert_true(mp_rng_below(&a, 0) == mp_rng_u64(&b));
}

/* The worst bound for a modulo: x % (2^63 + 1) puts two thirds of the
 * results below 2^62.  Unbiased, it is one half. */
static void test_below_unbiased_where_modulo_is_not(void **state)
{
    (void)state;
    mp_rng rng;
    mp_rng_init(&rng, 17, 0);
    const int n = 200000;
    int low = 0;
    for (int i = 0; i < n; i++)
        low += mp_rng_below(&rng, (UINT64_C(1) << 63) + 1) < (UINT64_C(1) << 62);
    assert_true(fabs((double)low / n - 0.5) < 0.01);

    /* Small bound: a chi-square test over 6 values (5 degrees of freedom;
     * 25 is beyond the 0.9999 quantile). */
    long count[6] = { 0 };
    for (int i = 0; i < 600000; i++)
        count[mp_rng_below(&rng, 6)]++;
    double chi2 = 0;
    for (int k = 0; k < 6; k++)
        chi2 += (count[k] - 100000.0) * (count[k] - 100000.0) / 100000.0;
    assert_true(chi2 < 25);
    for (int i = 0; i < 1000; i++)
        assert_true(mp_rng_below(&rng, 1) == 0);
}

static void test_normal_moments(void **state)
{
    (void)state;
    mp_rng rng;
    mp_rng_init(&rng, 23, 0);
    const int n = 1000000;
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    int beyond3 = 0;
    for (int i = 0; i < n; i++) {
        double z = mp_rng_normal(&rng);
        assert_true(isfinite(z));
        m1 += z;
        m2 += z * z;
        m3 += z * z * z;
        m4 += z * z * z * z;
        beyond3 += fabs(z) > 3;
    }
    m1 /= n, m2 /= n, m3 /= n, m4 /= n;
    assert_true(fabs(m1) < 0.005);       /* sd of the mean: 0.001 */
    assert_true(fabs(m2 - 1) < 0.01);    /* sd: 0.0014 */
    assert_true(fabs(m3) < 0.02);        /* sd: 0.0024 */
    assert_true(fabs(m4 - 3) < 0.06);    /* sd: 0.0049 */
    /* P(|z| > 3) = 0.0027 */
    assert_true(fabs(beyond3 / (double)n - 0.0027) < 0.0005);

    /* The pair's second value is part of the state: a copy replays it. */
    mp_rng copy = rng;
    assert_true(mp_rng_normal(&copy) == mp_rng_normal(&rng));
    assert_true(mp_rng_normal(&copy) == mp_rng_normal(&rng));
}

static void test_bad_input(void **state)
{
    (void)state;
    uint32_t w[4] = { 0 }, k[2] = { 0 };
    uint64_t out[1];
    assert_int_equal(mp_rng_init(NULL, 1, 2), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "rng is NULL"));
    assert_int_equal(mp_philox4x32(NULL, k, w), MP_EINVAL);
    assert_int_equal(mp_philox4x32(w, NULL, w), MP_EINVAL);
    assert_int_equal(mp_philox4x32(w, k, NULL), MP_EINVAL);
    assert_int_equal(mp_rng_fill(NULL, out, 1), MP_EINVAL);
    mp_rng rng;
    mp_rng_init(&rng, 1, 2);
    mp_rng before = rng;
    assert_int_equal(mp_rng_fill(&rng, NULL, 1), MP_EINVAL);
    assert_memory_equal(rng.state, before.state, sizeof rng.state);   /* changes nothing */
    assert_true(rng.has_spare == before.has_spare);
    mp_set_error(0, "none");
    assert_true(mp_rng_u64(NULL) == 0);
    assert_non_null(strstr(mp_last_error(), "mp_rng_u64: rng is NULL"));
    assert_true(mp_rng_double(NULL) == 0);
    assert_true(mp_rng_below(NULL, 5) == 0);
    assert_true(mp_rng_normal(NULL) == 0);
    assert_null(mp_task_rng(NULL));
    assert_non_null(strstr(mp_last_error(), "mp_task_rng"));
}

/* ---- streams in pools -------------------------------------------------- */

/* What a task reports of its stream: its first draw, a draw after asking
 * for the generator again (the same generator, where the task left it),
 * and a normal. */
typedef struct draws {
    uint64_t first, second;
    double normal;
} draws;

static int draw_task(mp_task *task, const void *in, void *out)
{
    (void)in;
    draws *d = out;
    d->first = mp_rng_u64(mp_task_rng(task));
    d->second = mp_rng_u64(mp_task_rng(task));
    d->normal = mp_rng_normal(mp_task_rng(task));
    return 0;
}

static int draw_star_task(mp_task *task, const void *const *in, void *out)
{
    return draw_task(task, in[0], out);
}

static draws expected(uint64_t seed, uint64_t stream)
{
    mp_rng rng;
    mp_rng_init(&rng, seed, stream);
    draws d;
    d.first = mp_rng_u64(&rng);
    d.second = mp_rng_u64(&rng);
    d.normal = mp_rng_normal(&rng);
    return d;
}

static void assert_stream(const draws *got, uint64_t seed, uint64_t stream, const char *what)
{
    draws want = expected(seed, stream);
    if (memcmp(got, &want, sizeof want))
        fail_msg("%s: not the draws of stream (%llu, %llu)", what, (unsigned long long)seed,
                 (unsigned long long)stream);
}

#define MAP_TASKS 300

static void test_map_streams_independent_of_schedule(void **state)
{
    (void)state;
    static const size_t chunks[] = { 0, 1, 7, 1000 };
    static draws out[MAP_TASKS];
    FOR_EACH_BACKEND(backend) {
        for (int workers = 1; workers <= 3; workers++) {
            mp_pool *pool = open_pool(backend, workers);
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                mp_call call = { .chunksize = chunks[c], .seed = 42 };
                memset(out, 0, sizeof out);
                assert_int_equal(mp_map(pool, draw_task, NULL, MAP_TASKS, 0, out, sizeof *out, &call), 0);
                char what[96];
                for (size_t i = 0; i < MAP_TASKS; i++) {
                    snprintf(what, sizeof what, "%s, %d workers, chunk %zu, task %zu",
                             mp_backend_name(backend), workers, chunks[c], i);
                    assert_stream(&out[i], 42, i, what);
                }
            }
            /* A first stream other than 0; the default seed is 0. */
            mp_call offset = { .stream = 1000 };
            assert_int_equal(mp_map(pool, draw_task, NULL, 10, 0, out, sizeof *out, &offset), 0);
            for (size_t i = 0; i < 10; i++)
                assert_stream(&out[i], 0, 1000 + i, "mp_call.stream");
            /* starmap: the same rule. */
            static const int ones[4] = { 1, 1, 1, 1 };
            mp_array arg = { ones, 4, sizeof ones[0] };
            mp_call seeded = { .seed = 3 };
            assert_int_equal(mp_starmap(pool, draw_star_task, &arg, 1, out, sizeof *out, &seeded), 0);
            for (size_t i = 0; i < 4; i++)
                assert_stream(&out[i], 3, i, "starmap");
            mp_pool_close(pool);
        }
    }
}

/* apply, apply_async and submit are one-task calls: without a stream of
 * their own they take the pool's next number, so repeated calls do not
 * repeat their random numbers. */
static void test_one_task_calls_get_numbered_streams(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(backend) {
        mp_pool *pool = open_pool(backend, 2);
        draws d;
        for (uint64_t n = 0; n < 3; n++) {
            assert_int_equal(mp_apply(pool, draw_task, NULL, 0, &d, sizeof d, NULL), 0);
            assert_stream(&d, 0, n, "mp_apply");
        }
        mp_async *async;
        assert_int_equal(mp_apply_async(pool, draw_task, NULL, 0, &d, sizeof d, &(mp_call){ .seed = 5 }, &async), 0);
        assert_int_equal(mp_async_get(async, MP_FOREVER, NULL), 0);
        mp_async_free(async);
        assert_stream(&d, 5, 3, "mp_apply_async");

        /* A named stream is used as given and takes no number. */
        mp_call named = { .seed = 9, .stream = 77, .stream_set = 1 };
        assert_int_equal(mp_apply(pool, draw_task, NULL, 0, &d, sizeof d, &named), 0);
        assert_stream(&d, 9, 77, "mp_apply with a named stream");

        mp_future *f[5];
        for (int i = 0; i < 5; i++)
            assert_int_equal(mp_submit(pool, draw_task, NULL, 0, sizeof d, &(mp_call){ .seed = 9 }, &f[i]), 0);
        mp_future *g;
        assert_int_equal(mp_submit(pool, draw_task, NULL, 0, sizeof d, &named, &g), 0);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(mp_future_result(f[i], MP_FOREVER, &d, sizeof d), 0);
            assert_stream(&d, 9, 4 + (uint64_t)i, "mp_submit");
            mp_future_free(f[i]);
        }
        assert_int_equal(mp_future_result(g, MP_FOREVER, &d, sizeof d), 0);
        assert_stream(&d, 9, 77, "mp_submit with a named stream");
        mp_future_free(g);

        /* A map does not take numbers: task i is stream i. */
        draws m[2];
        assert_int_equal(mp_map(pool, draw_task, NULL, 2, 0, m, sizeof *m, NULL), 0);
        assert_stream(&m[1], 0, 1, "mp_map after submissions");
        assert_int_equal(mp_submit(pool, draw_task, NULL, 0, sizeof d, NULL, &g), 0);
        assert_int_equal(mp_future_result(g, MP_FOREVER, &d, sizeof d), 0);
        assert_stream(&d, 0, 9, "mp_submit after a map");
        mp_future_free(g);
        mp_pool_close(pool);
    }
}

static void test_imap_streams_follow_input_index(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(backend) {
        mp_pool *pool = open_pool(backend, 3);
        mp_imap_options opts = { .order = MP_IMAP_UNORDERED, .chunksize = 2, .seed = 31 };
        mp_imap *it;
        assert_int_equal(mp_imap_open(pool, draw_task, NULL, 40, 0, NULL, NULL, sizeof(draws), &opts, &it), 0);
        draws d;
        size_t index, seen = 0;
        int r;
        while ((r = mp_imap_next(it, MP_FOREVER, &d, &index, NULL)) == 0) {
            assert_stream(&d, 31, index, "imap");
            seen++;
        }
        assert_int_equal(r, MP_EEOF);
        assert_int_equal(seen, 40);
        mp_imap_free(it);
        mp_pool_close(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_philox_matches_random123),
        cmocka_unit_test(test_rng_state_is_documented_philox_blocks),
        cmocka_unit_test(test_draws_follow_xoshiro_and_fill_agrees),
        cmocka_unit_test(test_streams_replay_and_differ),
        cmocka_unit_test(test_doubles_in_unit_interval),
        cmocka_unit_test(test_below_is_lemire_on_edge_bounds),
        cmocka_unit_test(test_below_unbiased_where_modulo_is_not),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_map_streams_independent_of_schedule),
        cmocka_unit_test(test_one_task_calls_get_numbered_streams),
        cmocka_unit_test(test_imap_streams_follow_input_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
