/* mapreduce.c - map, combine, shuffle by key, reduce, on any pool.
 *
 * Two calls of the map family.  The map call runs the user's map over the
 * input; mp_emit puts each pair into the table of the emitting worker for
 * the key's partition (mr_table.c, in the shared arena), combining in
 * place when there is a combiner.  The reduce call runs one task per
 * partition: it merges every worker's table for that partition (on the
 * heap of the worker running it), calls the reduce per key, and writes the
 * (key, result) records into one arena block.  The caller then copies the
 * blocks into the result it hands out, and frees everything else.
 *
 * Nothing here knows the thread and process backends apart: the call's
 * state (`mr_call`, mr_call.h) lives in the arena and reaches tasks
 * through the context blob as one pointer, so thread and process workers
 * find it alike.  Pools whose workers share no memory with the caller (MPI)
 * run the same map and reduce code on each rank, tied together by
 * mapreduce_mpi.c.  Tables belong to a worker
 * slot and a process: a replacement worker that finds its slot's tables
 * left by a process that died inside a map task marks the run tainted --
 * the dead one may have combined part of a task that is now run again.
 */
#include "mr_call.h"
#include "mr_input.h"
#include "pool.h"
#include "shm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_CHUNK_BYTES (4u << 20)
#define MAX_KEY (UINT32_C(1) << 31)

typedef mp__mr_call mr_call;
typedef mp__mr_slot mr_worker;
typedef mp__mr_part part_out;

/* A pair waiting to be added.  A word count's tables are larger than the
 * caches, so a lookup's speed is memory latency: two cache misses, the
 * slot and the entry.  Pairs go through a short queue instead; the slot
 * line is prefetched when a pair is emitted, the entry line half a queue
 * later (when the slot has arrived), and the pair is added a whole queue
 * later, when both have: the misses of many lookups overlap. */
#define QUEUE 16                     /* pairs in flight, a power of two */
#define QUEUED_BYTES 32              /* keys and values up to this size wait; larger go at once */
#define SMALL_TABLE_SLOTS 4096       /* pairs for a table of fewer slots go at once */

typedef struct pending {
    uint64_t hash;
    mp__mr_table *table;
    size_t key_size;
    unsigned char key[QUEUED_BYTES];
    unsigned char value[QUEUED_BYTES];
} pending;

struct mp_emitter {
    mr_call *call;
    mr_worker *mine;
    int error;                       /* the first emit failure, 0: none */
    char message[MP_MESSAGE_MAX];
    unsigned head, count;            /* the queue: q[head], ... count pairs */
    pending q[QUEUE];
};

/* ---- records of the result ----------------------------------------------------
 * [key size : 8][reserved : 8][key, padded][result, padded], aligned to
 * `align` (16 for results of 16-byte multiples, else 8). */

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static size_t result_align(size_t result_size)
{
    return result_size >= 16 && result_size % 16 == 0 ? 16 : 8;
}

size_t mp__mr_record_bytes(size_t key_size, size_t result_size)
{
    size_t a = result_align(result_size);
    return 16 + align_up(key_size, a) + align_up(result_size, a);
}

/* ---- emitting (in map tasks) ------------------------------------------------ */

static int emit_failed(mp_emitter *e, int code, const char *fmt, ...) MP_PRINTF(3, 4);
static int emit_failed(mp_emitter *e, int code, const char *fmt, ...)
{
    if (!e->error) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
        e->error = code;
    }
    return mp__error(code, "%s", e->message);
}

static int add_now(mp_emitter *e, mp__mr_table *t, uint64_t hash, const void *key, size_t key_size,
                   const void *value)
{
    if (mp__mr_table_add(t, hash, key, key_size, value))
        return emit_failed(e, MP_ENOMEM, "mp_emit: the keys do not fit in the shared arena (%zu distinct in one "
                           "table; raise MPROC_SHM_SIZE%s)", t->count, e->call->combine ? "" : " or add a combiner");
    return 0;
}

