/* mpi_jobs.c - `mproc run` under mpirun (see mpi_jobs.h).
 *
 * The protocol, on a duplicate of the world communicator:
 *   rank 0 -> a server: START   a composed job for one of the server's slots
 *                       SIGNAL  a signal for a job's process group
 *                       END     the run is over
 *   a server -> rank 0: DONE    a job's output, status and times
 *                       BYE     the answer to END: nothing runs there now
 * Integers are 64-bit and doubles are doubles, in the byte order of the
 * machine (the ranks of one MPI job share an architecture); a string is
 * its length, its bytes and a NUL, so that it is read in place.
 *
 * Neither side waits inside MPI: Open MPI's blocking calls poll at full
 * speed, and the ranks share their cores with the jobs.  Each side looks
 * for messages between its other events and naps in between, a little
 * longer each time nothing came (up to NAP_MAX): rank 0 in the runner's
 * own poll (remote_host.wait_ms), a server in ppoll on its signalfd,
 * which a job's end wakes at once.  A server sends with MPI_Isend, so
 * that its large reply and rank 0's next START never wait for each
 * other. */
#include "mpi_jobs.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "output.h"
#include "remote.h"
#include "runner.h"
#include "spawn.h"

enum { TAG_START = 1, TAG_SIGNAL, TAG_END, TAG_DONE, TAG_BYE };

/* How a job came back (DONE). */
enum { DONE_RAN, DONE_NOT_STARTED, DONE_TOO_LARGE };

#define NAP_MIN_NS 50000L      /* a server's first nap */
#define NAP_MAX_NS 2000000L    /* the longest nap of either side */
#define NAP_MIN_MS 1           /* rank 0's first nap (poll counts milliseconds) */

/* Names the MPI job this process belongs to ("" when the launcher sets
 * no name we know). */
static const char *mpi_job_name(void)
{
    static const char *const vars[] = {"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return v;
    }
    return "";
}

/* Set in the environment of the jobs an MPI run starts, to the name of
 * its MPI job: they inherit the launcher's variables, and an `mproc run`
 * among them must not take itself for a rank of that job. */
#define JOB_OF_MPI_RUN "MPROC_RUN_MPI_JOB"

int mpi_jobs_wanted(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    const char *outer = getenv(JOB_OF_MPI_RUN);
    if (outer && !strcmp(outer, mpi_job_name()))
        return 0;   /* a job of `mproc run` under that mpirun: it runs here */
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int mpi_jobs_serving(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    if (!mpi_jobs_wanted())
        return 0;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return strcmp(v, "0") != 0;
    }
    return 0;
}

/* ---- messages ----------------------------------------------------------- */

static void put_u64(strbuf *b, uint64_t v)
{
    sb_add(b, &v, sizeof v);
}

static void put_f64(strbuf *b, double v)
{
    sb_add(b, &v, sizeof v);
}

static void put_bytes(strbuf *b, const char *p, size_t n)
{
    put_u64(b, n);
    sb_add(b, p, n);
    sb_addc(b, '\0');
}

