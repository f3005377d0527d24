/* shm.c - the shared arena: one MAP_SHARED|MAP_ANONYMOUS reservation per
 * process tree, and a small allocator inside it.
 *
 * Why one big reservation: a mapping made before fork() appears at the same
 * address in every child, so a pointer into it means the same bytes
 * everywhere -- whether the block was allocated before or after a pool's
 * workers were forked.  The reservation is sparse (MAP_NORESERVE): only
 * pages that are touched cost memory, and large freed blocks are handed back
 * to the kernel with MADV_REMOVE.
 *
 * The allocator's state lives in the arena itself, under a process-shared
 * robust mutex, so any process of the tree may allocate and free.  It is a
 * first-fit free list with boundary tags (coalescing both neighbours) above a
 * bump pointer ("top").  Allocation is not on any per-task fast path: pools
 * allocate a few blocks per call, and workers only on failure paths and for
 * variable-size results.
 */
#include "internal.h"
#include "shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#define ARENA_MAGIC 0x6d70726f63617265ull /* "mprocare" */
#define ARENA_DEFAULT_SIZE ((size_t)32 << 30)
#define ARENA_MIN_SIZE ((size_t)64 << 20)
#define ALIGN 64
#define SPLIT_MIN 256                  /* smallest remainder worth a block */
#define RELEASE_MIN ((size_t)1 << 20)  /* free blocks this big go back to the kernel */
/* Bytes just above the top that stay resident when the top block is freed.
 * A pool call allocates and frees its blocks at the top; giving their pages
 * back every time makes the next call fault them in again, and each
 * release is a TLB shootdown in every process of the tree.  Keeping a few
 * megabytes mapped costs little and takes that off every call. */
#define TOP_KEEP ((uint64_t)4 << 20)
#define NIL ((uint64_t)0)

/* Every block starts with this header (64 bytes, so payloads stay 64-byte
 * aligned).  Offsets are from the arena base; 0 means "none" because offset
 * 0 is the arena header, never a block. */
typedef struct block {
    uint64_t size;       /* whole block, header included; multiple of ALIGN */
    uint64_t prev_size;  /* size of the block just below, 0 if first */
    uint64_t next_free;  /* free-list links, valid while free */
    uint64_t prev_free;
    uint32_t is_free;
    uint32_t magic;      /* BLOCK_MAGIC while allocated: catches bad frees */
    uint64_t pad[3];
} block;

#define BLOCK_MAGIC 0x626c6b21u

typedef struct arena_header {
    uint64_t magic;
    uint64_t size;          /* bytes reserved */
    uint64_t top;           /* offset where never-allocated space begins */
    uint64_t zero_from;     /* every byte at or above this offset is zero */
    uint64_t first_block;   /* offset of the lowest block */
    uint64_t last_block;    /* offset of the highest block, NIL if none */
    uint64_t free_head;
    uint64_t in_use;        /* bytes in allocated blocks, for statistics */
    pthread_mutex_t lock;
} arena_header;

static char *arena_base;
static size_t arena_size;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static int arena_status;    /* result of the one-time set-up */
/* Why the set-up failed: every call that needs the arena reports it, in
 * whichever thread it runs (the last error is per thread). */
static char arena_message[512];
static size_t page_size;

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static inline block *at(uint64_t off) { return (block *)(arena_base + off); }
static inline uint64_t off_of(const block *b) { return (uint64_t)((const char *)b - arena_base); }
static inline arena_header *header(void) { return (arena_header *)arena_base; }

/* log2 of the multiplier a size suffix stands for (K, M, G, T: powers of
 * 1024, either case), or 0 for anything else. */
static unsigned suffix_shift(char c)
{
    switch (c) {
    case 'K': case 'k': return 10;
    case 'M': case 'm': return 20;
    case 'G': case 'g': return 30;
    case 'T': case 't': return 40;
    default:            return 0;
    }
}

/* Parses MPROC_SHM_SIZE: decimal digits and an optional suffix -- no sign,
 * no space, no overflow.  Returns false for anything else. */
