/* pipe.c - mp_pipe: two connected ends passing whole messages through
 * shared memory (Python's multiprocessing.Pipe, without the socket).
 *
 * Each direction is a single-producer single-consumer byte ring in the
 * shared arena.  A message is framed as an 8-byte length and its bytes.  A
 * message that fits the ring is published in one store, so a receiver sees
 * all of it or nothing; a larger one streams through the ring while the
 * receiver drains it.  Waiting spins, then sleeps on an event count in
 * slices; between slices a waiter checks whether the peer end was closed or
 * whether the process that last used it has died -- that is how a dead peer
 * becomes end-of-file instead of a hang.
 *
 * Several threads or processes may share one end: a small robust lock per
 * end and direction keeps their messages whole.  Peer-death detection,
 * though, assumes one process per end (the last one to use it).
 *
 * Who holds an end.  An end belongs to the process that last used it, with
 * one exception that makes the usual pattern work without the peer having
 * to act: an end its creator never used is taken to have passed to the
 * mp_process children the creator started after making the pipe (the list
 * of children is in ipc.c).  So a child that dies before it touches its end
 * is end-of-file for the parent at once, and the parent's close of the
 * child's end releases only the parent's view.  An end is closed for every
 * process only by the process it belongs to (or in place of one that died);
 * a close from anywhere else -- a forked child closing the ends it
 * inherited -- changes nothing shared. */
#include "ipc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define DEFAULT_CAPACITY ((size_t)256 << 10)
#define MIN_CAPACITY ((size_t)4 << 10)
#define HEADER ((size_t)8)
/* Large messages move in pieces of this size: the sender publishes each
 * piece as soon as it is copied and the receiver frees each as soon as it
 * is read, so both copy at the same time instead of taking turns. */
#define PIECE ((size_t)32 << 10)

typedef struct chan {
    /* written by the sender */
    uint64_t tail MP__ALIGNED;
    mp__evc space;              /* the sender sleeps here for free space */
    uint32_t broken;            /* a user died mid-message: stream unusable */
    uint32_t sending;           /* a frame is partly published */
    /* written by the receiver */
    uint64_t head MP__ALIGNED;
    uint32_t receiving;         /* a frame is partly consumed */
    mp__evc data;               /* the receiver sleeps here for bytes */
    size_t mask MP__ALIGNED;
    unsigned char *ring;
} chan;

/* `owner` holds a pid, with USED set once that process has used the end.
 * Only the creator ever owns an end unused. */
#define USED 0x80000000u

/* One cache line per end: the two sides never write the same line. */
struct mp_pipe {
    uint32_t magic MP__ALIGNED;
    uint32_t closed;
    uint32_t owner;             /* pid of the process that last used this end, | USED */
    uint32_t send_lock, recv_lock;
    chan *in, *out;             /* NULL for the missing direction of a simplex pipe */
    mp_pipe *peer;
    struct block *block;
};

/* The pipe's memory lives while an end is open or its creator still holds
 * the handle to one: bit OPEN(i) while end i is open, HELD(i) until the
 * creator lets go of end i (its close, whether that closed the end or only
 * its view).  The creator's two closes are thus what free the pipe, never
 * a child closing its end first.  Whoever clears the last bit frees. */
#define OPEN(i) (1u << (i))
#define HELD(i) (4u << (i))
#define ALL_OPEN (OPEN(0) | OPEN(1))

typedef struct block {
    mp_pipe end[2];
    uint32_t refs;              /* OPEN and HELD bits */
    uint32_t creator;           /* pid */
    uint64_t children_before;   /* the creator's mp__children_started() at creation */
    chan ch[2] MP__ALIGNED;
} block;

/* --- checks and peer state -------------------------------------------- */

static int end_check(mp_pipe *p, const char *who)
{
    if (!p)
        return mp__error(MP_EINVAL, "%s: pipe end is NULL", who);
    if (MP__LOAD_RELAXED(&p->magic) != MP__MAGIC_PIPE)
        return mp__error(MP_EINVAL, "%s: not a pipe end (or its memory was released)", who);
    if (MP__LOAD_RELAXED(&p->closed))
        return mp__error(MP_ECLOSED, "%s: this end is closed", who);
    uint32_t me = mp__pid() | USED;
    if (MP__LOAD_RELAXED(&p->owner) != me)
        MP__STORE_RELAXED(&p->owner, me);
    return 0;
}

