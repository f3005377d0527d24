/* median.h - the median of the most recent samples, in fixed memory.
 *
 * --timeout N% compares each job with the median runtime of successful
 * jobs; a window of the latest ones keeps memory constant however long
 * the input is, and follows the jobs if they change over time. */
#ifndef MPROC_CLI_MEDIAN_H
#define MPROC_CLI_MEDIAN_H

#include <stddef.h>

#define MEDIAN_WINDOW 1024

typedef struct median_window {
    double ring[MEDIAN_WINDOW];     /* samples in arrival order */
    double sorted[MEDIAN_WINDOW];   /* the same samples, ascending */
    size_t count;
    size_t next;                    /* ring slot the next sample replaces */
} median_window;

void median_init(median_window *m);
void median_add(median_window *m, double sample);
size_t median_count(const median_window *m);
/* The median of the window (upper median for an even count); 0 if empty. */
double median_value(const median_window *m);

#endif
