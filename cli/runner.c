/* runner.c - the event loop of `mproc run`.
 *
 * One thread.  SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGTSTP and SIGCONT are
 * blocked and read from a signalfd, so a child's exit, a signal and (with
 * --line-buffer) output pipes are all events of the same poll(): no
 * handler runs at an awkward moment.  Time limits are poll timeouts.
 * When a job is over (job_is_over) its output is printed whole, logged
 * and counted; with -k, in input order.  Under mpirun the slots after the
 * local ones belong to a remote host (remote.h): their jobs end through
 * its collect, looked at after every poll, which its wait_ms bounds. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blocks.h"
#include "command.h"
#include "feed.h"
#include "input.h"
#include "job.h"
#include "joblog.h"
#include "median.h"
#include "output.h"
#include "pack.h"
#include "progress.h"
#include "remote.h"
#include "results.h"
#include "spawn.h"
#include "tally.h"

typedef struct runner {
    run_options *o;
    command cmd;
    input *in;
    packer pack;                /* -X, -m, -s: jobs take as many inputs as fit */
    int packing;
    int input_done;
    strvec *preread;            /* the whole input, when a total is needed */
    size_t npreread, preread_pos;
    spawner sp;
    joblog jl;
    seqset skip;
    progress prog;
    long slots;                 /* local_slots, then the remote host's */
    long local_slots;
    remote_host *remote;        /* NULL: every job runs here */
    job **running;              /* [slots]; NULL = free slot */
    size_t nrunning;
    job *retry_head, *retry_tail;
    job *order_head, *order_tail;
    unsigned long next_seq;
    unsigned long total;        /* 0 unless the input was read ahead */
    tally tally;
    int stop_starting;
    int signo;
    int sigfd;
    int error;
    median_window runtimes;     /* successful runtimes, for --timeout N% */
    const char *shell;
    const term_seq *termseq;    /* how jobs are stopped */
    command tagcmd;             /* --tagstring */
    command resultscmd;         /* --results with replacement strings */
    results_table table;        /* --results F.csv, .tsv, .json */
    strvec words;               /* --header: the command words with names made numbers */
    double next_start;          /* --delay: when the next job may start (monotonic) */
    capture_mode capture;       /* how job output is collected */
    strbuf scratch;
    /* --pipe: blocks of standard input (or of a file); --pipepart: parts
     * of a file, read in place.  Jobs get them instead of arguments. */
    stdin_blocks blocks;
    int blocks_open;
    file_parts parts;
    int parts_open;
} runner;

static long usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Each running job holds two pipe ends; keep well inside the fd limit. */
static long slot_limit(void)
{
    struct rlimit rl;
    long lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        lim = ((long)rl.rlim_cur - 16) / 3;
    if (lim > 4096)
        lim = 4096;
    return lim < 1 ? 1 : lim;
}

/* The parent of process pid, from /proc/pid/stat; 0 if unknown. */
static long parent_of(long pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    /* pid (comm) state ppid ...: comm may hold anything but its last ')'. */
    char *close = got ? strrchr(line, ')') : NULL;
    long ppid = 0;
    if (!close || sscanf(close + 1, " %*c %ld", &ppid) != 1)
        return 0;
    return ppid;
}

/* Whether name is a shell of the POSIX family (1), another shell (-1:
 * its quoting is not ours), or no shell (0). */
static int shell_kind(const char *name)
{
    static const char *const posix[] = {"bash", "sh", "dash", "ash", "ksh", "ksh93", "lksh", "mksh", "pdksh",
                                        "zsh", "yash", "posh", "rbash", NULL};
    static const char *const other[] = {"csh", "tcsh", "bsd-csh", "fish", "rc", "rush", "fdsh", "fizsh",
                                        "rzsh", "sash", "static-sh", NULL};
    for (const char *const *s = posix; *s; s++)
        if (!strcmp(name, *s))
            return 1;
    for (const char *const *s = other; *s; s++)
        if (!strcmp(name, *s))
            return -1;
    return 0;
}

/* The shell mproc was started from (the nearest ancestor that is one),
 * when it is of the POSIX family: GNU parallel runs jobs in it, so that
 * the functions a bash exported work whatever $SHELL says.  Fills buf. */
static const char *parent_shell(char *buf, size_t size)
{
    long pid = (long)getppid();
    for (int depth = 0; pid > 1 && depth < 64; depth++, pid = parent_of(pid)) {
        char link[64];
        snprintf(link, sizeof link, "/proc/%ld/exe", pid);
        ssize_t n = readlink(link, buf, size - 1);
        if (n <= 0)
            return NULL;
        buf[n] = '\0';
        const char *slash = strrchr(buf, '/');
        int kind = shell_kind(slash ? slash + 1 : buf);
        if (kind != 0)
            return kind > 0 && access(buf, X_OK) == 0 ? buf : NULL;
    }
    return NULL;
}

static const char *pick_shell(char *buf, size_t size)
{
    const char *s = getenv("PARALLEL_SHELL");
    if (s && *s == '/' && access(s, X_OK) == 0)
        return s;
    if ((s = parent_shell(buf, size)) != NULL)
        return s;
    s = getenv("SHELL");
    if (s && *s == '/' && access(s, X_OK) == 0)
        return s;
    return "/bin/sh";
}

