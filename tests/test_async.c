/* labels: unit;async;concurrency */
/* test_async.c - async results, futures, waiting and variable-size results,
 * on both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "support.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A gate in shared memory: tasks that pass through it block until it opens,
 * on either backend. */
static _Atomic int *gate;

static int gate_setup(void **state)
{
    (void)state;
    return mp_shm_alloc(sizeof *gate, (void **)&gate);
}

static int gate_teardown(void **state)
{
    (void)state;
    return mp_shm_free((void *)gate);
}

static int wait_at_gate(mp_task *task, const void *in, void *out)
{
    (void)task;
    while (!atomic_load(gate))
        usleep(200);
    if (out)
        *(long *)out = in ? *(const long *)in : -1;
    return 0;
}

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

static int fail_odd(mp_task *task, const void *in, void *out)
{
    long x = *(const long *)in;
    if (x % 2)
        return mp_task_fail(task, 7, "odd input %ld", x);
    *(long *)out = x;
    return 0;
}

/* ---- async map family -------------------------------------------------------- */

static pthread_t main_thread;

typedef struct cb_record {
    _Atomic int calls, error_calls;
    pthread_t thread;
    _Atomic int ok_when_called;     /* results were already in place */
    long *out;
    size_t n;
} cb_record;

static void on_success(mp_async *result, void *arg)
{
    cb_record *rec = arg;
    rec->thread = pthread_self();
    int in_place = 1;
    for (size_t i = 0; i < rec->n; i++)
        in_place &= rec->out[i] == (long)(i * i);
    atomic_store(&rec->ok_when_called, in_place);
    assert_int_equal(mp_async_ready(result), 1);
    atomic_fetch_add(&rec->calls, 1);
}

static void on_error(mp_async *result, void *arg)
{
    cb_record *rec = arg;
    rec->thread = pthread_self();
    assert_int_equal(mp_async_successful(result), 0);
    atomic_fetch_add(&rec->error_calls, 1);
}

static void test_map_async_and_callbacks(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 20000 };
        static long in[N], out[N];
        for (long i = 0; i < N; i++)
            in[i] = i;
        cb_record rec = { .out = out, .n = N };
        mp_call call = { .callback = on_success, .error_callback = on_error, .callback_arg = &rec };
        mp_async *res;
        assert_int_equal(mp_map_async(pool, square, in, N, sizeof *in, out, sizeof *out, &call, &res), 0);
        assert_int_equal(mp_async_wait(res, MP_FOREVER), 0);
        assert_int_equal(mp_async_ready(res), 1);
        assert_int_equal(mp_async_successful(res), 1);
        assert_int_equal(atomic_load(&rec.calls), 1);      /* ran before wait returned */
        assert_int_equal(atomic_load(&rec.error_calls), 0);
        assert_int_equal(atomic_load(&rec.ok_when_called), 1);
        assert_false(pthread_equal(rec.thread, main_thread));
        assert_int_equal(mp_async_get(res, 0, NULL), 0);
        assert_int_equal(mp_async_get(res, 0, NULL), 0);   /* a second get: the same outcome */
        mp_async_free(res);

        /* Failures go to the error callback and to get's list. */
        cb_record bad = { 0 };
        mp_call call2 = { .callback = on_success, .error_callback = on_error, .callback_arg = &bad };
        assert_int_equal(mp_map_async(pool, fail_odd, in, 100, sizeof *in, out, sizeof *out, &call2, &res), 0);
        mp_failures f;
        assert_int_equal(mp_async_get(res, MP_FOREVER, &f), MP_ETASK);
        assert_int_equal(f.count, 50);
        assert_int_equal(f.items[0].index, 1);
        assert_string_equal(f.items[0].message, "odd input 1");
        mp_failures_free(&f);
        assert_int_equal(atomic_load(&bad.error_calls), 1);
        assert_int_equal(atomic_load(&bad.calls), 0);
        for (long i = 0; i < 100; i += 2)
            assert_int_equal(out[i], i);
        mp_async_free(res);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static int weighted(mp_task *task, const void *const *in, void *out)
{
    (void)task;
    *(double *)out = *(const int *)in[0] * *(const double *)in[1];
    return 0;
}

