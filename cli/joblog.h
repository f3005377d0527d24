/* joblog.h - the job log (GNU parallel's tab-separated format) and the
 * set of jobs a --resume or --resume-failed skips. */
#ifndef MPROC_CLI_JOBLOG_H
#define MPROC_CLI_JOBLOG_H

#include <stddef.h>

#include "strbuf.h"

typedef struct joblog {
    int fd;     /* -1 when no log was asked for */
} joblog;

/* Opens path; truncates it unless keep is set.  Writes the header line
 * when the file is empty.  Returns 0 or -1 with a message in *err. */
int joblog_open(joblog *jl, const char *path, int keep, strbuf *err);
/* Appends a job's line: send is the bytes handed to its standard input
 * (--pipe, --pipepart), receive those of its standard output. */
int joblog_write(joblog *jl, unsigned long seq, double start, double runtime, size_t send, size_t receive,
                 int exitval, int sig, const char *cmd);
void joblog_close(joblog *jl);

typedef struct seqset {
    unsigned char *bits;
    size_t nbytes;
} seqset;

int seqset_add(seqset *s, unsigned long seq);
int seqset_has(const seqset *s, unsigned long seq);
void seqset_free(seqset *s);

/* Reads an existing log into *skip: every job it lists, or with
 * succeeded_only set only the jobs that ran with exit value 0 and no
 * signal.  A
 * missing file is an empty log.  Returns 0, or -1 with a message naming
 * the bad line when the log is malformed. */
int joblog_read_skips(const char *path, int succeeded_only, seqset *skip, strbuf *err);

#endif