/* Adds the oldest waiting pair.  0, or the error (also kept in e). */
static int add_oldest(mp_emitter *e)
{
    pending *q = &e->q[e->head];
    e->head = (e->head + 1) % QUEUE;
    e->count--;
    return add_now(e, q->table, q->hash, q->key, q->key_size, q->value);
}

/* Adds every waiting pair: at the end of each map task, so a task's pairs
 * are all in its worker's tables when it returns. */
static void drain(mp_emitter *e)
{
    while (e->count)
        add_oldest(e);
}

int mp_emit(mp_emitter *e, const void *key, size_t key_size, const void *value)
{
    if (!e || !key || !value)
        return mp__error(MP_EINVAL, "mp_emit: %s is NULL", !e ? "emit" : !key ? "key" : "value");
    mr_call *c = e->call;
    if (c->key_size ? key_size != c->key_size : key_size == 0 || key_size >= MAX_KEY)
        return emit_failed(e, MP_EINVAL, "mp_emit: key_size %zu (keys are %s)", key_size,
                           c->key_size ? "of one fixed size" : "1 to 2^31-1 bytes");
    uint64_t hash;
    size_t p;
    if (c->key_range) {
        hash = mp__mr_key_number(key, key_size);
        if (hash >= c->key_range)
            return emit_failed(e, MP_EINVAL, "mp_emit: key %llu is not below key_range %llu", (unsigned long long)hash,
                               (unsigned long long)c->key_range);
        p = c->partition ? c->partition(key, key_size, c->partitions) : mp__mr_dense_partition(c, hash);
    } else {
        hash = mp__mr_hash(key, key_size);
        p = c->partition ? c->partition(key, key_size, c->partitions)
                         : (size_t)(((hash >> 32) * (uint64_t)c->partitions) >> 32);
    }
    if (p >= c->partitions)
        return emit_failed(e, MP_EINVAL, "mp_emit: the partitioner returned %zu for %zu partitions", p, c->partitions);
    mp__mr_table *t = e->mine->tables && e->mine->tables[p].slots ? &e->mine->tables[p]
                                                                    : mp__mr_slot_table(c, (int)(e->mine - c->worker), p);
    if (!t)
        return emit_failed(e, MP_ENOMEM, "mp_emit: the shared arena is full (MPROC_SHM_SIZE)");
    if (t->dense_n && t->combine && mp__mr_table_combine_dense(t, hash, value))
        return e->error;
    /* A small or dense table stays in the caches: a lookup there misses
     * nothing, and the queue would only add copies. */
    if (key_size > QUEUED_BYTES || c->value_size > QUEUED_BYTES || t->mask < SMALL_TABLE_SLOTS || t->dense_n)
        return add_now(e, t, hash, key, key_size, value);
    if (e->count == QUEUE && add_oldest(e))
        return e->error;
    pending *q = &e->q[(e->head + e->count++) % QUEUE];
    q->hash = hash;
    q->table = t;
    q->key_size = key_size;
    memcpy(q->key, key, key_size);
    memcpy(q->value, value, c->value_size);
    mp__mr_table_prefetch_slot(t, hash);
    if (e->count > QUEUE / 2) {
        const pending *half = &e->q[(e->head + e->count - 1 - QUEUE / 2) % QUEUE];
        mp__mr_table_prefetch_entry(half->table, half->hash);
    }
    return e->error;
}

mp__mr_table *mp__mr_slot_table(mr_call *c, int s, size_t p)
{
    MP__ASSERT(s >= 0 && s < c->workers && p < c->partitions);
    mr_worker *w = &c->worker[s];
    if (!w->tables) {
        void *mem;
        if (mp__shm_alloc(c->partitions * sizeof *w->tables, true, &mem))
            return NULL;
        w->tables = mem;
    }
    mp__mr_table *t = &w->tables[p];
    if (t->slots)
        return t;
    int r;
    if (!c->key_range) {
        r = mp__mr_table_init(t, c->key_size, c->value_size, c->combine, true);
    } else if (c->partition) {       /* any key may come here */
        r = mp__mr_table_init_dense(t, c->key_size, c->value_size, c->combine, true, 0, c->key_range);
    } else {                         /* the keys k with mp__mr_dense_partition(k) == p */
        uint64_t P = c->partitions, lo = (p * c->key_range + P - 1) / P, hi = ((p + 1) * c->key_range + P - 1) / P;
        r = mp__mr_table_init_dense(t, c->key_size, c->value_size, c->combine, true, lo, hi - lo);
    }
    return r ? NULL : t;
}

