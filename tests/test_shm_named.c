/* labels: ipc */
/* test_shm_named.c - named segments: create, open from an unrelated view,
 * sizes, who unlinks, keep, bad names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char name[64];

static int setup(void **state)
{
    (void)state;
    snprintf(name, sizeof name, "mproc-test-%d", (int)getpid());
    return 0;
}

/* A failed assertion skips the test's own clean-up: never leave the name
 * behind in /dev/shm. */
static int teardown(void **state)
{
    (void)state;
    mp_segment_unlink(name);
    return 0;
}

static int exists(const char *n)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", n);
    return access(path, F_OK) == 0;
}

static int child_opens_and_writes(void *arg, size_t size)
{
    (void)arg, (void)size;
    mp_segment *s;
    if (mp_segment_open(&s, name, 4096) != 0)
        return 1;
    mp_lock *l = mp_segment_ptr(s);
    int *counter = (int *)(l + 1);
    for (int i = 0; i < 1000; i++) {
        if (mp_lock_acquire(l, 30) != 0)
            return 2;
        ++*counter;
        mp_lock_release(l);
    }
    return mp_segment_close(s) == 0 ? 0 : 3;
}

static void test_create_open_close(void **state)
{
    (void)state;
    mp_segment *s;
    assert_int_equal(mp_segment_create(&s, name, 4096, 0), 0);
    assert_int_equal(mp_segment_size(s), 4096);
    assert_string_equal(mp_segment_name(s) + 1, name);
    assert_true(exists(name));
    mp_lock *l = mp_segment_ptr(s);
    assert_int_equal(mp_lock_init(l), 0);

    mp_segment *dup;
    assert_int_equal(mp_segment_create(&dup, name, 4096, 0), MP_EEXIST);
    assert_int_equal(mp_segment_open(&dup, name, 100), MP_EINVAL); /* wrong size */

    mp_process *p[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, child_opens_and_writes, NULL, 0, 0), 0);
    for (int i = 0; i < 2; i++) {
        int code = -1;
        assert_int_equal(mp_process_join(p[i], 30), 0);
        mp_process_exitcode(p[i], &code);
        assert_int_equal(code, 0);
        mp_process_close(p[i]);
    }
    assert_int_equal(*(int *)(l + 1), 2000);
    assert_true(exists(name)); /* the children only unmapped */

    assert_int_equal(mp_segment_open(&dup, name, 0), 0);
    assert_int_equal(mp_segment_size(dup), 4096);
    assert_int_equal(mp_segment_close(dup), 0);
    assert_true(exists(name));
    assert_int_equal(mp_segment_close(s), 0); /* the creator unlinks */
    assert_false(exists(name));
    assert_int_equal(mp_segment_open(&dup, name, 0), MP_ENOENT);
}

static void test_keep_and_unlink(void **state)
{
    (void)state;
    mp_segment *s;
    assert_int_equal(mp_segment_create(&s, name, 100, MP_SEGMENT_KEEP), 0);
    memcpy(mp_segment_ptr(s), "kept", 5);
    assert_int_equal(mp_segment_close(s), 0);
    assert_true(exists(name));
    assert_int_equal(mp_segment_open(&s, name, 100), 0);
    assert_string_equal(mp_segment_ptr(s), "kept");
    assert_int_equal(mp_segment_close(s), 0);
    assert_int_equal(mp_segment_unlink(name), 0);
    assert_false(exists(name));
    assert_int_equal(mp_segment_unlink(name), MP_ENOENT);
}

static void test_bad_input(void **state)
{
    (void)state;
    mp_segment *s = NULL;
    assert_int_equal(mp_segment_create(&s, "", 10, 0), MP_EINVAL);
    assert_int_equal(mp_segment_create(&s, "a/b", 10, 0), MP_EINVAL);
    assert_int_equal(mp_segment_create(&s, NULL, 10, 0), MP_EINVAL);
    assert_int_equal(mp_segment_create(&s, name, 0, 0), MP_EINVAL);
    assert_int_equal(mp_segment_create(&s, name, 10, 8), MP_EINVAL);
    assert_int_equal(mp_segment_create(NULL, name, 10, 0), MP_EINVAL);
    assert_int_equal(mp_segment_open(&s, "..", 0), MP_EINVAL);
    assert_null(s);
    assert_false(exists(name));
    assert_int_equal(mp_segment_close(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_open_close),
        cmocka_unit_test(test_keep_and_unlink),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
