/* clock.c - monotonic time and timeout validation. */
#include "internal.h"

#include <math.h>
#include <sched.h>
#include <time.h>

double mp__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int mp__check_timeout(const char *who, double timeout)
{
    if (isnan(timeout))
        return mp__error(MP_EINVAL, "%s: timeout is NaN", who);
    if (timeout < 0 && timeout != MP_FOREVER)
        return mp__error(MP_EINVAL, "%s: timeout %g is negative (use MP_FOREVER to wait without limit)", who, timeout);
    return 0;
}

void mp__spin_step(unsigned step)
{
    if (step % 16 == 0)
        sched_yield();
    else
        mp__cpu_relax();
}
