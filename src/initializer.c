/* initializer.c - running the pool's worker initializer, and waiting at
 * open until every worker has run it.
 *
 * A worker that fails writes the first failure's code and message into the
 * control block, where the opener (or, for a replacement worker, the
 * supervisor) reads them: the message survives the worker's exit. */
#include "pool.h"

#include <limits.h>
#include <stdio.h>

int mp__worker_init(mp_pool *pool, int worker)
{
    mp__shared *sh = pool->sh;
    mp__wslot *ws = &sh->wslots[worker];
    if (pool->initializer) {
        mp_set_error(0, "%s", "");
        int rc = pool->initializer(pool->init_ctx);
        if (rc) {
            uint32_t no = 0;
            if (atomic_compare_exchange_strong(&sh->init_claimed, &no, 1)) {
                const char *m = mp_last_error();
                if (*m)
                    snprintf(sh->init_msg, sizeof sh->init_msg, "%s", m);
                else
                    snprintf(sh->init_msg, sizeof sh->init_msg, "it returned %d (%s)", rc, mp_strerror(rc));
                atomic_store(&sh->init_code, rc);   /* the message is complete */
            }
            atomic_store(&ws->status, MP__WS_INIT_FAILED);
            mp__evc_signal(&sh->started, INT_MAX, sh->futex_shared);
            return rc;
        }
    }
    atomic_store(&ws->status, MP__WS_READY);
    atomic_fetch_add(&sh->ready, 1);
    mp__evc_signal(&sh->started, INT_MAX, sh->futex_shared);
    return 0;
}

/* Every worker ran its initializer, or one failed. */
static bool workers_started(void *arg)
{
    mp_pool *pool = arg;
    return atomic_load(&pool->sh->init_code) || atomic_load(&pool->sh->ready) >= (uint32_t)pool->workers;
}

int mp__workers_wait_ready(mp_pool *pool, int (*failed)(mp_pool *pool))
{
    mp__shared *sh = pool->sh;
    for (;;) {
        /* Slices of 10 ms: `failed` notices a worker that died unannounced. */
        bool settled = mp__await(&sh->started, sh->futex_shared, workers_started, pool, 0, 0.01);
        int32_t code = atomic_load(&sh->init_code);
        if (code)
            return mp__error(code, "mp_pool_open: the worker initializer failed: %s", sh->init_msg);
        if (settled)
            return 0;
        int r = failed ? failed(pool) : 0;
        if (r)
            return r;
    }
}

void mp__wake_all_callers(mp_pool *pool)
{
    for (int i = 0; i < MP__JOB_SLOTS; i++)
        mp__job_nudge(pool->sh, &pool->sh->jobs[i]);
}