static void put_str(strbuf *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

/* A received message, read front to back; bad is set (and zeros and
 * empty strings come back) once a field runs past its end. */
typedef struct wire {
    const char *p, *end;
    int bad;
} wire;

static wire wire_of(const strbuf *b)
{
    return (wire){b->data, b->data + b->len, 0};
}

/* Copies the next n bytes of the message to out (zeros past its end). */
static void get_raw(wire *w, void *out, size_t n)
{
    if ((size_t)(w->end - w->p) < n) {
        w->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, w->p, n);
    w->p += n;
}

static uint64_t get_u64(wire *w)
{
    uint64_t v;
    get_raw(w, &v, sizeof v);
    return v;
}

static double get_f64(wire *w)
{
    double v;
    get_raw(w, &v, sizeof v);
    return v;
}

/* A string of the message, in place (NUL-terminated); *len gets its length. */
static const char *get_bytes(wire *w, size_t *len)
{
    uint64_t n = get_u64(w);
    *len = 0;
    if (w->bad || n >= (uint64_t)(w->end - w->p) || w->p[n] != '\0') {
        w->bad = 1;
        return "";
    }
    const char *s = w->p;
    w->p += n + 1;
    *len = (size_t)n;
    return s;
}

static const char *get_str(wire *w)
{
    size_t len;
    return get_bytes(w, &len);
}

/* A message that breaks the protocol is a bug: end the MPI job rather
 * than guess (mpirun then stops every rank and their jobs). */
static void broken(MPI_Comm comm, const char *what)
{
    say("%s", what);
    MPI_Abort(comm, RUN_EXIT_ERROR);
}

/* Receives the message a probe found into buf. */
static void receive(MPI_Comm comm, const MPI_Status *st, strbuf *buf)
{
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    sb_clear(buf);
    if (sb_reserve(buf, (size_t)count) < 0)
        broken(comm, "out of memory for a message from another rank"); /* MPI cannot skip it */
    MPI_Recv(buf->data, count, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG, comm, MPI_STATUS_IGNORE);
    buf->len = (size_t)count;
}

/* Whether a message with this tag (MPI_ANY_TAG: any) waits from source. */
static int message_waits(MPI_Comm comm, int source, int tag, MPI_Status *st)
{
    int flag = 0;
    MPI_Iprobe(source, tag, comm, &flag, st);
    return flag;
}

static void nap_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* ---- a serving rank ----------------------------------------------------- */

/* A DONE or BYE on its way to rank 0. */
typedef struct outgoing {
    struct outgoing *next;
    MPI_Request req;
    strbuf msg;
} outgoing;

typedef struct server {
    MPI_Comm comm;
    int rank;
    long slots;
    job **jobs;                 /* [slots]: the job each slot runs, or NULL */
    spawner sp;
    int sigfd;
    outgoing *sends;
    strbuf in;
    long nap;                   /* nanoseconds, for the next idle wait */
    int ended;                  /* END came */
} server;

static void server_free(server *s)
{
    free(s->jobs);
    if (s->sp.env)
        spawner_free(&s->sp);
    if (s->sigfd >= 0)
        close(s->sigfd);
    sb_free(&s->in);
}

/* Readies a server of slots job slots; the runner's signals are blocked
 * already (mpi_jobs_run).  Returns 0, or -1 after saying why. */
static int server_init(server *s, const run_options *o, MPI_Comm comm, int rank, long slots)
{
    memset(s, 0, sizeof *s);
    s->comm = comm;
    s->rank = rank;
    s->slots = slots;
    s->sigfd = -1;
    s->sp.devnull = -1;
    s->nap = NAP_MIN_NS;
    /* Jobs get SIGPIPE as this rank was given it, as the runner's do. */
    struct sigaction pipe_now;
    sigaction(SIGPIPE, NULL, &pipe_now);
    int e = spawner_init(&s->sp, pipe_now.sa_handler != SIG_IGN);
    if (!e && o->slot_var)
        e = spawner_add_slot_var(&s->sp, o->slot_var);
    sigset_t set;
    run_signal_set(&set);
    s->jobs = calloc((size_t)slots, sizeof *s->jobs);
    s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (!e && (!s->jobs || s->sigfd < 0))
        e = s->jobs ? errno : ENOMEM;
    if (e) {
        say("rank %d cannot prepare to start jobs: %s", rank, strerror(e));
        server_free(s);
        return -1;
    }
    return 0;
}

/* Sends msg (taken over) to rank 0 without waiting for it to arrive. */
static void send_later(server *s, strbuf *msg, int tag)
{
    outgoing *out = calloc(1, sizeof *out);
    if (!out || msg->failed || msg->len > INT_MAX)
        broken(s->comm, "out of memory for a reply to rank 0");
    out->msg = *msg;
    *msg = (strbuf)STRBUF_INIT;
    MPI_Isend(out->msg.data, (int)out->msg.len, MPI_BYTE, 0, tag, s->comm, &out->req);
    out->next = s->sends;
    s->sends = out;
}

/* Frees the sends that arrived; with wait, waits for all of them. */
static void finish_sends(server *s, int wait)
{
    for (outgoing **at = &s->sends; *at;) {
        outgoing *out = *at;
        int done = 0;
        if (wait)
            MPI_Wait(&out->req, MPI_STATUS_IGNORE);
        else
            MPI_Test(&out->req, &done, MPI_STATUS_IGNORE);
        if (!wait && !done) {
            at = &out->next;
            continue;
        }
        *at = out->next;
        sb_free(&out->msg);
        free(out);
    }
}

/* Room the fixed fields of DONE take, with their strings' lengths. */
#define DONE_FIXED 256

/* Tells rank 0 how the job in slot i ended. */
static void report(server *s, long i, const job *j, int how, const char *why)
{
    strbuf msg = STRBUF_INIT;
    size_t size = j->out.len + j->err.len + DONE_FIXED;
    if (how == DONE_RAN && size > INT_MAX)
        how = DONE_TOO_LARGE;
    put_u64(&msg, (uint64_t)i);
    put_u64(&msg, j->seq);
    put_u64(&msg, (uint64_t)how);
    put_u64(&msg, (uint64_t)(int64_t)j->exitval);
    put_u64(&msg, (uint64_t)j->sig);
    put_f64(&msg, j->start_real);
    put_f64(&msg, j->runtime);
    if (how == DONE_RAN) {
        put_bytes(&msg, j->out.data ? j->out.data : "", j->out.len);
        put_bytes(&msg, j->err.data ? j->err.data : "", j->err.len);
    } else {
        put_str(&msg, "");
        put_str(&msg, why ? why : "");
    }
    send_later(s, &msg, TAG_DONE);
}

/* START: runs the job in its slot, as a local job with grouped output. */
static void start_order(server *s, wire *w)
{
    uint64_t i = get_u64(w);
    job *j = job_new();
    if (!j)
        broken(s->comm, "out of memory for a job");
    j->seq = (unsigned long)get_u64(w);
    j->slot = (unsigned long)get_u64(w);
    int direct = get_u64(w) != 0;
    uint64_t nargv = get_u64(w);
    const char *shell = get_str(w);
    size_t cmdlen;
    const char *cmd = get_bytes(w, &cmdlen);
    const char *path = get_str(w);
    /* Each word takes 9 bytes at least: a count that says more lies. */
    if (w->bad || i >= (uint64_t)s->slots || s->jobs[i] || nargv > (uint64_t)(w->end - w->p) / 9)
        broken(s->comm, "a malformed job came from rank 0");
    char **argv = calloc((size_t)nargv + 1, sizeof *argv);
    for (uint64_t k = 0; argv && k < nargv; k++)
        argv[k] = (char *)get_str(w);
    if (w->bad)
        broken(s->comm, "a malformed job came from rank 0");
    if (!argv || sb_add(&j->cmd, cmd, cmdlen) < 0)
        broken(s->comm, "out of memory for a job");
    strbuf err = STRBUF_INIT;
    if (job_spawn(j, direct ? path : NULL, argv, &s->sp, shell, CAPTURE_FILES, &err) == 0) {
        s->jobs[i] = j;
    } else {
        sb_addf(&err, " (on rank %d)", s->rank);
        report(s, (long)i, j, DONE_NOT_STARTED, sb_str(&err));
        job_free(j);
    }
    sb_free(&err);
    free(argv);
}

/* SIGNAL: for the job's process group, if that job still runs here. */
static void signal_order(server *s, wire *w)
{
    uint64_t i = get_u64(w);
    unsigned long seq = (unsigned long)get_u64(w);
    int sig = (int)get_u64(w);
    if (w->bad || i >= (uint64_t)s->slots)
        broken(s->comm, "a malformed signal came from rank 0");
    /* A job that ended before the signal came is gone: nothing to do. */
    if (s->jobs[i] && s->jobs[i]->seq == seq)
        job_signal(s->jobs[i], sig);
}

/* Handles what rank 0 has sent.  Returns whether anything came. */
static int take_orders(server *s)
{
    MPI_Status st;
    int any = 0;
    while (!s->ended && message_waits(s->comm, 0, MPI_ANY_TAG, &st)) {
        any = 1;
        receive(s->comm, &st, &s->in);
        wire w = wire_of(&s->in);
        if (st.MPI_TAG == TAG_START)
            start_order(s, &w);
        else if (st.MPI_TAG == TAG_SIGNAL)
            signal_order(s, &w);
        else if (st.MPI_TAG == TAG_END)
            s->ended = 1;
        else
            broken(s->comm, "an unknown message came from rank 0");
    }
    return any;
}

static long slot_of_pid(const server *s, pid_t pid)
{
    for (long i = 0; i < s->slots; i++)
        if (s->jobs[i] && s->jobs[i]->pid == pid)
            return i;
    return -1;
}

/* Reaps the jobs that ended and sends them back.  Returns whether any did. */
static int report_ended_jobs(server *s)
{
    int status, any = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        long i = slot_of_pid(s, pid);
        if (i < 0)
            continue;
        job *j = s->jobs[i];
        job_set_status(j, status);
        j->runtime = clock_mono() - j->start_mono;
        strbuf err = STRBUF_INIT;
        if (job_collect(j, &err) < 0)
            report(s, i, j, DONE_NOT_STARTED, sb_str(&err));
        else
            report(s, i, j, DONE_RAN, NULL);
        sb_free(&err);
        job_free(j);
        s->jobs[i] = NULL;
        any = 1;
    }
    return any;
}

