/* backend_mpi.c - workers are the other ranks of an MPI job.
 *
 * The rank that opens a pool (the root) runs its program; every other
 * rank runs mp__mpi_serve.  On the root, the pool's scheduler workers are
 * proxy threads, one per worker of each serving rank (MPROC_RANK_WORKERS
 * there, default 1): a proxy claims ranges of tasks as any worker does, but
 * runs them elsewhere (mp__shared.send_elsewhere): it packs a range's
 * inputs, sends them to its rank, and when the reply is back puts the
 * outputs, failures and mp_task_write results into the job, which the
 * front end then finishes as on every backend.  Each proxy keeps up to
 * MP__ELSEWHERE_WINDOW ranges in flight, so its rank finds the next one waiting when it
 * finishes one, instead of waiting a round trip.  The wire format is in
 * mpi_link.h.
 *
 * Starting.  With MPROC_BACKEND=mpi under mpirun, a constructor joins the
 * MPI world before main: rank 0 returns into main, every other rank serves
 * and exits when rank 0's program ends (an atexit handler tells them).
 * With only .backend = MP_BACKEND_MPI, every rank runs main up to its
 * mp_pool_open, where the same happens.  mp_pool_open_mpi is the
 * collective form on a communicator of the program's.
 *
 * Memory model: MP__MEMORY_SHIPPED.  The front end stages nothing: the
 * proxies, in the caller's process, read inputs and write outputs where
 * the caller has them; large arrays go to and from MPI in place (a
 * datatype of their addresses), without a copy into a message buffer. */
#include "backend.h"
#include "mpi_link.h"
#include "pool.h"
#include "shm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the MPI world: joined once per process -------------------------------- */

static struct {
    pthread_mutex_t lock;
    bool joined;
    MPI_Comm comm;           /* a duplicate of MPI_COMM_WORLD */
    int rank, size;
} world = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* mp_pool_open_mpi hands its communicator to prepare and start here (both
 * run in its thread, inside its mp_pool_open). */
static _Thread_local struct {
    bool set;
    MPI_Comm comm;
    int root;
} collective;

/* One open at a time: initializer replies share a tag. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* Proxy tags in use in this process: each live proxy has its own, so a
 * reply can only reach the proxy that sent the request, whatever pools
 * come and go. */
#define NTAGS (MP__MPI_TAG_LAST_PROXY - MP__MPI_TAG_FIRST_PROXY + 1)
static struct {
    pthread_mutex_t lock;
    uint64_t used[(NTAGS + 63) / 64];
    int next;
} tags = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A free proxy tag, or -1 when all are taken. */
static int tag_take(void)
{
    int tag = -1;
    pthread_mutex_lock(&tags.lock);
    for (int k = 0; k < NTAGS && tag < 0; k++) {
        int i = (tags.next + k) % NTAGS;
        if (!(tags.used[i / 64] & (UINT64_C(1) << (i % 64)))) {
            tags.used[i / 64] |= UINT64_C(1) << (i % 64);
            tags.next = i + 1;
            tag = MP__MPI_TAG_FIRST_PROXY + i;
        }
    }
    pthread_mutex_unlock(&tags.lock);
    return tag;
}

static void tag_give_back(int tag)
{
    if (tag < MP__MPI_TAG_FIRST_PROXY)
        return;
    int i = tag - MP__MPI_TAG_FIRST_PROXY;
    pthread_mutex_lock(&tags.lock);
    tags.used[i / 64] &= ~(UINT64_C(1) << (i % 64));
    pthread_mutex_unlock(&tags.lock);
}

