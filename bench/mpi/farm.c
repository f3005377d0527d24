/* farm.c - mproc-bench-mpi: the MPI benchmarks' measuring program, run
 * under mpirun by mproc-bench (bench/mpi_farm.c), which reads the one line
 * rank 0 prints: "seconds S".
 *
 *   mproc-bench-mpi hand N       a hand-written master/worker farm: one
 *                                task per message (MPI_Send/MPI_Recv), the
 *                                anchor
 *   mproc-bench-mpi mproc N C    mp_map of N tiny tasks over the other
 *                                ranks, chunksize C (0: automatic)
 *   mproc-bench-mpi submit N     N mp_submit of a tiny task, then every
 *                                result (against mpi4py.futures)
 *   mproc-bench-mpi pi SAMPLES   pi by Monte Carlo on the other ranks
 *                                (400 tasks), as bench "pi"
 *
 * The same binary runs every form, on the same ranks: mproc's through the
 * collective form (mp_pool_open_mpi), so MPI is set up the same way. */
#include "../../examples/pi_task.h"

#include <mproc.h>

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_TASK = 1, TAG_STOP = 2, TAG_RESULT = 3 };

static int64_t tiny(int64_t x)
{
    return x * x + 1;
}

static double hand_farm(long n, int rank, int size)
{
    double t0 = MPI_Wtime();
    if (rank == 0) {
        long next = 0, done = 0;
        int64_t result, x;
        MPI_Status st;
        for (int w = 1; w < size; w++) {
            x = next < n ? next++ : -1;
            MPI_Send(&x, 1, MPI_INT64_T, w, x < 0 ? TAG_STOP : TAG_TASK, MPI_COMM_WORLD);
        }
        while (done < n) {
            MPI_Recv(&result, 1, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &st);
            done++;
            x = next < n ? next++ : -1;
            MPI_Send(&x, 1, MPI_INT64_T, st.MPI_SOURCE, x < 0 ? TAG_STOP : TAG_TASK, MPI_COMM_WORLD);
        }
    } else {
        for (;;) {
            int64_t x, y;
            MPI_Status st;
            MPI_Recv(&x, 1, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            if (st.MPI_TAG == TAG_STOP)
                break;
            y = tiny(x);
            MPI_Send(&y, 1, MPI_INT64_T, 0, TAG_RESULT, MPI_COMM_WORLD);
        }
    }
    return MPI_Wtime() - t0;
}

static int tiny_task(mp_task *task, const void *in, void *out)
{
    (void)task;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x = tiny(x);
    memcpy(out, &x, sizeof x);
    return 0;
}

static uint64_t pi_per_task;

static int pi_task(mp_task *task, const void *in, void *out)
{
    (void)in;
    uint64_t h = pi_hits(mp_task_index(task), pi_per_task);
    memcpy(out, &h, sizeof h);
    return 0;
}

/* Opens the pool on every rank; at rank 0 runs `run`, which times its
 * call into *seconds; elsewhere serves.  Returns the time, or -1 on the
 * serving ranks. */
static double with_pool(int (*run)(mp_pool *pool, void *arg, double *seconds), void *arg)
{
    mp_pool *pool;
    if (mp_pool_open_mpi(&pool, NULL, NULL, 0) != 0) {
        fprintf(stderr, "mproc-bench-mpi: %s\n", mp_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (!pool)
        return -1;
    double t = -1;
    if (run(pool, arg, &t) != 0) {
        fprintf(stderr, "mproc-bench-mpi: %s\n", mp_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    mp_pool_close(pool);
    return t;
}

typedef struct map_args { long n; size_t chunksize; } map_args;

static int run_map(mp_pool *pool, void *arg, double *seconds)
{
    map_args *a = arg;
    int64_t *in = malloc((size_t)a->n * sizeof *in), *out = malloc((size_t)a->n * sizeof *out);
    for (long i = 0; i < a->n; i++)
        in[i] = i, out[i] = 0;   /* touched: page faults are not the map's */
    mp_call call = { .chunksize = a->chunksize };
    int r = 0;
    /* Best of three calls: the first also pays for the ranks' message
     * buffers (page faults), which a program that maps more than once
     * pays once. */
    for (int round = 0; round < 3 && r == 0; round++) {
        double t0 = MPI_Wtime();
        r = mp_map(pool, tiny_task, in, (size_t)a->n, sizeof *in, out, sizeof *out, &call);
        double t = MPI_Wtime() - t0;
        if (*seconds < 0 || t < *seconds)
            *seconds = t;
    }
    for (long i = 0; r == 0 && i < a->n; i++)
        if (out[i] != tiny(i))
            r = mp_set_error(MP_EINVAL, "wrong result at %ld", i);
    free(in);
    free(out);
    return r;
}

/* N futures of one tiny task each, then every result: what
 * concurrent.futures users write (mpi_submit). */
static int run_submit(mp_pool *pool, void *arg, double *seconds)
{
    long n = *(long *)arg;
    mp_future **futures = malloc((size_t)n * sizeof *futures);
    int r = 0;
    for (int round = 0; round < 3 && r == 0; round++) {
        double t0 = MPI_Wtime();
        long made = 0;
        for (; made < n && r == 0; made++) {
            int64_t x = made;
            r = mp_submit(pool, tiny_task, &x, sizeof x, sizeof x, NULL, &futures[made]);
        }
        if (r)
            made--;
        for (long i = 0; i < made; i++) {
            int64_t y = 0;
            int e = mp_future_result(futures[i], MP_FOREVER, &y, sizeof y);
            if (!r && (e || y != tiny(i)))
                r = e ? e : mp_set_error(MP_EINVAL, "future %ld gave %lld", i, (long long)y);
            mp_future_free(futures[i]);
        }
        double t = MPI_Wtime() - t0;
        if (*seconds < 0 || t < *seconds)
            *seconds = t;
    }
    free(futures);
    return r;
}

static int run_pi(mp_pool *pool, void *arg, double *seconds)
{
    (void)arg;
    uint64_t hits[400], total = 0;
    double t0 = MPI_Wtime();
    int r = mp_map(pool, pi_task, NULL, 400, 0, hits, sizeof *hits, NULL);
    *seconds = MPI_Wtime() - t0;
    for (int i = 0; i < 400; i++)
        total += hits[i];
    double est = 4.0 * (double)total / (double)(pi_per_task * 400);
    if (r == 0 && (est < 3.1 || est > 3.2))
        r = mp_set_error(MP_EINVAL, "pi came out as %g", est);
    return r;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3 || size < 2) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -n N (N >= 2) mproc-bench-mpi hand N | mproc N CHUNK | submit N | pi SAMPLES\n");
        MPI_Finalize();
        return 2;
    }
    long n = atol(argv[2]);
    double t;
    MPI_Barrier(MPI_COMM_WORLD);
    if (!strcmp(argv[1], "hand")) {
        t = -1;
        for (int round = 0; round < 3; round++) {   /* best of three, as the mproc forms */
            MPI_Barrier(MPI_COMM_WORLD);
            double one = hand_farm(n, rank, size);
            if (t < 0 || one < t)
                t = one;
        }
    } else if (!strcmp(argv[1], "mproc") && argc > 3) {
        map_args a = { n, (size_t)atol(argv[3]) };
        t = with_pool(run_map, &a);
    } else if (!strcmp(argv[1], "submit")) {
        t = with_pool(run_submit, &n);
    } else if (!strcmp(argv[1], "pi")) {
        pi_per_task = (uint64_t)n / 400;
        t = with_pool(run_pi, NULL);
    } else {
        if (rank == 0)
            fprintf(stderr, "mproc-bench-mpi: unknown form %s\n", argv[1]);
        MPI_Finalize();
        return 2;
    }
    if (rank == 0)
        printf("seconds %.9f\n", t);
    MPI_Finalize();
    return 0;
}
