/* labels: unit;pool;concurrency */
/* test_pool.c - pools and the synchronous map family, on both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "support.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>


/* ---- task functions ---------------------------------------------------- */

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

static int index_times_ten(mp_task *task, const void *in, void *out)
{
    assert_null(in);
    *(size_t *)out = mp_task_index(task) * 10;
    return 0;
}

static int fail_some(mp_task *task, const void *in, void *out)
{
    long x = *(const long *)in;
    if (x % 7 == 3)
        return mp_task_fail(task, 40 + (int)(x % 5), "input %ld is unlucky", x);
    if (x % 11 == 5)
        return -5;   /* failure without a message */
    *(long *)out = x + 1;
    return 0;
}

static int add_context(mp_task *task, const void *in, void *out)
{
    const long *ctx = mp_task_context(task);
    if (mp_task_context_size(task) != 2 * sizeof(long))
        return mp_task_fail(task, 1, "context size %zu", mp_task_context_size(task));
    *(long *)out = *(const long *)in * ctx[0] + ctx[1];
    return 0;
}

static int weighted_sum(mp_task *task, const void *const *in, void *out)
{
    (void)task;
    int a = *(const int *)in[0];
    double b = *(const double *)in[1];
    char c = *(const char *)in[2];
    *(double *)out = a * b + c;
    return 0;
}

static int which_worker(mp_task *task, const void *in, void *out)
{
    (void)in;
    *(int *)out = mp_task_worker(task);
    return 0;
}

/* ---- map ------------------------------------------------------------------ */

static void check_squares(mp_pool *pool, size_t n, size_t chunksize)
{
    long *in = malloc(n * sizeof *in), *out = calloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++)
        in[i] = (long)i - 1000;
    mp_call call = { .chunksize = chunksize };
    assert_int_equal(mp_map(pool, square, in, n, sizeof *in, out, sizeof *out, &call), 0);
    for (size_t i = 0; i < n; i++)
        if (out[i] != in[i] * in[i])
            fail_msg("out[%zu] = %ld, expected %ld (chunksize %zu)", i, out[i], in[i] * in[i], chunksize);
    free(in);
    free(out);
}

static void test_map_orders_results(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 3);
        assert_int_equal(mp_pool_backend(pool), b);
        assert_int_equal(mp_pool_workers(pool), 3);
        check_squares(pool, 100000, 0);
        check_squares(pool, 100000, 1);
        check_squares(pool, 100003, 7);
        check_squares(pool, 5, 1000);
        check_squares(pool, 1, 0);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static void test_map_without_input(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        size_t out[1000];
        assert_int_equal(mp_map(pool, index_times_ten, NULL, 1000, 0, out, sizeof *out, NULL), 0);
        for (size_t i = 0; i < 1000; i++)
            assert_int_equal(out[i], i * 10);
        mp_pool_close(pool);
    }
}

static void test_map_empty(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long in[1] = { 3 }, out[1] = { 99 };
        assert_int_equal(mp_map(pool, square, in, 0, sizeof *in, out, sizeof *out, NULL), 0);
        assert_int_equal(out[0], 99);
        mp_pool_close(pool);
    }
}

static void test_map_reports_failures(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 1000 };
        long in[N], out[N];
        for (long i = 0; i < N; i++) {
            in[i] = i;
            out[i] = -1;
        }
        mp_failures failures;
        mp_call call = { .chunksize = 3, .failures = &failures };
        assert_int_equal(mp_map(pool, fail_some, in, N, sizeof *in, out, sizeof *out, &call), MP_ETASK);
        assert_non_null(strstr(mp_last_error(), "first: task 3 (code 43): input 3 is unlucky"));

        size_t expected = 0;
        for (long i = 0; i < N; i++) {
            bool unlucky = i % 7 == 3, quiet = !unlucky && i % 11 == 5;
            if (unlucky || quiet) {
                assert_true(expected < failures.count);
                mp_failure *f = &failures.items[expected++];
                assert_int_equal(f->index, (size_t)i);
                if (unlucky) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "input %ld is unlucky", i);
                    assert_int_equal(f->code, 40 + i % 5);
                    assert_string_equal(f->message, msg);
                } else {
                    assert_int_equal(f->code, -5);
                    assert_non_null(strstr(f->message, "failed with code -5"));
                }
            } else {
                assert_int_equal(out[i], i + 1);   /* every other result delivered */
            }
        }
        assert_int_equal(failures.count, expected);
        mp_failures_free(&failures);
        assert_null(failures.items);
        mp_failures_free(&failures);   /* twice is harmless */

        /* Without a failures list the call still says what went wrong. */
        assert_int_equal(mp_map(pool, fail_some, in, N, sizeof *in, out, sizeof *out, NULL), MP_ETASK);
        /* ... and the pool remains usable. */
        check_squares(pool, 10000, 0);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