static void signal_all(server *s, int sig)
{
    for (long i = 0; i < s->slots; i++)
        if (s->jobs[i])
            job_signal(s->jobs[i], sig);
}

/* Waits for a job to end, a signal, or the nap to pass.  SIGTERM, SIGINT
 * and SIGHUP (mpirun ending the job) are passed on to the jobs as
 * SIGTERM, so that none outlives this rank; rank 0 hears of their end as
 * usual. */
static void doze(server *s)
{
    struct pollfd pfd = {s->sigfd, POLLIN, 0};
    struct timespec ts = {0, s->nap};
    ppoll(&pfd, 1, &ts, NULL);
    if (s->nap < NAP_MAX_NS)
        s->nap = s->nap * 2 < NAP_MAX_NS ? s->nap * 2 : NAP_MAX_NS;
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            signal_all(s, SIGTERM);
    }
}

/* END came: whatever still runs here (rank 0 stopped early) is killed
 * and reaped, then rank 0 hears BYE. */
static void end_jobs(server *s)
{
    for (long i = 0; i < s->slots; i++) {
        job *j = s->jobs[i];
        if (!j)
            continue;
        job_signal(j, SIGKILL);
        while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        job_free(j);
        s->jobs[i] = NULL;
    }
    strbuf bye = STRBUF_INIT;
    send_later(s, &bye, TAG_BYE);
    finish_sends(s, 1);
}

