/* labels: ipc */
/* test_dict.c - mp_dict: basic operations, full table, sizes, iteration,
 * concurrent writers in several processes and threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_basic(void **state)
{
    (void)state;
    mp_dict *d;
    assert_int_equal(mp_dict_create(&d, 4, 16, 32), 0);
    assert_int_equal(mp_dict_len(d), 0);
    assert_int_equal(mp_dict_set_str(d, "pi", "3.14159", 8), 0);
    assert_int_equal(mp_dict_set_str(d, "e", "2.71828", 8), 0);
    char buf[32];
    size_t n = 0;
    assert_int_equal(mp_dict_get_str(d, "pi", buf, sizeof buf, &n), 0);
    assert_int_equal(n, 8);
    assert_string_equal(buf, "3.14159");
    assert_int_equal(mp_dict_set_str(d, "pi", "3", 2), 0); /* replace */
    assert_int_equal(mp_dict_get_str(d, "pi", buf, sizeof buf, &n), 0);
    assert_string_equal(buf, "3");
    assert_int_equal(mp_dict_len(d), 2);
    assert_int_equal(mp_dict_get_str(d, "tau", buf, sizeof buf, &n), MP_ENOENT);
    assert_int_equal(mp_dict_get_str(d, "e", buf, 3, &n), MP_ERANGE);
    assert_int_equal(n, 8);
    void *v;
    assert_int_equal(mp_dict_get_alloc(d, "e", 1, &v, &n), 0);
    assert_int_equal(n, 8);
    assert_string_equal(v, "2.71828");
    free(v);

    /* Binary keys, the empty key and empty values. */
    unsigned char bin[3] = {0, 255, 0};
    assert_int_equal(mp_dict_set(d, bin, 3, NULL, 0), 0);
    assert_int_equal(mp_dict_get(d, bin, 3, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(mp_dict_set(d, NULL, 0, "empty", 6), 0);
    assert_int_equal(mp_dict_len(d), 4);

    /* Full, oversized, bad input: nothing changes. */
    assert_int_equal(mp_dict_set_str(d, "one-more", "x", 1), MP_EFULL);
    assert_int_equal(mp_dict_set_str(d, "pi", "x", 1), 0); /* replacing still works */
    assert_int_equal(mp_dict_set_str(d, "a-key-longer-than-16", "x", 1), MP_EMSGSIZE);
    char big[33] = {0};
    assert_int_equal(mp_dict_set_str(d, "e", big, sizeof big), MP_EMSGSIZE);
    assert_int_equal(mp_dict_get_str(d, "e", buf, sizeof buf, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(mp_dict_len(d), 4);

    assert_int_equal(mp_dict_delete_str(d, "pi"), 0);
    assert_int_equal(mp_dict_delete_str(d, "pi"), MP_ENOENT);
    assert_int_equal(mp_dict_len(d), 3);
    assert_int_equal(mp_dict_set_str(d, "one-more", "x", 1), 0);

    /* Iteration sees every entry once. */
    size_t cursor = 0, seen = 0, kl, vl;
    char k[16], val[32];
    while (mp_dict_next(d, &cursor, k, sizeof k, &kl, val, sizeof val, &vl) == 0)
        seen++;
    assert_int_equal(seen, 4);
    cursor = 0;
    assert_int_equal(mp_dict_next(d, &cursor, k, 0, &kl, val, 0, &vl), MP_ERANGE);
    assert_int_equal(cursor, 0);

    assert_int_equal(mp_dict_clear(d), 0);
    assert_int_equal(mp_dict_len(d), 0);
    assert_int_equal(mp_dict_destroy(d), 0);
    assert_int_equal(mp_dict_set_str(d, "x", "y", 1), MP_EINVAL); /* destroyed */
    assert_int_equal(mp_dict_create(&d, 0, 0, 0), MP_EINVAL);
    assert_int_equal(mp_dict_create(NULL, 1, 0, 0), MP_EINVAL);
}

static void test_churn(void **state)
{
    (void)state;
    /* Many inserts and deletes through a small table: tombstones must not
     * make it "full" or slow. */
    mp_dict *d;
    assert_int_equal(mp_dict_create(&d, 64, 0, 0), 0);
    char key[32];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++) {
            snprintf(key, sizeof key, "k%d-%d", round, i);
            assert_int_equal(mp_dict_set_str(d, key, &i, sizeof i), 0);
        }
        for (int i = 0; i < 64; i++) {
            snprintf(key, sizeof key, "k%d-%d", round, i);
            int v = -1;
            size_t n;
            assert_int_equal(mp_dict_get_str(d, key, &v, sizeof v, &n), 0);
            assert_int_equal(v, i);
            assert_int_equal(mp_dict_delete_str(d, key), 0);
        }
    }
    assert_int_equal(mp_dict_len(d), 0);
    mp_dict_destroy(d);
}

#define WRITERS 4
#define KEYS 2000

typedef struct writer_arg {
    mp_dict *d;
    int id;
} writer_arg;

/* Each writer owns its keys and also hammers one shared key. */
static int writer(void *arg, size_t size)
{
    (void)size;
    writer_arg *w = arg;
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "w%d-%d", w->id, i);
        long v = (long)w->id * 1000000 + i;
        if (mp_dict_set_str(w->d, key, &v, sizeof v) != 0)
            return 1;
        if (mp_dict_set_str(w->d, "shared", &v, sizeof v) != 0)
            return 2;
        if (i % 2 == 1) {
            snprintf(key, sizeof key, "w%d-%d", w->id, i - 1);
            if (mp_dict_delete_str(w->d, key) != 0)
                return 3;
        }
    }
    return 0;
}

