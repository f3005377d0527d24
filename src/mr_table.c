/* mr_table.c - map-reduce's hash table (see mr_table.h). */
#include "mr_table.h"
#include "shm.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_SLOTS 64
#define FIRST_ENTRIES 32
#define INLINE_KEY 16          /* byte-string keys up to this long live in the entry */

/* ---- the hash ------------------------------------------------------------ */

static inline uint64_t rotl(uint64_t x, int r) { return x << r | x >> (64 - r); }

static inline uint64_t finish(uint64_t x)
{
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    x *= UINT64_C(0xd6e8feb86659fd93);
    x ^= x >> 32;
    return x;
}

/* Eight bytes a step; every bit of the key reaches every bit of the hash,
 * so small integers (histogram bins) spread as well as words do. */
uint64_t mp__mr_hash(const void *key, size_t size)
{
    const unsigned char *p = key;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)size * UINT64_C(0xff51afd7ed558ccd));
    for (; size >= 8; p += 8, size -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = rotl(h ^ (v * UINT64_C(0x87c37b91114253d5)), 31) * UINT64_C(0x4cf5ad432745937f);
    }
    if (size) {
        uint64_t v = 0;
        memcpy(&v, p, size);
        h = rotl(h ^ (v * UINT64_C(0x87c37b91114253d5)), 31) * UINT64_C(0x4cf5ad432745937f);
    }
    return finish(h);
}

/* ---- memory ---------------------------------------------------------------- */

static void *t_alloc(const mp__mr_table *t, size_t bytes, bool zero)
{
    if (!t->shared)
        return zero ? calloc(1, bytes) : malloc(bytes);
    void *p;
    return mp__shm_alloc(bytes, zero, &p) == 0 ? p : NULL;
}

static void t_free(const mp__mr_table *t, void *p)
{
    if (!p)
        return;
    if (t->shared)
        mp_shm_free(p);
    else
        free(p);
}

/* Makes room for `need` units of `unit` bytes in *buf (capacity *cap
 * units), doubling.  The old contents are copied; nothing changes on
 * failure. */
static int reserve(mp__mr_table *t, char **buf, size_t *cap, size_t need, size_t unit, size_t used)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : FIRST_ENTRIES, bytes;
    while (n < need)
        n *= 2;
    if (mp__mul_overflows(n, unit, &bytes))
        return MP_ENOMEM;
    char *p = t_alloc(t, bytes, false);
    if (!p)
        return MP_ENOMEM;
    if (used)
        memcpy(p, *buf, used * unit);
    t_free(t, *buf);
    *buf = p;
    *cap = n;
    return 0;
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

int mp__mr_table_init(mp__mr_table *t, size_t key_size, size_t value_size, mp_mr_combine_fn combiner, bool shared)
{
    memset(t, 0, sizeof *t);
    t->key_size = key_size;
    t->value_size = value_size;
    t->combine = combiner != NULL;
    t->combiner = combiner;
    t->shared = shared;
    /* [hash][key, or offset and length][value, or list head and count];
     * values 8-aligned (16 for 16-byte multiples: long double, __int128). */
    size_t align = value_size >= 16 && value_size % 16 == 0 ? 16 : 8;
    t->key_at = 8;
    /* A byte-string key: [length : 4][unused : 4][16 bytes, or offset : 8]. */
    t->value_at = align_up(t->key_at + (key_size ? key_size : 8 + INLINE_KEY), align);
    t->stride = align_up(t->value_at + (t->combine ? value_size : 16), align);
    t->value_stride = align_up(8 + value_size, 8);
    t->slots = t_alloc(t, FIRST_SLOTS * sizeof *t->slots, true);
    if (!t->slots)
        return MP_ENOMEM;
    t->mask = FIRST_SLOTS - 1;
    return 0;
}

uint64_t mp__mr_key_number(const void *key, size_t key_size)
{
    switch (key_size) {
    case 1: { uint8_t v; memcpy(&v, key, 1); return v; }
    case 2: { uint16_t v; memcpy(&v, key, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, key, 4); return v; }
    default: { uint64_t v; MP__ASSERT(key_size == 8); memcpy(&v, key, 8); return v; }
    }
}

int mp__mr_table_init_dense(mp__mr_table *t, size_t key_size, size_t value_size, mp_mr_combine_fn combiner,
                            bool shared, uint64_t lo, uint64_t n)
{
    MP__ASSERT(key_size == 1 || key_size == 2 || key_size == 4 || key_size == 8);
    int r = mp__mr_table_init(t, key_size, value_size, combiner, shared);
    size_t bytes;
    if (r || n > SIZE_MAX || mp__mul_overflows((size_t)n ? (size_t)n : 1, sizeof *t->dense, &bytes) ||
        !(t->dense = t_alloc(t, bytes, true))) {
        mp__mr_table_free(t);
        return MP_ENOMEM;
    }
    t->dense_lo = lo;
    t->dense_n = n ? n : 1;
    return 0;
}