/* -j FILE: the number of jobs is what FILE holds (read once). */
static int read_jobs_file(run_options *o)
{
    char buf[64];
    FILE *f = fopen(o->jobs_file, "re");
    if (!f) {
        say("cannot parse the number of jobs '%s' (expected N, N%%, +N, -N, 0 or a file): %s", o->jobs_file,
            strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (parse_jobs(buf, &o->jobs_kind, &o->jobs_value) < 0) {
        say("cannot parse the number of jobs in '%s': '%s'", o->jobs_file, buf);
        return -1;
    }
    return 0;
}

/* ---- input ------------------------------------------------------------ */

/* The arguments of the next job, from the input or the packer. */
static int read_args(runner *r, strvec *args, strbuf *err)
{
    return r->packing ? packer_next(&r->pack, args, err) : input_next(r->in, args, err);
}

static int next_args(runner *r, strvec *args)
{
    if (r->preread) {
        if (r->preread_pos >= r->npreread)
            return 0;
        strvec *src = &r->preread[r->preread_pos++];
        *args = *src;
        memset(src, 0, sizeof *src);
        return 1;
    }
    strbuf err = STRBUF_INIT;
    int got = read_args(r, args, &err);
    if (got < 0) {
        say("%s", sb_str(&err));
        r->error = 1;
    }
    sb_free(&err);
    return got;
}

/* Reads the whole input ahead: --bar, --eta and percentages need a total. */
static int read_ahead(runner *r)
{
    size_t cap = 0;
    for (;;) {
        strvec v = STRVEC_INIT;
        strbuf err = STRBUF_INIT;
        int got = read_args(r, &v, &err);
        if (got < 0)
            say("%s", sb_str(&err));
        sb_free(&err);
        if (got <= 0) {
            sv_free(&v);
            if (got < 0)
                return -1;
            break;
        }
        if (r->npreread == cap) {
            cap = cap ? cap * 2 : 64;
            strvec *p = realloc(r->preread, cap * sizeof *p);
            if (!p) {
                sv_free(&v);
                say("%s", "out of memory");
                return -1;
            }
            r->preread = p;
        }
        r->preread[r->npreread++] = v;
    }
    if (!r->preread) {
        r->preread = calloc(1, sizeof *r->preread);
        if (!r->preread)
            return -1;
    }
    r->total = r->npreread;
    return 0;
}

/* ---- output ----------------------------------------------------------- */

static void stop_all(runner *r, double now);

/* A write to our standard output or error failed.  When the reader went
 * away, the run ends as GNU parallel's does, as if SIGPIPE had killed it:
 * no more jobs, the running ones stopped, exit by SIGPIPE (status 141). */
static void output_failed(runner *r)
{
    if (errno != EPIPE || r->signo)
        return;
    r->signo = SIGPIPE;
    r->stop_starting = 1;
    stop_all(r, clock_mono());
}

static void make_tag(const runner *r, const job *j, strbuf *tag)
{
    sb_clear(tag);
    if (r->o->tagstring) {
        job_values v = {j->args.items, j->args.len, j->seq, j->slot, NULL};
        command_plain_text(&r->tagcmd, &v, tag);
        sb_addc(tag, '\t');
        return;
    }
    for (size_t i = 0; i < j->args.len; i++) {
        if (i)
            sb_addc(tag, ' ');
        sb_adds(tag, j->args.items[i]);
    }
    sb_addc(tag, '\t');
}

/* The job's --tag text (in r->scratch) and its length, or NULL without --tag. */
static const char *job_tag(runner *r, const job *j, size_t *len)
{
    *len = 0;
    if (!r->o->tag)
        return NULL;
    make_tag(r, j, &r->scratch);
    *len = r->scratch.len;
    return sb_str(&r->scratch);
}

/* Prints what a finished job left in its buffers. */
static void emit_output(runner *r, job *j)
{
    if (j->discard)
        return;
    /* Logged as printed: with -k the log is in input order too. */
    joblog_write(&r->jl, j->seq, j->start_real, j->runtime, j->in.done, j->received, j->exitval, j->sig,
                 sb_str(&j->cmd));
    if (r->table.fd >= 0) {
        results_row row = {j->seq, j->start_real, j->runtime, j->received, j->exitval, j->sig, sb_str(&j->cmd),
                           j->args.items, j->args.len, r->o->header ? input_header(r->in) : NULL, &j->out, &j->err};
        if (results_table_write(&r->table, &row) < 0) {
            say("cannot write the results table '%s': %s", r->o->results, strerror(errno));
            r->error = 1;
        }
        return;
    }
    if (r->o->ungroup || r->o->results)
        return;
    size_t taglen;
    const char *tag = job_tag(r, j, &taglen);
    if (r->o->color) {
        if (write_colored(1, tag_color(j->seq), tag, taglen, j->out.data, j->out.len) < 0 ||
            write_colored(2, tag_color(j->seq), tag, taglen, j->err.data, j->err.len) < 0)
            output_failed(r);
        return;
    }
    if (write_tagged(1, tag, taglen, j->out.data, j->out.len) < 0 ||
        write_tagged(2, tag, taglen, j->err.data, j->err.len) < 0)
        output_failed(r);
}

/* --line-buffer: prints the complete lines the job has written so far;
 * only the last fresh bytes of its buffer can hold a newline. */
static void pass_lines(runner *r, job *j, int is_err, size_t fresh)
{
    if (r->capture != CAPTURE_PIPES || j->discard)
        return;
    /* -k: the first job in order is passed on as it comes, the others
     * wait for their turn. */
    if (r->o->keep_order && j != r->order_head)
        return;
    size_t taglen;
    const char *tag = job_tag(r, j, &taglen);
    if (flush_complete_lines(is_err ? 2 : 1, tag, taglen, is_err ? &j->err : &j->out, fresh) < 0)
        output_failed(r);
}

/* -v and -t: the command as it is run.  -t writes it to standard error
 * just before the job starts; -v puts it in front of the job's output, so it is
 * grouped, tagged, stored by --results and counted in the job log's
 * Receive column with that output (passed on at once when the output
 * is: --ungroup, --line-buffer). */
static void announce(runner *r, job *j)
{
    if (r->o->trace) {
        sb_clear(&r->scratch);
        sb_add(&r->scratch, j->cmd.data, j->cmd.len);
        sb_addc(&r->scratch, '\n');
        if (!r->scratch.failed && write_all(2, r->scratch.data, r->scratch.len) < 0)
            output_failed(r);
    }
    if (!r->o->verbose)
        return;
    sb_add(&j->out, j->cmd.data, j->cmd.len);
    sb_addc(&j->out, '\n');
    if (r->capture == CAPTURE_NONE) {
        if (!j->out.failed && write_all(1, j->out.data, j->out.len) < 0)
            output_failed(r);
        sb_clear(&j->out);
    }
    j->received = j->out.len;
    pass_lines(r, j, 0, j->out.len);
}

/* -k: prints and frees finished jobs from the front of the order list. */
static void drain_order(runner *r)
{
    while (r->order_head && r->order_head->state == JOB_FINISHED) {
        job *j = r->order_head;
        r->order_head = j->next_order;
        if (!r->order_head)
            r->order_tail = NULL;
        emit_output(r, j);
        job_free(j);
    }
    /* --line-buffer: the new first job's lines so far go out now. */
    if (r->order_head && r->order_head->state == JOB_RUNNING) {
        pass_lines(r, r->order_head, 0, r->order_head->out.len);   /* never scanned while it waited */
        pass_lines(r, r->order_head, 1, r->order_head->err.len);
    }
}

/* ---- killing ---------------------------------------------------------- */

static void stop_all(runner *r, double now)
{
    for (long s = 0; s < r->slots; s++) {
        job *j = r->running[s];
        if (j && !j->discard) {
            j->discard = 1;
            job_stop(j, r->termseq, now);
        }
    }
}

/* ---- starting --------------------------------------------------------- */

static void feed_pump_job(runner *r, job *j);

/* --pipe: readies the job's block for this attempt.  With --cat and
 * --fifo the file's name is the job's argument ({}). */
static int prepare_block(job *j, strbuf *err)
{
    if (feed_prepare(&j->in, err) < 0)
        return -1;
    if (!j->in.path)
        return 0;
    sv_clear(&j->args);
    if (sv_pushs(&j->args, j->in.path) < 0) {
        sb_adds(err, "out of memory");
        return -1;
    }
    return 0;
}

static int start_job(runner *r, job *j, long slot)
{
    strbuf err = STRBUF_INIT;
    int rc = j->in.active ? prepare_block(j, &err) : 0;
    if (rc == 0)
        rc = job_prepare(j, (unsigned long)slot + 1, &r->cmd, &err);
    if (rc == 0 && (r->o->verbose || r->o->trace))
        announce(r, j);
    if (rc == 0)
        rc = slot >= r->local_slots ? r->remote->start(r->remote, j, slot - r->local_slots, &r->cmd, r->shell, &err)
                                    : job_start(j, &r->cmd, &r->sp, r->shell, r->capture, &err);
    if (rc < 0)
        say("%s", sb_str(&err));
    sb_free(&err);
    if (rc < 0) {
        feed_finish(&j->in);
        return -1;
    }
    feed_pump_job(r, j);
    r->running[slot] = j;
    r->nrunning++;
    return 0;
}

/* --pipe: the next block (or part of the file) into the job's feed.
 * Returns 1, or 0 when there is none now (r->input_done is set when
 * there will be none). */
static int next_block(runner *r, job *j)
{
    feed *f = &j->in;
    int got;
    if (r->parts_open) {
        got = file_parts_next(&r->parts, &f->off, &f->len);
        f->file = r->parts.fd;
        if (got < 0)
            say("cannot read the input file: %s", strerror(errno));
    } else {
        got = stdin_blocks_take(&r->blocks, &f->data);
        f->len = f->data.len;
        if (got == STDIN_BLOCKS_LATER)
            return 0;
        if (got == STDIN_BLOCKS_END)
            got = 0;
        else if (got < 0)
            say("%s", "out of memory");
    }
    if (got <= 0) {
        r->input_done = 1;
        if (got < 0)
            r->error = 1;
        return 0;
    }
    f->active = 1;
    f->via = r->o->cat ? FEED_CAT : r->o->fifo ? FEED_FIFO : FEED_PIPE;
    return 1;
}

/* Takes the next job to start: a retry first, then new input.  Returns
 * NULL when there is nothing to start now. */
static job *next_job(runner *r)
{
    if (r->retry_head) {
        job *j = r->retry_head;
        r->retry_head = j->next_retry;
        if (!r->retry_head)
            r->retry_tail = NULL;
        j->next_retry = NULL;
        return j;
    }
    while (!r->input_done) {
        job *j = job_new();
        if (!j) {
            say("%s", "out of memory");
            r->error = 1;
            r->input_done = 1;
            return NULL;
        }
        int got = r->o->pipe ? next_block(r, j) : next_args(r, &j->args);
        if (got <= 0) {
            job_free(j);
            if (!r->o->pipe)
                r->input_done = 1;
            return NULL;
        }
        j->seq = ++r->next_seq;
        if (seqset_has(&r->skip, j->seq)) {
            job_free(j);
            continue;
        }
        return j;
    }
    return NULL;
}

/* --pipe: reads what standard input has for the blocks; warns when a
 * record outgrew the block size.  Returns 0, or -1 (input_done is set). */
static int read_input(runner *r)
{
    if (stdin_blocks_read(&r->blocks) < 0) {
        say("cannot read the input: %s", strerror(errno));
        r->error = 1;
        r->input_done = 1;
        return -1;
    }
    if (r->blocks.grew_from) {
        say("warning: a record was longer than %zu bytes: the block size is now %zu", r->blocks.grew_from,
            r->blocks.block);
        r->blocks.grew_from = 0;
    }
    return 0;
}

static void dry_run(runner *r)
{
    job *j;
    for (;;) {
        j = next_job(r);
        if (!j && r->blocks_open && !r->input_done && read_input(r) == 0)
            continue;
        if (!j)
            break;
        /* {%} cycles through the slots as if the jobs had run. */
        job_values v = {j->args.items, j->args.len, j->seq, (unsigned long)((j->seq - 1) % (unsigned long)r->slots) + 1, NULL};
        sb_clear(&j->cmd);
        command_shell_text(&r->cmd, &v, &j->cmd);
        sb_addc(&j->cmd, '\n');
        if (write_all(1, j->cmd.data, j->cmd.len) < 0)
            output_failed(r);
        if (r->o->trace) /* as GNU parallel does; -v adds nothing here */
            write_all(2, j->cmd.data, j->cmd.len);
        job_free(j);
        if (r->signo)
            break;
    }
}

/* ---- finishing -------------------------------------------------------- */

/* The time a job may run, or 0 for no limit. */
static double job_time_limit(const runner *r)
{
    if (!r->o->timeout)
        return 0;
    if (!r->o->timeout_percent)
        return r->o->timeout;
    /* A percentage of the median needs a few samples to mean anything. */
    if (median_count(&r->runtimes) < 3)
        return 0;
    return median_value(&r->runtimes) * r->o->timeout / 100.0;
}

/* The halt condition is met: stop starting jobs (and with "now" stop the
 * running ones). */
static void halt_run(runner *r, const job *j)
{
    const halt_spec *h = &r->o->halt;
    r->stop_starting = 1;
    const char *why = h->why == HALT_FAIL ? "failed" : h->why == HALT_SUCCESS ? "succeeded" : "finished";
    say("halting (--halt): job %lu %s: %s", j->seq, why, sb_str(&j->cmd));
    if (h->when == HALT_SOON && r->nrunning > 0)
        say("starting no more jobs; waiting for %zu running", r->nrunning);
    if (h->when == HALT_NOW)
        stop_all(r, clock_mono());
}

/* --results in files: under the directory, or at the path its
 * replacement strings give. */
static void store_results(runner *r, job *j)
{
    strbuf err = STRBUF_INIT, path = STRBUF_INIT;
    int rc;
    if (r->resultscmd.has_repl) {
        job_values v = {j->args.items, j->args.len, j->seq, j->slot, NULL};
        rc = command_plain_text(&r->resultscmd, &v, &path);
        if (rc < 0)
            sb_adds(&err, "out of memory");
        else
            rc = results_store_at(sb_str(&path), j->seq, &j->out, &j->err, &err);
    } else {
        rc = results_store(r->o->results, j->args.items, j->args.len, j->seq, &j->out, &j->err, &err);
    }
    if (rc < 0) {
        say("%s", sb_str(&err));
        r->error = 1;
    }
    sb_free(&err);
    sb_free(&path);
}

static void finish_job(runner *r, long slot)
{
    job *j = r->running[slot];
    r->running[slot] = NULL;
    r->nrunning--;
    if (!j->host) /* a remote job's run time was measured where it ran */
        j->runtime = clock_mono() - j->start_mono;
    feed_finish(&j->in); /* the block stays, for a retry */
    if (j->timed_out) {
        /* As GNU parallel logs a job its timeout killed. */
        j->exitval = -1;
        j->sig = SIGTERM;
    }
    int failed = j->exitval != 0 || j->sig != 0;
    if (failed && !j->discard && j->attempts < r->o->retries && !r->stop_starting) {
        j->state = JOB_WAITING;
        if (r->retry_tail)
            r->retry_tail->next_retry = j;
        else
            r->retry_head = j;
        r->retry_tail = j;
        return;
    }
    j->state = JOB_FINISHED;
    if (!j->discard) {
        strbuf err = STRBUF_INIT;
        if (job_collect(j, &err) < 0) {
            say("%s", sb_str(&err));
            r->error = 1;
        }
        sb_free(&err);
        int halt = tally_add(&r->tally, j->exitval, j->sig);
        if (!failed && r->o->timeout_percent)
            median_add(&r->runtimes, j->runtime);
        if (r->o->results && r->table.fd < 0)
            store_results(r, j);
        if (j->timed_out)
            say("job %lu timed out and was stopped: %s", j->seq, sb_str(&j->cmd));
        if (halt)
            halt_run(r, j);
    }
    if (r->o->keep_order) {
        drain_order(r);
    } else {
        emit_output(r, j);
        job_free(j);
    }
    progress_update(&r->prog, r->tally.done, r->nrunning, (unsigned long)r->slots, clock_mono());
}

/* ---- events ----------------------------------------------------------- */

static void reap(runner *r)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (long s = 0; s < r->slots; s++) {
            job *j = r->running[s];
            if (j && j->pid == pid && !j->reaped) {
                job_set_status(j, status);
                break;
            }
        }
    }
}

