/* mpi_farm.c - the MPI backend against a hand-written MPI farm, and pi on
 * the other ranks against serial C and OpenMP.  Each figure comes from
 * mproc-bench-mpi (bench/mpi/farm.c) run under mpirun, which times only its
 * loop (not MPI's start-up); the anchor runs in the same round, on the same
 * ranks, from the same binary.  Skipped when the MPI backend is not built. */
#include "bench.h"

#include "../examples/pi_task.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MPROC_BENCH_MPI

static int find_farm(char *out, size_t size)
{
    return bench_find_beside("mproc-bench-mpi", out, size);
}

/* Runs a command whose output's line "seconds S" gives its own timing;
 * other lines go to stderr.  S, or -1 if the command failed. */
static double run_timed(const char *cmd, const char *who)
{
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    double s = -1;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "seconds %lf", &s) != 1)
            fprintf(stderr, "%s: %s", who, line);
    return pclose(p) == 0 ? s : -1;
}

/* Runs the farm program under mpirun; the seconds its rank 0 measured, or
 * -1. */
static double run_farm(const char *farm, int ranks, const char *net, const char *form)
{
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof cmd,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n %d --oversubscribe --bind-to none "
             "--mca btl %s,self %s '%s' %s 2>&1",
             ranks, net, strcmp(net, "tcp") ? "" : "--mca btl_tcp_if_include lo", farm, form);
    return run_timed(cmd, "mpi_farm");
}

static void keep_best(double *best, double t)
{
    if (t > 0 && (*best < 0 || t < *best))
        *best = t;
}

static void mpi_farm(const bench_ctx *ctx)
{
    char farm[PATH_MAX];
    if (find_farm(farm, sizeof farm) != 0 || !bench_have_command("mpirun")) {
        fprintf(stderr, "mpi_farm: mproc-bench-mpi or mpirun missing: skipped\n");
        return;
    }
    /* Each run is already the best of three calls (mproc-bench-mpi); one
     * message per task over TCP is slow, so that farm gets fewer tasks:
     * rates are compared, not times. */
    const char *nets[] = { "vader", "tcp" };
    for (int k = 0; k < 2; k++) {
        long n = ctx->quick ? 20000 : 200000, hand_n = k ? n / 20 : n, big = n * 50;
        char hand[64], one[64], autochunk[64];
        snprintf(hand, sizeof hand, "hand %ld", hand_n);
        snprintf(one, sizeof one, "mproc %ld 1", n);
        snprintf(autochunk, sizeof autochunk, "mproc %ld 0", big);
        double h = run_farm(farm, 2, nets[k], hand);
        double m1 = run_farm(farm, 2, nets[k], one);
        double ma = run_farm(farm, 2, nets[k], autochunk);
        if (h <= 0)
            continue;
        const char *note = k ? "2 ranks over TCP (btl tcp,self)" : "2 ranks over shared memory";
        if (m1 > 0)
            bench_report(ctx, &(bench_row){ .bench = "mpi_farm", .backend = "mpi", .workers = 1, .chunksize = 1,
                                            .value = (double)n / m1, .unit = "tasks/s",
                                            .anchor = "hand-written farm", .anchor_value = (double)hand_n / h,
                                            .goal = "ratio >= 1.0", .note = note });
        if (ma > 0)
            bench_report(ctx, &(bench_row){ .bench = "mpi_farm", .backend = "mpi", .workers = 1, .chunksize = 0,
                                            .value = (double)big / ma, .unit = "tasks/s",
                                            .anchor = "hand-written farm", .anchor_value = (double)hand_n / h,
                                            .goal = "ratio >= 100", .note = note });
    }
}

/* mpi4py.futures under mpirun -n 3 (bench/mpi_anchor.py); -1 if it cannot
 * run (no Debian python3-mpi4py). */
static double run_mpi4py(const char *form, long n)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof cmd,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n 3 --oversubscribe --bind-to none "
             "--mca btl vader,self /usr/bin/python3 -m mpi4py.futures '%s/mpi_anchor.py' %s %ld 2>&1",
             MPROC_BENCH_DIR, form, n);
    return run_timed(cmd, "mpi_submit");
}

