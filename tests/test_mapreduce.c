/* labels: unit;pool */
/* test_mapreduce.c - map-reduce: every key kind, with and without a
 * combiner, sorted or not, over arrays, buffers and files, on both
 * backends; failures, a dead worker, a full arena and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "support.h"
#include "mr_call.h"

#include <ctype.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *self_path;

/* ---- word counts ------------------------------------------------------------ */

/* A text of `words` words drawn from a small vocabulary, skewed so that
 * some words are frequent, with newlines and runs of spaces. */
static char *make_text(size_t words, size_t *size)
{
    static const char *const vocab[] = { "the", "of", "and", "a", "to", "in", "is", "you", "that", "it",
                                         "parallel", "map", "reduce", "shuffle", "combiner", "x" };
    char *t = malloc(words * 12 + 1);
    assert_non_null(t);
    size_t n = 0;
    uint64_t s = 12345;
    for (size_t i = 0; i < words; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        size_t pick = (size_t)((s >> 33) % 16);
        pick = pick * pick / 16;                       /* skew to the front */
        n += (size_t)sprintf(t + n, "%s%s", vocab[pick], i % 11 == 10 ? "\n" : i % 7 == 6 ? "   " : " ");
    }
    *size = n;
    return t;
}

typedef struct tally {
    char word[16];
    uint64_t count;
} tally;

/* The serial word count the runs are checked against. */
static size_t serial_count(const char *text, size_t size, tally *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < size;) {
        while (i < size && isspace((unsigned char)text[i]))
            i++;
        size_t b = i;
        while (i < size && !isspace((unsigned char)text[i]))
            i++;
        if (i == b)
            continue;
        size_t len = i - b, k;
        for (k = 0; k < n; k++)
            if (strlen(out[k].word) == len && !memcmp(out[k].word, text + b, len))
                break;
        if (k == n) {
            assert_true(n < max);
            memcpy(out[n].word, text + b, len);
            out[n].word[len] = '\0';
            out[n++].count = 0;
        }
        out[k].count++;
    }
    return n;
}

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
        if (i > b) {
            int r = mp_emit(emit, c->data + b, i - b, &one);
            if (r)
                return r;
        }
    }
    return 0;
}

static void add_u64(void *acc, const void *v)
{
    *(uint64_t *)acc += *(const uint64_t *)v;
}

/* Without a combiner: the reduce sums the ones. */
static int sum_ones(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)task;
    (void)key;
    (void)key_size;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const uint64_t *)values)[i];
    *(uint64_t *)out = s;
    return 0;
}

static void check_word_counts(const mp_mr_result *res, const char *text, size_t size, bool sorted)
{
    tally expect[64];
    size_t n = serial_count(text, size, expect, 64);
    assert_int_equal(res->count, n);
    assert_int_equal(res->value_size, sizeof(uint64_t));
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(expect[k].word), i;
        for (i = 0; i < res->count; i++)
            if (res->items[i].key_size == len && !memcmp(res->items[i].key, expect[k].word, len))
                break;
        assert_true(i < res->count);
        assert_int_equal(*(const uint64_t *)res->items[i].value, expect[k].count);
    }
    for (size_t i = 1; sorted && i < res->count; i++) {
        const mp_kv *a = &res->items[i - 1], *b = &res->items[i];
        size_t m = a->key_size < b->key_size ? a->key_size : b->key_size;
        int d = memcmp(a->key, b->key, m);
        assert_true(d < 0 || (d == 0 && a->key_size < b->key_size));
    }
}

static void test_word_count_buffer_every_combination(void **state)
{
    (void)state;
    size_t size;
    char *text = make_text(20000, &size);
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        for (int combine = 0; combine < 2; combine++)
            for (int sort = 0; sort < 2; sort++) {
                mp_mapreduce mr = { .map = words, .combine = combine ? add_u64 : NULL,
                                    .reduce = combine ? NULL : sum_ones, .value_size = sizeof(uint64_t),
                                    .sort = sort, .chunk_bytes = 997 };
                mp_mr_result res;
                assert_int_equal(mp_mapreduce_buffer(pool, &mr, text, size, MP_MR_WORDS, 0, &res), 0);
                check_word_counts(&res, text, size, sort);
                mp_mr_result_free(&res);
                mp_mr_result_free(&res);          /* safe twice */
                /* Lines as records: the same counts. */
                assert_int_equal(mp_mapreduce_buffer(pool, &mr, text, size, MP_MR_LINES, 0, &res), 0);
                check_word_counts(&res, text, size, sort);
                mp_mr_result_free(&res);
            }
        mp_pool_close(pool);
    }
    free(text);
}

