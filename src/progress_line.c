/* progress_line.c - how one progress line reads, and the smoothed rate.
 *
 * Pure functions of their inputs: the renderer (progress.c) decides when
 * and where to draw; this file only lays the line out.
 *
 *   label:  42%|█████▍       | 420/1000 [00:03<00:04, 140/s]
 *   label: 420 [00:03, 140/s]                      (total unknown)
 *   label: 100%|█████████████| 1000/1000 [00:07, 142/s, 3 failed]   (final)
 */
#include "progress_line.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RATE_SECONDS 3.0     /* the moving average forgets over about this long */
#define BAR_MAX 60           /* widest bar, in columns */
#define BAR_MIN 4            /* narrower than this: no bar at all */

void mp__rate_start(mp__rate *r, double now)
{
    *r = (mp__rate){ 0, now, 0 };
}

/* Each measurement weighs by the time it covers, so the average forgets
 * at the same pace however often it is updated.  The first one is taken
 * as it is: before it there is nothing to average with. */
void mp__rate_update(mp__rate *r, uint64_t done, double now)
{
    double dt = now - r->last_time;
    if (dt <= 0 || done < r->last_done)
        return;
    double instant = (double)(done - r->last_done) / dt;
    if (r->per_second == 0 && done > 0)
        r->per_second = instant;
    else
        r->per_second += (1 - exp(-dt / RATE_SECONDS)) * (instant - r->per_second);
    r->last_time = now;
    r->last_done = done;
}

/* A bounded string builder: appends what fits, always NUL-terminated. */
typedef struct line {
    char *buf;
    size_t cap, len;
} line;

static void put(line *l, const char *fmt, ...) MP_PRINTF(2, 3);
static void put(line *l, const char *fmt, ...)
{
    if (l->len + 1 >= l->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len = l->len + (size_t)n < l->cap ? l->len + (size_t)n : l->cap - 1;
}

/* Columns a UTF-8 string takes (one per character: labels are text). */
static int columns_of(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void put_duration(line *l, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        put(l, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        put(l, "%02lu:%02lu", s / 60, s % 60);
}

/* 140/s, 1.23k/s, 45.6M/s; below one a second: 2.5s/task. */
static void put_rate(line *l, double rate)
{
    static const char suffix[] = " kMGTP";
    if (!(rate > 0) || !isfinite(rate)) {
        put(l, "?/s");
        return;
    }
    if (rate < 1) {
        put(l, "%.3gs/task", 1 / rate);
        return;
    }
    int k = 0;
    while (rate >= 999.5 && k < 5) {
        rate /= 1000;
        k++;
    }
    if (k == 0)
        put(l, "%.3g/s", rate);
    else
        put(l, "%.3g%c/s", rate, suffix[k]);
}

static void put_bar(line *l, double fraction, int width, bool utf8)
{
    static const char *const eighths[8] = { "", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589" };
    double cells = fraction * width;
    int full = (int)cells;
    int part = utf8 ? (int)((cells - full) * 8) : 0;
    for (int i = 0; i < width; i++) {
        if (i < full)
            put(l, "%s", utf8 ? "\u2588" : "#");
        else if (i == full && part > 0)
            put(l, "%s", eighths[part]);
        else
            put(l, " ");
    }
}

size_t mp__bar_line(char *buf, size_t cap, const mp__bar_view *v, int columns, bool utf8)
{
    if (!cap)
        return 0;
    buf[0] = '\0';
    /* The figures right of the bar, laid out first to know the room left. */
    char right_buf[160];
    line right = { right_buf, sizeof right_buf, 0 };
    right_buf[0] = '\0';
    bool known = v->total > 0;
    uint64_t done = known && v->done > v->total ? v->total : v->done;
    if (known)
        put(&right, " %llu/%llu [", (unsigned long long)done, (unsigned long long)v->total);
    else
        put(&right, " %llu [", (unsigned long long)done);
    put_duration(&right, v->elapsed);
    if (known && !v->final) {
        put(&right, "<");
        if (done == v->total)
            put_duration(&right, 0);
        else if (v->rate > 0)
            put_duration(&right, (double)(v->total - done) / v->rate);
        else
            put(&right, "?");
    }
    put(&right, ", ");
    put_rate(&right, v->final && v->elapsed > 0 ? (double)done / v->elapsed : v->rate);
    if (v->note && *v->note)
        put(&right, ", %s", v->note);
    put(&right, "]");

    line l = { buf, cap, 0 };
    put(&l, "%s:", v->label ? v->label : "progress");
    if (known) {
        double fraction = (double)done / (double)v->total;
        put(&l, " %3u%%", (unsigned)(fraction * 100));
        int width = columns - 1 - columns_of(buf) - 2 - columns_of(right_buf);
        if (width > BAR_MAX)
            width = BAR_MAX;
        if (width >= BAR_MIN) {
            put(&l, "|");
            put_bar(&l, fraction, width, utf8);
            put(&l, "|");
        }
    }
    put(&l, "%s", right_buf);
    return l.len;
}
