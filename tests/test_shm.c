/* labels: unit;shm */
/* test_shm.c - the shared arena: allocation, sharing across fork, misuse,
 * and its set-up (MPROC_SHM_SIZE, failures reported by every entry).
 *
 * The arena is set up once per process tree, so the set-up cases run in a
 * fresh copy of this program: `test_shm --arena-entry NAME [rlimit]` calls
 * one public entry twice (then again from a new thread) and prints what
 * each call returned and said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_alloc_is_zeroed_and_aligned(void **state)
{
    (void)state;
    for (size_t size = 1; size < (1u << 22); size = size * 3 + 1) {
        unsigned char *p;
        assert_int_equal(mp_shm_alloc(size, (void **)&p), 0);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < size; i++)
            if (p[i]) fail_msg("byte %zu of a %zu-byte block is %d", i, size, p[i]);
        memset(p, 0xab, size);             /* dirty it: the next one must be clean again */
        assert_true(mp_shm_contains(p, size));
        assert_int_equal(mp_shm_free(p), 0);
    }
}

/* Blocks around the few megabytes the arena keeps mapped above its top:
 * each must read as zero whatever the last one left there, and a large
 * freed block's pages must go back to the kernel. */
static void test_large_blocks_are_zeroed_and_returned(void **state)
{
    (void)state;
    const size_t sizes[] = { 3 << 20, 5 << 20, 2 << 20, 12 << 20, 64 << 20 };
    long page = sysconf(_SC_PAGESIZE);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        unsigned char *p;
        assert_int_equal(mp_shm_alloc(sizes[s], (void **)&p), 0);
        for (size_t i = 0; i < sizes[s]; i += 4093)
            if (p[i]) fail_msg("byte %zu of a %zu-byte block is %d", i, sizes[s], p[i]);
        if (p[sizes[s] - 1]) fail_msg("the last byte of a %zu-byte block is %d", sizes[s], p[sizes[s] - 1]);
        memset(p, 0xcd, sizes[s]);
        assert_int_equal(mp_shm_free(p), 0);
        if (sizes[s] == (64 << 20)) {
            /* Its last 32 MiB lie far above any kept window. */
            unsigned char *tail = p + (32 << 20);
            tail = (unsigned char *)((uintptr_t)tail / (uintptr_t)page * (uintptr_t)page);
            size_t pages = (16u << 20) / (size_t)page;
            unsigned char *vec = malloc(pages);
            assert_non_null(vec);
            assert_int_equal(mincore(tail, pages * (size_t)page, vec), 0);
            size_t resident = 0;
            for (size_t i = 0; i < pages; i++)
                resident += vec[i] & 1;
            free(vec);
            assert_int_equal(resident, 0);
        }
    }
}