static void signal_jobs(runner *r, int sig)
{
    for (long s = 0; s < r->slots; s++)
        if (r->running[s])
            job_signal(r->running[s], sig);
}

/* Ctrl-Z: the jobs have their own process groups, so the terminal's stop
 * does not reach them; pass it on, then stop ourselves.  SIGCONT (fg,
 * bg) resumes them through handle_signals. */
static void suspend(runner *r)
{
    signal_jobs(r, SIGTSTP);
    raise(SIGSTOP);
}

/* SIGHUP, as in GNU parallel: start no more jobs, let the running ones
 * finish and print their output (SIGTERM still stops them). */
static void hang_up(runner *r)
{
    if (r->stop_starting)
        return;
    r->stop_starting = 1;
    say("SIGHUP received: starting no more jobs; waiting for %zu running (SIGTERM stops them now)", r->nrunning);
}

static void handle_signals(runner *r)
{
    struct signalfd_siginfo si[8];
    ssize_t n;
    int child = 0;
    while ((n = read(r->sigfd, si, sizeof si)) > 0) {
        for (size_t k = 0; k < (size_t)n / sizeof si[0]; k++) {
            int sig = (int)si[k].ssi_signo;
            if (sig == SIGCHLD) {
                child = 1;
            } else if (sig == SIGTSTP) {
                suspend(r);
            } else if (sig == SIGCONT) {
                signal_jobs(r, SIGCONT);
            } else if (sig == SIGHUP) {
                hang_up(r);
            } else if (!r->signo) {
                r->signo = sig;
                r->stop_starting = 1;
                stop_all(r, clock_mono());
            }
        }
    }
    if (child)
        reap(r);
}

