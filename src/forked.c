/* forked.c - what every process mproc forks to run user code does first.
 *
 * A forked child inherits its parent's libc generator state, so every
 * worker of a process pool (and every mp_process child) would otherwise
 * draw the same "random" numbers: the obvious port of "each process draws a
 * number" would get a handful of distinct values out of a hundred.
 * Python's multiprocessing reseeds after fork for the same reason. */
#include "internal.h"
#include "forked.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* A value of this process's own.  The pid tells apart processes alive at
 * the same time; the clocks (nanoseconds) tell apart processes that get the
 * same pid one after the other. */
static uint64_t process_entropy(void)
{
    uint64_t state = (uint64_t)getpid() << 40;
    state ^= splitmix64(&state) ^ clock_ns(CLOCK_MONOTONIC);
    state ^= splitmix64(&state) ^ clock_ns(CLOCK_REALTIME);
    return splitmix64(&state);
}

void mp__reseed_libc_random(void)
{
    uint64_t state = process_entropy();
    uint64_t a = splitmix64(&state), b = splitmix64(&state);
    srand((unsigned)a);
    srandom((unsigned)(a >> 32));    /* the same generator as rand's in glibc, not everywhere */
    unsigned short xsubi[3] = { (unsigned short)b, (unsigned short)(b >> 16), (unsigned short)(b >> 32) };
    seed48(xsubi);                   /* drand48, lrand48, mrand48 */
}