static int by_count(const void *a, size_t as, const void *b, size_t bs)
{
    assert_int_equal(as, sizeof(uint64_t));
    assert_int_equal(bs, sizeof(uint64_t));
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_word_count_files_and_top_k(void **state)
{
    (void)state;
    size_t size;
    char *text = make_text(30000, &size);
    char dir[] = "/tmp/mproc-mr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char paths[3][64];
    const char *list[4];
    size_t third = size / 3;
    for (int f = 0; f < 3; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/part%d.txt", dir, f);
        FILE *fp = fopen(paths[f], "w");
        assert_non_null(fp);
        size_t from = f * third, to = f == 2 ? size : (f + 1) * third;
        /* Cut files between words, so that the files' words are the text's. */
        while (f < 2 && !isspace((unsigned char)text[to]))
            to++;
        while (f > 0 && !isspace((unsigned char)text[from]))
            from++;
        fwrite(text + from, 1, to - from, fp);
        fclose(fp);
        list[f] = paths[f];
    }
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_mapreduce mr = { .map = words, .combine = add_u64, .value_size = sizeof(uint64_t), .chunk_bytes = 4096 };
        mp_mr_result res;
        assert_int_equal(mp_mapreduce_files(pool, &mr, list, 3, MP_MR_WORDS, 0, &res), 0);
        check_word_counts(&res, text, size, false);
        /* The top 3 by count, largest first. */
        size_t all = res.count;
        assert_int_equal(mp_mr_sort_by_value(&res, by_count, 3), 0);
        assert_int_equal(res.count, 3);
        for (size_t i = 1; i < 3; i++)
            assert_true(*(uint64_t *)res.items[i - 1].value >= *(uint64_t *)res.items[i].value);
        assert_true(all > 3);
        mp_mr_result_free(&res);

        /* A file that does not exist: an error naming it, nothing run. */
        const char *missing[2] = { list[0], "/nonexistent/mproc-file" };
        assert_int_equal(mp_mapreduce_files(pool, &mr, missing, 2, MP_MR_WORDS, 0, &res), MP_ENOENT);
        assert_non_null(strstr(mp_last_error(), "/nonexistent/mproc-file"));
        assert_int_equal(res.count, 0);
        assert_null(res.items);
        mp_pool_close(pool);
    }
    for (int f = 0; f < 3; f++)
        unlink(paths[f]);
    rmdir(dir);
    free(text);
}

/* ---- fixed-size keys ------------------------------------------------------------ */

/* A histogram of bytes: key the byte value (uint32_t), count the value;
 * the reduce turns counts into fractions of the whole (a result of
 * another size than the value). */
static int byte_bins(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    const mp_mr_chunk *c = in;
    for (size_t i = 0; i < c->size; i++) {
        uint32_t bin = (unsigned char)c->data[i];
        int r = mp_emit(emit, &bin, sizeof bin, &(uint64_t){ 1 });
        if (r)
            return r;
    }
    return 0;
}

static int fraction(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)task;
    (void)key;
    (void)key_size;
    assert_int_equal(n, 1);            /* with a combiner: the combined value */
    const double *total = NULL;
    (void)total;
    *(double *)out = (double)*(const uint64_t *)values;
    return 0;
}

