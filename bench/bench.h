/* bench.h - the harness every benchmark file uses.
 *
 * A benchmark file defines one or more functions `void fn(const bench_ctx *)`
 * and registers each with BENCH_REGISTER(name, fn).  A function measures its
 * own figure AND its anchor in the same run (absolute times drift on shared
 * machines; ratios do not) and reports each row with bench_report().
 *
 *   mproc-bench [--quick] [--json] [--list] [NAME...]
 */
#ifndef MPROC_BENCH_H
#define MPROC_BENCH_H

#include <stddef.h>

typedef struct bench_ctx {
    int quick;      /* --quick: smaller sizes, for smoke runs */
    int json;       /* --json: one JSON object per line instead of a table */
} bench_ctx;

typedef struct bench_row {
    const char *bench;        /* benchmark name, e.g. "tiny_map" */
    const char *backend;      /* "thread", "process", "cli", ... */
    int workers;
    size_t chunksize;         /* 0 = automatic */
    double value;             /* our figure */
    const char *unit;         /* "tasks/s", "s", "us", "MiB", ... */
    const char *anchor;       /* what we compare with, NULL if none */
    double anchor_value;      /* the anchor's figure in the same unit */
    int lower_is_better;      /* 1 for times and sizes: ratio = anchor/value */
    const char *goal;         /* the goal in words, e.g. "ratio >= 0.5" */
    const char *note;         /* optional free text */
} bench_row;

typedef void (*bench_fn)(const bench_ctx *ctx);

void bench_register(const char *name, bench_fn fn);
/* Prints one row (table or JSON).  ratio is computed so that higher is
 * better: value/anchor_value, or anchor_value/value when lower_is_better. */
void bench_report(const bench_ctx *ctx, const bench_row *row);
double bench_now(void);               /* monotonic seconds */
double bench_peak_rss_mib(void);      /* this process's peak RSS (VmHWM) */
/* Resets the peak to the current RSS, so a benchmark measures its own peak
 * rather than the largest one before it.  0, or -1 if the kernel refuses. */
int bench_reset_peak_rss(void);
/* Runs `sh -c cmd` and returns its wall time in seconds, or -1 if it could
 * not run or exited non-zero.  Used for external anchors (python3, GNU
 * parallel, xargs). */
double bench_time_command(const char *cmd);
int bench_have_command(const char *name);
/* The mproc command built next to this benchmark (<build>/cli/mproc)
 * into out.  Returns 0, or -1 when it is not there. */
int bench_find_mproc(char *out, size_t size);
/* The path of a program relative to mproc-bench's folder, into out: 0 if
 * it is there and executable, else -1. */
int bench_find_beside(const char *relative, char *out, size_t size);
/* Runs `python3 bench/SCRIPT NAME N` and returns the number it prints, or
 * 0 when python3 is missing or the anchor failed. */
double bench_python_anchor(const char *script, const char *name, long n);

#define BENCH_REGISTER(name, fn)                                   \
    __attribute__((constructor)) static void bench_reg_##fn(void) { \
        bench_register(name, fn);                                  \
    }

#endif
