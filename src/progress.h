/* progress.h - progress bars: what the pools use of the renderer
 * (progress.c); how one line is laid out is progress_line.h. */
#ifndef MPROC_PROGRESS_H
#define MPROC_PROGRESS_H

#include "internal.h"
#include "progress_line.h"

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

#endif