static bool started_by_mpirun(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

static void send_quit(MPI_Comm comm, int root)
{
    int size;
    MPI_Comm_size(comm, &size);
    mp__mpi_control c = { .type = MP__MPI_QUIT };
    for (int r = 0; r < size; r++)
        if (r != root)
            MPI_Send(&c, sizeof c, MPI_BYTE, r, MP__MPI_TAG_CONTROL, comm);
}

/* Rank 0's program ends: the servers leave their loops and every rank
 * finalises. */
static void stop_open_pools(void);

static void world_end(void)
{
    stop_open_pools();
    send_quit(world.comm, 0);
    MPI_Comm_free(&world.comm);
    MPI_Finalize();
}

/* mproc's own communicator: a duplicate, so no message of the program's
 * meets ours, whose errors end the job whatever handler the program set
 * on its communicator -- a dead rank must never turn into a receive that
 * "succeeds" with nothing, or a probe that fails forever. */
static void dup_fatal(MPI_Comm base, MPI_Comm *out)
{
    MPI_Comm_dup(base, out);
    MPI_Comm_set_errhandler(*out, MPI_ERRORS_ARE_FATAL);
}

static int check_thread_level(const char *who)
{
    int level;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
        return mp__error(MP_ENOTSUP, "%s: MPI was initialised without MPI_THREAD_MULTIPLE (level %d); the mpi "
                         "backend's proxies call MPI from several threads", who, level);
    return 0;
}

/* Joins the world (MPI_Init_thread unless the program did) and, on every
 * rank but 0, serves until rank 0 ends and exits: only rank 0 returns 0. */
static int world_join(const char *who)
{
    pthread_mutex_lock(&world.lock);
    int r = 0;
    if (!world.joined) {
        int initialised;
        MPI_Initialized(&initialised);
        if (!initialised && !started_by_mpirun()) {
            r = mp__error(MP_ENOTSUP, "%s: the mpi backend needs the program started by mpirun "
                          "(mpirun -n 4 ./prog), and this one was not", who);
        } else if (initialised) {
            /* The program owns MPI's life (and its MPI_Finalize would come
             * before our atexit handler could release the serving ranks). */
            r = mp__error(MP_ENOTSUP, "%s: this program initialised MPI itself: open the pool with the collective "
                          "mp_pool_open_mpi on every rank instead of MP_BACKEND_MPI / MPROC_BACKEND=mpi", who);
        } else {
            int provided;
            if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
                r = mp__error(MP_ENOTSUP, "%s: MPI_Init_thread failed", who);
        }
        if (r == 0)
            r = check_thread_level(who);
        if (r == 0) {
            dup_fatal(MPI_COMM_WORLD, &world.comm);
            MPI_Comm_rank(world.comm, &world.rank);
            MPI_Comm_size(world.comm, &world.size);
            world.joined = true;
            if (world.rank != 0) {
                mp__mpi_serve(world.comm, 0);
                MPI_Comm_free(&world.comm);
                MPI_Finalize();
                exit(0);
            }
            atexit(world_end);
        }
    }
    pthread_mutex_unlock(&world.lock);
    return r;
}

/* MPROC_BACKEND=mpi under mpirun: serve from before main. */
__attribute__((constructor)) static void serve_from_the_start(void)
{
    const char *backend = getenv("MPROC_BACKEND");
    if (!backend || strcmp(backend, "mpi") != 0 || !started_by_mpirun())
        return;
    if (world_join("mproc") != 0)
        fprintf(stderr, "mproc: %s\n", mp_last_error());   /* mp_pool_open says it again */
}

/* The communicator and root a pool opened now uses. */
static int pool_world(const char *who, MPI_Comm *comm, int *root)
{
    if (collective.set) {
        *comm = collective.comm;
        *root = collective.root;
        return 0;
    }
    int r = world_join(who);
    *comm = world.comm;
    *root = 0;
    return r;
}

/* The i-th serving rank: every rank but the root, in order. */
static int server_rank(int i, int root)
{
    return i < root ? i : i + 1;
}

/* ---- proxies ------------------------------------------------------------------ */

typedef struct mpi_crew mpi_crew;

/* A message to the proxy's rank: one range, or several small ones that
 * piled up while the rank was busy. */
typedef struct message {
    mp__wbuf buf;
    MPI_Request sent;        /* MPI_REQUEST_NULL until it is sent */
    int ranges;
} message;

/* A range handed to the proxy and not yet finished, oldest first. */
typedef struct in_flight {
    size_t begin, end;
    bool failed;             /* could not be sent: its tasks failed here */
} in_flight;

#define WINDOW MP__ELSEWHERE_WINDOW
#define BATCH_BYTES 32768    /* a message collecting small ranges goes once this big */
/* The most input and output bytes of one range.  A message's size is an
 * int, and a reply also carries failures and mp_task_write results; but
 * the bound is lower than that for speed: a proxy waiting for its reply
 * naps, and a message that needs the sender's progress to move (inputs
 * sent from where they are, as a datatype of two blocks) crawls through
 * those naps.  Measured on 400 MiB of 4 MiB elements over shared memory:
 * 2.8-7.8 s with ranges of up to 256 MiB, 0.13-0.16 s with 8 MiB. */
#define RANGE_MAX_BYTES ((size_t)8 << 20)

typedef struct proxy {
    pthread_t thread;
    mpi_crew *mc;
    int id;                  /* worker slot */
    int rank;
    int executor;            /* the worker of that rank that runs its ranges */
    int worker_base;         /* its rank's rank_info.worker_base */
    int tag;
    uint64_t described;      /* 1 + seq of the job its rank knows from it, 0: none */
    in_flight window[WINDOW];
    int first, count;        /* rings */
    message messages[WINDOW];
    int mfirst, mcount;      /* the newest may be open: collecting, unsent */
    bool open;
    int unanswered;          /* ranges sent whose replies were not taken yet */
    mp__wbuf rep;            /* the reply message being read */
    size_t rep_at;
    int rep_left;            /* its ranges not taken yet */
    bool rep_in_place;       /* its outputs went straight into the job */
    bool running;
} proxy;

typedef mp__mpi_rank rank_info;

_Static_assert(sizeof(mp__mpi_request) % 8 == 0 && sizeof(mp__mpi_reply) % MP__MPI_ALIGN == 0,
               "a reply's outputs start aligned");

struct mpi_crew {
    struct mpi_crew *next_open;   /* in open_pools */
    bool proxies_joined;
    mp__crew *crew;
    MPI_Comm comm;
    int root;
    bool collective;         /* stop tells the servers to return, and frees comm */
    int nranks;
    rank_info *ranks;
    proxy *proxies;          /* crew->workers */
};

static size_t arg_count(const mp__job *job)
{
    return job->kind == MP__KIND_STAR ? job->nargs : 1;
}

static bool put_job(const proxy *p, mp__wbuf *b, const mp__job *job, uint64_t seq)
{
    mp__mpi_jobhdr h = { .kind = (uint32_t)job->kind, .nargs = (uint32_t)arg_count(job) };
    if (mp__fnref_make(job->fn, "mpi", &h.fn) != 0)
        return false;        /* refused at the call (check_fn): cannot happen */
    for (size_t k = 0; k < h.nargs; k++)
        h.in_size[k] = job->in[k] ? job->in_size[k] : 0;
    h.out_size = job->out ? job->out_size : 0;
    h.ctx_size = job->ctx ? job->ctx_size : 0;
    h.rng_seed = job->rng_seed;
    h.rng_stream = job->rng_stream;
    h.seq = seq;
    h.timeout_ns = atomic_load(&job->timeout_ns);
    h.varout = job->varout != NULL;
    h.worker_base = (uint32_t)p->worker_base;
    return mp__wbuf_put(b, &h, sizeof h) && (!h.ctx_size || mp__wbuf_put(b, job->ctx, h.ctx_size));
}

/* Task i's element of an array the job reads or writes: streams use a ring. */
static size_t slot_of(const mp__job *job, size_t i)
{
    return job->ring ? i % job->ring : i;
}

/* The range's inputs, after its headers: aligned as mpi_serve.c's
 * bind_inputs expects (the range's part starts at offset 0 of b). */
static bool put_inputs(mp__wbuf *b, const mp__job *job, size_t begin, size_t end)
{
    if (!mp__wbuf_align(b))
        return false;
    if (job->kind == MP__KIND_STRINGS) {
        const char *const *v = (const char *const *)(const void *)job->in[0];
        for (size_t i = begin; i < end; i++) {
            const char *s = v[slot_of(job, i)];
            uint64_t len = s ? strlen(s) : MP__MPI_NO_BYTES;
            if (!mp__wbuf_put(b, &len, sizeof len))
                return false;
        }
        for (size_t i = begin; i < end; i++) {
            const char *s = v[slot_of(job, i)];
            if (s && !mp__wbuf_put(b, s, strlen(s) + 1))
                return false;
        }
        return true;
    }
    for (size_t k = 0; k < arg_count(job); k++) {
        size_t size = job->in_size[k];
        if (!job->in[k] || !size || begin == end)
            continue;
        if (!job->ring) {
            if (!mp__wbuf_put(b, job->in[k] + begin * size, (end - begin) * size))
                return false;
        } else {
            for (size_t i = begin; i < end; i++)
                if (!mp__wbuf_put(b, job->in[k] + slot_of(job, i) * size, size))
                    return false;
        }
        if (k + 1 < arg_count(job) && !mp__wbuf_align(b))
            return false;
    }
    return true;
}

/* Sends n blocks as one message of bytes, from where they are (an MPI
 * datatype of their addresses), without copying them together. */
/* n blocks of memory as one MPI datatype of their addresses (used with
 * MPI_BOTTOM), so that they go to or from MPI where they are.  The caller
 * frees it with MPI_Type_free. */
static MPI_Datatype blocks_type(const void *const *at, const size_t *len, int n)
{
    int lengths[MP_MAX_ARGS + 1];
    MPI_Aint where[MP_MAX_ARGS + 1];
    MP__ASSERT(n <= MP_MAX_ARGS + 1);
    for (int i = 0; i < n; i++) {
        lengths[i] = (int)len[i];
        MPI_Get_address(at[i], &where[i]);
    }
    MPI_Datatype type;
    MPI_Type_create_hindexed(n, lengths, where, MPI_BYTE, &type);
    MPI_Type_commit(&type);
    return type;
}

static void isend_blocks(const void *const *at, const size_t *len, int n, int dest, int tag, MPI_Comm comm,
                         MPI_Request *req)
{
    MPI_Datatype type = blocks_type(at, len, n);
    MPI_Isend(MPI_BOTTOM, 1, type, dest, tag, comm, req);
    MPI_Type_free(&type);    /* freed once the send is done with it */
}

/* The range's inputs as blocks of the caller's arrays, if they can go from
 * where they are: not strings, not a stream's ring, each block and the
 * whole message within an int, and every block but the last a multiple of
 * MP__MPI_ALIGN long (the next one must start aligned, and blocks go with
 * no padding between them).  Returns the number of blocks, 0 if not. */
static int input_blocks(const mp__job *job, size_t begin, size_t end, size_t header, const void **at, size_t *len)
{
    if (job->kind == MP__KIND_STRINGS || job->ring)
        return 0;
    int n = 0;
    size_t total = header;
    for (size_t k = 0; k < arg_count(job); k++) {
        size_t size = job->in_size[k];
        if (!job->in[k] || !size)
            continue;
        if (n > 0 && len[n - 1] % MP__MPI_ALIGN)
            return 0;
        at[n] = job->in[k] + begin * size;
        len[n] = (end - begin) * size;
        if (len[n] > INT_MAX || __builtin_add_overflow(total, len[n], &total))
            return 0;
        n++;
    }
    return total - header >= MP__MPI_IN_PLACE_BYTES && total <= INT_MAX ? n : 0;
}

/* Every task of the range failed here, before it could be sent. */
static void fail_range(mp__job *job, size_t begin, size_t end, int code, const char *message)
{
    for (size_t i = begin; i < end; i++)
        mp__job_record_failure(job, i, code, message);
}

/* Puts one range's reply (at, len bytes) into the job: outputs, failures
 * and results.  false if it is not what was asked.  outputs_in_place: the
 * outputs were received into the job directly and are not in the reply. */
static bool take_reply(const char *at, size_t len, mp__job *job, size_t begin, size_t end, bool outputs_in_place)
{
    const char *stop = at + len;
    mp__mpi_reply rep;
    size_t count = end - begin, out_size = job->out && !outputs_in_place ? job->out_size : 0;
    if (len < sizeof rep)
        return false;
    memcpy(&rep, at, sizeof rep);
    at += sizeof rep;
    if (rep.begin != begin || rep.count != count || (size_t)(stop - at) / (out_size ? out_size : 1) < (out_size ? count : 0))
        return false;
    if (out_size && !job->ring) {
        memcpy(job->out + begin * out_size, at, count * out_size);
    } else if (out_size) {
        for (size_t i = begin; i < end; i++)
            memcpy(job->out + slot_of(job, i) * out_size, at + (i - begin) * out_size, out_size);
    }
    at += count * out_size;
    for (uint32_t f = 0; f < rep.nfailed; f++) {
        mp__mpi_failure fr;
        if ((size_t)(stop - at) < sizeof fr)
            return false;
        memcpy(&fr, at, sizeof fr);
        at += sizeof fr;
        if (fr.length > (size_t)(stop - at))
            return false;
        char message[MP_MESSAGE_MAX];
        snprintf(message, sizeof message, "%.*s", (int)fr.length, at);
        at += fr.length;
        mp__job_record_failure(job, (size_t)fr.index, fr.code, message);
    }
    if (!rep.has_var || !job->varout)
        return true;
    const char *lengths = at, *bytes = at + count * sizeof(uint64_t);
    if ((size_t)(stop - at) / sizeof(uint64_t) < count)
        return false;
    for (size_t i = 0; i < count; i++) {
        uint64_t n;
        memcpy(&n, lengths + i * sizeof n, sizeof n);
        mp_bytes *slot = &job->varout[slot_of(job, i + begin)];
        *slot = (mp_bytes){ NULL, 0 };
        if (n == MP__MPI_NO_BYTES)
            continue;
        void *mem;
        if (n > (uint64_t)(stop - bytes))
            return false;
        if (mp__shm_alloc(n ? n : 1, false, &mem) != 0) {
            /* No room in the arena here: this task's result is lost, and
             * says so; the others still arrive. */
            mp__job_record_failure(job, begin + i, MP_ENOMEM, "its mp_task_write result came back from another "
                                   "rank, but rank 0's shared arena is full (MPROC_SHM_SIZE)");
        } else {
            memcpy(mem, bytes, n);
            *slot = (mp_bytes){ mem, n };
        }
        bytes += n;
    }
    return true;
}

/* Sends the newest message, which was collecting ranges. */
static void send_open(mpi_crew *mc, proxy *p)
{
    MP__ASSERT(p->open);
    message *m = &p->messages[(p->mfirst + p->mcount - 1) % WINDOW];
    MPI_Isend(m->buf.data, (int)m->buf.len, MPI_BYTE, p->rank, p->tag, mc->comm, &m->sent);
    p->open = false;
    p->unanswered += m->ranges;
}

static message *new_message(proxy *p)
{
    MP__ASSERT(p->mcount < WINDOW);
    message *m = &p->messages[(p->mfirst + p->mcount++) % WINDOW];
    m->buf.len = 0;
    m->sent = MPI_REQUEST_NULL;
    m->ranges = 0;
    return m;
}

/* mp__shared.send_elsewhere.  A range whose inputs are large goes at once,
 * from the caller's arrays; a small one joins the open message, which goes
 * at once if the rank has nothing to do, else when it is full or the proxy
 * must wait (finish_remote).  Sends complete in the background: a large
 * request would otherwise wait for the rank to finish the range before it. */
static void send_remote(void *arg, int worker, mp__job *job, size_t begin, size_t end)
{
    mpi_crew *mc = arg;
    proxy *p = &mc->proxies[worker];
    MP__ASSERT(p->count < WINDOW);
    in_flight *f = &p->window[(p->first + p->count++) % WINDOW];
    *f = (in_flight){ begin, end, false };
    uint64_t seq = atomic_load(&job->seq);
    mp__mpi_request rq = { MP__MPI_RANGE, p->described != seq + 1, begin, end - begin, 0, (uint32_t)p->executor, 0 };

    /* The range's own part: header, job description, small inputs. */
    mp__wbuf part = { NULL, 0, 0 };
    bool ok = mp__wbuf_put(&part, &rq, sizeof rq) && (!rq.has_job || put_job(p, &part, job, seq)) &&
              mp__wbuf_align(&part);
    const void *at[MP_MAX_ARGS + 1];
    size_t len[MP_MAX_ARGS + 1], total = part.len;
    int blocks = ok ? input_blocks(job, begin, end, part.len, at + 1, len + 1) : 0;
    if (ok && !blocks)
        ok = put_inputs(&part, job, begin, end) && mp__wbuf_align(&part);   /* ranges batched after it start aligned */
    for (int k = 1; k <= blocks; k++)
        total += len[k];
    if (blocks == 0)
        total = part.len;
    if (!ok || total > INT_MAX) {
        fail_range(job, begin, end, MP_ENOMEM,
                   ok ? "a range of tasks is more bytes than one MPI message carries: use a smaller chunksize"
                      : "out of memory packing a range of tasks for another rank");
        f->failed = true;
        mp__wbuf_free(&part);
        return;
    }
    rq.bytes = total;
    memcpy(part.data, &rq, sizeof rq);
    p->described = seq + 1;

    if (blocks) {
        if (p->open)
            send_open(mc, p);   /* keep the order */
        message *m = new_message(p);
        mp__wbuf_free(&m->buf);
        m->buf = part;
        m->ranges = 1;
        at[0] = m->buf.data;
        len[0] = m->buf.len;
        isend_blocks(at, len, blocks + 1, p->rank, p->tag, mc->comm, &m->sent);
        p->unanswered++;
        return;
    }
    message *m = p->open && p->messages[(p->mfirst + p->mcount - 1) % WINDOW].buf.len + part.len <= BATCH_BYTES
                     ? &p->messages[(p->mfirst + p->mcount - 1) % WINDOW]
                     : NULL;
    if (!m) {
        if (p->open)
            send_open(mc, p);
        m = new_message(p);
        p->open = true;
    }
    bool put = mp__wbuf_put(&m->buf, part.data, part.len) != NULL;
    mp__wbuf_free(&part);
    if (!put)
        MPI_Abort(mc->comm, 70);
    m->ranges++;
    if (p->unanswered == 0 || m->buf.len >= BATCH_BYTES)
        send_open(mc, p);
}

/* Receives the reply to the oldest message sent.  A message of one range
 * whose outputs are large has them received straight into the job. */
static void receive_reply(mpi_crew *mc, proxy *p, mp__job *job, const in_flight *f)
{
    message *m = &p->messages[p->mfirst];
    MP__ASSERT(p->mcount > 0 && m->sent != MPI_REQUEST_NULL);
    MPI_Status st;
    size_t n = mp__mpi_wait_message(mc->comm, p->rank, p->tag, &st);
    size_t head = sizeof(mp__mpi_reply);
    size_t out = m->ranges == 1 && job->out && !job->ring ? (f->end - f->begin) * job->out_size : 0;
    bool in_place = out >= MP__MPI_IN_PLACE_BYTES && out <= INT_MAX && n >= head + out;
    p->rep.len = 0;
    if (!mp__wbuf_put(&p->rep, NULL, in_place ? n - out : n))
        MPI_Abort(mc->comm, 70);
    if (in_place) {
        const void *at[3] = { p->rep.data, job->out + f->begin * job->out_size, p->rep.data + head };
        size_t len[3] = { head, out, n - head - out };
        MPI_Datatype type = blocks_type(at, len, 3);
        MPI_Recv(MPI_BOTTOM, 1, type, p->rank, p->tag, mc->comm, MPI_STATUS_IGNORE);
        MPI_Type_free(&type);
    } else {
        MPI_Recv(p->rep.data, (int)n, MPI_BYTE, p->rank, p->tag, mc->comm, MPI_STATUS_IGNORE);
    }
    MPI_Wait(&m->sent, MPI_STATUS_IGNORE);   /* the rank took it: it answered */
    p->rep_at = 0;
    p->rep_left = m->ranges;
    p->rep_in_place = in_place;
    p->mfirst = (p->mfirst + 1) % WINDOW;
    p->mcount--;
}

/* mp__shared.finish_elsewhere: the oldest range, back from the rank. */
static void finish_remote(void *arg, int worker, mp__job *job, size_t *begin, size_t *end)
{
    mpi_crew *mc = arg;
    proxy *p = &mc->proxies[worker];
    MP__ASSERT(p->count > 0);
    in_flight *f = &p->window[p->first];
    p->first = (p->first + 1) % WINDOW;
    p->count--;
    *begin = f->begin;
    *end = f->end;
    if (f->failed)
        return;
    /* The ranges collecting in the open message go now if the oldest is
     * among them, or if the rank is about to run out of work. */
    if (p->open && (p->rep_left == 0 && p->unanswered == 0 ? true : p->unanswered - p->rep_left <= WINDOW / 2))
        send_open(mc, p);
    if (p->rep_left == 0)
        receive_reply(mc, p, job, f);
    mp__mpi_reply head;
    size_t left = p->rep.len - p->rep_at;
    if (left < sizeof head)
        MPI_Abort(mc->comm, 77);
    memcpy(&head, p->rep.data + p->rep_at, sizeof head);
    size_t part = p->rep_in_place ? left : (size_t)head.bytes;
    if (part > left || !take_reply(p->rep.data + p->rep_at, part, job, f->begin, f->end, p->rep_in_place))
        MPI_Abort(mc->comm, 77);   /* a reply that does not match its request: the ranks disagree on the binary */
    p->rep_at += part;
    p->rep_left--;
    p->unanswered--;
}

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    mp__crew *crew = p->mc->crew;
    mp__crew_worker_ready(crew, p->id);
    mp__sched_worker_main(crew->sh, p->id);
    if (p->described) {
        mp__mpi_request bye = { .type = MP__MPI_BYE, .bytes = sizeof bye, .executor = (uint32_t)p->executor };
        MPI_Send(&bye, sizeof bye, MPI_BYTE, p->rank, p->tag, p->mc->comm);
    }
    return NULL;
}

