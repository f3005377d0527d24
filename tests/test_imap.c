/* labels: unit;imap;concurrency */
/* test_imap.c - imap and imap_unordered: order, completion order, generators,
 * bounded windows, timeouts, failures, early release; both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "support.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

static _Atomic int *gate;

/* Input 0 waits at the gate; the others pass: completion order differs
 * from input order, deterministically. */
static int zero_waits(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    while (x == 0 && !atomic_load(gate))
        usleep(200);
    *(long *)out = x;
    return 0;
}

static void test_imap_keeps_input_order(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 10000 };
        static long in[N];
        for (long i = 0; i < N; i++)
            in[i] = i;
        for (size_t chunk = 1; chunk <= 64; chunk *= 8) {
            mp_imap *it;
            mp_imap_options o = { .chunksize = chunk };
            assert_int_equal(mp_imap_open(pool, square, in, N, sizeof *in, NULL, NULL, sizeof(long), &o, &it), 0);
            for (long i = 0; i < N; i++) {
                long r;
                size_t idx;
                assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, &idx, NULL), 0);
                assert_int_equal(idx, (size_t)i);
                assert_int_equal(r, i * i);
            }
            long r;
            assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), MP_EEOF);
            assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), MP_EEOF);
            mp_imap_free(it);
        }
        mp_pool_close(pool);
    }
}

static void test_imap_unordered_yields_in_completion_order(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        long in[6] = { 0, 1, 2, 3, 4, 5 };
        mp_imap *it;
        mp_imap_options o = { .order = MP_IMAP_UNORDERED };
        assert_int_equal(mp_imap_open(pool, zero_waits, in, 6, sizeof *in, NULL, NULL, sizeof(long), &o, &it), 0);
        bool seen[6] = { false };
        size_t idx;
        long r;
        for (int k = 1; k < 6; k++) {    /* 1..5 finish while 0 waits */
            assert_int_equal(mp_imap_next(it, 30.0, &r, &idx, NULL), 0);
            assert_int_equal(r, (long)idx);
            assert_true(idx >= 1);
            assert_false(seen[idx]);
            seen[idx] = true;
        }
        assert_int_equal(mp_imap_next(it, 0.02, &r, &idx, NULL), MP_ETIMEDOUT);
        atomic_store(gate, 1);
        assert_int_equal(mp_imap_next(it, 30.0, &r, &idx, NULL), 0);
        assert_int_equal(idx, 0);
        assert_int_equal(mp_imap_next(it, 1.0, &r, &idx, NULL), MP_EEOF);
        mp_imap_free(it);
        mp_pool_close(pool);
    }
}

/* A generator over 0..limit-1 that counts how far ahead of the consumer it
 * was ever asked to run. */
typedef struct counter {
    long next, limit;
    long consumed, max_ahead;
} counter;

static int count_up(void *state, void *in)
{
    counter *c = state;
    if (c->next == c->limit)
        return 0;
    if (c->next - c->consumed > c->max_ahead)
        c->max_ahead = c->next - c->consumed;
    *(long *)in = c->next++;
    return 1;
}

static void test_generator_runs_in_a_bounded_window(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        counter c = { .limit = 200000 };
        mp_imap *it;
        mp_imap_options o = { .order = MP_IMAP_UNORDERED, .chunksize = 4, .window = 100 };
        assert_int_equal(mp_imap_open(pool, square, NULL, 0, sizeof(long), count_up, &c, sizeof(long), &o, &it), 0);
        long sum = 0, r;
        size_t idx;
        int rc;
        while ((rc = mp_imap_next(it, MP_FOREVER, &r, &idx, NULL)) == 0) {
            assert_int_equal(r, (long)idx * (long)idx);
            sum += (long)idx;
            c.consumed++;
        }
        assert_int_equal(rc, MP_EEOF);
        assert_int_equal(c.consumed, c.limit);
        assert_int_equal(sum, c.limit * (c.limit - 1) / 2);
        assert_true(c.max_ahead <= 100);   /* never more than the window in flight */
        mp_imap_free(it);
        mp_pool_close(pool);
    }
}

static int stop_with_error(void *state, void *in)
{
    long *n = state;
    if (*n == 3)
        return -77;
    *(long *)in = (*n)++;
    return 1;
}