static int numeric_key(const void *a, size_t as, const void *b, size_t bs)
{
    (void)as;
    (void)bs;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void test_histogram_fixed_keys_sorted(void **state)
{
    (void)state;
    enum { N = 65536 };
    char *data = malloc(N * 4);
    assert_non_null(data);
    uint64_t expect[256] = { 0 };
    for (size_t i = 0; i < N * 4; i++) {
        data[i] = (char)((i * 7 + i / 13) % 251);
        expect[(unsigned char)data[i]]++;
    }
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_mapreduce mr = { .map = byte_bins, .combine = add_u64, .reduce = fraction, .key_size = sizeof(uint32_t),
                            .value_size = sizeof(uint64_t), .result_size = sizeof(double), .sort = 1,
                            .key_compare = numeric_key, .chunk_bytes = 3000 };
        mp_mr_result res;
        assert_int_equal(mp_mapreduce_buffer(pool, &mr, data, N * 4, MP_MR_FIXED, 4, &res), 0);
        assert_int_equal(res.count, 251);
        assert_int_equal(res.value_size, sizeof(double));
        for (size_t i = 0; i < res.count; i++) {
            assert_int_equal(res.items[i].key_size, 4);
            assert_int_equal(*(const uint32_t *)res.items[i].key, i);   /* numeric order */
            assert_true(*(const double *)res.items[i].value == (double)expect[i]);
        }
        mp_mr_result_free(&res);
        /* A fixed record size that does not divide the buffer. */
        assert_int_equal(mp_mapreduce_buffer(pool, &mr, data, N * 4 - 1, MP_MR_FIXED, 4, &res), MP_EINVAL);
        assert_int_equal(mp_mapreduce_buffer(pool, &mr, data, N * 4, MP_MR_FIXED, 0, &res), MP_EINVAL);
        assert_int_equal(mp_mapreduce_buffer(pool, &mr, data, N * 4, MP_MR_WORDS, 4, &res), MP_EINVAL);
        mp_pool_close(pool);
    }
    free(data);
}

/* Dense keys: each input element x gives key x % 1000 (stored in a key of
 * the size the context says) and value x. */
static int dense_keys(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    uint64_t x, size;
    memcpy(&x, in, sizeof x);
    memcpy(&size, mp_emitter_context(emit), sizeof size);
    uint64_t k = x % 1000;
    if (size == 1)
        k %= 256;
    unsigned char key[8];
    uint8_t k1 = (uint8_t)k;
    uint16_t k2 = (uint16_t)k;
    uint32_t k4 = (uint32_t)k;
    memcpy(key, size == 1 ? (const void *)&k1 : size == 2 ? (const void *)&k2 : size == 4 ? (const void *)&k4
                                                                                    : (const void *)&k, size);
    return mp_emit(emit, key, (size_t)size, &x);
}

static size_t reversed_blocks(const void *key, size_t key_size, size_t partitions)
{
    (void)key_size;
    return partitions - 1 - (*(const unsigned char *)key % partitions);
}

static int sum_u64s(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)task, (void)key, (void)key_size;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const uint64_t *)values)[i];
    *(uint64_t *)out = s;
    return 0;
}

/* key_range: dense tables give what hashed ones give, for every integer
 * key size, with and without a combiner, with a partition function of
 * the caller's and without, sorted; a key out of range fails its task. */
static void test_dense_keys_match_hashed(void **state)
{
    (void)state;
    enum { N = 30000 };
    uint64_t *in = malloc(N * sizeof *in);
    assert_non_null(in);
    for (uint64_t i = 0; i < N; i++)
        in[i] = i * 2654435761u % 1000003;
    static const uint64_t sizes[4] = { 1, 2, 4, 8 };
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        for (int s = 0; s < 4; s++)
            for (int combine = 0; combine < 2; combine++)
                for (int own = 0; own < 2; own++) {
                    mp_mapreduce mr = { .map = dense_keys, .combine = combine ? add_u64 : NULL,
                                        .reduce = combine ? NULL : sum_u64s, .key_size = (size_t)sizes[s],
                                        .value_size = sizeof(uint64_t), .context = &sizes[s],
                                        .context_size = sizeof sizes[s], .sort = 1, .partitions = own ? 5 : 0,
                                        .partition = own ? reversed_blocks : NULL };
                    mp_mr_result hashed, dense;
                    assert_int_equal(mp_mapreduce_array(pool, &mr, in, N, sizeof *in, &hashed), 0);
                    mr.key_range = sizes[s] == 1 ? 256 : 1000;
                    assert_int_equal(mp_mapreduce_array(pool, &mr, in, N, sizeof *in, &dense), 0);
                    assert_int_equal(dense.count, sizes[s] == 1 ? 256 : 1000);
                    assert_int_equal(dense.count, hashed.count);
                    for (size_t i = 0; i < dense.count; i++) {
                        assert_int_equal(dense.items[i].key_size, sizes[s]);
                        assert_memory_equal(dense.items[i].key, hashed.items[i].key, sizes[s]);
                        assert_memory_equal(dense.items[i].value, hashed.items[i].value, sizeof(uint64_t));
                    }
                    mp_mr_result_free(&hashed);
                    mp_mr_result_free(&dense);
                }
        /* A key at or past key_range fails its task, and nothing is returned. */
        mp_failures failures = { 0, NULL };
        mp_mapreduce mr = { .map = dense_keys, .combine = add_u64, .key_size = 8, .value_size = sizeof(uint64_t),
                            .context = &sizes[3], .context_size = sizeof sizes[3], .key_range = 999,
                            .failures = &failures };
        mp_mr_result res;
        assert_int_equal(mp_mapreduce_array(pool, &mr, in, N, sizeof *in, &res), MP_ETASK);
        assert_int_equal(res.count, 0);
        assert_true(failures.count > 0);
        assert_int_equal(failures.items[0].code, MP_EINVAL);
        assert_non_null(strstr(failures.items[0].message, "key_range"));
        mp_failures_free(&failures);
        mp_pool_close(pool);
    }
    free(in);
}

