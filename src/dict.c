/* dict.c - mp_dict: a hash table in shared memory mapping byte-string keys
 * to byte-string values (Python's Manager().dict(), without the server
 * process and its round trips).
 *
 * Open addressing with linear probing over fixed-size slots: each slot has
 * room for the largest key and value the table was made for, so the table
 * never allocates after creation and "full" is a clean MP_EFULL, never a
 * corruption.  There are twice as many slots as entries allowed, which
 * keeps probe sequences short.  Deleted slots become tombstones, except
 * that a run of tombstones ending at an empty slot is cleared at once.
 *
 * One robust lock guards the table.  A process killed inside an operation
 * leaves the table's structure valid: a new entry becomes visible only when
 * its slot is marked full, after its bytes are written; only an overwrite
 * of an existing value can be left torn. */
#include "ipc.h"

#include <stdlib.h>

#define DEFAULT_KEY_MAX 64
#define DEFAULT_VALUE_MAX 256

enum { SLOT_EMPTY = 0, SLOT_FULL = 1, SLOT_TOMB = 2 };

typedef struct slot {
    uint32_t state;
    uint32_t hash;
    uint32_t klen, vlen;
    unsigned char bytes[];      /* key_max bytes of key, then the value */
} slot;

struct mp_dict {
    uint32_t magic;
    uint32_t lock;
    uint32_t owner;             /* pid of the process that may destroy it */
    size_t capacity, nslots, key_max, value_max, slot_size;
    size_t count;
    unsigned char slots[] MP__ALIGNED;
};

static slot *slot_at(mp_dict *d, size_t i)
{
    return (slot *)(void *)(d->slots + i * d->slot_size);
}

static uint32_t hash_key(const void *key, size_t n)
{
    /* FNV-1a, then a final avalanche so that the low bits (the probe
     * start) depend on every byte. */
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = key;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static int dict_check(mp_dict *d, const char *who)
{
    if (!d)
        return mp__error(MP_EINVAL, "%s: dict is NULL", who);
    if (MP__LOAD_RELAXED(&d->magic) != MP__MAGIC_DICT)
        return mp__error(MP_EINVAL, "%s: not a live dict (destroyed?)", who);
    return 0;
}

static int key_check(mp_dict *d, const void *key, size_t klen, const char *who)
{
    if (!key && klen > 0)
        return mp__error(MP_EINVAL, "%s: key is NULL", who);
    if (klen > d->key_max)
        return mp__error(MP_EMSGSIZE, "%s: key of %zu bytes, the table allows %zu", who, klen, d->key_max);
    return 0;
}

static void lock(mp_dict *d)
{
    /* A dead holder left the structure valid (see above): carry on. */
    (void)mp__lock_word(&d->lock, MP_FOREVER, "mp_dict");
}

static void unlock(mp_dict *d)
{
    mp__unlock_word(&d->lock);
}

int mp_dict_create(mp_dict **out, size_t capacity, size_t key_max, size_t value_max)
{
    static const char who[] = "mp_dict_create";
    if (!out)
        return mp__error(MP_EINVAL, "%s: out is NULL", who);
    if (capacity == 0)
        return mp__error(MP_EINVAL, "%s: capacity is 0", who);
    if (key_max == 0)
        key_max = DEFAULT_KEY_MAX;
    if (value_max == 0)
        value_max = DEFAULT_VALUE_MAX;
    if (capacity > ((size_t)1 << 30) || key_max > UINT32_MAX / 2 || value_max > UINT32_MAX / 2)
        return mp__error(MP_EINVAL, "%s: capacity or sizes too large", who);
    size_t nslots = 8;
    while (nslots < 2 * capacity)
        nslots <<= 1;
    size_t slot_size = (sizeof(slot) + key_max + value_max + 7) & ~(size_t)7;
    if (slot_size > (SIZE_MAX - sizeof(mp_dict)) / nslots)
        return mp__error(MP_EINVAL, "%s: table too large", who);
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_dict) + nslots * slot_size, &mem);
    if (r < 0)
        return r;
    mp_dict *d = mem;
    d->capacity = capacity;
    d->nslots = nslots;
    d->key_max = key_max;
    d->value_max = value_max;
    d->slot_size = slot_size;
    d->owner = mp__pid();
    MP__STORE(&d->magic, MP__MAGIC_DICT);
    *out = d;
    return 0;
}

