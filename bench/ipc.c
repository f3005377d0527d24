/* ipc.c - benchmarks of the inter-process primitives against Python's
 * multiprocessing (bench/ipc_anchors.py), measured in the same run:
 *
 *   pipe_rtt_8B    8-byte round trip over mp_pipe     vs Pipe.send_bytes/recv_bytes
 *   pipe_1MiB      1 MiB messages one way, MiB/s      vs Pipe.send_bytes
 *   queue_rtt      8-byte round trip over two queues  vs two mp.Queue
 *   lock_handoff   a lock passed back and forth        vs mp.Lock
 *                  between two processes (strict turns)
 *
 * Each side of a round trip is a separate process.  The goals are about
 * both sides running at once; on a shared machine other work keeps
 * descheduling one side or the other, so round trips are timed in BATCHES
 * batches and the fastest batch is reported -- for mproc and for Python
 * alike, so the ratio stays fair. */
#include "bench.h"

#include "mproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCHES 20

/* --- Python anchors ---------------------------------------------------- */


static void report(const bench_ctx *ctx, const char *name, double value, const char *unit, const char *anchor,
                   double anchor_value, int lower_is_better, const char *goal, const char *note)
{
    bench_row row = {.bench = name, .backend = "process", .workers = 2, .value = value, .unit = unit,
                     .anchor = anchor_value > 0 ? anchor : NULL, .anchor_value = anchor_value,
                     .lower_is_better = lower_is_better, .goal = goal, .note = note};
    bench_report(ctx, &row);
}

static void finish(mp_process *p)
{
    if (mp_process_join(p, 60) != 0) {
        mp_process_kill(p);
        mp_process_join(p, MP_FOREVER);
    }
    mp_process_close(p);
}

/* --- pipe_rtt_8B --------------------------------------------------------- */

typedef struct pipe_job {
    mp_pipe *a, *b;
    int n;
} pipe_job;

static int pipe_echo(void *arg, size_t size)
{
    (void)size;
    pipe_job *j = arg;
    char buf[8];
    size_t n;
    for (int i = 0; i < j->n; i++)
        if (mp_pipe_recv(j->b, buf, sizeof buf, &n, 60) != 0 || mp_pipe_send(j->b, buf, n, 60) != 0)
            return 1;
    return 0;
}

/* Runs `warm` untimed round trips, then n timed ones in BATCHES batches;
 * returns the fastest batch's time per round trip in microseconds. */
static double fastest_batch_us(int n, int warm, int (*round_trip)(void *), void *state)
{
    double best = 1e9, t0 = 0;
    for (int i = 0; i < n + warm; i++) {
        if (i >= warm && (i - warm) % (n / BATCHES) == 0) {
            double t = bench_now();
            if (i > warm && t - t0 < best)
                best = t - t0;
            t0 = t;
        }
        if (round_trip(state) != 0)
            break;
    }
    if (bench_now() - t0 < best)
        best = bench_now() - t0;
    return best / (n / BATCHES) * 1e6;
}

static int pipe_round_trip(void *state)
{
    pipe_job *j = state;
    char msg[8] = "pingpong", buf[8];
    size_t got;
    return mp_pipe_send(j->a, msg, sizeof msg, 60) || mp_pipe_recv(j->a, buf, sizeof buf, &got, 60);
}

static void bench_pipe_rtt(const bench_ctx *ctx)
{
    int n = ctx->quick ? 20000 : 200000, warm = 1000;
    pipe_job j = {.n = n + warm};
    if (mp_pipe_create(&j.a, &j.b, 0, 0) != 0)
        return;
    mp_process *p;
    if (mp_process_start(&p, "echo", pipe_echo, &j, sizeof j, 0) != 0)
        return;
    double us = fastest_batch_us(n, warm, pipe_round_trip, &j);
    finish(p);
    mp_pipe_close(j.a);
    mp_pipe_close(j.b);
    double py = bench_python_anchor("ipc_anchors.py", "pipe_rtt", ctx->quick ? 5000 : 50000);
    report(ctx, "pipe_rtt_8B", us, "us", "python Pipe", py, 1, "<= 2 us", "best of 20 batches");
}

/* --- pipe_1MiB ------------------------------------------------------------ */

#define MIB ((size_t)1 << 20)

static int pipe_sink(void *arg, size_t size)
{
    (void)size;
    pipe_job *j = arg;
    char *buf = malloc(MIB);
    size_t n;
    for (int i = 0; i < j->n; i++)
        if (mp_pipe_recv(j->b, buf, MIB, &n, 60) != 0 || n != MIB)
            return 1;
    free(buf);
    return mp_pipe_send(j->b, "k", 1, 60) == 0 ? 0 : 1;
}

