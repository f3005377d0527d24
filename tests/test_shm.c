/* labels: unit;shm */
/* test_shm.c - the shared arena: allocation, sharing across fork, misuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "shm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_alloc_is_zeroed_and_aligned(void **state)
{
    (void)state;
    for (size_t size = 1; size < (1u << 22); size = size * 3 + 1) {
        unsigned char *p;
        assert_int_equal(mp_shm_alloc(size, (void **)&p), 0);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < size; i++)
            if (p[i]) fail_msg("byte %zu of a %zu-byte block is %d", i, size, p[i]);
        memset(p, 0xab, size);             /* dirty it: the next one must be clean again */
        assert_true(mp_shm_contains(p, size));
        assert_int_equal(mp_shm_free(p), 0);
    }
}

static void test_child_writes_are_seen_by_parent(void **state)
{
    (void)state;
    long *shared;
    assert_int_equal(mp_shm_alloc(sizeof *shared * 2, (void **)&shared), 0);
    pid_t pid = fork();
    if (pid == 0) {
        shared[0] = 4242;
        /* The child allocates too: the allocator state is shared. */
        long *mine;
        if (mp_shm_alloc(64, (void **)&mine) != 0) _exit(2);
        *mine = 7;
        shared[1] = (long)(intptr_t)mine;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(shared[0], 4242);
    long *childs = (long *)(intptr_t)shared[1];
    assert_int_equal(*childs, 7);
    assert_int_equal(mp_shm_free(childs), 0);
    assert_int_equal(mp_shm_free(shared), 0);
}

static void test_many_blocks_coalesce_back(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    enum { N = 2000 };
    static void *blocks[N];
    srand(7);
    for (int i = 0; i < N; i++)
        assert_int_equal(mp_shm_alloc((size_t)(rand() % 5000) + 1, &blocks[i]), 0);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(mp_shm_free(blocks[i]), 0);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(mp_shm_alloc((size_t)(rand() % 3000) + 1, &blocks[i]), 0);
    for (int i = N - 1; i >= 0; i--)
        assert_int_equal(mp_shm_free(blocks[i]), 0);
    assert_int_equal(mp__shm_in_use(), before);
}

static void test_misuse_is_an_error(void **state)
{
    (void)state;
    void *p = (void *)0x1;
    assert_int_equal(mp_shm_alloc(0, &p), MP_EINVAL);
    assert_ptr_equal(p, (void *)0x1);
    assert_int_equal(mp_shm_alloc(16, NULL), MP_EINVAL);
    assert_int_equal(mp_shm_alloc(SIZE_MAX / 2, &p), MP_ENOMEM);
    assert_non_null(strstr(mp_last_error(), "MPROC_SHM_SIZE"));
    int local;
    assert_int_equal(mp_shm_free(&local), MP_EINVAL);
    assert_int_equal(mp_shm_free(NULL), 0);
    assert_int_equal(mp_shm_alloc(100, &p), 0);
    assert_int_equal(mp_shm_free(p), 0);
    assert_int_equal(mp_shm_free(p), MP_EINVAL);   /* double free caught */
    assert_non_null(strstr(mp_last_error(), "double free"));
    assert_false(mp_shm_contains(&local, sizeof local));
}

static void test_error_strings(void **state)
{
    (void)state;
    const int codes[] = { MP_OK, MP_ENOENT, MP_EAGAIN, MP_ENOMEM, MP_EEXIST, MP_EINVAL, MP_ERANGE,
                          MP_EMSGSIZE, MP_ENOTSUP, MP_ETIMEDOUT, MP_ECANCELED, MP_EOWNERDEAD,
                          MP_ETASK, MP_ECLOSED, MP_EBROKEN, MP_EWORKER, MP_EFULL, MP_EEOF };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        assert_non_null(mp_strerror(codes[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(mp_strerror(codes[i]), mp_strerror(codes[j]));
    }
    assert_string_equal(mp_strerror(-9999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_is_zeroed_and_aligned),
        cmocka_unit_test(test_child_writes_are_seen_by_parent),
        cmocka_unit_test(test_many_blocks_coalesce_back),
        cmocka_unit_test(test_misuse_is_an_error),
        cmocka_unit_test(test_error_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
