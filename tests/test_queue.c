/* labels: ipc */
/* test_queue.c - mp_queue: the 4-producer 4-consumer stress test over
 * processes (every message checked, none lost, none duplicated), bounds,
 * timeouts, close, join/task_done, threads, bad input, and processes killed
 * at every step of a put or a get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"
#include "ipc.h" /* mp__queue_crash_step */

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 10^6 messages in all, under the sanitizers too. */
#define TOTAL 1000000
#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER (TOTAL / PRODUCERS)
#define MAX_BODY 600

typedef struct msg_head {
    uint32_t producer, seq, size, sum;
} msg_head;

typedef struct stress {
    mp_queue *q;
    uint64_t seen[PRODUCERS][(PER_PRODUCER + 63) / 64];
    uint64_t received, bad, duplicates;
} stress;

static stress *st;

static uint32_t checksum(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int producer(void *arg, size_t size)
{
    (void)size;
    uint32_t id = *(uint32_t *)arg, rng = 0x9e3779b9u * (id + 1);
    unsigned char buf[sizeof(msg_head) + MAX_BODY];
    for (uint32_t seq = 0; seq < PER_PRODUCER; seq++) {
        uint32_t n = xorshift(&rng) % 16 == 0 ? xorshift(&rng) % MAX_BODY : xorshift(&rng) % 64;
        for (uint32_t i = 0; i < n; i++)
            buf[sizeof(msg_head) + i] = (unsigned char)xorshift(&rng);
        msg_head h = {id, seq, n, checksum(buf + sizeof h, n)};
        memcpy(buf, &h, sizeof h);
        if (mp_queue_put(st->q, buf, sizeof h + n, 60) != 0)
            return 1;
    }
    return 0;
}

static int consumer(void *arg, size_t size)
{
    (void)arg, (void)size;
    unsigned char buf[sizeof(msg_head) + MAX_BODY];
    uint64_t got = 0;
    for (;;) {
        size_t n;
        int r = mp_queue_get(st->q, buf, sizeof buf, &n, 60);
        if (r == MP_ECLOSED)
            break;
        if (r != 0)
            return 1;
        msg_head h;
        memcpy(&h, buf, sizeof h);
        if (n != sizeof h + h.size || h.producer >= PRODUCERS || h.seq >= PER_PRODUCER ||
            checksum(buf + sizeof h, h.size) != h.sum) {
            __atomic_fetch_add(&st->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        uint64_t bit = (uint64_t)1 << (h.seq % 64);
        uint64_t old = __atomic_fetch_or(&st->seen[h.producer][h.seq / 64], bit, __ATOMIC_RELAXED);
        if (old & bit)
            __atomic_fetch_add(&st->duplicates, 1, __ATOMIC_RELAXED);
        got++;
    }
    __atomic_fetch_add(&st->received, got, __ATOMIC_RELAXED);
    return 0;
}

static void join_ok(mp_process *p, int expected)
{
    int code = -1000;
    assert_int_equal(mp_process_join(p, 300), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, expected);
    assert_int_equal(mp_process_close(p), 0);
}

static void test_stress_4x4_processes(void **state)
{
    (void)state;
    void *mem;
    assert_int_equal(mp_shm_alloc(sizeof *st, &mem), 0);
    st = mem;
    assert_int_equal(mp_queue_create(&st->q, 0, 64 << 10), 0);
    mp_process *prod[PRODUCERS], *cons[CONSUMERS];
    for (uint32_t i = 0; i < CONSUMERS; i++)
        assert_int_equal(mp_process_start(&cons[i], "consumer", consumer, NULL, 0, 0), 0);
    for (uint32_t i = 0; i < PRODUCERS; i++)
        assert_int_equal(mp_process_start(&prod[i], "producer", producer, &i, sizeof i, 0), 0);
    for (int i = 0; i < PRODUCERS; i++)
        join_ok(prod[i], 0);
    assert_int_equal(mp_queue_close(st->q), 0);
    for (int i = 0; i < CONSUMERS; i++)
        join_ok(cons[i], 0);
    assert_int_equal(st->bad, 0);
    assert_int_equal(st->duplicates, 0);
    assert_int_equal(st->received, (uint64_t)PRODUCERS * PER_PRODUCER);
    for (int p = 0; p < PRODUCERS; p++)
        for (uint32_t s = 0; s < PER_PRODUCER; s++)
            if (!(st->seen[p][s / 64] & ((uint64_t)1 << (s % 64))))
                fail_msg("message %u of producer %d lost", s, p);
    assert_true(mp_queue_empty(st->q));
    mp_queue_destroy(st->q);
    mp_shm_free(st);
}

static void test_bounds_timeouts_close(void **state)
{
    (void)state;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 3, 256), 0);
    char big[300] = {0};
    assert_int_equal(mp_queue_put(q, big, 249, 0), MP_EMSGSIZE);
    assert_int_equal(mp_queue_put(q, big, 248, 0), 0);
    assert_true(mp_queue_full(q));
    size_t n = 0;
    char small[8];
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, 0), MP_ERANGE);
    assert_int_equal(n, 248);
    assert_int_equal(mp_queue_size(q), 1);
    assert_int_equal(mp_queue_get(q, big, sizeof big, &n, 0), 0);
    assert_int_equal(n, 248);
    assert_true(mp_queue_empty(q));

    /* The item bound. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(mp_queue_put(q, &i, sizeof i, 0), 0);
    assert_int_equal(mp_queue_put(q, "x", 1, 0), MP_EAGAIN);
    assert_int_equal(mp_queue_put(q, "x", 1, 0.02), MP_ETIMEDOUT);
    assert_true(mp_queue_full(q));
    for (int i = 0; i < 3; i++) {
        int v = -1;
        assert_int_equal(mp_queue_get(q, &v, sizeof v, &n, 0), 0);
        assert_int_equal(v, i);
    }
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, 0), MP_EAGAIN);
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, 0.02), MP_ETIMEDOUT);
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, -1.5), MP_EINVAL);

    /* Empty messages and allocated receives. */
    assert_int_equal(mp_queue_put(q, NULL, 0, 0), 0);
    void *m;
    assert_int_equal(mp_queue_get_alloc(q, &m, &n, 0), 0);
    assert_int_equal(n, 0);
    free(m);

    /* Close: what is inside still comes out, then MP_ECLOSED. */
    assert_int_equal(mp_queue_put(q, "ab", 2, 0), 0);
    assert_int_equal(mp_queue_close(q), 0);
    assert_int_equal(mp_queue_put(q, "c", 1, 0), MP_ECLOSED);
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, 0), 0);
    assert_int_equal(mp_queue_get(q, small, sizeof small, &n, MP_FOREVER), MP_ECLOSED);

    assert_int_equal(mp_queue_destroy(q), 0);
    assert_int_equal(mp_queue_create(NULL, 0, 0), MP_EINVAL);
    assert_int_equal(mp_queue_put(NULL, "x", 1, 0), MP_EINVAL);
}

