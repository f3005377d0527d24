/* blocks.c - blocks of whole records from standard input or a file. */
#include "blocks.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* GNU parallel stops growing a block below 2 GiB. */
#define BLOCK_MAX 2147483647u
/* How much of a file is read at a time while looking for a boundary. */
#define SEARCH_CHUNK 131072

/* Decodes the escapes GNU parallel decodes in --recstart/--recend. */
static int decode_separator(const char *s, strbuf *out)
{
    sb_clear(out);
    sb_reserve(out, 1);
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '\\' && p[1] && strchr("0rnt'\"\\", p[1])) {
            p++;
            c = *p == '0' ? '\0' : *p == 'r' ? '\r' : *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        }
        sb_addc(out, c);
    }
    return out->failed ? -1 : 0;
}

int records_init(records *r, const char *recstart, const char *recend)
{
    memset(r, 0, sizeof *r);
    if (!recstart && !recend)
        recend = "\\n";
    if (decode_separator(recstart ? recstart : "", &r->start) < 0 ||
        decode_separator(recend ? recend : "", &r->end) < 0)
        return -1;
    sb_add(&r->boundary, r->end.data, r->end.len);
    sb_add(&r->boundary, r->start.data, r->start.len);
    return sb_reserve(&r->boundary, 1);
}

void records_free(records *r)
{
    sb_free(&r->start);
    sb_free(&r->end);
    sb_free(&r->boundary);
}

/* ---- standard input --------------------------------------------------- */

int stdin_blocks_init(stdin_blocks *b, int fd, size_t block, size_t per_block, const char *recstart,
                      const char *recend)
{
    memset(b, 0, sizeof *b);
    b->fd = fd;
    b->block = block < BLOCK_MAX ? block : BLOCK_MAX;
    b->per_block = per_block;
    return records_init(&b->rec, recstart, recend);
}

void stdin_blocks_free(stdin_blocks *b)
{
    records_free(&b->rec);
    sb_free(&b->buf);
    free(b->cuts);
    b->cuts = NULL;
}

int stdin_blocks_hungry(const stdin_blocks *b)
{
    return !b->eof && b->nexted == b->ncuts;
}

static int add_cut(stdin_blocks *b, size_t len)
{
    if (b->ncuts == b->cutcap) {
        size_t cap = b->cutcap ? 2 * b->cutcap : 16;
        size_t *p = realloc(b->cuts, cap * sizeof *p);
        if (!p)
            return -1;
        b->cuts = p;
        b->cutcap = cap;
    }
    b->cuts[b->ncuts++] = len;
    return 0;
}

/* The last occurrence of needle in hay, or -1. */
static long long last_index(const char *hay, size_t n, const strbuf *needle)
{
    if (needle->len == 0)
        return (long long)n;
    if (needle->len > n)
        return -1;
    size_t limit = n - needle->len + 1; /* candidate starts: [0, limit) */
    while (limit > 0) {
        const char *p = memrchr(hay, needle->data[0], limit);
        if (!p)
            return -1;
        if (!memcmp(p, needle->data, needle->len))
            return (long long)(p - hay);
        limit = (size_t)(p - hay);
    }
    return -1;
}

/* Where the n-th boundary is, each searched from one byte past the
 * previous one (the first from offset 1: a record may start the block),
 * or -1. */
static long long nth_index(const char *hay, size_t len, const strbuf *needle, size_t n)
{
    size_t from = 0;
    const char *p = NULL;
    for (size_t k = 0; k < n; k++) {
        if (from + 1 > len)
            return -1;
        p = memmem(hay + from + 1, len - from - 1, needle->data, needle->len);
        if (!p)
            return -1;
        from = (size_t)(p - hay);
    }
    return (long long)from;
}

/* The round's input is in: cut it into blocks. */
static int finish_round(stdin_blocks *b)
{
    const char *data = b->buf.data;
    size_t len = b->buf.len, used = 0;
    size_t endlen = b->rec.end.len;
    b->ncuts = b->nexted = 0;
    if (b->per_block) {
        long long i;
        while (used < len && (i = nth_index(data + used, len - used, &b->rec.boundary, b->per_block)) >= 0) {
            size_t cut = (size_t)i + endlen;
            if (add_cut(b, cut) < 0)
                return -1;
            used += cut;
        }
    } else if (!b->eof) {
        long long i = last_index(data, len, &b->rec.boundary);
        if (i >= 0 && (size_t)i + endlen > 0) {
            if (add_cut(b, (size_t)i + endlen) < 0)
                return -1;
            used = (size_t)i + endlen;
        }
    }
    if (b->eof && used < len)
        return add_cut(b, len - used);
    if (!b->eof && b->ncuts == 0 && b->block < BLOCK_MAX) {
        /* No boundary in a whole block: the record is longer. */
        b->grew_from = b->block;
        double grown = ceil((double)b->block * 1.3 + 1);
        b->block = grown < (double)BLOCK_MAX ? (size_t)grown : BLOCK_MAX;
    }
    return 0;
}

