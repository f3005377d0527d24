/* mr_table.h - map-reduce's hash table: keys to a combined value or to a
 * list of values, written by one thread at a time.
 *
 * Open addressing with linear probing over a slot array of entry numbers,
 * each with 32 bits of the key's hash, so that a probe that misses never
 * touches an entry; entries live side by side (stride bytes each, the full
 * hash first), so a table is walked, merged and rehashed without following
 * pointers.  Byte-string keys of up to 16 bytes sit in their entry; longer
 * ones in a separate growing buffer.  A hit thus costs two cache lines: a
 * word count's table is larger than the caches, and its speed is the
 * number of lines a lookup touches.  A table and
 * everything it owns come from the shared arena (`shared`: the map's
 * tables, which the reduce tasks read from any process) or from the heap
 * (a reduce task's private merge).  No function here sets a message: a
 * failure is MP_ENOMEM and the table is unchanged. */
#ifndef MPROC_MR_TABLE_H
#define MPROC_MR_TABLE_H

#include "internal.h"

typedef struct mp__mr_table {
    size_t key_size;        /* 0: byte strings */
    size_t value_size;
    bool combine;           /* one combined value per key; else a list */
    bool shared;            /* memory from the arena, else the heap */
    mp_mr_combine_fn combiner;
    size_t stride, key_at, value_at;   /* entry layout */
    uint64_t *slots;        /* hash bits << 32 | entry number + 1; 0: empty */
    size_t mask;            /* slots - 1 */
    char *entries;
    size_t count, capacity; /* entries */
    char *keys;             /* byte-string keys' bytes */
    size_t keys_len, keys_cap;
    char *values;           /* lists: records of [next record + 1 : 8][value] */
    size_t values_len, values_cap, value_stride;
    /* Dense tables (integer keys in [dense_lo, dense_lo + dense_n)): an
     * entry number + 1 per key instead of slots; an entry's hash is its
     * key.  dense_n 0: hashed. */
    uint32_t *dense;
    uint64_t dense_lo, dense_n;
} mp__mr_table;

/* One entry, as the walk functions see it. */
typedef struct mp__mr_entry {
    uint64_t hash;
    const void *key;
    size_t key_size;
    void *value;            /* combine: the value; list: NULL */
    uint64_t list;          /* list: first record + 1 (0: none) */
    uint64_t nvalues;       /* list: how many */
} mp__mr_entry;

/* The hash every table and the default partitioner use. */
uint64_t mp__mr_hash(const void *key, size_t size);

int mp__mr_table_init(mp__mr_table *t, size_t key_size, size_t value_size, mp_mr_combine_fn combiner,
                      bool shared);
/* A dense table for the integer keys [lo, lo + n) of key_size 1, 2, 4 or
 * 8; adding a key outside them is the caller's error (asserted). */
int mp__mr_table_init_dense(mp__mr_table *t, size_t key_size, size_t value_size, mp_mr_combine_fn combiner,
                            bool shared, uint64_t lo, uint64_t n);
/* A fixed-size key (1, 2, 4 or 8 bytes) as the integer it holds. */
uint64_t mp__mr_key_number(const void *key, size_t key_size);
void mp__mr_table_free(mp__mr_table *t);

/* Adds value under key: combined into the key's value, or appended to its
 * list.  0 or MP_ENOMEM (then nothing changed). */
int mp__mr_table_add(mp__mr_table *t, uint64_t hash, const void *key, size_t key_size, const void *value);
/* Appends every value of `src`'s list `first` (a record of src) to the
 * key's list in t: the merge of two list tables. */
int mp__mr_table_add_list(mp__mr_table *t, uint64_t hash, const void *key, size_t key_size,
                          const mp__mr_table *src, uint64_t first);

/* Hints for a caller that looks keys up in batches: bring the key's first
 * slot, then (once the slot has arrived) the entry it names, into the
 * cache ahead of mp__mr_table_add.  No effect on the table. */
static inline void mp__mr_table_prefetch_slot(const mp__mr_table *t, uint64_t hash)
{
    if (!t->dense_n)
        __builtin_prefetch(&t->slots[hash & t->mask]);
}

static inline void mp__mr_table_prefetch_entry(const mp__mr_table *t, uint64_t hash)
{
    if (t->dense_n)
        return;
    uint64_t s = t->slots[hash & t->mask];
    if (s)
        __builtin_prefetch(t->entries + ((uint32_t)s - 1) * t->stride);
}

/* A dense table's combine of an existing key, inline (the common case of
 * an emit): true if key k was there and value is folded into it; false if
 * the key is new (add it with mp__mr_table_add). */
static inline bool mp__mr_table_combine_dense(mp__mr_table *t, uint64_t k, const void *value)
{
    MP__ASSERT(k >= t->dense_lo && k - t->dense_lo < t->dense_n);
    uint32_t at = t->dense[k - t->dense_lo];
    if (!at)
        return false;
    t->combiner(t->entries + (size_t)(at - 1) * t->stride + t->value_at, value);
    return true;
}

/* Entry i (0 <= i < t->count). */
void mp__mr_table_entry(const mp__mr_table *t, size_t i, mp__mr_entry *e);
/* A list's value records: the value of record `at` (1-based) and the next. */
const void *mp__mr_table_list_value(const mp__mr_table *t, uint64_t at, uint64_t *next);

#endif
