/* progress.c - progress displays on standard error.
 *
 * One line, redrawn in place with a carriage return:
 *   --progress  slots in use, jobs done, elapsed time
 *   --eta       estimated seconds left, jobs left, average job time
 *   --bar       percentage done and a bar */
#include "progress.h"

#include <stdio.h>
#include <string.h>

#include "output.h"
#include "strbuf.h"

void progress_start(progress *p, int bar, int eta, int summary, unsigned long total, double now)
{
    memset(p, 0, sizeof *p);
    p->bar = bar;
    p->eta = eta;
    p->summary = summary;
    p->total = total;
    p->started = now;
}

static void draw(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    if (!p->bar && !p->eta && !p->summary)
        return;
    double elapsed = now - p->started;
    double avg = done ? elapsed / (double)done : 0;
    unsigned long left = p->total > done ? p->total - done : 0;
    strbuf b = STRBUF_INIT;
    sb_addc(&b, '\r');
    if (p->summary)
        sb_addf(&b, "local: %lu/%lu running, %lu done, %.1fs  ", running, slots, done, elapsed);
    if (p->eta)
        sb_addf(&b, "ETA: %.0fs left: %lu avg: %.3fs  ", avg * (double)left, left, avg);
    if (p->bar) {
        unsigned pct = p->total ? (unsigned)(100.0 * (double)done / (double)p->total) : 0;
        enum { WIDTH = 30 };
        unsigned fill = pct * WIDTH / 100;
        sb_addf(&b, "%3u%% [", pct);
        for (unsigned i = 0; i < WIDTH; i++)
            sb_addc(&b, i < fill ? '#' : ' ');
        sb_addf(&b, "] %lu/%lu", done, p->total);
    }
    sb_adds(&b, "\033[K");
    if (!b.failed)
        write_all(2, b.data, b.len);
    sb_free(&b);
    p->drawn = 1;
}

void progress_update(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    draw(p, done, running, slots, now);
}

void progress_finish(progress *p, unsigned long done, unsigned long running, unsigned long slots, double now)
{
    draw(p, done, running, slots, now);
    if (p->drawn)
        write_all(2, "\n", 1);
    p->drawn = 0;
}