/* The partition of a dense key is a multiplication by an inverse; it must
 * give floor(k P / R) exactly, at the edges of every block and of the
 * ranges allowed (R and P up to 2^32 - 1). */
static void test_dense_partition_matches_division(void **state)
{
    (void)state;
    static const uint64_t ranges[] = { 2, 3, 7, 100, 768, 1000, 65537, 1u << 20, 999999937, UINT32_MAX };
    static const uint64_t parts[] = { 1, 2, 3, 8, 16, 127, 4096, 65536, 1u << 30, UINT32_MAX - 1 };
    uint64_t x = 88172645463325252u;
    for (size_t ri = 0; ri < sizeof ranges / sizeof *ranges; ri++)
        for (size_t pi = 0; pi < sizeof parts / sizeof *parts; pi++) {
            uint64_t R = ranges[ri], P = parts[pi];
            mp__mr_call c = { .key_range = R, .partitions = (size_t)P };
            if (R > P)
                c.dense_inverse = (uint64_t)((((unsigned __int128)P << 64) + R - 1) / R);
            for (int i = 0; i < 2000; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                uint64_t k = i < 4 ? (uint64_t[]){ 0, 1, R - 2, R - 1 }[i] % R : x % R;
                if (i >= 4 && i < 1000) {            /* either side of a block's first key */
                    uint64_t p = x % P, lo = (p * R + P - 1) / P;
                    k = (lo + (i & 1 ? 0 : R - 1)) % R;
                }
                assert_int_equal(mp__mr_dense_partition(&c, k), k * P / R);
            }
        }
}

/* key_range with keys that are not integers, or that cannot reach it:
 * refused at the call. */
static void test_dense_keys_bad_input(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 2);
    uint64_t in[4] = { 1, 2, 3, 4 }, size = 8;
    mp_mapreduce mr = { .map = dense_keys, .combine = add_u64, .key_size = 3, .value_size = sizeof(uint64_t),
                        .context = &size, .context_size = sizeof size, .key_range = 10 };
    mp_mr_result res;
    assert_int_equal(mp_mapreduce_array(pool, &mr, in, 4, sizeof *in, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "key_size 1, 2, 4 or 8"));
    mr.key_size = 0;
    assert_int_equal(mp_mapreduce_array(pool, &mr, in, 4, sizeof *in, &res), MP_EINVAL);
    mr.key_size = 1;
    mr.key_range = 257;
    assert_int_equal(mp_mapreduce_array(pool, &mr, in, 4, sizeof *in, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "1-byte keys"));
    mr.key_size = 8;
    mr.key_range = (uint64_t)1 << 40;
    assert_int_equal(mp_mapreduce_array(pool, &mr, in, 4, sizeof *in, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "2^32"));
    mr.key_range = 5;
    assert_int_equal(mp_mapreduce_array(pool, &mr, in, 4, sizeof *in, &res), 0);
    assert_int_equal(res.count, 4);
    mp_mr_result_free(&res);
    mp_pool_close(pool);
}

/* Without a combiner the reduce sees every value of its key. */
static int mod_ten(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    int64_t x = *(const int64_t *)in;
    int32_t key = (int32_t)(x % 10);
    return mp_emit(emit, &key, sizeof key, &x);
}

typedef struct stats {
    int64_t sum, max;
    uint64_t n;
} stats;

static int summarize(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)task;
    assert_int_equal(key_size, sizeof(int32_t));
    stats s = { 0, INT64_MIN, n };
    for (size_t i = 0; i < n; i++) {
        int64_t v = ((const int64_t *)values)[i];
        assert_int_equal(v % 10, *(const int32_t *)key);
        s.sum += v;
        s.max = v > s.max ? v : s.max;
    }
    *(stats *)out = s;
    return 0;
}