void mp__mr_table_free(mp__mr_table *t)
{
    t_free(t, t->dense);
    t->dense = NULL;
    t_free(t, t->slots);
    t_free(t, t->entries);
    t_free(t, t->keys);
    t_free(t, t->values);
    t->slots = NULL;
    t->entries = t->keys = t->values = NULL;
    t->count = 0;
}

/* ---- entries ----------------------------------------------------------------- */

static inline char *entry_at(const mp__mr_table *t, size_t i) { return t->entries + i * t->stride; }

static inline const void *key_of(const mp__mr_table *t, const char *e, size_t *size)
{
    if (t->key_size) {
        *size = t->key_size;
        return e + t->key_at;
    }
    uint32_t len;
    memcpy(&len, e + t->key_at, 4);
    *size = len;
    if (len <= INLINE_KEY)
        return e + t->key_at + 8;
    uint64_t at;
    memcpy(&at, e + t->key_at + 8, 8);
    return t->keys + at;
}

static inline uint64_t slot_tag(uint64_t hash) { return (hash >> 24) << 32; }

/* A probe compares a key with an entry's many times per emit: keys of up
 * to 16 bytes (words, integers) are compared as two 64-bit words, zero
 * padded, rather than through memcmp. */
typedef struct probe_key {
    const void *bytes;
    size_t size;
    bool words;              /* short: compare `w` */
    uint64_t w[2];
} probe_key;

static inline void probe_key_init(const mp__mr_table *t, probe_key *k, const void *key, size_t size)
{
    k->bytes = key;
    k->size = size;
    k->words = size <= INLINE_KEY && (!t->key_size || t->key_size % 8 == 0 || t->key_size == 4);
    if (k->words) {
        k->w[0] = k->w[1] = 0;
        memcpy(k->w, key, size);
    }
}

static inline bool same_key(const mp__mr_table *t, const char *e, const probe_key *k)
{
    size_t n;
    const void *stored = key_of(t, e, &n);
    if (n != k->size)
        return false;
    if (!k->words)
        return memcmp(stored, k->bytes, n) == 0;
    /* Inline string keys are zero padded to 16 bytes; fixed keys of 4, 8
     * or 16 bytes are read for their own size only. */
    uint64_t w[2] = { 0, 0 };
    memcpy(w, stored, t->key_size ? t->key_size : INLINE_KEY);
    return w[0] == k->w[0] && w[1] == k->w[1];
}

/* The slot holding key, or the empty slot where it would go. */
static inline size_t probe(const mp__mr_table *t, uint64_t hash, const probe_key *key, bool *found)
{
    uint64_t tag = slot_tag(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = t->slots[i];
        if (!s) {
            *found = false;
            return i;
        }
        if ((s & ~(uint64_t)UINT32_MAX) != tag)
            continue;
        const char *e = entry_at(t, (uint32_t)s - 1);
        uint64_t h;
        memcpy(&h, e, 8);
        if (h == hash && same_key(t, e, key)) {
            *found = true;
            return i;
        }
    }
}

/* Doubles the slot array, placing every entry anew. */
static int rehash(mp__mr_table *t)
{
    size_t slots = 2 * (t->mask + 1);
    uint64_t *s = t_alloc(t, slots * sizeof *s, true);
    if (!s)
        return MP_ENOMEM;
    size_t mask = slots - 1;
    for (size_t i = 0; i < t->count; i++) {
        uint64_t h;
        memcpy(&h, entry_at(t, i), 8);
        size_t j = h & mask;
        while (s[j])
            j = (j + 1) & mask;
        s[j] = slot_tag(h) | (i + 1);
    }
    t_free(t, t->slots);
    t->slots = s;
    t->mask = mask;
    return 0;
}

/* Finds key's entry, creating an empty one (value or list zeroed) if it is
 * new.  All memory is reserved before anything changes. */
/* find_or_insert for a dense table: the key indexes the entry numbers. */
static int find_or_insert_dense(mp__mr_table *t, const void *key, char **entry, bool *fresh)
{
    uint64_t k = mp__mr_key_number(key, t->key_size);
    MP__ASSERT(k >= t->dense_lo && k - t->dense_lo < t->dense_n);
    uint32_t *at = &t->dense[k - t->dense_lo];
    *fresh = *at == 0;
    if (*at) {
        *entry = entry_at(t, *at - 1);
        return 0;
    }
    if (t->count + 1 >= UINT32_MAX || reserve(t, &t->entries, &t->capacity, t->count + 1, t->stride, t->count))
        return MP_ENOMEM;
    char *e = entry_at(t, t->count);
    memset(e, 0, t->stride);
    memcpy(e, &k, 8);
    memcpy(e + t->key_at, key, t->key_size);
    *at = (uint32_t)++t->count;
    *entry = e;
    return 0;
}

