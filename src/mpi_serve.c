/* mpi_serve.c - a serving rank: runs the ranges the root's proxies send
 * and replies with their outputs, failures and mp_task_write results (the
 * protocol is in mpi_link.h).
 *
 * A server keeps, per proxy tag, the job that proxy last described (its
 * function, sizes and context), so the context travels once per call and
 * proxy, not once per range.  Tasks run here through the scheduler's own
 * task runner (mp__sched_run_detached): time limits, random streams,
 * mp_task_fail messages and mp_task_write behave as on every backend. */
#include "mpi_link.h"
#include "shm.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- buffers and receiving ------------------------------------------------ */

void *mp__wbuf_put(mp__wbuf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return NULL;
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d)
            return NULL;
        b->data = d;
        b->cap = cap;
    }
    char *at = b->data + b->len;
    if (p && n)
        memcpy(at, p, n);
    b->len += n;
    return at;
}

bool mp__wbuf_align(mp__wbuf *b)
{
    static const char zero[MP__MPI_ALIGN];
    size_t pad = (MP__MPI_ALIGN - b->len % MP__MPI_ALIGN) % MP__MPI_ALIGN;
    return pad == 0 || mp__wbuf_put(b, zero, pad) != NULL;
}

void mp__wbuf_free(mp__wbuf *b)
{
    free(b->data);
    *b = (mp__wbuf){ NULL, 0, 0 };
}

#define SPIN_NS 1000000        /* poll without sleeping this long first */
#define NAP_MIN_NS 20000
#define NAP_MAX_NS 8000000     /* the longest nap, after a long wait */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

size_t mp__mpi_wait_message(MPI_Comm comm, int source, int tag, MPI_Status *st)
{
    int flag = 0;
    uint64_t start = 0;
    long nap = NAP_MIN_NS;
    for (unsigned spins = 0;; spins++) {
        MPI_Iprobe(source, tag, comm, &flag, st);
        if (flag)
            break;
        if (spins < 64)
            continue;        /* the common case, a reply in flight: no clock read */
        if (!start)
            start = now_ns();
        if (now_ns() - start < SPIN_NS)
            continue;
        /* Open MPI's blocking receive polls at full speed; a rank that
         * waits for minutes must not take a core from the ranks working.
         * Naps grow to a millisecond, then to a sixteenth of the wait so
         * far (at most 8 ms): a message late by a nap is late by 1/16 of
         * what it took. */
        struct timespec ts = { 0, nap };
        nanosleep(&ts, NULL);
        uint64_t waited = now_ns() - start;
        long cap = waited / 16 > 1000000 ? (long)(waited / 16) : 1000000;
        if (cap > NAP_MAX_NS)
            cap = NAP_MAX_NS;
        nap = nap * 2 < cap ? nap * 2 : cap;
    }
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    return (size_t)count;
}

