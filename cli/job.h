/* job.h - one job: its arguments, its process and its captured output.
 *
 * A job runs in its own process group.  Its standard output and error go
 * to memory files read when it ends (grouped output: no event to handle
 * while it runs), to pipes read as data comes (--line-buffer), or straight
 * to ours (--ungroup).  It is over when its process has been reaped and,
 * with pipes, both are at end of file (and its block, if it has one, was
 * handed over or refused). */
#ifndef MPROC_CLI_JOB_H
#define MPROC_CLI_JOB_H

#include <sys/types.h>

#include "command.h"
#include "feed.h"
#include "spawn.h"
#include "strbuf.h"
#include "termseq.h"

typedef enum job_state { JOB_WAITING, JOB_RUNNING, JOB_FINISHED } job_state;

typedef enum capture_mode { CAPTURE_NONE, CAPTURE_FILES, CAPTURE_PIPES } capture_mode;

struct job;

/* Where a job runs when it is not a process of ours (mproc run under
 * mpirun: another rank).  The host that started it signals it there. */
typedef struct job_host {
    void (*signal)(struct job_host *h, struct job *j, int sig);
} job_host;

typedef struct job {
    struct job *next_retry;     /* the runner's retry queue */
    struct job *next_order;     /* -k: the jobs in input order */
    unsigned long seq, slot;
    strvec args;
    strbuf cmd;                 /* shell form: job log, messages */
    strbuf out, err;
    feed in;                    /* --pipe, --pipepart: the job's block */
    size_t received;            /* bytes of standard output */
    pid_t pid;                  /* -1 when it runs elsewhere (host) */
    job_host *host;             /* NULL: a process of ours */
    int out_fd, err_fd;         /* pipes: -1 once at end of file */
    int out_file, err_file;     /* memory files, until collected */
    int reaped;
    int exitval, sig;
    long attempts;
    double start_real, start_mono, runtime;
    int timed_out;              /* stopped by --timeout */
    int discard;                /* stopped by --halt now or a signal: no output */
    int term_step;              /* next step of the TERM-then-KILL sequence */
    double term_next;           /* when that step is due (monotonic) */
    job_state state;
} job;

double clock_mono(void);
double clock_real(void);

job *job_new(void);
void job_free(job *j);

/* Readies the job for a (first or next) attempt in slot: clears what
 * an earlier attempt left and renders its shell form into j->cmd.
 * Returns 0, or -1 with a message in *err. */
int job_prepare(job *j, unsigned long slot, const command *cmd, strbuf *err);

/* Starts a prepared job: execs it directly when the command allows,
 * through shell otherwise.  What j->out holds already stays in front of
 * the job's output.  Returns 0, or -1 with a message in *err. */
int job_start(job *j, command *cmd, spawner *sp, const char *shell, capture_mode capture, strbuf *err);

/* The two halves of job_start, for a job composed here and run
 * elsewhere.  job_argv builds the job's argv form and program path
 * (command_argv): 1 when it can be exec'd directly, 0 when it needs the
 * shell, -1 when out of memory.  job_spawn starts the prepared job: path
 * with argv when path is not NULL, falling back to the shell running
 * j->cmd.  Returns 0, or -1 with a message in *err. */
int job_argv(const job *j, command *cmd, strvec *argv, strbuf *path);
int job_spawn(job *j, const char *path, char *const argv[], spawner *sp, const char *shell, capture_mode capture,
              strbuf *err);

/* Reads the memory files of a job that is over into out and err.
 * Returns 0, or -1 when out of memory or unreadable (message in *err). */
int job_collect(job *j, strbuf *err);

/* Reads what is ready on the job's stdout (is_err 0) or stderr pipe;
 * closes the pipe at end of file.  Returns the number of bytes read, or
 * -1 when out of memory (the pipe is then closed and its output lost). */
long job_read(job *j, int is_err);

/* Records a wait status. */
void job_set_status(job *j, int status);

extern const term_seq term_seq_default;

/* Sends sig to the job's process group, wherever the job runs. */
void job_signal(job *j, int sig);

/* The TERM-then-KILL sequence seq, sent to the job's process group:
 * job_stop sends the first signal if none was sent yet; job_stop_tick
 * sends the next one when due and returns when the one after is due
 * (-1: the sequence is over). */
void job_stop(job *j, const term_seq *seq, double now);
double job_stop_tick(job *j, const term_seq *seq, double now);

int job_is_over(const job *j);

#endif
