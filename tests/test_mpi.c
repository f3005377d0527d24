/* labels: mpi */
/* test_mpi.c - the MPI backend.
 *
 * Run by itself (ctest's test_mpi), it checks what a program gets outside
 * mpirun: MP_BACKEND_MPI and MPROC_BACKEND=mpi answer MP_ENOTSUP with a
 * message that says what to do.  Under `mpirun -n N env MPROC_BACKEND=mpi`
 * (the mpi_* tests, tests/mpi/run.sh) rank 0 runs every pool API on the
 * other ranks and checks the results against the thread backend's; the
 * other ranks serve from before main and never get here.  With --kill a
 * serving rank dies inside a task: the MPI job must end, not hang.  With
 * MPROC_TEST_HOSTS="hostA,hostB" (tests/mpi/two_hosts.sh) tasks must run
 * on each of the hosts listed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL;
}

static int world_size(void)
{
    return atoi(getenv("OMPI_COMM_WORLD_SIZE"));
}

/* The pool's workers: each serving rank runs MPROC_RANK_WORKERS ranges at
 * once (default 1). */
static int expected_workers(void)
{
    const char *per_rank = getenv("MPROC_RANK_WORKERS");
    return (world_size() - 1) * (per_rank ? atoi(per_rank) : 1);
}

static mp_pool *open_mpi(void)
{
    return open_pool(MP_BACKEND_MPI, 0);
}

/* ---- task functions (found on the other ranks by offset) ---------------- */

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x *= x;
    memcpy(out, &x, sizeof x);
    return 0;
}

/* Where a task ran: its process and the worker number it was given. */
typedef struct where { int64_t pid; int64_t worker; int64_t index; } where;

static int whereabouts(mp_task *task, const void *in, void *out)
{
    (void)in;
    where w = { getpid(), mp_task_worker(task), (int64_t)mp_task_index(task) };
    memcpy(out, &w, sizeof w);
    return 0;
}

static int add3(mp_task *task, const void *const *args, void *out)
{
    (void)task;
    int32_t a, b;
    double c;
    memcpy(&a, args[0], sizeof a);
    memcpy(&b, args[1], sizeof b);
    memcpy(&c, args[2], sizeof c);
    double r = a + b + c;
    memcpy(out, &r, sizeof r);
    return 0;
}

static int length_of(mp_task *task, const void *in, void *out)
{
    (void)task;
    int64_t n = in ? (int64_t)strlen(in) : -1;
    memcpy(out, &n, sizeof n);
    return 0;
}

/* Fails every task whose index is a multiple of 3, with a message. */
static int picky(mp_task *task, const void *in, void *out)
{
    (void)in;
    size_t i = mp_task_index(task);
    if (i % 3 == 0)
        return mp_task_fail(task, MP_EINVAL, "task %zu refuses", i);
    int64_t v = (int64_t)i;
    memcpy(out, &v, sizeof v);
    return 0;
}

/* Reads the call's context: a multiplier and a text. */
typedef struct scale_ctx { int64_t factor; char note[16]; } scale_ctx;

static int scaled(mp_task *task, const void *in, void *out)
{
    const scale_ctx *c = mp_task_context(task);
    if (!c || mp_task_context_size(task) != sizeof *c || strcmp(c->note, "context"))
        return mp_task_fail(task, MP_EINVAL, "no context");
    int64_t x;
    memcpy(&x, in, sizeof x);
    x *= c->factor;
    memcpy(out, &x, sizeof x);
    return 0;
}

/* Writes i copies of 'a' + i % 26 as its variable-size result. */
static int letters(mp_task *task, const void *in, void *out)
{
    (void)in, (void)out;
    size_t i = mp_task_index(task);
    char buf[64];
    memset(buf, 'a' + (int)(i % 26), sizeof buf);
    return mp_task_write(task, buf, i % 64);
}

static int draws(mp_task *task, const void *in, void *out)
{
    (void)in;
    uint64_t v = mp_rng_u64(mp_task_rng(task));
    memcpy(out, &v, sizeof v);
    return 0;
}

static const int64_t *kept_by_initializer;

/* Keeps the pointer to its context, which the pool keeps alive (as on
 * the other backends). */
static int initializer(const void *ctx)
{
    kept_by_initializer = ctx;
    return 0;
}

static int failing_initializer(const void *ctx)
{
    (void)ctx;
    mp_set_error(MP_EINVAL, "no licence on this rank");
    return MP_EINVAL;
}