static void test_starmap_and_apply_async(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        int a[100];
        double x[100], out[100];
        for (int i = 0; i < 100; i++) {
            a[i] = i;
            x[i] = 0.5;
        }
        mp_array args[2] = { { a, 100, sizeof *a }, { x, 100, sizeof *x } };
        mp_async *res;
        assert_int_equal(mp_starmap_async(pool, weighted, args, 2, out, sizeof *out, NULL, &res), 0);
        assert_int_equal(mp_async_get(res, 10.0, NULL), 0);
        for (int i = 0; i < 100; i++)
            assert_true(out[i] == i * 0.5);
        mp_async_free(res);

        long v = 9, sq = 0;
        assert_int_equal(mp_apply_async(pool, square, &v, sizeof v, &sq, sizeof sq, NULL, &res), 0);
        assert_int_equal(mp_async_get(res, 10.0, NULL), 0);
        assert_int_equal(sq, 81);
        mp_async_free(res);
        mp_pool_close(pool);
    }
}

static void test_async_timeouts(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        mp_async *res;
        long out[4];
        assert_int_equal(mp_map_async(pool, wait_at_gate, NULL, 4, 0, out, sizeof *out, NULL, &res), 0);
        assert_int_equal(mp_async_wait(res, 0.05), MP_ETIMEDOUT);       /* expires */
        assert_int_equal(mp_async_ready(res), 0);
        assert_int_equal(mp_async_successful(res), MP_EAGAIN);
        assert_int_equal(mp_async_get(res, 0.0, NULL), MP_ETIMEDOUT);   /* nothing taken */
        atomic_store(gate, 1);
        assert_int_equal(mp_async_get(res, 30.0, NULL), 0);             /* does not expire */
        for (int i = 0; i < 4; i++)
            assert_int_equal(out[i], -1);
        mp_async_free(res);
        mp_pool_close(pool);
    }
}

static void test_async_free_early(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        mp_async *res;
        enum { N = 1000 };
        static long out[N];
        assert_int_equal(mp_map_async(pool, wait_at_gate, NULL, N, 0, out, sizeof *out,
                                      &(mp_call){ .chunksize = 1 }, &res), 0);
        usleep(20000);
        atomic_store(gate, 1);
        mp_async_free(res);      /* cancels what has not started, waits for the rest */
        /* The pool is fine afterwards. */
        long v = 4, sq;
        assert_int_equal(mp_apply(pool, square, &v, sizeof v, &sq, sizeof sq, NULL), 0);
        assert_int_equal(sq, 16);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

/* ---- futures ----------------------------------------------------------------------- */

static void test_submit_result_and_failure(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_future *f[100];
        for (long i = 0; i < 100; i++)
            assert_int_equal(mp_submit(pool, square, &i, sizeof i, sizeof(long), NULL, &f[i]), 0);
        for (long i = 0; i < 100; i++) {
            long r = -1;
            assert_int_equal(mp_future_result(f[i], MP_FOREVER, &r, sizeof r), 0);
            assert_int_equal(r, i * i);
            assert_int_equal(mp_future_result(f[i], 0, &r, sizeof r), 0);   /* again */
            assert_int_equal(mp_future_done(f[i]), 1);
            assert_null(mp_future_failure(f[i]));
            mp_future_free(f[i]);
        }
        long odd = 3, r;
        mp_future *bad;
        assert_int_equal(mp_submit(pool, fail_odd, &odd, sizeof odd, sizeof r, NULL, &bad), 0);
        assert_int_equal(mp_future_result(bad, MP_FOREVER, &r, sizeof r), MP_ETASK);
        assert_non_null(strstr(mp_last_error(), "odd input 3"));
        const mp_failure *why = mp_future_failure(bad);
        assert_non_null(why);
        assert_int_equal(why->code, 7);
        assert_string_equal(why->message, "odd input 3");
        assert_int_equal(mp_future_result(bad, 0, &r, 4), MP_EINVAL);   /* wrong size */
        mp_future_free(bad);
        mp_pool_close(pool);
    }
}

