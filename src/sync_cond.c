/* sync_cond.c - process-shared condition variables with their own
 * recursive lock (Python's Condition() with its default RLock).
 *
 * Waiting is an event count on `seq`: a waiter notes seq, releases the lock
 * fully, and sleeps while seq is unchanged; notify moves seq and wakes.
 * Wake-ups may be spurious (as everywhere): callers loop on their predicate,
 * or use mp_cond_wait_for. */
#include "ipc.h"

#include <limits.h>

static int cond_check(const mp_cond *c, const char *who)
{
    if (!c)
        return mp__error(MP_EINVAL, "%s: condition is NULL", who);
    if (MP__LOAD_RELAXED(&c->magic) != MP__MAGIC_COND)
        return mp__error(MP_EINVAL, "%s: not a live condition (destroyed or never initialised)", who);
    return 0;
}

int mp_cond_init(mp_cond *c)
{
    if (!c)
        return mp__error(MP_EINVAL, "mp_cond_init: condition is NULL");
    *c = (mp_cond){0};
    mp_rlock_init(&c->lock);
    c->owner = mp__pid();
    MP__STORE(&c->magic, MP__MAGIC_COND);
    return 0;
}

int mp_cond_create(mp_cond **out)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_cond_create: out is NULL");
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_cond), &mem);
    if (r < 0)
        return r;
    mp_cond *c = mem;
    mp_cond_init(c);
    c->flags = MP__FLAG_ALLOCATED;
    *out = c;
    return 0;
}

int mp_cond_destroy(mp_cond *c)
{
    int r = cond_check(c, "mp_cond_destroy");
    if (r < 0 || !mp__owns(&c->owner))
        return r;
    MP__STORE(&c->lock.magic, 0);
    return mp__retire(c, &c->magic, c->flags);
}

int mp_cond_acquire(mp_cond *c, double timeout)
{
    int r = cond_check(c, "mp_cond_acquire");
    if (r < 0 || (r = mp__check_timeout("mp_cond_acquire", timeout)) < 0)
        return r;
    return mp__rlock_acquire(&c->lock, timeout, "mp_cond_acquire");
}

int mp_cond_release(mp_cond *c)
{
    int r = cond_check(c, "mp_cond_release");
    if (r < 0)
        return r;
    return mp__rlock_release(&c->lock, "mp_cond_release");
}

/* Sleeps once (until notified, the deadline, or a spurious wake-up) and
 * re-acquires the lock to its previous depth.  Returns 0, MP_ETIMEDOUT (the
 * lock is held again in both cases) or MP_EOWNERDEAD from re-acquiring. */
static int wait_once(mp_cond *c, double deadline)
{
    uint32_t depth = c->lock.count;
    uint32_t s = mp__evc_prepare((mp__evc *)&c->seq);
    c->lock.count = 0;
    mp__unlock_word(&c->lock.word);
    int w = 0;
    if (MP__LOAD(&c->seq) == s)
        w = mp__sleep(&c->seq, s, deadline, INFINITY);
    mp__evc_done((mp__evc *)&c->seq);
    int r = mp__lock_word(&c->lock.word, MP_FOREVER, "mp_cond_wait");
    c->lock.count = depth;
    if (r == MP_EOWNERDEAD)
        return mp__error(r, "mp_cond_wait: re-acquired the lock; a process died while holding it");
    return w == MP_ETIMEDOUT ? MP_ETIMEDOUT : 0;
}

static int wait_checks(mp_cond *c, double timeout, const char *who)
{
    int r = cond_check(c, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if ((MP__LOAD_RELAXED(&c->lock.word) & MP__LOCK_TID) != mp__tid())
        return mp__error(MP_EINVAL, "%s: the calling thread does not hold the condition's lock", who);
    return 0;
}

int mp_cond_wait(mp_cond *c, double timeout)
{
    int r = wait_checks(c, timeout, "mp_cond_wait");
    if (r < 0)
        return r;
    r = wait_once(c, mp__deadline(timeout));
    if (r == MP_ETIMEDOUT)
        return mp__expired("mp_cond_wait", timeout);
    return r;
}

int mp_cond_wait_for(mp_cond *c, int (*predicate)(void *arg), void *arg, double timeout)
{
    int r = wait_checks(c, timeout, "mp_cond_wait_for");
    if (r < 0)
        return r;
    if (!predicate)
        return mp__error(MP_EINVAL, "mp_cond_wait_for: predicate is NULL");
    double deadline = mp__deadline(timeout);
    int died = 0;
    while (!predicate(arg)) {
        r = wait_once(c, deadline);
        if (r == MP_EOWNERDEAD)
            died = 1;
        else if (r == MP_ETIMEDOUT)
            return predicate(arg) ? 0 : mp__expired("mp_cond_wait_for", timeout);
    }
    return died ? mp__error(MP_EOWNERDEAD, "mp_cond_wait_for: a process died while holding the lock") : 0;
}

static int notify(mp_cond *c, int n, const char *who)
{
    int r = cond_check(c, who);
    if (r < 0)
        return r;
    if ((MP__LOAD_RELAXED(&c->lock.word) & MP__LOCK_TID) != mp__tid())
        return mp__error(MP_EINVAL, "%s: the calling thread does not hold the condition's lock", who);
    mp__evc_notify((mp__evc *)&c->seq, n, true);
    return 0;
}

int mp_cond_notify(mp_cond *c, int n)
{
    if (n <= 0)
        return mp__error(MP_EINVAL, "mp_cond_notify: n is %d (must be at least 1)", n);
    return notify(c, n, "mp_cond_notify");
}

int mp_cond_notify_all(mp_cond *c)
{
    return notify(c, INT_MAX, "mp_cond_notify_all");
}
