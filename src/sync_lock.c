/* sync_lock.c - robust process-shared locks: mp_lock and mp_rlock.
 *
 * Why not pthread robust mutexes: they sleep at once when contended (no
 * spin phase, so a hand-off between two busy processes costs a futex wake,
 * ~50 us), their timed form measures CLOCK_REALTIME, and a dead owner is
 * found only through the kernel's per-thread robust list.  Here the lock
 * word holds the owner's thread id.  An acquirer spins, then sleeps in
 * bounded slices; at the end of each slice it checks through /proc whether
 * the owner still exists.  A dead (or zombie) owner's lock is taken over
 * with one compare-and-swap, so of several waiters exactly one inherits it
 * and is told MP_EOWNERDEAD.  Limit: if the dead owner's id is reused by a
 * new thread before a waiter looks, the waiter keeps waiting (never steals a
 * live lock). */
#include "ipc.h"

#include <errno.h>

static int try_take(uint32_t *word, uint32_t me)
{
    uint32_t expected = 0;
    return MP__CAS(word, &expected, me);
}

int mp__lock_word_reclaim(uint32_t *word)
{
    uint32_t v = MP__LOAD_RELAXED(word);
    if (v == 0 || !mp__task_dead(v & MP__LOCK_TID))
        return 0;
    /* Keep the waiters bit: our release must wake whoever sleeps on it. */
    return MP__CAS(word, &v, mp__tid() | (v & MP__LOCK_WAITERS));
}

int mp__lock_word(uint32_t *word, double timeout, const char *who)
{
    uint32_t me = mp__tid();
    if (MP__LIKELY(try_take(word, me)))
        return 0;
    if ((MP__LOAD_RELAXED(word) & MP__LOCK_TID) == me)
        return mp__error(MP_EINVAL, "%s: the calling thread already holds this lock", who);
    /* Only trying: a lock whose holder has died is free for the taking,
     * else a non-blocking caller would be refused forever. */
    if (timeout == 0)
        return mp__lock_word_reclaim(word) ? MP_EOWNERDEAD : mp__expired(who, timeout);
    for (int i = 0; i < MP__SPIN_LIMIT; i++) {
        mp__cpu_relax();
        if (MP__LOAD_RELAXED(word) == 0 && try_take(word, me)) {
            mp__spin_feedback(1);
            return 0;
        }
    }
    mp__spin_feedback(0);

    double deadline = mp__deadline(timeout);
    double slice = MP__SLICE_FIRST;
    for (;;) {
        uint32_t v = MP__LOAD_RELAXED(word);
        if (v == 0) {
            /* Others may still sleep: keep the waiters bit so that our
             * release wakes one of them. */
            if (MP__CAS(word, &v, me | MP__LOCK_WAITERS))
                return 0;
            continue;
        }
        if (!(v & MP__LOCK_WAITERS)) {
            uint32_t with = v | MP__LOCK_WAITERS;
            if (!MP__CAS(word, &v, with))
                continue;
            v = with;
        }
        int r = mp__sleep(word, v, deadline, slice);
        if (r == MP_ETIMEDOUT)
            return mp__expired(who, timeout);
        if (r == 1) {
            slice = mp__next_slice(slice);
            if (mp__task_dead(v & MP__LOCK_TID)) {
                uint32_t seen = v;
                if (MP__CAS(word, &seen, me | MP__LOCK_WAITERS))
                    return MP_EOWNERDEAD;
            }
        }
    }
}

void mp__unlock_word(uint32_t *word)
{
    uint32_t old = atomic_exchange_explicit(MP__ATOMIC(word), 0, memory_order_release);
    if (old & MP__LOCK_WAITERS)
        mp__futex_wake(MP__ATOMIC(word), 1, true);
}

static int holds(const uint32_t *word)
{
    return (MP__LOAD_RELAXED(word) & MP__LOCK_TID) == mp__tid();
}

/* --- mp_lock ------------------------------------------------------------ */

static int lock_check(const mp_lock *l, const char *who)
{
    if (!l)
        return mp__error(MP_EINVAL, "%s: lock is NULL", who);
    if (MP__LOAD_RELAXED(&l->magic) != MP__MAGIC_LOCK)
        return mp__error(MP_EINVAL, "%s: not a live lock (destroyed or never initialised)", who);
    return 0;
}