/* Every process the end `e` may belong to has ended: the one that last
 * used it, or, for an end its creator (the caller) never used, the
 * children the caller started after making the pipe -- 0 if it started
 * none, since the end is then simply the caller's own. */
static int end_abandoned(const mp_pipe *e)
{
    uint32_t owner = MP__LOAD_RELAXED(&e->owner), pid = owner & ~USED;
    if (pid != mp__pid())
        return mp__task_dead(pid);
    return !(owner & USED) && mp__children_gone_since(e->block->children_before);
}

/* The calling process may close `e` for every process: the end is its
 * own, or it belonged to processes that have all ended. */
static int may_close(const mp_pipe *e)
{
    uint32_t owner = MP__LOAD_RELAXED(&e->owner);
    if (owner == (mp__pid() | USED))
        return 1;
    if ((owner & ~USED) == mp__pid() && mp__children_started() == e->block->children_before)
        return 1;
    return end_abandoned(e);
}

/* The peer has closed its end, or (when `check_death`) every process it
 * may belong to has ended. */
static int peer_gone(const mp_pipe *p, int check_death)
{
    if (MP__LOAD(&p->peer->closed))
        return 1;
    return check_death && end_abandoned(p->peer);
}

static int eof(const char *who, const mp_pipe *p)
{
    if (MP__LOAD(&p->peer->closed))
        return mp__error(MP_EEOF, "%s: the other end is closed", who);
    return mp__error(MP_EEOF, "%s: the process using the other end has died", who);
}

/* Takes the per-end lock of one direction within the caller's deadline.
 * A user that died holding it in the middle of a message (*partial set)
 * has left half a frame: the direction is then broken for good.  One that
 * died while merely waiting did no harm. */
static int lock_dir(uint32_t *lock, chan *c, uint32_t *partial, double deadline, double timeout, const char *who)
{
    double left = timeout;
    if (timeout > 0 && (left = deadline - mp__now()) < 0)
        left = 0;
    int r = mp__lock_word(lock, left, who);
    if (r < 0 && r != MP_EOWNERDEAD)
        return r == MP_EAGAIN && timeout > 0 ? mp__expired(who, timeout) : r;
    if (r == MP_EOWNERDEAD && MP__LOAD_RELAXED(partial))
        MP__STORE(&c->broken, 1);
    if (MP__LOAD(&c->broken)) {
        mp__unlock_word(lock);
        return mp__error(MP_EEOF, "%s: a process died in the middle of a message; the stream is broken", who);
    }
    return 0;
}

/* --- waiting ------------------------------------------------------------ */

static uint64_t readable(chan *c)
{
    return MP__LOAD(&c->tail) - MP__LOAD_RELAXED(&c->head);
}

static uint64_t writable(chan *c)
{
    return c->mask + 1 - (MP__LOAD_RELAXED(&c->tail) - MP__LOAD(&c->head));
}

/* Waits until `c` holds at least `need` bytes (receiver side) or has `need`
 * bytes free (sender side).  0, MP_EEOF (peer gone and the condition cannot
 * become true), or the expiry code. */
static int wait_for(mp_pipe *p, chan *c, int sender, uint64_t need, double deadline, double timeout, const char *who)
{
    mp__evc *e = sender ? &c->space : &c->data;
    int spin = timeout == 0 ? 0 : MP__SPIN_LIMIT;
    for (int i = 0;; i++) {
        if ((sender ? writable(c) : readable(c)) >= need) {
            if (i > 0)
                mp__spin_feedback(1);
            return 0;
        }
        if (i == spin || MP__LOAD_RELAXED(&p->peer->closed))
            break;
        mp__cpu_relax();
    }
    if (spin > 0)
        mp__spin_feedback(0);
    double slice = MP__SLICE_FIRST;
    int check_death = 0;
    for (;;) {
        uint32_t s = mp__evc_prepare(e);
        int ready = (sender ? writable(c) : readable(c)) >= need;
        int gone = !ready && peer_gone(p, check_death);
        int r = 0;
        if (!ready && !gone && timeout != 0)
            r = mp__sleep(&e->seq, s, deadline, slice);
        mp__evc_done(e);
        if (ready)
            return 0;
        if (gone || MP__LOAD(&c->broken))
            return eof(who, p);
        if (timeout == 0 || r == MP_ETIMEDOUT)
            return mp__expired(who, timeout);
        check_death = r == 1;
        if (check_death)
            slice = mp__next_slice(slice);
    }
}