static void mpi_submit(const bench_ctx *ctx)
{
    char farm[PATH_MAX], form[64];
    if (find_farm(farm, sizeof farm) != 0 || !bench_have_command("mpirun")) {
        fprintf(stderr, "mpi_submit: mproc-bench-mpi or mpirun missing: skipped\n");
        return;
    }
    long n = ctx->quick ? 20000 : 100000, py_n = ctx->quick ? 1000 : 3000;
    snprintf(form, sizeof form, "submit %ld", n);
    double m = run_farm(farm, 3, "vader", form);
    double py = run_mpi4py("submit", py_n), py_map = run_mpi4py("map", py_n);
    /* The hand-written farm on the same three ranks: what one task per
     * message gives when three processes share the machine's cores. */
    char hand_form[64];
    snprintf(hand_form, sizeof hand_form, "hand %ld", n);
    double hand = run_farm(farm, 3, "vader", hand_form);
    if (m <= 0)
        return;
    if (py > 0)
        bench_report(ctx, &(bench_row){ .bench = "mpi_submit", .backend = "mpi", .workers = 2, .chunksize = 1,
                                        .value = (double)n / m, .unit = "tasks/s",
                                        .anchor = "mpi4py.futures submit", .anchor_value = (double)py_n / py,
                                        .goal = "ratio >= 200", .note = "mpirun -n 3: two serving ranks" });
    if (py_map > 0)
        bench_report(ctx, &(bench_row){ .bench = "mpi_submit", .backend = "mpi", .workers = 2, .chunksize = 1,
                                        .value = (double)n / m, .unit = "tasks/s",
                                        .anchor = "mpi4py.futures map, chunksize=1",
                                        .anchor_value = (double)py_n / py_map, .goal = "ratio >= 200",
                                        .note = "mpirun -n 3: two serving ranks" });
    if (hand > 0)
        bench_report(ctx, &(bench_row){ .bench = "mpi_submit", .backend = "mpi", .workers = 2, .chunksize = 1,
                                        .value = (double)n / m, .unit = "tasks/s",
                                        .anchor = "hand-written farm, same 3 ranks", .anchor_value = (double)n / hand,
                                        .note = "one task per MPI_Send/MPI_Recv: no goal, the machine's scale" });
}

static void mpi_pi(const bench_ctx *ctx)
{
    char farm[PATH_MAX], form[64];
    if (find_farm(farm, sizeof farm) != 0 || !bench_have_command("mpirun")) {
        fprintf(stderr, "mpi_pi: mproc-bench-mpi or mpirun missing: skipped\n");
        return;
    }
    uint64_t samples = ctx->quick ? 40000000 : 400000000, per = samples / 400;
    int reps = ctx->quick ? 1 : 3;
    snprintf(form, sizeof form, "pi %llu", (unsigned long long)samples);
    double serial = -1, m = -1, omp = -1;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        for (uint64_t i = 0; i < 400; i++)
            sink += pi_hits(i, per);
        keep_best(&serial, bench_now() - t0);
        keep_best(&m, run_farm(farm, 3, "vader", form));
#ifdef MPROC_BENCH_OPENMP
        uint64_t hits[400];
        t0 = bench_now();
        #pragma omp parallel for schedule(dynamic, 1) num_threads(2)
        for (int i = 0; i < 400; i++)
            hits[i] = pi_hits((uint64_t)i, per);
        keep_best(&omp, bench_now() - t0);
        sink += hits[0];
#endif
    }
    (void)sink;              /* read once: the serial loop's results are used */
    if (m <= 0)
        return;
    bench_report(ctx, &(bench_row){ .bench = "mpi_pi", .backend = "mpi", .workers = 2, .chunksize = 0,
                                    .value = m, .unit = "s", .anchor = "serial C", .anchor_value = serial,
                                    .lower_is_better = 1, .goal = "ratio >= 1.9",
                                    .note = "mpirun -n 3: two serving ranks" });
    if (omp > 0)
        bench_report(ctx, &(bench_row){ .bench = "mpi_pi", .backend = "mpi", .workers = 2, .chunksize = 0,
                                        .value = m, .unit = "s", .anchor = "openmp dynamic,1 (2 threads)",
                                        .anchor_value = omp, .lower_is_better = 1, .goal = "ratio >= 0.95",
                                        .note = "mpirun -n 3: two serving ranks" });
}

BENCH_REGISTER("mpi_farm", mpi_farm)
BENCH_REGISTER("mpi_submit", mpi_submit)
BENCH_REGISTER("mpi_pi", mpi_pi)

#endif