const void *mp_emitter_context(const mp_emitter *e)
{
    return e ? e->call->context : NULL;
}

static void free_tables(mr_worker *w, size_t partitions)
{
    if (!w->tables)
        return;
    for (size_t p = 0; p < partitions; p++)
        if (w->tables[p].slots)
            mp__mr_table_free(&w->tables[p]);
    mp_shm_free(w->tables);
    w->tables = NULL;
}

/* The tables of this worker slot, for this process.  A process worker
 * replaced between two tasks (maxtasksperchild, or killed while idle) left
 * whole tables: its replacement carries on with them.  One that died in
 * the middle of a task may have left them torn, or combined part of a task
 * that is now run again: that taints the run (see the top of the file). */
static mr_worker *my_slot(mr_call *c, mp_task *task)
{
    mr_worker *w = &c->worker[mp_task_worker(task)];
    uint32_t me = mp__pid(), owner = atomic_load(&w->pid);
    if (owner != me) {
        if (owner && atomic_load(&w->busy)) {
            atomic_store(&c->tainted, 1);
            w->tables = NULL;        /* torn, maybe: left in the arena, never read */
        }
        atomic_store(&w->pid, me);
    }
    return w;
}

static int run_map(mr_call *c, mp_task *task, const void *in)
{
    mp_emitter e;
    e.call = c;
    e.mine = my_slot(c, task);
    e.error = 0;
    e.head = e.count = 0;
    /* Relaxed: only a replacement process reads it, after this one died. */
    atomic_store_explicit(&e.mine->busy, 1, memory_order_relaxed);
    int rc = c->map(task, in, &e);
    drain(&e);
    atomic_store_explicit(&e.mine->busy, 0, memory_order_relaxed);
    if (e.error)                     /* even if the map ignored mp_emit's answer */
        return mp_task_fail(task, e.error, "%s", e.message);
    return rc;
}

/* Maps a chunk's pages into this process's page tables in one call rather
 * than one fault per page: a process worker reading an arena buffer for
 * the first time would otherwise take a page fault every 4 KiB, which costs
 * more than a histogram's work on it.  A hint: failure changes nothing. */
static void populate(const void *data, size_t size)
{
    if (size < ((size_t)64 << 10))
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start = (uintptr_t)data & ~(page - 1);
    madvise((void *)start, (uintptr_t)data + size - start, MADV_POPULATE_READ);
}

int mp__mr_map_input(mr_call *c, mp_task *task, const void *in)
{
    if (c->input == MP__MR_BUFFER && c->populate) {
        const mp_mr_chunk *chunk = in;
        populate(chunk->data, chunk->size);
    }
    if (c->input != MP__MR_FILES)
        return run_map(c, task, in);
    const mp__mr_piece *piece = in;
    mp_mr_chunk chunk;
    void *base;
    size_t len;
    int e = mp__mr_map_piece(c->paths[piece->file], piece, &chunk, &base, &len);
    if (e)
        return mp_task_fail(task, e, "%s: cannot map bytes %llu..%llu: %s", c->paths[piece->file],
                            (unsigned long long)piece->offset, (unsigned long long)(piece->offset + piece->size),
                            strerror(-e));
    int rc = run_map(c, task, &chunk);
    munmap(base, len);
    return rc;
}

static int map_task(mp_task *task, const void *in, void *out)
{
    (void)out;
    return mp__mr_map_input(*(mr_call *const *)mp_task_context(task), task, in);
}

/* ---- reducing (one task per partition) ---------------------------------------- */