/* --- create and close --------------------------------------------------- */

static void chan_init(chan *c, unsigned char *ring, size_t cap)
{
    c->ring = ring;
    c->mask = cap - 1;
}

int mp_pipe_create(mp_pipe **a, mp_pipe **b, int flags, size_t capacity)
{
    if (!a || !b)
        return mp__error(MP_EINVAL, "mp_pipe_create: %s is NULL", !a ? "a" : "b");
    if (flags & ~MP_PIPE_SIMPLEX)
        return mp__error(MP_EINVAL, "mp_pipe_create: unknown flags 0x%x", (unsigned)flags);
    if (capacity == 0)
        capacity = DEFAULT_CAPACITY;
    if (capacity > ((size_t)1 << 40))
        return mp__error(MP_EINVAL, "mp_pipe_create: capacity %zu is too large", capacity);
    size_t cap = MIN_CAPACITY;
    while (cap < capacity)
        cap <<= 1;
    int simplex = flags & MP_PIPE_SIMPLEX;
    size_t nchan = simplex ? 1 : 2;
    size_t head = (sizeof(block) + MP__CACHELINE - 1) & ~(size_t)(MP__CACHELINE - 1);
    void *mem;
    int r = mp_shm_alloc(head + nchan * cap, &mem);
    if (r < 0)
        return r;
    block *k = mem;
    unsigned char *rings = (unsigned char *)mem + head;
    for (size_t i = 0; i < nchan; i++)
        chan_init(&k->ch[i], rings + i * cap, cap);
    mp_pipe *ea = &k->end[0], *eb = &k->end[1];
    uint32_t me = mp__pid();
    k->children_before = mp__children_started();
    for (int i = 0; i < 2; i++) {
        k->end[i].owner = me;
        k->end[i].block = k;
        k->end[i].peer = &k->end[1 - i];
    }
    /* Simplex: a receives, b sends (as Python's Pipe(duplex=False)). */
    ea->in = &k->ch[0];
    eb->out = &k->ch[0];
    if (!simplex) {
        eb->in = &k->ch[1];
        ea->out = &k->ch[1];
    }
    k->refs = ALL_OPEN | HELD(0) | HELD(1);
    k->creator = me;
    MP__STORE(&ea->magic, MP__MAGIC_PIPE);
    MP__STORE(&eb->magic, MP__MAGIC_PIPE);
    *a = ea;
    *b = eb;
    return 0;
}

/* Clears `bits` of the pipe's references and frees it if none is left --
 * or if only the creator's are left and it has died (it will never close
 * them). */
static int let_go(block *k, uint32_t bits)
{
    uint32_t left = atomic_fetch_and_explicit(MP__ATOMIC(&k->refs), ~bits, memory_order_acq_rel) & ~bits;
    if (left != 0 && !(left & ALL_OPEN) && mp__task_dead(k->creator) && MP__CAS(&k->refs, &left, 0))
        left = 0;
    if (left != 0)
        return 0;
    MP__STORE(&k->end[0].magic, 0);
    MP__STORE(&k->end[1].magic, 0);
    return mp_shm_free(k);
}