static void read_pipe(runner *r, job *j, int is_err)
{
    long n = job_read(j, is_err);
    if (n < 0) {
        say("%s", "out of memory while buffering output");
        r->error = 1;
        return;
    }
    pass_lines(r, j, is_err, (size_t)n);
}

/* Hands a job what its block has for it now. */
static void feed_pump_job(runner *r, job *j)
{
    if (feed_pending(&j->in) && feed_pump(&j->in) < 0) {
        say("cannot hand job %lu its input: %s", j->seq, strerror(errno));
        r->error = 1;
        feed_finish(&j->in);
    }
}

/* --delay: a job started less than the delay ago holds the next back. */
static int delaying(const runner *r)
{
    return r->o->delay > 0 && clock_mono() < r->next_start;
}

/* Checks time limits and TERM-then-KILL steps; returns the poll timeout
 * in milliseconds until the next one (-1: none). */
static int check_timers(runner *r)
{
    double now = clock_mono();
    double next = -1;
    double limit = job_time_limit(r);
    for (long s = 0; s < r->slots; s++) {
        job *j = r->running[s];
        if (!j)
            continue;
        if (limit > 0 && !j->reaped && j->term_step == 0 && !j->discard) {
            double deadline = j->start_mono + limit;
            if (now >= deadline) {
                j->timed_out = 1;
                job_stop(j, r->termseq, now);
            } else if (next < 0 || deadline < next) {
                next = deadline;
            }
        }
        double due = job_stop_tick(j, r->termseq, now);
        if (due >= 0 && (next < 0 || due < next))
            next = due;
    }
    if (delaying(r) && (!r->input_done || r->retry_head) && (next < 0 || r->next_start < next))
        next = r->next_start;
    if (r->prog.bar || r->prog.eta || r->prog.summary) {
        if (next < 0 || now + 1.0 < next)
            next = now + 1.0;
    }
    if (next < 0)
        return -1;
    double ms = (next - now) * 1000.0 + 1.0;
    return ms < 0 ? 0 : ms > 1e6 ? 1000000 : (int)ms;
}