static int getter_until_closed(void *arg, size_t size)
{
    (void)size;
    mp_queue *q = *(mp_queue **)arg;
    char buf[16];
    size_t n;
    /* Sleeps without a time limit until the close. */
    return mp_queue_get(q, buf, sizeof buf, &n, MP_FOREVER) == MP_ECLOSED ? 0 : 1;
}

static void test_close_wakes_getters(void **state)
{
    (void)state;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 0, 0), 0);
    mp_process *p[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, getter_until_closed, &q, sizeof q, 0), 0);
    usleep(30000);
    assert_int_equal(mp_queue_close(q), 0);
    for (int i = 0; i < 2; i++)
        join_ok(p[i], 0);
    mp_queue_destroy(q);
}

static int worker_with_task_done(void *arg, size_t size)
{
    (void)size;
    mp_queue *q = *(mp_queue **)arg;
    for (;;) {
        int v;
        size_t n;
        int r = mp_queue_get(q, &v, sizeof v, &n, 30);
        if (r == MP_ECLOSED)
            return 0;
        if (r != 0 || mp_queue_task_done(q) != 0)
            return 1;
    }
}

static void test_join_and_task_done(void **state)
{
    (void)state;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 0, 0), 0);
    assert_int_equal(mp_queue_join(q, 0), 0); /* nothing put yet */
    assert_int_equal(mp_queue_task_done(q), MP_EINVAL);
    mp_process *p;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mp_queue_put(q, &i, sizeof i, 10), 0);
    assert_int_equal(mp_queue_join(q, 0), MP_EAGAIN);
    assert_int_equal(mp_process_start(&p, NULL, worker_with_task_done, &q, sizeof q, 0), 0);
    assert_int_equal(mp_queue_join(q, 300), 0);
    assert_true(mp_queue_empty(q));
    mp_queue_close(q);
    join_ok(p, 0);
    mp_queue_destroy(q);
}