static void check_after_writers(mp_dict *d)
{
    assert_int_equal(mp_dict_len(d), WRITERS * KEYS / 2 + 1);
    char key[32];
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < KEYS; i++) {
            snprintf(key, sizeof key, "w%d-%d", w, i);
            long v = -1;
            size_t n;
            int r = mp_dict_get_str(d, key, &v, sizeof v, &n);
            if (i % 2 == 0) {
                assert_int_equal(r, MP_ENOENT);
            } else {
                assert_int_equal(r, 0);
                assert_int_equal(v, (long)w * 1000000 + i);
            }
        }
    long v;
    size_t n;
    assert_int_equal(mp_dict_get_str(d, "shared", &v, sizeof v, &n), 0);
    assert_int_equal(v % 1000000, KEYS - 1);
}

static void test_concurrent_writer_processes(void **state)
{
    (void)state;
    mp_dict *d;
    assert_int_equal(mp_dict_create(&d, WRITERS * KEYS, 16, 8), 0);
    mp_process *p[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writer_arg w = {d, i};
        assert_int_equal(mp_process_start(&p[i], NULL, writer, &w, sizeof w, 0), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        int code = -1;
        assert_int_equal(mp_process_join(p[i], 300), 0);
        mp_process_exitcode(p[i], &code);
        assert_int_equal(code, 0);
        mp_process_close(p[i]);
    }
    check_after_writers(d);
    mp_dict_destroy(d);
}

static void *writer_thread(void *arg)
{
    return writer(arg, 0) == 0 ? NULL : (void *)1;
}

static void test_concurrent_writer_threads(void **state)
{
    (void)state;
    mp_dict *d;
    assert_int_equal(mp_dict_create(&d, WRITERS * KEYS, 16, 8), 0);
    pthread_t t[WRITERS];
    writer_arg w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer_arg){d, i};
        assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    check_after_writers(d);
    mp_dict_destroy(d);
}

static int set_forever(void *arg, size_t size)
{
    (void)size;
    mp_dict *d = *(mp_dict **)arg;
    for (long i = 0;; i++)
        if (mp_dict_set_str(d, (i & 1) ? "odd" : "even", &i, sizeof i) != 0)
            return 1;
}

static void test_killed_writer(void **state)
{
    (void)state;
    mp_dict *d;
    assert_int_equal(mp_dict_create(&d, 16, 0, 0), 0);
    for (int round = 0; round < 5; round++) {
        mp_process *p;
        assert_int_equal(mp_process_start(&p, NULL, set_forever, &d, sizeof d, 0), 0);
        usleep(5000);
        mp_process_kill(p); /* often while it holds the table's lock */
        assert_int_equal(mp_process_join(p, 300), 0);
        mp_process_close(p);
        long v = round;
        size_t n;
        assert_int_equal(mp_dict_set_str(d, "after", &v, sizeof v), 0);
        assert_int_equal(mp_dict_get_str(d, "after", &v, sizeof v, &n), 0);
        assert_int_equal(v, round);
        assert_in_range(mp_dict_len(d), 1, 3);
    }
    mp_dict_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_concurrent_writer_processes),
        cmocka_unit_test(test_concurrent_writer_threads),
        cmocka_unit_test(test_killed_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