/* ---- the backend ---------------------------------------------------------------- */

static void free_crew(mpi_crew *mc, int nproxies)
{
    for (int i = 0; mc->proxies && i < nproxies; i++) {
        for (int k = 0; k < WINDOW; k++)
            mp__wbuf_free(&mc->proxies[i].messages[k].buf);
        mp__wbuf_free(&mc->proxies[i].rep);
        tag_give_back(mc->proxies[i].tag);
    }
    free(mc->proxies);
    free(mc->ranks);
    free(mc);
}

/* Asks each serving rank how many ranges it runs at once and where it
 * runs; takes ranks in order until they run `requested` (0: all). */
static void meet_ranks(mpi_crew *mc, int size, int requested)
{
    mp__mpi_control c = { .type = MP__MPI_HELLO };
    mp__wbuf reply = { NULL, 0, 0 };
    int width = 0;
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < size - 1 && (!requested || width < requested); i++) {
        rank_info *ri = &mc->ranks[mc->nranks++];
        ri->rank = server_rank(i, mc->root);
        MPI_Send(&c, sizeof c, MPI_BYTE, ri->rank, MP__MPI_TAG_CONTROL, mc->comm);
        mp__mpi_hello h = { 1, 0, "" };
        mp__mpi_receive(mc->comm, ri->rank, MP__MPI_TAG_REPLY, &reply, NULL);
        memcpy(&h, reply.data, reply.len < sizeof h ? reply.len : sizeof h);
        h.host[sizeof h.host - 1] = '\0';
        ri->workers = h.workers < 1 ? 1 : h.workers;
        ri->worker_base = width;
        ri->pid = h.pid;
        snprintf(ri->host, sizeof ri->host, "%s", h.host);
        width += ri->workers;
    }
    pthread_mutex_unlock(&open_lock);
    mp__wbuf_free(&reply);
}