/* Producers killed mid-stream do not wedge the queue. */
static int put_forever(void *arg, size_t size)
{
    (void)size;
    mp_queue *q = *(mp_queue **)arg;
    char buf[100] = {0};
    for (;;)
        if (mp_queue_put(q, buf, sizeof buf, 30) != 0)
            return 1;
}

static void test_killed_producer(void **state)
{
    (void)state;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 0, 4096), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, put_forever, &q, sizeof q, 0), 0);
    char buf[128];
    size_t n;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(mp_queue_get(q, buf, sizeof buf, &n, 30), 0);
        assert_int_equal(n, 100);
    }
    mp_process_kill(p);
    join_ok(p, -SIGKILL);
    /* Drain what it left; a new producer then gets through at once. */
    while (mp_queue_get(q, buf, sizeof buf, &n, 0) == 0)
        assert_int_equal(n, 100);
    assert_int_equal(mp_queue_put(q, "after", 5, 5), 0);
    assert_int_equal(mp_queue_get(q, buf, sizeof buf, &n, 5), 0);
    assert_int_equal(n, 5);
    mp_queue_destroy(q);
}

/* --- deaths at every step of a put or a get -------------------------------
 * A child sets mp__queue_crash_step and kills itself at that step of one
 * put or get.  Whatever the step, the queue must stay exact: the message is
 * published (or taken) entirely or not at all, the item count and the bound
 * stay right, nothing comes out twice, and join returns once every message
 * that really went in was marked done. */

typedef struct crash_job {
    mp_queue *q;
    int step;
} crash_job;

static int put_and_crash(void *arg, size_t size)
{
    (void)size;
    crash_job *job = arg;
    mp__queue_crash_step = job->step;
    mp_queue_put(job->q, "m1", 3, 5);
    return 1; /* the crash point was never reached */
}

static int get_and_crash(void *arg, size_t size)
{
    (void)size;
    crash_job *job = arg;
    char buf[8];
    size_t n;
    mp__queue_crash_step = job->step;
    mp_queue_get(job->q, buf, sizeof buf, &n, 5);
    return 1;
}

static void crash_child(mp_process_fn fn, mp_queue *q, int step)
{
    crash_job job = {q, step};
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, fn, &job, sizeof job, 0), 0);
    join_ok(p, -SIGKILL);
}

/* Takes the next message, which must be `want`, and marks it done. */
static void get_expect(mp_queue *q, const char *want)
{
    char buf[8];
    size_t n = 0;
    assert_int_equal(mp_queue_get(q, buf, sizeof buf, &n, 5), 0);
    assert_int_equal(n, 3);
    assert_string_equal(buf, want);
    assert_int_equal(mp_queue_task_done(q), 0);
}

/* The queue (bounded to 2 items) is empty and works at its full bound. */
static void expect_empty_and_usable(mp_queue *q)
{
    char buf[8];
    size_t n;
    assert_int_equal(mp_queue_size(q), 0);
    assert_true(mp_queue_empty(q));
    assert_int_equal(mp_queue_get(q, buf, sizeof buf, &n, 0), MP_EAGAIN);
    assert_int_equal(mp_queue_join(q, 300), 0);
    assert_int_equal(mp_queue_put(q, "p0", 3, 5), 0);
    assert_int_equal(mp_queue_put(q, "p1", 3, 5), 0);
    assert_true(mp_queue_full(q));
    get_expect(q, "p0");
    get_expect(q, "p1");
    assert_int_equal(mp_queue_join(q, 300), 0);
}

static void test_producer_killed_at_every_step(void **state)
{
    (void)state;
    for (int step = MP__QSTEP_PUT_LOCKED; step <= MP__QSTEP_PUT_CLEARED; step++) {
        mp_queue *q;
        assert_int_equal(mp_queue_create(&q, 2, 4096), 0);
        assert_int_equal(mp_queue_put(q, "m0", 3, 0), 0);
        crash_child(put_and_crash, q, step);
        int published = step >= MP__QSTEP_PUT_MOVED;
        assert_int_equal(mp_queue_size(q), 1 + published);
        get_expect(q, "m0");
        if (published)
            get_expect(q, "m1");
        expect_empty_and_usable(q);
        assert_int_equal(mp_queue_destroy(q), 0);
    }
}

