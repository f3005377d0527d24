/* mapreduce_mpi.c - map-reduce on an MPI pool: the map runs on the serving
 * ranks into tables of their own, the ranks shuffle partitions between
 * themselves, and each reduces the partitions it owns.
 *
 * The root describes the run once, in the map call's context blob (a
 * `wire`: function references, sizes, the user's context, the paths).  A
 * serving rank makes a run of its own (mp__mr_call, in its own arena) when
 * its first map task arrives, and the tasks emit into it exactly as on a
 * thread pool (mapreduce.c).  When the map call is over the root sends
 * every rank an MP__MPI_MR order.  Each rank then
 *
 *   1. sends each peer the entries of the partitions that peer owns
 *      (partition p belongs to rank index p * n / partitions, so each owns
 *      a contiguous block) and receives its own from every peer into
 *      slots of its run kept for them (slot workers + peer index);
 *   2. runs the ordinary reduce task on each partition it owns: the
 *      reduce merges its slots as it merges a thread pool's workers';
 *   3. replies to the root with its records and its reduce failures, and
 *      forgets the run.
 *
 * So pairs cross the network once, after combining, and the reduce runs on
 * every rank at once.  Orders go to the ranks under one lock, in the same
 * order to each, so two runs' shuffles never interleave differently on two
 * ranks.  A map that fails sends a "forget" order instead.
 */
#include "mpi_link.h"
#include "mr_call.h"
#include "mr_input.h"
#include "pool.h"
#include "shm.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The run as the root describes it; followed by the user's context, then
 * npaths NUL-ended paths. */
typedef struct wire {
    uint64_t run;                    /* the root's pid << 32 | a counter */
    mp__fnref map, combine, reduce, partition;
    uint64_t key_size, key_range, value_size, result_size, partitions;
    uint64_t context_size, npaths, paths_bytes;
    uint32_t input;                  /* enum mp__mr_input */
    uint32_t slots;                  /* the pool's workers + its serving ranks */
    uint64_t slice;                  /* a buffer cut in equal chunks: their size (see shipped_slice_task) */
} wire;

/* An order: this header, nranks members, then the wire. */
typedef struct order {
    uint32_t type;                   /* MP__MPI_MR */
    uint32_t forget;                 /* 1: the map failed; drop the run */
    uint32_t nranks, pad;
    uint64_t wire_bytes;
} order;

typedef struct member {
    int32_t rank;
    int32_t worker_base;
} member;

/* A rank's reply: this header, nfailed x (mp__mpi_failure + message), then
 * `bytes` of records. */
typedef struct reply {
    uint64_t count, bytes;
    uint32_t nfailed;
    int32_t code;                    /* 0, or why the rank could not reduce */
    char message[MP_MESSAGE_MAX];
} reply;

/* A buffer's chunk as a map task's input on the wire: this header, then
 * the chunk's bytes (every element is as long as the longest chunk). */
typedef struct shipped_chunk {
    uint64_t size, offset;
} shipped_chunk;

/* Messages are at most this long; longer data goes as several. */
#define PIECE ((size_t)1 << 30)

/* ---- long messages ---------------------------------------------------------- */

/* Appends n bytes (none is no failure). */
static bool put(mp__wbuf *b, const void *p, size_t n)
{
    return n == 0 || mp__wbuf_put(b, p, n) != NULL;
}


/* Sends len bytes as a length, then pieces; the requests go to *reqs
 * (1 + ceil(len / PIECE) of them, which the caller waits for). */
static int isend_long(const char *data, const uint64_t *len, int dest, int tag, MPI_Comm comm, MPI_Request *reqs)
{
    int n = 0;
    MPI_Isend(len, (int)sizeof *len, MPI_BYTE, dest, tag, comm, &reqs[n++]);
    for (uint64_t at = 0; at < *len; at += PIECE) {
        size_t piece = *len - at < PIECE ? (size_t)(*len - at) : PIECE;
        MPI_Isend(data + at, (int)piece, MPI_BYTE, dest, tag, comm, &reqs[n++]);
    }
    return n;
}

static size_t pieces_of(uint64_t len)
{
    return 1 + (size_t)((len + PIECE - 1) / PIECE);
}

