/* async.c - benchmarks of futures and imap.
 *
 *   submit          10^5 round trips of mp_submit + mp_future_result, 2 workers,
 *                   vs Python's ProcessPoolExecutor.submit(...).result()
 *   imap_unordered  10^7 tiny tasks, chunksize 1, vs Python's
 *                   Pool.imap_unordered(chunksize=1)
 *   imap_memory     10^8 generated inputs through mp_imap: peak resident memory
 */
#include "bench.h"

#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>

#define WORKERS 2

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

static mp_pool *open_pool(mp_backend backend)
{
    mp_pool *pool;
    if (mp_pool_open(&pool, &(mp_pool_options){ .backend = backend, .workers = WORKERS })) {
        fprintf(stderr, "bench: %s\n", mp_last_error());
        return NULL;
    }
    return pool;
}

static const mp_backend backends[2] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };

static void submit(const bench_ctx *ctx)
{
    long n = ctx->quick ? 20000 : 100000;
    double python = bench_python_anchor("anchors.py", "submit", ctx->quick ? 1000 : 3000);
    for (int b = 0; b < 2; b++) {
        mp_pool *pool = open_pool(backends[b]);
        if (!pool)
            continue;
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            mp_future *f;
            long r;
            if (mp_submit(pool, square, &i, sizeof i, sizeof r, NULL, &f) ||
                mp_future_result(f, MP_FOREVER, &r, sizeof r) || r != i * i) {
                fprintf(stderr, "submit: %s\n", mp_last_error());
                break;
            }
            mp_future_free(f);
        }
        double rate = (double)n / (bench_now() - t0);
        mp_pool_close(pool);
        bench_report(ctx, &(bench_row){ .bench = "submit", .backend = mp_backend_name(backends[b]),
                                        .workers = WORKERS, .chunksize = 1, .value = rate, .unit = "tasks/s",
                                        .anchor = python > 0 ? "python ProcessPoolExecutor" : NULL,
                                        .anchor_value = python,
                                        .goal = b == 1 ? ">= 300000 tasks/s (about 50x python)" : NULL });
    }
}

static void imap_unordered(const bench_ctx *ctx)
{
    size_t n = ctx->quick ? 1000000 : 10000000;
    double python = bench_python_anchor("anchors.py", "imap_unordered", ctx->quick ? 20000 : 50000);
    long *in;
    if (mp_shm_alloc(n * sizeof *in, (void **)&in)) {
        fprintf(stderr, "imap_unordered: %s\n", mp_last_error());
        return;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (long)i;
    for (int b = 0; b < 2; b++) {
        mp_pool *pool = open_pool(backends[b]);
        if (!pool)
            continue;
        mp_imap *it;
        mp_imap_options o = { .order = MP_IMAP_UNORDERED, .chunksize = 1 };
        double t0 = bench_now();
        size_t got = 0;
        long r;
        if (mp_imap_open(pool, square, in, n, sizeof *in, NULL, NULL, sizeof r, &o, &it) == 0) {
            while (mp_imap_next(it, MP_FOREVER, &r, NULL, NULL) == 0)
                got++;
            mp_imap_free(it);
        }
        double t = bench_now() - t0;
        mp_pool_close(pool);
        if (got != n) {
            fprintf(stderr, "imap_unordered: got %zu of %zu results (%s)\n", got, n, mp_last_error());
            continue;
        }
        bench_report(ctx, &(bench_row){ .bench = "imap_unordered", .backend = mp_backend_name(backends[b]),
                                        .workers = WORKERS, .chunksize = 1, .value = (double)n / t,
                                        .unit = "tasks/s",
                                        .anchor = python > 0 ? "python imap_unordered" : NULL,
                                        .anchor_value = python,
                                        .goal = b == 1 ? ">= 1000000 tasks/s" : NULL });
    }
    mp_shm_free(in);
}

static int next_long(void *state, void *in)
{
    long *next = state;
    if (*next == 0)
        return 0;
    *(long *)in = (*next)--;
    return 1;
}

static void imap_memory(const bench_ctx *ctx)
{
    long n = ctx->quick ? 10000000 : 100000000;
    mp_pool *pool = open_pool(MP_BACKEND_PROCESS);
    if (!pool)
        return;
    int reset = bench_reset_peak_rss();
    double before = bench_peak_rss_mib();
    long remaining = n, r;
    size_t got = 0;
    mp_imap *it;
    mp_imap_options o = { .chunksize = 1000 };
    double t0 = bench_now();
    if (mp_imap_open(pool, square, NULL, 0, sizeof(long), next_long, &remaining, sizeof r, &o, &it) == 0) {
        while (mp_imap_next(it, MP_FOREVER, &r, NULL, NULL) == 0)
            got++;
        mp_imap_free(it);
    }
    double t = bench_now() - t0;
    mp_pool_close(pool);
    char note[128];
    snprintf(note, sizeof note, "%zu results in %.1f s; RSS at the start %.1f MiB%s", got, t, before,
             reset ? " (peak could not be reset: includes earlier benchmarks)" : "");
    bench_report(ctx, &(bench_row){ .bench = "imap_memory", .backend = "process", .workers = WORKERS,
                                    .chunksize = 1000, .value = bench_peak_rss_mib(), .unit = "MiB",
                                    .lower_is_better = 1, .goal = "<= 64 MiB", .note = note });
}

BENCH_REGISTER("submit", submit)
BENCH_REGISTER("imap_unordered", imap_unordered)
BENCH_REGISTER("imap_memory", imap_memory)