/* Writes its output, then fails on odd inputs. */
static int write_then_fail_odd(mp_task *task, const void *in, void *out)
{
    long x = *(const long *)in;
    *(long *)out = 1000 + x;
    return x % 2 ? mp_task_fail(task, 3, "odd %ld", x) : 0;
}

static int star_write_then_fail_odd(mp_task *task, const void *const *in, void *out)
{
    return write_then_fail_odd(task, in[0], out);
}

/* The map family behaves the same on both backends, failed elements
 * included: each holds zeros, not what the task wrote nor what was there. */
static void test_failed_element_is_zeroed(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 64 };
        long in[N], out[N];
        for (long i = 0; i < N; i++) {
            in[i] = i;
            out[i] = -1;
        }
        assert_int_equal(mp_map(pool, write_then_fail_odd, in, N, sizeof *in, out, sizeof *out, NULL), MP_ETASK);
        for (long i = 0; i < N; i++)
            assert_int_equal(out[i], i % 2 ? 0 : 1000 + i);

        memset(out, 0xff, sizeof out);
        mp_array args[1] = { { in, N, sizeof *in } };
        assert_int_equal(mp_starmap(pool, star_write_then_fail_odd, args, 1, out, sizeof *out, NULL), MP_ETASK);
        for (long i = 0; i < N; i++)
            assert_int_equal(out[i], i % 2 ? 0 : 1000 + i);

        long one = -1;
        assert_int_equal(mp_apply(pool, write_then_fail_odd, &in[1], sizeof *in, &one, sizeof one, NULL), MP_ETASK);
        assert_int_equal(one, 0);

        mp_async *res;
        memset(out, 0xff, sizeof out);
        assert_int_equal(mp_map_async(pool, write_then_fail_odd, in, N, sizeof *in, out, sizeof *out, NULL, &res), 0);
        assert_int_equal(mp_async_get(res, MP_FOREVER, NULL), MP_ETASK);
        for (long i = 0; i < N; i++)
            assert_int_equal(out[i], i % 2 ? 0 : 1000 + i);
        mp_async_free(res);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

static void test_context_blob(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long ctx[2] = { 3, 4 };   /* made after the pool opened: copied in */
        long in[100], out[100];
        for (int i = 0; i < 100; i++)
            in[i] = i;
        mp_call call = { .context = ctx, .context_size = sizeof ctx };
        assert_int_equal(mp_map(pool, add_context, in, 100, sizeof *in, out, sizeof *out, &call), 0);
        for (int i = 0; i < 100; i++)
            assert_int_equal(out[i], 3 * i + 4);
        mp_pool_close(pool);
    }
}

static void test_shm_input_and_output_in_place(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long *in, *out;
        size_t n = 50000;
        /* Allocated after the pool opened, still visible to process workers. */
        assert_int_equal(mp_shm_alloc(n * sizeof *in, (void **)&in), 0);
        assert_int_equal(mp_shm_alloc(n * sizeof *out, (void **)&out), 0);
        assert_true(mp_shm_contains(in, n * sizeof *in));
        for (size_t i = 0; i < n; i++)
            in[i] = (long)i;
        assert_int_equal(mp_map(pool, square, in, n, sizeof *in, out, sizeof *out, NULL), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], (long)(i * i));
        mp_shm_free(in);
        mp_shm_free(out);
        mp_pool_close(pool);
    }
}