/* Whether poll should wait for standard input: --pipe needs more of it
 * for the next block. */
static int wants_input(const runner *r)
{
    return r->blocks_open && !r->input_done && !r->stop_starting && stdin_blocks_hungry(&r->blocks);
}

/* --fifo: a job that has not opened its named pipe yet is looked at
 * again after this many milliseconds. */
#define FIFO_RETRY_MS 10

/* Adds the descriptors of running jobs to the poll set: output pipes for
 * reading, block feeds for writing.  Lowers *timeout while a named pipe
 * waits for its reader. */
static size_t poll_jobs(runner *r, struct pollfd *pfd, job **pjob, size_t n, int *timeout)
{
    for (long s = 0; s < r->slots; s++) {
        job *j = r->running[s];
        if (!j)
            continue;
        int fds[3] = {j->out_fd, j->err_fd, feed_pending(&j->in) ? j->in.fd : -1};
        for (int k = 0; k < 3; k++) {
            if (fds[k] < 0)
                continue;
            pfd[n].fd = fds[k];
            pfd[n].events = k < 2 ? POLLIN : POLLOUT;
            pjob[n++] = j;
        }
        if (feed_pending(&j->in) && j->in.fd < 0 && (*timeout < 0 || *timeout > FIFO_RETRY_MS))
            *timeout = FIFO_RETRY_MS;
    }
    return n;
}

