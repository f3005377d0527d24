/* evc.c - mp__await, the spin-then-sleep wait every waiter uses (evc.h). */
#include "evc.h"
#include "internal.h"

#define CLOCK_EVERY 64           /* spin steps between clock reads */

/* Spins on ready(arg) for about `seconds`.  True if it became true. */
static bool spin_until(bool (*ready)(void *), void *arg, double seconds)
{
    double deadline = 0;
    for (unsigned step = 1;; step++) {
        if (ready(arg))
            return true;
        mp__spin_step(step);
        if (step % CLOCK_EVERY == 0) {
            double now = mp__now();
            if (!deadline)
                deadline = now + seconds;
            else if (now > deadline)
                return false;
        }
    }
}

bool mp__await(mp__evc *e, bool shared, bool (*ready)(void *arg), void *arg, double spin, double slice)
{
    if (ready(arg))
        return true;
    if (spin > 0 && spin_until(ready, arg, spin))
        return true;
    if (slice == 0)
        return false;
    for (;;) {
        uint32_t seen = mp__evc_prepare(e);
        bool ok = ready(arg);
        if (!ok)
            mp__evc_sleep(e, seen, shared, slice);
        mp__evc_done(e);
        if (ok || ready(arg))
            return true;
        if (slice > 0)
            return false;
    }
}
