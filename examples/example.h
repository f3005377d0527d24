/* example.h - the few lines every example program shares.
 *
 * check() keeps error handling to one word at each call: an mproc call that
 * fails ends the program with the library's message, as an uncaught Python
 * exception would.  Real programs usually report and carry on instead.
 */
#ifndef MPROC_EXAMPLE_H
#define MPROC_EXAMPLE_H

#include <mproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Returns `code` when it is not an error; otherwise prints what failed and
 * mp_last_error()'s message, and exits with status 1. */
static inline int check_code(int code, const char *what)
{
    if (code < 0) {
        fprintf(stderr, "%s failed: %s\n", what, mp_last_error());
        exit(1);
    }
    return code;
}
#define check(call) check_code((call), #call)

/* calloc that ends the program when memory runs out, so that examples
 * need not check each allocation. */
static inline void *allocate(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (!p && count && size) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* A new array holding 0, 1, ..., n-1 (Python's list(range(n))); free it. */
static inline long *range_list(long n)
{
    long *xs = allocate((size_t)n, sizeof *xs);
    for (long i = 0; i < n; i++)
        xs[i] = i;
    return xs;
}

/* Seconds on a monotonic clock, to time a run. */
static inline double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps `seconds`: the stand-in for slow work in the tutorials. */
static inline void pause_for(double seconds)
{
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Prints `label`, then xs as a Python list: "label[0, 1, 4]\n". */
static inline void print_list(const char *label, const long *xs, long n)
{
    printf("%s[", label);
    for (long i = 0; i < n; i++)
        printf(i ? ", %ld" : "%ld", xs[i]);
    printf("]\n");
}

/* The optional size argument argv[index] (a positive count), or `fallback`
 * when it is absent.  A malformed one ends the program with a usage line. */
static inline long count_arg(int argc, char **argv, int index, long fallback)
{
    if (argc <= index)
        return fallback;
    char *end;
    long n = strtol(argv[index], &end, 10);
    if (*argv[index] == '\0' || *end != '\0' || n <= 0) {
        fprintf(stderr, "%s: the count must be a positive integer, not '%s'\n", argv[0], argv[index]);
        exit(2);
    }
    return n;
}

#endif
