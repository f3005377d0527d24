/* labels: mpi;mapreduce */
/* test_mpi_mapreduce.c - map-reduce on the MPI backend.
 *
 * Under `mpirun -n N env MPROC_BACKEND=mpi` (the mpi_mapreduce_* tests,
 * tests/mpi/run.sh) rank 0 runs every input kind, key kind, with and
 * without a combiner, sorted or not, on an MPI pool and checks each result
 * against a thread pool's; then failures and refusals.  The other ranks
 * serve from before main and never get here.  Run by itself, the same
 * checks compare a process pool with a thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mp_backend under_test(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") ? MP_BACKEND_MPI : MP_BACKEND_PROCESS;
}

/* ---- the functions (found on the other ranks by offset) --------------------- */

static int words(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    const mp_mr_chunk *c = in;
    const uint64_t one = 1;
    for (size_t i = 0; i < c->size;) {
        while (i < c->size && isspace((unsigned char)c->data[i]))
            i++;
        size_t b = i;
        while (i < c->size && !isspace((unsigned char)c->data[i]))
            i++;
        if (i > b && mp_emit(emit, c->data + b, i - b, &one))
            return MP_ENOMEM;
    }
    return 0;
}

static void add_u64(void *acc, const void *v)
{
    *(uint64_t *)acc += *(const uint64_t *)v;
}

static int sum_values(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)task, (void)key, (void)key_size;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)values + i * sizeof v, sizeof v);
        s += v;
    }
    memcpy(out, &s, sizeof s);
    return 0;
}

/* Array input: element x goes to bin x % modulus (the context) with value x. */
static int bins(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    uint64_t x, m;
    memcpy(&x, in, sizeof x);
    memcpy(&m, mp_emitter_context(emit), sizeof m);
    uint32_t bin = (uint32_t)(x % m);
    return mp_emit(emit, &bin, sizeof bin, &x);
}

/* A result of another size: the bin's mean, as a double. */
static int mean(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)key, (void)key_size;
    if (n == 0)
        return mp_task_fail(task, MP_EINVAL, "a key with no values");
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)values + i * sizeof v, sizeof v);
        s += (double)v;
    }
    double m = s / (double)n;
    memcpy(out, &m, sizeof m);
    return 0;
}

/* Fixed records: the first byte of each 4-byte record is its key. */
static int first_bytes(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    const mp_mr_chunk *c = in;
    const uint64_t one = 1;
    for (size_t i = 0; i + 4 <= c->size; i += 4) {
        uint8_t k = (uint8_t)c->data[i];
        if (mp_emit(emit, &k, 1, &one))
            return MP_ENOMEM;
    }
    return 0;
}

/* Partitions by the word's length. */
static size_t by_length(const void *key, size_t key_size, size_t partitions)
{
    (void)key;
    return key_size % partitions;
}

static int fail_on_13(mp_task *task, const void *in, mp_emitter *emit)
{
    uint64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 13)
        return mp_task_fail(task, MP_EINVAL, "thirteen is refused");
    return bins(task, in, emit);
}

static int reduce_fails_on_bin_2(mp_task *task, const void *key, size_t key_size, const void *values, size_t n,
                                 void *out)
{
    uint32_t bin;
    memcpy(&bin, key, sizeof bin);
    if (bin == 2)
        return mp_task_fail(task, MP_ERANGE, "bin two is refused");
    return sum_values(task, key, key_size, values, n, out);
}

/* ---- inputs and comparisons ------------------------------------------------------- */

/* Words of 1 to 12 letters from a small alphabet, so that keys repeat,
 * some are longer than a table keeps inline, and every partition gets some. */
static char *text_of(size_t size, unsigned seed)
{
    char *t = malloc(size);
    assert_non_null(t);
    uint64_t x = seed * 2654435761u + 1;
    size_t i = 0;
    while (i < size) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        size_t len = 1 + (x >> 33) % 12;
        for (size_t k = 0; k < len && i < size; k++, i++)
            t[i] = (char)('a' + (x >> (40 + k % 16)) % 4);
        if (i < size)
            t[i++] = (x >> 20) % 9 ? ' ' : '\n';
    }
    return t;
}