int stdin_blocks_read(stdin_blocks *b)
{
    if (b->want == 0) {
        /* A new round: drop what was handed out, top up to the next
         * multiple of the block size. */
        size_t rest = b->buf.len - b->head;
        if (b->head)
            memmove(b->buf.data, b->buf.data + b->head, rest);
        b->buf.len = rest;
        b->head = 0;
        b->ncuts = b->nexted = 0;
        b->want = b->block - rest % b->block;
    }
    if (sb_reserve(&b->buf, b->want) < 0) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = read(b->fd, b->buf.data + b->buf.len, b->want);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        b->eof = 1;
    } else {
        b->buf.len += (size_t)n;
        b->buf.data[b->buf.len] = '\0';
        b->want -= (size_t)n;
        if (b->want)
            return 0;
    }
    b->want = 0;
    if (finish_round(b) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* The round's only block starts the buffer (the usual case without -N):
 * the buffer itself becomes the block, and only the unfinished record
 * after it is copied, to a fresh buffer. */
static int take_whole_buffer(stdin_blocks *b, size_t n, strbuf *out)
{
    strbuf rest = STRBUF_INIT;
    if (sb_add(&rest, b->buf.data + n, b->buf.len - n) < 0)
        return STDIN_BLOCKS_NOMEM;
    sb_free(out);
    *out = b->buf;
    out->len = n;
    out->data[n] = '\0';
    b->buf = rest;
    b->nexted++;
    return 1;
}

int stdin_blocks_take(stdin_blocks *b, strbuf *out)
{
    sb_clear(out);
    if (b->nexted == b->ncuts)
        return b->eof ? STDIN_BLOCKS_END : STDIN_BLOCKS_LATER;
    size_t n = b->cuts[b->nexted];
    if (b->head == 0 && b->nexted + 1 == b->ncuts)
        return take_whole_buffer(b, n, out);
    if (sb_add(out, b->buf.data + b->head, n) < 0)
        return STDIN_BLOCKS_NOMEM;
    b->nexted++;
    b->head += n;
    return 1;
}

/* ---- a file ----------------------------------------------------------- */

int file_parts_open(file_parts *p, const char *path, long long block, long slots, const char *recstart,
                    const char *recend, strbuf *err)
{
    memset(p, 0, sizeof *p);
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0) {
        sb_addf(err, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(p->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sb_addf(err, "--pipepart needs a regular file, and '%s' is not one", path);
        close(p->fd);
        p->fd = -1;
        return -1;
    }
    p->size = st.st_size;
    if (block < 0)
        block = 1 + (long long)(p->size / (slots > 0 ? slots : 1) / -block);
    p->block = (off_t)block;
    if (records_init(&p->rec, recstart, recend) < 0) {
        sb_adds(err, "out of memory");
        file_parts_close(p);
        return -1;
    }
    return 0;
}

void file_parts_close(file_parts *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    records_free(&p->rec);
    sb_free(&p->window);
}

/* The first boundary at or after from: *at is where the part ends (after
 * the recend).  Returns 1, 0 when there is none, -1 on a read error. */
static int find_boundary(file_parts *p, off_t from, off_t *at)
{
    const strbuf *sep = &p->rec.boundary;
    if (sep->len == 0) {
        *at = from;
        return 1;
    }
    strbuf *w = &p->window;
    sb_clear(w);
    for (;;) {
        size_t searched = w->len >= sep->len ? w->len - sep->len + 1 : 0;
        if (sb_reserve(w, SEARCH_CHUNK) < 0) {
            errno = ENOMEM;
            return -1;
        }
        ssize_t n = pread(p->fd, w->data + w->len, SEARCH_CHUNK, from + (off_t)w->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        w->len += (size_t)n;
        const char *hit = memmem(w->data + searched, w->len - searched, sep->data, sep->len);
        if (hit) {
            *at = from + (off_t)(hit - w->data) + (off_t)p->rec.end.len;
            return 1;
        }
    }
}

int file_parts_next(file_parts *p, off_t *off, size_t *len)
{
    if (p->pos >= p->size)
        return 0;
    off_t end = p->size;
    off_t from = p->search + p->block;
    if (from < p->size) {
        int found = find_boundary(p, from, &end);
        if (found < 0)
            return -1;
        if (!found || end > p->size)
            end = p->size;
    }
    *off = p->pos;
    *len = (size_t)(end - p->pos);
    p->pos = p->search = end;
    return 1;
}