static int mpi_prepare(mp__crew *crew, int requested)
{
    mpi_crew *mc = calloc(1, sizeof *mc);
    if (!mc)
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    mc->crew = crew;
    mc->collective = collective.set;
    int size, r = pool_world("mp_pool_open", &mc->comm, &mc->root);
    if (r) {
        free(mc);
        return r;
    }
    MPI_Comm_size(mc->comm, &size);
    if (size < 2) {
        free(mc);
        return mp__error(MP_ENOTSUP, "mp_pool_open: the mpi backend runs on 1 rank, so no rank serves tasks "
                         "(start it with mpirun -n 2 or more)");
    }
    if (!(mc->ranks = calloc((size_t)size - 1, sizeof *mc->ranks))) {
        free(mc);
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    }
    meet_ranks(mc, size, requested);
    /* One proxy per worker of each rank. */
    int width = 0;
    for (int i = 0; i < mc->nranks; i++) {
        if (width + mc->ranks[i].workers > MP__MAX_WORKERS) {
            mc->nranks = i;
            break;
        }
        width += mc->ranks[i].workers;
    }
    crew->width = width;
    crew->workers = width;
    crew->backend_data = mc;
    return 0;
}

/* Runs the initializer on every serving rank: 0, or the first failure. */
static int open_servers(mpi_crew *mc)
{
    mp__crew *crew = mc->crew;
    mp__mpi_control c = { .type = MP__MPI_OPEN, .ctx_size = crew->init_ctx_size };
    int r = mp__fnref_make((void (*)(void))crew->initializer, "mp_pool_open: the initializer", &c.initializer);
    if (r)
        return r;
    mp__wbuf msg = { NULL, 0, 0 };
    if (!mp__wbuf_put(&msg, &c, sizeof c) || (c.ctx_size && !mp__wbuf_put(&msg, crew->init_ctx, c.ctx_size)) ||
        msg.len > INT_MAX) {
        mp__wbuf_free(&msg);
        return mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    }
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < mc->nranks; i++)
        MPI_Send(msg.data, (int)msg.len, MPI_BYTE, mc->ranks[i].rank, MP__MPI_TAG_CONTROL, mc->comm);
    mp__wbuf reply = { NULL, 0, 0 };
    for (int i = 0; i < mc->nranks; i++) {
        const rank_info *ri = &mc->ranks[i];
        mp__mpi_opened o;
        mp__mpi_receive(mc->comm, ri->rank, MP__MPI_TAG_REPLY, &reply, NULL);
        memcpy(&o, reply.data, reply.len < sizeof o ? reply.len : sizeof o);
        o.message[sizeof o.message - 1] = '\0';
        if (o.code && !r)
            r = mp__error(o.code, "mp_pool_open: the worker initializer failed on %s (pid %d): %s", ri->host, ri->pid,
                          o.message);
    }
    pthread_mutex_unlock(&open_lock);
    mp__wbuf_free(&reply);
    mp__wbuf_free(&msg);
    return r;
}