int mp_dict_destroy(mp_dict *d)
{
    int r = dict_check(d, "mp_dict_destroy");
    if (r < 0 || !mp__owns(&d->owner))
        return r;
    return mp__retire(d, &d->magic, MP__FLAG_ALLOCATED);
}

/* Under the lock: the slot holding `key`, or NULL.  *free_slot (if not
 * NULL) receives the first reusable slot on the probe path. */
static slot *find(mp_dict *d, const void *key, size_t klen, uint32_t h, slot **free_slot)
{
    size_t mask = d->nslots - 1;
    slot *reusable = NULL;
    for (size_t n = 0, i = h & mask; n < d->nslots; n++, i = (i + 1) & mask) {
        slot *s = slot_at(d, i);
        if (s->state == SLOT_EMPTY) {
            if (!reusable)
                reusable = s;
            break;
        }
        if (s->state == SLOT_TOMB) {
            if (!reusable)
                reusable = s;
            continue;
        }
        if (s->hash == h && s->klen == klen && (klen == 0 || memcmp(s->bytes, key, klen) == 0)) {
            if (free_slot)
                *free_slot = reusable;
            return s;
        }
    }
    if (free_slot)
        *free_slot = reusable;
    return NULL;
}

int mp_dict_set(mp_dict *d, const void *key, size_t klen, const void *value, size_t vlen)
{
    static const char who[] = "mp_dict_set";
    int r = dict_check(d, who);
    if (r < 0 || (r = key_check(d, key, klen, who)) < 0)
        return r;
    if (!value && vlen > 0)
        return mp__error(MP_EINVAL, "%s: value is NULL", who);
    if (vlen > d->value_max)
        return mp__error(MP_EMSGSIZE, "%s: value of %zu bytes, the table allows %zu", who, vlen, d->value_max);
    uint32_t h = hash_key(key, klen);
    lock(d);
    slot *reusable = NULL, *s = find(d, key, klen, h, &reusable);
    if (s) {
        if (vlen)
            memcpy(s->bytes + d->key_max, value, vlen);
        s->vlen = (uint32_t)vlen;
    } else if (d->count == d->capacity || !reusable) {
        r = mp__error(MP_EFULL, "%s: the table is full (%zu entries)", who, d->capacity);
    } else {
        s = reusable;
        s->hash = h;
        s->klen = (uint32_t)klen;
        s->vlen = (uint32_t)vlen;
        if (klen)
            memcpy(s->bytes, key, klen);
        if (vlen)
            memcpy(s->bytes + d->key_max, value, vlen);
        MP__STORE(&s->state, SLOT_FULL);
        d->count++;
    }
    unlock(d);
    return r;
}

int mp_dict_get(mp_dict *d, const void *key, size_t klen, void *buf, size_t cap, size_t *size)
{
    static const char who[] = "mp_dict_get";
    int r = dict_check(d, who);
    if (r < 0 || (r = key_check(d, key, klen, who)) < 0)
        return r;
    if (!size || (!buf && cap > 0))
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !size ? "size" : "buf");
    uint32_t h = hash_key(key, klen);
    lock(d);
    slot *s = find(d, key, klen, h, NULL);
    if (!s) {
        r = mp__error(MP_ENOENT, "%s: no such key", who);
    } else if (s->vlen > cap) {
        *size = s->vlen;
        r = mp__error(MP_ERANGE, "%s: the value has %u bytes, the buffer %zu", who, s->vlen, cap);
    } else {
        if (s->vlen)
            memcpy(buf, s->bytes + d->key_max, s->vlen);
        *size = s->vlen;
    }
    unlock(d);
    return r;
}

