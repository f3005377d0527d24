/* sync_barrier.c - process-shared barriers (Python's Barrier).
 *
 * `parties` callers meet; the last to arrive starts a new generation and
 * wakes the others, who sleep on the generation word.  A wait that times
 * out, or mp_barrier_abort, breaks the barrier: every waiter of that
 * generation and every later wait fails with MP_EBROKEN until
 * mp_barrier_reset.  The generation that broke is recorded, so a waiter
 * whose generation completed normally is never told otherwise. */
#include "ipc.h"

#include <limits.h>

static int barrier_check(const mp_barrier *b, const char *who)
{
    if (!b)
        return mp__error(MP_EINVAL, "%s: barrier is NULL", who);
    if (MP__LOAD_RELAXED(&b->magic) != MP__MAGIC_BARRIER)
        return mp__error(MP_EINVAL, "%s: not a live barrier (destroyed or never initialised)", who);
    return 0;
}

int mp_barrier_init(mp_barrier *b, unsigned parties)
{
    if (!b)
        return mp__error(MP_EINVAL, "mp_barrier_init: barrier is NULL");
    if (parties == 0)
        return mp__error(MP_EINVAL, "mp_barrier_init: parties is 0");
    *b = (mp_barrier){0};
    b->parties = parties;
    b->broken_gen = UINT32_MAX;
    b->owner = mp__pid();
    MP__STORE(&b->magic, MP__MAGIC_BARRIER);
    return 0;
}

int mp_barrier_create(mp_barrier **out, unsigned parties)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_barrier_create: out is NULL");
    if (parties == 0)
        return mp__error(MP_EINVAL, "mp_barrier_create: parties is 0");
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_barrier), &mem);
    if (r < 0)
        return r;
    mp_barrier *b = mem;
    mp_barrier_init(b, parties);
    b->flags = MP__FLAG_ALLOCATED;
    *out = b;
    return 0;
}

int mp_barrier_destroy(mp_barrier *b)
{
    int r = barrier_check(b, "mp_barrier_destroy");
    if (r < 0 || !mp__owns(&b->owner))
        return r;
    return mp__retire(b, &b->magic, b->flags);
}

/* Under the internal lock: breaks generation `gen` and wakes its waiters. */
static void break_locked(mp_barrier *b, uint32_t gen)
{
    MP__STORE_RELAXED(&b->broken, 1);
    b->broken_gen = gen;
    b->arrived = 0;
    atomic_store(MP__ATOMIC(&b->gen), gen + 1);
    mp__futex_wake(MP__ATOMIC(&b->gen), INT_MAX, true);
}

static void lock_internal(mp_barrier *b)
{
    /* A process that died inside these few instructions leaves at most a
     * miscounted arrival; the barrier stays usable after a reset. */
    (void)mp__lock_word(&b->lock, MP_FOREVER, "mp_barrier");
}

int mp_barrier_wait(mp_barrier *b, double timeout, unsigned *index)
{
    int r = barrier_check(b, "mp_barrier_wait");
    if (r < 0 || (r = mp__check_timeout("mp_barrier_wait", timeout)) < 0)
        return r;
    lock_internal(b);
    if (b->broken) {
        mp__unlock_word(&b->lock);
        return mp__error(MP_EBROKEN, "mp_barrier_wait: the barrier is broken (a wait timed out or it was aborted)");
    }
    uint32_t gen = b->gen;
    unsigned arrival = b->arrived++;
    if (b->arrived == b->parties) {
        b->arrived = 0;
        atomic_store(MP__ATOMIC(&b->gen), gen + 1);
        mp__unlock_word(&b->lock);
        mp__futex_wake(MP__ATOMIC(&b->gen), INT_MAX, true);
        if (index)
            *index = arrival;
        return 0;
    }
    mp__unlock_word(&b->lock);

    double deadline = mp__deadline(timeout);
    for (int i = 0; i < MP__SPIN_LIMIT && MP__LOAD(&b->gen) == gen; i++)
        mp__cpu_relax();
    while (MP__LOAD(&b->gen) == gen) {
        if (mp__sleep(&b->gen, gen, deadline, INFINITY) != MP_ETIMEDOUT)
            continue;
        lock_internal(b);
        if (b->gen == gen) {
            break_locked(b, gen);
            mp__unlock_word(&b->lock);
            return mp__expired("mp_barrier_wait", timeout);
        }
        mp__unlock_word(&b->lock);
    }
    lock_internal(b);
    int broken = b->broken_gen == gen;
    mp__unlock_word(&b->lock);
    if (broken)
        return mp__error(MP_EBROKEN, "mp_barrier_wait: the barrier broke while waiting (a wait timed out or it was aborted)");
    if (index)
        *index = arrival;
    return 0;
}

int mp_barrier_abort(mp_barrier *b)
{
    int r = barrier_check(b, "mp_barrier_abort");
    if (r < 0)
        return r;
    lock_internal(b);
    break_locked(b, b->gen);
    mp__unlock_word(&b->lock);
    return 0;
}

int mp_barrier_reset(mp_barrier *b)
{
    int r = barrier_check(b, "mp_barrier_reset");
    if (r < 0)
        return r;
    lock_internal(b);
    /* Callers still waiting belong to a generation that cannot complete:
     * they are released with MP_EBROKEN, as in Python. */
    if (b->arrived > 0)
        break_locked(b, b->gen);
    MP__STORE_RELAXED(&b->broken, 0);
    mp__unlock_word(&b->lock);
    return 0;
}

int mp_barrier_broken(const mp_barrier *b)
{
    if (barrier_check(b, "mp_barrier_broken") < 0)
        return 0;
    return MP__LOAD_RELAXED(&b->broken) != 0;
}