static void test_array_without_combiner(void **state)
{
    (void)state;
    enum { N = 10000 };
    int64_t *xs = malloc(N * sizeof *xs);
    assert_non_null(xs);
    for (int64_t i = 0; i < N; i++)
        xs[i] = i;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        for (size_t parts = 1; parts <= 16; parts *= 4) {
            mp_mapreduce mr = { .map = mod_ten, .reduce = summarize, .key_size = sizeof(int32_t),
                                .value_size = sizeof(int64_t), .result_size = sizeof(stats), .partitions = parts };
            mp_mr_result res;
            assert_int_equal(mp_mapreduce_array(pool, &mr, xs, N, sizeof *xs, &res), 0);
            assert_int_equal(res.count, 10);
            for (size_t i = 0; i < res.count; i++) {
                int32_t k = *(const int32_t *)res.items[i].key;
                const stats *s = res.items[i].value;
                assert_int_equal(s->n, N / 10);
                assert_int_equal(s->max, N - 10 + k);
                assert_int_equal(s->sum, (int64_t)(N / 10) * (N / 10 - 1) / 2 * 10 + (int64_t)k * (N / 10));
            }
            mp_mr_result_free(&res);
        }
        mp_pool_close(pool);
    }
    free(xs);
}

/* ---- every combination ------------------------------------------------------------ */

/* Key i % 37, as a uint64_t or as its decimal string; value i. */
static int key_kinds(mp_task *task, const void *in, mp_emitter *emit)
{
    const int *string_keys = mp_emitter_context(emit);
    (void)task;
    uint64_t x = *(const uint64_t *)in, k = x % 37;
    if (!*string_keys)
        return mp_emit(emit, &k, sizeof k, &x);
    char text[24];
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)k);
    return mp_emit(emit, text, (size_t)n, &x);
}

static int numeric_u64(const void *a, size_t as, const void *b, size_t bs)
{
    (void)as;
    (void)bs;
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_every_key_kind_combiner_and_order(void **state)
{
    (void)state;
    enum { N = 5000 };
    uint64_t *xs = malloc(N * sizeof *xs), expect[37] = { 0 };
    assert_non_null(xs);
    for (uint64_t i = 0; i < N; i++) {
        xs[i] = i;
        expect[i % 37] += i;
    }
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        for (int strings = 0; strings < 2; strings++)
            for (int combine = 0; combine < 2; combine++)
                for (int sort = 0; sort < 2; sort++) {
                    mp_mapreduce mr = { .map = key_kinds, .combine = combine ? add_u64 : NULL,
                                        .reduce = combine ? NULL : sum_ones, .key_size = strings ? 0 : 8,
                                        .value_size = 8, .sort = sort, .key_compare = strings ? NULL : numeric_u64,
                                        .context = &strings, .context_size = sizeof strings };
                    mp_mr_result res;
                    assert_int_equal(mp_mapreduce_array(pool, &mr, xs, N, sizeof *xs, &res), 0);
                    assert_int_equal(res.count, 37);
                    bool seen[37] = { false };
                    for (size_t i = 0; i < res.count; i++) {
                        uint64_t k;
                        if (strings) {
                            char text[24] = "";
                            memcpy(text, res.items[i].key, res.items[i].key_size);
                            k = strtoull(text, NULL, 10);
                        } else {
                            assert_int_equal(res.items[i].key_size, 8);
                            k = *(const uint64_t *)res.items[i].key;
                        }
                        assert_true(k < 37 && !seen[k]);
                        seen[k] = true;
                        assert_int_equal(*(const uint64_t *)res.items[i].value, expect[k]);
                        if (sort && i > 0) {
                            const mp_kv *p = &res.items[i - 1], *q = &res.items[i];
                            int d = strings ? memcmp(p->key, q->key, p->key_size < q->key_size ? p->key_size : q->key_size)
                                            : numeric_u64(p->key, 8, q->key, 8);
                            assert_true(d < 0 || (strings && d == 0 && p->key_size < q->key_size));
                        }
                    }
                    mp_mr_result_free(&res);
                }
        mp_pool_close(pool);
    }
    free(xs);
}

/* ---- the tutorial's sum of squares, a context, a partitioner ------------------- */

