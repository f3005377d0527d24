/* shm_value.c - shared Value and Array helpers (Python's
 * multiprocessing.Value and Array): typed storage in the shared arena with
 * an optional robust lock in front of it.
 *
 * A value is an array of one element; both share one layout: a header
 * (with the lock) on its own cache line, then the elements, 64-byte
 * aligned so that 8-byte atomics on them are always naturally aligned. */
#include "ipc.h"

#include <string.h>

#define HEADER_SIZE ((size_t)64)

typedef struct shared {
    uint32_t magic, flags;
    uint32_t owner;             /* pid of the process that may destroy it */
    size_t count, elem_size;
    mp_lock lock;
} shared;

_Static_assert(sizeof(shared) <= HEADER_SIZE, "the header must fit its cache line");

static unsigned char *data_of(shared *s)
{
    return (unsigned char *)s + HEADER_SIZE;
}

static int make(shared **out, size_t count, size_t elem_size, const void *init, int flags, const char *who)
{
    if (count == 0 || elem_size == 0)
        return mp__error(MP_EINVAL, "%s: %s is 0", who, count == 0 ? "count" : "element size");
    if (flags & ~MP_SHARED_NOLOCK)
        return mp__error(MP_EINVAL, "%s: unknown flags 0x%x", who, (unsigned)flags);
    if (count > (SIZE_MAX - HEADER_SIZE) / elem_size)
        return mp__error(MP_EINVAL, "%s: %zu elements of %zu bytes overflow", who, count, elem_size);
    void *mem;
    int r = mp_shm_alloc(HEADER_SIZE + count * elem_size, &mem);
    if (r < 0)
        return r;
    shared *s = mem;
    s->count = count;
    s->elem_size = elem_size;
    s->flags = (uint32_t)flags;
    s->owner = mp__pid();
    mp_lock_init(&s->lock);
    if (init)
        memcpy(data_of(s), init, count * elem_size);
    MP__STORE(&s->magic, MP__MAGIC_ARRAY);
    *out = s;
    return 0;
}

static int check(const shared *s, const char *who)
{
    if (!s)
        return mp__error(MP_EINVAL, "%s: object is NULL", who);
    if (MP__LOAD_RELAXED(&s->magic) != MP__MAGIC_ARRAY)
        return mp__error(MP_EINVAL, "%s: not a live shared value or array (destroyed?)", who);
    return 0;
}

static int destroy(shared *s, const char *who)
{
    int r = check(s, who);
    if (r < 0 || !mp__owns(&s->owner))
        return r;
    return mp__retire(s, &s->magic, MP__FLAG_ALLOCATED);
}

static int lock(shared *s, double timeout, const char *who)
{
    int r = check(s, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if (s->flags & MP_SHARED_NOLOCK)
        return mp__error(MP_EINVAL, "%s: created with MP_SHARED_NOLOCK", who);
    r = mp_lock_acquire(&s->lock, timeout);
    if (r == MP_EOWNERDEAD)
        mp__error(r, "%s: acquired; a process died while holding the lock", who);
    return r;
}

static int unlock(shared *s, const char *who)
{
    int r = check(s, who);
    if (r < 0)
        return r;
    if (s->flags & MP_SHARED_NOLOCK)
        return mp__error(MP_EINVAL, "%s: created with MP_SHARED_NOLOCK", who);
    return mp_lock_release(&s->lock);
}

/* Copies element `index` in or out, under the lock when there is one.  A
 * lock inherited from a dead holder still protects the copy. */
static int copy(shared *s, size_t index, void *buf, int to_caller, const char *who)
{
    int r = check(s, who);
    if (r < 0)
        return r;
    if (!buf)
        return mp__error(MP_EINVAL, "%s: buffer is NULL", who);
    if (index >= s->count)
        return mp__error(MP_EINVAL, "%s: index %zu out of range (length %zu)", who, index, s->count);
    int locked = !(s->flags & MP_SHARED_NOLOCK);
    if (locked && (r = mp_lock_acquire(&s->lock, MP_FOREVER)) < 0 && r != MP_EOWNERDEAD)
        return r;
    unsigned char *p = data_of(s) + index * s->elem_size;
    if (to_caller)
        memcpy(buf, p, s->elem_size);
    else
        memcpy(p, buf, s->elem_size);
    if (locked)
        mp_lock_release(&s->lock);
    return 0;
}

/* --- arrays ------------------------------------------------------------ */

int mp_shared_array_create(mp_shared_array **out, size_t count, size_t elem_size, const void *init, int flags)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_shared_array_create: out is NULL");
    shared *s = NULL;
    int r = make(&s, count, elem_size, init, flags, "mp_shared_array_create");
    if (r == 0)
        *out = (mp_shared_array *)(void *)s;
    return r;
}

