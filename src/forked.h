/* forked.h - what every process mproc forks to run user code does first
 * (forked.c): pool workers (forkserver.c) and mp_process children
 * (process.c). */
#ifndef MPROC_FORKED_H
#define MPROC_FORKED_H

/* Reseeds libc's random generators -- rand/srand, random/srandom and the
 * drand48 family -- from a value of this process's own (its pid and two
 * clocks, mixed by splitmix64), so that forked processes do not
 * all draw the sequence they inherited.  Not reproducible, on purpose:
 * reproducible streams are a function of (seed, task index), not of a
 * process.  Call it in the child, right after fork. */
void mp__reseed_libc_random(void);

#endif
