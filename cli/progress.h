/* progress.h - --bar, --eta and --progress, written to standard error. */
#ifndef MPROC_CLI_PROGRESS_H
#define MPROC_CLI_PROGRESS_H

#include <mproc.h>

typedef struct progress {
    int bar, eta, summary;  /* which displays are on */
    unsigned long total;    /* jobs in the whole input (0: unknown) */
    double started;         /* monotonic seconds */
    double next_draw;       /* --eta/--progress alone: not before this */
    int drawn;              /* a line is on screen and needs a newline */
    mp_bar *meter;          /* --bar: the library's bar, NULL otherwise */
} progress;

void progress_start(progress *p, int bar, int eta, int summary, unsigned long total, double now);
void progress_update(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now);
void progress_finish(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now);

#endif