/* Runs up to 3 s, but stops early once told its time is up (a thread
 * cannot be killed; a process past its deadline is). */
static int slow_unless_cancelled(mp_task *task, const void *in, void *out)
{
    (void)in;
    for (int i = 0; i < 300 && !mp_task_cancelled(task); i++)
        usleep(10000);
    *(long *)out = 1;
    return 0;
}

static void test_submit_honours_timeout(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_future *f;
        long out = 0;
        double t0 = now();
        assert_int_equal(mp_submit(pool, slow_unless_cancelled, NULL, 0, sizeof out, &(mp_call){ .timeout = 0.3 }, &f), 0);
        assert_int_equal(mp_future_result(f, MP_FOREVER, &out, sizeof out), MP_ETASK);
        assert_true(now() - t0 < 2.9);   /* not the task's full 3 s */
        const mp_failure *why = mp_future_failure(f);
        assert_non_null(why);
        assert_int_equal(why->code, MP_ETIMEDOUT);
        assert_non_null(strstr(why->message, "timed out"));
        mp_future_free(f);

        /* Bad timeouts are rejected, as map rejects them; nothing runs. */
        f = NULL;
        assert_int_equal(mp_submit(pool, slow_unless_cancelled, NULL, 0, sizeof out, &(mp_call){ .timeout = -5 }, &f),
                         MP_EINVAL);
        assert_non_null(strstr(mp_last_error(), "timeout"));
        assert_int_equal(mp_submit(pool, slow_unless_cancelled, NULL, 0, sizeof out, &(mp_call){ .timeout = NAN }, &f),
                         MP_EINVAL);
        assert_null(f);
        /* MP_FOREVER stays valid: no limit for this call. */
        assert_int_equal(mp_submit(pool, square, &(long){ 3 }, sizeof(long), sizeof out, &(mp_call){ .timeout = MP_FOREVER }, &f), 0);
        assert_int_equal(mp_future_result(f, MP_FOREVER, &out, sizeof out), 0);
        assert_int_equal(out, 9);
        mp_future_free(f);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

/* Python's AsyncResult.get() may be called again and again: so may
 * mp_async_get, with the same code and an equal list each time, each list
 * the caller's own. */
static void test_async_get_is_repeatable(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 10 };
        long in[N], out[N];
        for (long i = 0; i < N; i++)
            in[i] = i;
        mp_async *res;
        assert_int_equal(mp_map_async(pool, fail_odd, in, N, sizeof *in, out, sizeof *out, NULL, &res), 0);
        mp_failures first = { 0 }, second = { 0 };
        assert_int_equal(mp_async_get(res, MP_FOREVER, &first), MP_ETASK);
        assert_int_equal(mp_async_get(res, MP_FOREVER, &second), MP_ETASK);
        assert_non_null(strstr(mp_last_error(), "odd input 1"));
        assert_int_equal(mp_async_get(res, 0, NULL), MP_ETASK);
        assert_int_equal(mp_async_wait(res, 0), 0);
        assert_int_equal(first.count, N / 2);
        assert_int_equal(second.count, N / 2);
        assert_ptr_not_equal(first.items, second.items);
        for (size_t k = 0; k < first.count; k++) {
            assert_int_equal(first.items[k].index, second.items[k].index);
            assert_int_equal(first.items[k].code, second.items[k].code);
            assert_string_equal(first.items[k].message, second.items[k].message);
        }
        mp_failures_free(&first);
        assert_int_equal(second.items[0].index, 1);   /* still the caller's to read */
        mp_failures_free(&second);
        mp_async_free(res);

        assert_int_equal(mp_map_async(pool, square, in, N, sizeof *in, out, sizeof *out, NULL, &res), 0);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(mp_async_get(res, MP_FOREVER, &first), 0);
            assert_int_equal(first.count, 0);
            mp_failures_free(&first);
        }
        assert_int_equal(out[N - 1], (N - 1) * (N - 1));
        mp_async_free(res);

        /* A future's result likewise. */
        mp_future *f;
        assert_int_equal(mp_submit(pool, fail_odd, &(long){ 3 }, sizeof(long), sizeof(long), NULL, &f), 0);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(mp_future_result(f, MP_FOREVER, &out[0], sizeof out[0]), MP_ETASK);
            assert_non_null(strstr(mp_last_error(), "odd input 3"));
        }
        mp_future_free(f);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static void test_more_futures_than_slots(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 1000 };   /* far more than the pool's 64 job slots */
        static mp_future *f[N];
        for (long i = 0; i < N; i++)
            assert_int_equal(mp_submit(pool, square, &i, sizeof i, sizeof(long), NULL, &f[i]), 0);
        for (long i = N - 1; i >= 0; i--) {
            long r;
            assert_int_equal(mp_future_result(f[i], MP_FOREVER, &r, sizeof r), 0);
            assert_int_equal(r, i * i);
            mp_future_free(f[i]);
        }
        mp_pool_close(pool);
    }
}