static void test_child_writes_are_seen_by_parent(void **state)
{
    (void)state;
    long *shared;
    assert_int_equal(mp_shm_alloc(sizeof *shared * 2, (void **)&shared), 0);
    pid_t pid = fork();
    if (pid == 0) {
        shared[0] = 4242;
        /* The child allocates too: the allocator state is shared. */
        long *mine;
        if (mp_shm_alloc(64, (void **)&mine) != 0) _exit(2);
        *mine = 7;
        shared[1] = (long)(intptr_t)mine;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(shared[0], 4242);
    long *childs = (long *)(intptr_t)shared[1];
    assert_int_equal(*childs, 7);
    assert_int_equal(mp_shm_free(childs), 0);
    assert_int_equal(mp_shm_free(shared), 0);
}

static void test_many_blocks_coalesce_back(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    enum { N = 2000 };
    static void *blocks[N];
    srand(7);
    for (int i = 0; i < N; i++)
        assert_int_equal(mp_shm_alloc((size_t)(rand() % 5000) + 1, &blocks[i]), 0);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(mp_shm_free(blocks[i]), 0);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(mp_shm_alloc((size_t)(rand() % 3000) + 1, &blocks[i]), 0);
    for (int i = N - 1; i >= 0; i--)
        assert_int_equal(mp_shm_free(blocks[i]), 0);
    assert_int_equal(mp__shm_in_use(), before);
}

static void test_misuse_is_an_error(void **state)
{
    (void)state;
    void *p = (void *)0x1;
    assert_int_equal(mp_shm_alloc(0, &p), MP_EINVAL);
    assert_ptr_equal(p, (void *)0x1);
    assert_int_equal(mp_shm_alloc(16, NULL), MP_EINVAL);
    assert_int_equal(mp_shm_alloc(SIZE_MAX / 2, &p), MP_ENOMEM);
    assert_non_null(strstr(mp_last_error(), "MPROC_SHM_SIZE"));
    int local;
    assert_int_equal(mp_shm_free(&local), MP_EINVAL);
    assert_int_equal(mp_shm_free(NULL), 0);
    assert_int_equal(mp_shm_alloc(100, &p), 0);
    assert_int_equal(mp_shm_free(p), 0);
    assert_int_equal(mp_shm_free(p), MP_EINVAL);   /* double free caught */
    assert_non_null(strstr(mp_last_error(), "double free"));
    assert_false(mp_shm_contains(&local, sizeof local));
}

static void test_error_strings(void **state)
{
    (void)state;
    const int codes[] = { MP_OK, MP_ENOENT, MP_EAGAIN, MP_ENOMEM, MP_EEXIST, MP_EINVAL, MP_ERANGE,
                          MP_EMSGSIZE, MP_ENOTSUP, MP_ETIMEDOUT, MP_ECANCELED, MP_EOWNERDEAD,
                          MP_ETASK, MP_ECLOSED, MP_EBROKEN, MP_EWORKER, MP_EFULL, MP_EEOF };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        assert_non_null(mp_strerror(codes[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(mp_strerror(codes[i]), mp_strerror(codes[j]));
    }
    assert_string_equal(mp_strerror(-9999), "unknown error");
}

/* The one list of codes generates both the enum and the descriptions: each
 * code keeps its published value and describes itself with the list's text. */
static void test_error_map(void **state)
{
    (void)state;
    const struct { int code, value; const char *text; } map[] = {
#define ROW(name, value, text) { MP_##name, value, text },
        MP_ERRNO_MAP(ROW)
#undef ROW
    };
    assert_int_equal(sizeof map / sizeof *map, 18);
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        assert_int_equal(map[i].code, map[i].value);
        assert_string_equal(mp_strerror(map[i].code), map[i].text);
    }
    /* The published values, which programs compiled against older headers use. */
    assert_int_equal(MP_EINVAL, -22);
    assert_int_equal(MP_ETIMEDOUT, -110);
    assert_int_equal(MP_ETASK, -4001);
    assert_int_equal(MP_EEOF, -4095);
}

/* ---- arena set-up, in a fresh process ---------------------------------------- */

/* Every public entry that may be the first to need the arena. */
static int enter_pool_thread(void)
{
    mp_pool_options o = { .backend = MP_BACKEND_THREAD, .workers = 1 };
    mp_pool *p;
    return mp_pool_open(&p, &o);
}
static int enter_pool_process(void)
{
    mp_pool_options o = { .backend = MP_BACKEND_PROCESS, .workers = 1 };
    mp_pool *p;
    return mp_pool_open(&p, &o);
}
static int enter_shm_alloc(void) { void *m; return mp_shm_alloc(64, &m); }
static int enter_lock(void) { mp_lock *l; return mp_lock_create(&l); }
static int enter_rlock(void) { mp_rlock *l; return mp_rlock_create(&l); }
static int enter_sem(void) { mp_sem *s; return mp_sem_create(&s, 1, 1); }
static int enter_event(void) { mp_event *e; return mp_event_create(&e); }
static int enter_cond(void) { mp_cond *c; return mp_cond_create(&c); }
static int enter_barrier(void) { mp_barrier *b; return mp_barrier_create(&b, 2); }
static int enter_pipe(void) { mp_pipe *a, *b; return mp_pipe_create(&a, &b, 0, 4096); }
static int enter_queue(void) { mp_queue *q; return mp_queue_create(&q, 8, 4096); }
static int enter_value(void) { mp_value *v; return mp_value_create(&v, 8, NULL, 0); }
static int enter_array(void) { mp_shared_array *a; return mp_shared_array_create(&a, 8, 8, NULL, 0); }
static int enter_dict(void) { mp_dict *d; return mp_dict_create(&d, 8, 8, 8); }

static const struct entry {
    const char *name;
    int (*call)(void);
} entries[] = {
    { "mp_pool_open(thread)", enter_pool_thread }, { "mp_pool_open(process)", enter_pool_process },
    { "mp_shm_alloc", enter_shm_alloc },           { "mp_lock_create", enter_lock },
    { "mp_rlock_create", enter_rlock },            { "mp_sem_create", enter_sem },
    { "mp_event_create", enter_event },            { "mp_cond_create", enter_cond },
    { "mp_barrier_create", enter_barrier },        { "mp_pipe_create", enter_pipe },
    { "mp_queue_create", enter_queue },            { "mp_value_create", enter_value },
    { "mp_shared_array_create", enter_array },     { "mp_dict_create", enter_dict },
};
#define NENTRIES (sizeof entries / sizeof *entries)

static const struct entry *find_entry(const char *name)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (!strcmp(entries[i].name, name))
            return &entries[i];
    return NULL;
}

static void *call_in_thread(void *arg)
{
    const struct entry *e = arg;
    int r = e->call();
    printf("%d\n%s\n", r, r ? mp_last_error() : "");
    return NULL;
}

/* The fresh process: calls the entry twice in this thread (the first call
 * sets the arena up, the second finds it set up), then once in another
 * thread (unless under an address-space limit, which leaves no room for a
 * thread's stack), printing "code\nmessage\n" for each. */
static int arena_entry_main(const char *name, bool rlimit)
{
    const struct entry *e = find_entry(name);
    if (!e)
        return 2;
    if (rlimit) {
        /* Room for what is mapped now and a little more, but no arena. */
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            return 3;
        fclose(f);
        struct rlimit rl = { .rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (16 << 20) };
        rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            return 4;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < 2; i++) {
        int r = e->call();
        printf("%d\n%s\n", r, r ? mp_last_error() : "");
    }
    if (!rlimit) {
        pthread_t t;
        if (pthread_create(&t, NULL, call_in_thread, (void *)e) != 0)
            return 5;
        pthread_join(t, NULL);
    }
    return 0;
}

/* This program, as a path to exec: read from /proc/self/exe at start
 * (valgrind answers that readlink with the program it runs, while an exec
 * of /proc/self/exe itself would run valgrind's own binary). */
static char self_path[4096];

typedef struct outcome {
    int ncalls;
    int code[3];
    char message[3][600];
} outcome;

/* Runs `test_shm --arena-entry NAME` in a fresh process with MPROC_SHM_SIZE
 * set to `size` (unset if NULL) and collects what each call reported. */
static outcome run_fresh(const char *entry, const char *size, bool rlimit)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (size)
            setenv("MPROC_SHM_SIZE", size, 1);
        else
            unsetenv("MPROC_SHM_SIZE");
        execl(self_path, "test_shm", "--arena-entry", entry, rlimit ? "rlimit" : NULL, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    outcome o = { 0 };
    char line[700];
    while (o.ncalls < 3 && fgets(line, sizeof line, f)) {
        o.code[o.ncalls] = atoi(line);
        if (!fgets(o.message[o.ncalls], sizeof o.message[0], f))
            break;
        o.message[o.ncalls][strcspn(o.message[o.ncalls], "\n")] = '\0';
        o.ncalls++;
    }
    fclose(f);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s with MPROC_SHM_SIZE=%s: the fresh process ended with status 0x%x", entry, size ? size : "(unset)", status);
    return o;
}

/* Every call, in every thread, fails with `code` and a message holding
 * `want`. */
static void assert_all_fail(const outcome *o, const char *entry, int calls, int code, const char *want)
{
    assert_int_equal(o->ncalls, calls);
    for (int i = 0; i < calls; i++) {
        if (o->code[i] != code || !strstr(o->message[i], want))
            fail_msg("%s call %d: returned %d with \"%s\" (expected %d with \"%s\")", entry, i + 1, o->code[i],
                     o->message[i], code, want);
    }
}

static void test_arena_failure_is_reported_by_every_entry(void **state)
{
    (void)state;
    for (size_t i = 0; i < NENTRIES; i++) {
        outcome o = run_fresh(entries[i].name, "12Q", false);
        assert_all_fail(&o, entries[i].name, 3, MP_EINVAL, "MPROC_SHM_SIZE: '12Q'");
    }
}

static void test_arena_reservation_failure_is_reported(void **state)
{
    (void)state;
    const char *names[] = { "mp_pool_open(process)", "mp_shm_alloc", "mp_queue_create" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        outcome o = run_fresh(names[i], "64M", true);
        assert_all_fail(&o, names[i], 2, -ENOMEM, "cannot reserve the shared arena");
    }
}

static void test_shm_size_is_validated(void **state)
{
    (void)state;
    const char *bad[] = { "-1", "-64M", "+64M", "18446744073709551615G", "17179869184T", "99999999999999999999999",
                          "0", "1K", "63M", "64 M", " 64M", "64MB", "64X", "K", "M", "0x4000000", "1e9", "64M " };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        outcome o = run_fresh("mp_shm_alloc", bad[i], false);
        char want[64];
        snprintf(want, sizeof want, "MPROC_SHM_SIZE: '%s'", bad[i]);
        assert_all_fail(&o, bad[i], 3, MP_EINVAL, want);
    }
    const char *good[] = { "64M", "64m", "65536K", "67108864", "1G", "1g", "1T", NULL };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        outcome o = run_fresh("mp_shm_alloc", good[i], false);
        assert_int_equal(o.ncalls, 3);
        for (int k = 0; k < 3; k++)
            if (o.code[k] != 0)
                fail_msg("MPROC_SHM_SIZE=%s: call %d returned %d: %s", good[i] ? good[i] : "(unset)", k + 1, o.code[k],
                         o.message[k]);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--arena-entry"))
        return arena_entry_main(argv[2], argc >= 4 && !strcmp(argv[3], "rlimit"));
    if (readlink("/proc/self/exe", self_path, sizeof self_path - 1) <= 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_is_zeroed_and_aligned),
        cmocka_unit_test(test_large_blocks_are_zeroed_and_returned),
        cmocka_unit_test(test_child_writes_are_seen_by_parent),
        cmocka_unit_test(test_many_blocks_coalesce_back),
        cmocka_unit_test(test_misuse_is_an_error),
        cmocka_unit_test(test_error_strings),
        cmocka_unit_test(test_error_map),
        cmocka_unit_test(test_arena_failure_is_reported_by_every_entry),
        cmocka_unit_test(test_arena_reservation_failure_is_reported),
        cmocka_unit_test(test_shm_size_is_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
