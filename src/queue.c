/* queue.c - mp_queue: a many-producer many-consumer message queue in shared
 * memory (Python's multiprocessing.Queue and JoinableQueue, without the
 * feeder thread and without pickling).
 *
 * Messages are framed (8-byte length, then the bytes) in one byte ring.  It
 * is a two-lock queue: producers serialise on the put lock and own `tail`,
 * consumers serialise on the get lock and own `head`, so one producer and
 * one consumer work at the same time.  A frame is copied in completely
 * before `tail` moves, so a consumer never sees part of a message, and a
 * producer killed in the middle of a put loses only its own message.  The
 * locks are the robust ones of sync_lock.c: a dead holder does not block
 * the queue.
 *
 * Only the lock holder of each side ever sleeps on the ring's event counts
 * (the others wait for the lock), so a notification wakes one sleeper. */
#include "ipc.h"

#include <limits.h>
#include <stdlib.h>

#define HEADER ((size_t)8)
#define DEFAULT_BYTES ((size_t)1 << 20)
#define MIN_BYTES ((size_t)64)

struct mp_queue {
    uint32_t magic, closed, flags;
    uint64_t max_items;
    size_t mask;

    uint32_t put_lock MP__ALIGNED;
    uint64_t tail;              /* stream position after the last frame */
    uint64_t nput;              /* frames published */
    mp__evc not_full;

    uint32_t get_lock MP__ALIGNED;
    uint64_t head;
    uint64_t nget;              /* frames consumed */
    mp__evc not_empty;

    uint64_t unfinished MP__ALIGNED; /* put, not yet task_done */
    mp__evc all_done;

    unsigned char ring[] MP__ALIGNED;
};

static int queue_check(mp_queue *q, const char *who)
{
    if (!q)
        return mp__error(MP_EINVAL, "%s: queue is NULL", who);
    if (MP__LOAD_RELAXED(&q->magic) != MP__MAGIC_QUEUE)
        return mp__error(MP_EINVAL, "%s: not a live queue (destroyed?)", who);
    return 0;
}

int mp_queue_create(mp_queue **out, size_t max_items, size_t max_bytes)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_queue_create: out is NULL");
    if (max_bytes == 0)
        max_bytes = DEFAULT_BYTES;
    if (max_bytes > ((size_t)1 << 40))
        return mp__error(MP_EINVAL, "mp_queue_create: max_bytes %zu is too large", max_bytes);
    size_t cap = MIN_BYTES;
    while (cap < max_bytes)
        cap <<= 1;
    void *mem;
    int r = mp_shm_alloc(sizeof(mp_queue) + cap, &mem);
    if (r < 0)
        return r;
    mp_queue *q = mem;
    q->max_items = max_items ? max_items : UINT64_MAX;
    q->mask = cap - 1;
    MP__STORE(&q->magic, MP__MAGIC_QUEUE);
    *out = q;
    return 0;
}

int mp_queue_destroy(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_destroy");
    if (r < 0)
        return r;
    MP__STORE(&q->magic, 0);
    return mp_shm_free(q);
}

int mp_queue_close(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_close");
    if (r < 0)
        return r;
    __atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
    mp__evc_notify(&q->not_empty, INT_MAX);
    mp__evc_notify(&q->not_full, INT_MAX);
    return 0;
}

/* Takes one side's lock within the caller's deadline.  A dead previous
 * holder is no harm here: frames are published only when complete. */
static int lock_side(uint32_t *lock, double deadline, double timeout, const char *who)
{
    double left = timeout;
    if (timeout > 0) {
        left = deadline - mp__now();
        if (left < 0)
            left = 0;
    }
    int r = mp__lock_word(lock, left, who);
    if (r == MP_EOWNERDEAD)
        r = 0;
    if (r < 0 && left == 0 && timeout > 0)
        r = mp__expired(who, timeout);
    return r;
}

/* Waits on `e` until ready(q, need) holds.  MP_ECLOSED when `closed_ends`
 * and the queue is closed (and the condition still false). */