static void serve(server *s)
{
    while (!s->ended) {
        int busy = take_orders(s);
        busy |= report_ended_jobs(s);
        finish_sends(s, 0);
        if (busy)
            s->nap = NAP_MIN_NS;
        else if (!s->ended)
            doze(s);
    }
    end_jobs(s);
}

/* ---- rank 0: the other ranks as a remote host ---------------------------- */

typedef struct mpi_host {
    remote_host base;           /* first: the runner's view of it */
    MPI_Comm comm;
    int size;
    long *first;                /* [size + 1]: rank k's first remote slot; first[size]: all */
    job **jobs;                 /* [base.slots]: the job each remote slot runs (the runner's) */
    long in_flight;             /* jobs started and not back */
    int nap_ms;
    strbuf msg, in;
} mpi_host;

/* The rank that serves remote slot i, and i's index among its slots. */
static int rank_of(const mpi_host *h, long i, long *index)
{
    int k = 1;
    while (k + 1 < h->size && i >= h->first[k + 1])
        k++;
    *index = i - h->first[k];
    return k;
}

static void host_send(mpi_host *h, int rank, int tag)
{
    MPI_Send(h->msg.data, (int)h->msg.len, MPI_BYTE, rank, tag, h->comm);
}

static int host_start(remote_host *rh, job *j, long i, command *cmd, const char *shell, strbuf *err)
{
    mpi_host *h = (mpi_host *)rh;
    long index;
    int rank = rank_of(h, i, &index);
    strvec argv = STRVEC_INIT;
    strbuf path = STRBUF_INIT;
    int direct = job_argv(j, cmd, &argv, &path);
    sb_clear(&h->msg);
    put_u64(&h->msg, (uint64_t)index);
    put_u64(&h->msg, j->seq);
    put_u64(&h->msg, j->slot);
    put_u64(&h->msg, direct > 0);
    put_u64(&h->msg, direct > 0 ? argv.len : 0);
    put_str(&h->msg, shell);
    put_bytes(&h->msg, sb_str(&j->cmd), j->cmd.len);
    put_str(&h->msg, sb_str(&path));
    for (size_t k = 0; direct > 0 && k < argv.len; k++)
        put_str(&h->msg, argv.items[k]);
    sv_free(&argv);
    sb_free(&path);
    if (direct < 0 || h->msg.failed) {
        sb_adds(err, "out of memory");
        return -1;
    }
    if (h->msg.len > INT_MAX) {
        sb_addf(err, "the command of job %lu is too long to send to rank %d", j->seq, rank);
        return -1;
    }
    host_send(h, rank, TAG_START);
    j->host = &rh->host;
    j->pid = -1;
    j->start_real = clock_real();
    j->start_mono = clock_mono();
    j->state = JOB_RUNNING;
    h->jobs[i] = j;
    h->in_flight++;
    return 0;
}

