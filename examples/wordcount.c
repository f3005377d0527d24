/* wordcount.c - the 20 most frequent words of some files: map-reduce with
 * a combiner (the tutorials' "map to (word, 1), group by key, sum").
 *
 *   usage: wordcount FILE...
 *
 * mp_mapreduce_files cuts the files into chunks at word boundaries; each
 * map task gets one chunk and emits (word, 1) for every word in it.  The
 * combiner adds the ones as they are emitted, so each worker keeps one
 * counter per distinct word -- never a pair per word -- and the reduce
 * step merges the workers' counters.  Words are lowercased letters and
 * digits; anything else separates them.
 */
#include "example.h"

#include <ctype.h>
#include <string.h>

static int count_words(mp_task *task, const void *in, mp_emitter *emit)
{
    (void)task;
    const mp_mr_chunk *chunk = in;
    const uint64_t one = 1;
    char word[64];
    size_t len = 0;
    for (size_t i = 0; i <= chunk->size; i++) {
        int c = i < chunk->size ? (unsigned char)chunk->data[i] : ' ';
        if (isalnum(c)) {
            if (len < sizeof word)
                word[len++] = (char)tolower(c);
            continue;
        }
        if (len) {
            int r = mp_emit(emit, word, len, &one);
            if (r)
                return r;      /* MP_ENOMEM: the words do not fit */
            len = 0;
        }
    }
    return 0;
}

static void add(void *acc, const void *value)
{
    *(uint64_t *)acc += *(const uint64_t *)value;
}

static int by_count(const void *a, size_t a_size, const void *b, size_t b_size)
{
    (void)a_size;
    (void)b_size;
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wordcount FILE...\n");
        return 2;
    }
    mp_pool *pool;
    check(mp_pool_open(&pool, NULL));
    mp_mapreduce mr = { .map = count_words, .combine = add, .value_size = sizeof(uint64_t) };
    mp_mr_result words;
    check(mp_mapreduce_files(pool, &mr, (const char *const *)argv + 1, (size_t)argc - 1, MP_MR_WORDS, 0, &words));
    size_t distinct = words.count;
    check(mp_mr_sort_by_value(&words, by_count, 20));   /* the top 20, most frequent first */
    for (size_t i = 0; i < words.count; i++)
        printf("%8llu %.*s\n", (unsigned long long)*(const uint64_t *)words.items[i].value,
               (int)words.items[i].key_size, (const char *)words.items[i].key);
    printf("%zu distinct words\n", distinct);
    mp_mr_result_free(&words);
    check(mp_pool_close(pool));
    return 0;
}
