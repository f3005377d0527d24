/* svg.h - the speedup plot of `mproc speedup` as a self-contained SVG:
 * measured speedups with their min-max bars, the ideal line, and the
 * fitted Amdahl curve with its serial fraction and ceiling in the legend.
 * Deterministic: the same data give the same bytes. */
#ifndef MPROC_CLI_SVG_H
#define MPROC_CLI_SVG_H

#include <stddef.h>

#include "fit.h"
#include "strbuf.h"

typedef struct svg_point {
    double workers;
    double speedup;       /* from the median time */
    double low, high;     /* from the slowest and the fastest run */
} svg_point;

/* Appends the document to out.  title is escaped.  a may be NULL or not
 * ok (no curve).  Returns 0, or -1 if out ran out of memory. */
int svg_speedup_plot(strbuf *out, const char *title, const svg_point *p, size_t n, const amdahl_fit *a);

#endif