static void bench_pipe_1mib(const bench_ctx *ctx)
{
    int n = ctx->quick ? 200 : 2000;
    pipe_job j = {.n = n};
    if (mp_pipe_create(&j.a, &j.b, 0, 0) != 0)
        return;
    char *msg = malloc(MIB);
    memset(msg, 'x', MIB);
    mp_process *p;
    if (mp_process_start(&p, "sink", pipe_sink, &j, sizeof j, 0) != 0)
        return;
    double t0 = bench_now();
    for (int i = 0; i < n; i++)
        if (mp_pipe_send(j.a, msg, MIB, 60) != 0)
            break;
    char ack;
    size_t got;
    mp_pipe_recv(j.a, &ack, 1, &got, 60);
    double rate = n / (bench_now() - t0);
    finish(p);
    free(msg);
    mp_pipe_close(j.a);
    mp_pipe_close(j.b);
    double py = bench_python_anchor("ipc_anchors.py", "pipe_1MiB", ctx->quick ? 100 : 1000);
    report(ctx, "pipe_1MiB", rate, "MiB/s", "python Pipe.send_bytes", py, 0, "ratio >= 2", NULL);
}

/* --- queue_rtt ------------------------------------------------------------ */

typedef struct queue_job {
    mp_queue *there, *back;
    int n;
} queue_job;

static int queue_echo(void *arg, size_t size)
{
    (void)size;
    queue_job *j = arg;
    char buf[8];
    size_t n;
    for (int i = 0; i < j->n; i++)
        if (mp_queue_get(j->there, buf, sizeof buf, &n, 60) != 0 || mp_queue_put(j->back, buf, n, 60) != 0)
            return 1;
    return 0;
}

static int queue_round_trip(void *state)
{
    queue_job *j = state;
    char msg[8] = "pingpong", buf[8];
    size_t got;
    return mp_queue_put(j->there, msg, sizeof msg, 60) || mp_queue_get(j->back, buf, sizeof buf, &got, 60);
}

static void bench_queue_rtt(const bench_ctx *ctx)
{
    int n = ctx->quick ? 20000 : 200000, warm = 1000;
    queue_job j = {.n = n + warm};
    if (mp_queue_create(&j.there, 0, 0) != 0 || mp_queue_create(&j.back, 0, 0) != 0)
        return;
    mp_process *p;
    if (mp_process_start(&p, "echo", queue_echo, &j, sizeof j, 0) != 0)
        return;
    double us = fastest_batch_us(n, warm, queue_round_trip, &j);
    finish(p);
    mp_queue_destroy(j.there);
    mp_queue_destroy(j.back);
    double py = bench_python_anchor("ipc_anchors.py", "queue_rtt", ctx->quick ? 2000 : 20000);
    report(ctx, "queue_rtt", us, "us", "python mp.Queue", py, 1, "<= 2 us", "best of 20 batches");
}

/* --- lock_handoff ---------------------------------------------------------- */

typedef struct turns {
    mp_lock lock;
    int turn;
    int n;
    double best;    /* fastest batch, seconds (side 0 measures) */
} turns;

/* Takes the lock repeatedly and passes the turn on each time it holds the
 * turn: the lock changes hands at least twice per round. */
static int take_turns(void *arg, size_t size)
{
    turns *t = *(turns **)arg;
    int me = (int)size == sizeof(turns *) ? 1 : 0;
    double t0 = bench_now();
    t->best = 1e9;
    for (int done = 0; done < t->n;) {
        if (mp_lock_acquire(&t->lock, 60) != 0)
            return 1;
        if (t->turn == me) {
            t->turn = 1 - me;
            done++;
            if (me == 0 && done % (t->n / BATCHES) == 0) {
                double now = bench_now();
                if (now - t0 < t->best)
                    t->best = now - t0;
                t0 = now;
            }
        }
        mp_lock_release(&t->lock);
    }
    return 0;
}

static void bench_lock_handoff(const bench_ctx *ctx)
{
    int n = ctx->quick ? 20000 : 200000;
    void *mem;
    if (mp_shm_alloc(sizeof(turns), &mem) != 0)
        return;
    turns *t = mem;
    mp_lock_init(&t->lock);
    t->n = n;
    mp_process *p;
    /* The size argument tells the two sides apart. */
    if (mp_process_start(&p, "other", take_turns, &t, sizeof t, 0) != 0)
        return;
    take_turns(&t, 0);
    finish(p);
    double us = t->best / (2.0 * (n / BATCHES)) * 1e6;
    mp_shm_free(t);
    double py = bench_python_anchor("ipc_anchors.py", "lock_handoff", ctx->quick ? 2000 : 20000);
    report(ctx, "lock_handoff", us, "us", "python mp.Lock", py, 1, "lower than anchor", "per turn change, best of 20 batches");
}

BENCH_REGISTER("pipe_rtt_8B", bench_pipe_rtt)
BENCH_REGISTER("pipe_1MiB", bench_pipe_1mib)
BENCH_REGISTER("queue_rtt", bench_queue_rtt)
BENCH_REGISTER("lock_handoff", bench_lock_handoff)
