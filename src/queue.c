/* queue.c - mp_queue: a many-producer many-consumer message queue in shared
 * memory (Python's multiprocessing.Queue and JoinableQueue, without the
 * feeder thread and without pickling).
 *
 * Messages are framed (8-byte length, then the bytes) in one byte ring.  It
 * is a two-lock queue: producers serialise on the put side's lock and own
 * `tail`, consumers on the get side's lock and own `head`, so one producer
 * and one consumer work at the same time.  A frame is copied in completely
 * before `tail` moves, so a consumer never sees part of a message.  The
 * locks are the robust ones of sync_lock.c: a dead holder does not block
 * the queue.
 *
 * Crash consistency.  Each side keeps two words that must agree: its
 * stream position (tail / head) and its frame count (nput / nget).  No
 * single store can move both, so a holder about to move them first writes
 * a commit record (the position and count it will store), then stores the
 * count, then the position -- the commit point -- then clears the record.
 * A process killed anywhere in between leaves the record behind, and
 * whoever next takes the side's lock from the dead holder (the next
 * producer or consumer, or join and the size snapshots, which reclaim an
 * abandoned lock) repairs the count from the position: the frame was
 * published (or taken) exactly when the position reached the recorded one.
 * A killed producer therefore loses only its own unpublished message, and a
 * killed consumer's message is delivered again unless it was taken.
 *
 * Joinability needs no third counter that could drift: the unfinished
 * tasks are nput - ndone, where ndone counts mp_queue_task_done calls with
 * one atomic step each.
 *
 * Only the lock holder of each side ever sleeps on the ring's event counts
 * (the others wait for the lock), so a notification wakes one sleeper. */
#include "ipc.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#define HEADER ((size_t)8)
#define DEFAULT_BYTES ((size_t)1 << 20)
#define MIN_BYTES ((size_t)64)

int mp__queue_crash_step;

static void crash_point(int step)
{
    if (MP__UNLIKELY(MP__LOAD_RELAXED(&mp__queue_crash_step) == step))
        raise(SIGKILL);
}

/* One end of the ring, written only by the holder of its lock. */
typedef struct side {
    uint32_t lock MP__ALIGNED;
    uint64_t pos;               /* tail (put side) or head (get side) */
    uint64_t count;             /* frames published / consumed */
    uint64_t next_pos;          /* commit record: the pos and count being */
    uint64_t next_count;        /*   stored; next_count 0 means none */
    mp__evc wait;               /* the holder sleeps here: for room / for a frame */
} side;

struct mp_queue {
    uint32_t magic, closed;
    uint32_t owner;             /* pid of the process that may destroy it */
    uint64_t max_items;
    size_t mask;
    side put, get;
    uint64_t ndone MP__ALIGNED; /* mp_queue_task_done calls */
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
    q->owner = mp__pid();
    MP__STORE(&q->magic, MP__MAGIC_QUEUE);
    *out = q;
    return 0;
}

int mp_queue_destroy(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_destroy");
    if (r < 0 || !mp__owns(&q->owner))
        return r;
    return mp__retire(q, &q->magic, MP__FLAG_ALLOCATED);
}

int mp_queue_close(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_close");
    if (r < 0 || !mp__owns(&q->owner))
        return r;
    atomic_store(MP__ATOMIC(&q->closed), 1);
    mp__evc_notify(&q->get.wait, INT_MAX, true);
    mp__evc_notify(&q->put.wait, INT_MAX, true);
    return 0;
}

/* --- commits and their repair (see the top of the file) ----------------- */

/* Under the side's lock: moves the side to `pos` and counts one frame. */
static void commit(side *s, uint64_t pos, int first_step)
{
    uint64_t count = s->count + 1;
    MP__STORE_RELAXED(&s->next_pos, pos);
    MP__STORE(&s->next_count, count);
    crash_point(first_step);
    MP__STORE(&s->count, count);
    crash_point(first_step + 1);
    MP__STORE(&s->pos, pos);
    crash_point(first_step + 2);
    MP__STORE(&s->next_count, 0);
    crash_point(first_step + 3);
}

/* Under the side's lock, taken from a holder that died: completes or
 * undoes the count of a commit it left half done.  The position is the
 * truth; the count may have been stored ahead of it. */