static int wait_until(mp_queue *q, mp__evc *e, int (*ready)(mp_queue *, size_t), size_t need, double deadline,
                      double timeout, const char *who)
{
    int spin = timeout == 0 ? 0 : MP__SPIN_LIMIT;
    for (int i = 0;; i++) {
        if (ready(q, need)) {
            if (i > 0)
                mp__spin_feedback(1);
            return 0;
        }
        if (i == spin || MP__LOAD_RELAXED(&q->closed))
            break;
        mp__cpu_relax();
    }
    if (spin > 0)
        mp__spin_feedback(0);
    for (;;) {
        uint32_t s = mp__evc_prepare(e);
        int ok = ready(q, need);
        int closed = !ok && __atomic_load_n(&q->closed, __ATOMIC_SEQ_CST);
        int r = 0;
        if (!ok && !closed && timeout != 0)
            r = mp__sleep(&e->seq, s, deadline, INFINITY);
        mp__evc_done(e);
        if (ok)
            return 0;
        if (closed)
            return mp__error(MP_ECLOSED, "%s: the queue is closed", who);
        if (timeout == 0 || r == MP_ETIMEDOUT)
            return mp__expired(who, timeout);
    }
}

static int has_room(mp_queue *q, size_t frame)
{
    uint64_t used = MP__LOAD_RELAXED(&q->tail) - MP__LOAD(&q->head);
    uint64_t items = MP__LOAD_RELAXED(&q->nput) - MP__LOAD(&q->nget);
    return q->mask + 1 - used >= frame && items < q->max_items;
}

static int has_frame(mp_queue *q, size_t unused)
{
    (void)unused;
    return MP__LOAD(&q->tail) != MP__LOAD_RELAXED(&q->head);
}

int mp_queue_put(mp_queue *q, const void *msg, size_t size, double timeout)
{
    static const char who[] = "mp_queue_put";
    int r = queue_check(q, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if (!msg && size > 0)
        return mp__error(MP_EINVAL, "%s: msg is NULL but size is %zu", who, size);
    size_t cap = q->mask + 1;
    if (size > cap - HEADER)
        return mp__error(MP_EMSGSIZE, "%s: a %zu-byte message can never fit (at most %zu bytes)", who, size,
                         cap - HEADER);
    if (MP__LOAD(&q->closed))
        return mp__error(MP_ECLOSED, "%s: the queue is closed", who);
    double deadline = mp__deadline(timeout);
    if ((r = lock_side(&q->put_lock, deadline, timeout, who)) < 0)
        return r;
    r = wait_until(q, &q->not_full, has_room, HEADER + size, deadline, timeout, who);
    if (r == 0) {
        uint64_t tail = q->tail, len = size;
        mp__ring_put(q->ring, q->mask, tail, &len, HEADER);
        if (size)
            mp__ring_put(q->ring, q->mask, tail + HEADER, msg, size);
        __atomic_fetch_add(&q->unfinished, 1, __ATOMIC_RELAXED);
        MP__STORE(&q->nput, q->nput + 1);
        MP__STORE(&q->tail, tail + HEADER + size);
    }
    mp__unlock_word(&q->put_lock);
    if (r == 0)
        mp__evc_notify(&q->not_empty, 1);
    return r;
}

/* Under the get lock: waits for a frame and reads its size. */
static int peek(mp_queue *q, double deadline, double timeout, uint64_t *size, const char *who)
{
    int r = wait_until(q, &q->not_empty, has_frame, 0, deadline, timeout, who);
    if (r == 0)
        mp__ring_get(q->ring, q->mask, q->head, size, HEADER);
    return r;
}

/* Under the get lock, after peek: copies the frame out and frees it. */
static void take(mp_queue *q, void *dst, uint64_t size)
{
    if (size)
        mp__ring_get(q->ring, q->mask, q->head + HEADER, dst, (size_t)size);
    MP__STORE(&q->nget, q->nget + 1);
    MP__STORE(&q->head, q->head + HEADER + size);
}

static int get_checks(mp_queue *q, double timeout, const char *who)
{
    int r = queue_check(q, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    return 0;
}

int mp_queue_get(mp_queue *q, void *buf, size_t cap, size_t *size, double timeout)
{
    static const char who[] = "mp_queue_get";
    int r = get_checks(q, timeout, who);
    if (r < 0)
        return r;
    if (!size || (!buf && cap > 0))
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !size ? "size" : "buf");
    double deadline = mp__deadline(timeout);
    if ((r = lock_side(&q->get_lock, deadline, timeout, who)) < 0)
        return r;
    uint64_t n;
    if ((r = peek(q, deadline, timeout, &n, who)) == 0) {
        if (n > cap) {
            *size = (size_t)n;
            r = mp__error(MP_ERANGE, "%s: the message has %llu bytes, the buffer %zu", who, (unsigned long long)n, cap);
        } else {
            take(q, buf, n);
            *size = (size_t)n;
        }
    }
    mp__unlock_word(&q->get_lock);
    if (r == 0)
        mp__evc_notify(&q->not_full, 1);
    return r;
}

int mp_queue_get_alloc(mp_queue *q, void **msg, size_t *size, double timeout)
{
    static const char who[] = "mp_queue_get_alloc";
    int r = get_checks(q, timeout, who);
    if (r < 0)
        return r;
    if (!msg || !size)
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !msg ? "msg" : "size");
    double deadline = mp__deadline(timeout);
    if ((r = lock_side(&q->get_lock, deadline, timeout, who)) < 0)
        return r;
    uint64_t n;
    if ((r = peek(q, deadline, timeout, &n, who)) == 0) {
        void *buf = malloc(n ? (size_t)n : 1);
        if (!buf) {
            r = mp__error(MP_ENOMEM, "%s: cannot allocate %llu bytes (the message stays queued)", who,
                          (unsigned long long)n);
        } else {
            take(q, buf, n);
            *msg = buf;
            *size = (size_t)n;
        }
    }
    mp__unlock_word(&q->get_lock);
    if (r == 0)
        mp__evc_notify(&q->not_full, 1);
    return r;
}