static int initialized_value(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in;
    memcpy(out, kept_by_initializer, sizeof *kept_by_initializer);
    return 0;
}

static int sleeper(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in, (void)out;
    usleep(300 * 1000);
    return 0;
}

static int die(mp_task *task, const void *in, void *out)
{
    (void)in, (void)out;
    if (mp_task_index(task) == 5)
        raise(SIGKILL);
    return 0;
}

/* ---- outside mpirun ---------------------------------------------------------- */

static void test_outside_mpirun(void **state)
{
    (void)state;
    mp_pool *pool = (mp_pool *)0x1;
    mp_pool_options opts = { .backend = MP_BACKEND_MPI };
    assert_int_equal(mp_pool_open(&pool, &opts), MP_ENOTSUP);
    assert_ptr_equal(pool, (mp_pool *)0x1);   /* nothing changed */
    const char *m = mp_last_error();
    assert_true(strstr(m, "mpirun") || strstr(m, "left out"));
    setenv("MPROC_BACKEND", "mpi", 1);
    assert_int_equal(mp_pool_open(&pool, NULL), MP_ENOTSUP);
    unsetenv("MPROC_BACKEND");
    assert_string_equal(mp_backend_name(MP_BACKEND_MPI), "mpi");
    assert_int_equal(mp_pool_open_mpi(NULL, NULL, NULL, 0), strstr(m, "left out") ? MP_ENOTSUP : MP_EINVAL);
}

/* ---- under mpirun -------------------------------------------------------------- */

static void test_map_runs_on_other_ranks(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    assert_int_equal(mp_pool_backend(pool), MP_BACKEND_MPI);
    assert_int_equal(mp_pool_workers(pool), expected_workers());
    enum { N = 10000 };
    int64_t *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++)
        in[i] = i - 5000;
    size_t chunks[] = { 0, 1, 7, 5000 };
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        memset(out, 0xff, N * sizeof *out);
        mp_call call = { .chunksize = chunks[c] };
        assert_int_equal(mp_map(pool, square, in, N, sizeof *in, out, sizeof *out, &call), 0);
        for (int i = 0; i < N; i++)
            assert_int_equal(out[i], in[i] * in[i]);
    }
    /* Large ranges travel from and into the arrays where they are. */
    enum { BIG = 300000 };
    int64_t *bin = malloc(BIG * sizeof *bin), *bout = malloc(BIG * sizeof *bout);
    for (int i = 0; i < BIG; i++)
        bin[i] = i;
    size_t big_chunks[] = { 0, 40000 };
    for (size_t c = 0; c < 2; c++) {
        memset(bout, 0, BIG * sizeof *bout);
        mp_call call = { .chunksize = big_chunks[c] };
        assert_int_equal(mp_map(pool, square, bin, BIG, sizeof *bin, bout, sizeof *bout, &call), 0);
        for (int i = 0; i < BIG; i++)
            assert_int_equal(bout[i], (int64_t)i * i);
    }
    free(bin);
    free(bout);
    where w[64];
    mp_call one = { .chunksize = 1 };
    assert_int_equal(mp_map(pool, whereabouts, NULL, 64, 0, w, sizeof *w, &one), 0);
    for (int i = 0; i < 64; i++) {
        assert_int_not_equal(w[i].pid, getpid());   /* never on rank 0 */
        assert_in_range(w[i].worker, 0, expected_workers() - 1);
        assert_int_equal(w[i].index, i);
    }
    assert_int_equal(mp_map(pool, square, NULL, 0, 0, NULL, 0, NULL), 0);   /* empty */
    free(in);
    free(out);
    assert_int_equal(mp_pool_close(pool), 0);
}