static void host_signal(job_host *jh, job *j, int sig)
{
    mpi_host *h = (mpi_host *)(void *)jh;   /* the first member of the first member */
    long i = 0;
    while (i < h->base.slots && h->jobs[i] != j)
        i++;
    if (i == h->base.slots)
        return;   /* it came back already */
    long index;
    int rank = rank_of(h, i, &index);
    sb_clear(&h->msg);
    put_u64(&h->msg, (uint64_t)index);
    put_u64(&h->msg, j->seq);
    put_u64(&h->msg, (uint64_t)sig);
    if (!h->msg.failed)
        host_send(h, rank, TAG_SIGNAL);
}

/* DONE from rank: fills the job in with what it sent.  Returns 0, or -1
 * with a message when the job could not be run there. */
static int take_done(mpi_host *h, int rank, strbuf *err)
{
    wire w = wire_of(&h->in);
    uint64_t index = get_u64(&w);
    unsigned long seq = (unsigned long)get_u64(&w);
    int how = (int)get_u64(&w);
    int exitval = (int)(int64_t)get_u64(&w);
    int sig = (int)get_u64(&w);
    double start_real = get_f64(&w);
    double runtime = get_f64(&w);
    size_t outlen, errlen;
    const char *out = get_bytes(&w, &outlen);
    const char *errtext = get_bytes(&w, &errlen);
    long i = h->first[rank] + (long)index;
    if (w.bad || index >= (uint64_t)(h->first[rank + 1] - h->first[rank]) || !h->jobs[i] || h->jobs[i]->seq != seq)
        broken(h->comm, "a malformed reply came from a serving rank");
    job *j = h->jobs[i];
    h->jobs[i] = NULL;
    h->in_flight--;
    j->reaped = 1;
    j->exitval = exitval;
    j->sig = sig;
    j->start_real = start_real;
    j->runtime = runtime;
    if (how == DONE_NOT_STARTED || how == DONE_TOO_LARGE) {
        j->discard = 1;
        if (how == DONE_NOT_STARTED)
            sb_add(err, errtext, errlen);
        else
            sb_addf(err, "the output of job %lu is too large to come back from rank %d (2 GiB at most): %s", seq,
                    rank, sb_str(&j->cmd));
        return -1;
    }
    if (sb_add(&j->out, out, outlen) < 0 || sb_add(&j->err, errtext, errlen) < 0) {
        j->discard = 1;
        sb_addf(err, "out of memory for the output of job %lu", seq);
        return -1;
    }
    j->received = j->out.len;
    return 0;
}

static int host_collect(remote_host *rh, strbuf *err)
{
    mpi_host *h = (mpi_host *)rh;
    MPI_Status st;
    int rc = 0;
    while (h->in_flight > 0 && message_waits(h->comm, MPI_ANY_SOURCE, TAG_DONE, &st)) {
        receive(h->comm, &st, &h->in);
        if (take_done(h, st.MPI_SOURCE, err) < 0)
            rc = -1;
        h->nap_ms = NAP_MIN_MS;
    }
    return rc;
}

static int host_wait_ms(remote_host *rh)
{
    mpi_host *h = (mpi_host *)rh;
    if (h->in_flight == 0)
        return -1;
    int ms = h->nap_ms;
    if (h->nap_ms * 1000000L < NAP_MAX_NS)
        h->nap_ms *= 2;
    return ms;
}

/* slots[k]: rank k's job slots (k >= 1).  Returns 0, or -1 when out of memory. */
static int host_init(mpi_host *h, MPI_Comm comm, int size, const long *slots)
{
    memset(h, 0, sizeof *h);
    h->comm = comm;
    h->size = size;
    h->nap_ms = NAP_MIN_MS;
    h->first = calloc((size_t)size + 1, sizeof *h->first);
    if (!h->first)
        return -1;
    h->first[1] = 0;
    for (int k = 1; k < size; k++)
        h->first[k + 1] = h->first[k] + slots[k];
    h->base.slots = h->first[size];
    h->jobs = calloc((size_t)h->base.slots, sizeof *h->jobs);
    h->base.host.signal = host_signal;
    h->base.start = host_start;
    h->base.collect = host_collect;
    h->base.wait_ms = host_wait_ms;
    return h->jobs ? 0 : -1;
}

