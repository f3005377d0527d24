/* feed.c - a job's block: through a pipe, a temporary file or a named pipe. */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A pipe this large lets a job take a big block in few wake-ups; the
 * kernel may refuse (pipe-max-size), then the default serves. */
#define FEED_PIPE_SIZE (1 << 20)
/* Bytes copied at a time when the kernel cannot splice the file. */
#define COPY_CHUNK 65536

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A fresh name in $TMPDIR (or /tmp) for a temporary file: *fd is the
 * file, created empty and private.  Returns 0, or -1 with a message. */
static int make_temp(feed *f, int *fd, strbuf *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    strbuf name = STRBUF_INIT;
    sb_addf(&name, "%s/mprocXXXXXX", dir);
    if (name.failed) {
        sb_adds(err, "out of memory");
        return -1;
    }
    *fd = mkostemp(name.data, O_CLOEXEC);
    if (*fd < 0) {
        sb_addf(err, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        sb_free(&name);
        return -1;
    }
    f->path = name.data; /* owned by the feed from now on */
    return 0;
}

/* Writes the bytes [done, len) of the block to fd, which may refuse
 * some (non-blocking): returns the count taken, or -1 with errno. */
static ssize_t hand_over(feed *f, int fd)
{
    size_t left = f->len - f->done;
    if (f->file < 0)
        return write(fd, f->data.data + f->done, left);
    loff_t from = (loff_t)(f->off + (off_t)f->done);
    ssize_t n = splice(f->file, &from, fd, NULL, left, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n >= 0 || (errno != EINVAL && errno != ENOSYS))
        return n;
    /* A file system that cannot splice: copy. */
    char chunk[COPY_CHUNK];
    ssize_t got = pread(f->file, chunk, left < sizeof chunk ? left : sizeof chunk, (off_t)from);
    if (got <= 0)
        return got < 0 ? -1 : (errno = EIO, -1);
    return write(fd, chunk, (size_t)got);
}

/* --cat: the whole block into the temporary file. */
static int write_temp_file(feed *f, strbuf *err)
{
    int fd;
    if (make_temp(f, &fd, err) < 0)
        return -1;
    while (f->done < f->len) {
        ssize_t n = hand_over(f, fd);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sb_addf(err, "cannot write the temporary file %s: %s", f->path, n < 0 ? strerror(errno) : "short write");
            close(fd);
            return -1;
        }
        f->done += (size_t)n;
    }
    close(fd);
    return 0;
}

/* --fifo: the named pipe, under a fresh temporary name. */
static int make_fifo(feed *f, strbuf *err)
{
    int fd;
    if (make_temp(f, &fd, err) < 0)
        return -1;
    close(fd);
    unlink(f->path);
    if (mkfifo(f->path, 0600) < 0) {
        sb_addf(err, "cannot create the named pipe %s: %s", f->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int make_pipe(feed *f, strbuf *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        sb_addf(err, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    (void)fcntl(p[1], F_SETPIPE_SZ, FEED_PIPE_SIZE);
    fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
    f->child_fd = p[0];
    f->fd = p[1];
    return 0;
}

int feed_prepare(feed *f, strbuf *err)
{
    feed_finish(f);
    f->done = 0;
    switch (f->via) {
    case FEED_CAT:  return write_temp_file(f, err);
    case FEED_FIFO: return make_fifo(f, err);
    case FEED_PIPE: break;
    }
    return make_pipe(f, err);
}

void feed_started(feed *f)
{
    close_fd(&f->child_fd);
}

int feed_pending(const feed *f)
{
    return f->active && f->done < f->len && (f->fd >= 0 || f->via == FEED_FIFO);
}

int feed_pump(feed *f)
{
    if (f->fd < 0 && f->via == FEED_FIFO && f->path) {
        f->fd = open(f->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (f->fd < 0)
            return errno == ENXIO || errno == EINTR ? 0 : -1; /* ENXIO: no reader yet */
    }
    while (f->fd >= 0 && f->done < f->len) {
        ssize_t n = hand_over(f, f->fd);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0 && errno != EPIPE)
            return -1;
        /* EPIPE: the job closed its input and wants no more. */
        f->done = n < 0 ? f->len : f->done + (size_t)n;
    }
    close_fd(&f->fd);
    return 0;
}

void feed_finish(feed *f)
{
    close_fd(&f->fd);
    close_fd(&f->child_fd);
    if (f->path) {
        unlink(f->path);
        free(f->path);
        f->path = NULL;
    }
}

void feed_free(feed *f)
{
    feed_finish(f);
    sb_free(&f->data);
    f->active = 0;
}