static void test_starmap_strings_apply(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 500 };
    int32_t a[N], b[N];
    double c[N], out[N];
    for (int i = 0; i < N; i++)
        a[i] = i, b[i] = 2 * i, c[i] = 0.5;
    mp_array args[3] = { { a, N, sizeof *a }, { b, N, sizeof *b }, { c, N, sizeof *c } };
    assert_int_equal(mp_starmap(pool, add3, args, 3, out, sizeof *out, NULL), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == 3 * i + 0.5);
    enum { BIG = 100000 };
    int32_t *ba = malloc(BIG * sizeof *ba), *bb = malloc(BIG * sizeof *bb);
    double *bc = malloc(BIG * sizeof *bc), *bo = malloc(BIG * sizeof *bo);
    for (int i = 0; i < BIG; i++)
        ba[i] = i, bb[i] = -i, bc[i] = 0.25;
    mp_array big[3] = { { ba, BIG, sizeof *ba }, { bb, BIG, sizeof *bb }, { bc, BIG, sizeof *bc } };
    assert_int_equal(mp_starmap(pool, add3, big, 3, bo, sizeof *bo, NULL), 0);
    for (int i = 0; i < BIG; i++)
        assert_true(bo[i] == 0.25);
    free(ba), free(bb), free(bc), free(bo);

    const char *words[] = { "alpha", "", NULL, "a longer string of words", "z" };
    int64_t lens[5];
    assert_int_equal(mp_map_strings(pool, length_of, words, 5, lens, sizeof *lens, NULL), 0);
    assert_int_equal(lens[0], 5);
    assert_int_equal(lens[1], 0);
    assert_int_equal(lens[2], -1);   /* NULL stays NULL */
    assert_int_equal(lens[3], 24);
    assert_int_equal(lens[4], 1);

    int64_t x = 12, y = 0;
    assert_int_equal(mp_apply(pool, square, &x, sizeof x, &y, sizeof y, NULL), 0);
    assert_int_equal(y, 144);
    assert_int_equal(mp_pool_close(pool), 0);
}

/* Answers whether each of its two inputs and its output are as aligned as
 * the same arrays would be in memory: an element of 3 bytes sits anywhere,
 * but each argument's array starts at a multiple of 16 when its range
 * starts, and an 8-byte element on a multiple of 8. */
static int alignment_of(mp_task *task, const void *const *in, void *out)
{
    (void)task;
    int32_t ok = (uintptr_t)in[1] % 8 == 0 && (uintptr_t)out % 8 == 0;
    memcpy(out, &ok, sizeof ok);
    return 0;
}

/* Tasks on a serving rank get their inputs and outputs aligned as in the
 * caller's arrays, so a task may read an int64_t or write a double in
 * place: for odd element sizes, in ranges batched into one message (small
 * chunks) and in ranges sent from where they are (large ones), and with a
 * context of an odd size before them. */
static void test_inputs_outputs_aligned(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 20001 };
    char (*odd)[3] = calloc(N, sizeof *odd);
    int64_t *wide = calloc(N, sizeof *wide);
    int64_t *out = calloc(N, sizeof *out);
    assert_non_null(odd);
    assert_non_null(wide);
    assert_non_null(out);
    mp_array args[2] = { { odd, N, sizeof *odd }, { wide, N, sizeof *wide } };
    static const char context[13] = "thirteen byt";
    size_t chunks[3] = { 1, 7, 0 };
    for (int c = 0; c < 3; c++) {
        memset(out, 0, N * sizeof *out);
        mp_call call = { .chunksize = chunks[c], .context = context, .context_size = sizeof context };
        assert_int_equal(mp_starmap(pool, alignment_of, args, 2, out, sizeof *out, &call), 0);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(out[i], 1);
    }
    free(odd), free(wide), free(out);
    assert_int_equal(mp_pool_close(pool), 0);
}

static void test_failures_context_results(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 100 };
    int64_t out[N];
    mp_failures failures = { 0, NULL };
    mp_call call = { .failures = &failures, .chunksize = 3 };
    assert_int_equal(mp_map(pool, picky, NULL, N, 0, out, sizeof *out, &call), MP_ETASK);
    assert_int_equal(failures.count, (N + 2) / 3);
    for (size_t f = 0; f < failures.count; f++) {
        char want[64];
        assert_int_equal(failures.items[f].index % 3, 0);
        assert_int_equal(failures.items[f].code, MP_EINVAL);
        snprintf(want, sizeof want, "task %zu refuses", failures.items[f].index);
        assert_string_equal(failures.items[f].message, want);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], i % 3 ? i : 0);
    mp_failures_free(&failures);

    scale_ctx ctx = { 7, "context" };
    int64_t in[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp_call with_ctx = { .context = &ctx, .context_size = sizeof ctx };
    assert_int_equal(mp_map(pool, scaled, in, N, sizeof *in, out, sizeof *out, &with_ctx), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], 7 * i);

    mp_bytes results[N];
    mp_call collect = { .results = results, .chunksize = 5 };
    assert_int_equal(mp_map(pool, letters, NULL, N, 0, NULL, 0, &collect), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(results[i].size, (size_t)(i % 64));
        for (size_t k = 0; k < results[i].size; k++)
            assert_int_equal(((char *)results[i].data)[k], 'a' + i % 26);
        mp_bytes_free(&results[i]);
    }
    assert_int_equal(mp_pool_close(pool), 0);
}

