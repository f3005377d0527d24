/* sync_sem.c - process-shared counting semaphores, optionally bounded.
 *
 * The count itself is the futex word: acquire decrements it with a
 * compare-and-swap while it is positive and sleeps while it is zero;
 * release increments it and wakes one sleeper if any is registered.
 * A semaphore has no owner, so permits held by a process that dies are not
 * given back (as with POSIX semaphores). */
#include "ipc.h"

static int sem_check(const mp_sem *s, const char *who)
{
    if (!s)
        return mp__error(MP_EINVAL, "%s: semaphore is NULL", who);
    if (MP__LOAD_RELAXED(&s->magic) != MP__MAGIC_SEM)
        return mp__error(MP_EINVAL, "%s: not a live semaphore (destroyed or never initialised)", who);
    return 0;
}

int mp_sem_init(mp_sem *s, unsigned value, unsigned max)
{
    if (!s)
        return mp__error(MP_EINVAL, "mp_sem_init: semaphore is NULL");
    if (max != 0 && value > max)
        return mp__error(MP_EINVAL, "mp_sem_init: value %u exceeds the bound %u", value, max);
    if (value > INT32_MAX || max > INT32_MAX)
        return mp__error(MP_EINVAL, "mp_sem_init: value or bound above %d", INT32_MAX);
    *s = (mp_sem){0};
    s->value = value;
    s->max = max;
    s->owner = mp__pid();
    MP__STORE(&s->magic, MP__MAGIC_SEM);
    return 0;
}

int mp_sem_create(mp_sem **out, unsigned value, unsigned max)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_sem_create: out is NULL");
    mp_sem probe;
    int r = mp_sem_init(&probe, value, max);
    if (r < 0)
        return r;
    void *mem;
    if ((r = mp_shm_alloc(sizeof(mp_sem), &mem)) < 0)
        return r;
    mp_sem *s = mem;
    mp_sem_init(s, value, max);
    s->flags = MP__FLAG_ALLOCATED;
    *out = s;
    return 0;
}

int mp_sem_destroy(mp_sem *s)
{
    int r = sem_check(s, "mp_sem_destroy");
    if (r < 0 || !mp__owns(&s->owner))
        return r;
    return mp__retire(s, &s->magic, s->flags);
}

static int try_down(mp_sem *s)
{
    uint32_t v = MP__LOAD_RELAXED(&s->value);
    while (v > 0)
        if (atomic_compare_exchange_strong_explicit(MP__ATOMIC(&s->value), &v, v - 1, memory_order_acquire, memory_order_relaxed))
            return 1;
    return 0;
}

int mp_sem_acquire(mp_sem *s, double timeout)
{
    int r = sem_check(s, "mp_sem_acquire");
    if (r < 0 || (r = mp__check_timeout("mp_sem_acquire", timeout)) < 0)
        return r;
    if (try_down(s))
        return 0;
    if (timeout != 0) {
        for (int i = 0; i < MP__SPIN_LIMIT; i++) {
            mp__cpu_relax();
            if (MP__LOAD_RELAXED(&s->value) > 0 && try_down(s)) {
                mp__spin_feedback(1);
                return 0;
            }
        }
        mp__spin_feedback(0);
    }
    double deadline = mp__deadline(timeout);
    for (;;) {
        if (try_down(s))
            return 0;
        if (timeout == 0)
            return mp__expired("mp_sem_acquire", timeout);
        /* Register, then sleep only while the count is still zero: the
         * kernel compares the word atomically with going to sleep, and a
         * releaser that incremented it sees us registered and wakes us. */
        atomic_fetch_add(MP__ATOMIC(&s->waiters), 1);
        int w = 0;
        if (atomic_load(MP__ATOMIC(&s->value)) == 0)
            w = mp__sleep(&s->value, 0, deadline, MP__SLICE_MAX);
        atomic_fetch_sub(MP__ATOMIC(&s->waiters), 1);
        if (w == MP_ETIMEDOUT) {
            if (try_down(s))
                return 0;
            return mp__expired("mp_sem_acquire", timeout);
        }
    }
}

int mp_sem_release(mp_sem *s)
{
    int r = sem_check(s, "mp_sem_release");
    if (r < 0)
        return r;
    uint32_t v = MP__LOAD_RELAXED(&s->value);
    for (;;) {
        if (s->max != 0 && v >= s->max)
            return mp__error(MP_EINVAL, "mp_sem_release: released more often than acquired (bound %u)", s->max);
        if (v >= INT32_MAX)
            return mp__error(MP_ERANGE, "mp_sem_release: count overflow");
        if (atomic_compare_exchange_strong_explicit(MP__ATOMIC(&s->value), &v, v + 1, memory_order_seq_cst, memory_order_relaxed))
            break;
    }
    if (atomic_load(MP__ATOMIC(&s->waiters)) != 0)
        mp__futex_wake(MP__ATOMIC(&s->value), 1, true);
    return 0;
}

int mp_sem_value(const mp_sem *s, unsigned *out)
{
    int r = sem_check(s, "mp_sem_value");
    if (r < 0)
        return r;
    if (!out)
        return mp__error(MP_EINVAL, "mp_sem_value: out is NULL");
    *out = MP__LOAD_RELAXED(&s->value);
    return 0;
}
