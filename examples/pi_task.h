/* pi_task.h - the Monte Carlo pi kernel shared by examples/pi.c and the
 * `pi` benchmark.  Task i draws its points from a random stream that depends
 * only on i, so the estimate is the same whatever runs the tasks. */
#ifndef PI_TASK_H
#define PI_TASK_H

#include <stdint.h>

/* splitmix64: tiny, fast, and every seed gives a good independent stream. */
static inline uint64_t pi_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Points of the unit square that fall inside the quarter circle. */
static inline uint64_t pi_hits(uint64_t seed, uint64_t samples)
{
    uint64_t state = seed * UINT64_C(0x2545f4914f6cdd1d) + 1, hits = 0;
    const double scale = 1.0 / 4294967296.0;   /* 2^-32 */
    for (uint64_t k = 0; k < samples; k++) {
        uint64_t r = pi_next(&state);
        double x = (double)(r >> 32) * scale, y = (double)(r & 0xffffffffu) * scale;
        hits += x * x + y * y < 1.0;
    }
    return hits;
}

#endif
