/* mpi_fnref.c - naming a function so that every rank finds it.
 *
 * Ranks run the same binary, but each loads the executable and its shared
 * libraries at addresses of its own (PIE, ASLR), so a function pointer
 * means nothing on another rank.  "Object X, offset O" does: the loader's
 * list of objects (dl_iterate_phdr) gives each object's name and load
 * address, and the offset of a function from its object's load address is
 * fixed by the link.  Only addresses inside an executable segment qualify,
 * so a pointer into data, the heap or JIT'd code is refused at the call
 * instead of crashing a remote rank. */
#include "mpi_link.h"

#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct fn_search {
    uintptr_t addr;          /* make: the address to find; resolve: result */
    const char *object;      /* resolve: the object's name */
    uint64_t offset;
    bool found;
    char name[sizeof ((mp__fnref *)0)->object];
    bool name_fits;
} fn_search;

/* True if addr lies in an executable PT_LOAD segment of the object. */
static bool in_code(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (addr >= start && addr - start < ph->p_memsz)
            return true;
    }
    return false;
}

static int find_holder(struct dl_phdr_info *info, size_t size, void *arg)
{
    MP__UNUSED(size);
    fn_search *s = arg;
    if (!in_code(info, s->addr))
        return 0;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    s->name_fits = strlen(name) < sizeof s->name;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->offset = (uint64_t)(s->addr - info->dlpi_addr);
    s->found = true;
    return 1;
}

/* The loader's list is long in an MPI program (Open MPI loads dozens of
 * objects) and a call per task would walk it per task: each thread keeps
 * its last few answers, until an object is loaded or unloaded.  Objects
 * must not be unloaded while a pool uses their functions (as for any
 * function pointer). */
#define CACHE 4

typedef struct made_ref {
    void (*fn)(void);
    mp__fnref ref;
} made_ref;

static _Thread_local made_ref made[CACHE];
static _Thread_local unsigned made_next;
static _Thread_local made_ref resolved[CACHE];
static _Thread_local unsigned resolved_next;

static _Thread_local unsigned long long cached_generation;

/* The loader's count of objects loaded and unloaded so far: a change
 * means a cached address may name another object now. */
static int read_generation(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *g = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *g = info->dlpi_adds * 0x100000001ull + info->dlpi_subs;
    return 1;            /* the first object tells */
}

/* Empties both caches when objects were loaded or unloaded since they
 * were filled (dlopen / dlclose). */
static void check_cache(void)
{
    unsigned long long g = 0;
    dl_iterate_phdr(read_generation, &g);
    if (g == cached_generation)
        return;
    memset(made, 0, sizeof made);
    memset(resolved, 0, sizeof resolved);
    cached_generation = g;
}

static bool same_place(const mp__fnref *a, const mp__fnref *b)
{
    return a->offset == b->offset && a->present == b->present && !strcmp(a->object, b->object);
}

int mp__fnref_make(void (*fn)(void), const char *who, mp__fnref *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!fn)
        return 0;
    check_cache();
    for (unsigned i = 0; i < CACHE; i++)
        if (made[i].fn == fn) {
            *ref = made[i].ref;
            return 0;
        }
    fn_search s = { .addr = (uintptr_t)fn };
    dl_iterate_phdr(find_holder, &s);
    if (!s.found)
        return mp__error(MP_EINVAL, "%s: the function at %p is in no executable or shared library loaded by this "
                         "program (generated code?), so the other ranks cannot find it", who, (void *)(uintptr_t)fn);
    if (!s.name_fits)
        return mp__error(MP_EINVAL, "%s: the function at %p is in %s, whose path is too long to send", who,
                         (void *)(uintptr_t)fn, s.name);
    snprintf(ref->object, sizeof ref->object, "%s", s.name);
    ref->offset = s.offset;
    ref->present = 1;
    made[made_next++ % CACHE] = (made_ref){ fn, *ref };
    return 0;
}

static int find_named(struct dl_phdr_info *info, size_t size, void *arg)
{
    MP__UNUSED(size);
    fn_search *s = arg;
    if (strcmp(info->dlpi_name ? info->dlpi_name : "", s->object) != 0)
        return 0;
    uintptr_t addr = info->dlpi_addr + (uintptr_t)s->offset;
    s->found = in_code(info, addr);
    s->addr = addr;
    return 1;
}

int mp__fnref_resolve(const mp__fnref *ref, void (**fn)(void))
{
    *fn = NULL;
    if (!ref->present)
        return 0;
    char object[sizeof ref->object];
    snprintf(object, sizeof object, "%s", ref->object);   /* NUL-terminated whatever arrived */
    mp__fnref key = *ref;
    memcpy(key.object, object, sizeof object);
    check_cache();
    for (unsigned i = 0; i < CACHE; i++)
        if (resolved[i].fn && same_place(&resolved[i].ref, &key)) {
            *fn = resolved[i].fn;
            return 0;
        }
    fn_search s = { .object = object, .offset = ref->offset };
    dl_iterate_phdr(find_named, &s);
    if (!s.found)
        return mp__error(MP_EINVAL, "the task function (offset %#llx in %s) is not code in this rank: is every rank "
                         "running the same binary and libraries?", (unsigned long long)ref->offset,
                         *object ? object : "the executable");
    *fn = (void (*)(void))s.addr;
    resolved[resolved_next++ % CACHE] = (made_ref){ *fn, key };
    return 0;
}