static void test_generator_error_ends_iteration(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 2);
    long n = 0, r;
    mp_imap *it;
    assert_int_equal(mp_imap_open(pool, square, NULL, 0, sizeof(long), stop_with_error, &n, sizeof r, NULL, &it), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), 0);
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), -77);
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), MP_EEOF);
    mp_imap_free(it);
    mp_pool_close(pool);
}

static int wait_at_gate(mp_task *task, const void *in, void *out)
{
    (void)task;
    while (!atomic_load(gate))
        usleep(200);
    *(long *)out = *(const long *)in;
    return 0;
}

static void test_next_timeout_and_early_release(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        enum { N = 1000 };
        static long in[N];
        for (long i = 0; i < N; i++)
            in[i] = i;
        mp_imap *it;
        assert_int_equal(mp_imap_open(pool, wait_at_gate, in, N, sizeof *in, NULL, NULL, sizeof(long), NULL, &it), 0);
        long r;
        assert_int_equal(mp_imap_next(it, 0.05, &r, NULL, NULL), MP_ETIMEDOUT);   /* expires */
        atomic_store(gate, 1);
        assert_int_equal(mp_imap_next(it, 30.0, &r, NULL, NULL), 0);              /* does not */
        assert_int_equal(r, 0);
        mp_imap_free(it);               /* 999 results never taken */
        /* The pool runs the next call normally. */
        long x = 3, y;
        assert_int_equal(mp_apply(pool, square, &x, sizeof x, &y, sizeof y, NULL), 0);
        assert_int_equal(y, 9);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static int fail_and_write(mp_task *task, const void *in, void *out)
{
    (void)out;
    long x = *(const long *)in;
    if (x % 5 == 4)
        return mp_task_fail(task, 9, "bad %ld", x);
    return mp_task_printf(task, "<%ld>", x);
}

static void test_failures_and_bytes(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long in[50];
        for (long i = 0; i < 50; i++)
            in[i] = i;
        mp_imap *it;
        mp_imap_options o = { .collect_bytes = 1, .chunksize = 3 };
        assert_int_equal(mp_imap_open(pool, fail_and_write, in, 50, sizeof *in, NULL, NULL, 0, &o, &it), 0);
        for (long i = 0; i < 50; i++) {
            mp_bytes bytes;
            size_t idx;
            int rc = mp_imap_next(it, MP_FOREVER, NULL, &idx, &bytes);
            assert_int_equal(idx, (size_t)i);
            if (i % 5 == 4) {
                assert_int_equal(rc, MP_ETASK);
                assert_non_null(strstr(mp_last_error(), "bad"));
                assert_null(bytes.data);
            } else {
                char want[16];
                int n = snprintf(want, sizeof want, "<%ld>", i);
                assert_int_equal(rc, 0);
                assert_int_equal(bytes.size, (size_t)n);
                assert_memory_equal(bytes.data, want, (size_t)n);
                mp_bytes_free(&bytes);
            }
        }
        mp_imap_free(it);
        mp_pool_close(pool);
    }
}

static void test_pool_closed_under_an_open_iterator(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long in[100], r;
        for (long i = 0; i < 100; i++)
            in[i] = i;
        mp_imap *it;
        assert_int_equal(mp_imap_open(pool, square, in, 100, sizeof *in, NULL, NULL, sizeof r, NULL, &it), 0);
        assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), 0);
        assert_int_equal(mp_pool_close(pool), 0);     /* does not wait for the iterator */
        assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), MP_ECLOSED);
        mp_imap_free(it);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 1);
    long in[2] = { 1, 2 }, r;
    mp_imap *it = NULL;
    assert_int_equal(mp_imap_open(NULL, square, in, 2, sizeof *in, NULL, NULL, sizeof r, NULL, &it), MP_EINVAL);
    assert_int_equal(mp_imap_open(pool, NULL, in, 2, sizeof *in, NULL, NULL, sizeof r, NULL, &it), MP_EINVAL);
    assert_int_equal(mp_imap_open(pool, square, in, 2, 0, NULL, NULL, sizeof r, NULL, &it), MP_EINVAL);
    mp_imap_options o = { .order = (mp_imap_order)5 };
    assert_int_equal(mp_imap_open(pool, square, in, 2, sizeof *in, NULL, NULL, sizeof r, &o, &it), MP_EINVAL);
    mp_imap_options small = { .chunksize = 10, .window = 5 };
    assert_int_equal(mp_imap_open(pool, square, in, 2, sizeof *in, NULL, NULL, sizeof r, &small, &it), MP_EINVAL);
    assert_null(it);
    assert_int_equal(mp_imap_open(pool, square, in, 2, sizeof *in, NULL, NULL, sizeof r, NULL, &it), 0);
    assert_int_equal(mp_imap_next(it, -1.5, &r, NULL, NULL), MP_EINVAL);
    assert_int_equal(mp_imap_next(it, 1.0, NULL, NULL, NULL), MP_EINVAL);
    assert_int_equal(mp_imap_next(NULL, 1.0, &r, NULL, NULL), MP_EINVAL);
    assert_int_equal(mp_imap_next(it, 60.0, &r, NULL, NULL), 0);   /* nothing was lost */
    assert_int_equal(r, 1);
    mp_imap_free(it);
    mp_pool_close(pool);
}

