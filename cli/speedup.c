/* speedup.c - `mproc speedup`: the speedup table, the scaling-law fits and
 * the plot in one command.
 *
 * For each worker count k the command runs once to warm up (caches, page
 * cache, CPU frequency) and then `runs` times, with MPROC_WORKERS=k and
 * OMP_NUM_THREADS=k in its environment and {w} in its words replaced by k.
 * The median time is the point; min and max give the bars.  Speedups are
 * relative to the median at k = 1. */
#include "speedup.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mproc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fit.h"
#include "output.h"
#include "svg.h"

extern char **environ;

/* ---- options ------------------------------------------------------------ */

static void speedup_usage(int fd)
{
    static const char text[] =
        "usage: mproc speedup [options] -- command [args]\n"
        "\n"
        "Runs command at each worker count k (MPROC_WORKERS=k and OMP_NUM_THREADS=k in\n"
        "its environment, {w} in its arguments replaced by k), once to warm up and\n"
        "then R timed runs; prints the median time with min-max, the speedup, the\n"
        "efficiency and the Karp-Flatt serial fraction per point; fits Amdahl's,\n"
        "Gustafson's and Gunther's laws and says which fits best.  The command's\n"
        "standard output is discarded; its standard error is shown.\n"
        "\n"
        "options:\n"
        "  -w, --workers LIST   worker counts, e.g. 1,2,4,8 (1 is always measured)\n"
        "  -m, --max N          worker counts 1, 2, ..., N (default: the usable CPUs)\n"
        "  -r, --runs R         timed runs per worker count (default 3)\n"
        "      --svg FILE       write the speedup plot (SVG) to FILE\n"
        "      --json FILE      write the table and the fits (JSON) to FILE\n"
        "  -h, --help           show this help\n"
        "\n"
        "exit status: 0, 1 if the command failed or a file could not be written,\n"
        "2 on usage errors.\n";
    write_all(fd, text, sizeof text - 1);
}

/* A whole decimal number in [lo, hi]; -1 if s is anything else. */
static long parse_count(const char *s, long lo, long hi)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    return v;
}

static int add_worker_count(speedup_options *o, long k, strbuf *err)
{
    for (int i = 0; i < o->nworkers; i++)
        if (o->workers[i] == k)
            return 0;
    if (o->nworkers == SPEEDUP_MAX_POINTS) {
        sb_addf(err, "at most %d worker counts", SPEEDUP_MAX_POINTS);
        return -1;
    }
    int at = o->nworkers++;
    while (at > 0 && o->workers[at - 1] > k) {
        o->workers[at] = o->workers[at - 1];
        at--;
    }
    o->workers[at] = k;
    return 0;
}

int speedup_parse_workers(speedup_options *o, const char *list, strbuf *err)
{
    o->nworkers = 0;
    const char *p = list;
    do {
        size_t len = strcspn(p, ",");
        char word[32];
        long k = -1;
        if (len > 0 && len < sizeof word) {
            memcpy(word, p, len);
            word[len] = '\0';
            k = parse_count(word, 1, SPEEDUP_MAX_WORKERS);
        }
        if (k < 0) {
            sb_addf(err, "--workers: '%.*s' is not a worker count from 1 to %d", (int)len, p,
                    SPEEDUP_MAX_WORKERS);
            return -1;
        }
        if (add_worker_count(o, k, err) < 0)
            return -1;
        p += len;
    } while (*p++ == ',');
    /* Speedups are relative to one worker: always measure it. */
    return add_worker_count(o, 1, err);
}

static int set_max_workers(speedup_options *o, long max, strbuf *err)
{
    o->nworkers = 0;
    for (long k = 1; k <= max; k++)
        if (add_worker_count(o, k, err) < 0)
            return -1;
    return 0;
}