static void test_consumer_killed_at_every_step(void **state)
{
    (void)state;
    for (int step = MP__QSTEP_GET_LOCKED; step <= MP__QSTEP_GET_CLEARED; step++) {
        mp_queue *q;
        assert_int_equal(mp_queue_create(&q, 2, 4096), 0);
        assert_int_equal(mp_queue_put(q, "m0", 3, 0), 0);
        assert_int_equal(mp_queue_put(q, "m1", 3, 0), 0);
        crash_child(get_and_crash, q, step);
        int taken = step >= MP__QSTEP_GET_MOVED;
        assert_int_equal(mp_queue_size(q), 2 - taken);
        if (taken)
            assert_int_equal(mp_queue_task_done(q), 0); /* for the dead consumer */
        else
            get_expect(q, "m0"); /* not taken: it comes out once, now */
        get_expect(q, "m1");
        expect_empty_and_usable(q);
        assert_int_equal(mp_queue_destroy(q), 0);
    }
}

/* Random kills: producers killed wherever they are in their puts; then
 * every message that got in is taken and marked done, and join returns. */
static int put_numbers(void *arg, size_t size)
{
    (void)size;
    mp_queue *q = *(mp_queue **)arg;
    for (uint32_t i = 0;; i++)
        if (mp_queue_put(q, &i, sizeof i, 30) != 0)
            return 1;
}

static void test_random_producer_kills(void **state)
{
    (void)state;
    uint32_t rng = 12345;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 0, 1 << 20), 0);
    for (int round = 0; round < 100; round++) {
        mp_process *p[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(mp_process_start(&p[i], NULL, put_numbers, &q, sizeof q, 0), 0);
        usleep(xorshift(&rng) % 2000);
        for (int i = 0; i < 2; i++) {
            mp_process_kill(p[i]);
            join_ok(p[i], -SIGKILL);
        }
        uint32_t v;
        size_t n;
        while (mp_queue_get(q, &v, sizeof v, &n, 0) == 0)
            assert_int_equal(mp_queue_task_done(q), 0);
        assert_int_equal(mp_queue_size(q), 0);
        assert_int_equal(mp_queue_join(q, 300), 0);
    }
    mp_queue_destroy(q);
}

/* Random kills of consumers: every number put comes out at most once
 * (a dead consumer may lose the one it was taking), and the count of items
 * stays exact: the bound admits exactly max_items puts afterwards. */
#define KILL_ITEMS 256

typedef struct taken {
    mp_queue *q;
    uint32_t seen[KILL_ITEMS];
} taken;

static int take_numbers(void *arg, size_t size)
{
    (void)size;
    taken *t = *(taken **)arg;
    for (;;) {
        uint32_t v;
        size_t n;
        if (mp_queue_get(t->q, &v, sizeof v, &n, 30) != 0 || v >= KILL_ITEMS)
            return 1;
        __atomic_fetch_add(&t->seen[v], 1, __ATOMIC_RELAXED);
    }
}