static void test_starmap_zips_arrays(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        enum { N = 3000 };
        static int a[N];
        static double x[N], out[N];
        static char c[N];
        for (int i = 0; i < N; i++) {
            a[i] = i;
            x[i] = 0.5 * i;
            c[i] = (char)(i % 100);
        }
        mp_array args[3] = { { a, N, sizeof *a }, { x, N, sizeof *x }, { c, N, sizeof *c } };
        assert_int_equal(mp_starmap(pool, weighted_sum, args, 3, out, sizeof *out, NULL), 0);
        for (int i = 0; i < N; i++)
            assert_true(out[i] == i * 0.5 * i + i % 100);
        mp_pool_close(pool);
    }
}

static void test_apply(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        long x = 12, y = 0;
        assert_int_equal(mp_apply(pool, square, &x, sizeof x, &y, sizeof y, NULL), 0);
        assert_int_equal(y, 144);
        x = 3;
        mp_failures f;
        mp_call call = { .failures = &f };
        assert_int_equal(mp_apply(pool, fail_some, &x, sizeof x, &y, sizeof y, &call), MP_ETASK);
        assert_int_equal(f.count, 1);
        assert_int_equal(f.items[0].index, 0);
        assert_string_equal(f.items[0].message, "input 3 is unlucky");
        mp_failures_free(&f);
        mp_pool_close(pool);
    }
}

static void test_every_worker_gets_work(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 4);
        enum { N = 4000 };
        static int out[N];
        assert_int_equal(mp_map(pool, which_worker, NULL, N, 0, out, sizeof *out, &(mp_call){ .chunksize = 1 }), 0);
        for (int i = 0; i < N; i++)
            assert_true(out[i] >= 0 && out[i] < 4);
        mp_pool_close(pool);
    }
}

/* ---- several callers on one pool ---------------------------------------------- */

static void *map_from_thread(void *arg)
{
    mp_pool *pool = arg;
    for (int round = 0; round < 20; round++)
        check_squares(pool, 2000 + (size_t)round, round % 3 ? 0 : 5);
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, map_from_thread, pool);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        assert_int_equal(mp_pool_close(pool), 0);
    }
}

/* ---- bad input ------------------------------------------------------------- */

static int count_calls(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    atomic_fetch_add((_Atomic long *)mp_task_context(task), 1);
    return 0;
}

static void expect_einval(int r, const char *needle)
{
    assert_int_equal(r, MP_EINVAL);
    if (!strstr(mp_last_error(), needle))
        fail_msg("message '%s' does not mention '%s'", mp_last_error(), needle);
}

static void test_bad_input_is_rejected(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 2);
    _Atomic long calls = 0;
    mp_call call = { .context = (const void *)&calls, .context_size = sizeof calls };
    long in[4] = { 0 }, out[4];

    expect_einval(mp_map(NULL, square, in, 4, sizeof *in, out, sizeof *out, NULL), "pool is NULL");
    expect_einval(mp_map(pool, NULL, in, 4, sizeof *in, out, sizeof *out, NULL), "task function is NULL");
    expect_einval(mp_map(pool, count_calls, in, 4, 0, out, sizeof *out, &call), "in_size is 0");
    expect_einval(mp_map(pool, count_calls, NULL, 4, 8, out, sizeof *out, &call), "in is NULL");
    expect_einval(mp_map(pool, count_calls, in, 4, sizeof *in, out, 0, &call), "out_size is 0");
    expect_einval(mp_map(pool, count_calls, in, 4, sizeof *in, NULL, 8, &call), "out is NULL");
    expect_einval(mp_map(pool, count_calls, in, (size_t)-1, sizeof *in, out, sizeof *out, &call), "count");
    mp_call no_ctx = { .context_size = 8 };
    expect_einval(mp_map(pool, count_calls, in, 4, sizeof *in, out, sizeof *out, &no_ctx), "context is NULL");

    mp_array args[2] = { { in, 4, sizeof *in }, { in, 3, sizeof *in } };
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, args, 2, out, sizeof *out, &call), "args[1] has 3 elements");
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, args, 0, out, sizeof *out, &call), "nargs is 0");
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, args, 17, out, sizeof *out, &call), "nargs is 17");
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, NULL, 1, out, sizeof *out, &call), "args is NULL");
    mp_array zero_size[1] = { { in, 4, 0 } };
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, zero_size, 1, out, sizeof *out, &call), "size is 0");
    expect_einval(mp_apply(NULL, square, in, sizeof *in, out, sizeof *out, NULL), "pool is NULL");

    /* Size products that wrap are rejected, never staged: count x in_size,
     * count x out_size, and each starmap array. */
    size_t half = ((size_t)1 << 63) + 8;
    expect_einval(mp_map(pool, count_calls, in, 2, half, out, sizeof *out, &call), "overflow");
    expect_einval(mp_map(pool, count_calls, in, 2, sizeof *in, out, half, &call), "overflow");
    mp_array wide[2] = { { in, 2, sizeof *in }, { in, 2, half } };
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, wide, 2, out, sizeof *out, &call), "overflow");
    expect_einval(mp_starmap(pool, (mp_star_fn)count_calls, wide, 1, out, half, &call), "overflow");

    assert_int_equal(atomic_load(&calls), 0);   /* nothing ran */
    /* The pool is untouched by all of that. */
    assert_int_equal(mp_map(pool, count_calls, NULL, 10, 0, NULL, 0, &call), 0);
    assert_int_equal(atomic_load(&calls), 10);
    mp_pool_close(pool);
}