/* The value of option argv[*i] (--name VALUE or --name=VALUE). */
static const char *option_value(int argc, char **argv, int *i, const char *name, strbuf *err)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    if (eq && !strncmp(arg, "--", 2))
        return eq + 1;
    if (*i + 1 >= argc) {
        sb_addf(err, "%s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static int is_option(const char *arg, const char *shortname, const char *longname)
{
    size_t n = strlen(longname);
    return (shortname && !strcmp(arg, shortname)) || !strcmp(arg, longname) ||
           (!strncmp(arg, longname, n) && arg[n] == '=');
}

int speedup_options_parse(speedup_options *o, int argc, char **argv, long usable_cpus, strbuf *err)
{
    memset(o, 0, sizeof *o);
    o->runs = 3;
    long max = 0;
    int i = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i], *v;
        if (!strcmp(arg, "--"))
            break;
        if (is_option(arg, "-h", "--help")) {
            o->show_help = 1;
            return 0;
        } else if (is_option(arg, "-w", "--workers")) {
            if (!(v = option_value(argc, argv, &i, "--workers", err)) || speedup_parse_workers(o, v, err) < 0)
                return -1;
            max = 0;
        } else if (is_option(arg, "-m", "--max")) {
            if (!(v = option_value(argc, argv, &i, "--max", err)))
                return -1;
            if ((max = parse_count(v, 1, SPEEDUP_MAX_POINTS)) < 0) {
                sb_addf(err, "--max: '%s' is not a number from 1 to %d", v, SPEEDUP_MAX_POINTS);
                return -1;
            }
            o->nworkers = 0;
        } else if (is_option(arg, "-r", "--runs")) {
            if (!(v = option_value(argc, argv, &i, "--runs", err)))
                return -1;
            if ((o->runs = (int)parse_count(v, 1, SPEEDUP_MAX_RUNS)) < 0) {
                sb_addf(err, "--runs: '%s' is not a number from 1 to %d", v, SPEEDUP_MAX_RUNS);
                return -1;
            }
        } else if (is_option(arg, NULL, "--svg")) {
            if (!(o->svg_path = option_value(argc, argv, &i, "--svg", err)))
                return -1;
        } else if (is_option(arg, NULL, "--json")) {
            if (!(o->json_path = option_value(argc, argv, &i, "--json", err)))
                return -1;
        } else {
            sb_addf(err, arg[0] == '-' ? "unknown option '%s'" : "'%s': put the command after --", arg);
            return -1;
        }
    }
    if (i + 1 >= argc) {
        sb_adds(err, "no command: give it after --");
        return -1;
    }
    o->command = argv + i + 1;
    o->ncommand = argc - i - 1;
    if (max > 0)
        return set_max_workers(o, max, err);
    if (o->nworkers == 0)
        return set_max_workers(o, usable_cpus < SPEEDUP_MAX_POINTS ? usable_cpus : SPEEDUP_MAX_POINTS, err);
    return 0;
}

/* ---- running the command ------------------------------------------------ */

typedef struct point {
    long workers;
    double median, min, max;     /* seconds */
    double speedup, low, high;   /* from the median, the slowest, the fastest run */
    double efficiency, karp_flatt;
    int above_cpus;
} point;

/* The command's words with every {w} replaced by k. */
static char **command_for(const speedup_options *o, long k)
{
    char **argv = calloc((size_t)o->ncommand + 1, sizeof *argv);
    if (!argv)
        return NULL;
    char kstr[24];
    snprintf(kstr, sizeof kstr, "%ld", k);
    for (int i = 0; i < o->ncommand; i++) {
        strbuf w = STRBUF_INIT;
        for (const char *s = o->command[i]; *s;) {
            if (!strncmp(s, "{w}", 3)) {
                sb_adds(&w, kstr);
                s += 3;
            } else {
                sb_addc(&w, *s++);
            }
        }
        argv[i] = w.failed ? NULL : strdup(sb_str(&w));
        sb_free(&w);
        if (!argv[i]) {
            for (int j = 0; j < i; j++)
                free(argv[j]);
            free(argv);
            return NULL;
        }
    }
    return argv;
}

