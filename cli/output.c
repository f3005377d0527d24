/* output.c - writing job output, whole or line by line, with tags. */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- --ctag colours ----------------------------------------------------- */

/* GNU parallel's readable colour pairs: black text on these backgrounds,
 * then white text on these; [lo, hi] ranges of 256-colour codes. */
static const unsigned char black_text[][2] = {
    {6, 7}, {9, 11}, {13, 15}, {40, 51}, {75, 87}, {113, 123}, {147, 159}, {171, 182}, {185, 231}, {249, 254},
};
static const unsigned char white_text[][2] = {
    {1, 9}, {12, 13}, {16, 45}, {52, 81}, {88, 114}, {124, 149}, {160, 178}, {180, 180}, {182, 184},
    {196, 214}, {232, 250},
};
#define NCOLORS 307
#define COLOR_LEN 32

static int color_order(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    /* Adjacent colours made dissimilar, as GNU parallel orders them. */
    if (x % 23 != y % 23)
        return x % 23 - y % 23;
    if (x % 7 != y % 7)
        return y % 7 - x % 7;
    return x - y;
}

static int add_range(int (*pairs)[2], int n, const unsigned char (*ranges)[2], size_t nranges, int fg)
{
    for (size_t r = 0; r < nranges; r++)
        for (int c = ranges[r][0]; c <= ranges[r][1]; c++) {
            pairs[n][0] = c;
            pairs[n][1] = fg;
            n++;
        }
    return n;
}

const char *tag_color(unsigned long seq)
{
    static char colors[NCOLORS][COLOR_LEN];
    static int ready;
    if (!ready) {
        int pairs[NCOLORS][2], order[NCOLORS];
        int n = add_range(pairs, 0, black_text, sizeof black_text / sizeof black_text[0], 0);
        n = add_range(pairs, n, white_text, sizeof white_text / sizeof white_text[0], 231);
        for (int i = 0; i < n; i++)
            order[i] = i;
        qsort(order, (size_t)n, sizeof order[0], color_order);
        for (int i = 0; i < n; i++)
            snprintf(colors[i], COLOR_LEN, "\033[48;5;%03d;38;5;%03dm\033[K", pairs[order[i]][0], pairs[order[i]][1]);
        ready = 1;
    }
    return colors[seq % NCOLORS];
}

int write_colored(int fd, const char *color, const char *tag, size_t taglen, const char *data, size_t n)
{
    static const char reset[] = "\033[m";
    strbuf b = STRBUF_INIT;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - data) : n;
        sb_adds(&b, color);
        sb_add(&b, tag, taglen);
        for (; i < end; i++) {
            if (data[i] == '\r') {
                sb_adds(&b, reset);
                sb_addc(&b, '\r');
                sb_adds(&b, color);
                sb_add(&b, tag, taglen);
            } else {
                sb_addc(&b, data[i]);
            }
        }
        sb_adds(&b, reset);
        sb_addc(&b, '\n');
        i = end + 1;
    }
    int rc = b.failed ? -1 : write_all(fd, b.data, b.len);
    sb_free(&b);
    return rc;
}

void say(const char *fmt, ...)
{
    strbuf m = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sb_adds(&m, "mproc run: ");
    sb_vaddf(&m, fmt, ap);
    va_end(ap);
    sb_addc(&m, '\n');
    if (!m.failed)
        write_all(2, m.data, m.len);
    sb_free(&m);
}
