/* cli_spawn.c - `mproc run` against the cost of starting processes.
 *
 * 1000 runs of `true` (200 with --quick), 2 at a time, grouped output:
 *   floor         a minimal posix_spawn + waitpid loop in this process
 *   mproc run     seq N | mproc run -j2 true
 *   xargs         seq N | xargs -P2 -n1 true
 *   GNU parallel  seq N | parallel -j2 true
 * Each command gets one argument per run, as the floor does.  Goal: mproc
 * run within 1.15x of the floor's time. */
#include "bench.h"

#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int find_true(char *out, size_t size)
{
    const char *dirs[] = {"/usr/bin/true", "/bin/true"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (access(dirs[i], X_OK) == 0) {
            snprintf(out, size, "%s", dirs[i]);
            return 0;
        }
    return -1;
}

/* The floor: n runs of true, never more than two at once. */
static double spawn_loop(const char *truepath, int n)
{
    double t0 = bench_now();
    int running = 0;
    for (int i = 0; i < n; i++) {
        char arg[16];
        snprintf(arg, sizeof arg, "%d", i + 1);
        char *argv[] = {(char *)"true", arg, NULL};
        if (running == 2) {
            if (wait(NULL) < 0)
                return -1;
            running--;
        }
        pid_t pid;
        if (posix_spawn(&pid, truepath, NULL, NULL, argv, environ) != 0)
            return -1;
        running++;
    }
    while (running > 0) {
        if (wait(NULL) < 0)
            return -1;
        running--;
    }
    return bench_now() - t0;
}

static void report(const bench_ctx *ctx, const char *backend, double value, double floor_s,
                   const char *goal, int n)
{
    char note[96];
    snprintf(note, sizeof note, "%d runs of true; %.2fx the floor's time", n,
             floor_s > 0 ? value / floor_s : 0);
    bench_row row = {
        .bench = "cli_spawn", .backend = backend, .workers = 2, .chunksize = 1,
        .value = value, .unit = "s", .anchor = "posix_spawn loop (floor)",
        .anchor_value = floor_s, .lower_is_better = 1, .goal = goal, .note = note,
    };
    bench_report(ctx, &row);
}

static void keep_best(double *best, double t)
{
    if (t > 0 && (*best < 0 || t < *best))
        *best = t;
}

static void cli_spawn(const bench_ctx *ctx)
{
    int n = ctx->quick ? 200 : 1000;
    int reps = ctx->quick ? 2 : 5;
    char mproc[PATH_MAX], truepath[64], mproc_cmd[PATH_MAX + 128], xargs_cmd[128], par_cmd[128];
    if (find_true(truepath, sizeof truepath) < 0) {
        fprintf(stderr, "cli_spawn: no true program found\n");
        return;
    }
    int have_mproc = bench_find_mproc(mproc, sizeof mproc) == 0;
    if (!have_mproc)
        fprintf(stderr, "cli_spawn: %s not built\n", mproc);
    snprintf(mproc_cmd, sizeof mproc_cmd, "seq %d | '%s' run -j2 true", n, mproc);
    snprintf(xargs_cmd, sizeof xargs_cmd, "seq %d | xargs -P2 -n1 true", n);
    snprintf(par_cmd, sizeof par_cmd, "seq %d | parallel --will-cite -j2 true", n);
    /* Interleaved repetitions, best of each: on a shared machine the load
     * changes from second to second, and the best run is the least
     * disturbed one. */
    double floor_s = -1, mproc_s = -1, xargs_s = -1, par_s = -1;
    for (int r = 0; r < reps; r++) {
        keep_best(&floor_s, spawn_loop(truepath, n));
        if (have_mproc)
            keep_best(&mproc_s, bench_time_command(mproc_cmd));
        keep_best(&xargs_s, bench_time_command(xargs_cmd));
    }
    if (have_mproc)
        report(ctx, "mproc-run", mproc_s, floor_s, "ratio >= 0.87 (<= 1.15x floor)", n);
    report(ctx, "xargs", xargs_s, floor_s, NULL, n);
    if (bench_have_command("parallel")) {
        keep_best(&par_s, bench_time_command(par_cmd));
        report(ctx, "parallel", par_s, floor_s, NULL, n);
    }
}

BENCH_REGISTER("cli_spawn", cli_spawn)