/* The partition's keys, merged over every worker's table: the one table
 * itself when only one worker saw the partition, else a heap table. */
static int merged_partition(const mr_call *c, size_t p, mp__mr_table *merged, const mp__mr_table **out)
{
    const mp__mr_table *only = NULL;
    int n = 0;
    for (int w = 0; w < c->workers; w++) {
        const mp__mr_table *t = c->worker[w].tables ? &c->worker[w].tables[p] : NULL;
        if (t && t->slots && t->count) {
            only = t;
            n++;
        }
    }
    *out = only;
    if (n <= 1)
        return 0;
    if (mp__mr_table_init(merged, c->key_size, c->value_size, c->combine, false))
        return MP_ENOMEM;
    for (int w = 0; w < c->workers; w++) {
        const mp__mr_table *t = c->worker[w].tables ? &c->worker[w].tables[p] : NULL;
        for (size_t i = 0; t && t->slots && i < t->count; i++) {
            mp__mr_entry e;
            mp__mr_table_entry(t, i, &e);
            int r = c->combine ? mp__mr_table_add(merged, e.hash, e.key, e.key_size, e.value)
                               : mp__mr_table_add_list(merged, e.hash, e.key, e.key_size, t, e.list);
            if (r)
                return r;
        }
    }
    *out = merged;
    return 0;
}

/* A key's values side by side in *scratch (grown as needed). */
static int gather(const mp__mr_table *t, const mp__mr_entry *e, char **scratch, size_t *cap)
{
    size_t bytes = (size_t)e->nvalues * t->value_size;
    if (bytes > *cap) {
        char *p = realloc(*scratch, bytes);
        if (!p)
            return MP_ENOMEM;
        *scratch = p;
        *cap = bytes;
    }
    size_t k = 0;
    for (uint64_t at = e->list; at; k++)
        memcpy(*scratch + k * t->value_size, mp__mr_table_list_value(t, at, &at), t->value_size);
    return 0;
}

static int write_records(const mr_call *c, mp_task *task, const mp__mr_table *t, part_out *out)
{
    size_t a = result_align(c->result_size), bytes = 0;
    for (size_t i = 0; i < t->count; i++) {
        mp__mr_entry e;
        mp__mr_table_entry(t, i, &e);
        bytes += mp__mr_record_bytes(e.key_size, c->result_size);
    }
    void *block;
    if (mp__shm_alloc(bytes, true, &block))
        return mp_task_fail(task, MP_ENOMEM, "map-reduce: no room in the shared arena for %zu results", t->count);
    char *rec = block, *scratch = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < t->count && !rc; i++) {
        mp__mr_entry e;
        mp__mr_table_entry(t, i, &e);
        uint64_t ksz = e.key_size;
        memcpy(rec, &ksz, 8);
        memcpy(rec + 16, e.key, e.key_size);
        char *result = rec + 16 + align_up(e.key_size, a);
        if (!c->reduce) {
            memcpy(result, e.value, c->value_size);
        } else if (c->combine) {
            rc = c->reduce(task, e.key, e.key_size, e.value, 1, result);
        } else if (gather(t, &e, &scratch, &cap)) {
            rc = mp_task_fail(task, MP_ENOMEM, "map-reduce: out of memory gathering %llu values",
                              (unsigned long long)e.nvalues);
        } else {
            rc = c->reduce(task, e.key, e.key_size, scratch, (size_t)e.nvalues, result);
        }
        rec += mp__mr_record_bytes(e.key_size, c->result_size);
    }
    free(scratch);
    if (rc) {
        mp_shm_free(block);
        return rc;
    }
    *out = (part_out){ block, t->count, bytes };
    return 0;
}