static void test_bad_options_and_environment(void **state)
{
    (void)state;
    mp_pool *pool = (mp_pool *)0x1;
    expect_einval(mp_pool_open(NULL, NULL), "out is NULL");
    expect_einval(mp_pool_open(&pool, &(mp_pool_options){ .workers = -1 }), "workers is -1");
    expect_einval(mp_pool_open(&pool, &(mp_pool_options){ .backend = (mp_backend)99 }), "unknown backend 99");

    setenv("MPROC_BACKEND", "gpu", 1);
    expect_einval(mp_pool_open(&pool, NULL), "MPROC_BACKEND: unknown backend 'gpu'");
    setenv("MPROC_BACKEND", "process", 1);
    setenv("MPROC_WORKERS", "two", 1);
    expect_einval(mp_pool_open(&pool, NULL), "MPROC_WORKERS: 'two'");
    setenv("MPROC_WORKERS", "0", 1);
    expect_einval(mp_pool_open(&pool, NULL), "MPROC_WORKERS: '0'");
    assert_ptr_equal(pool, (mp_pool *)0x1);   /* never written on failure */

    setenv("MPROC_WORKERS", "3", 1);
    assert_int_equal(mp_pool_open(&pool, NULL), 0);
    assert_int_equal(mp_pool_backend(pool), MP_BACKEND_PROCESS);
    assert_int_equal(mp_pool_workers(pool), 3);
    mp_pool_close(pool);
    /* An explicit option wins over the environment. */
    assert_int_equal(mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_THREAD, .workers = 1 }), 0);
    assert_int_equal(mp_pool_backend(pool), MP_BACKEND_THREAD);
    assert_int_equal(mp_pool_workers(pool), 1);
    mp_pool_close(pool);
    unsetenv("MPROC_BACKEND");
    unsetenv("MPROC_WORKERS");

    assert_int_equal(mp_pool_open(&pool, NULL), 0);
    assert_int_equal(mp_pool_backend(pool), MP_BACKEND_THREAD);
    assert_int_equal(mp_pool_workers(pool), mp_cpu_count());
    mp_pool_close(pool);
    assert_int_equal(mp_pool_close(NULL), 0);
    assert_int_equal(mp_pool_terminate(NULL), 0);
    assert_int_equal(mp_pool_workers(NULL), -1);
}

static void test_cpu_count(void **state)
{
    (void)state;
    int n = mp_cpu_count();
    assert_true(n >= 1);
    assert_true(n <= sysconf(_SC_NPROCESSORS_ONLN));
}

/* ---- lifecycle -------------------------------------------------------------- */

/* slow_task runs so far, in memory process workers share: mapped before
 * the first pool opens (they see globals as they were then). */
static _Atomic int *slow_runs;

