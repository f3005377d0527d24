/* evc.h - the event count and the one way the library waits.
 *
 * An event count lets a waiter sleep until "something changed" without
 * losing a wake-up, and lets the notifier skip the system call when nobody
 * sleeps.  Every waiting place in the library -- an idle worker, a caller
 * waiting for its job, a consumer of an imap stream, a thread waiting for
 * any job to finish, a pipe or queue end waiting for its peer -- sleeps on
 * one of these.
 *
 *   waiter:    s = mp__evc_prepare(e);  if (!ready) mp__evc_sleep(e, s, ...);
 *              mp__evc_done(e);
 *   notifier:  make the change visible, then mp__evc_notify(e, n, shared)
 *              (or mp__evc_signal when spinners watch the count itself).
 *
 * Waiters that spin first and then sleep use mp__await, which is that
 * protocol with a spin phase in front.
 *
 * The fields are plain integers (seen as atomic through atomics.h): an
 * event count is part of objects whose layout other processes share.
 * `shared` says whether processes other than the caller's may sleep on it
 * (the futex keying, see futex.h). */
#ifndef MPROC_EVC_H
#define MPROC_EVC_H

#include "atomics.h"
#include "futex.h"

typedef struct mp__evc {
    uint32_t seq;        /* bumped on each notified change */
    uint32_t waiters;    /* threads between prepare and done */
} mp__evc;

/* Starts the count afresh, while nobody can be waiting on it. */
static inline void mp__evc_reset(mp__evc *e)
{
    atomic_store_explicit(MP__ATOMIC(&e->seq), 0, memory_order_relaxed);
    atomic_store_explicit(MP__ATOMIC(&e->waiters), 0, memory_order_relaxed);
}

/* The count now, for a spinning waiter that does not register. */
static inline uint32_t mp__evc_read(mp__evc *e)
{
    return atomic_load_explicit(MP__ATOMIC(&e->seq), memory_order_acquire);
}

/* Registers a waiter and returns the count to sleep past.  The caller
 * checks its condition after this and before sleeping. */
static inline uint32_t mp__evc_prepare(mp__evc *e)
{
    uint32_t s = mp__evc_read(e);
    atomic_fetch_add(MP__ATOMIC(&e->waiters), 1);
    return s;
}

static inline void mp__evc_done(mp__evc *e)
{
    atomic_fetch_sub(MP__ATOMIC(&e->waiters), 1);
}

/* Sleeps while the count is still `seen`, at most `timeout` seconds (< 0:
 * no limit).  Returns as mp__futex_wait: callers re-check their condition
 * whatever it says. */
static inline int mp__evc_sleep(mp__evc *e, uint32_t seen, bool shared, double timeout)
{
    return mp__futex_wait(MP__ATOMIC(&e->seq), seen, shared, timeout);
}

/* After a change: moves the count and wakes up to n sleepers, only if
 * someone registered (the cheap form, for counts only sleepers read). */
static inline void mp__evc_notify(mp__evc *e, int n, bool shared)
{
    /* Pairs with the waiter's increment of `waiters`: either the waiter
     * sees our change, or we see it waiting and move `seq` under it. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(MP__ATOMIC(&e->waiters)) != 0) {
        atomic_fetch_add(MP__ATOMIC(&e->seq), 1);
        mp__futex_wake(MP__ATOMIC(&e->seq), n, shared);
    }
}

/* True if anyone sleeps (or is about to sleep) on e. */
static inline bool mp__evc_has_waiters(mp__evc *e)
{
    return atomic_load(MP__ATOMIC(&e->waiters)) != 0;
}

/* The two halves of mp__evc_signal, for a notifier that decides how many
 * to wake only once the count has moved: always moves the count by `by`
 * (a count that is also a counter: an imap's finished tasks), and wakes up
 * to n sleepers if there are any. */
static inline void mp__evc_add(mp__evc *e, uint32_t by)
{
    atomic_fetch_add(MP__ATOMIC(&e->seq), by);
}

static inline void mp__evc_wake(mp__evc *e, int n, bool shared)
{
    if (mp__evc_has_waiters(e))
        mp__futex_wake(MP__ATOMIC(&e->seq), n, shared);
}

/* After a change: always moves the count (spinners watch it with
 * mp__evc_read), and wakes up to n sleepers if there are any. */
static inline void mp__evc_signal(mp__evc *e, int n, bool shared)
{
    mp__evc_add(e, 1);
    mp__evc_wake(e, n, shared);
}

/* The one await: waits until ready(arg) is true, notified through e.
 * First spins for `spin` seconds (0: not at all) testing ready(arg); then,
 * unless `slice` is 0, registers on e, tests once more and sleeps at most
 * `slice` seconds (< 0: until notified).  Returns true once ready(arg) held,
 * false when the spin (slice 0) or the slice ran out without it: the caller
 * then looks at whatever else may end its wait -- a dead worker, a cancel,
 * its own deadline -- and calls again.  ready() must be cheap and may be
 * called many times. */
bool mp__await(mp__evc *e, bool shared, bool (*ready)(void *arg), void *arg, double spin, double slice);

#endif
