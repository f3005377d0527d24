/* mr_input.c - cutting buffers and files into map-reduce chunks.
 *
 * A chunk ends at a record boundary at or after its target size: after a
 * newline (lines), before whitespace (words: no word is cut in two), or at
 * a multiple of the record size.  A record longer than the target stays
 * whole.  Files are cut by the caller, who reads only a window around
 * each cut; workers then map their own pieces, so no file byte is copied
 * and process workers need nothing the caller allocated. */
#include "mr_input.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW 4096

static bool is_boundary_byte(mp_mr_records records, char c)
{
    return records == MP_MR_LINES ? c == '\n' : isspace((unsigned char)c) != 0;
}

static int check_records(const char *who, mp_mr_records records, size_t record_size, uint64_t size)
{
    if (records != MP_MR_LINES && records != MP_MR_WORDS && records != MP_MR_FIXED)
        return mp__error(MP_EINVAL, "%s: unknown records kind %d", who, (int)records);
    if (records != MP_MR_FIXED)
        return record_size ? mp__error(MP_EINVAL, "%s: record_size %zu is only for MP_MR_FIXED", who, record_size) : 0;
    if (!record_size)
        return mp__error(MP_EINVAL, "%s: MP_MR_FIXED needs a record_size", who);
    if (size % record_size)
        return mp__error(MP_EINVAL, "%s: %llu bytes are not a whole number of %zu-byte records", who,
                         (unsigned long long)size, record_size);
    return 0;
}

/* Appends one element to a malloc'd array that doubles. */
static int push(void **array, size_t *n, size_t *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void *p = realloc(*array, c * size);
        if (!p)
            return mp__error(MP_ENOMEM, "map-reduce: out of memory cutting the input");
        *array = p;
        *cap = c;
    }
    memcpy((char *)*array + *n * size, item, size);
    (*n)++;
    return 0;
}

/* Where the chunk that starts at `begin` ends, given the bytes: cut at the
 * target, then moved to the next boundary.  `at(i)` is byte i of the whole
 * input (the buffer's, or a file's read through a window). */
typedef struct source {
    const char *data;        /* a buffer, or NULL: read from fd */
    int fd;
    uint64_t size;
    char window[WINDOW];
    uint64_t window_at;      /* offset of window[0] */
    size_t window_len;
} source;

/* Byte i, or -1 on a read error. */
static int byte_at(source *s, uint64_t i)
{
    if (s->data)
        return (unsigned char)s->data[i];
    if (i < s->window_at || i >= s->window_at + s->window_len) {
        ssize_t n;
        do
            n = pread(s->fd, s->window, WINDOW, (off_t)i);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return -1;
        s->window_at = i;
        s->window_len = (size_t)n;
    }
    return (unsigned char)s->window[i - s->window_at];
}

static int64_t chunk_end(source *s, uint64_t begin, mp_mr_records records, size_t record_size, size_t target)
{
    if (records == MP_MR_FIXED) {
        uint64_t len = target / record_size * record_size;
        if (len < record_size)
            len = record_size;
        return begin + len < s->size ? (int64_t)(begin + len) : (int64_t)s->size;
    }
    uint64_t end = begin + target;
    if (end >= s->size)
        return (int64_t)s->size;
    if (records == MP_MR_LINES) {
        for (end = end - 1; end < s->size; end++) {   /* the newline ends the chunk */
            int c = byte_at(s, end);
            if (c < 0)
                return -1;
            if (c == '\n')
                return (int64_t)end + 1;
        }
        return (int64_t)s->size;
    }
    for (; end < s->size; end++) {                    /* words: cut before whitespace */
        int c = byte_at(s, end);
        if (c < 0)
            return -1;
        if (is_boundary_byte(records, (char)c))
            return (int64_t)end;
    }
    return (int64_t)s->size;
}

int mp__mr_cut_buffer(const char *who, const char *data, size_t size, mp_mr_records records, size_t record_size,
                      size_t target, mp_mr_chunk **chunks, size_t *n)
{
    *chunks = NULL;
    *n = 0;
    int r = check_records(who, records, record_size, size);
    if (r)
        return r;
    source s = { .data = data, .size = size };
    size_t cap = 0;
    for (uint64_t at = 0; at < size;) {
        uint64_t end = (uint64_t)chunk_end(&s, at, records, record_size, target);
        mp_mr_chunk c = { data + at, (size_t)(end - at), 0, at };
        if ((r = push((void **)chunks, n, &cap, sizeof c, &c))) {
            free(*chunks);
            *chunks = NULL;
            *n = 0;
            return r;
        }
        at = end;
    }
    return 0;
}

int mp__mr_cut_files(const char *who, const char *const *paths, size_t npaths, mp_mr_records records,
                     size_t record_size, size_t target, mp__mr_piece **pieces, size_t *n)
{
    *pieces = NULL;
    *n = 0;
    size_t cap = 0;
    int r = 0;
    for (size_t f = 0; f < npaths && !r; f++) {
        int fd = open(paths[f], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            r = mp__syserror("%s: %s", who, paths[f]);
            if (fd >= 0)
                close(fd);
            break;
        }
        source *s = malloc(sizeof *s);
        if (!s) {
            close(fd);
            r = mp__error(MP_ENOMEM, "%s: out of memory", who);
            break;
        }
        *s = (source){ .fd = fd, .size = (uint64_t)st.st_size };
        r = check_records(who, records, record_size, s->size);
        for (uint64_t at = 0; at < s->size && !r;) {
            int64_t end = chunk_end(s, at, records, record_size, target);
            if (end < 0) {
                r = mp__syserror("%s: reading %s", who, paths[f]);
                break;
            }
            mp__mr_piece p = { f, at, (size_t)((uint64_t)end - at) };
            r = push((void **)pieces, n, &cap, sizeof p, &p);
            at = (uint64_t)end;
        }
        free(s);
        close(fd);
    }
    if (r) {
        free(*pieces);
        *pieces = NULL;
        *n = 0;
    }
    return r;
}

int mp__mr_map_piece(const char *path, const mp__mr_piece *piece, mp_mr_chunk *chunk, void **base, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = piece->offset / page * page;
    *len = (size_t)(piece->offset - start) + piece->size;
    /* MAP_POPULATE: the pages arrive in one call, not one fault each. */
    *base = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)start);
    int e = errno;
    close(fd);
    if (*base == MAP_FAILED)
        return -e;
    *chunk = (mp_mr_chunk){ (const char *)*base + (piece->offset - start), piece->size, piece->file, piece->offset };
    return 0;
}
