/* backend_process.c - workers are processes, forked when the pool opens.
 *
 * Workers share the control block through the shared arena, which exists
 * before any of them is forked.  They are forked by the pool's fork server
 * and watched by its supervisor (supervise.c, forkserver.c): a worker that
 * dies is accounted for and replaced, and a waiting caller only has to ask
 * whether the pool was broken (a replacement that could not start). */
#include "pool.h"

#include <stdio.h>

static int process_start(mp_pool *pool)
{
    return mp__supervisor_start(pool);
}

static int process_check(mp_pool *pool)
{
    mp__pool_lock(pool);
    int r = pool->broken;
    if (r)
        mp__error(r, "%s", pool->broken_msg);
    mp__pool_unlock(pool);
    return r;
}

static void process_stop(mp_pool *pool, bool now)
{
    mp__supervisor_stop(pool, now);
}

static void process_forget(mp_pool *pool)
{
    mp__supervisor_forget(pool);
}

const mp__backend_ops mp__process_backend = {
    .name = "process",
    .shares_caller_memory = false,
    .start = process_start,
    .check = process_check,
    .stop = process_stop,
    .forget = process_forget,
};