/* Receives what isend_long sent into *buf.  false: out of memory. */
static bool recv_long(int source, int tag, MPI_Comm comm, mp__wbuf *buf)
{
    uint64_t len;
    MPI_Status st;
    mp__mpi_wait_message(comm, source, tag, &st);
    MPI_Recv(&len, (int)sizeof len, MPI_BYTE, source, tag, comm, MPI_STATUS_IGNORE);
    buf->len = 0;
    bool ok = len <= SIZE_MAX && put(buf, NULL, (size_t)len);
    for (uint64_t at = 0; at < len; at += PIECE) {
        size_t piece = len - at < PIECE ? (size_t)(len - at) : PIECE;
        mp__mpi_wait_message(comm, source, tag, &st);
        if (ok)
            MPI_Recv(buf->data + at, (int)piece, MPI_BYTE, source, tag, comm, MPI_STATUS_IGNORE);
        else
            MPI_Abort(comm, 77);   /* MPI cannot skip a message: the job cannot go on */
    }
    return ok;
}

/* ---- a serving rank's runs ---------------------------------------------------- */

typedef struct local_run {
    struct local_run *next;
    uint64_t id;
    mp__mr_call *call;
} local_run;

/* The runs this rank holds: made by the first map task of each, used by
 * the map tasks of every executor, shuffled and freed by the serving
 * thread.  The lock also orders a map task's emits before the shuffle
 * that reads them (the task takes it when it ends). */
static struct {
    pthread_mutex_t lock;
    local_run *head;
} runs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int resolve(const mp__fnref *ref, void (**fn)(void))
{
    return mp__fnref_resolve(ref, fn);
}

/* A run made from the wire w (of `len` bytes).  0, or an error with a
 * message. */
