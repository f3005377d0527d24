/* rng.c - the cost of a random number.
 *
 *   rng   nanoseconds per 64-bit output of the per-task generator
 *         (mp_rng_fill, and mp_rng_u64 one call per draw), of raw
 *         Philox4x32-10 (mp_philox4x32, two outputs per block), and of
 *         deriving a task's generator (mp_rng_init); against xoshiro256++
 *         and splitmix64 inlined into the loop, in the same run.
 * Each figure is the best of several rounds, the rounds of all generators
 * interleaved so that a busy spell hits them alike.
 */
#include "bench.h"

#include <mproc.h>

#include <stdint.h>
#include <stdio.h>

#define ROUNDS 7
#define BLOCK 1024

static volatile uint64_t sink;   /* keeps every loop's result alive */

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The anchors, inlined as a program would write them. */
static double time_xoshiro(size_t n)
{
    uint64_t s0 = 1, s1 = 2, s2 = 3, s3 = 4, acc = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        acc ^= rotl(s0 + s3, 23) + s0;
        uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
    }
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

static double time_splitmix(size_t n)
{
    uint64_t x = 1, acc = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        acc ^= z ^ (z >> 31);
    }
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

/* The per-task generator in bulk: what a task drawing many numbers uses. */
static double time_fill(size_t n)
{
    static uint64_t block[BLOCK];
    mp_rng rng;
    mp_rng_init(&rng, 1, 2);
    uint64_t acc = 0;
    double t0 = bench_now();
    for (size_t done = 0; done < n; done += BLOCK) {
        mp_rng_fill(&rng, block, BLOCK);
        for (size_t k = 0; k < BLOCK; k++)
            acc ^= block[k];
    }
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

static double time_u64(size_t n)
{
    mp_rng rng;
    mp_rng_init(&rng, 1, 2);
    uint64_t acc = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++)
        acc ^= mp_rng_u64(&rng);
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

/* Philox in counter mode: one block, two 64-bit outputs, per counter. */
static double time_philox(size_t n)
{
    const uint32_t key[2] = { 1, 2 };
    uint32_t ctr[4] = { 0, 0, 0, 0 }, out[4];
    uint64_t acc = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i += 2) {
        ctr[0] = (uint32_t)i;
        mp_philox4x32(ctr, key, out);
        acc ^= ((uint64_t)out[1] << 32 | out[0]) ^ ((uint64_t)out[3] << 32 | out[2]);
    }
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

/* A task's first call to mp_task_rng: one generator derived per stream. */
static double time_init(size_t n)
{
    mp_rng rng;
    uint64_t acc = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        mp_rng_init(&rng, 7, i);
        acc ^= rng.state[0];
    }
    double t = bench_now() - t0;
    sink ^= acc;
    return t;
}

enum { FILL, U64, PHILOX, INIT, XOSHIRO, SPLITMIX, NGEN };

static void rng(const bench_ctx *ctx)
{
    double (*const timers[NGEN])(size_t) = { time_fill, time_u64, time_philox, time_init, time_xoshiro,
                                             time_splitmix };
    const size_t n = ctx->quick ? (size_t)1 << 20 : (size_t)1 << 24;
    double best[NGEN];
    for (int g = 0; g < NGEN; g++)
        best[g] = 1e30;
    for (int r = 0; r < ROUNDS; r++)
        for (int g = 0; g < NGEN; g++) {
            size_t count = g == INIT ? n / 16 : n;   /* derivations cost more each */
            double ns = timers[g](count) * 1e9 / (double)count;
            if (ns < best[g])
                best[g] = ns;
        }
    const char *unit = "ns/u64";
    bench_report(ctx, &(bench_row){ .bench = "rng", .backend = "serial", .workers = 1, .value = best[FILL],
                                    .unit = unit, .anchor = "xoshiro256++ inline", .anchor_value = best[XOSHIRO],
                                    .lower_is_better = 1, .goal = "value <= 2 ns",
                                    .note = "per-task generator, mp_rng_fill" });
    bench_report(ctx, &(bench_row){ .bench = "rng", .backend = "serial", .workers = 1, .value = best[FILL],
                                    .unit = unit, .anchor = "splitmix64 inline", .anchor_value = best[SPLITMIX],
                                    .lower_is_better = 1, .note = "per-task generator, mp_rng_fill" });
    bench_report(ctx, &(bench_row){ .bench = "rng", .backend = "serial", .workers = 1, .value = best[U64],
                                    .unit = unit, .anchor = "xoshiro256++ inline", .anchor_value = best[XOSHIRO],
                                    .lower_is_better = 1, .note = "per-task generator, one mp_rng_u64 call a draw" });
    bench_report(ctx, &(bench_row){ .bench = "rng", .backend = "serial", .workers = 1, .value = best[PHILOX],
                                    .unit = unit, .anchor = "xoshiro256++ inline", .anchor_value = best[XOSHIRO],
                                    .lower_is_better = 1, .note = "raw Philox4x32-10, mp_philox4x32" });
    bench_report(ctx, &(bench_row){ .bench = "rng", .backend = "serial", .workers = 1, .value = best[INIT],
                                    .unit = "ns/init", .note = "deriving a task's generator, mp_rng_init" });
}

BENCH_REGISTER("rng", rng)