int mp_pipe_close(mp_pipe *p)
{
    if (!p)
        return mp__error(MP_EINVAL, "mp_pipe_close: pipe end is NULL");
    if (MP__LOAD_RELAXED(&p->magic) != MP__MAGIC_PIPE)
        return mp__error(MP_EINVAL, "mp_pipe_close: not a pipe end (or its memory was released)");
    block *k = p->block;
    int i = (int)(p - k->end);
    uint32_t held = mp__pid() == k->creator ? MP__LOAD(&k->refs) & HELD(i) : 0;
    uint32_t was = 0;
    int closing = may_close(p) && MP__CAS(&p->closed, &was, 1);
    if (closing) {
        /* Wake the peer wherever it sleeps: waiting for our bytes, or for
         * room in the ring we read. */
        if (p->out)
            mp__evc_notify(&p->out->data, INT_MAX, true);
        if (p->in)
            mp__evc_notify(&p->in->space, INT_MAX, true);
    } else if (was && !held) {
        return mp__error(MP_ECLOSED, "mp_pipe_close: this end is already closed");
    }
    /* Not ours to close and not the creator's handle: only a view goes. */
    if (!closing && !held)
        return 0;
    return let_go(k, (closing ? OPEN(i) : 0) | held);
}

/* --- sending ------------------------------------------------------------ */

/* Copies bytes [from, from+n) of the frame (header then body) into the
 * ring at stream position `pos`. */
static void put_frame_bytes(chan *c, uint64_t pos, const unsigned char *hdr, const unsigned char *body, size_t from,
                            size_t n)
{
    if (from < HEADER) {
        size_t k = HEADER - from < n ? HEADER - from : n;
        mp__ring_put(c->ring, c->mask, pos, hdr + from, k);
        pos += k, from += k, n -= k;
    }
    if (n)
        mp__ring_put(c->ring, c->mask, pos, body + (from - HEADER), n);
}

static void publish(chan *c, uint64_t tail)
{
    MP__STORE(&c->tail, tail);
    mp__evc_notify(&c->data, 1, true);
}