static int make_run(const char *w, size_t len, mp__mr_call **out)
{
    wire h;
    if (len < sizeof h)
        return mp__error(MP_EINVAL, "map-reduce: a short run description (%zu bytes)", len);
    memcpy(&h, w, sizeof h);
    if (h.context_size > len - sizeof h || h.paths_bytes > len - sizeof h - h.context_size)
        return mp__error(MP_EINVAL, "map-reduce: a short run description (%zu bytes)", len);
    void (*map)(void), (*combine)(void), (*reduce)(void), (*partition)(void);
    int r;
    if ((r = resolve(&h.map, &map)) || (r = resolve(&h.combine, &combine)) || (r = resolve(&h.reduce, &reduce)) ||
        (r = resolve(&h.partition, &partition)))
        return r;
    const char *context = w + sizeof h, *text = context + h.context_size, *end = text + h.paths_bytes;
    const char **paths = h.npaths ? calloc((size_t)h.npaths, sizeof *paths) : NULL;
    if (h.npaths && !paths)
        return mp__error(MP_ENOMEM, "map-reduce: out of memory");
    for (uint64_t i = 0; i < h.npaths; i++) {
        const char *nul = memchr(text, '\0', (size_t)(end - text));
        if (!nul) {
            free(paths);
            return mp__error(MP_EINVAL, "map-reduce: a short run description (paths)");
        }
        paths[i] = text;
        text = nul + 1;
    }
    mp_mapreduce mr = { .map = (mp_mr_map_fn)map, .combine = (mp_mr_combine_fn)combine,
                        .reduce = (mp_mr_reduce_fn)reduce, .partition = (mp_mr_partition_fn)partition,
                        .key_size = (size_t)h.key_size, .key_range = h.key_range, .value_size = (size_t)h.value_size,
                        .result_size = (size_t)h.result_size, .partitions = (size_t)h.partitions,
                        .context = h.context_size ? context : NULL, .context_size = (size_t)h.context_size };
    mp__mr_call *c = NULL;
    r = mp__mr_call_new(&mr, (int)h.slots, (enum mp__mr_input)h.input, paths, (size_t)h.npaths, &c);
    free(paths);
    if (r) {
        mp__mr_call_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* The run the wire describes, made on first use.  Holds runs.lock. */
static int find_run_locked(const char *w, size_t len, mp__mr_call **out)
{
    uint64_t id;
    if (len < sizeof(wire))
        return mp__error(MP_EINVAL, "map-reduce: a short run description (%zu bytes)", len);
    memcpy(&id, w, sizeof id);
    for (local_run *r = runs.head; r; r = r->next)
        if (r->id == id) {
            *out = r->call;
            return 0;
        }
    local_run *r = calloc(1, sizeof *r);
    if (!r)
        return mp__error(MP_ENOMEM, "map-reduce: out of memory");
    int e = make_run(w, len, &r->call);
    if (e) {
        free(r);
        return e;
    }
    r->id = id;
    r->next = runs.head;
    runs.head = r;
    *out = r->call;
    return 0;
}

/* Takes the run out of the list (NULL if this rank never made it). */
static mp__mr_call *take_run_locked(uint64_t id)
{
    for (local_run **at = &runs.head; *at; at = &(*at)->next)
        if ((*at)->id == id) {
            local_run *r = *at;
            mp__mr_call *c = r->call;
            *at = r->next;
            free(r);
            return c;
        }
    return NULL;
}

/* Runs the map over one input of a task on a serving rank, in the run its
 * context (the wire) describes. */
static int map_shipped(mp_task *task, const void *in)
{
    mp__mr_call *c;
    pthread_mutex_lock(&runs.lock);
    int e = find_run_locked(mp_task_context(task), mp_task_context_size(task), &c);
    pthread_mutex_unlock(&runs.lock);
    if (e)
        return mp_task_fail(task, e, "%s", mp_last_error());
    int rc = mp__mr_map_input(c, task, in);
    pthread_mutex_lock(&runs.lock);     /* the emits, before the shuffle reads them */
    pthread_mutex_unlock(&runs.lock);
    return rc;
}

/* A map task whose input is an array element, a file piece, or a packed
 * buffer chunk (a shipped_chunk and its bytes). */
static int shipped_map_task(mp_task *task, const void *in, void *out)
{
    (void)out;
    wire h;
    memcpy(&h, mp_task_context(task), sizeof h);
    if (h.input != MP__MR_BUFFER)
        return map_shipped(task, in);
    shipped_chunk head;
    memcpy(&head, in, sizeof head);
    mp_mr_chunk chunk = { (const char *)in + sizeof head, (size_t)head.size, 0, head.offset };
    return map_shipped(task, &chunk);
}

/* A map task over one of a buffer's equal chunks, sent from where it lies
 * in the caller's buffer: the chunk's offset is its index times their size. */
static int shipped_slice_task(mp_task *task, const void *in, void *out)
{
    (void)out;
    wire h;
    memcpy(&h, mp_task_context(task), sizeof h);
    mp_mr_chunk chunk = { in, (size_t)h.slice, 0, h.slice * mp_task_index(task) };
    return map_shipped(task, &chunk);
}

/* ---- the shuffle, on a serving rank ------------------------------------------- */

static size_t first_owned(size_t j, size_t n, size_t partitions)
{
    return (j * partitions + n - 1) / n;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* An entry on the wire: [partition : 8][key size : 8][values : 8][key,
 * padded][values, each padded]. */
static bool put_entries(mp__wbuf *b, const mp__mr_call *c, size_t lo, size_t hi, int slots)
{
    static const char zero[8];
    size_t vpad = pad8(c->value_size);
    for (int s = 0; s < slots; s++) {
        const mp__mr_slot *w = &c->worker[s];
        for (size_t p = lo; w->tables && p < hi; p++) {
            const mp__mr_table *t = &w->tables[p];
            for (size_t i = 0; t->slots && i < t->count; i++) {
                mp__mr_entry e;
                mp__mr_table_entry(t, i, &e);
                uint64_t head[3] = { p, e.key_size, e.value ? 1 : e.nvalues };
                if (!put(b, head, sizeof head) || !put(b, e.key, e.key_size) || !put(b, zero, pad8(e.key_size) - e.key_size))
                    return false;
                if (e.value) {
                    if (!put(b, e.value, c->value_size) || !put(b, zero, vpad - c->value_size))
                        return false;
                    continue;
                }
                for (uint64_t at = e.list; at;) {
                    const void *v = mp__mr_table_list_value(t, at, &at);
                    if (!put(b, v, c->value_size) || !put(b, zero, vpad - c->value_size))
                        return false;
                }
            }
        }
    }
    return true;
}

/* Adds a peer's entries into slot s.  0, MP_ENOMEM, or MP_EINVAL for a
 * malformed message. */
static int take_entries(mp__mr_call *c, int s, const char *p, const char *end, size_t lo, size_t hi)
{
    size_t vpad = pad8(c->value_size);
    while (p < end) {
        uint64_t head[3];
        if ((size_t)(end - p) < sizeof head)
            return MP_EINVAL;
        memcpy(head, p, sizeof head);
        p += sizeof head;
        if (head[0] < lo || head[0] >= hi || head[1] > (size_t)(end - p) ||
            head[2] > (size_t)(end - p - pad8((size_t)head[1])) / vpad)
            return MP_EINVAL;
        const char *key = p;
        size_t key_size = (size_t)head[1];
        p += pad8(key_size);
        if (c->key_range && (key_size != c->key_size || mp__mr_key_number(key, key_size) >= c->key_range ||
                             (!c->partition && mp__mr_dense_partition(c, mp__mr_key_number(key, key_size)) != head[0])))
            return MP_EINVAL;            /* a dense table has no room for it */
        mp__mr_table *t = mp__mr_slot_table(c, s, (size_t)head[0]);
        if (!t)
            return MP_ENOMEM;
        uint64_t hash = mp__mr_hash(key, key_size);
        for (uint64_t v = 0; v < head[2]; v++, p += vpad)
            if (mp__mr_table_add(t, hash, key, key_size, p))
                return MP_ENOMEM;
    }
    return 0;
}

/* The rank's reduce failures, as the reply carries them. */
typedef struct failure_sink {
    mp__wbuf buf;                    /* mp__mpi_failure + message, each */
    uint32_t count;
    bool lost;                       /* memory ran out: not all are in buf */
} failure_sink;

static void note_failure(void *arg, size_t index, int code, const char *message)
{
    failure_sink *sink = arg;
    char text[MP_MESSAGE_MAX];
    snprintf(text, sizeof text, "%s", message ? message : "the reduce failed");
    mp__mpi_failure f = { index, code, (uint32_t)strlen(text) };
    if (!put(&sink->buf, &f, sizeof f) || !put(&sink->buf, text, f.length))
        sink->lost = true;
    sink->count++;
}

/* Runs the reduce task of partitions [lo, hi) here; parts[p] gets each. */
static void reduce_owned(mp__mr_call *c, int worker, size_t lo, size_t hi, mp__mr_part *parts, failure_sink *sink)
{
    static const char none = 0;
    mp__job *job = calloc(1, sizeof *job);
    if (!job) {
        sink->lost = true;
        return;
    }
    job->kind = MP__KIND_MAP;
    job->fn = (void (*)(void))mp__mr_reduce_task;
    job->nargs = 1;
    job->in[0] = &none;              /* the reduce task reads no input */
    job->in_size[0] = 0;
    job->out = (char *)(parts + lo);
    job->out_size = sizeof *parts;
    job->ctx = &c;
    job->ctx_size = sizeof c;
    mp__sched_run_detached(job, worker, lo, hi, note_failure, sink);
    free(job);
}

/* The run's shuffle and reduce on this rank, `me` of the order's n ranks,
 * into *out (the reply to send).  With no run (c NULL: it could not be
 * made here, `head` says why) the rank still sends its peers an empty
 * message each and takes theirs: they wait for every rank. */
static void shuffle_and_reduce(MPI_Comm comm, const member *ranks, size_t n, size_t me, mp__mr_call *c,
                               reply head, mp__wbuf *out)
{
    failure_sink failures = { { NULL, 0, 0 }, 0, false };
    size_t P = c ? c->partitions : 0, workers = c ? (size_t)c->workers - n : 0;
    size_t lo = first_owned(me, n, P), hi = first_owned(me + 1, n, P);

    /* 1. Every peer's partitions to it, ours from every peer. */
    mp__wbuf *send = calloc(n, sizeof *send);
    uint64_t *lens = calloc(n, sizeof *lens);
    if (!send || !lens)
        MPI_Abort(comm, 78);         /* the peers wait for our messages: the job cannot go on */
    size_t nreqs = 0;
    for (size_t j = 0; j < n; j++)
        if (j != me) {
            if (c && !put_entries(&send[j], c, first_owned(j, n, P), first_owned(j + 1, n, P), (int)workers))
                MPI_Abort(comm, 78);
            lens[j] = send[j].len;
            nreqs += pieces_of(lens[j]);
        }
    MPI_Request *reqs = calloc(nreqs ? nreqs : 1, sizeof *reqs);
    if (!reqs)
        MPI_Abort(comm, 78);
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (j != me)
            k += (size_t)isend_long(send[j].data, &lens[j], ranks[j].rank, MP__MPI_TAG_MR_SHUFFLE, comm, reqs + k);
    mp__wbuf in = { NULL, 0, 0 };
    for (size_t j = 0; j < n; j++) {
        if (j == me)
            continue;
        if (!recv_long(ranks[j].rank, MP__MPI_TAG_MR_SHUFFLE, comm, &in))
            MPI_Abort(comm, 78);
        int e = head.code || !in.len ? 0 : take_entries(c, (int)(workers + j), in.data, in.data + in.len, lo, hi);
        if (e) {
            head.code = e;
            snprintf(head.message, sizeof head.message, "%s", e == MP_ENOMEM
                     ? "the keys do not fit in the shared arena (raise MPROC_SHM_SIZE)"
                     : "a malformed shuffle message");
        }
    }
    MPI_Waitall((int)nreqs, reqs, MPI_STATUSES_IGNORE);
    for (size_t j = 0; j < n; j++)
        mp__wbuf_free(&send[j]);
    free(send);
    free(lens);
    free(reqs);
    mp__wbuf_free(&in);

    /* 2. The reduce of each partition we own. */
    mp__mr_part *parts = head.code ? NULL : calloc(P ? P : 1, sizeof *parts);
    if (!parts && !head.code) {
        head.code = MP_ENOMEM;
        snprintf(head.message, sizeof head.message, "out of memory");
    }
    if (!head.code)
        reduce_owned(c, ranks[me].worker_base, lo, hi, parts, &failures);
    head.nfailed = failures.count;
    if (failures.lost && !head.code) {
        head.code = MP_ENOMEM;
        snprintf(head.message, sizeof head.message, "out of memory for the reduce failures");
    }

    /* 3. The reply: failures, then the records. */
    out->len = 0;
    bool ok = mp__wbuf_put(out, NULL, sizeof head) != NULL;
    if (!head.code && head.nfailed)
        ok = ok && put(out, failures.buf.data, failures.buf.len);
    for (size_t p = lo; parts && !head.code && !head.nfailed && p < hi; p++) {
        ok = ok && put(out, parts[p].block, parts[p].bytes);
        head.count += parts[p].count;
        head.bytes += parts[p].bytes;
    }
    for (size_t p = lo; parts && p < hi; p++)
        if (parts[p].block)
            mp_shm_free(parts[p].block);
    free(parts);
    mp__wbuf_free(&failures.buf);
    if (!ok)
        MPI_Abort(comm, 78);
    memcpy(out->data, &head, sizeof head);
}

void mp__mr_serve(MPI_Comm comm, int root, const char *msg, size_t len)
{
    order o;
    if (len < sizeof o)
        MPI_Abort(comm, 76);
    memcpy(&o, msg, sizeof o);
    const char *at = msg + sizeof o;
    if (o.nranks == 0 || o.nranks > (len - sizeof o) / sizeof(member) ||
        o.wire_bytes != len - sizeof o - o.nranks * sizeof(member))
        MPI_Abort(comm, 76);
    member *ranks = malloc(o.nranks * sizeof *ranks);
    if (!ranks)
        MPI_Abort(comm, 78);
    memcpy(ranks, at, o.nranks * sizeof *ranks);
    const char *w = at + o.nranks * sizeof *ranks;
    int self;
    MPI_Comm_rank(comm, &self);
    size_t me = 0;
    while (me < o.nranks && ranks[me].rank != self)
        me++;
    uint64_t id;
    memcpy(&id, w, sizeof id);
    reply head = { 0 };
    pthread_mutex_lock(&runs.lock);
    mp__mr_call *c = take_run_locked(id);
    /* No map task ran here: an empty run, to take the peers' entries. */
    if (!c && !o.forget && !(head.code = find_run_locked(w, (size_t)o.wire_bytes, &c)))
        c = take_run_locked(id);
    pthread_mutex_unlock(&runs.lock);
    if (o.forget || me == o.nranks) {
        mp__mr_call_free(c);
        free(ranks);
        return;
    }
    if (head.code)
        snprintf(head.message, sizeof head.message, "%s", mp_last_error());
    mp__wbuf out = { NULL, 0, 0 };
    shuffle_and_reduce(comm, ranks, o.nranks, me, c, head, &out);
    mp__mr_call_free(c);
    uint64_t n = out.len;
    MPI_Request *reqs = calloc(pieces_of(n), sizeof *reqs);
    if (!reqs)
        MPI_Abort(comm, 78);
    int k = isend_long(out.data, &n, root, MP__MPI_TAG_MR_REPLY, comm, reqs);
    MPI_Waitall(k, reqs, MPI_STATUSES_IGNORE);
    free(reqs);
    mp__wbuf_free(&out);
    free(ranks);
}

/* ---- the root ------------------------------------------------------------------ */

/* Orders go out to every rank under this lock, and the replies come back
 * under it: each rank then meets the runs' shuffles in one order. */
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t run_counter;

/* The wire of a run: references to the functions (MP_EINVAL if one cannot
 * be shipped), sizes, the context and the paths. */
static int describe(const char *who, const mp_mapreduce *mr, int slots, enum mp__mr_input input,
                    const char *const *paths, size_t npaths, size_t slice, mp__wbuf *out)
{
    wire h = { .run = (uint64_t)getpid() << 32 | (atomic_fetch_add(&run_counter, 1) & 0xffffffffu),
               .key_size = mr->key_size, .key_range = mr->key_range, .value_size = mr->value_size,
               .result_size = mr->result_size ? mr->result_size : mr->value_size,
               .partitions = mr->partitions ? mr->partitions : 4 * (size_t)slots,
               .context_size = mr->context_size, .npaths = npaths, .input = input, .slots = (uint32_t)slots,
               .slice = slice };
    const struct {
        const char *name;
        void (*fn)(void);
        mp__fnref *ref;
    } fns[4] = { { "the map function", (void (*)(void))mr->map, &h.map },
                 { "the combiner", (void (*)(void))mr->combine, &h.combine },
                 { "the reduce function", (void (*)(void))mr->reduce, &h.reduce },
                 { "the partitioner", (void (*)(void))mr->partition, &h.partition } };
    for (int i = 0; i < 4; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s: %s", who, fns[i].name);
        int r = mp__fnref_make(fns[i].fn, what, fns[i].ref);
        if (r)
            return r;
    }
    for (size_t i = 0; i < npaths; i++)
        h.paths_bytes += strlen(paths[i]) + 1;
    bool ok = put(out, &h, sizeof h) && put(out, mr->context, h.context_size);
    for (size_t i = 0; ok && i < npaths; i++)
        ok = put(out, paths[i], strlen(paths[i]) + 1);
    return ok ? 0 : mp__error(MP_ENOMEM, "%s: out of memory", who);
}

/* How many of the buffer's chunks, from the first, are of one size and
 * follow each other with nothing between: all of them, or all but a
 * shorter last one; else 0 (they are then packed). */
static size_t equal_chunks(const mp_mr_chunk *chunks, size_t n, size_t *size)
{
    if (n == 0 || chunks[0].size == 0 || chunks[0].offset != 0)
        return 0;
    size_t s = chunks[0].size, i = 1;
    while (i < n && chunks[i].size == s && chunks[i].data == chunks[0].data + i * s)
        i++;
    if (i < n - 1)
        return 0;
    *size = s;
    return i;
}

/* Adds `more` to `to`, their indexes moved on by `by`.  false: out of memory. */
static bool append_failures(mp_failures *to, const mp_failures *more, size_t by)
{
    if (!more->count)
        return true;
    mp_failure *items = realloc(to->items, (to->count + more->count) * sizeof *items);
    if (!items)
        return false;
    for (size_t i = 0; i < more->count; i++) {
        items[to->count + i] = more->items[i];
        items[to->count + i].index += by;
    }
    to->items = items;
    to->count += more->count;
    return true;
}

/* A buffer's chunks as map inputs: each element a shipped_chunk and the
 * chunk's bytes, as long as the longest chunk. */
static int pack_chunks(const char *who, const mp_mr_chunk *chunks, size_t n, char **out, size_t *elem)
{
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        longest = chunks[i].size > longest ? chunks[i].size : longest;
    size_t e = sizeof(shipped_chunk) + pad8(longest);
    if (n && e > SIZE_MAX / n)
        return mp__error(MP_ENOMEM, "%s: the buffer's chunks are too large to pack", who);
    char *p = calloc(n ? n : 1, e);
    if (!p)
        return mp__error(MP_ENOMEM, "%s: out of memory for the %zu chunks to send", who, n);
    for (size_t i = 0; i < n; i++) {
        shipped_chunk h = { chunks[i].size, chunks[i].offset };
        memcpy(p + i * e, &h, sizeof h);
        memcpy(p + i * e + sizeof h, chunks[i].data, chunks[i].size);
    }
    *out = p;
    *elem = e;
    return 0;
}

/* Sends the order to every rank; for a shuffle, takes each rank's reply
 * into parts[i] (its records in replies[i]) and its failures into *failed. */
static int give_order(const char *who, MPI_Comm comm, const mp__mpi_rank *ranks, int n, bool forget,
                      const mp__wbuf *w, mp__wbuf *replies, mp__mr_part *parts, mp_failures *failed)
{
    order o = { .type = MP__MPI_MR, .forget = forget, .nranks = (uint32_t)n, .wire_bytes = w->len };
    mp__wbuf msg = { NULL, 0, 0 };
    bool ok = mp__wbuf_put(&msg, &o, sizeof o) != NULL;
    for (int i = 0; ok && i < n; i++) {
        member m = { ranks[i].rank, ranks[i].worker_base };
        ok = mp__wbuf_put(&msg, &m, sizeof m) != NULL;
    }
    if (!ok || !mp__wbuf_put(&msg, w->data, w->len) || msg.len > INT_MAX) {
        mp__wbuf_free(&msg);
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    }
    int r = 0;
    pthread_mutex_lock(&order_lock);
    for (int i = 0; i < n; i++)
        MPI_Send(msg.data, (int)msg.len, MPI_BYTE, ranks[i].rank, MP__MPI_TAG_CONTROL, comm);
    for (int i = 0; !forget && i < n; i++) {
        if (!recv_long(ranks[i].rank, MP__MPI_TAG_MR_REPLY, comm, &replies[i]))
            MPI_Abort(comm, 78);
        reply h;
        if (replies[i].len < sizeof h)
            MPI_Abort(comm, 76);
        memcpy(&h, replies[i].data, sizeof h);
        h.message[sizeof h.message - 1] = '\0';
        const char *at = replies[i].data + sizeof h, *end = replies[i].data + replies[i].len;
        if (h.code && !r)
            r = mp__error(h.code, "%s: the shuffle on %s (rank %d) failed: %s", who, ranks[i].host, ranks[i].rank,
                          h.message);
        for (uint32_t f = 0; f < h.nfailed && at < end; f++) {
            mp__mpi_failure rec;
            memcpy(&rec, at, sizeof rec);
            at += sizeof rec;
            mp_failure *items = realloc(failed->items, (failed->count + 1) * sizeof *items);
            if (!items)
                continue;
            failed->items = items;
            mp_failure *item = &items[failed->count++];
            *item = (mp_failure){ (size_t)rec.index, rec.code, "" };
            snprintf(item->message, sizeof item->message, "%.*s", (int)rec.length, at);
            at += rec.length;
        }
        if ((uint64_t)(end - at) < h.bytes)
            MPI_Abort(comm, 76);
        parts[i] = (mp__mr_part){ (void *)at, (size_t)h.count, (size_t)h.bytes };
    }
    pthread_mutex_unlock(&order_lock);
    mp__wbuf_free(&msg);
    return r;
}

static int by_index(const void *a, const void *b)
{
    const mp_failure *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int mp__mr_run_shipped(const char *who, mp_pool *pool, const mp_mapreduce *mr, enum mp__mr_input input,
                       const void *in, size_t count, size_t in_size, const char *const *paths, size_t npaths,
                       mp_mr_result *result)
{
    MPI_Comm comm;
    int n;
    const mp__mpi_rank *ranks = mp__mpi_pool_ranks(pool, &comm, &n);
    /* A buffer cut in equal chunks (fixed-size records) goes from where
     * it is, but for a shorter last chunk; other cuts are packed. */
    size_t slices = 0, slice = 0;
    const char *base = NULL;
    if (input == MP__MR_BUFFER && (slices = equal_chunks(in, count, &slice)))
        base = ((const mp_mr_chunk *)in)[0].data;
    mp__wbuf w = { NULL, 0, 0 };
    int r = describe(who, mr, mp_pool_workers(pool) + n, input, paths, npaths, slice, &w);
    char *packed = NULL;
    size_t npacked = count - slices, packed_size = in_size;
    if (!r && input == MP__MR_BUFFER && npacked &&
        !(r = pack_chunks(who, (const mp_mr_chunk *)in + slices, npacked, &packed, &packed_size)))
        in = packed;
    if (r) {
        mp__wbuf_free(&w);
        return r;
    }
    if (mr->failures)
        *mr->failures = (mp_failures){ 0, NULL };

    /* The map, on the serving ranks. */
    mp_failures failures = { 0, NULL };
    mp_call call = { .chunksize = input == MP__MR_ARRAY ? 0 : 1, .context = w.data, .context_size = w.len,
                     .failures = &failures, .progress = mr->progress };
    if (!call.progress.label)
        call.progress.label = who;
    if (slices) {
        r = mp_map(pool, shipped_slice_task, base, slices, slice, NULL, 0, &call);
        call.progress = (mp_progress){ 0 };   /* one bar: the tail is a task */
    }
    if ((!r || r == MP_ETASK) && npacked) {
        mp_failures tail = { 0, NULL };
        call.failures = &tail;
        int t = mp_map(pool, shipped_map_task, in, npacked, packed_size, NULL, 0, &call);
        r = r ? r : t;
        if (t == MP_ETASK && !append_failures(&failures, &tail, slices))
            r = mp__error(MP_ENOMEM, "%s: out of memory for the list of failures", who);
        mp_failures_free(&tail);
    }
    free(packed);
    if (r) {
        give_order(who, comm, ranks, n, true, &w, NULL, NULL, NULL);
        mp__wbuf_free(&w);
        if (r == MP_ETASK)
            return mp__mr_map_failed(who, &failures, mr);
        mp_failures_free(&failures);
        return r;
    }

    /* The shuffle and the reduce, on the serving ranks; the records here. */
    mp__wbuf *replies = calloc((size_t)n, sizeof *replies);
    mp__mr_part *parts = calloc((size_t)n, sizeof *parts);
    if (!replies || !parts) {
        free(replies);
        free(parts);
        give_order(who, comm, ranks, n, true, &w, NULL, NULL, NULL);
        mp__wbuf_free(&w);
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    }
    r = give_order(who, comm, ranks, n, false, &w, replies, parts, &failures);
    wire h;
    memcpy(&h, w.data, sizeof h);
    if (!r && failures.count) {
        qsort(failures.items, failures.count, sizeof *failures.items, by_index);
        r = mp__error(MP_ETASK, "%s: %zu reduce tasks failed; first: task %zu: %s", who, failures.count,
                      failures.items[0].index, failures.items[0].message);
    }
    if (!r)
        r = mp__mr_collect(who, (size_t)h.result_size, parts, (size_t)n, result);
    if (r == MP_ETASK && mr->failures)
        *mr->failures = failures;
    else
        mp_failures_free(&failures);
    for (int i = 0; i < n; i++)
        mp__wbuf_free(&replies[i]);
    free(replies);
    free(parts);
    mp__wbuf_free(&w);
    if (!r)
        mp__mr_sort_result(mr, result);
    return r;
}
