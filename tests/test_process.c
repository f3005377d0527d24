/* labels: ipc */
/* test_process.c - mp_process: start, names, exit codes, join timeouts,
 * terminate/kill, daemon children, bad input; what a forked child may do
 * to the shared objects it inherited; and what every process mproc forks
 * gets of its own (libc's random generators). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"
#include "shm.h" /* mp__shm_in_use */

#include <signal.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
    assert_int_equal(mp_process_join(p, 300), 0);
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
    assert_int_equal(mp_process_join(p, 300), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, -SIGTERM);
    assert_int_equal(mp_process_kill(p), 0); /* already reaped: no effect */
    assert_int_equal(mp_process_close(p), 0);

    mp_event_clear(&rep->ready);
    assert_int_equal(mp_process_start(&p, "sleeper", sleeper, NULL, 0, 0), 0);
    assert_int_equal(mp_event_wait(&rep->ready, 30), 0);
    assert_int_equal(mp_process_kill(p), 0);
    assert_int_equal(mp_process_join(p, 300), 0);
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
    assert_int_equal(mp_process_join(p, 300), 0);
    int code = -1;
    mp_process_exitcode(p, &code);
    assert_int_equal(code, 0);
    mp_process_close(p);
    assert_int_not_equal(rep->grandchild, 0);
    /* The orphan is reaped by init (or a subreaper); wait for it to go
     * (up to a minute: a bound for a hang, not for speed). */
    int gone = 0;
    for (int i = 0; i < 6000 && !gone; i++) {
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

/* The join bound only catches a hang: under valgrind on a busy machine each
 * child takes seconds. */
static void test_many_children_reaped(void **state)
{
    (void)state;
    mp_process *p[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, exit_code_of_arg, &i, sizeof i, 0), 0);
    for (int i = 0; i < 16; i++) {
        int code = -1;
        assert_int_equal(mp_process_join(p[i], 600), 0);
        assert_int_equal(mp_process_exitcode(p[i], &code), 0);
        assert_int_equal(code, i);
        assert_int_equal(mp_process_close(p[i]), 0);
    }
}

/* --- inherited objects -------------------------------------------------------
 * Every object in shared memory belongs to the process that made it.  A
 * child forked afterwards holds copies of the pointers; when it destroys
 * (or closes) them, only its view goes: the parent's objects keep working,
 * the parent's own destroy then frees each exactly once, and nothing
 * leaks. */
typedef struct objects {
    mp_queue *queue;
    mp_lock *lock;
    mp_rlock *rlock;
    mp_sem *sem;
    mp_event *event;
    mp_cond *cond;
    mp_barrier *barrier;
    mp_lock local;      /* mp_lock_init form, in the parent's memory */
    mp_dict *dict;
    mp_value *value;
    mp_shared_array *array;
    mp_segment *segment;
} objects;

static void make_objects(objects *o)
{
    assert_int_equal(mp_queue_create(&o->queue, 0, 0), 0);
    assert_int_equal(mp_lock_create(&o->lock), 0);
    assert_int_equal(mp_rlock_create(&o->rlock), 0);
    assert_int_equal(mp_sem_create(&o->sem, 1, 0), 0);
    assert_int_equal(mp_event_create(&o->event), 0);
    assert_int_equal(mp_cond_create(&o->cond), 0);
    assert_int_equal(mp_barrier_create(&o->barrier, 1), 0);
    assert_int_equal(mp_lock_init(&o->local), 0);
    assert_int_equal(mp_dict_create(&o->dict, 8, 0, 0), 0);
    assert_int_equal(mp_value_create(&o->value, sizeof(int64_t), NULL, 0), 0);
    assert_int_equal(mp_shared_array_create(&o->array, 4, sizeof(int), NULL, 0), 0);
    char name[64];
    snprintf(name, sizeof name, "mproc-test-inherit-%d", (int)getpid());
    assert_int_equal(mp_segment_create(&o->segment, name, 4096, 0), 0);
}

/* Destroys (or closes) everything; the number of calls that failed. */
static int destroy_objects(objects *o)
{
    return (mp_queue_close(o->queue) != 0) + (mp_queue_destroy(o->queue) != 0) + (mp_lock_destroy(o->lock) != 0) +
           (mp_rlock_destroy(o->rlock) != 0) + (mp_sem_destroy(o->sem) != 0) + (mp_event_destroy(o->event) != 0) +
           (mp_cond_destroy(o->cond) != 0) + (mp_barrier_destroy(o->barrier) != 0) +
           (mp_lock_destroy(&o->local) != 0) + (mp_dict_destroy(o->dict) != 0) + (mp_value_destroy(o->value) != 0) +
           (mp_shared_array_destroy(o->array) != 0) + (mp_segment_close(o->segment) != 0);
}

