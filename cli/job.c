/* job.c - starting a job, collecting its output, stopping it. */
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const term_seq term_seq_default = {{SIGTERM, SIGTERM, SIGTERM, SIGKILL}, {200, 100, 50, 25}, 4};

double clock_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double clock_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

job *job_new(void)
{
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->out_fd = j->err_fd = -1;
        j->out_file = j->err_file = -1;
        j->pid = -1;
        j->in = (feed)FEED_INIT;
    }
    return j;
}

void job_free(job *j)
{
    if (!j)
        return;
    sv_free(&j->args);
    sb_free(&j->cmd);
    sb_free(&j->out);
    sb_free(&j->err);
    feed_free(&j->in);
    if (j->out_fd >= 0)
        close(j->out_fd);
    if (j->err_fd >= 0)
        close(j->err_fd);
    if (j->out_file >= 0)
        close(j->out_file);
    if (j->err_file >= 0)
        close(j->err_file);
    free(j);
}

static void close_pair(int p[2])
{
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    p[0] = p[1] = -1;
}

/* Where the child's fds 1 and 2 come from: pipe write ends or memory
 * files.  child[] gets -1 for "inherit ours". */
static int make_outputs(job *j, capture_mode capture, int outp[2], int errp[2], int child[2], strbuf *err)
{
    child[0] = child[1] = -1;
    if (capture == CAPTURE_PIPES) {
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
            sb_addf(err, "cannot create a pipe: %s", strerror(errno));
            return -1;
        }
        child[0] = outp[1];
        child[1] = errp[1];
    } else if (capture == CAPTURE_FILES) {
        if (j->out_file >= 0)
            close(j->out_file);
        if (j->err_file >= 0)
            close(j->err_file);
        j->out_file = memfd_create("mproc-stdout", MFD_CLOEXEC);
        j->err_file = memfd_create("mproc-stderr", MFD_CLOEXEC);
        if (j->out_file < 0 || j->err_file < 0) {
            sb_addf(err, "cannot create a file for job output: %s", strerror(errno));
            return -1;
        }
        child[0] = j->out_file;
        child[1] = j->err_file;
    }
    return 0;
}

int job_prepare(job *j, unsigned long slot, const command *cmd, strbuf *err)
{
    j->slot = slot;
    j->attempts++;
    j->reaped = 0;
    j->timed_out = 0;
    j->term_step = 0;
    j->received = 0;
    sb_clear(&j->out);
    sb_clear(&j->err);
    job_values v = {j->args.items, j->args.len, j->seq, j->slot, NULL};
    sb_clear(&j->cmd);
    if (command_shell_text(cmd, &v, &j->cmd) < 0) {
        sb_adds(err, "out of memory");
        return -1;
    }
    return 0;
}

int job_argv(const job *j, command *cmd, strvec *argv, strbuf *path)
{
    job_values v = {j->args.items, j->args.len, j->seq, j->slot, NULL};
    return command_argv(cmd, &v, argv, path);
}

int job_spawn(job *j, const char *path, char *const argv[], spawner *sp, const char *shell, capture_mode capture,
              strbuf *err)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, child[3];
    child[0] = j->in.child_fd;
    if (make_outputs(j, capture, outp, errp, child + 1, err) < 0) {
        close_pair(outp);
        close_pair(errp);
        return -1;
    }
    j->start_real = clock_real();
    j->start_mono = clock_mono();
    int rc = -1;
    if (path)
        rc = spawner_start(sp, path, argv, child, j->seq, j->slot, &j->pid);
    if (rc != 0) {
        /* Not plain, or the direct exec failed: the shell decides. */
        char *sh_argv[4] = {(char *)shell, (char *)"-c", (char *)sb_str(&j->cmd), NULL};
        rc = spawner_start(sp, shell, sh_argv, child, j->seq, j->slot, &j->pid);
    }
    if (rc != 0) {
        sb_addf(err, "cannot start %s: %s", shell, strerror(rc));
        close_pair(outp);
        close_pair(errp);
        return -1;
    }
    /* Our copies of the child's ends must go, or end of file never comes. */
    feed_started(&j->in);
    if (capture == CAPTURE_PIPES) {
        close(outp[1]);
        close(errp[1]);
    }
    j->out_fd = outp[0];
    j->err_fd = errp[0];
    j->state = JOB_RUNNING;
    return 0;
}