static void join_proxies(mpi_crew *mc, int n)
{
    for (int i = 0; i < n; i++)
        if (mc->proxies[i].running)
            pthread_join(mc->proxies[i].thread, NULL);
}

/* The pools open in this process, so that the program's end can stop
 * their proxies before MPI goes (a pool may be left open at exit, as on
 * every backend). */
static struct {
    pthread_mutex_t lock;
    mpi_crew *head;
} open_pools = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void remember_open(mpi_crew *mc)
{
    pthread_mutex_lock(&open_pools.lock);
    mc->next_open = open_pools.head;
    open_pools.head = mc;
    pthread_mutex_unlock(&open_pools.lock);
}

static void forget_open(mpi_crew *mc)
{
    pthread_mutex_lock(&open_pools.lock);
    for (mpi_crew **p = &open_pools.head; *p; p = &(*p)->next_open)
        if (*p == mc) {
            *p = mc->next_open;
            break;
        }
    pthread_mutex_unlock(&open_pools.lock);
}

/* Shuts the proxies of every pool still open down and waits for them:
 * their ranges in flight come back first, and none uses MPI afterwards.
 * The pools themselves stay allocated; the process is ending. */
static void stop_open_pools(void)
{
    pthread_mutex_lock(&open_pools.lock);
    for (mpi_crew *mc = open_pools.head; mc; mc = mc->next_open) {
        mp__sched_shutdown(mc->crew->sh);
        join_proxies(mc, mc->crew->workers);
        mc->proxies_joined = true;
    }
    open_pools.head = NULL;
    pthread_mutex_unlock(&open_pools.lock);
}

