/* pi_task.h - the Monte Carlo pi kernel shared by examples/pi.c and the
 * `pi` benchmark.  Task i draws its points from the random stream
 * (PI_SEED, i): inside a pool mp_task_rng gives it, outside one
 * mp_rng_init does, and the estimate is the same whatever runs the tasks. */
#ifndef PI_TASK_H
#define PI_TASK_H

#include <mproc.h>

#include <stdint.h>

#define PI_SEED 2011   /* any seed: the same seed gives the same estimate */

/* Points of the unit square that fall inside the quarter circle.  Each
 * 64-bit draw is one point: its halves are the two coordinates.  Drawing
 * in blocks (mp_rng_fill) keeps the generator's cost near 1 ns a point. */
static inline uint64_t pi_count(mp_rng *rng, uint64_t samples)
{
    const double scale = 1.0 / 4294967296.0;   /* 2^-32 */
    uint64_t block[256], hits = 0;
    while (samples > 0) {
        size_t n = samples < 256 ? (size_t)samples : 256;
        mp_rng_fill(rng, block, n);
        for (size_t k = 0; k < n; k++) {
            double x = (double)(block[k] >> 32) * scale, y = (double)(block[k] & 0xffffffffu) * scale;
            hits += x * x + y * y < 1.0;
        }
        samples -= n;
    }
    return hits;
}

/* Task `task` run outside a pool: the same stream a pool's task gets. */
static inline uint64_t pi_hits(uint64_t task, uint64_t samples)
{
    mp_rng rng;
    mp_rng_init(&rng, PI_SEED, task);
    return pi_count(&rng, samples);
}

#endif