/* The same seed gives the same numbers on every backend. */
static void test_random_streams_match_threads(void **state)
{
    (void)state;
    enum { N = 300 };
    uint64_t here[N], there[N];
    mp_call call = { .seed = 42 };
    mp_pool *threads = open_pool(MP_BACKEND_THREAD, 2), *ranks = open_mpi();
    assert_int_equal(mp_map(threads, draws, NULL, N, 0, here, sizeof *here, &call), 0);
    assert_int_equal(mp_map(ranks, draws, NULL, N, 0, there, sizeof *there, &call), 0);
    assert_memory_equal(here, there, sizeof here);
    assert_int_equal(mp_pool_close(threads), 0);
    assert_int_equal(mp_pool_close(ranks), 0);
}

static void test_initializer(void **state)
{
    (void)state;
    int64_t value = 4242, got[8] = { 0 };
    mp_pool_options opts = { .backend = MP_BACKEND_MPI, .initializer = initializer,
                             .initializer_context = &value, .initializer_context_size = sizeof value };
    mp_pool *pool;
    assert_int_equal(mp_pool_open(&pool, &opts), 0);
    mp_call one = { .chunksize = 1 };
    int64_t warm[64];
    assert_int_equal(mp_map(pool, square, got, 8, sizeof *got, warm, sizeof *warm, &one), 0);   /* messages come and go */
    assert_int_equal(mp_map(pool, initialized_value, NULL, 8, 0, got, sizeof *got, &one), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(got[i], 4242);
    assert_int_equal(mp_pool_close(pool), 0);

    mp_pool_options bad = { .backend = MP_BACKEND_MPI, .initializer = failing_initializer };
    pool = NULL;
    assert_int_equal(mp_pool_open(&pool, &bad), MP_EINVAL);
    assert_null(pool);
    assert_non_null(strstr(mp_last_error(), "no licence on this rank"));
}

static int async_calls;

static void count_call(mp_async *result, void *arg)
{
    (void)result, (void)arg;
    async_calls++;
}

static void test_async_and_futures(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 200 };
    int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp_async *res;
    mp_call call = { .callback = count_call };
    async_calls = 0;
    assert_int_equal(mp_map_async(pool, square, in, N, sizeof *in, out, sizeof *out, &call, &res), 0);
    assert_int_equal(mp_async_get(res, 60, NULL), 0);
    assert_int_equal(async_calls, 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], (int64_t)i * i);
    mp_async_free(res);

    enum { F = 20 };
    mp_future *futures[F];
    for (int i = 0; i < F; i++) {
        int64_t x = i;
        assert_int_equal(mp_submit(pool, square, &x, sizeof x, sizeof x, NULL, &futures[i]), 0);
    }
    mp_as_completed *it;
    assert_int_equal(mp_as_completed_open(futures, F, &it), 0);
    int seen = 0;
    mp_future *f;
    while (mp_as_completed_next(it, 60, &f) == 0) {
        int64_t y;
        assert_int_equal(mp_future_result(f, 0, &y, sizeof y), 0);
        seen++;
    }
    assert_int_equal(seen, F);
    mp_as_completed_free(it);
    for (int i = 0; i < F; i++) {
        int64_t y;
        assert_int_equal(mp_future_result(futures[i], 60, &y, sizeof y), 0);
        assert_int_equal(y, (int64_t)i * i);
        mp_future_free(futures[i]);
    }
    assert_int_equal(mp_pool_close(pool), 0);
}

typedef struct counter { int64_t next, end; } counter;

static int count_up(void *state, void *in)
{
    counter *c = state;
    if (c->next == c->end)
        return 0;
    memcpy(in, &c->next, sizeof c->next);
    c->next++;
    return 1;
}

static void test_imap(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 1000 };
    int64_t in[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp_imap *it;
    assert_int_equal(mp_imap_open(pool, square, in, N, sizeof *in, NULL, NULL, sizeof(int64_t), NULL, &it), 0);
    for (int i = 0; i < N; i++) {
        int64_t y;
        size_t index;
        assert_int_equal(mp_imap_next(it, 60, &y, &index, NULL), 0);
        assert_int_equal(index, (size_t)i);
        assert_int_equal(y, (int64_t)i * i);
    }
    int64_t last;
    assert_int_equal(mp_imap_next(it, 60, &last, NULL, NULL), MP_EEOF);
    mp_imap_free(it);

    counter c = { 0, 3000 };
    mp_imap_options opts = { .order = MP_IMAP_UNORDERED, .chunksize = 4, .window = 64 };
    assert_int_equal(mp_imap_open(pool, square, NULL, 0, sizeof(int64_t), count_up, &c, sizeof(int64_t), &opts, &it), 0);
    char *seen = calloc(3000, 1);
    int64_t y;
    size_t index;
    int n = 0;
    while (mp_imap_next(it, 60, &y, &index, NULL) == 0) {
        assert_int_equal(y, (int64_t)index * (int64_t)index);
        assert_false(seen[index]);
        seen[index] = 1;
        n++;
    }
    assert_int_equal(n, 3000);
    free(seen);
    mp_imap_free(it);
    assert_int_equal(mp_pool_close(pool), 0);
}