/* Lays the proxies out round by round over the ranks, so that the first
 * ones cover every rank: proxy slots are claimed in order when a call has
 * fewer chunks than workers. */
static int place_proxies(mpi_crew *mc)
{
    int n = 0;
    for (int round = 0; n < mc->crew->workers; round++)
        for (int i = 0; i < mc->nranks && n < mc->crew->workers; i++) {
            const rank_info *ri = &mc->ranks[i];
            if (round >= ri->workers)
                continue;
            proxy *p = &mc->proxies[n];
            p->mc = mc;
            p->id = n++;
            p->rank = ri->rank;
            p->executor = round;
            p->worker_base = ri->worker_base;
            if ((p->tag = tag_take()) < 0)
                return mp__error(MP_ENOMEM, "mp_pool_open: this process has %d MPI proxies alive, the most "
                                 "message tags allow: close a pool first", NTAGS);
        }
    return 0;
}

static int mpi_start(mp__crew *crew)
{
    mpi_crew *mc = crew->backend_data;
    crew->backend_data = NULL;
    int r = 0;
    if (!(mc->proxies = calloc((size_t)crew->workers, sizeof *mc->proxies)))
        r = mp__error(MP_ENOMEM, "mp_pool_open: out of memory");
    if (r == 0)
        r = open_servers(mc);
    if (r) {
        free_crew(mc, crew->workers);
        return r;
    }
    if ((r = place_proxies(mc))) {
        free_crew(mc, crew->workers);
        return r;
    }
    crew->sh->send_elsewhere = send_remote;
    crew->sh->finish_elsewhere = finish_remote;
    crew->sh->elsewhere_arg = mc;
    crew->sh->elsewhere_max_bytes = RANGE_MAX_BYTES;
    for (int i = 0; i < crew->workers && r == 0; i++) {
        proxy *p = &mc->proxies[i];
        int e = pthread_create(&p->thread, NULL, proxy_main, p);
        if (e)
            r = mp__error(-e, "mp_pool_open: cannot start proxy thread %d of %d", i + 1, crew->workers);
        p->running = e == 0;
    }
    if (r == 0)
        r = mp__crew_wait_ready(crew, NULL);
    if (r) {
        mp__sched_shutdown(crew->sh);
        join_proxies(mc, crew->workers);
        free_crew(mc, crew->workers);
        return r;
    }
    crew->backend_data = mc;
    if (!mc->collective)
        remember_open(mc);
    return 0;
}