int mp__mr_reduce_task(mp_task *task, const void *in, void *out)
{
    (void)in;
    const mr_call *c = *(mr_call *const *)mp_task_context(task);
    size_t p = mp_task_index(task);
    /* Every element is written: on process pools `out` is a staging copy
     * whose other bytes are not ours to trust. */
    *(part_out *)out = (part_out){ NULL, 0, 0 };
    mp__mr_table merged = { 0 };
    const mp__mr_table *t;
    int rc = merged_partition(c, p, &merged, &t);
    if (rc)
        rc = mp_task_fail(task, MP_ENOMEM, "map-reduce: out of memory merging partition %zu", p);
    else if (t)
        rc = write_records(c, task, t, out);
    if (merged.slots)
        mp__mr_table_free(&merged);
    return rc;
}

/* ---- the run ---------------------------------------------------------------- */

static int check_mapreduce(const char *who, mp_pool *pool, const mp_mapreduce *mr, mp_mr_result *result)
{
    if (!result)
        return mp__error(MP_EINVAL, "%s: result is NULL", who);
    *result = (mp_mr_result){ 0, 0, NULL, NULL };
    if (!pool || !mr)
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !pool ? "pool" : "mapreduce");
    if (!mr->map)
        return mp__error(MP_EINVAL, "%s: the map function is NULL", who);
    if (!mr->value_size)
        return mp__error(MP_EINVAL, "%s: value_size is 0", who);
    if (!mr->combine && !mr->reduce)
        return mp__error(MP_EINVAL, "%s: without a combiner a reduce is needed (nothing would merge a key's values)", who);
    if (mr->result_size && !mr->reduce)
        return mp__error(MP_EINVAL, "%s: result_size %zu is set but there is no reduce to make results", who,
                         mr->result_size);
    if (mr->key_size >= MAX_KEY)
        return mp__error(MP_EINVAL, "%s: key_size %zu is over 2^31", who, mr->key_size);
    if (mr->key_range) {
        size_t ks = mr->key_size;
        if (ks != 1 && ks != 2 && ks != 4 && ks != 8)
            return mp__error(MP_EINVAL, "%s: key_range needs integer keys (key_size 1, 2, 4 or 8), not key_size %zu",
                             who, ks);
        if (ks < 8 && (mr->key_range - 1) >> (8 * ks))
            return mp__error(MP_EINVAL, "%s: key_range %llu is more than %zu-byte keys can hold", who,
                             (unsigned long long)mr->key_range, ks);
        if (mr->key_range > UINT32_MAX)
            return mp__error(MP_EINVAL, "%s: key_range %llu is over 2^32 (the tables would index more keys than "
                             "they can hold)", who, (unsigned long long)mr->key_range);
    }
    if (mr->context_size && !mr->context)
        return mp__error(MP_EINVAL, "%s: context is NULL but context_size is %zu", who, mr->context_size);
    if (mr->partitions > UINT32_MAX)
        return mp__error(MP_EINVAL, "%s: %zu partitions is too many", who, mr->partitions);
    if (mp_pool_workers(pool) < 1)
        return mp__error(MP_EINVAL, "%s: the pool is not open", who);
    return 0;
}

int mp__mr_call_new(const mp_mapreduce *mr, int workers, enum mp__mr_input input, const char *const *paths,
                    size_t npaths, mr_call **out)
{
    void *mem;
    if (mp__shm_alloc(sizeof(mr_call) + (size_t)workers * sizeof(mr_worker), true, &mem))
        return mp__error(MP_ENOMEM, "map-reduce: the shared arena is full");
    mr_call *c = mem;
    *c = (mr_call){ .map = mr->map, .combine = mr->combine, .reduce = mr->reduce, .partition = mr->partition,
                    .key_size = mr->key_size, .key_range = mr->key_range, .value_size = mr->value_size,
                    .result_size = mr->result_size ? mr->result_size : mr->value_size,
                    .partitions = mr->partitions ? mr->partitions : 4 * (size_t)workers,
                    .workers = workers, .input = input, .npaths = npaths };
    if (c->key_range > c->partitions)   /* below 2^64: P / R < 1 */
        c->dense_inverse = (uint64_t)((((unsigned __int128)c->partitions << 64) + c->key_range - 1) / c->key_range);
    int r = 0;
    if (mr->context_size && !(r = mp__shm_alloc(mr->context_size, false, &mem))) {
        memcpy(mem, mr->context, mr->context_size);
        c->context = mem;
        c->context_size = mr->context_size;
    }
    if (!r && npaths && !(r = mp__shm_alloc(npaths * sizeof *c->paths, true, &mem))) {
        c->paths = mem;
        for (size_t i = 0; i < npaths && !r; i++)
            if (!(r = mp__shm_alloc(strlen(paths[i]) + 1, false, &mem))) {
                strcpy(mem, paths[i]);
                c->paths[i] = mem;
            }
    }
    *out = c;
    return r ? mp__error(MP_ENOMEM, "map-reduce: the shared arena is full") : 0;
}