static void test_cancel_pending_not_running(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 1);
        mp_future *running, *pending;
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &running), 0);
        while (!mp_future_running(running))
            usleep(100);
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &pending), 0);
        assert_int_equal(mp_future_running(pending), 0);
        assert_int_equal(mp_future_cancel(running), 0);    /* running: cannot */
        assert_int_equal(mp_future_cancel(pending), 1);    /* pending: can */
        assert_int_equal(mp_future_cancelled(pending), 1);
        assert_int_equal(mp_future_done(pending), 1);
        assert_int_equal(mp_future_result(pending, 0, NULL, 0), MP_ECANCELED);
        assert_int_equal(mp_future_cancel(pending), 0);    /* already done */
        atomic_store(gate, 1);
        assert_int_equal(mp_future_result(running, MP_FOREVER, NULL, 0), 0);
        assert_int_equal(mp_future_cancelled(running), 0);
        mp_future_free(running);
        mp_future_free(pending);
        mp_pool_close(pool);
    }
}

typedef struct done_log {
    _Atomic int count;
    pthread_t thread;
} done_log;

static void log_done(mp_future *f, void *arg)
{
    done_log *log = arg;
    assert_int_equal(mp_future_done(f), 1);
    /* The result is available inside the callback (no self-wait). */
    assert_int_equal(mp_future_result(f, 0, NULL, 0), 0);
    log->thread = pthread_self();
    atomic_fetch_add(&log->count, 1);
}

static void test_done_callbacks(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        mp_future *f;
        done_log before = { 0 }, after = { 0 };
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &f), 0);
        assert_int_equal(mp_future_add_done_callback(f, log_done, &before), 0);
        assert_int_equal(atomic_load(&before.count), 0);
        atomic_store(gate, 1);
        assert_int_equal(mp_future_wait(f, MP_FOREVER), 0);
        assert_int_equal(atomic_load(&before.count), 1);   /* pool's thread, before wait returned */
        assert_false(pthread_equal(before.thread, main_thread));
        /* Added to a finished future: runs at once, here. */
        assert_int_equal(mp_future_add_done_callback(f, log_done, &after), 0);
        assert_int_equal(atomic_load(&after.count), 1);
        assert_true(pthread_equal(after.thread, main_thread));
        assert_int_equal(mp_future_add_done_callback(f, NULL, NULL), MP_EINVAL);
        mp_future_free(f);
        mp_pool_close(pool);
    }
}

