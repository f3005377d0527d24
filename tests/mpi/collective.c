/* collective.c - the collective form (mp_pool_open_mpi) in an SPMD program
 * that initialises MPI itself: every rank opens the pool; the root maps on
 * the others and closes it; then every rank goes on, meets the others at a
 * barrier and finalises.  Exit status 0 on every rank when all went well. */
#include <mproc.h>

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int cube(mp_task *task, const void *in, void *out)
{
    (void)task;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x = x * x * x;
    memcpy(out, &x, sizeof x);
    return 0;
}

#define CHECK(cond, ...) \
    do { if (!(cond)) { fprintf(stderr, "collective: rank %d: ", rank); fprintf(stderr, __VA_ARGS__); \
                        fprintf(stderr, "\n"); MPI_Abort(MPI_COMM_WORLD, 1); } } while (0)

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int root = size - 1;   /* any rank may be the root */

    mp_pool *pool = (mp_pool *)&pool;
    CHECK(mp_pool_open_mpi(&pool, NULL, NULL, size) == MP_EINVAL, "a root out of range was accepted");
    for (int round = 0; round < 2; round++) {
        MPI_Comm comm = MPI_COMM_WORLD;
        int r = mp_pool_open_mpi(&pool, NULL, &comm, root);
        CHECK(r == 0, "mp_pool_open_mpi: %s", mp_last_error());
        if (rank != root) {
            CHECK(pool == NULL, "a serving rank got a pool");
            continue;
        }
        CHECK(mp_pool_workers(pool) == size - 1, "%d workers", mp_pool_workers(pool));
        enum { N = 1000 };
        int64_t in[N], out[N];
        for (int i = 0; i < N; i++)
            in[i] = i;
        CHECK(mp_map(pool, cube, in, N, sizeof *in, out, sizeof *out, NULL) == 0, "mp_map: %s", mp_last_error());
        for (int i = 0; i < N; i++)
            CHECK(out[i] == (int64_t)i * i * i, "out[%d] = %lld", i, (long long)out[i]);
        CHECK(mp_pool_close(pool) == 0, "mp_pool_close: %s", mp_last_error());
    }
    /* Every rank is back in the program, and its communicator is its own. */
    int one = 1, sum = 0;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum == size, "allreduce gave %d", sum);
    MPI_Finalize();
    if (rank == root)
        printf("collective: %d ranks, root %d: ok\n", size, root);
    return 0;
}