void mp__mr_call_free(mr_call *c)
{
    if (!c)
        return;
    for (int w = 0; w < c->workers; w++)
        free_tables(&c->worker[w], c->partitions);
    for (size_t i = 0; c->paths && i < c->npaths; i++)
        mp_shm_free(c->paths[i]);
    mp_shm_free(c->paths);
    mp_shm_free((void *)c->context);
    mp_shm_free(c);
}

int mp__mr_map_failed(const char *who, mp_failures *failures, const mp_mapreduce *mr)
{
    bool nomem = false;
    for (size_t i = 0; i < failures->count; i++)
        nomem |= failures->items[i].code == MP_ENOMEM;
    char first[MP_MESSAGE_MAX + 64] = "";
    if (failures->count)
        snprintf(first, sizeof first, "task %zu: %s", failures->items[0].index, failures->items[0].message);
    int r = nomem ? mp__error(MP_ENOMEM, "%s: the tables do not fit: %s", who, first)
                  : mp__error(MP_ETASK, "%s: %zu map tasks failed; first: %s", who, failures->count, first);
    if (mr->failures)
        *mr->failures = *failures;
    else
        mp_failures_free(failures);
    return r;
}

static int by_key_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    int d = memcmp(a, b, an < bn ? an : bn);
    return d ? d : (an > bn) - (an < bn);
}

typedef struct sort_by {
    mp_mr_compare_fn compare;
    bool values;                     /* by value, largest first; else by key */
    size_t value_size;
} sort_by;

static int compare_items(const void *x, const void *y, void *arg)
{
    const mp_kv *a = x, *b = y;
    const sort_by *by = arg;
    if (by->values)
        return by->compare(b->value, by->value_size, a->value, by->value_size);
    return by->compare(a->key, a->key_size, b->key, b->key_size);
}

/* One allocation for the records, one for the items. */
int mp__mr_collect(const char *who, size_t result_size, const part_out *parts, size_t n, mp_mr_result *result)
{
    size_t count = 0, bytes = 0;
    for (size_t p = 0; p < n; p++) {
        count += parts[p].count;
        bytes += parts[p].bytes;
    }
    if (!count)
        return 0;
    char *storage = malloc(bytes);
    mp_kv *items = malloc(count * sizeof *items);
    if (!storage || !items) {
        free(storage);
        free(items);
        return mp__error(MP_ENOMEM, "%s: out of memory for %zu results", who, count);
    }
    size_t a = result_align(result_size), k = 0;
    char *at = storage;
    for (size_t p = 0; p < n; p++) {
        if (!parts[p].count)
            continue;
        memcpy(at, parts[p].block, parts[p].bytes);
        for (size_t i = 0; i < parts[p].count; i++) {
            uint64_t ksz;
            memcpy(&ksz, at, 8);
            items[k++] = (mp_kv){ at + 16, (size_t)ksz, at + 16 + align_up((size_t)ksz, a) };
            at += mp__mr_record_bytes((size_t)ksz, result_size);
        }
    }
    *result = (mp_mr_result){ count, result_size, items, storage };
    return 0;
}

static void free_parts(part_out *parts, size_t n)
{
    for (size_t p = 0; p < n; p++)
        if (parts[p].block)
            mp_shm_free(parts[p].block);
    free(parts);
}