int mp_shared_array_destroy(mp_shared_array *a) { return destroy((shared *)(void *)a, "mp_shared_array_destroy"); }

void *mp_shared_array_data(mp_shared_array *a)
{
    shared *s = (shared *)(void *)a;
    return check(s, "mp_shared_array_data") < 0 ? NULL : data_of(s);
}

size_t mp_shared_array_length(const mp_shared_array *a)
{
    const shared *s = (const shared *)(const void *)a;
    return check(s, "mp_shared_array_length") < 0 ? 0 : s->count;
}

int mp_shared_array_lock(mp_shared_array *a, double timeout) { return lock((shared *)(void *)a, timeout, "mp_shared_array_lock"); }
int mp_shared_array_unlock(mp_shared_array *a) { return unlock((shared *)(void *)a, "mp_shared_array_unlock"); }

int mp_shared_array_get(mp_shared_array *a, size_t index, void *out)
{
    return copy((shared *)(void *)a, index, out, 1, "mp_shared_array_get");
}

int mp_shared_array_set(mp_shared_array *a, size_t index, const void *in)
{
    return copy((shared *)(void *)a, index, (void *)in, 0, "mp_shared_array_set");
}

/* --- values --------------------------------------------------------------- */

int mp_value_create(mp_value **out, size_t size, const void *init, int flags)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_value_create: out is NULL");
    shared *s = NULL;
    int r = make(&s, 1, size, init, flags, "mp_value_create");
    if (r == 0)
        *out = (mp_value *)(void *)s;
    return r;
}

int mp_value_destroy(mp_value *v) { return destroy((shared *)(void *)v, "mp_value_destroy"); }

void *mp_value_ptr(mp_value *v)
{
    shared *s = (shared *)(void *)v;
    return check(s, "mp_value_ptr") < 0 ? NULL : data_of(s);
}

int mp_value_lock(mp_value *v, double timeout) { return lock((shared *)(void *)v, timeout, "mp_value_lock"); }
int mp_value_unlock(mp_value *v) { return unlock((shared *)(void *)v, "mp_value_unlock"); }

int mp_value_get(mp_value *v, void *out)
{
    return copy((shared *)(void *)v, 0, out, 1, "mp_value_get");
}

int mp_value_set(mp_value *v, const void *in)
{
    return copy((shared *)(void *)v, 0, (void *)in, 0, "mp_value_set");
}

/* The 8-byte typed helpers are single atomic instructions: no lock needed,
 * and none taken. */
static int64_t *i64_of(mp_value *v, const char *who, int *r)
{
    shared *s = (shared *)(void *)v;
    if ((*r = check(s, who)) < 0)
        return NULL;
    if (s->elem_size != 8) {
        *r = mp__error(MP_EINVAL, "%s: the value has %zu bytes, not 8", who, s->elem_size);
        return NULL;
    }
    return (int64_t *)(void *)data_of(s);
}

int mp_value_add_i64(mp_value *v, int64_t delta, int64_t *result)
{
    int r;
    int64_t *p = i64_of(v, "mp_value_add_i64", &r);
    if (!p)
        return r;
    /* The atomic add wraps around; so does the sum we report. */
    int64_t old = atomic_fetch_add(MP__ATOMIC(p), delta);
    int64_t now = (int64_t)((uint64_t)old + (uint64_t)delta);
    if (result)
        *result = now;
    return 0;
}

int mp_value_get_i64(mp_value *v, int64_t *out)
{
    int r;
    int64_t *p = i64_of(v, "mp_value_get_i64", &r);
    if (!p)
        return r;
    if (!out)
        return mp__error(MP_EINVAL, "mp_value_get_i64: out is NULL");
    *out = atomic_load(MP__ATOMIC(p));
    return 0;
}

int mp_value_set_i64(mp_value *v, int64_t x)
{
    int r;
    int64_t *p = i64_of(v, "mp_value_set_i64", &r);
    if (!p)
        return r;
    atomic_store(MP__ATOMIC(p), x);
    return 0;
}

int mp_value_get_f64(mp_value *v, double *out)
{
    int r;
    int64_t *p = i64_of(v, "mp_value_get_f64", &r);
    if (!p)
        return r;
    if (!out)
        return mp__error(MP_EINVAL, "mp_value_get_f64: out is NULL");
    int64_t bits = atomic_load(MP__ATOMIC(p));
    memcpy(out, &bits, sizeof *out);
    return 0;
}

int mp_value_set_f64(mp_value *v, double x)
{
    int r;
    int64_t *p = i64_of(v, "mp_value_set_f64", &r);
    if (!p)
        return r;
    int64_t bits;
    memcpy(&bits, &x, sizeof bits);
    atomic_store(MP__ATOMIC(p), bits);
    return 0;
}
