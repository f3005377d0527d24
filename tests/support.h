/* support.h - what the pool test programs share: running a test body once
 * per backend, and opening a pool or failing the test with the reason.
 * Include after <cmocka.h>. */
#ifndef MPROC_TEST_SUPPORT_H
#define MPROC_TEST_SUPPORT_H

#include <mproc.h>

#include <stddef.h>

static const mp_backend test_backends[] = { MP_BACKEND_THREAD, MP_BACKEND_PROCESS };

/* for each backend b: the body runs twice, once on threads, once on
 * processes, with `b` naming the backend. */
#define FOR_EACH_BACKEND(b) \
    for (size_t b##_i = 0, b; b##_i < 2 && ((b = test_backends[b##_i]), 1); b##_i++)

static inline mp_pool *open_pool(mp_backend backend, int workers)
{
    mp_pool_options opts = { .backend = backend, .workers = workers };
    mp_pool *pool = NULL;
    if (mp_pool_open(&pool, &opts) != 0)
        fail_msg("mp_pool_open(%s): %s", mp_backend_name(backend), mp_last_error());
    return pool;
}

#endif