static int compare_items(const void *a, const void *b)
{
    const mp_kv *x = a, *y = b;
    size_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
    int d = memcmp(x->key, y->key, n);
    return d ? d : (x->key_size > y->key_size) - (x->key_size < y->key_size);
}

/* The two results hold the same keys with the same values (sorted copies
 * of their items are compared; `sorted`: a must already be in key order). */
static void assert_same(const mp_mr_result *a, const mp_mr_result *b, bool sorted)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->value_size, b->value_size);
    mp_kv *x = malloc((a->count + 1) * sizeof *x), *y = malloc((b->count + 1) * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    memcpy(x, a->items, a->count * sizeof *x);
    memcpy(y, b->items, b->count * sizeof *y);
    if (sorted)
        for (size_t i = 1; i < a->count; i++)
            assert_true(compare_items(&x[i - 1], &x[i]) < 0);
    qsort(x, a->count, sizeof *x, compare_items);
    qsort(y, b->count, sizeof *y, compare_items);
    for (size_t i = 0; i < a->count; i++) {
        assert_int_equal(x[i].key_size, y[i].key_size);
        assert_memory_equal(x[i].key, y[i].key, x[i].key_size);
        assert_memory_equal(x[i].value, y[i].value, a->value_size);
    }
    free(x);
    free(y);
}

typedef struct pools {
    mp_pool *tested, *threads;
} pools;

static int open_both(void **state)
{
    pools *p = malloc(sizeof *p);
    assert_non_null(p);
    p->tested = open_pool(under_test(), 0);
    p->threads = open_pool(MP_BACKEND_THREAD, 2);
    *state = p;
    return 0;
}

static int close_both(void **state)
{
    pools *p = *state;
    assert_int_equal(mp_pool_close(p->tested), 0);
    assert_int_equal(mp_pool_close(p->threads), 0);
    free(p);
    return 0;
}

/* ---- the tests ----------------------------------------------------------------- */

/* Byte-string keys from a buffer: with and without a combiner, sorted or
 * not, with few and with many partitions and a partitioner of our own. */
static void test_buffer_word_counts(void **state)
{
    pools *p = *state;
    size_t size = 300000;
    char *text = text_of(size, 1);
    for (int combine = 0; combine < 2; combine++)
        for (int sorted = 0; sorted < 2; sorted++)
            for (int parts = 0; parts < 3; parts++) {
                mp_mapreduce mr = { .map = words, .combine = combine ? add_u64 : NULL,
                                    .reduce = combine ? NULL : sum_values, .value_size = sizeof(uint64_t),
                                    .sort = sorted, .chunk_bytes = 16384,
                                    .partitions = parts == 0 ? 0 : parts == 1 ? 1 : 7,
                                    .partition = parts == 2 ? by_length : NULL };
                mp_mr_result got, want;
                assert_int_equal(mp_mapreduce_buffer(p->tested, &mr, text, size, MP_MR_WORDS, 0, &got), 0);
                assert_int_equal(mp_mapreduce_buffer(p->threads, &mr, text, size, MP_MR_WORDS, 0, &want), 0);
                assert_true(got.count > 1000);
                assert_same(&got, &want, sorted);
                mp_mr_result_free(&got);
                mp_mr_result_free(&want);
            }
    free(text);
}

/* Fixed-size keys from an array, with the context blob, values listed
 * (no combiner) and a result of another size. */