static bool parse_size(const char *s, size_t *out)
{
    size_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (SIZE_MAX - (size_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (p == s)
        return false;             /* no digits */
    unsigned shift = suffix_shift(*p);
    if (shift)
        p++;
    if (*p != '\0' || v > SIZE_MAX >> shift)
        return false;
    *out = v << shift;
    return true;
}

/* The reservation to make: MPROC_SHM_SIZE if set, else the default. */
static int wanted_size(size_t *out)
{
    const char *env = getenv("MPROC_SHM_SIZE");
    *out = ARENA_DEFAULT_SIZE;
    if (!env || !*env)
        return 0;
    if (!parse_size(env, out) || *out < ARENA_MIN_SIZE)
        return mp__error(MP_EINVAL, "MPROC_SHM_SIZE: '%s' is not a size of at least 64M "
                         "(digits with an optional K, M, G or T suffix)", env);
    return 0;
}

/* Records why the arena cannot be set up, for every later call. */
static void arena_failed(int code)
{
    arena_status = code;
    snprintf(arena_message, sizeof arena_message, "%s", mp_last_error());
}

static void arena_setup(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    size_t want;
    int r = wanted_size(&want);
    if (r) {
        arena_failed(r);
        return;
    }
    /* Sanitizer runtimes and small address-space limits refuse very large
     * shared mappings: halve until one is accepted. */
    void *p = MAP_FAILED;
    while (want >= ARENA_MIN_SIZE) {
        p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
            break;
        want /= 2;
    }
    if (p == MAP_FAILED) {
        arena_failed(mp__syserror("mp_shm: cannot reserve the shared arena"));
        return;
    }
    arena_base = p;
    arena_size = want;

    arena_header *h = header();
    h->magic = ARENA_MAGIC;
    h->size = want;
    h->first_block = round_up(sizeof(arena_header), ALIGN);
    h->top = h->first_block;
    h->zero_from = h->top;
    h->last_block = NIL;
    h->free_head = NIL;

    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&h->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    arena_status = 0;
}

int mp__arena_init(void)
{
    pthread_once(&arena_once, arena_setup);
    if (arena_status)
        return mp__error(arena_status, "%s", arena_message);
    return 0;
}

static void arena_lock(void)
{
    int r = pthread_mutex_lock(&header()->lock);
    /* A process died inside the allocator.  Its critical sections only
     * relink a few offsets; take the lock over and carry on. */
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(&header()->lock);
}

static void arena_unlock(void) { pthread_mutex_unlock(&header()->lock); }

static void free_list_remove(arena_header *h, block *b)
{
    if (b->prev_free) at(b->prev_free)->next_free = b->next_free;
    else h->free_head = b->next_free;
    if (b->next_free) at(b->next_free)->prev_free = b->prev_free;
    b->next_free = b->prev_free = NIL;
    b->is_free = 0;
}

static void free_list_push(arena_header *h, block *b)
{
    b->is_free = 1;
    b->magic = 0;
    b->prev_free = NIL;
    b->next_free = h->free_head;
    if (h->free_head) at(h->free_head)->prev_free = off_of(b);
    h->free_head = off_of(b);
}

static block *next_block(arena_header *h, block *b)
{
    uint64_t off = off_of(b);
    return off == h->last_block ? NULL : at(off + b->size);
}

/* Gives the pages strictly inside [from, to) back to the kernel; they read
 * as zero afterwards. */
static void release_pages(uint64_t from, uint64_t to)
{
    uint64_t a = round_up(from, page_size), z = to / page_size * page_size;
    if (z > a)
        madvise(arena_base + a, z - a, MADV_REMOVE);
}

static void zero_payload(arena_header *h, block *b, bool zero)
{
    if (!zero)
        return;
    uint64_t start = off_of(b) + sizeof(block), end = off_of(b) + b->size;
    if (start < h->zero_from)
        memset(arena_base + start, 0, (end < h->zero_from ? end : h->zero_from) - start);
}

int mp__shm_alloc(size_t size, bool zero, void **out)
{
    int r = mp__arena_init();
    if (r)
        return r;
    if (size > arena_size)
        return mp__error(MP_ENOMEM, "mp_shm_alloc: %zu bytes is larger than the shared arena (%zu bytes; set MPROC_SHM_SIZE)", size, arena_size);
    uint64_t need = round_up(size + sizeof(block), ALIGN);
    arena_header *h = header();

    arena_lock();
    block *b = NULL;
    for (uint64_t off = h->free_head; off; off = at(off)->next_free)
        if (at(off)->size >= need) { b = at(off); break; }

    if (b) {
        free_list_remove(h, b);
        if (b->size - need >= SPLIT_MIN) {
            block *rest = at(off_of(b) + need);
            rest->size = b->size - need;
            rest->prev_size = need;
            block *after = next_block(h, b);
            if (after) after->prev_size = rest->size;
            else h->last_block = off_of(rest);
            b->size = need;
            free_list_push(h, rest);
        }
    } else {
        if (h->top + need > h->size) {
            uint64_t used = h->in_use;
            arena_unlock();
            return mp__error(MP_ENOMEM, "mp_shm_alloc: shared arena exhausted (%zu bytes asked, %llu of %zu in use; set MPROC_SHM_SIZE)",
                             size, (unsigned long long)used, arena_size);
        }
        b = at(h->top);
        b->size = need;
        b->prev_size = h->last_block ? at(h->last_block)->size : 0;
        b->next_free = b->prev_free = NIL;
        b->is_free = 0;
        h->last_block = h->top;
        h->top += need;
    }
    b->magic = BLOCK_MAGIC;
    h->in_use += b->size;
    zero_payload(h, b, zero);
    if (off_of(b) + b->size > h->zero_from)
        h->zero_from = off_of(b) + b->size;
    arena_unlock();
    *out = (char *)b + sizeof(block);
    return 0;
}

int mp_shm_alloc(size_t size, void **out)
{
    if (!out)
        return mp__error(MP_EINVAL, "mp_shm_alloc: out is NULL");
    if (size == 0)
        return mp__error(MP_EINVAL, "mp_shm_alloc: size is 0");
    return mp__shm_alloc(size, true, out);
}

int mp_shm_contains(const void *ptr, size_t size)
{
    if (!arena_base || !ptr)
        return 0;
    const char *p = ptr;
    return p >= arena_base && size <= arena_size && (size_t)(p - arena_base) <= arena_size - size;
}

int mp_shm_free(void *ptr)
{
    if (!ptr)
        return 0;
    if (!mp_shm_contains(ptr, 1) || (char *)ptr < arena_base + sizeof(arena_header) + sizeof(block))
        return mp__error(MP_EINVAL, "mp_shm_free: %p is not shared-arena memory", ptr);
    block *b = (block *)((char *)ptr - sizeof(block));
    arena_header *h = header();
    arena_lock();
    if (b->magic != BLOCK_MAGIC || b->is_free) {
        arena_unlock();
        return mp__error(MP_EINVAL, "mp_shm_free: %p is not an allocated block (double free?)", ptr);
    }
    b->magic = 0;
    h->in_use -= b->size;

    /* Coalesce with the free neighbours above and below. */
    block *after = next_block(h, b);
    if (after && after->is_free) {
        free_list_remove(h, after);
        if (off_of(after) == h->last_block) h->last_block = off_of(b);
        b->size += after->size;
        block *n = next_block(h, b);
        if (n) n->prev_size = b->size;
    }
    if (b->prev_size) {
        block *before = at(off_of(b) - b->prev_size);
        if (before->is_free) {
            free_list_remove(h, before);
            if (off_of(b) == h->last_block) h->last_block = off_of(before);
            before->size += b->size;
            b = before;
            block *n = next_block(h, b);
            if (n) n->prev_size = b->size;
        }
    }

    if (off_of(b) == h->last_block) {
        /* The highest block: give it back to the bump region. */
        h->top = off_of(b);
        h->last_block = b->prev_size ? off_of(b) - b->prev_size : NIL;
        /* Pages from TOP_KEEP above the top up to the highest byte ever
         * dirtied go back to the kernel; the kept pages below stay dirty,
         * so zero_from can only come down to where the release begins. */
        uint64_t keep_end = round_up(h->top, page_size) + TOP_KEEP;
        uint64_t block_end = off_of(b) + b->size;
        uint64_t dirty_end = round_up(h->zero_from > block_end ? h->zero_from : block_end, page_size);
        if (keep_end < dirty_end) {
            release_pages(keep_end, dirty_end);
            if (keep_end < h->zero_from) h->zero_from = keep_end;
        }
    } else {
        if (b->size >= RELEASE_MIN)
            release_pages(off_of(b) + sizeof(block), off_of(b) + b->size);
        free_list_push(h, b);
    }
    arena_unlock();
    return 0;
}

size_t mp__shm_in_use(void)
{
    if (!arena_base)
        return 0;
    arena_lock();
    size_t n = header()->in_use;
    arena_unlock();
    return n;
}

_Noreturn void mp__child_exit(int code)
{
#ifdef HAVE_MEMCHECK
    if (arena_base && RUNNING_ON_VALGRIND)
        VALGRIND_MAKE_MEM_NOACCESS(arena_base, arena_size);
#endif
    _exit(code);
}