int mp__mpi_receive(MPI_Comm comm, int source, int tag, mp__wbuf *buf, int *tag_out)
{
    MPI_Status st;
    size_t count = mp__mpi_wait_message(comm, source, tag, &st);
    buf->len = 0;
    if (!mp__wbuf_put(buf, NULL, count))
        MPI_Abort(comm, 70);      /* the message cannot be taken, and MPI cannot skip it */
    MPI_Recv(buf->data, (int)count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
    if (tag_out)
        *tag_out = st.MPI_TAG;
    return (int)count;
}

/* ---- the serving loop ------------------------------------------------------- */

/* The job a proxy last described: a detached job (sched.h) whose inputs
 * and outputs are pointed at each range's buffers. */
typedef struct served_job {
    mp__job job;
    char *ctx;
    bool collects;           /* the call collects mp_task_write results */
    int worker_base;         /* mp_task_worker of this rank's first worker, in the pool */
    int resolve_error;       /* the function could not be found here */
    char resolve_msg[MP_MESSAGE_MAX];
} served_job;

/* A range received and not yet run (several workers only). */
typedef struct pending {
    struct pending *next;
    int tag;
    mp__wbuf msg;
} pending;

/* What runs one range at a time: the serving thread itself, or one of the
 * rank's worker threads (MPROC_RANK_WORKERS > 1), each with a queue of its
 * own: a proxy's ranges go to one worker, so they run and are answered in
 * the order they were sent. */
typedef struct executor {
    struct server *s;
    int index;               /* 0 .. workers-1 on this rank */
    pthread_t thread;
    pending *head, **tail;   /* under server.lock */
    pthread_cond_t more;
    mp__wbuf out;            /* the reply being built */
    mp__wbuf failures;       /* mp__mpi_failure + message, per failed task */
    uint32_t nfailed;
    bool out_of_memory;
} executor;

typedef struct server {
    MPI_Comm comm;
    int root;
    int rank;
    served_job *jobs[MP__MPI_TAG_LAST_PROXY + 1];   /* by proxy tag */
    int workers;
    executor *executors;
    pthread_mutex_t lock;    /* the executors' queues */
    bool quitting;
    /* Initializer contexts, kept until the rank stops serving: an
     * initializer may keep the pointer, as it may on the other backends. */
    void **init_ctx;
    size_t ninit_ctx;
} server;

static void forget_job(server *s, int tag)
{
    served_job *sj = s->jobs[tag];
    if (!sj)
        return;
    free(sj->ctx);
    free(sj);
    s->jobs[tag] = NULL;
}

/* Reads a job header and its context at *p; false if the message is short
 * or memory runs out. */
static bool describe_job(server *s, int tag, const char **p, const char *end)
{
    mp__mpi_jobhdr h;
    if ((size_t)(end - *p) < sizeof h)
        return false;
    memcpy(&h, *p, sizeof h);
    *p += sizeof h;
    if (h.nargs > MP_MAX_ARGS || h.ctx_size > (size_t)(end - *p))
        return false;
    forget_job(s, tag);
    served_job *sj = calloc(1, sizeof *sj);
    if (!sj || (h.ctx_size && !(sj->ctx = malloc(h.ctx_size)))) {
        free(sj);
        return false;
    }
    if (h.ctx_size)
        memcpy(sj->ctx, *p, h.ctx_size);
    *p += h.ctx_size;
    sj->worker_base = (int)h.worker_base;
    mp__job *job = &sj->job;
    void (*fn)(void) = NULL;
    if ((sj->resolve_error = mp__fnref_resolve(&h.fn, &fn)))
        snprintf(sj->resolve_msg, sizeof sj->resolve_msg, "rank %d: %s", s->rank, mp_last_error());
    job->fn = fn;
    job->kind = (int)h.kind;
    job->nargs = h.nargs;
    for (size_t k = 0; k < h.nargs; k++)
        job->in_size[k] = h.in_size[k];
    job->out_size = h.out_size;
    job->ctx = sj->ctx;
    job->ctx_size = h.ctx_size;
    job->rng_seed = h.rng_seed;
    job->rng_stream = h.rng_stream;
    atomic_store(&job->seq, h.seq);
    atomic_store(&job->timeout_ns, h.timeout_ns);
    sj->collects = h.varout != 0;
    s->jobs[tag] = sj;
    return true;
}

static void note_failure(void *arg, size_t index, int code, const char *message)
{
    executor *s = arg;
    char text[MP_MESSAGE_MAX];
    if (message)
        snprintf(text, sizeof text, "%s", message);
    else
        snprintf(text, sizeof text, "task %zu failed with code %d", index, code);
    mp__mpi_failure f = { index, code, (uint32_t)strlen(text) };
    if (!mp__wbuf_put(&s->failures, &f, sizeof f) || !mp__wbuf_put(&s->failures, text, f.length))
        s->out_of_memory = true;
    s->nfailed++;
}

/* Points the job's inputs at the range's bytes (p, after the range's
 * headers; the range starts at `start`); strings become an array of
 * pointers into them.  false if the message is short. */
static bool bind_inputs(mp__job *job, const char *start, const char *p, const char *end, size_t count,
                        const char ***strings)
{
    p = mp__mpi_align(start, p);
    if (p > end)
        return false;
    size_t nargs = job->kind == MP__KIND_MAP || job->kind == MP__KIND_STRINGS ? 1 : job->nargs;
    if (job->kind == MP__KIND_STRINGS) {
        const char **v = calloc(count ? count : 1, sizeof *v);
        if (!v || (size_t)(end - p) / sizeof(uint64_t) < count) {
            free(v);
            return false;
        }
        const char *text = p + count * sizeof(uint64_t);
        for (size_t i = 0; i < count; i++) {
            uint64_t len;
            memcpy(&len, p + i * sizeof len, sizeof len);
            if (len == MP__MPI_NO_BYTES)
                continue;
            if (len >= (uint64_t)(end - text) || text[len] != '\0') {
                free(v);
                return false;
            }
            v[i] = text;
            text += len + 1;
        }
        job->in[0] = (const char *)(void *)v;
        *strings = v;
        return true;
    }
    for (size_t k = 0; k < nargs; k++) {
        size_t bytes = job->in_size[k] * count;
        if (job->in_size[k] && bytes / job->in_size[k] != count)
            return false;
        if (bytes > (size_t)(end - p))
            return false;
        job->in[k] = bytes ? p : NULL;
        p += bytes;
        if (bytes && k + 1 < nargs && (p = mp__mpi_align(start, p)) > end)
            return false;
    }
    return true;
}

/* Runs one range (at p, up to end) and appends its reply to e->out. */
static void serve_range(server *s, executor *e, int tag, const char *p, const char *end)
{
    const char *start = p;
    mp__mpi_request req;
    memcpy(&req, p, sizeof req);
    p += sizeof req;
    if (req.has_job && !describe_job(s, tag, &p, end))
        MPI_Abort(s->comm, 71);
    served_job *sj = s->jobs[tag];
    if (!sj)
        MPI_Abort(s->comm, 72);   /* a range before its job: a protocol error */
    mp__job *job = &sj->job;
    size_t count = (size_t)req.count;
    const char **strings = NULL;
    size_t base = e->out.len;
    e->failures.len = 0;
    e->nfailed = 0;
    e->out_of_memory = false;
    bool has_var = sj->collects;
    mp__mpi_reply *rep = mp__wbuf_put(&e->out, NULL, sizeof *rep);
    size_t out_bytes = job->out_size * count;
    char *out = rep && (!job->out_size || out_bytes / job->out_size == count) ? mp__wbuf_put(&e->out, NULL, out_bytes) : NULL;
    mp_bytes *var = has_var ? calloc(count ? count : 1, sizeof *var) : NULL;
    if (!rep || !out || (has_var && !var) || !bind_inputs(job, start, p, end, count, &strings))
        MPI_Abort(s->comm, 73);
    memset(out, 0, out_bytes);
    job->out = out_bytes ? out : NULL;
    job->varout = has_var ? var : NULL;
    if (sj->resolve_error) {
        for (size_t i = 0; i < count; i++)
            note_failure(e, (size_t)req.begin + i, MP_EINVAL, sj->resolve_msg);
    } else {
        mp__sched_run_detached(job, sj->worker_base + e->index, (size_t)req.begin, (size_t)(req.begin + count),
                               note_failure, e);
    }
    free(strings);
    job->varout = NULL;
    /* The reply: header and outputs are in place; failures and results follow. */
    bool ok = mp__wbuf_put(&e->out, e->failures.data, e->failures.len) != NULL || !e->failures.len;
    for (size_t i = 0; ok && has_var && i < count; i++) {
        uint64_t len = var[i].data ? var[i].size : MP__MPI_NO_BYTES;
        ok = mp__wbuf_put(&e->out, &len, sizeof len) != NULL;
    }
    for (size_t i = 0; ok && has_var && i < count; i++)
        ok = !var[i].data || mp__wbuf_put(&e->out, var[i].data, var[i].size) != NULL;
    for (size_t i = 0; has_var && i < count; i++)
        mp_shm_free(var[i].data);
    free(var);
    ok = ok && mp__wbuf_align(&e->out);   /* the next range's outputs start aligned */
    if (!ok || e->out_of_memory || e->out.len > INT_MAX)
        MPI_Abort(s->comm, 74);
    mp__mpi_reply done = { e->out.len - base, req.begin, count, e->nfailed, has_var };
    memcpy(e->out.data + base, &done, sizeof done);   /* the buffer may have moved */
}

/* Runs every range of a request message, in order, and sends the one
 * reply.  Nothing of the proxy's job is touched after the send: the
 * proxy's next message may free it. */
static void serve_message(server *s, executor *e, int tag, const char *p, const char *end)
{
    mp__mpi_request first;
    if ((size_t)(end - p) >= sizeof first) {
        memcpy(&first, p, sizeof first);
        if (first.type == MP__MPI_BYE) {
            forget_job(s, tag);   /* here, after every range of the proxy ran on this worker */
            return;
        }
    }
    e->out.len = 0;
    while (p < end) {
        mp__mpi_request req;
        if ((size_t)(end - p) < sizeof req)
            MPI_Abort(s->comm, 71);
        memcpy(&req, p, sizeof req);
        if (req.type != MP__MPI_RANGE || req.bytes < sizeof req || req.bytes > (size_t)(end - p))
            MPI_Abort(s->comm, 71);
        serve_range(s, e, tag, p, p + req.bytes);
        p += req.bytes;
    }
    MPI_Send(e->out.data, (int)e->out.len, MPI_BYTE, s->root, tag, s->comm);
}

/* ---- several ranges at once ------------------------------------------------ */

static void *executor_main(void *arg)
{
    executor *e = arg;
    server *s = e->s;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!e->head && !s->quitting)
            pthread_cond_wait(&e->more, &s->lock);
        if (!e->head)
            break;
        pending *r = e->head;
        if (!(e->head = r->next))
            e->tail = &e->head;
        pthread_mutex_unlock(&s->lock);
        serve_message(s, e, r->tag, r->msg.data, r->msg.data + r->msg.len);
        mp__wbuf_free(&r->msg);
        free(r);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void enqueue(server *s, pending *r)
{
    mp__mpi_request req;
    memcpy(&req, r->msg.data, sizeof req);
    executor *e = &s->executors[req.executor < (uint32_t)s->workers ? req.executor : 0];
    pthread_mutex_lock(&s->lock);
    r->next = NULL;
    *e->tail = r;
    e->tail = &r->next;
    pthread_cond_signal(&e->more);
    pthread_mutex_unlock(&s->lock);
}

/* MPROC_RANK_WORKERS: ranges this rank runs at once. */
static int rank_workers(void)
{
    const char *env = getenv("MPROC_RANK_WORKERS");
    if (!env || !*env)
        return 1;
    char *end;
    long n = strtol(env, &end, 10);
    if (*end || n < 0 || n > MP__MAX_WORKERS / 2) {
        fprintf(stderr, "mproc: MPROC_RANK_WORKERS='%s' is not a number from 0 (every CPU) to %d: using 1\n", env,
                MP__MAX_WORKERS / 2);
        return 1;
    }
    return n ? (int)n : mp_cpu_count();
}

static void serve_hello(server *s)
{
    mp__mpi_hello h = { s->workers, (int32_t)getpid(), "" };
    if (gethostname(h.host, sizeof h.host) != 0)
        snprintf(h.host, sizeof h.host, "?");
    h.host[sizeof h.host - 1] = '\0';
    MPI_Send(&h, sizeof h, MPI_BYTE, s->root, MP__MPI_TAG_REPLY, s->comm);
}

/* Runs the pool's initializer here, as each worker of the other backends
 * does, and replies with its outcome. */
static void serve_open(server *s, const char *p, const char *end)
{
    mp__mpi_control c;
    memcpy(&c, p, sizeof c);
    p += sizeof c;
    mp__mpi_opened r = { 0, "" };
    void (*fn)(void) = NULL;
    if (c.ctx_size > (size_t)(end - p)) {
        r.code = MP_EINVAL;
        snprintf(r.message, sizeof r.message, "rank %d: a short open message", s->rank);
    } else if ((r.code = mp__fnref_resolve(&c.initializer, &fn))) {
        snprintf(r.message, sizeof r.message, "rank %d: %s", s->rank, mp_last_error());
    } else if (fn) {
        void *ctx = NULL, **list = realloc(s->init_ctx, (s->ninit_ctx + 1) * sizeof *list);
        if (!list || (c.ctx_size && !(ctx = malloc(c.ctx_size))))
            MPI_Abort(s->comm, 75);
        s->init_ctx = list;
        s->init_ctx[s->ninit_ctx++] = ctx;
        if (c.ctx_size)
            memcpy(ctx, p, c.ctx_size);
        mp_set_error(0, "%s", "");
        r.code = ((int (*)(const void *))fn)(ctx);
        if (r.code)
            snprintf(r.message, sizeof r.message, "rank %d: %s", s->rank,
                     *mp_last_error() ? mp_last_error() : mp_strerror(r.code));
    }
    MPI_Send(&r, sizeof r, MPI_BYTE, s->root, MP__MPI_TAG_REPLY, s->comm);
}

static bool is_proxy_tag(int tag)
{
    return tag >= MP__MPI_TAG_FIRST_PROXY && tag <= MP__MPI_TAG_LAST_PROXY;
}

void mp__mpi_serve(MPI_Comm comm, int root)
{
    server *s = calloc(1, sizeof *s);
    if (!s || mp__arena_init() != 0)
        MPI_Abort(comm, 75);       /* mp_task_write and failures need the arena */
    s->comm = comm;
    s->root = root;
    MPI_Comm_rank(comm, &s->rank);
    s->workers = rank_workers();
    s->executors = calloc((size_t)s->workers, sizeof *s->executors);
    if (!s->executors)
        MPI_Abort(comm, 75);
    pthread_mutex_init(&s->lock, NULL);
    bool threaded = s->workers > 1;
    for (int i = 0; i < s->workers; i++) {
        executor *e = &s->executors[i];
        *e = (executor){ .s = s, .index = i };
        e->tail = &e->head;
        pthread_cond_init(&e->more, NULL);
        if (threaded && pthread_create(&s->executors[i].thread, NULL, executor_main, &s->executors[i]) != 0)
            MPI_Abort(comm, 75);
    }
    mp__wbuf msg = { NULL, 0, 0 };
    for (;;) {
        int tag;
        pending *r = threaded ? calloc(1, sizeof *r) : NULL;
        if (threaded && !r)
            MPI_Abort(comm, 75);
        mp__wbuf *into = threaded ? &r->msg : &msg;
        int n = mp__mpi_receive(comm, root, MPI_ANY_TAG, into, &tag);
        uint32_t type = 0;
        if ((size_t)n >= sizeof type)
            memcpy(&type, into->data, sizeof type);
        if (is_proxy_tag(tag) && (type == MP__MPI_RANGE || type == MP__MPI_BYE) && (size_t)n >= sizeof(mp__mpi_request)) {
            if (threaded) {
                r->tag = tag;
                enqueue(s, r);
            } else {
                serve_message(s, &s->executors[0], tag, msg.data, msg.data + n);
            }
            continue;
        }
        if (threaded) {
            msg.len = 0;
            if (!mp__wbuf_put(&msg, into->data, into->len))
                MPI_Abort(comm, 75);
            mp__wbuf_free(&r->msg);
            free(r);
        }
        if (tag == MP__MPI_TAG_CONTROL && type == MP__MPI_QUIT)
            break;
        if (tag == MP__MPI_TAG_CONTROL && type == MP__MPI_HELLO)
            serve_hello(s);
        else if (tag == MP__MPI_TAG_CONTROL && type == MP__MPI_OPEN && (size_t)n >= sizeof(mp__mpi_control))
            serve_open(s, msg.data, msg.data + n);
        else if (tag == MP__MPI_TAG_CONTROL && type == MP__MPI_MR)
            mp__mr_serve(comm, root, msg.data, (size_t)n);
        else
            MPI_Abort(comm, 76);   /* nobody else sends on this communicator */
    }
    pthread_mutex_lock(&s->lock);
    s->quitting = true;
    for (int i = 0; i < s->workers; i++)
        pthread_cond_signal(&s->executors[i].more);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; threaded && i < s->workers; i++)
        pthread_join(s->executors[i].thread, NULL);
    for (int t = 0; t <= MP__MPI_TAG_LAST_PROXY; t++)
        forget_job(s, t);
    for (int i = 0; i < s->workers; i++) {
        mp__wbuf_free(&s->executors[i].out);
        mp__wbuf_free(&s->executors[i].failures);
        pthread_cond_destroy(&s->executors[i].more);
    }
    free(s->executors);
    for (size_t i = 0; i < s->ninit_ctx; i++)
        free(s->init_ctx[i]);
    free(s->init_ctx);
    pthread_mutex_destroy(&s->lock);
    mp__wbuf_free(&msg);
    free(s);
}
