/* labels: ipc */
/* test_shm_value.c - mp_value and mp_shared_array: sharing across processes, the
 * lock, the lock-free 8-byte helpers, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <signal.h>
#include <string.h>

#define ROUNDS 20000

static void join_ok(mp_process *p, int expected)
{
    int code = -1000;
    assert_int_equal(mp_process_join(p, 60), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, expected);
    assert_int_equal(mp_process_close(p), 0);
}

static int add_locked(void *arg, size_t size)
{
    (void)size;
    mp_value *v = *(mp_value **)arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (mp_value_lock(v, 30) != 0)
            return 1;
        long *c = mp_value_ptr(v);
        ++*c;
        mp_value_unlock(v);
    }
    return 0;
}

static void test_value_counter_under_lock(void **state)
{
    (void)state;
    mp_value *v;
    long zero = 0;
    assert_int_equal(mp_value_create(&v, sizeof(long), &zero, 0), 0);
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, add_locked, &v, sizeof v, 0), 0);
    assert_int_equal(add_locked(&v, sizeof v), 0);
    for (int i = 0; i < 3; i++)
        join_ok(p[i], 0);
    long total = 0;
    assert_int_equal(mp_value_get(v, &total), 0);
    assert_int_equal(total, 4L * ROUNDS);
    assert_int_equal(mp_value_destroy(v), 0);
}

static int add_atomic(void *arg, size_t size)
{
    (void)size;
    mp_value *v = *(mp_value **)arg;
    for (int i = 0; i < ROUNDS; i++)
        if (mp_value_add_i64(v, 2, NULL) != 0)
            return 1;
    return 0;
}

static void test_value_atomic_helpers(void **state)
{
    (void)state;
    mp_value *v;
    assert_int_equal(mp_value_create(&v, 8, NULL, MP_SHARED_NOLOCK), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, add_atomic, &v, sizeof v, 0), 0);
    assert_int_equal(add_atomic(&v, sizeof v), 0);
    join_ok(p, 0);
    int64_t x = 0, now = 0;
    assert_int_equal(mp_value_get_i64(v, &x), 0);
    assert_int_equal(x, 4L * ROUNDS);
    assert_int_equal(mp_value_add_i64(v, -1, &now), 0);
    assert_int_equal(now, 4L * ROUNDS - 1);
    assert_int_equal(mp_value_set_f64(v, 2.5), 0);
    double d = 0;
    assert_int_equal(mp_value_get_f64(v, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(mp_value_set_i64(v, 7), 0);
    assert_int_equal(mp_value_lock(v, 0), MP_EINVAL); /* no lock */
    assert_int_equal(mp_value_unlock(v), MP_EINVAL);
    assert_int_equal(mp_value_destroy(v), 0);
    assert_int_equal(mp_value_get_i64(v, &x), MP_EINVAL); /* destroyed */

    mp_value *small;
    assert_int_equal(mp_value_create(&small, 4, NULL, 0), 0);
    assert_int_equal(mp_value_add_i64(small, 1, NULL), MP_EINVAL);
    mp_value_destroy(small);
    assert_int_equal(mp_value_create(&small, 0, NULL, 0), MP_EINVAL);
    assert_int_equal(mp_value_create(&small, 8, NULL, 4), MP_EINVAL);
    assert_int_equal(mp_value_create(NULL, 8, NULL, 0), MP_EINVAL);
}

static int fill_half(void *arg, size_t size)
{
    (void)size;
    mp_shared_array *a = *(mp_shared_array **)arg;
    size_t n = mp_shared_array_length(a);
    for (size_t i = n / 2; i < n; i++) {
        double x = (double)i * 0.5;
        if (mp_shared_array_set(a, i, &x) != 0)
            return 1;
    }
    return 0;
}

static void test_array(void **state)
{
    (void)state;
    mp_shared_array *a;
    double init[100];
    for (int i = 0; i < 100; i++)
        init[i] = -1;
    assert_int_equal(mp_shared_array_create(&a, 100, sizeof(double), init, 0), 0);
    assert_int_equal(mp_shared_array_length(a), 100);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, fill_half, &a, sizeof a, 0), 0);
    join_ok(p, 0);
    double *d = mp_shared_array_data(a);
    assert_non_null(d);
    assert_true(d[0] == -1 && d[49] == -1);
    double x;
    assert_int_equal(mp_shared_array_get(a, 99, &x), 0);
    assert_true(x == 49.5);
    assert_int_equal(mp_shared_array_get(a, 100, &x), MP_EINVAL);
    assert_int_equal(mp_shared_array_get(a, 0, NULL), MP_EINVAL);
    assert_int_equal(mp_shared_array_lock(a, 0), 0);
    assert_int_equal(mp_shared_array_unlock(a), 0);
    assert_int_equal(mp_shared_array_destroy(a), 0);
    assert_null(mp_shared_array_data(a));
    assert_int_equal(mp_shared_array_create(&a, 0, 8, NULL, 0), MP_EINVAL);
    assert_int_equal(mp_shared_array_create(&a, SIZE_MAX / 2, 8, NULL, 0), MP_EINVAL);
}

static int die_holding_value_lock(void *arg, size_t size)
{
    (void)size;
    mp_value *v = *(mp_value **)arg;
    if (mp_value_lock(v, 30) != 0)
        return 1;
    raise(SIGKILL);
    return 2;
}

static void test_value_lock_holder_killed(void **state)
{
    (void)state;
    mp_value *v;
    assert_int_equal(mp_value_create(&v, 8, NULL, 0), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, die_holding_value_lock, &v, sizeof v, 0), 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    mp_process_close(p);
    assert_int_equal(mp_value_lock(v, 10), MP_EOWNERDEAD);
    assert_int_equal(mp_value_unlock(v), 0);
    int64_t x = 5;
    assert_int_equal(mp_value_set(v, &x), 0); /* the lock works again */
    mp_value_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_counter_under_lock),
        cmocka_unit_test(test_value_atomic_helpers),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_value_lock_holder_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