static int find_or_insert(mp__mr_table *t, uint64_t hash, const void *key, size_t size, char **entry, bool *fresh)
{
    if (t->dense_n)
        return find_or_insert_dense(t, key, entry, fresh);
    bool found;
    probe_key k;
    probe_key_init(t, &k, key, size);
    size_t slot = probe(t, hash, &k, &found);
    *fresh = !found;
    if (found) {
        *entry = entry_at(t, (uint32_t)t->slots[slot] - 1);
        return 0;
    }
    if (t->count + 1 >= UINT32_MAX)
        return MP_ENOMEM;
    /* Load at most 5/8, so probes stay short. */
    bool grow_slots = 8 * (t->count + 1) > 5 * (t->mask + 1);
    if (reserve(t, &t->entries, &t->capacity, t->count + 1, t->stride, t->count))
        return MP_ENOMEM;
    if (!t->key_size && size > INLINE_KEY && reserve(t, &t->keys, &t->keys_cap, t->keys_len + size, 1, t->keys_len))
        return MP_ENOMEM;
    if (grow_slots) {
        if (rehash(t))
            return MP_ENOMEM;
        slot = probe(t, hash, &k, &found);
    }
    char *e = entry_at(t, t->count);
    memset(e, 0, t->stride);
    memcpy(e, &hash, 8);
    if (t->key_size) {
        memcpy(e + t->key_at, key, size);
    } else {
        uint32_t len = (uint32_t)size;
        memcpy(e + t->key_at, &len, 4);
        if (size <= INLINE_KEY) {
            memcpy(e + t->key_at + 8, key, size);
        } else {
            uint64_t at = t->keys_len;
            memcpy(t->keys + at, key, size);
            t->keys_len += size;
            memcpy(e + t->key_at + 8, &at, 8);
        }
    }
    t->slots[slot] = slot_tag(hash) | ++t->count;
    *entry = e;
    return 0;
}

/* Prepends a value record to the entry's list (the order of a key's values
 * is not part of the contract). */
static int push_value(mp__mr_table *t, char *entry, const void *value)
{
    if (reserve(t, &t->values, &t->values_cap, t->values_len + 1, t->value_stride, t->values_len))
        return MP_ENOMEM;
    uint64_t list[2];
    memcpy(list, entry + t->value_at, sizeof list);
    char *rec = t->values + t->values_len * t->value_stride;
    memcpy(rec, &list[0], 8);
    memcpy(rec + 8, value, t->value_size);
    list[0] = ++t->values_len;
    list[1]++;
    memcpy(entry + t->value_at, list, sizeof list);
    return 0;
}

int mp__mr_table_add(mp__mr_table *t, uint64_t hash, const void *key, size_t key_size, const void *value)
{
    char *e;
    bool fresh;
    /* A list's new value needs room too: reserve it before the entry. */
    if (!t->combine && reserve(t, &t->values, &t->values_cap, t->values_len + 1, t->value_stride, t->values_len))
        return MP_ENOMEM;
    int r = find_or_insert(t, hash, key, key_size, &e, &fresh);
    if (r)
        return r;
    if (!t->combine)
        return push_value(t, e, value);
    if (fresh)
        memcpy(e + t->value_at, value, t->value_size);
    else
        t->combiner(e + t->value_at, value);
    return 0;
}

int mp__mr_table_add_list(mp__mr_table *t, uint64_t hash, const void *key, size_t key_size,
                          const mp__mr_table *src, uint64_t first)
{
    char *e;
    bool fresh;
    int r = find_or_insert(t, hash, key, key_size, &e, &fresh);
    for (uint64_t at = first; at && !r;) {
        const void *v = mp__mr_table_list_value(src, at, &at);
        r = push_value(t, e, v);
    }
    return r;
}

void mp__mr_table_entry(const mp__mr_table *t, size_t i, mp__mr_entry *out)
{
    const char *e = entry_at(t, i);
    memcpy(&out->hash, e, 8);
    out->key = key_of(t, e, &out->key_size);
    if (t->combine) {
        out->value = (char *)e + t->value_at;
        out->list = out->nvalues = 0;
    } else {
        uint64_t list[2];
        memcpy(list, e + t->value_at, sizeof list);
        out->value = NULL;
        out->list = list[0];
        out->nvalues = list[1];
    }
}

const void *mp__mr_table_list_value(const mp__mr_table *t, uint64_t at, uint64_t *next)
{
    const char *rec = t->values + (at - 1) * t->value_stride;
    memcpy(next, rec, 8);
    return rec + 8;
}
