/* main.c - mproc-bench: runs the registered benchmarks and prints a table
 * (or JSON lines with --json).  See bench.h. */
#include "bench.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_BENCHES 64

static struct { const char *name; bench_fn fn; } benches[MAX_BENCHES];
static int nbenches;

void bench_register(const char *name, bench_fn fn)
{
    if (nbenches < MAX_BENCHES) {
        benches[nbenches].name = name;
        benches[nbenches].fn = fn;
        nbenches++;
    }
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_peak_rss_mib(void)
{
    /* VmHWM can be reset (bench_reset_peak_rss); getrusage's cannot. */
    FILE *f = fopen("/proc/self/status", "re");
    if (f) {
        char line[256];
        double kib = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %lf kB", &kib) == 1)
                break;
        fclose(f);
        if (kib >= 0)
            return kib / 1024.0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int bench_reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "we");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int bench_find_beside(const char *relative, char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(out, size, "%s/%s", self, relative) >= size)
        return -1;
    return access(out, X_OK);
}

int bench_find_mproc(char *out, size_t size)
{
    return bench_find_beside("../cli/mproc", out, size);
}

int bench_have_command(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

double bench_time_command(const char *cmd)
{
    fflush(NULL);
    double t0 = bench_now();
    int st = system(cmd);
    double t = bench_now() - t0;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return t;
}

double bench_python_anchor(const char *script, const char *name, long n)
{
#ifdef MPROC_BENCH_DIR
    if (!bench_have_command("python3"))
        return 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 '%s/%s' %s %ld 2>/dev/null", MPROC_BENCH_DIR, script, name, n);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    double v = 0;
    if (fscanf(p, "%lf", &v) != 1)
        v = 0;
    pclose(p);
    return v;
#else
    (void)script;
    (void)name;
    (void)n;
    return 0;
#endif
}

static void json_string(const char *key, const char *s)
{
    printf(",\"%s\":", key);
    if (!s) { printf("null"); return; }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

void bench_report(const bench_ctx *ctx, const bench_row *r)
{
    double ratio = 0;
    if (r->anchor && r->anchor_value > 0 && r->value > 0)
        ratio = r->lower_is_better ? r->anchor_value / r->value : r->value / r->anchor_value;
    if (ctx->json) {
        printf("{\"bench\":\"%s\"", r->bench);
        json_string("backend", r->backend);
        printf(",\"workers\":%d,\"chunksize\":%zu,\"value\":%.6g", r->workers, r->chunksize, r->value);
        json_string("unit", r->unit);
        json_string("anchor", r->anchor);
        printf(",\"anchor_value\":%.6g,\"ratio\":%.4g", r->anchor_value, ratio);
        json_string("goal", r->goal);
        json_string("note", r->note);
        printf("}\n");
    } else {
        char chunk[32];
        if (r->chunksize) snprintf(chunk, sizeof chunk, "%zu", r->chunksize);
        else snprintf(chunk, sizeof chunk, "auto");
        printf("%-15s %-8s %2d %6s %14.6g %-8s %-26s %12.6g %7.3f  %s%s%s\n",
               r->bench, r->backend ? r->backend : "-", r->workers, chunk, r->value, r->unit,
               r->anchor ? r->anchor : "-", r->anchor_value, ratio,
               r->goal ? r->goal : "", r->note ? "  " : "", r->note ? r->note : "");
    }
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mproc-bench [--quick] [--json] [--no-header] [--list] [NAME...]\n");
}

int main(int argc, char **argv)
{
    bench_ctx ctx = {0};
    const char *only[MAX_BENCHES];
    int nonly = 0, header = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) ctx.quick = 1;
        else if (!strcmp(argv[i], "--json")) ctx.json = 1;
        else if (!strcmp(argv[i], "--no-header")) header = 0;   /* rows for another run's table */
        else if (!strcmp(argv[i], "--list")) {
            for (int b = 0; b < nbenches; b++) puts(benches[b].name);
            return 0;
        } else if (!strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (argv[i][0] == '-') { usage(stderr); return 2; }
        else if (nonly < MAX_BENCHES) only[nonly++] = argv[i];
    }
    if (!ctx.json && header)
        printf("%-15s %-8s %2s %6s %14s %-8s %-26s %12s %7s  %s\n", "bench", "backend", "w",
               "chunk", "value", "unit", "anchor", "anchor_value", "ratio", "goal");
    for (int b = 0; b < nbenches; b++) {
        int run = nonly == 0;
        for (int k = 0; k < nonly; k++)
            if (!strcmp(only[k], benches[b].name)) run = 1;
        if (run) benches[b].fn(&ctx);
    }
    return 0;
}