int mp_dict_get_alloc(mp_dict *d, const void *key, size_t klen, void **value, size_t *size)
{
    static const char who[] = "mp_dict_get_alloc";
    int r = dict_check(d, who);
    if (r < 0 || (r = key_check(d, key, klen, who)) < 0)
        return r;
    if (!value || !size)
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !value ? "value" : "size");
    /* Allocate before locking: nobody waits on our malloc. */
    void *buf = malloc(d->value_max ? d->value_max : 1);
    if (!buf)
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    size_t n;
    r = mp_dict_get(d, key, klen, buf, d->value_max, &n);
    if (r < 0) {
        free(buf);
        return r;
    }
    *value = buf;
    *size = n;
    return 0;
}

int mp_dict_delete(mp_dict *d, const void *key, size_t klen)
{
    static const char who[] = "mp_dict_delete";
    int r = dict_check(d, who);
    if (r < 0 || (r = key_check(d, key, klen, who)) < 0)
        return r;
    uint32_t h = hash_key(key, klen);
    lock(d);
    slot *s = find(d, key, klen, h, NULL);
    if (!s) {
        r = mp__error(MP_ENOENT, "%s: no such key", who);
    } else {
        size_t mask = d->nslots - 1;
        size_t i = (size_t)((unsigned char *)s - d->slots) / d->slot_size;
        s->state = SLOT_TOMB;
        d->count--;
        /* A tombstone just before an empty slot ends no probe sequence that
         * still matters: clear it, and the run of tombstones before it. */
        if (slot_at(d, (i + 1) & mask)->state == SLOT_EMPTY) {
            for (size_t n = 0; n < d->nslots && slot_at(d, i)->state == SLOT_TOMB; n++, i = (i - 1) & mask)
                slot_at(d, i)->state = SLOT_EMPTY;
        }
    }
    unlock(d);
    return r;
}

size_t mp_dict_len(mp_dict *d)
{
    if (dict_check(d, "mp_dict_len") < 0)
        return 0;
    lock(d);
    size_t n = d->count;
    unlock(d);
    return n;
}

int mp_dict_clear(mp_dict *d)
{
    int r = dict_check(d, "mp_dict_clear");
    if (r < 0)
        return r;
    lock(d);
    for (size_t i = 0; i < d->nslots; i++)
        slot_at(d, i)->state = SLOT_EMPTY;
    d->count = 0;
    unlock(d);
    return 0;
}

int mp_dict_next(mp_dict *d, size_t *cursor, void *key, size_t key_cap, size_t *klen, void *value, size_t value_cap,
                 size_t *vlen)
{
    static const char who[] = "mp_dict_next";
    int r = dict_check(d, who);
    if (r < 0)
        return r;
    if (!cursor || !klen || !vlen || (!key && key_cap) || (!value && value_cap))
        return mp__error(MP_EINVAL, "%s: NULL argument", who);
    lock(d);
    r = mp__error(MP_ENOENT, "%s: no more entries", who);
    for (size_t i = *cursor; i < d->nslots; i++) {
        slot *s = slot_at(d, i);
        if (s->state != SLOT_FULL)
            continue;
        if (s->klen > key_cap || s->vlen > value_cap) {
            *klen = s->klen;
            *vlen = s->vlen;
            r = mp__error(MP_ERANGE, "%s: entry needs %u key and %u value bytes", who, s->klen, s->vlen);
            break;
        }
        if (s->klen)
            memcpy(key, s->bytes, s->klen);
        if (s->vlen)
            memcpy(value, s->bytes + d->key_max, s->vlen);
        *klen = s->klen;
        *vlen = s->vlen;
        *cursor = i + 1;
        r = 0;
        break;
    }
    unlock(d);
    return r;
}

int mp_dict_set_str(mp_dict *d, const char *key, const void *value, size_t vlen)
{
    if (!key)
        return mp__error(MP_EINVAL, "mp_dict_set_str: key is NULL");
    return mp_dict_set(d, key, strlen(key), value, vlen);
}

int mp_dict_get_str(mp_dict *d, const char *key, void *buf, size_t cap, size_t *size)
{
    if (!key)
        return mp__error(MP_EINVAL, "mp_dict_get_str: key is NULL");
    return mp_dict_get(d, key, strlen(key), buf, cap, size);
}

int mp_dict_delete_str(mp_dict *d, const char *key)
{
    if (!key)
        return mp__error(MP_EINVAL, "mp_dict_delete_str: key is NULL");
    return mp_dict_delete(d, key, strlen(key));
}
