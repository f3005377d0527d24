/* cli_pipe.c - `mproc run --pipepart` throughput against GNU parallel's.
 *
 * A file of text lines, 1 GiB (64 MiB with --quick), is written once to a
 * temporary directory; then, interleaved, best of a few runs each:
 *   mproc run     mproc run --pipepart --block 10M -a FILE wc -l
 *   GNU parallel  parallel --pipepart --block 10M -a FILE wc -l
 * Each figure is the file's size over the wall time (MB/s).  The counts
 * the jobs print must add up to the file's line count, or the run counts
 * as failed.  Goal: mproc at least 5x GNU parallel's throughput. */
#include "bench.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

/* Writes about size bytes of numbered text lines to path; returns the
 * number of lines, or -1. */
static long long write_text_file(const char *path, long long size)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"};
    long long written = 0, lines = 0;
    char line[128];
    while (written < size) {
        int n = snprintf(line, sizeof line, "%lld %s %s %s the quick brown fox jumps over it\n", lines,
                         words[lines % 8], words[(lines / 8) % 8], words[(lines / 64) % 8]);
        if (fwrite(line, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            return -1;
        }
        written += n;
        lines++;
    }
    return fclose(f) == 0 ? lines : -1;
}

/* Runs `sh -c cmd`, adding up the numbers it prints one per line.
 * Returns the wall time, or -1 when it failed. */
static double time_counting(const char *cmd, long long *sum)
{
    fflush(NULL);
    *sum = 0;
    double t0 = bench_now();
    FILE *p = popen(cmd, "re");
    if (!p)
        return -1;
    char line[64];
    while (fgets(line, sizeof line, p))
        *sum += atoll(line);
    int st = pclose(p);
    double t = bench_now() - t0;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return t;
}

/* One timed run; a wrong count fails it (and says so). */
static double timed_run(const char *who, const char *cmd, long long lines)
{
    long long sum;
    double t = time_counting(cmd, &sum);
    if (t > 0 && sum != lines) {
        fprintf(stderr, "cli_pipe: %s counted %lld lines of %lld\n", who, sum, lines);
        return -1;
    }
    return t;
}

static void keep_best(double *best, double t)
{
    if (t > 0 && (*best < 0 || t < *best))
        *best = t;
}

static void report(const bench_ctx *ctx, const char *backend, double mbps, double anchor_mbps, const char *goal,
                   long long size)
{
    char note[96];
    snprintf(note, sizeof note, "%.0f MiB file, --block 10M, wc -l; %.2fx GNU parallel", (double)size / MIB,
             anchor_mbps > 0 ? mbps / anchor_mbps : 0);
    bench_row row = {
        .bench = "cli_pipe", .backend = backend, .workers = (int)sysconf(_SC_NPROCESSORS_ONLN), .chunksize = 0,
        .value = mbps, .unit = "MB/s", .anchor = "GNU parallel --pipepart",
        .anchor_value = anchor_mbps, .lower_is_better = 0, .goal = goal, .note = note,
    };
    bench_report(ctx, &row);
}

static void cli_pipe(const bench_ctx *ctx)
{
    long long size = ctx->quick ? 64LL << 20 : 1LL << 30;
    int reps = ctx->quick ? 1 : 3;
    char mproc[PATH_MAX];
    if (bench_find_mproc(mproc, sizeof mproc) < 0) {
        fprintf(stderr, "cli_pipe: %s not built\n", mproc);
        return;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], file[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/mproc-bench-pipe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("cli_pipe: mkdtemp");
        return;
    }
    snprintf(file, sizeof file, "%s/lines.txt", dir);
    long long lines = write_text_file(file, size);
    if (lines < 0) {
        perror("cli_pipe: writing the input file");
    } else {
        char mproc_cmd[3 * PATH_MAX], par_cmd[2 * PATH_MAX];
        snprintf(mproc_cmd, sizeof mproc_cmd, "'%s' run --pipepart --block 10M -a '%s' wc -l", mproc, file);
        snprintf(par_cmd, sizeof par_cmd, "parallel --will-cite --pipepart --block 10M -a '%s' wc -l", file);
        int have_parallel = bench_have_command("parallel");
        double mproc_s = -1, par_s = -1;
        for (int r = 0; r < reps; r++) {
            keep_best(&mproc_s, timed_run("mproc run", mproc_cmd, lines));
            if (have_parallel)
                keep_best(&par_s, timed_run("GNU parallel", par_cmd, lines));
        }
        double mb = (double)size / 1e6;
        double mproc_mbps = mproc_s > 0 ? mb / mproc_s : 0, par_mbps = par_s > 0 ? mb / par_s : 0;
        report(ctx, "mproc-run", mproc_mbps, par_mbps, "ratio >= 5 (5x GNU parallel)", size);
        if (have_parallel)
            report(ctx, "parallel", par_mbps, par_mbps, NULL, size);
    }
    unlink(file);
    rmdir(dir);
}

BENCH_REGISTER("cli_pipe", cli_pipe)