static int square_to_one_key(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    const int64_t *scale = mp_emitter_context(emit);
    int64_t x = *(const int64_t *)in;
    int64_t sq = x * x * *scale;
    return mp_emit(emit, "sum", 3, &sq);
}

static void add_i64(void *acc, const void *v)
{
    *(int64_t *)acc += *(const int64_t *)v;
}

static size_t all_to_last(const void *key, size_t key_size, size_t partitions)
{
    (void)key;
    (void)key_size;
    return partitions - 1;
}

static size_t out_of_range(const void *key, size_t key_size, size_t partitions)
{
    (void)key;
    (void)key_size;
    return partitions;
}

static void test_sum_of_squares_context_partitioner(void **state)
{
    (void)state;
    int64_t xs[10];
    for (int i = 0; i < 10; i++)
        xs[i] = i;
    int64_t scale = 3;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_mapreduce mr = { .map = square_to_one_key, .combine = add_i64, .value_size = sizeof(int64_t),
                            .context = &scale, .context_size = sizeof scale, .partition = all_to_last };
        mp_mr_result res;
        assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 10, sizeof xs[0], &res), 0);
        assert_int_equal(res.count, 1);
        assert_int_equal(res.items[0].key_size, 3);
        assert_memory_equal(res.items[0].key, "sum", 3);
        assert_int_equal(*(int64_t *)res.items[0].value, 3 * 285);
        mp_mr_result_free(&res);
        /* A partitioner out of range fails the tasks that emitted. */
        mr.partition = out_of_range;
        mp_failures failures;
        mr.failures = &failures;
        assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 10, sizeof xs[0], &res), MP_ETASK);
        assert_int_equal(failures.count, 10);
        assert_int_equal(failures.items[0].code, MP_EINVAL);
        assert_non_null(strstr(failures.items[0].message, "partitioner"));
        assert_int_equal(res.count, 0);
        mp_failures_free(&failures);
        /* Empty input: an empty result. */
        mr.partition = NULL;
        mr.failures = NULL;
        assert_int_equal(mp_mapreduce_array(pool, &mr, NULL, 0, 0, &res), 0);
        assert_int_equal(res.count, 0);
        mp_pool_close(pool);
    }
}

/* ---- failures ----------------------------------------------------------------------- */

static int fail_third(mp_task *task, const void *in, mp_emitter *emit)
{
    int64_t x = *(const int64_t *)in;
    if (x == 3)
        return mp_task_fail(task, 9, "no map for %lld", (long long)x);
    return mp_emit(emit, &x, sizeof x, &x);
}

static int fail_key_seven(mp_task *task, const void *key, size_t key_size, const void *values, size_t n, void *out)
{
    (void)key_size;
    (void)values;
    (void)n;
    if (*(const int64_t *)key == 7)
        return mp_task_fail(task, 11, "no reduce for 7");
    *(int64_t *)out = 0;
    return 0;
}

static int wrong_key_size(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    (void)in;
    mp_emit(emit, "abc", 3, &(int64_t){ 1 });   /* keys are 8 bytes: ignored answer */
    return 0;
}

static void test_failures_leave_no_result(void **state)
{
    (void)state;
    int64_t xs[20];
    for (int i = 0; i < 20; i++)
        xs[i] = i;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        mp_failures failures;
        mp_mapreduce mr = { .map = fail_third, .combine = add_i64, .key_size = 8, .value_size = 8,
                            .failures = &failures };
        mp_mr_result res;
        assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 20, sizeof xs[0], &res), MP_ETASK);
        assert_int_equal(res.count, 0);
        assert_null(res.items);
        assert_int_equal(failures.count, 1);
        assert_int_equal(failures.items[0].index, 3);
        assert_int_equal(failures.items[0].code, 9);
        assert_non_null(strstr(mp_last_error(), "no map for 3"));
        mp_failures_free(&failures);

        mr.map = fail_third;
        mr.combine = NULL;
        mr.reduce = fail_key_seven;
        xs[3] = 103;                    /* no map failure this time */
        assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 20, sizeof xs[0], &res), MP_ETASK);
        xs[3] = 3;
        assert_int_equal(res.count, 0);
        assert_int_equal(failures.count, 1);
        assert_int_equal(failures.items[0].code, 11);
        assert_non_null(strstr(failures.items[0].message, "no reduce for 7"));
        mp_failures_free(&failures);

        /* A map that ignores mp_emit's error still fails. */
        mr.map = wrong_key_size;
        assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 4, sizeof xs[0], &res), MP_ETASK);
        assert_int_equal(failures.count, 4);
        assert_int_equal(failures.items[0].code, MP_EINVAL);
        assert_non_null(strstr(failures.items[0].message, "key_size 3"));
        mp_failures_free(&failures);
        mp_pool_close(pool);
    }
}