static void repair(side *s)
{
    uint64_t count = MP__LOAD(&s->next_count);
    if (count == 0)
        return;
    int moved = MP__LOAD(&s->pos) == MP__LOAD_RELAXED(&s->next_pos);
    MP__STORE(&s->count, moved ? count : count - 1);
    MP__STORE(&s->next_count, 0);
}

/* Repairs a side whose holder died in the middle of a commit, without
 * waiting for its next user: join and the snapshots read the counts. */
static void settle(side *s)
{
    if (MP__LIKELY(MP__LOAD(&s->next_count) == 0))
        return;
    if (mp__lock_word_reclaim(&s->lock)) {
        repair(s);
        mp__unlock_word(&s->lock);
    }
}

/* Takes one side's lock within the caller's deadline, repairing what a
 * dead previous holder left. */
static int lock_side(side *s, double deadline, double timeout, const char *who)
{
    double left = timeout;
    if (timeout > 0) {
        left = deadline - mp__now();
        if (left < 0)
            left = 0;
    }
    int r = mp__lock_word(&s->lock, left, who);
    if (r == MP_EOWNERDEAD) {
        repair(s);
        r = 0;
    }
    if (r < 0 && left == 0 && timeout > 0)
        r = mp__expired(who, timeout);
    return r;
}

/* --- waiting ------------------------------------------------------------ */

/* Waits on `e` until ready(q, need) holds.  MP_ECLOSED when the queue is
 * closed (and the condition still false). */
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
        int closed = !ok && atomic_load(MP__ATOMIC(&q->closed));
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

/* Frames in the queue.  A count may run one ahead of its position while a
 * commit is in progress (or until a dead committer's side is repaired), so
 * clamp rather than wrap. */
static uint64_t items(mp_queue *q)
{
    uint64_t got = MP__LOAD(&q->get.count), put = MP__LOAD(&q->put.count);
    return put > got ? put - got : 0;
}

static int has_room(mp_queue *q, size_t frame)
{
    uint64_t used = MP__LOAD_RELAXED(&q->put.pos) - MP__LOAD(&q->get.pos);
    return q->mask + 1 - used >= frame && items(q) < q->max_items;
}

static int has_frame(mp_queue *q, size_t unused)
{
    (void)unused;
    return MP__LOAD(&q->put.pos) != MP__LOAD_RELAXED(&q->get.pos);
}

/* --- put and get ---------------------------------------------------------- */

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
    if ((r = lock_side(&q->put, deadline, timeout, who)) < 0)
        return r;
    crash_point(MP__QSTEP_PUT_LOCKED);
    r = wait_until(q, &q->put.wait, has_room, HEADER + size, deadline, timeout, who);
    if (r == 0) {
        uint64_t tail = q->put.pos, len = size;
        mp__ring_put(q->ring, q->mask, tail, &len, HEADER);
        if (size)
            mp__ring_put(q->ring, q->mask, tail + HEADER, msg, size);
        crash_point(MP__QSTEP_PUT_COPIED);
        commit(&q->put, tail + HEADER + size, MP__QSTEP_PUT_RECORDED);
    }
    mp__unlock_word(&q->put.lock);
    if (r == 0)
        mp__evc_notify(&q->get.wait, 1, true);
    return r;
}

/* Under the get lock: waits for a frame and reads its size. */
static int peek(mp_queue *q, double deadline, double timeout, uint64_t *size, const char *who)
{
    int r = wait_until(q, &q->get.wait, has_frame, 0, deadline, timeout, who);
    if (r == 0)
        mp__ring_get(q->ring, q->mask, q->get.pos, size, HEADER);
    return r;
}

/* Under the get lock, after peek: copies the frame out and frees it. */
static void take(mp_queue *q, void *dst, uint64_t size)
{
    uint64_t head = q->get.pos;
    if (size)
        mp__ring_get(q->ring, q->mask, head + HEADER, dst, (size_t)size);
    crash_point(MP__QSTEP_GET_COPIED);
    commit(&q->get, head + HEADER + size, MP__QSTEP_GET_RECORDED);
}

/* Checks, locks the get side and peeks at the next frame's size: 0 with
 * the lock held, or an error without it. */