/* Ends every server: END to each, then their replies until each said BYE
 * (after killing what still ran there, when the run stopped early). */
static void host_end(mpi_host *h)
{
    sb_clear(&h->msg);
    for (int k = 1; k < h->size; k++)
        host_send(h, k, TAG_END);
    MPI_Status st;
    for (int byes = 0; byes < h->size - 1;) {
        if (!message_waits(h->comm, MPI_ANY_SOURCE, MPI_ANY_TAG, &st)) {
            nap_ns(NAP_MAX_NS / 4);
            continue;
        }
        receive(h->comm, &st, &h->in);
        if (st.MPI_TAG == TAG_BYE)
            byes++;
    }
}

static void host_free(mpi_host *h)
{
    free(h->first);
    free(h->jobs);
    sb_free(&h->msg);
    sb_free(&h->in);
}

/* ---- starting ------------------------------------------------------------ */

/* Options whose output or input cannot cross ranks: NULL, or why not. */
static const char *unsupported(const run_options *o)
{
    if (o->ungroup)
        return "-u (--ungroup) is not supported under mpirun: the output of a job on another rank comes back "
               "when the job ends";
    if (o->line_buffer)
        return "--line-buffer is not supported under mpirun: the output of a job on another rank comes back "
               "when the job ends";
    if (o->pipe || o->pipepart)
        return "--pipe and --pipepart are not supported under mpirun: blocks of input are not sent to other ranks";
    return NULL;
}

/* Rank 0: learns every rank's job slots, then runs o with the other
 * ranks as its remote host (or tells them to stop, when it cannot). */
static int lead(run_options *o, MPI_Comm comm, int size, int *signo)
{
    long mine = run_slots(o);
    long *slots = calloc((size_t)size, sizeof *slots);
    if (!slots)
        broken(comm, "out of memory");
    MPI_Gather(&mine, 1, MPI_LONG, slots, 1, MPI_LONG, 0, comm);
    const char *why = unsupported(o);
    int go = mine > 0 && !why;
    for (int k = 1; go && k < size; k++)
        go = slots[k] > 0;   /* a rank that could not get ready said why */
    MPI_Bcast(&go, 1, MPI_INT, 0, comm);
    if (!go) {
        if (why)
            say("%s", why);
        free(slots);
        return RUN_EXIT_ERROR;
    }
    mpi_host h;
    int status = RUN_EXIT_ERROR;
    if (host_init(&h, comm, size, slots) < 0)
        say("%s", "out of memory");
    else
        status = run_jobs(o, &h.base, signo);
    host_end(&h);
    host_free(&h);
    free(slots);
    return status;
}

/* Another rank: tells rank 0 its job slots (-1: cannot serve), then
 * serves until END. */
static void follow(run_options *o, MPI_Comm comm, int rank)
{
    server s;
    long mine = run_slots(o);
    if (mine > 0 && server_init(&s, o, comm, rank, mine) < 0)
        mine = -1;
    MPI_Gather(&mine, 1, MPI_LONG, NULL, 1, MPI_LONG, 0, comm);
    int go = 0;
    MPI_Bcast(&go, 1, MPI_INT, 0, comm);
    if (mine <= 0)
        return;
    if (go)
        serve(&s);
    server_free(&s);
}

int mpi_jobs_run(run_options *o, int *signo)
{
    *signo = 0;
    if (setenv(JOB_OF_MPI_RUN, mpi_job_name(), 1) < 0) {
        say("cannot set %s: %s", JOB_OF_MPI_RUN, strerror(errno));
        return RUN_EXIT_ERROR;
    }
    /* MPI_Init starts threads.  They must block the runner's signals as
     * its thread does: a SIGCHLD or SIGTERM taken by one of them would
     * never reach the runner's signalfd. */
    sigset_t set, old;
    run_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        say("%s", "cannot join the MPI job (MPI_Init_thread failed)");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return RUN_EXIT_ERROR;
    }
    MPI_Comm comm;
    int rank, size, status = 0;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (size == 1)
        status = run_jobs(o, NULL, signo);
    else if (rank == 0)
        status = lead(o, comm, size, signo);
    else
        follow(o, comm, rank);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return status;
}