static void add_i64(void *acc, const void *v)
{
    *(int64_t *)acc += *(const int64_t *)v;
}

static void test_timeout_and_refusals(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    mp_failures failures = { 0, NULL };
    mp_call call = { .timeout = 0.05, .failures = &failures };
    assert_int_equal(mp_map(pool, sleeper, NULL, 2, 0, NULL, 0, &call), MP_ETASK);
    assert_int_equal(failures.count, 2);
    assert_int_equal(failures.items[0].code, MP_ETIMEDOUT);
    mp_failures_free(&failures);

    /* A "function" in the heap is in no loaded object: refused at the call. */
    static const unsigned char not_code[16];
    mp_map_fn bogus = (mp_map_fn)(uintptr_t)not_code;
    int64_t out[4];
    assert_int_equal(mp_map(pool, bogus, NULL, 4, 0, out, sizeof *out, NULL), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "other ranks"));
    mp_future *f = NULL;
    assert_int_equal(mp_submit(pool, bogus, NULL, 0, 0, NULL, &f), MP_EINVAL);
    assert_null(f);
    mp_imap *it = NULL;
    assert_int_equal(mp_imap_open(pool, bogus, NULL, 4, 0, NULL, NULL, 0, NULL, &it), MP_EINVAL);
    assert_null(it);

    mp_mapreduce mr = { .map = (mp_mr_map_fn)(uintptr_t)not_code, .value_size = 8, .combine = add_i64 };
    mp_mr_result result;
    assert_int_equal(mp_mapreduce_array(pool, &mr, NULL, 4, 0, &result), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "map function"));
    /* The pool is unharmed. */
    int64_t x = 3, y = 0;
    assert_int_equal(mp_apply(pool, square, &x, sizeof x, &y, sizeof y, NULL), 0);
    assert_int_equal(y, 9);
    assert_int_equal(mp_pool_close(pool), 0);
}

/* ---- where the ranks run ------------------------------------------------------ */

enum { HOST_NAME_SIZE = 64, MAX_HOSTS = 16 };

/* Answers the host name of the rank that runs the task.  It takes a while,
 * so that one quick rank cannot take every task of the map. */
static int host_of_rank(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in;
    char name[HOST_NAME_SIZE] = "";
    if (gethostname(name, sizeof name - 1) != 0)
        return mp_task_fail(task, MP_EINVAL, "gethostname failed");
    memcpy(out, name, sizeof name);
    usleep(20 * 1000);
    return 0;
}

/* The host names the serving ranks must cover: MPROC_TEST_HOSTS
 * ("hostA,hostB", set by tests/mpi/two_hosts.sh), or else this machine's
 * own name, as every rank of a one-machine job runs here.  Returns how
 * many, at most MAX_HOSTS. */
static int expected_hosts(char hosts[][HOST_NAME_SIZE])
{
    const char *list = getenv("MPROC_TEST_HOSTS");
    if (!list) {
        assert_int_equal(gethostname(hosts[0], HOST_NAME_SIZE - 1), 0);
        hosts[0][HOST_NAME_SIZE - 1] = '\0';
        return 1;
    }
    int n = 0;
    for (const char *p = list; *p && n < MAX_HOSTS; n++) {
        size_t len = strcspn(p, ",");
        assert_in_range(len, 1, HOST_NAME_SIZE - 1);
        memcpy(hosts[n], p, len);
        hosts[n][len] = '\0';
        p += len + (p[len] == ',');
    }
    return n;
}

static int host_index(char hosts[][HOST_NAME_SIZE], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(hosts[i], name))
            return i;
    return -1;
}

/* Tasks run on the hosts the job was started on, and on each of them:
 * every answer names an expected host, and the answers cover them all.
 * Which ranks get tasks is up to the scheduler, so maps repeat (within a
 * bound that only catches a rank that never answers) until every host
 * has answered. */