/* Both phases over `in` (count elements of in_size bytes: the user's
 * array, the buffer's chunks or the files' pieces). */
static int run(const char *who, mp_pool *pool, const mp_mapreduce *mr, mr_call *c, const void *in, size_t count,
               size_t in_size, size_t chunksize, mp_mr_result *result)
{
    mp_failures failures = { 0, NULL };
    mp_call call = { .chunksize = chunksize, .context = &c, .context_size = sizeof c, .failures = &failures,
                     .progress = mr->progress };
    if (!call.progress.label)
        call.progress.label = who;
    if (mr->failures)
        *mr->failures = (mp_failures){ 0, NULL };
    int r = mp_map(pool, map_task, in, count, in_size, NULL, 0, &call);
    if (r == MP_ETASK)
        return mp__mr_map_failed(who, &failures, mr);
    mp_failures_free(&failures);
    if (r)
        return r;
    if (atomic_load(&c->tainted))
        return mp__error(MP_ETASK, "%s: a worker died during the map (MP_EWORKER); its partial tables cannot be "
                         "trusted, so the run has no result", who);

    part_out *parts = calloc(c->partitions, sizeof *parts);
    if (!parts)
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    mp_call rcall = { .chunksize = 1, .context = &c, .context_size = sizeof c, .failures = mr->failures };
    r = mp_map(pool, mp__mr_reduce_task, NULL, c->partitions, 0, parts, sizeof *parts, &rcall);
    if (r == 0)
        r = mp__mr_collect(who, c->result_size, parts, c->partitions, result);
    free_parts(parts, c->partitions);
    if (r == 0)
        mp__mr_sort_result(mr, result);
    return r;
}

void mp__mr_sort_result(const mp_mapreduce *mr, mp_mr_result *result)
{
    if (mr->sort && result->count) {
        sort_by by = { mr->key_compare ? mr->key_compare : by_key_bytes, false, 0 };
        qsort_r(result->items, result->count, sizeof *result->items, compare_items, &by);
    }
}

int mp_mapreduce_array(mp_pool *pool, const mp_mapreduce *mr, const void *in, size_t count, size_t in_size,
                       mp_mr_result *result)
{
    static const char who[] = "mp_mapreduce_array";
    int r = check_mapreduce(who, pool, mr, result);
    if (r)
        return r;
    if ((in && !in_size) || (!in && in_size))
        return mp__error(MP_EINVAL, "%s: in is %s but in_size is %zu", who, in ? "set" : "NULL", in_size);
    if (mp__pool_ships_memory(pool))
        return mp__mr_run_shipped(who, pool, mr, MP__MR_ARRAY, in, count, in_size, NULL, 0, result);
    mr_call *c = NULL;
    if (!(r = mp__mr_call_new(mr, mp_pool_workers(pool), MP__MR_ARRAY, NULL, 0, &c)))
        r = run(who, pool, mr, c, in, count, in_size, 0, result);
    mp__mr_call_free(c);
    return r;
}

int mp_mapreduce_buffer(mp_pool *pool, const mp_mapreduce *mr, const char *data, size_t size, mp_mr_records records,
                        size_t record_size, mp_mr_result *result)
{
    static const char who[] = "mp_mapreduce_buffer";
    int r = check_mapreduce(who, pool, mr, result);
    if (r)
        return r;
    if (!data && size)
        return mp__error(MP_EINVAL, "%s: data is NULL but size is %zu", who, size);
    /* Process workers see a buffer only if it is in the arena: copy it
     * there for the call when it is not (the memory rule). */
    const char *visible = data;
    void *copy = NULL;
    if (size && !mp__pool_shares_memory(pool) && !mp__pool_ships_memory(pool) && !mp_shm_contains(data, size)) {
        if (mp__shm_alloc(size, false, &copy))
            return mp__error(MP_ENOMEM, "%s: no room in the shared arena for a copy of the %zu-byte buffer "
                             "(put it in mp_shm_alloc memory, or raise MPROC_SHM_SIZE)", who, size);
        memcpy(copy, data, size);
        visible = copy;
    }
    mp_mr_chunk *chunks = NULL;
    size_t n = 0;
    mr_call *c = NULL;
    r = mp__mr_cut_buffer(who, visible, size, records, record_size,
                          mr->chunk_bytes ? mr->chunk_bytes : DEFAULT_CHUNK_BYTES, &chunks, &n);
    if (!r && mp__pool_ships_memory(pool))
        r = mp__mr_run_shipped(who, pool, mr, MP__MR_BUFFER, chunks, n, sizeof *chunks, NULL, 0, result);
    else if (!r && !(r = mp__mr_call_new(mr, mp_pool_workers(pool), MP__MR_BUFFER, NULL, 0, &c))) {
        c->populate = !mp__pool_shares_memory(pool);   /* threads have the pages mapped already */
        r = run(who, pool, mr, c, chunks, n, sizeof *chunks, 1, result);
    }
    mp__mr_call_free(c);
    free(chunks);
    if (copy)
        mp_shm_free(copy);
    return r;
}