static void test_wait_modes(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 2);
        mp_future *fs[3];
        long one = 1, two = 2;
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &fs[0]), 0);
        assert_int_equal(mp_submit(pool, fail_odd, &one, sizeof one, sizeof(long), NULL, &fs[1]), 0);
        assert_int_equal(mp_submit(pool, fail_odd, &two, sizeof two, sizeof(long), NULL, &fs[2]), 0);
        size_t done = 0;
        assert_int_equal(mp_wait(fs, 3, 10.0, MP_FIRST_COMPLETED, &done), 0);
        assert_true(done >= 1);
        assert_int_equal(mp_wait(fs, 3, 10.0, MP_FIRST_EXCEPTION, &done), 0);   /* fs[1] failed */
        assert_int_equal(mp_future_done(fs[1]), 1);
        assert_int_equal(mp_wait(fs, 3, 0.05, MP_ALL_COMPLETED, &done), MP_ETIMEDOUT);
        assert_int_equal(done, 2);
        assert_int_equal(mp_wait(fs, 1, 0.0, MP_FIRST_COMPLETED, &done), MP_ETIMEDOUT);
        atomic_store(gate, 1);
        assert_int_equal(mp_wait(fs, 3, MP_FOREVER, MP_ALL_COMPLETED, &done), 0);
        assert_int_equal(done, 3);
        /* FIRST_EXCEPTION with no failure waits for all. */
        assert_int_equal(mp_wait(&fs[2], 1, MP_FOREVER, MP_FIRST_EXCEPTION, NULL), 0);
        for (int i = 0; i < 3; i++)
            mp_future_free(fs[i]);
        mp_pool_close(pool);
    }
}

/* Ends once the gate has reached this task's turn (*in): the test opens
 * the turns one by one, so the tasks complete in exactly that order however
 * the machine schedules them. */
static int finish_on_turn(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)out;
    while (atomic_load(gate) < *(const int *)in)
        usleep(200);
    return 0;
}

static void test_as_completed(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 4);
        atomic_store(gate, 0);
        const int turn[4] = { 4, 1, 3, 2 };
        mp_future *fs[4];
        for (int i = 0; i < 4; i++)
            assert_int_equal(mp_submit(pool, finish_on_turn, &turn[i], sizeof turn[i], 0, NULL, &fs[i]), 0);
        mp_as_completed *it;
        assert_int_equal(mp_as_completed_open(fs, 4, &it), 0);
        const int order[4] = { 1, 3, 2, 0 };   /* submission index by turn */
        for (int k = 0; k < 4; k++) {
            mp_future *f;
            atomic_store(gate, k + 1);
            assert_int_equal(mp_as_completed_next(it, 60.0, &f), 0);
            assert_ptr_equal(f, fs[order[k]]);
        }
        mp_future *f;
        assert_int_equal(mp_as_completed_next(it, 1.0, &f), MP_EEOF);
        mp_as_completed_free(it);
        /* A timeout that expires. */
        atomic_store(gate, 0);
        mp_future *slow;
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &slow), 0);
        assert_int_equal(mp_as_completed_open(&slow, 1, &it), 0);
        assert_int_equal(mp_as_completed_next(it, 0.05, &f), MP_ETIMEDOUT);
        atomic_store(gate, 1);
        assert_int_equal(mp_as_completed_next(it, MP_FOREVER, &f), 0);
        mp_as_completed_free(it);
        mp_future_free(slow);
        for (int i = 0; i < 4; i++)
            mp_future_free(fs[i]);
        mp_pool_close(pool);
    }
}

static void test_futures_outlive_pool_and_shutdown(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        atomic_store(gate, 0);
        mp_pool *pool = open_pool(b, 1);
        mp_future *busy, *queued[5], *kept;
        long v = 5;
        assert_int_equal(mp_submit(pool, square, &v, sizeof v, sizeof v, NULL, &kept), 0);
        assert_int_equal(mp_future_wait(kept, MP_FOREVER), 0);
        assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &busy), 0);
        while (!mp_future_running(busy))
            usleep(100);
        for (int i = 0; i < 5; i++)
            assert_int_equal(mp_submit(pool, wait_at_gate, NULL, 0, 0, NULL, &queued[i]), 0);
        mp_future_free(queued[4]);                  /* released while pending: no leak */
        assert_int_equal(mp_pool_shutdown(pool, 0, 1), 0);   /* cancel what waits */
        for (int i = 0; i < 4; i++)
            assert_int_equal(mp_future_cancelled(queued[i]), 1);
        mp_future *late;
        assert_int_equal(mp_submit(pool, square, &v, sizeof v, sizeof v, NULL, &late), MP_ECLOSED);
        atomic_store(gate, 1);
        assert_int_equal(mp_pool_close(pool), 0);   /* waits for `busy` */
        assert_int_equal(mp_future_done(busy), 1);
        assert_int_equal(mp_future_result(busy, 0, NULL, 0), 0);
        long r;
        assert_int_equal(mp_future_result(kept, 0, &r, sizeof r), 0);   /* after the pool */
        assert_int_equal(r, 25);
        mp_future_free(busy);
        mp_future_free(kept);
        for (int i = 0; i < 4; i++)
            mp_future_free(queued[i]);
    }
}