/* What poll found on a job's descriptor. */
static void job_event(runner *r, job *j, int fd)
{
    if (fd == j->in.fd)
        feed_pump_job(r, j);
    else
        read_pipe(r, j, fd == j->err_fd);
}

/* Jobs that ended on the remote host: a start that failed there is an
 * error, as it is here. */
static void collect_remote(runner *r)
{
    strbuf err = STRBUF_INIT;
    if (r->remote->collect(r->remote, &err) < 0) {
        say("%s", sb_str(&err));
        r->error = 1;
        r->stop_starting = 1;
    }
    sb_free(&err);
}

static int event_loop(runner *r)
{
    size_t cap = 2 + 3 * (size_t)r->slots;
    struct pollfd *pfd = calloc(cap, sizeof *pfd);
    job **pjob = calloc(cap, sizeof *pjob);
    if (!pfd || !pjob) {
        free(pfd);
        free(pjob);
        say("%s", "out of memory");
        return -1;
    }
    for (;;) {
        /* Start jobs while there are free slots. */
        while (!r->stop_starting && r->nrunning < (size_t)r->slots && !delaying(r)) {
            job *j = next_job(r);
            if (!j)
                break;
            long slot = 0; /* the lowest free slot: {%} is stable */
            while (r->running[slot])
                slot++;
            int fresh = j->attempts == 0;
            if (start_job(r, j, slot) < 0) {
                r->error = 1;
                r->stop_starting = 1;
                if (!fresh && r->o->keep_order) {
                    j->state = JOB_FINISHED;
                    j->discard = 1;
                    drain_order(r);
                } else {
                    job_free(j);
                }
                break;
            }
            r->next_start = clock_mono() + r->o->delay;
            if (fresh && r->o->keep_order) {
                if (r->order_tail)
                    r->order_tail->next_order = j;
                else
                    r->order_head = j;
                r->order_tail = j;
            }
        }
        if (r->nrunning == 0 && (r->stop_starting || (r->input_done && !r->retry_head)))
            break;
        int timeout = check_timers(r);
        size_t n = 0;
        pfd[n].fd = r->sigfd;
        pfd[n].events = POLLIN;
        pjob[n++] = NULL;
        pfd[n].fd = wants_input(r) ? r->blocks.fd : -1; /* poll skips a negative fd */
        pfd[n].events = POLLIN;
        pjob[n++] = NULL;
        n = poll_jobs(r, pfd, pjob, n, &timeout);
        int remote_ms = r->remote ? r->remote->wait_ms(r->remote) : -1;
        if (remote_ms >= 0 && (timeout < 0 || remote_ms < timeout))
            timeout = remote_ms;
        int ready = poll(pfd, n, timeout);
        if (ready < 0 && errno != EINTR) {
            say("poll failed: %s", strerror(errno));
            free(pfd);
            free(pjob);
            return -1;
        }
        if (ready > 0) {
            for (size_t k = 2; k < n; k++)
                if (pfd[k].revents)
                    job_event(r, pjob[k], pfd[k].fd);
            if (pfd[1].revents)
                read_input(r);
            if (pfd[0].revents)
                handle_signals(r);
        }
        if (r->remote)
            collect_remote(r);
        for (long s = 0; s < r->slots; s++) /* --fifo: a reader may have come */
            if (r->running[s] && feed_pending(&r->running[s]->in) && r->running[s]->in.fd < 0)
                feed_pump_job(r, r->running[s]);
        for (long s = 0; s < r->slots; s++) {
            job *j = r->running[s];
            if (j && job_is_over(j))
                finish_job(r, s);
        }
    }
    free(pfd);
    free(pjob);
    return 0;
}

/* ---- setup ------------------------------------------------------------ */

void run_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTSTP);
    sigaddset(set, SIGCONT);
}

static int block_signals(runner *r, sigset_t *old)
{
    sigset_t set;
    run_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -1;
    r->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return r->sigfd < 0 ? -1 : 0;
}