static void reset_slow_runs(void)
{
    if (!slow_runs) {
        slow_runs = mmap(NULL, sizeof *slow_runs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        assert_true(slow_runs != MAP_FAILED);
    }
    atomic_store(slow_runs, 0);
}

static int slow_task(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    atomic_fetch_add(slow_runs, 1);
    usleep(2000);
    *(int *)out = 1;
    return 0;
}

typedef struct closer { mp_pool *pool; int result; bool terminate; } closer;

/* Closes the pool once its map runs (a task has started): closing before
 * the map began would free the pool under it. */
static void *close_while_mapping(void *arg)
{
    closer *c = arg;
    while (atomic_load(slow_runs) == 0)
        usleep(100);
    c->result = c->terminate ? mp_pool_terminate(c->pool) : mp_pool_close(c->pool);
    return NULL;
}

static void test_close_waits_for_running_map(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        reset_slow_runs();
        mp_pool *pool = open_pool(b, 2);
        enum { N = 200 };
        int out[N] = { 0 };
        closer c = { pool, -1, false };
        pthread_t t;
        pthread_create(&t, NULL, close_while_mapping, &c);
        assert_int_equal(mp_map(pool, slow_task, NULL, N, 0, out, sizeof *out, &(mp_call){ .chunksize = 1 }), 0);
        for (int i = 0; i < N; i++)
            assert_int_equal(out[i], 1);
        pthread_join(t, NULL);
        assert_int_equal(c.result, 0);
    }
}

static void test_terminate_stops_running_map(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        reset_slow_runs();
        mp_pool *pool = open_pool(b, 2);
        enum { N = 100000 };   /* 100 s of work if it were not stopped */
        static int out[N];
        closer c = { pool, -1, true };
        pthread_t t;
        pthread_create(&t, NULL, close_while_mapping, &c);
        assert_int_equal(mp_map(pool, slow_task, NULL, N, 0, out, sizeof *out, &(mp_call){ .chunksize = 1 }), MP_ECLOSED);
        pthread_join(t, NULL);
        assert_int_equal(c.result, 0);
    }
}

static int die(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    if (mp_task_index(task) == 7)
        raise(SIGKILL);
    return 0;
}

/* A worker that dies is accounted for and replaced: the task it was running
 * fails with the cause, every other task completes, the pool stays usable. */
static void test_dead_worker_fails_its_task_and_is_replaced(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_PROCESS, 2);
    mp_failures failed = { 0 };
    assert_int_equal(mp_map(pool, die, NULL, 100, 0, NULL, 0, &(mp_call){ .failures = &failed }), MP_ETASK);
    assert_non_null(strstr(mp_last_error(), "killed by SIGKILL while running task 7"));
    assert_int_equal(failed.count, 1);
    assert_int_equal(failed.items[0].index, 7);
    assert_int_equal(failed.items[0].code, MP_EWORKER);
    mp_failures_free(&failed);
    check_squares(pool, 1000, 1);
    assert_int_equal(mp_pool_close(pool), 0);
}

/* ---- a task calling its own pool ------------------------------------------ */

/* What a task got from blocking calls on its own pool. */
typedef struct self_calls {
    int calls;          /* blocking calls attempted */
    int refused;        /* returned MP_EINVAL */
    int named;          /* ... with a message saying why */
} self_calls;

static void note(self_calls *o, int r)
{
    o->calls++;
    o->refused += r == MP_EINVAL;
    o->named += r == MP_EINVAL && strstr(mp_last_error(), "same pool") != NULL;
}

static int star_square(mp_task *task, const void *const *in, void *out)
{
    return square(task, in[0], out);
}

/* Tries every blocking call on the pool it runs on (passed in the
 * context: the pointer is valid in process workers too, as the pool was
 * allocated before they were forked).  Submitting without waiting is
 * allowed on a thread pool; waiting on what was submitted is not. */