static void use_objects(objects *o)
{
    char buf[8];
    size_t n;
    assert_int_equal(mp_queue_put(o->queue, "q", 2, 0), 0);
    assert_int_equal(mp_queue_get(o->queue, buf, sizeof buf, &n, 0), 0);
    assert_int_equal(mp_lock_acquire(o->lock, 0), 0);
    assert_int_equal(mp_lock_release(o->lock), 0);
    assert_int_equal(mp_rlock_acquire(o->rlock, 0), 0);
    assert_int_equal(mp_rlock_release(o->rlock), 0);
    assert_int_equal(mp_sem_acquire(o->sem, 0), 0);
    assert_int_equal(mp_sem_release(o->sem), 0);
    assert_int_equal(mp_event_set(o->event), 0);
    assert_int_equal(mp_event_is_set(o->event), 1);
    assert_int_equal(mp_cond_acquire(o->cond, 0), 0);
    assert_int_equal(mp_cond_notify_all(o->cond), 0);
    assert_int_equal(mp_cond_release(o->cond), 0);
    assert_int_equal(mp_barrier_wait(o->barrier, 1, NULL), 0);
    assert_int_equal(mp_lock_acquire(&o->local, 0), 0);
    assert_int_equal(mp_lock_release(&o->local), 0);
    assert_int_equal(mp_dict_set_str(o->dict, "k", "v", 2), 0);
    assert_int_equal(mp_dict_get_str(o->dict, "k", buf, sizeof buf, &n), 0);
    assert_int_equal(mp_value_add_i64(o->value, 1, NULL), 0);
    assert_int_equal(mp_shared_array_set(o->array, 3, &(int){7}), 0);
    memset(mp_segment_ptr(o->segment), 1, 4096);
    mp_segment *again;
    assert_int_equal(mp_segment_open(&again, mp_segment_name(o->segment), 4096), 0);
    assert_int_equal(mp_segment_close(again), 0);
}

static void test_forked_child_destroys_only_its_views(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    objects o;
    make_objects(&o);
    /* mp_process children fork too: the same rule, through the library. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(destroy_objects(&o));
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    use_objects(&o);
    assert_int_equal(destroy_objects(&o), 0);
    assert_int_equal(mp__shm_in_use(), before);
}

/* Objects whose creator has died are destroyed by whoever comes next, so
 * they do not leak with it. */
static int make_and_exit(void *arg, size_t size)
{
    (void)arg, (void)size;
    mp_queue *q;
    mp_lock *l;
    if (mp_queue_create(&q, 0, 0) != 0 || mp_lock_create(&l) != 0)
        return 1;
    memcpy(rep->name, &q, sizeof q);
    memcpy(rep->name + sizeof q, &l, sizeof l);
    return 0;
}

static void test_dead_creators_objects_are_taken_over(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, make_and_exit, NULL, 0, 0), 0);
    assert_int_equal(mp_process_join(p, 300), 0);
    int code = -1;
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(mp_process_close(p), 0);
    mp_queue *q;
    mp_lock *l;
    memcpy(&q, rep->name, sizeof q);
    memcpy(&l, rep->name + sizeof q, sizeof l);
    assert_int_equal(mp_queue_destroy(q), 0);
    assert_int_equal(mp_lock_destroy(l), 0);
    assert_int_equal(mp__shm_in_use(), before);
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
    assert_int_equal(mp_process_join(p, 300), 0);
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
        assert_int_equal(mp_process_join(p, 300), 0);
        assert_int_equal(mp_process_close(p), 0);
    }
    assert_nearly_all_distinct(child_draws, CHILD_DRAWS, "mp_process children");
    assert_int_equal(mp_shm_free(child_draws), 0);
}

/* rand() and random() are one generator in glibc, and lrand48() is not
 * thread-safe: two threads drawing at once interleave one task's three
 * draws with another's.  Each thread task draws its three under one lock,
 * so that a task's draws are consecutive, as in the serial sequence. */
static pthread_mutex_t draw_lock = PTHREAD_MUTEX_INITIALIZER;

static int draw_task_locked(mp_task *task, const void *in, void *out)
{
    (void)task, (void)in;
    pthread_mutex_lock(&draw_lock);
    *(draw *)out = draw_once();
    pthread_mutex_unlock(&draw_lock);
    return 0;
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
    assert_int_equal(mp_map(pool, draw_task_locked, NULL, DRAWS, 0, out, sizeof *out, NULL), 0);
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
        cmocka_unit_test(test_forked_child_destroys_only_its_views),
        cmocka_unit_test(test_dead_creators_objects_are_taken_over),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_process_workers_draw_their_own_numbers),
        cmocka_unit_test(test_process_children_draw_their_own_numbers),
        cmocka_unit_test(test_thread_workers_share_the_program_generators),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
