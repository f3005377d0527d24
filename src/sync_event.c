/* sync_event.c - process-shared events: a flag that waiters sleep on until
 * someone sets it.  The flag is the futex word; `waiters` lets set() skip
 * the wake-up system call when nobody sleeps. */
#include "ipc.h"

#include <limits.h>

static int event_check(const mp_event *e, const char *who)
{
    if (!e)
        return mp__error(MP_EINVAL, "%s: event is NULL", who);
    if (MP__LOAD_RELAXED(&e->magic) != MP__MAGIC_EVENT)
        return mp__error(MP_EINVAL, "%s: not a live event (destroyed or never initialised)", who);
    return 0;
}

int mp_event_init(mp_event *e)
{
    if (!e)
        return mp__error(MP_EINVAL, "mp_event_init: event is NULL");
    *e = (mp_event){0};
    e->owner = mp__pid();
    MP__STORE(&e->magic, MP__MAGIC_EVENT);
    return 0;
}

int mp_event_create(mp_event **out)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_event_create: out is NULL");
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_event), &mem);
    if (r < 0)
        return r;
    mp_event *e = mem;
    mp_event_init(e);
    e->flags = MP__FLAG_ALLOCATED;
    *out = e;
    return 0;
}

int mp_event_destroy(mp_event *e)
{
    int r = event_check(e, "mp_event_destroy");
    if (r < 0 || !mp__owns(&e->owner))
        return r;
    return mp__retire(e, &e->magic, e->flags);
}

int mp_event_set(mp_event *e)
{
    int r = event_check(e, "mp_event_set");
    if (r < 0)
        return r;
    atomic_store(MP__ATOMIC(&e->flag), 1);
    if (atomic_load(MP__ATOMIC(&e->waiters)) != 0)
        mp__futex_wake(MP__ATOMIC(&e->flag), INT_MAX, true);
    return 0;
}

int mp_event_clear(mp_event *e)
{
    int r = event_check(e, "mp_event_clear");
    if (r < 0)
        return r;
    atomic_store(MP__ATOMIC(&e->flag), 0);
    return 0;
}

int mp_event_is_set(const mp_event *e)
{
    if (event_check(e, "mp_event_is_set") < 0)
        return 0;
    return MP__LOAD(&e->flag) != 0;
}

int mp_event_wait(mp_event *e, double timeout)
{
    int r = event_check(e, "mp_event_wait");
    if (r < 0 || (r = mp__check_timeout("mp_event_wait", timeout)) < 0)
        return r;
    if (MP__LOAD(&e->flag))
        return 0;
    if (timeout != 0) {
        for (int i = 0; i < MP__SPIN_LIMIT; i++) {
            mp__cpu_relax();
            if (MP__LOAD(&e->flag)) {
                mp__spin_feedback(1);
                return 0;
            }
        }
        mp__spin_feedback(0);
    }
    double deadline = mp__deadline(timeout);
    for (;;) {
        if (timeout == 0)
            return mp__expired("mp_event_wait", timeout);
        atomic_fetch_add(MP__ATOMIC(&e->waiters), 1);
        int w = 0;
        if (atomic_load(MP__ATOMIC(&e->flag)) == 0)
            w = mp__sleep(&e->flag, 0, deadline, MP__SLICE_MAX);
        atomic_fetch_sub(MP__ATOMIC(&e->waiters), 1);
        if (MP__LOAD(&e->flag))
            return 0;
        if (w == MP_ETIMEDOUT)
            return mp__expired("mp_event_wait", timeout);
    }
}
