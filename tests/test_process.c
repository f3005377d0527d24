/* labels: ipc */
/* test_process.c - mp_process: start, names, exit codes, join timeouts,
 * terminate/kill, daemon children, bad input; and what every process mproc
 * forks gets of its own (libc's random generators). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct report {
    char name[128];
    int pid;
    int grandchild;
    mp_event ready;
} report;

static report *rep;

static int setup(void **state)
{
    (void)state;
    void *mem;
    if (mp_shm_alloc(sizeof *rep, &mem) != 0)
        return -1;
    rep = mem;
    mp_event_init(&rep->ready);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mp_shm_free(rep);
    return 0;
}

static int tell_who(void *arg, size_t size)
{
    snprintf(rep->name, sizeof rep->name, "%s", mp_process_current_name());
    rep->pid = mp_process_current_pid();
    /* The blob is the caller's, as it was at start. */
    return size == 4 && memcmp(arg, "abc", 4) == 0 ? 7 : 1;
}

static void test_start_join_exitcode(void **state)
{
    (void)state;
    assert_string_equal(mp_process_current_name(), "MainProcess");
    mp_process *p;
    char blob[4] = "abc";
    assert_int_equal(mp_process_start(&p, "worker-1", tell_who, blob, sizeof blob, 0), 0);
    blob[0] = 'X'; /* the child has its own copy */
    assert_string_equal(mp_process_name(p), "worker-1");
    assert_int_equal(mp_process_join(p, 30), 0);
    assert_false(mp_process_is_alive(p));
    int code = 0;
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, 7);
    assert_string_equal(rep->name, "worker-1");
    assert_int_equal(rep->pid, mp_process_pid(p));
    assert_int_not_equal(rep->pid, getpid());
    assert_int_equal(mp_process_join(p, 0), 0); /* joining again is fine */
    assert_int_equal(mp_process_close(p), 0);

    assert_int_equal(mp_process_start(&p, NULL, tell_who, "abc", 4, 0), 0);
    assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
    assert_int_equal(strncmp(rep->name, "Process-", 8), 0);
    assert_int_equal(mp_process_close(p), 0);
}

static int sleeper(void *arg, size_t size)
{
    (void)arg, (void)size;
    mp_event_set(&rep->ready);
    for (int i = 0; i < 3000; i++)
        usleep(10000);
    return 0;
}

static void test_timeout_terminate_kill(void **state)
{
    (void)state;
    mp_process *p;
    int code = 0;
    mp_event_clear(&rep->ready);
    assert_int_equal(mp_process_start(&p, "sleeper", sleeper, NULL, 0, 0), 0);
    assert_int_equal(mp_event_wait(&rep->ready, 30), 0);
    assert_true(mp_process_is_alive(p));
    assert_int_equal(mp_process_join(p, 0), MP_EAGAIN);
    assert_int_equal(mp_process_join(p, 0.05), MP_ETIMEDOUT);
    assert_int_equal(mp_process_exitcode(p, &code), MP_EAGAIN);
    assert_int_equal(mp_process_close(p), MP_EINVAL); /* still running */
    assert_int_equal(mp_process_terminate(p), 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, -SIGTERM);
    assert_int_equal(mp_process_kill(p), 0); /* already reaped: no effect */
    assert_int_equal(mp_process_close(p), 0);

    mp_event_clear(&rep->ready);
    assert_int_equal(mp_process_start(&p, "sleeper", sleeper, NULL, 0, 0), 0);
    assert_int_equal(mp_event_wait(&rep->ready, 30), 0);
    assert_int_equal(mp_process_kill(p), 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, -SIGKILL);
    assert_int_equal(mp_process_close(p), 0);
}

/* Kept in a global: the handle is deliberately never closed (the daemon
 * outlives the process that started it), and is still reachable then. */
static mp_process *volatile daemon_handle;