static void test_random_consumer_kills(void **state)
{
    (void)state;
    uint32_t rng = 777;
    void *mem;
    assert_int_equal(mp_shm_alloc(sizeof(taken), &mem), 0);
    taken *t = mem;
    assert_int_equal(mp_queue_create(&t->q, KILL_ITEMS, 16384), 0);
    for (int round = 0; round < 40; round++) {
        memset(t->seen, 0, sizeof t->seen);
        for (uint32_t i = 0; i < KILL_ITEMS; i++)
            assert_int_equal(mp_queue_put(t->q, &i, sizeof i, 0), 0);
        mp_process *p[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(mp_process_start(&p[i], NULL, take_numbers, &t, sizeof t, 0), 0);
        usleep(xorshift(&rng) % 3000);
        for (int i = 0; i < 2; i++) {
            mp_process_kill(p[i]);
            join_ok(p[i], -SIGKILL);
        }
        uint32_t v;
        size_t n;
        while (mp_queue_get(t->q, &v, sizeof v, &n, 0) == 0)
            t->seen[v]++;
        int lost = 0;
        for (int i = 0; i < KILL_ITEMS; i++) {
            if (t->seen[i] > 1)
                fail_msg("round %d: message %d came out %u times", round, i, t->seen[i]);
            lost += t->seen[i] == 0;
        }
        assert_true(lost <= 2);
        assert_int_equal(mp_queue_size(t->q), 0);
        for (uint32_t i = 0; i < KILL_ITEMS; i++)
            assert_int_equal(mp_queue_put(t->q, &i, sizeof i, 0), 0);
        assert_int_equal(mp_queue_put(t->q, &v, sizeof v, 0), MP_EAGAIN);
        while (mp_queue_get(t->q, &v, sizeof v, &n, 0) == 0)
            ;
    }
    mp_queue_destroy(t->q);
    mp_shm_free(t);
}

/* Threads: 2 producers, 2 consumers. */
typedef struct tq {
    mp_queue *q;
    int id;
    long sum;
} tq;

static void *thread_producer(void *arg)
{
    tq *t = arg;
    for (int i = 1; i <= 20000; i++)
        if (mp_queue_put(t->q, &i, sizeof i, 30) != 0)
            return (void *)1;
    return NULL;
}

static void *thread_consumer(void *arg)
{
    tq *t = arg;
    for (;;) {
        int v;
        size_t n;
        int r = mp_queue_get(t->q, &v, sizeof v, &n, 30);
        if (r == MP_ECLOSED)
            return NULL;
        if (r != 0)
            return (void *)1;
        t->sum += v;
    }
}

static void test_threads(void **state)
{
    (void)state;
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 64, 0), 0);
    pthread_t prod[2], cons[2];
    tq pa[2] = {{q, 0, 0}, {q, 1, 0}}, ca[2] = {{q, 0, 0}, {q, 1, 0}};
    for (int i = 0; i < 2; i++) {
        pthread_create(&cons[i], NULL, thread_consumer, &ca[i]);
        pthread_create(&prod[i], NULL, thread_producer, &pa[i]);
    }
    void *res;
    for (int i = 0; i < 2; i++) {
        pthread_join(prod[i], &res);
        assert_null(res);
    }
    mp_queue_close(q);
    for (int i = 0; i < 2; i++) {
        pthread_join(cons[i], &res);
        assert_null(res);
    }
    assert_int_equal(ca[0].sum + ca[1].sum, 2L * 20000 * 20001 / 2);
    mp_queue_destroy(q);
}

/* A queue made after a process pool opened still reaches its workers:
 * it lives in the shared arena, which they inherited. */
static int put_index(mp_task *task, const void *in, void *out)
{
    (void)in, (void)out;
    mp_queue *q = *(mp_queue *const *)mp_task_context(task);
    size_t i = mp_task_index(task);
    return mp_queue_put(q, &i, sizeof i, 30) == 0 ? 0 : 1;
}

static void test_from_process_pool_tasks(void **state)
{
    (void)state;
    mp_pool *pool;
    mp_pool_options opts = {.backend = MP_BACKEND_PROCESS, .workers = 2};
    assert_int_equal(mp_pool_open(&pool, &opts), 0);
    mp_queue *q;
    assert_int_equal(mp_queue_create(&q, 0, 0), 0);
    mp_call call = {.context = &q, .context_size = sizeof q, .chunksize = 1};
    assert_int_equal(mp_map(pool, put_index, NULL, 100, 0, NULL, 0, &call), 0);
    int seen[100] = {0};
    for (int k = 0; k < 100; k++) {
        size_t i, n;
        assert_int_equal(mp_queue_get(q, &i, sizeof i, &n, 10), 0);
        assert_true(i < 100);
        seen[i]++;
    }
    for (int k = 0; k < 100; k++)
        assert_int_equal(seen[k], 1);
    assert_int_equal(mp_pool_close(pool), 0);
    mp_queue_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_4x4_processes),
        cmocka_unit_test(test_bounds_timeouts_close),
        cmocka_unit_test(test_close_wakes_getters),
        cmocka_unit_test(test_join_and_task_done),
        cmocka_unit_test(test_killed_producer),
        cmocka_unit_test(test_producer_killed_at_every_step),
        cmocka_unit_test(test_consumer_killed_at_every_step),
        cmocka_unit_test(test_random_producer_kills),
        cmocka_unit_test(test_random_consumer_kills),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_from_process_pool_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