static void test_bad_input_changes_nothing(void **state)
{
    (void)state;
    mp_pool *pool = open_pool(MP_BACKEND_THREAD, 2);
    mp_mr_result res = { 7, 0, (mp_kv *)&res, NULL };
    mp_mapreduce ok = { .map = words, .combine = add_u64, .value_size = 8 };
    int64_t x = 1;
    assert_int_equal(mp_mapreduce_array(pool, &ok, &x, 1, sizeof x, NULL), MP_EINVAL);
    assert_int_equal(mp_mapreduce_array(NULL, &ok, &x, 1, sizeof x, &res), MP_EINVAL);
    assert_int_equal(res.count, 0);
    assert_int_equal(mp_mapreduce_array(pool, NULL, &x, 1, sizeof x, &res), MP_EINVAL);
    mp_mapreduce bad = ok;
    bad.map = NULL;
    assert_int_equal(mp_mapreduce_array(pool, &bad, &x, 1, sizeof x, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "map function is NULL"));
    bad = ok;
    bad.value_size = 0;
    assert_int_equal(mp_mapreduce_array(pool, &bad, &x, 1, sizeof x, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "value_size is 0"));
    bad = ok;
    bad.combine = NULL;
    assert_int_equal(mp_mapreduce_array(pool, &bad, &x, 1, sizeof x, &res), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "a reduce is needed"));
    bad = ok;
    bad.result_size = 4;
    assert_int_equal(mp_mapreduce_array(pool, &bad, &x, 1, sizeof x, &res), MP_EINVAL);
    bad = ok;
    bad.context_size = 4;
    assert_int_equal(mp_mapreduce_array(pool, &bad, &x, 1, sizeof x, &res), MP_EINVAL);
    assert_int_equal(mp_mapreduce_array(pool, &ok, &x, 1, 0, &res), MP_EINVAL);
    assert_int_equal(mp_mapreduce_buffer(pool, &ok, NULL, 5, MP_MR_LINES, 0, &res), MP_EINVAL);
    assert_int_equal(mp_mapreduce_buffer(pool, &ok, "ab", 2, (mp_mr_records)7, 0, &res), MP_EINVAL);
    assert_int_equal(mp_mapreduce_files(pool, &ok, NULL, 2, MP_MR_LINES, 0, &res), MP_EINVAL);
    const char *null_path[1] = { NULL };
    assert_int_equal(mp_mapreduce_files(pool, &ok, null_path, 1, MP_MR_LINES, 0, &res), MP_EINVAL);
    assert_int_equal(mp_emit(NULL, "k", 1, &x), MP_EINVAL);
    assert_null(mp_emitter_context(NULL));
    assert_int_equal(mp_mr_sort_by_value(NULL, by_count, 1), MP_EINVAL);
    assert_int_equal(mp_mr_sort_by_value(&res, NULL, 1), MP_EINVAL);
    mp_mr_result_free(NULL);
    mp_pool_close(pool);
}

/* ---- a dead worker, a full arena ------------------------------------------------------------ */

static int die_once(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    _Atomic int *killed = *(_Atomic int *const *)mp_emitter_context(emit);
    int64_t x = *(const int64_t *)in;
    int r = mp_emit(emit, &x, sizeof x, &x);
    if (x == 5 && !atomic_exchange(killed, 1))
        raise(SIGKILL);              /* after emitting: its table is torn */
    return r;
}