static int call_own_pool(mp_task *task, const void *in, void *out)
{
    (void)in;
    mp_pool *pool = *(mp_pool *const *)mp_task_context(task);
    self_calls *o = out;
    *o = (self_calls){ 0 };
    long x = 3, y;
    mp_array arg = { &x, 1, sizeof x };
    note(o, mp_map(pool, square, &x, 1, sizeof x, &y, sizeof y, NULL));
    note(o, mp_starmap(pool, star_square, &arg, 1, &y, sizeof y, NULL));
    note(o, mp_apply(pool, square, &x, sizeof x, &y, sizeof y, NULL));
    note(o, mp_pool_shutdown(pool, 1, 0));
    note(o, mp_pool_close(pool));
    note(o, mp_pool_terminate(pool));

    mp_async *res;
    int r = mp_map_async(pool, square, &x, 1, sizeof x, &y, sizeof y, NULL, &res);
    if (r == 0) {
        note(o, mp_async_get(res, MP_FOREVER, NULL));
        note(o, mp_async_wait(res, MP_FOREVER));
        mp_async_free(res);
    } else {
        note(o, r);                     /* a process worker's pool is a copy */
    }
    mp_future *f;
    if ((r = mp_submit(pool, square, &x, sizeof x, sizeof y, NULL, &f)) == 0) {
        note(o, mp_future_result(f, MP_FOREVER, &y, sizeof y));
        note(o, mp_future_wait(f, MP_FOREVER));
        note(o, mp_wait(&f, 1, MP_FOREVER, MP_ALL_COMPLETED, NULL));
        mp_as_completed *it;
        if (mp_as_completed_open(&f, 1, &it) == 0) {
            mp_future *next;
            note(o, mp_as_completed_next(it, MP_FOREVER, &next));
            mp_as_completed_free(it);
        }
        mp_future_free(f);
    } else {
        note(o, r);
    }
    mp_imap *it;
    if ((r = mp_imap_open(pool, square, &x, 1, sizeof x, NULL, NULL, sizeof y, NULL, &it)) == 0) {
        note(o, mp_imap_next(it, MP_FOREVER, &y, NULL, NULL));
        mp_imap_free(it);
    } else {
        note(o, r);
    }
    return 0;
}

/* Blocking calls from a task on its own pool would wait for themselves:
 * each is refused with a message, and the pool is none the worse. */
static void test_task_calling_its_own_pool_is_refused(void **state)
{
    (void)state;
    alarm(120);                            /* a hang is a failure, not a stuck suite */
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 1);   /* one worker: every such wait would deadlock */
        self_calls got[2];
        mp_call call = { .context = &pool, .context_size = sizeof pool };
        assert_int_equal(mp_map(pool, call_own_pool, NULL, 2, 0, got, sizeof *got, &call), 0);
        for (int k = 0; k < 2; k++) {
            assert_true(got[k].calls >= 9);
            assert_int_equal(got[k].refused, got[k].calls);
            assert_int_equal(got[k].named, got[k].calls);
        }
        check_squares(pool, 1000, 0);
        assert_int_equal(mp_pool_close(pool), 0);
    }
    alarm(0);
}

/* ---- a forked child and its parent's pool --------------------------------- */

/* The pool a program keeps in a global and closes at exit. */
static mp_pool *global_pool;

static void close_global_pool(void)
{
    mp_pool_close(global_pool);
}

enum child_action { CHILD_CLOSES, CHILD_TERMINATES, CHILD_EXITS_WITH_ATEXIT };

/* In the forked child: every use of the inherited pool and its handles is
 * refused with a message; then the child releases its copy the way
 * `action` says.  Exits 0 when all went as documented, else the number of
 * the check that did not. */