/* window x element size is checked like every other size product: a
 * product that wraps (64 x (2^58 + 64) is 4096 modulo 2^64) would otherwise
 * allocate a small ring and overrun it. */
static void test_window_times_element_size_overflow(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 1);
    static char in[2];
    long r;
    size_t huge = ((size_t)1 << 58) + 64;
    mp_imap *it = NULL;
    mp_imap_options o = { .window = 64 };
    assert_int_equal(mp_imap_open(pool, square, in, 2, huge, NULL, NULL, sizeof r, &o, &it), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "overflows"));
    assert_int_equal(mp_imap_open(pool, square, in, 2, 1, NULL, NULL, huge, &o, &it), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "outputs"));
    /* The largest accepted window still fits its fixed-size rings. */
    mp_imap_options wide = { .window = SIZE_MAX >> 8 };
    assert_int_equal(mp_imap_open(pool, square, in, 2, 1, NULL, NULL, sizeof r, &wide, &it), MP_EINVAL);
    /* The array the inputs come from: count x in_size. */
    assert_int_equal(mp_imap_open(pool, square, in, (size_t)1 << 40, (size_t)1 << 30, NULL, NULL, sizeof r, NULL, &it),
                     MP_EINVAL);
    assert_null(it);
    /* Nothing was left behind: the pool runs an iterator as before. */
    long x[2] = { 3, 4 };
    assert_int_equal(mp_imap_open(pool, square, x, 2, sizeof *x, NULL, NULL, sizeof r, &o, &it), 0);
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), 0);
    assert_int_equal(r, 9);
    mp_imap_free(it);
    assert_int_equal(mp_pool_close(pool), 0);
}

static int write_then_fail_odd(mp_task *task, const void *in, void *out)
{
    long x = *(const long *)in;
    *(long *)out = 1000 + x;
    return x % 2 ? mp_task_fail(task, 3, "odd %ld", x) : 0;
}

/* As in the map family, a failed task's result holds zeros on both
 * backends. */
static void test_failed_result_is_zeroed(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long in[20];
        for (long i = 0; i < 20; i++)
            in[i] = i;
        mp_imap *it;
        assert_int_equal(mp_imap_open(pool, write_then_fail_odd, in, 20, sizeof *in, NULL, NULL, sizeof(long), NULL, &it), 0);
        for (long i = 0; i < 20; i++) {
            long r = -1;
            assert_int_equal(mp_imap_next(it, MP_FOREVER, &r, NULL, NULL), i % 2 ? MP_ETASK : 0);
            assert_int_equal(r, i % 2 ? 0 : 1000 + i);
        }
        mp_imap_free(it);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    return mp_shm_alloc(sizeof *gate, (void **)&gate);
}

static int teardown(void **state)
{
    (void)state;
    return mp_shm_free((void *)gate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imap_keeps_input_order),
        cmocka_unit_test(test_imap_unordered_yields_in_completion_order),
        cmocka_unit_test(test_generator_runs_in_a_bounded_window),
        cmocka_unit_test(test_generator_error_ends_iteration),
        cmocka_unit_test(test_next_timeout_and_early_release),
        cmocka_unit_test(test_failures_and_bytes),
        cmocka_unit_test(test_pool_closed_under_an_open_iterator),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_failed_result_is_zeroed),
        cmocka_unit_test(test_window_times_element_size_overflow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