size_t mp_queue_size(mp_queue *q)
{
    if (queue_check(q, "mp_queue_size") < 0)
        return 0;
    uint64_t got = MP__LOAD(&q->nget), put = MP__LOAD(&q->nput);
    return put > got ? (size_t)(put - got) : 0;
}

int mp_queue_empty(mp_queue *q)
{
    return mp_queue_size(q) == 0;
}

int mp_queue_full(mp_queue *q)
{
    if (queue_check(q, "mp_queue_full") < 0)
        return 0;
    uint64_t used = MP__LOAD(&q->tail) - MP__LOAD(&q->head);
    return mp_queue_size(q) >= q->max_items || used + HEADER > q->mask + 1;
}

int mp_queue_task_done(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_task_done");
    if (r < 0)
        return r;
    uint64_t v = MP__LOAD_RELAXED(&q->unfinished);
    do {
        if (v == 0)
            return mp__error(MP_EINVAL, "mp_queue_task_done: called more times than items were put");
    } while (!__atomic_compare_exchange_n(&q->unfinished, &v, v - 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (v == 1)
        mp__evc_notify(&q->all_done, INT_MAX);
    return 0;
}

static int nothing_unfinished(mp_queue *q, size_t unused)
{
    (void)unused;
    return MP__LOAD(&q->unfinished) == 0;
}

int mp_queue_join(mp_queue *q, double timeout)
{
    static const char who[] = "mp_queue_join";
    int r = queue_check(q, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    double deadline = mp__deadline(timeout);
    for (;;) {
        uint32_t s = mp__evc_prepare(&q->all_done);
        int ok = nothing_unfinished(q, 0);
        int w = 0;
        if (!ok && timeout != 0)
            w = mp__sleep(&q->all_done.seq, s, deadline, INFINITY);
        mp__evc_done(&q->all_done);
        if (ok)
            return 0;
        if (timeout == 0 || w == MP_ETIMEDOUT)
            return mp__expired(who, timeout);
    }
}