const mp__mpi_rank *mp__mpi_pool_ranks(mp_pool *pool, MPI_Comm *comm, int *n)
{
    const mpi_crew *mc = pool->crew.backend_data;
    MP__ASSERT(pool->crew.ops == &mp__mpi_backend && mc);
    *comm = mc->comm;
    *n = mc->nranks;
    return mc->ranks;
}

static int mpi_check(mp__crew *crew)
{
    return mp__crew_broken(crew);   /* a rank that dies ends the MPI job: nothing to recover here */
}

static void mpi_stop(mp__crew *crew, bool now)
{
    MP__UNUSED(now);         /* a range sent to a rank runs to its end */
    mpi_crew *mc = crew->backend_data;
    forget_open(mc);
    /* Terminate stops before it settles calls: the proxies bring back what
     * they have in flight, while its callers still wait, and leave. */
    mp__sched_shutdown(crew->sh);
    if (!mc->proxies_joined)
        join_proxies(mc, crew->workers);
    if (mc->collective) {
        send_quit(mc->comm, mc->root);
        MPI_Comm_free(&mc->comm);
    }
    free_crew(mc, crew->workers);
    crew->backend_data = NULL;
}

static void mpi_forget(mp__crew *crew)
{
    mpi_crew *mc = crew->backend_data;
    if (mc)
        forget_open(mc);
    if (mc)
        free_crew(mc, mc->proxies ? crew->workers : 0);
    crew->backend_data = NULL;
}