static int start_daemon_and_leave(void *arg, size_t size)
{
    (void)arg, (void)size;
    mp_process *g;
    if (mp_process_start(&g, "daemon", sleeper, NULL, 0, MP_PROCESS_DAEMON) != 0)
        return 1;
    daemon_handle = g;
    rep->grandchild = mp_process_pid(g);
    mp_event_wait(&rep->ready, 30);
    return 0; /* exits without joining: the daemon must die with us */
}

static void test_daemon_dies_with_parent(void **state)
{
    (void)state;
    mp_event_clear(&rep->ready);
    rep->grandchild = 0;
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "parent", start_daemon_and_leave, NULL, 0, 0), 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    int code = -1;
    mp_process_exitcode(p, &code);
    assert_int_equal(code, 0);
    mp_process_close(p);
    assert_int_not_equal(rep->grandchild, 0);
    /* The orphan is reaped by init (or a subreaper); wait for it to go. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", rep->grandchild);
        FILE *f = fopen(path, "r");
        if (!f) {
            gone = 1;
            break;
        }
        char buf[256] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *paren = strrchr(buf, ')');
        if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
            gone = 1;
        else
            usleep(10000);
    }
    assert_true(gone);
}

static int exit_code_of_arg(void *arg, size_t size)
{
    (void)size;
    return *(int *)arg;
}

static void test_many_children_reaped(void **state)
{
    (void)state;
    mp_process *p[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, exit_code_of_arg, &i, sizeof i, 0), 0);
    for (int i = 0; i < 16; i++) {
        int code = -1;
        assert_int_equal(mp_process_join(p[i], 30), 0);
        assert_int_equal(mp_process_exitcode(p[i], &code), 0);
        assert_int_equal(code, i);
        assert_int_equal(mp_process_close(p[i]), 0);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    mp_process *p = NULL;
    assert_int_equal(mp_process_start(NULL, NULL, tell_who, NULL, 0, 0), MP_EINVAL);
    assert_int_equal(mp_process_start(&p, NULL, NULL, NULL, 0, 0), MP_EINVAL);
    assert_int_equal(mp_process_start(&p, NULL, tell_who, NULL, 5, 0), MP_EINVAL);
    assert_int_equal(mp_process_start(&p, "", tell_who, NULL, 0, 0), MP_EINVAL);
    assert_int_equal(mp_process_start(&p, NULL, tell_who, NULL, 0, 0x100), MP_EINVAL);
    assert_null(p);
    assert_int_equal(mp_process_join(NULL, 1), MP_EINVAL);
    assert_int_equal(mp_process_close(NULL), 0);
    assert_int_equal(mp_process_start(&p, NULL, exit_code_of_arg, &(int){0}, sizeof(int), 0), 0);
    assert_int_equal(mp_process_join(p, -5), MP_EINVAL);
    assert_int_equal(mp_process_join(p, 30), 0);
    assert_int_equal(mp_process_close(p), 0);
}

/* ---- libc's random generators are reseeded in every forked process ------------ */

enum { DRAWS = 100 };
/* Each mp_process child is a whole program's fork (a costly one under
 * valgrind): fewer of them show the same. */
enum { CHILD_DRAWS = 32 };

/* One draw from each of libc's generators. */
typedef struct draw {
    long rand_v, random_v, lrand48_v;
} draw;

