/* median.c - sliding-window median with a sorted copy of the window. */
#include "median.h"

#include <string.h>

void median_init(median_window *m) { memset(m, 0, sizeof *m); }

/* First index in sorted[0..n) whose value is >= v. */
static size_t lower_bound(const double *sorted, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void median_add(median_window *m, double sample)
{
    if (m->count == MEDIAN_WINDOW) {
        size_t at = lower_bound(m->sorted, m->count, m->ring[m->next]);
        memmove(m->sorted + at, m->sorted + at + 1, (m->count - at - 1) * sizeof *m->sorted);
        m->count--;
    }
    size_t at = lower_bound(m->sorted, m->count, sample);
    memmove(m->sorted + at + 1, m->sorted + at, (m->count - at) * sizeof *m->sorted);
    m->sorted[at] = sample;
    m->count++;
    m->ring[m->next] = sample;
    m->next = (m->next + 1) % MEDIAN_WINDOW;
}

size_t median_count(const median_window *m) { return m->count; }

double median_value(const median_window *m) { return m->count ? m->sorted[m->count / 2] : 0; }