int mp_pipe_send(mp_pipe *p, const void *msg, size_t size, double timeout)
{
    static const char who[] = "mp_pipe_send";
    int r = end_check(p, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if (!p->out)
        return mp__error(MP_EINVAL, "%s: this end of a one-way pipe only receives", who);
    if (!msg && size > 0)
        return mp__error(MP_EINVAL, "%s: msg is NULL but size is %zu", who, size);
    chan *c = p->out;
    double deadline = mp__deadline(timeout);
    if ((r = lock_dir(&p->send_lock, c, &c->sending, deadline, timeout, who)) < 0)
        return r;
    if (MP__LOAD(&p->peer->closed)) {
        mp__unlock_word(&p->send_lock);
        return mp__error(MP_EEOF, "%s: the other end is closed", who);
    }
    uint64_t hdr64 = size;
    unsigned char hdr[HEADER];
    memcpy(hdr, &hdr64, HEADER);
    size_t cap = c->mask + 1, total = HEADER + size, done = 0;
    uint64_t tail = MP__LOAD_RELAXED(&c->tail);
    /* A frame that fits waits for room for all of it, so that the timeout
     * never leaves half a message behind.  A larger one honours the timeout
     * only until its first bytes are out; then it finishes (or the peer
     * goes away). */
    uint64_t first_need = total <= cap ? total : 1;
    r = wait_for(p, c, 1, first_need, deadline, timeout, who);
    while (r == 0) {
        uint64_t room = cap - (tail - MP__LOAD(&c->head));
        size_t k = room < total - done ? (size_t)room : total - done;
        if (k > PIECE && total > cap)
            k = PIECE;
        put_frame_bytes(c, tail, hdr, msg, done, k);
        tail += k;
        done += k;
        MP__STORE_RELAXED(&c->sending, done < total);
        publish(c, tail);
        if (done == total)
            break;
        r = wait_for(p, c, 1, 1, INFINITY, MP_FOREVER, who);
        if (r < 0 && done > 0)
            MP__STORE(&c->broken, 1);
    }
    mp__unlock_word(&p->send_lock);
    return r;
}

/* --- receiving ----------------------------------------------------------- */

/* Under the receive lock: waits for a frame header and reads its length
 * without consuming it. */
static int peek_size(mp_pipe *p, double deadline, double timeout, uint64_t *size, const char *who)
{
    chan *c = p->in;
    int r = wait_for(p, c, 0, HEADER, deadline, timeout, who);
    if (r < 0)
        return r;
    mp__ring_get(c->ring, c->mask, MP__LOAD_RELAXED(&c->head), size, HEADER);
    return 0;
}

/* Under the receive lock, after peek_size: consumes the frame into dst. */
static int take_frame(mp_pipe *p, void *dst, uint64_t size, const char *who)
{
    chan *c = p->in;
    uint64_t head = MP__LOAD_RELAXED(&c->head) + HEADER;
    unsigned char *out = dst;
    uint64_t left = size;
    MP__STORE_RELAXED(&c->receiving, size > 0);
    MP__STORE(&c->head, head);
    for (;;) {
        uint64_t avail = MP__LOAD(&c->tail) - head;
        size_t k = avail < left ? (size_t)avail : (size_t)left;
        if (k > PIECE)
            k = PIECE;
        if (k) {
            mp__ring_get(c->ring, c->mask, head, out, k);
            out += k;
            head += k;
            left -= k;
            MP__STORE(&c->head, head);
            mp__evc_notify(&c->space, 1, true);
        }
        if (left == 0) {
            MP__STORE_RELAXED(&c->receiving, 0);
            return 0;
        }
        int r = wait_for(p, c, 0, 1, INFINITY, MP_FOREVER, who);
        if (r < 0) {
            MP__STORE(&c->broken, 1);
            return r;
        }
    }
}

static int recv_checks(mp_pipe *p, double timeout, double *deadline, const char *who)
{
    int r = end_check(p, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if (!p->in)
        return mp__error(MP_EINVAL, "%s: this end of a one-way pipe only sends", who);
    *deadline = mp__deadline(timeout);
    return lock_dir(&p->recv_lock, p->in, &p->in->receiving, *deadline, timeout, who);
}

int mp_pipe_recv(mp_pipe *p, void *buf, size_t cap, size_t *size, double timeout)
{
    static const char who[] = "mp_pipe_recv";
    if (!size || (!buf && cap > 0))
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !size ? "size" : "buf");
    double deadline = 0;
    int r = recv_checks(p, timeout, &deadline, who);
    if (r < 0)
        return r;
    uint64_t n;
    if ((r = peek_size(p, deadline, timeout, &n, who)) == 0) {
        if (n > cap) {
            *size = (size_t)n;
            r = mp__error(MP_ERANGE, "%s: the message has %llu bytes, the buffer %zu", who, (unsigned long long)n, cap);
        } else if ((r = take_frame(p, buf, n, who)) == 0) {
            *size = (size_t)n;
        }
    }
    mp__unlock_word(&p->recv_lock);
    return r;
}

int mp_pipe_recv_alloc(mp_pipe *p, void **msg, size_t *size, double timeout)
{
    static const char who[] = "mp_pipe_recv_alloc";
    if (!msg || !size)
        return mp__error(MP_EINVAL, "%s: %s is NULL", who, !msg ? "msg" : "size");
    double deadline = 0;
    int r = recv_checks(p, timeout, &deadline, who);
    if (r < 0)
        return r;
    uint64_t n;
    if ((r = peek_size(p, deadline, timeout, &n, who)) == 0) {
        void *buf = n <= SIZE_MAX - 1 ? malloc(n ? (size_t)n : 1) : NULL;
        if (!buf) {
            r = mp__error(MP_ENOMEM, "%s: cannot allocate %llu bytes (the message stays queued)", who,
                          (unsigned long long)n);
        } else if ((r = take_frame(p, buf, n, who)) == 0) {
            *msg = buf;
            *size = (size_t)n;
        } else {
            free(buf);
        }
    }
    mp__unlock_word(&p->recv_lock);
    return r;
}

int mp_pipe_poll(mp_pipe *p, double timeout)
{
    static const char who[] = "mp_pipe_poll";
    int r = end_check(p, who);
    if (r < 0 || (r = mp__check_timeout(who, timeout)) < 0)
        return r;
    if (!p->in)
        return mp__error(MP_EINVAL, "%s: this end of a one-way pipe only sends", who);
    r = wait_for(p, p->in, 0, HEADER, mp__deadline(timeout), timeout, who);
    return r == MP_EEOF ? 0 : r;
}

/* --- waiting on several ends --------------------------------------------- */

static int end_ready(mp_pipe *p, int check_death)
{
    return readable(p->in) >= HEADER || MP__LOAD(&p->in->broken) || peer_gone(p, check_death);
}

/* Sleeps on the data words of all ends at once (futex_waitv, Linux 5.16),
 * or naps briefly where the kernel lacks it.  Returns like mp__sleep. */
static int sleep_on_many(mp_pipe *const *ends, size_t n, const uint32_t *seqs, double deadline, double slice)
{
    double now = mp__now(), until = now + slice;
    int last = 0;
    if (deadline <= until) {
        if (deadline <= now)
            return MP_ETIMEDOUT;
        until = deadline;
        last = 1;
    }
#ifdef SYS_futex_waitv
    if (n <= FUTEX_WAITV_MAX) {
        struct futex_waitv w[FUTEX_WAITV_MAX];
        for (size_t i = 0; i < n; i++)
            w[i] = (struct futex_waitv){.val = seqs[i], .uaddr = (uintptr_t)&ends[i]->in->data.seq, .flags = FUTEX_32};
        struct timespec ts = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
        long r = syscall(SYS_futex_waitv, w, (unsigned)n, 0, &ts, CLOCK_MONOTONIC);
        if (r >= 0 || errno == EAGAIN || errno == EINTR)
            return 0;
        if (errno == ETIMEDOUT)
            return last ? MP_ETIMEDOUT : 1;
        /* ENOSYS and friends: fall through to napping. */
    }
#endif
    double nap = until - now < 0.001 ? until - now : 0.001;
    struct timespec ts = {0, (long)(nap * 1e9)};
    nanosleep(&ts, NULL);
    if (mp__now() >= deadline)
        return MP_ETIMEDOUT;
    return mp__now() >= until ? 1 : 0;
}

int mp_pipe_wait(mp_pipe *const *ends, size_t n, double timeout, int *ready)
{
    static const char who[] = "mp_pipe_wait";
    if (!ends || n == 0 || !ready)
        return mp__error(MP_EINVAL, "%s: %s", who, !ends ? "ends is NULL" : n == 0 ? "n is 0" : "ready is NULL");
    int r = mp__check_timeout(who, timeout);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if ((r = end_check(ends[i], who)) < 0)
            return r;
        if (!ends[i]->in)
            return mp__error(MP_EINVAL, "%s: end %zu only sends", who, i);
    }
    uint32_t stack_seqs[64];
    uint32_t *seqs = n <= 64 ? stack_seqs : malloc(n * sizeof *seqs);
    if (!seqs)
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    double deadline = mp__deadline(timeout), slice = MP__SLICE_FIRST;
    int check_death = 0, count = 0;
    for (int spin = 0;; spin++) {
        int sleeping = spin >= MP__SPIN_LIMIT / 8 && timeout != 0;
        if (sleeping)
            for (size_t i = 0; i < n; i++)
                seqs[i] = mp__evc_prepare(&ends[i]->in->data);
        int any = 0;
        for (size_t i = 0; i < n && !any; i++)
            any = end_ready(ends[i], check_death);
        int s = 0;
        if (!any && sleeping)
            s = sleep_on_many(ends, n, seqs, deadline, slice);
        if (sleeping)
            for (size_t i = 0; i < n; i++)
                mp__evc_done(&ends[i]->in->data);
        if (any) {
            for (size_t i = 0; i < n; i++)
                count += ready[i] = end_ready(ends[i], check_death);
            break;
        }
        if (timeout == 0 || s == MP_ETIMEDOUT || (!sleeping && mp__now() >= deadline)) {
            r = mp__expired(who, timeout);
            break;
        }
        check_death = s == 1;
        if (check_death)
            slice = mp__next_slice(slice);
        if (!sleeping)
            mp__cpu_relax();
    }
    if (seqs != stack_seqs)
        free(seqs);
    return r < 0 ? r : count;
}
