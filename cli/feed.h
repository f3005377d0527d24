/* feed.h - handing a job its block of input (--pipe, --pipepart).
 *
 * The block is either bytes in memory (cut from standard input) or a
 * part of a file (--pipepart: never copied through mproc when the kernel
 * can move it, see feed_pump).  It reaches the job one of three ways:
 * on its standard input through a pipe (the default), in a temporary
 * file whose name is the job's argument (--cat), or through a named pipe
 * whose name is the argument (--fifo).  Writing never blocks: the runner
 * pumps a feed whenever its descriptor is writable. */
#ifndef MPROC_CLI_FEED_H
#define MPROC_CLI_FEED_H

#include <sys/types.h>

#include "strbuf.h"

typedef enum feed_via { FEED_PIPE, FEED_CAT, FEED_FIFO } feed_via;

typedef struct feed {
    int active;         /* the job has a block */
    feed_via via;
    strbuf data;        /* the block, when it is in memory */
    int file;           /* or: the file holding it (not owned), -1 if none */
    off_t off;          /* ... where in the file it starts */
    size_t len;         /* its length (either form) */
    size_t done;        /* bytes handed over */
    int fd;             /* our end: a pipe or the named pipe; -1 when none */
    int child_fd;       /* the job's standard input until it is started; -1 */
    char *path;         /* --cat, --fifo: the name given to the job */
} feed;

#define FEED_INIT {0, FEED_PIPE, STRBUF_INIT, -1, 0, 0, 0, -1, -1, NULL}

/* Readies a feed for a (first or next) attempt of its job: --cat writes
 * the temporary file, --fifo makes the named pipe, a pipe gets created
 * (its read end in f->child_fd).  Returns 0, or -1 with a message in
 * *err. */
int feed_prepare(feed *f, strbuf *err);

/* After the job was started: closes the job's end of the pipe. */
void feed_started(feed *f);

/* Whether the feed has more to hand over: the runner waits for f->fd to
 * be writable, or (f->fd < 0, --fifo) for the job to open the named pipe,
 * trying feed_pump again now and then. */
int feed_pending(const feed *f);

/* Hands over what the job takes now.  Returns 0 (done or not); -1 with
 * errno set on an error other than the job closing its end (which ends
 * the feed: it wanted no more). */
int feed_pump(feed *f);

/* Closes our end and removes the temporary file or named pipe; the block
 * is kept for a retry. */
void feed_finish(feed *f);

void feed_free(feed *f);

#endif