static void test_dead_worker_taints_the_run(void **state)
{
    (void)state;
    mp_pool *pool = NULL;
    assert_int_equal(mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2,
                                                             .retries = 1 }), 0);
    _Atomic int *killed;
    assert_int_equal(mp_shm_alloc(sizeof *killed, (void **)&killed), 0);
    int64_t xs[40];
    for (int i = 0; i < 40; i++)
        xs[i] = i;
    mp_mapreduce mr = { .map = die_once, .combine = add_i64, .key_size = 8, .value_size = 8,
                        .context = &killed, .context_size = sizeof killed };
    mp_mr_result res;
    /* The task is retried and succeeds, but the dead worker may have
     * combined part of it: the run reports that instead of a result. */
    assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 40, sizeof xs[0], &res), MP_ETASK);
    assert_non_null(strstr(mp_last_error(), "worker died"));
    assert_int_equal(res.count, 0);
    assert_int_equal(atomic_load(killed), 1);
    /* The pool goes on: the next run is whole. */
    mr.map = square_to_one_key;
    int64_t scale = 1;
    mr.context = &scale;
    mr.context_size = sizeof scale;
    mr.key_size = 0;
    assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 10, sizeof xs[0], &res), 0);
    assert_int_equal(*(int64_t *)res.items[0].value, 285);
    mp_mr_result_free(&res);
    mp_shm_free(killed);
    mp_pool_close(pool);
}

/* Workers that retire after every task (maxtasksperchild 1) hand their
 * whole tables to their replacements: the run is whole. */
static void test_retiring_workers_keep_their_tables(void **state)
{
    (void)state;
    mp_pool *pool = NULL;
    assert_int_equal(mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2,
                                                             .maxtasksperchild = 1 }), 0);
    int64_t xs[12], scale = 1;
    for (int i = 0; i < 12; i++)
        xs[i] = i;
    mp_mapreduce mr = { .map = square_to_one_key, .combine = add_i64, .value_size = 8, .context = &scale,
                        .context_size = sizeof scale };
    mp_mr_result res;
    assert_int_equal(mp_mapreduce_array(pool, &mr, xs, 12, sizeof xs[0], &res), 0);
    assert_int_equal(res.count, 1);
    assert_int_equal(*(int64_t *)res.items[0].value, 506);   /* 0^2 + ... + 11^2 */
    mp_mr_result_free(&res);
    mp_pool_close(pool);
}

static int distinct_long_keys(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)in;
    char key[200];
    memset(key, 'k', sizeof key);
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t id = mp_task_index(task) * 20000 + i;
        memcpy(key, &id, sizeof id);
        int r = mp_emit(emit, key, sizeof key, &id);
        if (r)
            return r;
    }
    return 0;
}

/* Run in a child with a small arena (MPROC_SHM_SIZE is read once). */
static int enomem_child(void)
{
    mp_pool *pool = NULL;
    if (mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 }))
        return 10;
    mp_mapreduce mr = { .map = distinct_long_keys, .reduce = sum_ones, .value_size = 8 };
    mp_mr_result res;
    int r = mp_mapreduce_array(pool, &mr, NULL, 64, 0, &res);
    int ok = r == MP_ENOMEM && strstr(mp_last_error(), "do not fit") && res.count == 0 && !res.items;
    if (!ok)
        fprintf(stderr, "enomem child: %d %s\n", r, mp_last_error());
    /* The arena is whole again: a small run fits. */
    int64_t xs[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, scale = 1;
    mp_mapreduce small = { .map = square_to_one_key, .combine = add_i64, .value_size = 8, .context = &scale,
                           .context_size = sizeof scale };
    r = mp_mapreduce_array(pool, &small, xs, 10, sizeof xs[0], &res);
    ok = ok && r == 0 && res.count == 1 && *(int64_t *)res.items[0].value == 285;
    mp_mr_result_free(&res);
    mp_pool_close(pool);
    return ok ? 0 : 1;
}

static void test_full_arena_is_enomem(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("MPROC_SHM_SIZE", "64M", 1);
        execl(self_path, self_path, "--enomem-child", (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 2 && !strcmp(argv[1], "--enomem-child"))
        return enomem_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_count_buffer_every_combination),
        cmocka_unit_test(test_word_count_files_and_top_k),
        cmocka_unit_test(test_histogram_fixed_keys_sorted),
        cmocka_unit_test(test_dense_keys_match_hashed),
        cmocka_unit_test(test_dense_keys_bad_input),
        cmocka_unit_test(test_dense_partition_matches_division),
        cmocka_unit_test(test_array_without_combiner),
        cmocka_unit_test(test_every_key_kind_combiner_and_order),
        cmocka_unit_test(test_sum_of_squares_context_partitioner),
        cmocka_unit_test(test_failures_leave_no_result),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_dead_worker_taints_the_run),
        cmocka_unit_test(test_retiring_workers_keep_their_tables),
        cmocka_unit_test(test_full_arena_is_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