static _Noreturn void child_of_pool_owner(enum child_action action, mp_future *f, mp_async *res, mp_imap *it)
{
    long x = 2, y;
    int check = 0;
#define CHILD_EXPECT(cond) do { check++; if (!(cond)) _exit(check); } while (0)
#define REFUSED(call) CHILD_EXPECT((call) == MP_EINVAL && strstr(mp_last_error(), "forked from it"))
    REFUSED(mp_map(global_pool, square, &x, 1, sizeof x, &y, sizeof y, NULL));
    REFUSED(mp_apply(global_pool, square, &x, sizeof x, &y, sizeof y, NULL));
    mp_async *r2;
    REFUSED(mp_map_async(global_pool, square, &x, 1, sizeof x, &y, sizeof y, NULL, &r2));
    mp_future *f2;
    REFUSED(mp_submit(global_pool, square, &x, sizeof x, sizeof y, NULL, &f2));
    mp_imap *it2;
    REFUSED(mp_imap_open(global_pool, square, &x, 1, sizeof x, NULL, NULL, sizeof y, NULL, &it2));
    REFUSED(mp_pool_shutdown(global_pool, 1, 1));
    CHILD_EXPECT(mp_pool_cancel(global_pool) == MP_EINVAL);
    REFUSED(mp_future_result(f, MP_FOREVER, &y, sizeof y));
    REFUSED(mp_future_cancel(f));
    REFUSED(mp_wait(&f, 1, 0, MP_ALL_COMPLETED, NULL));
    REFUSED(mp_async_get(res, MP_FOREVER, NULL));
    REFUSED(mp_imap_next(it, MP_FOREVER, &y, NULL, NULL));
    /* Freeing releases the child's copies only. */
    mp_future_free(f);
    mp_async_free(res);
    mp_imap_free(it);
    switch (action) {
    case CHILD_CLOSES:
        CHILD_EXPECT(mp_pool_close(global_pool) == 0);
        break;
    case CHILD_TERMINATES:
        CHILD_EXPECT(mp_pool_terminate(global_pool) == 0);
        break;
    case CHILD_EXITS_WITH_ATEXIT:
        atexit(close_global_pool);      /* say, after a failed exec */
        exit(0);
    }
    _exit(0);
#undef REFUSED
#undef CHILD_EXPECT
}

/* A child made with plain fork() that closes or terminates its inherited
 * pool (directly, or from an atexit handler) releases only its own copy:
 * the parent's pool, its handles and its iterators go on unharmed. */
