/* shm_named.c - named shared-memory segments (POSIX shm_open), for
 * processes that are not related by fork.
 *
 * The creator owns the name: closing the segment in the process that
 * created it unlinks the name, unless the creator asked to keep it.  Other
 * processes -- including children that inherited the creator's handle --
 * only unmap.  So a name is never left behind by accident, and nobody needs
 * a resource tracker to clean up after the fact (nor warns about "leaks"
 * that were deliberate). */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_NAME_MAX 200

struct mp_segment {
    void *base;
    size_t size;
    pid_t creator;          /* 0 when opened, not created */
    int keep;
    char name[SEGMENT_NAME_MAX + 2];
};

/* "/name" from "name" or "/name"; MP_EINVAL for anything shm_open would
 * misread (empty, other slashes, too long). */
static int normalise(const char *name, char out[SEGMENT_NAME_MAX + 2], const char *who)
{
    if (!name)
        return mp__error(MP_EINVAL, "%s: name is NULL", who);
    const char *bare = name[0] == '/' ? name + 1 : name;
    size_t len = strlen(bare);
    if (len == 0 || len > SEGMENT_NAME_MAX || strchr(bare, '/'))
        return mp__error(MP_EINVAL, "%s: bad segment name \"%s\" (1 to %d characters, no '/' after the first)", who,
                         name, SEGMENT_NAME_MAX);
    if (!strcmp(bare, ".") || !strcmp(bare, ".."))
        return mp__error(MP_EINVAL, "%s: bad segment name \"%s\"", who, name);
    out[0] = '/';
    memcpy(out + 1, bare, len + 1);
    return 0;
}

static int map(mp_segment *s, int fd, const char *who)
{
    void *p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return mp__syserror("%s: mmap of %zu bytes", who, s->size);
    s->base = p;
    return 0;
}

int mp_segment_create(mp_segment **out, const char *name, size_t size, int flags)
{
    static const char who[] = "mp_segment_create";
    if (!out)
        return mp__error(MP_EINVAL, "%s: out is NULL", who);
    if (size == 0)
        return mp__error(MP_EINVAL, "%s: size is 0", who);
    if (flags & ~MP_SEGMENT_KEEP)
        return mp__error(MP_EINVAL, "%s: unknown flags 0x%x", who, (unsigned)flags);
    mp_segment *s = calloc(1, sizeof *s);
    if (!s)
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    int r = normalise(name, s->name, who);
    if (r < 0) {
        free(s);
        return r;
    }
    /* shm_open sets close-on-exec. */
    int fd = shm_open(s->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        r = errno == EEXIST ? mp__error(MP_EEXIST, "%s: segment \"%s\" already exists", who, s->name)
                            : mp__syserror("%s: shm_open(\"%s\")", who, s->name);
        free(s);
        return r;
    }
    s->size = size;
    if (ftruncate(fd, (off_t)size) < 0)
        r = mp__syserror("%s: cannot size \"%s\" to %zu bytes", who, s->name, size);
    else
        r = map(s, fd, who);
    close(fd);
    if (r < 0) {
        shm_unlink(s->name);
        free(s);
        return r;
    }
    s->creator = getpid();
    s->keep = flags & MP_SEGMENT_KEEP;
    *out = s;
    return 0;
}

int mp_segment_open(mp_segment **out, const char *name, size_t size)
{
    static const char who[] = "mp_segment_open";
    if (!out)
        return mp__error(MP_EINVAL, "%s: out is NULL", who);
    mp_segment *s = calloc(1, sizeof *s);
    if (!s)
        return mp__error(MP_ENOMEM, "%s: out of memory", who);
    int r = normalise(name, s->name, who);
    if (r < 0) {
        free(s);
        return r;
    }
    int fd = shm_open(s->name, O_RDWR, 0);
    if (fd < 0) {
        r = errno == ENOENT ? mp__error(MP_ENOENT, "%s: no segment named \"%s\"", who, s->name)
                            : mp__syserror("%s: shm_open(\"%s\")", who, s->name);
        free(s);
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = mp__syserror("%s: fstat(\"%s\")", who, s->name);
    } else if (st.st_size == 0) {
        r = mp__error(MP_EINVAL, "%s: segment \"%s\" is empty (its creator has not sized it yet?)", who, s->name);
    } else if (size != 0 && (size_t)st.st_size != size) {
        r = mp__error(MP_EINVAL, "%s: segment \"%s\" has %lld bytes, not %zu", who, s->name, (long long)st.st_size,
                      size);
    } else {
        s->size = (size_t)st.st_size;
        r = map(s, fd, who);
    }
    close(fd);
    if (r < 0) {
        free(s);
        return r;
    }
    *out = s;
    return 0;
}

void *mp_segment_ptr(const mp_segment *s)
{
    return s ? s->base : NULL;
}

size_t mp_segment_size(const mp_segment *s)
{
    return s ? s->size : 0;
}

const char *mp_segment_name(const mp_segment *s)
{
    return s ? s->name : "";
}

int mp_segment_close(mp_segment *s)
{
    if (!s)
        return 0;
    int r = 0;
    if (munmap(s->base, s->size) < 0)
        r = mp__syserror("mp_segment_close: munmap");
    if (s->creator == getpid() && !s->keep && shm_unlink(s->name) < 0 && errno != ENOENT && r == 0)
        r = mp__syserror("mp_segment_close: shm_unlink(\"%s\")", s->name);
    free(s);
    return r;
}

int mp_segment_unlink(const char *name)
{
    char full[SEGMENT_NAME_MAX + 2];
    int r = normalise(name, full, "mp_segment_unlink");
    if (r < 0)
        return r;
    if (shm_unlink(full) < 0) {
        if (errno == ENOENT)
            return mp__error(MP_ENOENT, "mp_segment_unlink: no segment named \"%s\"", full);
        return mp__syserror("mp_segment_unlink: shm_unlink(\"%s\")", full);
    }
    return 0;
}