/* --header: the command words with the column names made numbers. */
static int name_columns(runner *r, char **words, size_t n, strbuf *err)
{
    const strvec *names = input_header(r->in);
    strbuf w = STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sb_clear(&w);
        sb_reserve(&w, 1);
        rc = template_name_columns(words[i], names, &w);
        if (rc == 0)
            rc = sv_push(&r->words, w.data, w.len);
    }
    sb_free(&w);
    if (rc < 0)
        sb_adds(err, "out of memory");
    return rc;
}

/* Compiles the command and the --tagstring.  0, or -1 with a message. */
static int compile_templates(runner *r, strbuf *err)
{
    const run_options *o = r->o;
    char **words = o->cmd;
    size_t n = o->ncmd;
    strbuf tag = STRBUF_INIT;
    const char *tagstring = o->tagstring;
    if (o->header) {
        if (name_columns(r, words, n, err) < 0)
            return -1;
        words = r->words.items;
        if (tagstring) {
            if (template_name_columns(tagstring, input_header(r->in), &tag) < 0) {
                sb_adds(err, "out of memory");
                return -1;
            }
            tagstring = sb_str(&tag);
        }
    }
    int rc = command_compile_plus(&r->cmd, words, n, o->quote, o->replace, o->plus, err);
    if (rc == 0 && o->context_replace && command_repeat_words(&r->cmd) < 0)
        rc = -1;
    strbuf unescaped = STRBUF_INIT;
    if (rc == 0 && tagstring) {
        /* \t and the like stand for their bytes, as in GNU parallel. */
        if (*tagstring && parse_delimiter(tagstring, &unescaped) == 0)
            tagstring = sb_str(&unescaped);
        rc = command_compile_plain(&r->tagcmd, tagstring, o->replace, o->plus);
    }
    if (rc < 0 && !err->len)
        sb_adds(err, "out of memory");
    sb_free(&tag);
    sb_free(&unescaped);
    return rc;
}

/* --results: a table to open, a path with replacement strings to
 * compile, or a directory to make.  0, or -1 with a message. */
static int open_results(runner *r, strbuf *err)
{
    const run_options *o = r->o;
    if (results_format_of(o->results) != RESULTS_FILES)
        return results_table_open(&r->table, o->results, err);
    if (command_compile_plain(&r->resultscmd, o->results, o->replace, o->plus) < 0) {
        sb_adds(err, "out of memory");
        return -1;
    }
    if (!r->resultscmd.has_repl && mkdir(o->results, 0777) < 0 && errno != EEXIST) {
        sb_addf(err, "cannot create results directory '%s': %s", o->results, strerror(errno));
        return -1;
    }
    return 0;
}

/* --shuf: the jobs, read ahead, in a random order. */
static void shuffle(runner *r)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned seed = (unsigned)getpid() ^ (unsigned)now.tv_sec ^ (unsigned)now.tv_nsec;
    for (size_t i = r->npreread; i > 1; i--) {
        size_t k = (size_t)rand_r(&seed) % i;
        strvec t = r->preread[i - 1];
        r->preread[i - 1] = r->preread[k];
        r->preread[k] = t;
    }
}

/* -X, -m, -s: jobs are filled up to the line length (see pack.h). */
static void start_packing(runner *r)
{
    size_t most = pack_default_max_chars();
    size_t max_chars = r->o->max_chars;
    if (max_chars > most)
        say("warning: --max-chars %zu is more than the system allows; using %zu", max_chars, most);
    if (!max_chars || max_chars > most)
        max_chars = most;
    packer_init(&r->pack, r->in, &r->cmd, max_chars, r->o->max_args, r->o->spread ? (unsigned long)r->slots : 0);
    r->packing = 1;
}

/* GNU parallel's default block: 1 MiB for --pipe; for --pipepart, ten
 * parts per job slot. */
#define PIPE_DEFAULT_BLOCK (1024 * 1024)
#define PIPEPART_DEFAULT_BLOCK (-10)

/* --pipe, --pipepart: opens what the blocks are cut from.  Returns 0, or
 * -1 with a message in *err. */
static int open_blocks(runner *r, strbuf *err)
{
    const run_options *o = r->o;
    if (o->pipepart) {
        const char *path = o->sources[0].path;
        long long block = o->block ? o->block : PIPEPART_DEFAULT_BLOCK;
        if (file_parts_open(&r->parts, path, block, r->slots, o->recstart, o->recend, err) < 0)
            return -1;
        r->parts_open = 1;
        return 0;
    }
    size_t block = o->block ? (size_t)o->block : PIPE_DEFAULT_BLOCK;
    if (stdin_blocks_init(&r->blocks, 0, block, o->max_args, o->recstart, o->recend) < 0) {
        stdin_blocks_free(&r->blocks);
        sb_adds(err, "out of memory");
        return -1;
    }
    r->blocks_open = 1;
    return 0;
}

static void close_blocks(runner *r)
{
    if (r->parts_open)
        file_parts_close(&r->parts);
    if (r->blocks_open)
        stdin_blocks_free(&r->blocks);
    r->parts_open = r->blocks_open = 0;
}

long run_slots(run_options *o)
{
    if (o->jobs_file && read_jobs_file(o) < 0)
        return -1;
    long slots = jobs_resolve(o->jobs_kind, o->jobs_value, usable_cpus());
    long limit = slot_limit();
    return slots == 0 || slots > limit ? limit : slots;
}

