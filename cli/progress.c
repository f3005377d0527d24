/* progress.c - progress displays on standard error.
 *
 *   --bar       the library's progress bar (mp_bar): drawn by its thread at
 *               most ten times a second, only when stderr is a terminal
 *               (MPROC_PROGRESS=force draws it anyway)
 *   --progress  slots in use, jobs done, elapsed time
 *   --eta       estimated seconds left, jobs left, average job time
 * With --bar, the --progress and --eta figures are the bar's label; alone,
 * they are one line redrawn in place, at most ten times a second. */
#include "progress.h"

#include <stdio.h>
#include <string.h>

#include "output.h"
#include "strbuf.h"

#define REDRAW_SECONDS 0.1

void progress_start(progress *p, int bar, int eta, int summary, unsigned long total, double now)
{
    memset(p, 0, sizeof *p);
    p->bar = bar;
    p->eta = eta;
    p->summary = summary;
    p->total = total;
    p->started = now;
    if (bar && mp_bar_open(&p->meter, total, &(mp_progress){ .mode = MP_PROGRESS_ON, .label = "mproc" }) != 0)
        p->meter = NULL;   /* no bar is no reason to fail the run */
}

/* The --progress and --eta figures, or an empty string. */
static void figures(const progress *p, strbuf *b, unsigned long done, unsigned long running, unsigned long slots,
                    double now)
{
    double elapsed = now - p->started;
    double avg = done ? elapsed / (double)done : 0;
    unsigned long left = p->total > done ? p->total - done : 0;
    if (p->summary)
        sb_addf(b, "local: %lu/%lu running, %lu done, %.1fs  ", running, slots, done, elapsed);
    if (p->eta)
        sb_addf(b, "ETA: %.0fs left: %lu avg: %.3fs  ", avg * (double)left, left, avg);
}

static void draw(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    strbuf b = STRBUF_INIT;
    figures(p, &b, done, running, slots, now);
    if (p->meter) {
        mp_bar_set(p->meter, done);
        while (b.len && b.data[b.len - 1] == ' ')
            b.data[--b.len] = '\0';     /* the bar puts its own ": " after */
        if (b.len && !b.failed)
            mp_bar_set_label(p->meter, b.data);
    } else if (b.len && !b.failed) {
        sb_adds(&b, "\033[K");
        write_all(2, "\r", 1);
        write_all(2, b.data, b.len);
        p->drawn = 1;
    }
    sb_free(&b);
}

void progress_update(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    if (!p->meter && now < p->next_draw)
        return;
    p->next_draw = now + REDRAW_SECONDS;
    draw(p, done, running, slots, now);
}

void progress_finish(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    draw(p, done, running, slots, now);
    mp_bar_close(p->meter);
    p->meter = NULL;
    if (p->drawn)
        write_all(2, "\n", 1);
    p->drawn = 0;
}