static void test_forked_child_leaves_the_pool_alone(void **state)
{
    (void)state;
    alarm(120);                            /* a hang is a failure, not a stuck suite */
    FOR_EACH_BACKEND(b) {
        for (int action = CHILD_CLOSES; action <= CHILD_EXITS_WITH_ATEXIT; action++) {
            global_pool = open_pool(b, 2);
            check_squares(global_pool, 100, 0);
            long x = 5, y = 0, xs[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, ys[8];
            mp_future *f;
            mp_async *res;
            mp_imap *it;
            assert_int_equal(mp_submit(global_pool, square, &x, sizeof x, sizeof y, NULL, &f), 0);
            assert_int_equal(mp_map_async(global_pool, square, xs, 8, sizeof *xs, ys, sizeof *ys, NULL, &res), 0);
            assert_int_equal(mp_imap_open(global_pool, square, xs, 8, sizeof *xs, NULL, NULL, sizeof y, NULL, &it), 0);
            assert_int_equal(mp_future_wait(f, MP_FOREVER), 0);
            fflush(NULL);
            pid_t child = fork();
            assert_true(child >= 0);
            if (child == 0)
                child_of_pool_owner((enum child_action)action, f, res, it);
            int status;
            assert_int_equal(waitpid(child, &status, 0), child);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("%s pool, child action %d: status 0x%x (check %d failed)", mp_backend_name(b), action, status,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);

            /* The parent's pool, handles and iterator all still work. */
            assert_int_equal(mp_future_result(f, MP_FOREVER, &y, sizeof y), 0);
            assert_int_equal(y, 25);
            assert_int_equal(mp_async_get(res, MP_FOREVER, NULL), 0);
            assert_int_equal(ys[7], 49);
            for (long i = 0; i < 8; i++) {
                assert_int_equal(mp_imap_next(it, MP_FOREVER, &y, NULL, NULL), 0);
                assert_int_equal(y, i * i);
            }
            mp_imap_free(it);
            mp_async_free(res);
            mp_future_free(f);
            check_squares(global_pool, 10000, 0);
            assert_int_equal(mp_pool_close(global_pool), 0);
            global_pool = NULL;
        }
    }
    alarm(0);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_open_close_cycles_leak_nothing(void **state)
{
    (void)state;
    int fds = count_fds();
    FOR_EACH_BACKEND(b) {
        for (int i = 0; i < 30; i++) {
            mp_pool *pool = open_pool(b, 2);
            check_squares(pool, 100, 0);
            assert_int_equal(mp_pool_close(pool), 0);
        }
    }
    assert_int_equal(count_fds(), fds);
    /* Every worker was reaped: no child of ours remains. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

/* mp_map_strings: strings built after the pool opened (so not in any
 * worker's copy of the heap) reach every task, on every backend. */
static int string_length(mp_task *task, const void *in, void *out)
{
    const char *s = in;
    if (!s)
        return mp_task_fail(task, 7, "task %zu got NULL", mp_task_index(task));
    *(size_t *)out = strlen(s) + (s[0] == 'w' ? 1000 : 0);
    return 0;
}

static char **make_strings(size_t n)
{
    char **v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(i + 2);
        assert_non_null(v[i]);
        memset(v[i], 'w', i + 1);
        v[i][i + 1] = '\0';
    }
    return v;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void test_map_over_strings(void **state)
{
    (void)state;
    enum { N = 300 };
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        char **v = make_strings(N);
        size_t len[N];
        assert_int_equal(mp_map_strings(pool, string_length, (const char *const *)v, N, len, sizeof len[0], NULL), 0);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(len[i], 1000 + i + 1);

        /* A NULL string reaches its task as NULL. */
        free(v[5]);
        v[5] = NULL;
        mp_failures failures = { 0 };
        mp_call call = { .failures = &failures };
        assert_int_equal(mp_map_strings(pool, string_length, (const char *const *)v, N, len, sizeof len[0], &call),
                         MP_ETASK);
        assert_int_equal(failures.count, 1);
        assert_int_equal(failures.items[0].index, 5);
        assert_int_equal(failures.items[0].code, 7);
        mp_failures_free(&failures);

        /* Async: the strings may go as soon as the call returns. */
        char **w = make_strings(N);
        mp_async *res;
        assert_int_equal(mp_map_strings_async(pool, string_length, (const char *const *)w, N, len, sizeof len[0], NULL,
                                              &res), 0);
        free_strings(w, N);
        assert_int_equal(mp_async_get(res, MP_FOREVER, NULL), 0);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(len[i], 1000 + i + 1);
        mp_async_free(res);

        /* Bad input changes nothing; an empty map is a map. */
        assert_int_equal(mp_map_strings(pool, string_length, NULL, 3, len, sizeof len[0], NULL), MP_EINVAL);
        assert_non_null(strstr(mp_last_error(), "strings is NULL"));
        assert_int_equal(mp_map_strings(pool, NULL, (const char *const *)v, N, len, sizeof len[0], NULL), MP_EINVAL);
        assert_int_equal(mp_map_strings(NULL, string_length, (const char *const *)v, N, len, sizeof len[0], NULL), MP_EINVAL);
        assert_int_equal(mp_map_strings(pool, string_length, NULL, 0, NULL, 0, NULL), 0);
        free_strings(v, N);
        mp_pool_close(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_orders_results),
        cmocka_unit_test(test_map_without_input),
        cmocka_unit_test(test_map_empty),
        cmocka_unit_test(test_map_reports_failures),
        cmocka_unit_test(test_failed_element_is_zeroed),
        cmocka_unit_test(test_context_blob),
        cmocka_unit_test(test_shm_input_and_output_in_place),
        cmocka_unit_test(test_starmap_zips_arrays),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_every_worker_gets_work),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_bad_input_is_rejected),
        cmocka_unit_test(test_bad_options_and_environment),
        cmocka_unit_test(test_cpu_count),
        cmocka_unit_test(test_close_waits_for_running_map),
        cmocka_unit_test(test_terminate_stops_running_map),
        cmocka_unit_test(test_dead_worker_fails_its_task_and_is_replaced),
        cmocka_unit_test(test_task_calling_its_own_pool_is_refused),
        cmocka_unit_test(test_forked_child_leaves_the_pool_alone),
        cmocka_unit_test(test_open_close_cycles_leak_nothing),
        cmocka_unit_test(test_map_over_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