int mp_mapreduce_files(mp_pool *pool, const mp_mapreduce *mr, const char *const *paths, size_t npaths,
                       mp_mr_records records, size_t record_size, mp_mr_result *result)
{
    static const char who[] = "mp_mapreduce_files";
    int r = check_mapreduce(who, pool, mr, result);
    if (r)
        return r;
    if (!paths && npaths)
        return mp__error(MP_EINVAL, "%s: paths is NULL but npaths is %zu", who, npaths);
    for (size_t i = 0; i < npaths; i++)
        if (!paths[i])
            return mp__error(MP_EINVAL, "%s: paths[%zu] is NULL", who, i);
    mp__mr_piece *pieces = NULL;
    size_t n = 0;
    mr_call *c = NULL;
    r = mp__mr_cut_files(who, paths, npaths, records, record_size,
                         mr->chunk_bytes ? mr->chunk_bytes : DEFAULT_CHUNK_BYTES, &pieces, &n);
    if (!r && mp__pool_ships_memory(pool))
        r = mp__mr_run_shipped(who, pool, mr, MP__MR_FILES, pieces, n, sizeof *pieces, paths, npaths, result);
    else if (!r && !(r = mp__mr_call_new(mr, mp_pool_workers(pool), MP__MR_FILES, paths, npaths, &c)))
        r = run(who, pool, mr, c, pieces, n, sizeof *pieces, 1, result);
    mp__mr_call_free(c);
    free(pieces);
    return r;
}

#ifndef MPROC_HAVE_MPI_BACKEND
/* Only MPI pools ship memory, and this build has none. */
int mp__mr_run_shipped(const char *who, mp_pool *pool, const mp_mapreduce *mr, enum mp__mr_input input,
                       const void *in, size_t count, size_t in_size, const char *const *paths, size_t npaths,
                       mp_mr_result *result)
{
    MP__UNUSED(pool), MP__UNUSED(mr), MP__UNUSED(input), MP__UNUSED(in), MP__UNUSED(count), MP__UNUSED(in_size);
    MP__UNUSED(paths), MP__UNUSED(npaths), MP__UNUSED(result);
    return mp__error(MP_ENOTSUP, "%s: this pool ships memory, which only the MPI backend does", who);
}
#endif

int mp_mr_sort_by_value(mp_mr_result *result, mp_mr_compare_fn compare, size_t k)
{
    if (!result || !compare)
        return mp__error(MP_EINVAL, "mp_mr_sort_by_value: %s is NULL", result ? "compare" : "result");
    if (result->count) {
        sort_by by = { compare, true, result->value_size };
        qsort_r(result->items, result->count, sizeof *result->items, compare_items, &by);
    }
    if (k && k < result->count)
        result->count = k;
    return 0;
}

void mp_mr_result_free(mp_mr_result *result)
{
    if (!result)
        return;
    free(result->items);
    free(result->storage_);
    *result = (mp_mr_result){ 0, 0, NULL, NULL };
}
