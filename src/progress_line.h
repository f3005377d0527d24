/* progress_line.h - how one progress bar's line is laid out, and the
 * smoothed rate it shows (progress_line.c). */
#ifndef MPROC_PROGRESS_LINE_H
#define MPROC_PROGRESS_LINE_H

#include "internal.h"

/* A smoothed rate: an exponential moving average over a few seconds, so
 * that the ETA drifts instead of jumping when work arrives in bursts. */
typedef struct mp__rate {
    double per_second;       /* 0 until there is a first measurement */
    double last_time;
    uint64_t last_done;
} mp__rate;

void mp__rate_start(mp__rate *r, double now);
void mp__rate_update(mp__rate *r, uint64_t done, double now);

typedef struct mp__bar_view {
    const char *label;
    uint64_t done, total;    /* total 0: unknown (no percentage, no ETA) */
    double elapsed;          /* seconds since the bar opened */
    double rate;             /* tasks per second, 0: not known yet */
    const char *note;        /* appended after the figures, or NULL */
    bool final;              /* the last line: average rate, no ETA */
} mp__bar_view;

/* Writes the line for v into buf (NUL-terminated, truncated to cap) and
 * returns its length: "label: 42%|####      | 420/1000 [00:03<00:04,
 * 140/s]".  The bar fills what `columns` leaves, drawn with Unicode blocks
 * when `utf8`, else with '#'. */
size_t mp__bar_line(char *buf, size_t cap, const mp__bar_view *v, int columns, bool utf8);

#endif