static int get_begin(mp_queue *q, double timeout, uint64_t *size, const char *who)
{
    int r = queue_check(q, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    double deadline = mp__deadline(timeout);
    if ((r = lock_side(&q->get, deadline, timeout, who)) < 0)
        return r;
    crash_point(MP__QSTEP_GET_LOCKED);
    if ((r = peek(q, deadline, timeout, size, who)) < 0)
        mp__unlock_word(&q->get.lock);
    return r;
}

/* Releases the get side after get_begin; `took` wakes a waiting producer. */
static void get_end(mp_queue *q, int took)
{
    mp__unlock_word(&q->get.lock);
    if (took)
        mp__evc_notify(&q->put.wait, 1, true);
}

int mp_queue_get(mp_queue *q, void *buf, size_t cap, size_t *size, double timeout)
{
    static const char who[] = "mp_queue_get";
    if (q && (!size || (!buf && cap > 0)))
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !size ? "size" : "buf");
    uint64_t n;
    int r = get_begin(q, timeout, &n, who);
    if (r < 0)
        return r;
    if (n > cap) {
        *size = (size_t)n;
        r = mp__error(MP_ERANGE, "%s: the message has %llu bytes, the buffer %zu", who, (unsigned long long)n, cap);
    } else {
        take(q, buf, n);
        *size = (size_t)n;
    }
    get_end(q, r == 0);
    return r;
}

int mp_queue_get_alloc(mp_queue *q, void **msg, size_t *size, double timeout)
{
    static const char who[] = "mp_queue_get_alloc";
    if (q && (!msg || !size))
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !msg ? "msg" : "size");
    uint64_t n;
    int r = get_begin(q, timeout, &n, who);
    if (r < 0)
        return r;
    void *buf = malloc(n ? (size_t)n : 1);
    if (!buf) {
        r = mp__error(MP_ENOMEM, "%s: cannot allocate %llu bytes (the message stays queued)", who,
                      (unsigned long long)n);
    } else {
        take(q, buf, n);
        *msg = buf;
        *size = (size_t)n;
    }
    get_end(q, r == 0);
    return r;
}

/* --- snapshots and joining ------------------------------------------------ */

size_t mp_queue_size(mp_queue *q)
{
    if (queue_check(q, "mp_queue_size") < 0)
        return 0;
    settle(&q->put);
    settle(&q->get);
    return (size_t)items(q);
}

int mp_queue_empty(mp_queue *q)
{
    return mp_queue_size(q) == 0;
}

int mp_queue_full(mp_queue *q)
{
    if (queue_check(q, "mp_queue_full") < 0)
        return 0;
    size_t n = mp_queue_size(q);
    uint64_t used = MP__LOAD(&q->put.pos) - MP__LOAD(&q->get.pos);
    return n >= q->max_items || used + HEADER > q->mask + 1;
}

int mp_queue_task_done(mp_queue *q)
{
    int r = queue_check(q, "mp_queue_task_done");
    if (r < 0)
        return r;
    settle(&q->put);
    uint64_t done = MP__LOAD_RELAXED(&q->ndone);
    do {
        if (done >= MP__LOAD(&q->put.count))
            return mp__error(MP_EINVAL, "mp_queue_task_done: called more times than items were put");
    } while (!atomic_compare_exchange_strong_explicit(MP__ATOMIC(&q->ndone), &done, done + 1, memory_order_seq_cst, memory_order_relaxed));
    if (done + 1 >= MP__LOAD(&q->put.count))
        mp__evc_notify(&q->all_done, INT_MAX, true);
    return 0;
}

/* Every message put was marked done.  ndone is read first: both counts only
 * grow, so equality means there was a moment with nothing unfinished. */
static int nothing_unfinished(mp_queue *q)
{
    uint64_t done = MP__LOAD(&q->ndone);
    return done >= MP__LOAD(&q->put.count);
}

int mp_queue_join(mp_queue *q, double timeout)
{
    static const char who[] = "mp_queue_join";
    int r = queue_check(q, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    double deadline = mp__deadline(timeout), slice = MP__SLICE_FIRST;
    for (;;) {
        /* A producer that died mid-put may have counted a message it never
         * published: repair before trusting the count. */
        settle(&q->put);
        uint32_t s = mp__evc_prepare(&q->all_done);
        int ok = nothing_unfinished(q);
        int w = 0;
        if (!ok && timeout != 0)
            w = mp__sleep(&q->all_done.seq, s, deadline, slice);
        mp__evc_done(&q->all_done);
        if (ok)
            return 0;
        if (timeout == 0 || w == MP_ETIMEDOUT)
            return mp__expired(who, timeout);
        if (w == 1)
            slice = mp__next_slice(slice);
    }
}
