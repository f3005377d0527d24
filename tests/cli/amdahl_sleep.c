/* amdahl_sleep.c - a program with a known serial fraction, for the tests
 * of `mproc speedup`.
 *
 *   amdahl_sleep SERIAL PARALLEL [CONTENTION [WORKERS]]
 *
 * With k workers (WORKERS, else MPROC_WORKERS, else 1) it sleeps
 * SERIAL + PARALLEL/k + CONTENTION*(k-1) seconds: Amdahl's law with serial
 * fraction SERIAL/(SERIAL+PARALLEL) when CONTENTION is 0, Gunther's law
 * with a peak otherwise.  Sleeping, not computing, so the times hold on a
 * busy machine with fewer cores than workers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_seconds(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: amdahl_sleep SERIAL PARALLEL [CONTENTION [WORKERS]]\n");
        return 2;
    }
    const char *env = getenv("MPROC_WORKERS");
    double serial = atof(argv[1]), parallel = atof(argv[2]), contention = argc > 3 ? atof(argv[3]) : 0;
    long k = argc > 4 ? atol(argv[4]) : env ? atol(env) : 1;
    if (k < 1) {
        fprintf(stderr, "amdahl_sleep: bad worker count\n");
        return 2;
    }
    sleep_seconds(serial + parallel / (double)k + contention * (double)(k - 1));
    printf("slept with %ld workers\n", k);   /* mproc speedup discards it */
    return 0;
}