/* ---- variable-size results ------------------------------------------------------------ */

static int repeat_letter(mp_task *task, const void *in, void *out)
{
    (void)out;
    long n = *(const long *)in;
    if (n == 13)
        return mp_task_fail(task, 1, "unlucky");
    for (long i = 0; i < n; i++)
        if (mp_task_printf(task, "%c", (int)('a' + n % 26)))
            return 1;
    return 0;
}

static void test_variable_size_results(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 300 };
        long in[N];
        mp_bytes res[N];
        for (long i = 0; i < N; i++)
            in[i] = i * 7;
        in[5] = 13;
        mp_call call = { .results = res };
        assert_int_equal(mp_map(pool, repeat_letter, in, N, sizeof *in, NULL, 0, &call), MP_ETASK);
        for (long i = 0; i < N; i++) {
            if (i == 5) {
                assert_null(res[i].data);    /* a failed task's bytes are discarded */
                continue;
            }
            assert_int_equal(res[i].size, (size_t)in[i]);
            for (size_t k = 0; k < res[i].size; k++)
                assert_int_equal(((char *)res[i].data)[k], 'a' + in[i] % 26);
            mp_bytes_free(&res[i]);
            assert_null(res[i].data);
        }
        /* Without mp_call.results, writing is an error the task sees. */
        assert_int_equal(mp_map(pool, repeat_letter, in, 3, sizeof *in, NULL, 0, NULL), MP_ETASK);
        assert_non_null(strstr(mp_last_error(), "tasks failed"));

        mp_future *f;
        long n = 100000;
        assert_int_equal(mp_submit(pool, repeat_letter, &n, sizeof n, 0, NULL, &f), 0);
        mp_bytes one;
        assert_int_equal(mp_future_bytes(f, MP_FOREVER, &one), 0);
        assert_int_equal(one.size, 100000);
        assert_int_equal(((char *)one.data)[99999], 'a' + 100000 % 26);
        assert_int_equal(mp_future_bytes(f, 0, &one), MP_EINVAL);   /* taken */
        mp_bytes_free(&one);
        mp_future_free(f);
        mp_pool_close(pool);
    }
}