int job_start(job *j, command *cmd, spawner *sp, const char *shell, capture_mode capture, strbuf *err)
{
    strvec argv = STRVEC_INIT;
    strbuf path = STRBUF_INIT;
    int direct = job_argv(j, cmd, &argv, &path);
    int rc = -1;
    if (direct < 0)
        sb_adds(err, "out of memory");
    else
        rc = job_spawn(j, direct ? path.data : NULL, argv.items, sp, shell, capture, err);
    sv_free(&argv);
    sb_free(&path);
    return rc;
}

long job_read(job *j, int is_err)
{
    int *fd = is_err ? &j->err_fd : &j->out_fd;
    strbuf *b = is_err ? &j->err : &j->out;
    enum { CHUNK = 65536 };
    if (sb_reserve(b, CHUNK) < 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    ssize_t n = read(*fd, b->data + b->len, CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    if (!is_err)
        j->received += (size_t)n;
    return n;
}

void job_set_status(job *j, int status)
{
    j->reaped = 1;
    if (WIFEXITED(status)) {
        j->exitval = WEXITSTATUS(status);
        j->sig = 0;
    } else if (WIFSIGNALED(status)) {
        /* GNU parallel logs exit value 0 and the signal. */
        j->exitval = 0;
        j->sig = WTERMSIG(status);
    }
}

void job_signal(job *j, int sig)
{
    if (j->host)
        j->host->signal(j->host, j, sig);
    else if (j->pid > 0)
        kill(-j->pid, sig);   /* the job runs in its own process group: all of it */
}

static void send_step(job *j, const term_seq *seq, double now)
{
    job_signal(j, seq->sig[j->term_step]);
    j->term_next = now + seq->ms[j->term_step] / 1000.0;
    j->term_step++;
}

void job_stop(job *j, const term_seq *seq, double now)
{
    if (j->term_step == 0)
        send_step(j, seq, now);
}

double job_stop_tick(job *j, const term_seq *seq, double now)
{
    if (j->term_step == 0 || j->term_step >= seq->steps)
        return -1;
    if (now >= j->term_next)
        send_step(j, seq, now);
    return j->term_step < seq->steps ? j->term_next : -1;
}

/* Appends the whole content of a memory file and closes it.  Most jobs
 * write nothing to one of their files (or both): those cost one fstat. */
static int slurp_file(int *fd, strbuf *b)
{
    struct stat st;
    if (fstat(*fd, &st) < 0)
        return -1;
    off_t off = 0;
    size_t want = (size_t)st.st_size;
    while (want > 0) {
        if (sb_reserve(b, want) < 0)
            return -1;
        ssize_t n = pread(*fd, b->data + b->len, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        off += n;
        want -= (size_t)n;
    }
    close(*fd);
    *fd = -1;
    return 0;
}

int job_collect(job *j, strbuf *err)
{
    int rc = 0;
    if (j->out_file >= 0) {
        if (slurp_file(&j->out_file, &j->out) < 0)
            rc = -1;
        j->received = j->out.len;
    }
    if (j->err_file >= 0 && slurp_file(&j->err_file, &j->err) < 0)
        rc = -1;
    if (rc < 0)
        sb_addf(err, "cannot read the output of job %lu: %s", j->seq,
                j->out.failed || j->err.failed ? "out of memory" : strerror(errno));
    return rc;
}

int job_is_over(const job *j)
{
    return j->reaped && j->out_fd < 0 && j->err_fd < 0 && j->in.fd < 0;
}