static draw draw_once(void)
{
    return (draw){ rand(), random(), lrand48() };
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* How many different values field `field` (an offset into draw) takes. */
static size_t distinct(const draw *d, size_t n, size_t field)
{
    long v[DRAWS];
    for (size_t i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&d[i] + field, sizeof v[i]);
    qsort(v, n, sizeof *v, compare_long);
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        k += v[i] != v[i - 1];
    return k;
}

/* Out of 100 draws of 31 bits or more, two equal ones come up about once in
 * 400,000 runs: demand all but one distinct. */
static void assert_nearly_all_distinct(const draw *d, size_t n, const char *who)
{
    const struct { const char *name; size_t field; } gens[] = {
        { "rand", offsetof(draw, rand_v) },
        { "random", offsetof(draw, random_v) },
        { "lrand48", offsetof(draw, lrand48_v) },
    };
    for (size_t g = 0; g < 3; g++) {
        size_t k = distinct(d, n, gens[g].field);
        if (k + 1 < n)
            fail_msg("%s: %s() gave %zu distinct values in %zu draws", who, gens[g].name, k, n);
    }
}

static int draw_task(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in;
    *(draw *)out = draw_once();
    return 0;
}

static void test_process_workers_draw_their_own_numbers(void **state)
{
    (void)state;
    /* One task per worker process: every draw is a first draw. */
    mp_pool_options opts = { .backend = MP_BACKEND_PROCESS, .workers = 2, .maxtasksperchild = 1 };
    mp_pool *pool;
    assert_int_equal(mp_pool_open(&pool, &opts), 0);
    draw out[DRAWS];
    assert_int_equal(mp_map(pool, draw_task, NULL, DRAWS, 0, out, sizeof *out, NULL), 0);
    assert_int_equal(mp_pool_close(pool), 0);
    assert_nearly_all_distinct(out, DRAWS, "process pool workers");
}

static draw *child_draws;

static int draw_child(void *arg, size_t size)
{
    (void)size;
    child_draws[*(const int *)arg] = draw_once();
    return 0;
}

static void test_process_children_draw_their_own_numbers(void **state)
{
    (void)state;
    assert_int_equal(mp_shm_alloc(CHILD_DRAWS * sizeof *child_draws, (void **)&child_draws), 0);
    for (int i = 0; i < CHILD_DRAWS; i++) {
        mp_process *p;
        assert_int_equal(mp_process_start(&p, NULL, draw_child, &i, sizeof i, 0), 0);
        assert_int_equal(mp_process_join(p, 60), 0);
        assert_int_equal(mp_process_close(p), 0);
    }
    assert_nearly_all_distinct(child_draws, CHILD_DRAWS, "mp_process children");
    assert_int_equal(mp_shm_free(child_draws), 0);
}

/* Threads share the process's generators, as libc defines: a thread pool's
 * tasks draw the very sequence the program seeded, in some order. */
static void test_thread_workers_share_the_program_generators(void **state)
{
    (void)state;
    srand(42);
    srandom(42);
    srand48(42);
    draw want[DRAWS], out[DRAWS];
    for (int i = 0; i < DRAWS; i++)
        want[i] = draw_once();
    srand(42);
    srandom(42);
    srand48(42);
    mp_pool_options opts = { .backend = MP_BACKEND_THREAD, .workers = 2 };
    mp_pool *pool;
    assert_int_equal(mp_pool_open(&pool, &opts), 0);
    assert_int_equal(mp_map(pool, draw_task, NULL, DRAWS, 0, out, sizeof *out, NULL), 0);
    assert_int_equal(mp_pool_close(pool), 0);
    /* Each generator's values, sorted, are the seeded sequence's. */
    for (size_t field = 0; field < sizeof(draw); field += sizeof(long)) {
        long a[DRAWS], b[DRAWS];
        for (int i = 0; i < DRAWS; i++) {
            memcpy(&a[i], (const char *)&want[i] + field, sizeof a[i]);
            memcpy(&b[i], (const char *)&out[i] + field, sizeof b[i]);
        }
        qsort(a, DRAWS, sizeof *a, compare_long);
        qsort(b, DRAWS, sizeof *b, compare_long);
        assert_memory_equal(a, b, sizeof a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_join_exitcode),
        cmocka_unit_test(test_timeout_terminate_kill),
        cmocka_unit_test(test_daemon_dies_with_parent),
        cmocka_unit_test(test_many_children_reaped),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_process_workers_draw_their_own_numbers),
        cmocka_unit_test(test_process_children_draw_their_own_numbers),
        cmocka_unit_test(test_thread_workers_share_the_program_generators),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