/* ---- bad input ------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 1), *other = open_pool(MP_BACKEND_THREAD, 1);
    long v = 2, out;
    mp_future *f, *g;
    mp_async *res;
    assert_int_equal(mp_submit(pool, square, &v, sizeof v, sizeof v, NULL, &f), 0);
    assert_int_equal(mp_submit(other, square, &v, sizeof v, sizeof v, NULL, &g), 0);
    assert_int_equal(mp_future_result(f, -2.0, &out, sizeof out), MP_EINVAL);
    assert_int_equal(mp_future_result(f, NAN, &out, sizeof out), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "NaN"));
    assert_int_equal(mp_future_wait(NULL, 1.0), MP_EINVAL);
    /* Every wait rejects a NaN or negative timeout other than MP_FOREVER. */
    const double bad[] = { -5.0, -0.5, NAN, -INFINITY };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        mp_bytes bytes;
        assert_int_equal(mp_future_wait(f, bad[k]), MP_EINVAL);
        assert_int_equal(mp_future_bytes(f, bad[k], &bytes), MP_EINVAL);
        assert_int_equal(mp_wait(&f, 1, bad[k], MP_ALL_COMPLETED, NULL), MP_EINVAL);
        mp_as_completed *ac;
        mp_future *next;
        assert_int_equal(mp_as_completed_open(&f, 1, &ac), 0);
        assert_int_equal(mp_as_completed_next(ac, bad[k], &next), MP_EINVAL);
        mp_as_completed_free(ac);
    }
    assert_int_equal(mp_wait(&f, 0, 1.0, MP_ALL_COMPLETED, NULL), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "empty"));
    mp_future *mixed[2] = { f, g };
    assert_int_equal(mp_wait(mixed, 2, 1.0, MP_ALL_COMPLETED, NULL), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "another pool"));
    assert_int_equal(mp_wait(&f, 1, 1.0, (mp_wait_mode)42, NULL), MP_EINVAL);
    mp_as_completed *it;
    assert_int_equal(mp_as_completed_open(&f, 0, &it), MP_EINVAL);
    assert_int_equal(mp_submit(pool, NULL, &v, sizeof v, sizeof v, NULL, &f), MP_EINVAL);
    assert_int_equal(mp_map_async(pool, square, &v, 1, sizeof v, &out, sizeof out, NULL, NULL), MP_EINVAL);
    mp_call cb = { .callback = (mp_async_callback)log_done };
    assert_int_equal(mp_map(pool, square, &v, 1, sizeof v, &out, sizeof out, &cb), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "async"));
    /* Size products that wrap are rejected before anything is staged. */
    size_t half = ((size_t)1 << 63) + 8;
    assert_int_equal(mp_map_async(pool, square, &v, 2, half, &out, sizeof out, NULL, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "overflow"));
    assert_int_equal(mp_map_async(pool, square, &v, 2, sizeof v, &out, half, NULL, &res), MP_EINVAL);
    mp_array wide[1] = { { &v, 2, half } };
    assert_int_equal(mp_starmap_async(pool, (mp_star_fn)square, wide, 1, &out, sizeof out, NULL, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "overflow"));
    assert_int_equal(mp_map_async(pool, square, &v, 1, sizeof v, &out, sizeof out, NULL, &res), 0);
    assert_int_equal(mp_async_get(res, NAN, NULL), MP_EINVAL);
    assert_int_equal(mp_async_get(res, -5.0, NULL), MP_EINVAL);
    assert_int_equal(mp_async_wait(res, -0.5), MP_EINVAL);
    assert_int_equal(mp_async_wait(res, NAN), MP_EINVAL);
    assert_int_equal(mp_map(pool, square, &v, 1, sizeof v, &out, sizeof out, &(mp_call){ .timeout = -5 }), MP_EINVAL);
    assert_int_equal(mp_map(pool, square, &v, 1, sizeof v, &out, sizeof out, &(mp_call){ .timeout = NAN }), MP_EINVAL);
    mp_async *never = NULL;
    assert_int_equal(mp_map_async(pool, square, &v, 1, sizeof v, &out, sizeof out, &(mp_call){ .timeout = -2 }, &never),
                     MP_EINVAL);
    assert_null(never);
    assert_int_equal(mp_async_get(res, MP_FOREVER, NULL), 0);
    assert_int_equal(out, 4);
    mp_async_free(res);
    mp_future_free(f);
    mp_future_free(g);
    mp_pool_close(pool);
    mp_pool_close(other);
}

int main(void)
{
    main_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_async_and_callbacks),
        cmocka_unit_test(test_starmap_and_apply_async),
        cmocka_unit_test(test_async_timeouts),
        cmocka_unit_test(test_async_free_early),
        cmocka_unit_test(test_submit_result_and_failure),
        cmocka_unit_test(test_submit_honours_timeout),
        cmocka_unit_test(test_async_get_is_repeatable),
        cmocka_unit_test(test_more_futures_than_slots),
        cmocka_unit_test(test_cancel_pending_not_running),
        cmocka_unit_test(test_done_callbacks),
        cmocka_unit_test(test_wait_modes),
        cmocka_unit_test(test_as_completed),
        cmocka_unit_test(test_futures_outlive_pool_and_shutdown),
        cmocka_unit_test(test_variable_size_results),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, gate_setup, gate_teardown);
}