int mp_lock_init(mp_lock *l)
{
    if (!l)
        return mp__error(MP_EINVAL, "mp_lock_init: lock is NULL");
    *l = (mp_lock){0};
    l->owner = mp__pid();
    MP__STORE(&l->magic, MP__MAGIC_LOCK);
    return 0;
}

int mp_lock_create(mp_lock **out)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_lock_create: out is NULL");
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_lock), &mem);
    if (r < 0)
        return r;
    mp_lock *l = mem;
    mp_lock_init(l);
    l->flags = MP__FLAG_ALLOCATED;
    *out = l;
    return 0;
}

int mp_lock_destroy(mp_lock *l)
{
    int r = lock_check(l, "mp_lock_destroy");
    if (r < 0 || !mp__owns(&l->owner))
        return r;
    return mp__retire(l, &l->magic, l->flags);
}

int mp_lock_acquire(mp_lock *l, double timeout)
{
    int r = lock_check(l, "mp_lock_acquire");
    if (r < 0 || (r = mp__check_timeout("mp_lock_acquire", timeout)) < 0)
        return r;
    r = mp__lock_word(&l->word, timeout, "mp_lock_acquire");
    if (r == MP_EOWNERDEAD)
        mp__error(r, "mp_lock_acquire: acquired; the previous owner died while holding the lock");
    return r;
}

int mp_lock_release(mp_lock *l)
{
    int r = lock_check(l, "mp_lock_release");
    if (r < 0)
        return r;
    if (!holds(&l->word))
        return mp__error(MP_EINVAL, "mp_lock_release: the calling thread does not hold the lock");
    mp__unlock_word(&l->word);
    return 0;
}

/* --- mp_rlock ----------------------------------------------------------- */

static int rlock_check(const mp_rlock *l, const char *who)
{
    if (!l)
        return mp__error(MP_EINVAL, "%s: lock is NULL", who);
    if (MP__LOAD_RELAXED(&l->magic) != MP__MAGIC_RLOCK)
        return mp__error(MP_EINVAL, "%s: not a live recursive lock (destroyed or never initialised)", who);
    return 0;
}

int mp_rlock_init(mp_rlock *l)
{
    if (!l)
        return mp__error(MP_EINVAL, "mp_rlock_init: lock is NULL");
    *l = (mp_rlock){0};
    l->owner = mp__pid();
    MP__STORE(&l->magic, MP__MAGIC_RLOCK);
    return 0;
}

int mp_rlock_create(mp_rlock **out)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_rlock_create: out is NULL");
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_rlock), &mem);
    if (r < 0)
        return r;
    mp_rlock *l = mem;
    mp_rlock_init(l);
    l->flags = MP__FLAG_ALLOCATED;
    *out = l;
    return 0;
}

int mp_rlock_destroy(mp_rlock *l)
{
    int r = rlock_check(l, "mp_rlock_destroy");
    if (r < 0 || !mp__owns(&l->owner))
        return r;
    return mp__retire(l, &l->magic, l->flags);
}

int mp__rlock_acquire(mp_rlock *l, double timeout, const char *who)
{
    if (holds(&l->word)) {
        if (l->count == UINT32_MAX)
            return mp__error(MP_ERANGE, "%s: recursion depth overflow", who);
        l->count++;
        return 0;
    }
    int r = mp__lock_word(&l->word, timeout, who);
    if (r == 0 || r == MP_EOWNERDEAD)
        l->count = 1;
    if (r == MP_EOWNERDEAD)
        mp__error(r, "%s: acquired; the previous owner died while holding the lock", who);
    return r;
}

int mp__rlock_release(mp_rlock *l, const char *who)
{
    if (!holds(&l->word))
        return mp__error(MP_EINVAL, "%s: the calling thread does not hold the lock", who);
    if (--l->count == 0)
        mp__unlock_word(&l->word);
    return 0;
}

int mp_rlock_acquire(mp_rlock *l, double timeout)
{
    int r = rlock_check(l, "mp_rlock_acquire");
    if (r < 0 || (r = mp__check_timeout("mp_rlock_acquire", timeout)) < 0)
        return r;
    return mp__rlock_acquire(l, timeout, "mp_rlock_acquire");
}

int mp_rlock_release(mp_rlock *l)
{
    int r = rlock_check(l, "mp_rlock_release");
    if (r < 0)
        return r;
    return mp__rlock_release(l, "mp_rlock_release");
}