static void test_array_fixed_keys(void **state)
{
    pools *p = *state;
    enum { N = 20000 };
    uint64_t *in = malloc(N * sizeof *in), modulus = 97;
    assert_non_null(in);
    for (uint64_t i = 0; i < N; i++)
        in[i] = i * 7919 % 100003;
    mp_mapreduce mr = { .map = bins, .reduce = mean, .key_size = sizeof(uint32_t), .value_size = sizeof(uint64_t),
                        .result_size = sizeof(double), .context = &modulus, .context_size = sizeof modulus,
                        .sort = 1 };
    mp_mr_result got, want;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, N, sizeof *in, &got), 0);
    assert_int_equal(mp_mapreduce_array(p->threads, &mr, in, N, sizeof *in, &want), 0);
    assert_int_equal(got.count, 97);
    assert_same(&got, &want, true);
    mp_mr_result_free(&got);

    /* Dense tables (key_range) give the same, shuffled by blocks of keys. */
    mr.key_range = 97;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, N, sizeof *in, &got), 0);
    assert_same(&got, &want, true);
    mp_mr_result_free(&got);
    mr.key_range = 0;
    mp_mr_result_free(&want);

    /* No input: no keys. */
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, 0, sizeof *in, &got), 0);
    assert_int_equal(got.count, 0);
    mp_mr_result_free(&got);
    free(in);
}

/* Fixed-size records of a buffer, one-byte keys, combined: chunks of one
 * size (sent from where they are, on MPI), and with a shorter last one. */
static void test_fixed_records(void **state)
{
    pools *p = *state;
    size_t sizes[2] = { 4 * 50000, 4 * 50001 };
    for (int s = 0; s < 2; s++) {
        size_t size = sizes[s];
        unsigned char *data = malloc(size);
        assert_non_null(data);
        for (size_t i = 0; i < size; i++)
            data[i] = (unsigned char)(i * 131 + i / 7);
        mp_mapreduce mr = { .map = first_bytes, .combine = add_u64, .key_size = 1, .value_size = sizeof(uint64_t),
                            .chunk_bytes = 4000 };
        mp_mr_result got, want;
        assert_int_equal(mp_mapreduce_buffer(p->tested, &mr, (const char *)data, size, MP_MR_FIXED, 4, &got), 0);
        assert_int_equal(mp_mapreduce_buffer(p->threads, &mr, (const char *)data, size, MP_MR_FIXED, 4, &want), 0);
        assert_same(&got, &want, false);
        uint64_t total = 0;
        for (size_t i = 0; i < got.count; i++)
            total += *(const uint64_t *)got.items[i].value;
        assert_int_equal(total, size / 4);
        mp_mr_result_free(&got);
        mp_mr_result_free(&want);
        free(data);
    }
}

/* A map that fails on the record at offset 200000 of a buffer: the last,
 * shorter chunk's task (index 50). */
static int fail_at_the_end(mp_task *task, const void *in, mp_emitter *emit)
{
    const mp_mr_chunk *c = in;
    if (c->offset == 200000)
        return mp_task_fail(task, MP_ERANGE, "the tail is refused");
    return first_bytes(task, in, emit);
}

/* Files: every rank reads the pieces it is given from the same paths. */
static void test_files(void **state)
{
    pools *p = *state;
    char dir[] = "/tmp/mproc-mpi-mr-XXXXXX", paths[3][64];
    assert_non_null(mkdtemp(dir));
    const char *list[3];
    for (int f = 0; f < 3; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/part%d.txt", dir, f);
        size_t size = 40000 + 10000 * (size_t)f;
        char *t = text_of(size, 10 + (unsigned)f);
        FILE *out = fopen(paths[f], "w");
        assert_non_null(out);
        assert_int_equal(fwrite(t, 1, size, out), size);
        fclose(out);
        free(t);
        list[f] = paths[f];
    }
    mp_mapreduce mr = { .map = words, .combine = add_u64, .value_size = sizeof(uint64_t), .chunk_bytes = 8192,
                        .sort = 1 };
    mp_mr_result got, want;
    assert_int_equal(mp_mapreduce_files(p->tested, &mr, list, 3, MP_MR_LINES, 0, &got), 0);
    assert_int_equal(mp_mapreduce_files(p->threads, &mr, list, 3, MP_MR_LINES, 0, &want), 0);
    assert_same(&got, &want, true);
    mp_mr_result_free(&got);
    mp_mr_result_free(&want);
    for (int f = 0; f < 3; f++)
        unlink(paths[f]);
    rmdir(dir);
}