static void test_tasks_run_on_every_host(void **state)
{
    (void)state;
    char hosts[MAX_HOSTS][HOST_NAME_SIZE];
    int nhosts = expected_hosts(hosts);
    bool seen[MAX_HOSTS] = { false };
    int nseen = 0;
    mp_pool *pool = open_mpi();
    int tasks = 4 * mp_pool_workers(pool);
    char (*names)[HOST_NAME_SIZE] = calloc((size_t)tasks, HOST_NAME_SIZE);
    assert_non_null(names);
    mp_call one = { .chunksize = 1 };
    for (int round = 0; round < 100 && nseen < nhosts; round++) {
        assert_int_equal(mp_map(pool, host_of_rank, NULL, (size_t)tasks, 0, names, HOST_NAME_SIZE, &one), 0);
        for (int i = 0; i < tasks; i++) {
            names[i][HOST_NAME_SIZE - 1] = '\0';
            int h = host_index(hosts, nhosts, names[i]);
            if (h < 0)
                fail_msg("task %d ran on host '%s', which is not in the job's hosts", i, names[i]);
            nseen += !seen[h];
            seen[h] = true;
        }
    }
    for (int h = 0; h < nhosts; h++)
        if (!seen[h])
            fail_msg("no task ran on host '%s'", hosts[h]);
    free(names);
    assert_int_equal(mp_pool_close(pool), 0);
}

static int nap(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in;
    usleep(50 * 1000);
    int64_t done = 1;
    memcpy(out, &done, sizeof done);
    return 0;
}

static void *terminate_soon(void *pool)
{
    usleep(200 * 1000);
    mp_pool_terminate(pool);
    return NULL;
}

/* Terminate while a map runs: the map returns MP_ECLOSED once the ranges
 * in flight are back (nothing writes its output after it returned), and
 * nothing hangs. */
static void test_terminate_during_map(void **state)
{
    (void)state;
    mp_pool *pool = open_mpi();
    enum { N = 400 };
    int64_t *out = calloc(N, sizeof *out);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, terminate_soon, pool), 0);
    mp_call one = { .chunksize = 1 };
    assert_int_equal(mp_map(pool, nap, NULL, N, 0, out, sizeof *out, &one), MP_ECLOSED);
    int64_t before[N];
    memcpy(before, out, sizeof before);
    usleep(300 * 1000);
    assert_memory_equal(before, out, sizeof before);   /* nothing arrived later */
    assert_int_equal(pthread_join(t, NULL), 0);
    free(out);
}

/* --kill: a serving rank dies in task 5; the job must end (mpirun says
 * which rank), and this line must never be reached. */
static int kill_a_rank(void)
{
    mp_pool *pool = open_mpi();
    mp_call one = { .chunksize = 1 };
    int r = mp_map(pool, die, NULL, 100, 0, NULL, 0, &one);
    printf("test_mpi --kill: the map returned %d after a rank died\n", r);
    return 1;
}

/* --exit-busy: main returns with the pool open and a future running on
 * another rank; every rank must still end cleanly (status 0). */
static int exit_busy(void)
{
    mp_pool *pool = open_mpi();
    mp_future *f;
    if (mp_submit(pool, nap, NULL, 0, sizeof(int64_t), NULL, &f) != 0)
        return 1;
    printf("test_mpi --exit-busy: main returns with a task running\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--kill"))
        return kill_a_rank();
    if (argc > 1 && !strcmp(argv[1], "--exit-busy"))
        return exit_busy();
    const struct CMUnitTest outside[] = {
        cmocka_unit_test(test_outside_mpirun),
    };
    const struct CMUnitTest inside[] = {
        cmocka_unit_test(test_map_runs_on_other_ranks),
        cmocka_unit_test(test_starmap_strings_apply),
        cmocka_unit_test(test_inputs_outputs_aligned),
        cmocka_unit_test(test_failures_context_results),
        cmocka_unit_test(test_random_streams_match_threads),
        cmocka_unit_test(test_initializer),
        cmocka_unit_test(test_async_and_futures),
        cmocka_unit_test(test_imap),
        cmocka_unit_test(test_timeout_and_refusals),
        cmocka_unit_test(test_terminate_during_map),
        cmocka_unit_test(test_tasks_run_on_every_host),
    };
    if (!under_mpirun())
        return cmocka_run_group_tests(outside, NULL, NULL);
    return cmocka_run_group_tests(inside, NULL, NULL);
}