static void free_command(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs argv once with k workers; its wall time in *seconds.  Returns 0, or
 * -1 with the reason in err (it could not start, or did not exit 0). */
static int run_once(char **argv, long k, double *seconds, strbuf *err)
{
    char kstr[24];
    snprintf(kstr, sizeof kstr, "%ld", k);
    if (setenv("MPROC_WORKERS", kstr, 1) || setenv("OMP_NUM_THREADS", kstr, 1)) {
        sb_addf(err, "cannot set the environment: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) {
        sb_adds(err, "out of memory");
        return -1;
    }
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double t0 = now();
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        sb_addf(err, "cannot run '%s': %s", argv[0], strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            sb_addf(err, "waitpid: %s", strerror(errno));
            return -1;
        }
    *seconds = now() - t0;
    if (WIFSIGNALED(status)) {
        sb_addf(err, "'%s' with %ld workers was killed by signal %d", argv[0], k, WTERMSIG(status));
        return -1;
    }
    if (WEXITSTATUS(status)) {
        sb_addf(err, "'%s' with %ld workers exited with status %d", argv[0], k, WEXITSTATUS(status));
        return -1;
    }
    return 0;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A warm-up run, then o->runs timed ones: median, min and max. */
static int measure(const speedup_options *o, long k, point *p, strbuf *err)
{
    char **argv = command_for(o, k);
    double *t = calloc((size_t)o->runs, sizeof *t);
    int r = argv && t ? 0 : -1;
    if (r)
        sb_adds(err, "out of memory");
    double ignored;
    if (!r)
        r = run_once(argv, k, &ignored, err);
    for (int i = 0; !r && i < o->runs; i++)
        r = run_once(argv, k, &t[i], err);
    if (!r) {
        qsort(t, (size_t)o->runs, sizeof *t, compare_doubles);
        int n = o->runs;
        p->workers = k;
        p->median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
        p->min = t[0];
        p->max = t[n - 1];
    }
    free(t);
    free_command(argv);
    return r;
}

/* Speedup, bars, efficiency and Karp-Flatt, once the k = 1 point is in. */
static void derive(point *p, int n, long usable_cpus)
{
    double base = p[0].median;   /* workers[0] is 1 */
    for (int i = 0; i < n; i++) {
        p[i].speedup = base / p[i].median;
        p[i].low = base / p[i].max;
        p[i].high = base / p[i].min;
        p[i].efficiency = p[i].speedup / (double)p[i].workers;
        p[i].karp_flatt = karp_flatt((double)p[i].workers, p[i].speedup);
        p[i].above_cpus = p[i].workers > usable_cpus;
    }
}

/* ---- reporting ---------------------------------------------------------- */

typedef struct fits {
    amdahl_fit amdahl;
    gustafson_fit gustafson;
    usl_fit usl;
    enum fit_law best;
} fits;

static fits fit_all(const point *p, int n)
{
    fit_point fp[SPEEDUP_MAX_POINTS];
    for (int i = 0; i < n; i++)
        fp[i] = (fit_point){ (double)p[i].workers, p[i].speedup };
    fits f;
    f.amdahl = fit_amdahl(fp, (size_t)n);
    f.gustafson = fit_gustafson(fp, (size_t)n);
    f.usl = fit_usl(fp, (size_t)n);
    f.best = fit_best(&f.amdahl, &f.gustafson, &f.usl);
    return f;
}

/* The one sentence that says which law fits best, and what it means. */
static void verdict(strbuf *out, const fits *f)
{
    switch (f->best) {
    case LAW_AMDAHL:
        if (isinf(f->amdahl.ceiling))
            sb_adds(out, "Amdahl's law fits best, with no measurable serial fraction: the speedup grows with "
                         "the workers.");
        else
            sb_addf(out, "Amdahl's law fits best: a serial fraction of %.3f caps the speedup at %.1fx however "
                         "many workers run.", f->amdahl.serial, f->amdahl.ceiling);
        break;
    case LAW_GUSTAFSON:
        if (f->gustafson.serial < 1)
            sb_addf(out, "Gustafson's law fits best: the speedup grows linearly, by %.2f for each added worker "
                         "(serial fraction %.3f).", 1 - f->gustafson.serial, f->gustafson.serial);
        else
            sb_addf(out, "Gustafson's law fits best, with a serial fraction of %.3f: more workers do not make "
                         "the command faster.", f->gustafson.serial);
        break;
    case LAW_USL:
        if (isfinite(f->usl.peak_workers))
            sb_addf(out, "Gunther's universal scalability law fits best: contention and coherency costs make "
                         "the speedup peak at %.2fx near %.0f workers, and more workers are slower.",
                    f->usl.peak_speedup, f->usl.peak_workers);
        else
            sb_addf(out, "Gunther's universal scalability law fits best, without a peak: the speedup "
                         "approaches %.1fx.", f->usl.peak_speedup);
        break;
    case LAW_NONE:
        sb_adds(out, "No law can be fitted: measure at least one worker count besides 1.");
        break;
    }
}

static void add_number(strbuf *out, const char *fmt, double v, int width)
{
    if (isfinite(v))
        sb_addf(out, fmt, width, v);
    else
        sb_addf(out, "%*s", width, isnan(v) ? "-" : "inf");
}

static void print_table(const speedup_options *o, const point *p, int n, long usable_cpus, const fits *f)
{
    strbuf t = STRBUF_INIT;
    sb_adds(&t, "mproc speedup:");
    for (int i = 0; i < o->ncommand; i++)
        sb_addf(&t, " %s", o->command[i]);
    sb_addf(&t, "\n%d timed run%s per worker count after a warm-up; %ld usable CPU%s\n\n", o->runs,
            o->runs == 1 ? "" : "s", usable_cpus, usable_cpus == 1 ? "" : "s");
    sb_addf(&t, "%7s  %10s  %21s  %8s  %10s  %10s\n", "workers", "median s", "min - max s", "speedup",
            "efficiency", "Karp-Flatt");
    int flagged = 0;
    for (int i = 0; i < n; i++) {
        sb_addf(&t, "%7ld  %10.4f  %10.4f - %-8.4f  %7.2fx  %9.0f%%  ", p[i].workers, p[i].median, p[i].min,
                p[i].max, p[i].speedup, 100 * p[i].efficiency);
        add_number(&t, "%*.3f", p[i].karp_flatt, 10);
        sb_adds(&t, p[i].above_cpus ? "  *\n" : "\n");
        flagged |= p[i].above_cpus;
    }
    if (flagged)
        sb_addf(&t, "* more workers than the %ld usable CPU%s: these points measure oversubscription\n",
                usable_cpus, usable_cpus == 1 ? "" : "s");
    sb_adds(&t, "\nfits (least squares; rse: residual standard error of the speedup)\n");
    if (f->amdahl.ok) {
        sb_addf(&t, "  Amdahl     serial fraction %.4f +/- ", f->amdahl.serial);
        add_number(&t, "%*.4f", f->amdahl.stderr_serial, 1);
        sb_adds(&t, ", ceiling ");
        add_number(&t, "%*.2f", f->amdahl.ceiling, 1);
        sb_adds(&t, "x, rse ");
        add_number(&t, "%*.4f", f->amdahl.res.rse, 1);
        sb_adds(&t, "\n");
    }
    if (f->gustafson.ok) {
        sb_addf(&t, "  Gustafson  serial fraction %.4f +/- ", f->gustafson.serial);
        add_number(&t, "%*.4f", f->gustafson.stderr_serial, 1);
        sb_adds(&t, ", rse ");
        add_number(&t, "%*.4f", f->gustafson.res.rse, 1);
        sb_adds(&t, "\n");
    }
    if (f->usl.ok) {
        sb_addf(&t, "  Gunther    contention %.4f, coherency %.5f, peak ", f->usl.sigma, f->usl.kappa);
        add_number(&t, "%*.2f", f->usl.peak_speedup, 1);
        sb_adds(&t, "x at ");
        add_number(&t, "%*.1f", f->usl.peak_workers, 1);
        sb_adds(&t, " workers, rse ");
        add_number(&t, "%*.4f", f->usl.res.rse, 1);
        sb_adds(&t, "\n");
    }
    sb_adds(&t, "\n");
    verdict(&t, f);
    sb_adds(&t, "\n");
    if (!t.failed)
        write_all(1, t.data, t.len);
    sb_free(&t);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_string(strbuf *out, const char *s)
{
    sb_addc(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_addf(out, "\\%c", c);
        else if (c < 0x20)
            sb_addf(out, "\\u%04x", c);
        else
            sb_addc(out, (char)c);
    }
    sb_addc(out, '"');
}

/* "key": number, with NaN as null and infinities as null too (JSON has
 * neither). */
static void json_number(strbuf *out, const char *key, double v, int last)
{
    sb_addf(out, "\"%s\": ", key);
    if (isfinite(v))
        sb_addf(out, "%.6g", v);
    else
        sb_adds(out, "null");
    sb_adds(out, last ? "" : ", ");
}

static void json_fits(strbuf *out, const fits *f)
{
    static const char *const law_names[] = { [LAW_NONE] = "none", [LAW_AMDAHL] = "amdahl",
                                             [LAW_GUSTAFSON] = "gustafson", [LAW_USL] = "usl" };
    sb_adds(out, "  \"amdahl\": ");
    if (f->amdahl.ok) {
        sb_adds(out, "{");
        json_number(out, "serial_fraction", f->amdahl.serial, 0);
        json_number(out, "stderr", f->amdahl.stderr_serial, 0);
        json_number(out, "ceiling", f->amdahl.ceiling, 0);
        json_number(out, "rse", f->amdahl.res.rse, 1);
        sb_adds(out, "},\n");
    } else {
        sb_adds(out, "null,\n");
    }
    sb_adds(out, "  \"gustafson\": ");
    if (f->gustafson.ok) {
        sb_adds(out, "{");
        json_number(out, "serial_fraction", f->gustafson.serial, 0);
        json_number(out, "stderr", f->gustafson.stderr_serial, 0);
        json_number(out, "rse", f->gustafson.res.rse, 1);
        sb_adds(out, "},\n");
    } else {
        sb_adds(out, "null,\n");
    }
    sb_adds(out, "  \"usl\": ");
    if (f->usl.ok) {
        sb_adds(out, "{");
        json_number(out, "sigma", f->usl.sigma, 0);
        json_number(out, "kappa", f->usl.kappa, 0);
        json_number(out, "peak_workers", f->usl.peak_workers, 0);
        json_number(out, "peak_speedup", f->usl.peak_speedup, 0);
        json_number(out, "rse", f->usl.res.rse, 1);
        sb_adds(out, "},\n");
    } else {
        sb_adds(out, "null,\n");
    }
    sb_addf(out, "  \"best\": \"%s\",\n  \"verdict\": ", law_names[f->best]);
    strbuf v = STRBUF_INIT;
    verdict(&v, f);
    json_string(out, sb_str(&v));
    sb_free(&v);
    sb_adds(out, "\n");
}

static void json_document(strbuf *out, const speedup_options *o, const point *p, int n, long usable_cpus,
                          const fits *f)
{
    sb_adds(out, "{\n  \"command\": [");
    for (int i = 0; i < o->ncommand; i++) {
        sb_adds(out, i ? ", " : "");
        json_string(out, o->command[i]);
    }
    sb_addf(out, "],\n  \"runs\": %d,\n  \"usable_cpus\": %ld,\n  \"points\": [\n", o->runs, usable_cpus);
    for (int i = 0; i < n; i++) {
        sb_addf(out, "    {\"workers\": %ld, ", p[i].workers);
        json_number(out, "median", p[i].median, 0);
        json_number(out, "min", p[i].min, 0);
        json_number(out, "max", p[i].max, 0);
        json_number(out, "speedup", p[i].speedup, 0);
        json_number(out, "speedup_low", p[i].low, 0);
        json_number(out, "speedup_high", p[i].high, 0);
        json_number(out, "efficiency", p[i].efficiency, 0);
        json_number(out, "karp_flatt", p[i].karp_flatt, 0);
        sb_addf(out, "\"above_cpus\": %s}%s\n", p[i].above_cpus ? "true" : "false", i + 1 < n ? "," : "");
    }
    sb_adds(out, "  ],\n");
    json_fits(out, f);
    sb_adds(out, "}\n");
}

/* ---- files -------------------------------------------------------------- */

static int write_file(const char *path, const strbuf *data, const char *what)
{
    FILE *fp = data->failed ? NULL : fopen(path, "we");
    int ok = fp && fwrite(data->data, 1, data->len, fp) == data->len;
    if (fp && fclose(fp))
        ok = 0;
    if (!ok) {
        strbuf m = STRBUF_INIT;
        sb_addf(&m, "mproc speedup: cannot write the %s to %s: %s\n", what, path,
                data->failed ? "out of memory" : strerror(errno));
        write_all(2, m.data, m.len);
        sb_free(&m);
    }
    return ok ? 0 : -1;
}

static int write_outputs(const speedup_options *o, const point *p, int n, long usable_cpus, const fits *f)
{
    int r = 0;
    if (o->json_path) {
        strbuf j = STRBUF_INIT;
        json_document(&j, o, p, n, usable_cpus, f);
        r |= write_file(o->json_path, &j, "JSON");
        sb_free(&j);
    }
    if (o->svg_path) {
        svg_point sp[SPEEDUP_MAX_POINTS];
        for (int i = 0; i < n; i++)
            sp[i] = (svg_point){ (double)p[i].workers, p[i].speedup, p[i].low, p[i].high };
        strbuf title = STRBUF_INIT, svg = STRBUF_INIT;
        for (int i = 0; i < o->ncommand; i++)
            sb_addf(&title, "%s%s", i ? " " : "", o->command[i]);
        svg_speedup_plot(&svg, sb_str(&title), sp, (size_t)n, &f->amdahl);
        r |= write_file(o->svg_path, &svg, "plot");
        sb_free(&title);
        sb_free(&svg);
    }
    return r;
}

/* ---- the command -------------------------------------------------------- */

static int fail(const char *fmt, const char *detail, int status)
{
    strbuf m = STRBUF_INIT;
    sb_addf(&m, fmt, detail);
    write_all(2, m.data, m.len);
    sb_free(&m);
    return status;
}

int speedup_main(int argc, char **argv)
{
    long usable_cpus = mp_cpu_count();
    speedup_options o;
    strbuf err = STRBUF_INIT;
    int status = 0;
    if (speedup_options_parse(&o, argc, argv, usable_cpus, &err) < 0) {
        status = fail("mproc speedup: %s\nTry 'mproc speedup --help' for more information.\n", sb_str(&err), 2);
    } else if (o.show_help) {
        speedup_usage(1);
    } else {
        point p[SPEEDUP_MAX_POINTS];
        for (int i = 0; i < o.nworkers && !status; i++)
            if (measure(&o, o.workers[i], &p[i], &err) < 0)
                status = fail("mproc speedup: %s\n", sb_str(&err), 1);
        if (!status) {
            derive(p, o.nworkers, usable_cpus);
            fits f = fit_all(p, o.nworkers);
            print_table(&o, p, o.nworkers, usable_cpus, &f);
            status = write_outputs(&o, p, o.nworkers, usable_cpus, &f) ? 1 : 0;
        }
    }
    sb_free(&err);
    return status;
}
