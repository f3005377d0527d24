/* output.c - writing job output, whole or line by line, with tags. */
#include "output.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int write_tagged(int fd, const char *tag, size_t taglen, const char *data, size_t n)
{
    if (!tag)
        return write_all(fd, data, n);
    strbuf b = STRBUF_INIT;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - data) + 1 : n;
        sb_add(&b, tag, taglen);
        sb_add(&b, data + i, end - i);
        i = end;
    }
    int rc = b.failed ? -1 : write_all(fd, b.data, b.len);
    sb_free(&b);
    return rc;
}

int flush_complete_lines(int fd, const char *tag, size_t taglen, strbuf *buf, size_t fresh)
{
    if (fresh > buf->len)
        fresh = buf->len;
    if (!fresh)
        return 0;
    const char *last = memrchr(buf->data + buf->len - fresh, '\n', fresh);
    if (!last)
        return 0;
    size_t n = (size_t)(last - buf->data) + 1;
    int rc = write_tagged(fd, tag, taglen, buf->data, n);
    memmove(buf->data, buf->data + n, buf->len - n);
    buf->len -= n;
    buf->data[buf->len] = '\0';
    return rc;
}