/* A failing map task and a failing reduce are values: which task, its
 * code and message; the result is empty and the pool goes on. */
static void test_failures(void **state)
{
    pools *p = *state;
    enum { N = 1000 };
    uint64_t in[N], modulus = 10;
    for (uint64_t i = 0; i < N; i++)
        in[i] = i;
    mp_failures failures = { 0, NULL };
    mp_mapreduce mr = { .map = fail_on_13, .combine = add_u64, .key_size = sizeof(uint32_t),
                        .value_size = sizeof(uint64_t), .context = &modulus, .context_size = sizeof modulus,
                        .failures = &failures };
    mp_mr_result res;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, N, sizeof *in, &res), MP_ETASK);
    assert_int_equal(res.count, 0);
    assert_int_equal(failures.count, 1);
    assert_int_equal(failures.items[0].index, 13);
    assert_int_equal(failures.items[0].code, MP_EINVAL);
    assert_non_null(strstr(failures.items[0].message, "thirteen"));
    mp_failures_free(&failures);

    mr.map = bins;
    mr.combine = NULL;
    mr.reduce = reduce_fails_on_bin_2;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, N, sizeof *in, &res), MP_ETASK);
    assert_int_equal(res.count, 0);
    assert_int_equal(failures.count, 1);
    assert_int_equal(failures.items[0].code, MP_ERANGE);
    assert_non_null(strstr(failures.items[0].message, "bin two"));
    assert_non_null(strstr(mp_last_error(), "bin two"));
    mp_failures_free(&failures);

    /* A buffer's last, shorter chunk fails: its task's index is its place
     * among all the chunks. */
    unsigned char *data = calloc(4 * 50001, 1);
    assert_non_null(data);
    mp_mapreduce tail = { .map = fail_at_the_end, .combine = add_u64, .key_size = 1, .value_size = sizeof(uint64_t),
                          .chunk_bytes = 4000, .failures = &failures };
    assert_int_equal(mp_mapreduce_buffer(p->tested, &tail, (const char *)data, 4 * 50001, MP_MR_FIXED, 4, &res),
                     MP_ETASK);
    assert_int_equal(failures.count, 1);
    assert_int_equal(failures.items[0].index, 50);
    assert_int_equal(failures.items[0].code, MP_ERANGE);
    mp_failures_free(&failures);
    free(data);

    /* The pool and the next run are unharmed. */
    mr.reduce = sum_values;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, N, sizeof *in, &res), 0);
    assert_int_equal(res.count, 10);
    mp_mr_result_free(&res);
}

/* A function that is not code in a loaded object is refused at the call,
 * before any rank runs anything (MPI pools only: a thread or process pool
 * calls what it is given). */
static void test_unshippable_function(void **state)
{
    pools *p = *state;
    static const unsigned char not_code[16];
    uint64_t in[4] = { 1, 2, 3, 4 }, modulus = 3;
    mp_mapreduce mr = { .map = bins, .combine = (mp_mr_combine_fn)(uintptr_t)not_code, .key_size = sizeof(uint32_t),
                        .value_size = sizeof(uint64_t), .context = &modulus, .context_size = sizeof modulus };
    mp_mr_result res;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, 4, sizeof *in, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "combiner"));
    assert_int_equal(res.count, 0);
    mr.combine = add_u64;
    assert_int_equal(mp_mapreduce_array(p->tested, &mr, in, 4, sizeof *in, &res), 0);
    assert_int_equal(res.count, 3);
    mp_mr_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_word_counts),
        cmocka_unit_test(test_array_fixed_keys),
        cmocka_unit_test(test_fixed_records),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_failures),
    };
    const struct CMUnitTest mpi_only[] = {
        cmocka_unit_test(test_unshippable_function),
    };
    int failed = cmocka_run_group_tests(tests, open_both, close_both);
    if (under_test() == MP_BACKEND_MPI)
        failed += cmocka_run_group_tests(mpi_only, open_both, close_both);
    return failed;
}