static void mpi_watch(mp__crew *crew)
{
    MP__UNUSED(crew);        /* deadlines are checked by the serving rank when a task returns */
}

static int mpi_check_fn(mp__crew *crew, void (*fn)(void), const char *who)
{
    MP__UNUSED(crew);
    mp__fnref ref;
    return mp__fnref_make(fn, who, &ref);
}

const mp__backend_ops mp__mpi_backend = {
    .name = "mpi",
    .memory = MP__MEMORY_SHIPPED,
    .supervised = false,
    .futex_shared = false,
    .stops_running_tasks = true,
    .prepare = mpi_prepare,
    .start = mpi_start,
    .check = mpi_check,
    .stop = mpi_stop,
    .forget = mpi_forget,
    .check_fn = mpi_check_fn,
    .publish = mp__crew_publish_in_place,
    .feed = mp__crew_feed_in_place,
    .watch = mpi_watch,
};

/* ---- the collective form ------------------------------------------------------------ */

int mp_pool_open_mpi(mp_pool **out, const mp_pool_options *opts, const void *comm, int root)
{
    static const char who[] = "mp_pool_open_mpi";
    if (!out)
        return mp__error(MP_EINVAL, "%s: out is NULL", who);
    int initialised, size, rank, r;
    MPI_Initialized(&initialised);
    if (!initialised)
        return mp__error(MP_ENOTSUP, "%s: MPI is not initialised: call MPI_Init_thread with MPI_THREAD_MULTIPLE first",
                         who);
    if ((r = check_thread_level(who)))
        return r;
    MPI_Comm base = comm ? *(const MPI_Comm *)comm : MPI_COMM_WORLD;
    MPI_Comm_size(base, &size);
    MPI_Comm_rank(base, &rank);
    if (root < 0 || root >= size)
        return mp__error(MP_EINVAL, "%s: root %d is not a rank of the communicator (0 to %d)", who, root, size - 1);
    MPI_Comm dup;
    dup_fatal(base, &dup);
    if (rank != root) {
        mp__mpi_serve(dup, root);
        MPI_Comm_free(&dup);
        *out = NULL;
        return 0;
    }
    mp_pool_options o = opts ? *opts : (mp_pool_options){ 0 };
    o.backend = MP_BACKEND_MPI;
    collective.set = true;
    collective.comm = dup;
    collective.root = root;
    r = mp_pool_open(out, &o);
    collective.set = false;
    if (r) {
        send_quit(dup, root);
        MPI_Comm_free(&dup);
    }
    return r;
}
