/* progress.h - progress bars: what the pools use of the renderer
 * (progress.c) and how one line is laid out (progress_line.c). */
#ifndef MPROC_PROGRESS_H
#define MPROC_PROGRESS_H

#include "internal.h"

/* --- the bars (progress.c) ------------------------------------------------ */

/* true if a call with these options (NULL: defaults) gets a bar or a
 * callback, given MPROC_PROGRESS and whether stderr is a terminal.  The
 * pools ask before publishing a job, to report finished tasks per chunk. */
bool mp__progress_wanted(const mp_progress *opts);

/* Opens a bar for a call named `who` over `total` tasks (0: unknown).  Its
 * count is read from *source, a counter the workers keep, until the bar
 * ends; with source NULL the bar keeps its own count (mp_bar_add/set).
 * *out is NULL when nothing is wanted: callers test it and pay nothing
 * more.  Returns 0 or MP_ENOMEM (then *out is NULL: a call goes on without
 * its bar rather than fail). */
int mp__bar_open(mp_bar **out, const char *who, uint64_t total, const mp_progress *opts,
                 const _Atomic uint64_t *source);

/* Ends a bar: its final line carries `note` (NULL: none), e.g. "3 failed".
 * *source is read a last time here and never after.  With `wait`, returns
 * once the final line is drawn, the last callback made and the bar freed;
 * without (a caller holding a pool's lock), the progress thread does all
 * three later.  NULL is ignored. */
void mp__bar_end(mp_bar *bar, const char *note, bool wait);

/* --- one line (progress_line.c) ----------------------------------------- */

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
