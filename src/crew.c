/* crew.c - what backends share (backend.h): running the pool's worker
 * initializer and waiting at open until every worker has run it, the
 * broken state, and announcing jobs in a control block the workers share.
 *
 * A worker whose initializer fails writes the first failure's code and
 * message into the control block, where the opener (or, for a replacement
 * worker, the supervisor) reads them: the message survives the worker's
 * exit. */
#include "backend.h"

#include <stdarg.h>

#include <limits.h>
#include <stdio.h>

int mp__crew_worker_init(mp__crew *crew, int worker)
{
    mp__shared *sh = crew->sh;
    mp__wslot *ws = &sh->wslots[worker];
    if (crew->initializer) {
        mp_set_error(0, "%s", "");
        int rc = crew->initializer(crew->init_ctx);
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
    mp__crew_worker_ready(crew, worker);
    return 0;
}

void mp__crew_worker_ready(mp__crew *crew, int worker)
{
    mp__shared *sh = crew->sh;
    atomic_store(&sh->wslots[worker].status, MP__WS_READY);
    atomic_fetch_add(&sh->ready, 1);
    mp__evc_signal(&sh->started, INT_MAX, sh->futex_shared);
}

/* Every worker ran its initializer, or one failed. */
static bool workers_started(void *arg)
{
    mp__crew *crew = arg;
    return atomic_load(&crew->sh->init_code) || atomic_load(&crew->sh->ready) >= (uint32_t)crew->workers;
}

int mp__crew_wait_ready(mp__crew *crew, int (*failed)(mp__crew *crew))
{
    mp__shared *sh = crew->sh;
    for (;;) {
        /* Slices of 10 ms: `failed` notices a worker that died unannounced. */
        bool settled = mp__await(&sh->started, sh->futex_shared, workers_started, crew, 0, 0.01);
        int32_t code = atomic_load(&sh->init_code);
        if (code)
            return mp__error(code, "mp_pool_open: the worker initializer failed: %s", sh->init_msg);
        if (settled)
            return 0;
        int r = failed ? failed(crew) : 0;
        if (r)
            return r;
    }
}

void mp__crew_break_locked(mp__crew *crew, int code, const char *fmt, ...)
{
    MP__ASSERT_LOCKED(crew);
    if (!crew->broken) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(crew->broken_msg, sizeof crew->broken_msg, fmt, ap);
        va_end(ap);
        crew->broken = code;
    }
    mp__sched_nudge_all(crew->sh);
}

int mp__crew_broken(mp__crew *crew)
{
    mp__crew_lock(crew);
    int r = crew->broken;
    if (r)
        mp__error(r, "%s", crew->broken_msg);
    mp__crew_unlock(crew);
    return r;
}

void mp__crew_publish_in_place(mp__crew *crew, mp__job *job)
{
    mp__sched_publish(crew->sh, job);
}

void mp__crew_feed_in_place(mp__crew *crew, mp__job *job, size_t count)
{
    mp__sched_feed(crew->sh, job, count);
}