int run_jobs(run_options *o, remote_host *remote, int *signo)
{
    runner r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.sigfd = -1;
    r.jl.fd = -1;
    r.sp.devnull = -1;
    r.table.fd = -1;
    *signo = 0;
    int status = RUN_EXIT_ERROR;
    strbuf err = STRBUF_INIT;
    sigset_t oldmask;
    int blocked = 0;

    r.local_slots = run_slots(o);
    if (r.local_slots < 0)
        goto out;
    r.remote = remote;
    r.slots = r.local_slots + (remote ? remote->slots : 0);
    char shell_path[4096];
    r.shell = pick_shell(shell_path, sizeof shell_path);
    r.termseq = o->termseq.steps ? &o->termseq : &term_seq_default;
    /* Memory files cost no event while a job runs; only --line-buffer
     * needs to see output as it comes. */
    if (o->ungroup)
        r.capture = CAPTURE_NONE;
    else if (o->line_buffer && !o->results)
        r.capture = CAPTURE_PIPES;
    else
        r.capture = CAPTURE_FILES;

    if ((o->resume || o->resume_failed) &&
        joblog_read_skips(o->joblog, o->resume_failed, &r.skip, &err) < 0) {
        say("%s", sb_str(&err));
        goto out;
    }
    /* The input first: --header's names are in it. */
    if ((o->pipe ? open_blocks(&r, &err) : input_open(&r.in, o, &err)) < 0 || compile_templates(&r, &err) < 0) {
        say("%s", sb_str(&err));
        goto out;
    }
    if (run_options_pack(o))
        start_packing(&r);
    int need_total = !o->pipe && (o->bar || o->eta || o->progress || o->halt.percent || o->shuf ||
                                  command_needs_total(&r.cmd) || command_needs_total(&r.tagcmd));
    if (need_total && read_ahead(&r) < 0)
        goto out;
    r.cmd.total = r.tagcmd.total = r.total;
    r.cmd.slots = r.tagcmd.slots = (unsigned long)r.slots;
    if (o->shuf)
        shuffle(&r);
    if (o->dry_run) {
        dry_run(&r);
        status = r.error ? RUN_EXIT_ERROR : 0;
        goto out;
    }
    if (o->joblog && joblog_open(&r.jl, o->joblog, o->joblog_append || o->resume || o->resume_failed, &err) < 0) {
        say("%s", sb_str(&err));
        goto out;
    }
    if (o->results && open_results(&r, &err) < 0) {
        say("%s", sb_str(&err));
        goto out;
    }
    r.running = calloc((size_t)r.slots, sizeof *r.running);
    if (!r.running) {
        say("%s", "out of memory");
        goto out;
    }
    /* A reader that goes away must not kill us mid-run; the jobs get
     * SIGPIPE as we were given it. */
    struct sigaction ignore, old_pipe;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_pipe);
    int e = spawner_init(&r.sp, old_pipe.sa_handler != SIG_IGN);
    if (!e && o->slot_var)
        e = spawner_add_slot_var(&r.sp, o->slot_var);
    if (e) {
        say("cannot prepare to start jobs: %s", strerror(e));
        goto out;
    }
    if (block_signals(&r, &oldmask) < 0) {
        say("cannot set up signal handling: %s", strerror(errno));
        goto out;
    }
    blocked = 1;
    tally_init(&r.tally, &o->halt, r.total);
    progress_start(&r.prog, o->bar, o->eta, o->progress, r.total, clock_mono());
    if (event_loop(&r) < 0)
        r.error = 1;
    /* Jobs still waiting for a retry when the run stopped get none. */
    while (r.retry_head) {
        job *j = r.retry_head;
        r.retry_head = j->next_retry;
        j->state = JOB_FINISHED;
        j->discard = 1;
        if (!o->keep_order)
            job_free(j);
    }
    r.retry_tail = NULL;
    drain_order(&r);
    progress_finish(&r.prog, r.tally.done, r.nrunning, (unsigned long)r.slots, clock_mono());
    status = r.error ? RUN_EXIT_ERROR : tally_exit_status(&r.tally);
    *signo = r.signo;
out:
    while (r.retry_head) {
        job *j = r.retry_head;
        r.retry_head = j->next_retry;
        if (!o->keep_order)
            job_free(j);
    }
    while (r.order_head) {
        job *j = r.order_head;
        r.order_head = j->next_order;
        job_free(j);
    }
    if (r.running) {
        for (long s = 0; s < r.slots; s++)
            job_free(r.running[s]);
        free(r.running);
    }
    for (size_t i = 0; i < r.npreread; i++)
        sv_free(&r.preread[i]);
    free(r.preread);
    packer_free(&r.pack);
    input_close(r.in);
    close_blocks(&r);
    command_free(&r.cmd);
    command_free(&r.tagcmd);
    command_free(&r.resultscmd);
    results_table_close(&r.table);
    sv_free(&r.words);
    joblog_close(&r.jl);
    seqset_free(&r.skip);
    if (r.sp.env)
        spawner_free(&r.sp);
    if (r.sigfd >= 0)
        close(r.sigfd);
    if (blocked)
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sb_free(&r.scratch);
    sb_free(&err);
    return status;
}
