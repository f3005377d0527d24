/* labels: fault;pool;novalgrind */
/* test_fault.c - the fault suite: workers that die, hang or fail to start,
 * cancellation, signals, and a parent that is killed.  Every test runs
 * under a watchdog (alarm) that fails it instead of letting it hang.
 *
 * Not run under valgrind: its task timeouts are seconds and valgrind
 * slows every process 20 to 50 times; test_fault_leaks.c is the
 * part valgrind checks.
 *
 * No test depends on an idle machine: a thread that acts on a running map
 * waits until a task of it runs, and every time limit is a bound that
 * catches a hang (PROMPT_S), never a speed check.
 *
 * The test process makes itself a child subreaper, so that processes
 * orphaned by a test (a killed program's fork server and workers) are
 * reparented to it and can be counted and reaped here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

/* A task that hangs does so for HANG_S at most (a thread pool cannot stop
 * it).  What must not wait for such a task -- a timed-out or cancelled
 * call, processes that must go -- has PROMPT_S: far more than it takes on
 * a busy machine, far less than HANG_S. */
#define HANG_S 120.0
#define PROMPT_S 20.0

/* Each test's watchdog: it takes seconds on an idle machine, minutes on
 * one shared with other work, and only a hang takes longer. */
#define WATCHDOG_S 300

/* The task timeout the tests set: a task that does nothing stays well
 * inside it even on a busy machine.  Messages print it with %g. */
#define TASK_LIMIT_S 2.0
#define TASK_LIMIT_TEXT "2 s"

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_fault: watchdog expired: a test hung\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(99);
}

static void watchdog(unsigned seconds)
{
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static mp_pool *open_with(mp_pool_options opts)
{
    mp_pool *pool = NULL;
    if (mp_pool_open(&pool, &opts) != 0)
        fail_msg("mp_pool_open(%s): %s", mp_backend_name(opts.backend), mp_last_error());
    return pool;
}

/* Reaps every child that has ended; returns how many remain. */
static int reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], buf[512];
    pid_t me = getpid();
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        int ppid = 0;
        char st = 0;
        if (p && sscanf(p + 2, "%c %d", &st, &ppid) == 2 && ppid == me)
            n++;
    }
    closedir(d);
    return n;
}

/* Waits up to `limit` seconds until no child remains; returns the time it
 * took, or -1. */
static double wait_no_children(double limit)
{
    double t0 = now();
    while (now() - t0 < limit) {
        if (reap_children() == 0)
            return now() - t0;
        sleep_s(0.002);
    }
    return -1;
}

/* ---- task functions ------------------------------------------------------------ */

static int square(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = x * x;
    return 0;
}

/* Process ids of the workers, by worker number, in shared memory. */
static _Atomic int *worker_pids;

static int square_noting_pid(mp_task *task, const void *in, void *out)
{
    int w = mp_task_worker(task);
    if (atomic_load_explicit(&worker_pids[w], memory_order_relaxed) != getpid())
        atomic_store(&worker_pids[w], getpid());
    return square(task, in, out);
}

static int sleepy(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    sleep_s(0.01);
    if (out)
        *(int *)out = 1;
    return 0;
}

/* ---- random kills during a large map -------------------------------------------- */

typedef struct killer {
    int workers;
    double delay;
    _Atomic bool go;
    int killed;
} killer;

static void *kill_one_soon(void *arg)
{
    killer *k = arg;
    sleep_s(k->delay);
    int w = rand() % k->workers;
    int pid = atomic_load(&worker_pids[w]);
    if (pid > 0 && kill(pid, SIGKILL) == 0)
        k->killed = pid;
    return NULL;
}

/* 10^6 tasks per map; a tenth of that under the sanitizers, which slow
 * each task down 5 to 20 times. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
#define KILL_MAP_TASKS 100000
#else
#define KILL_MAP_TASKS 1000000
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static void random_kills(int retries, int rounds)
{
    /* valgrind runs every process 20 to 50 times slower. */
    const long N = RUNNING_ON_VALGRIND ? KILL_MAP_TASKS / 100 : KILL_MAP_TASKS;
    enum { W = 2 };
    long *in, *out;
    assert_int_equal(mp_shm_alloc(N * sizeof *in, (void **)&in), 0);
    assert_int_equal(mp_shm_alloc(N * sizeof *out, (void **)&out), 0);
    /* Before the pool opens: workers see globals as they were then. */
    assert_int_equal(mp_shm_alloc(W * sizeof *worker_pids, (void **)&worker_pids), 0);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = W, .retries = retries });
    for (long i = 0; i < N; i++)
        in[i] = i;
    int failed_total = 0, kills = 0;
    for (int round = 0; round < rounds; round++) {
        for (long i = 0; i < N; i++)
            out[i] = -1;
        /* Tasks note their worker's pid; the killer picks one of those (a
         * kill that lands after the map ended hits an idle worker, which is
         * replaced without affecting any task). */
        killer k = { .workers = W, .delay = (rand() % 1000) * 50e-6 };   /* 0 to 50 ms */
        pthread_t t;
        pthread_create(&t, NULL, kill_one_soon, &k);
        mp_failures failed = { 0 };
        mp_call call = { .failures = &failed, .chunksize = (size_t)(round % 3 == 0 ? 1 : round % 3 == 1 ? 0 : 1000) };
        if (getenv("FAULT_VERBOSE")) print_message("round %d chunk %zu delay %.1f ms\n", round, call.chunksize, k.delay * 1e3);
        int r = mp_map(pool, square_noting_pid, in, N, sizeof *in, out, sizeof *out, &call);
        pthread_join(t, NULL);
        kills += k.killed != 0;
        if (r != 0 && r != MP_ETASK)
            fail_msg("round %d: mp_map returned %d: %s", round, r, mp_last_error());
        size_t f = 0;
        for (long i = 0; i < N; i++) {
            if (f < failed.count && failed.items[f].index == (size_t)i) {
                if (failed.items[f].code != MP_EWORKER || !strstr(failed.items[f].message, "killed by SIGKILL while running task"))
                    fail_msg("round %d: task %ld failed with %d: %s", round, i, failed.items[f].code, failed.items[f].message);
                f++;
                continue;
            }
            if (out[i] != i * i)
                fail_msg("round %d (chunksize %zu): out[%ld] = %ld, not %ld and not reported failed", round, call.chunksize, i, out[i], i * i);
        }
        assert_int_equal(f, failed.count);
        if (retries)
            assert_int_equal(failed.count, 0);
        failed_total += (int)failed.count;
        mp_failures_free(&failed);
    }
    assert_int_equal(mp_pool_close(pool), 0);
    mp_shm_free(in);
    mp_shm_free(out);
    mp_shm_free((void *)worker_pids);
    print_message("random kills (retries %d): %d rounds, %d workers killed, %d tasks reported failed\n",
                  retries, rounds, kills, failed_total);
    assert_true(kills > 0);
}

static void test_random_kills_during_large_maps(void **state)
{
    (void)state;
    watchdog(5 * WATCHDOG_S);   /* 50 maps of a million tasks (below ctest's 3600 s) */
    srand(12345);
    /* 50 rounds, one worker killed at a random moment in each. */
    random_kills(0, 25);
    random_kills(1, 25);
    alarm(0);
}

/* ---- each way to die --------------------------------------------------------- */

static int die_at_7(mp_task *task, const void *in, void *out)
{
    (void)in;
    size_t how = *(const size_t *)mp_task_context(task);
    if (mp_task_index(task) == 7) {
        switch (how) {
        case 0: raise(SIGKILL); break;
        case 1: signal(SIGSEGV, SIG_DFL); raise(SIGSEGV); break;
        case 2: signal(SIGABRT, SIG_DFL); abort();
        case 3: _exit(3);
        }
    }
    *(size_t *)out = mp_task_index(task) + 1;
    return 0;
}

static void test_each_death_is_named(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    static const char *const expect[] = {
        "killed by SIGKILL while running task 7", "killed by SIGSEGV while running task 7",
        "killed by SIGABRT while running task 7", "exited with status 3 while running task 7",
    };
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    for (size_t how = 0; how < 4; how++) {
        for (size_t chunk = 0; chunk <= 5; chunk += 5) {
            enum { N = 200 };
            size_t out[N] = { 0 };
            mp_failures failed = { 0 };
            mp_call call = { .context = &how, .context_size = sizeof how, .failures = &failed, .chunksize = chunk };
            assert_int_equal(mp_map(pool, die_at_7, NULL, N, 0, out, sizeof *out, &call), MP_ETASK);
            assert_int_equal(failed.count, 1);
            assert_int_equal(failed.items[0].index, 7);
            assert_int_equal(failed.items[0].code, MP_EWORKER);
            if (!strstr(failed.items[0].message, expect[how]) || strncmp(failed.items[0].message, "worker ", 7))
                fail_msg("message '%s' does not say '%s'", failed.items[0].message, expect[how]);
            assert_non_null(strstr(mp_last_error(), expect[how]));
            for (size_t i = 0; i < N; i++)
                assert_int_equal(out[i], i == 7 ? 0 : i + 1);
            mp_failures_free(&failed);
        }
    }
    assert_int_equal(mp_pool_close(pool), 0);
    assert_int_equal(reap_children(), 0);   /* close reaped everything */
    alarm(0);
}

/* ---- a crash names its address, and the memory rule when that is the cause ---- */

static int follow_pointer(mp_task *task, const void *in, void *out)
{
    (void)in;
    const volatile char *p = *(char *const *)mp_task_context(task);
    *(int *)out = *p;
    return 0;
}

/* Runs follow_pointer(ptr) as task 0 and returns its failure message. */
static void crash_message(mp_pool *pool, const void *ptr, char *message, size_t len)
{
    int out = 0;
    mp_failures failed = { 0 };
    mp_call call = { .context = &ptr, .context_size = sizeof ptr, .failures = &failed };
    assert_int_equal(mp_map(pool, follow_pointer, NULL, 1, 0, &out, sizeof out, &call), MP_ETASK);
    assert_int_equal(failed.count, 1);
    assert_int_equal(failed.items[0].code, MP_EWORKER);
    snprintf(message, len, "%s", failed.items[0].message);
    mp_failures_free(&failed);
}

static void assert_says(const char *message, const char *what, bool says)
{
    if (!strstr(message, what) != !says)
        fail_msg("message '%s' %s '%s'", message, says ? "does not say" : "says", what);
}

static void test_crash_names_address_and_memory_rule(void **state)
{
    (void)state;
    watchdog(30);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 1 });
    /* Made after the pool opened, and large enough for its own mapping:
     * the workers have nothing at that address. */
    char *late = malloc((size_t)64 << 20);
    assert_non_null(late);
    late[0] = 1;
    char message[MP_MESSAGE_MAX], where[64];
    crash_message(pool, late, message, sizeof message);
    snprintf(where, sizeof where, "address %p is not mapped in the worker", (void *)late);
    assert_says(message, "killed by SIGSEGV while running task 0", true);
    assert_says(message, where, true);
    assert_says(message, "memory allocated after the pool opened is not visible to process workers", true);
    assert_says(message, "mp_shm_alloc", true);
    free(late);

    crash_message(pool, NULL, message, sizeof message);
    assert_says(message, "killed by SIGSEGV while running task 0: address 0x0 (a NULL pointer)", true);
    assert_says(message, "pool opened", false);
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

/* ---- no printed line is lost ------------------------------------------------------ */

enum { PRINTED = 1000 };
enum { PRINT_MAP, PRINT_IMAP, PRINT_FUTURES, PRINT_AND_CLOSE };

static int print_line(mp_task *task, const void *in, void *out)
{
    (void)in, (void)out;
    printf("task %zu printed this line\n", mp_task_index(task));
    return 0;
}

static size_t count_lines(int fd)
{
    size_t lines = 0;
    char buf[4096];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
        for (ssize_t i = 0; i < got; i++)
            lines += buf[i] == '\n';
    return lines;
}

/* Runs PRINTED printing tasks one way on a process pool. */
static int run_printing(mp_pool *pool, int how)
{
    if (how == PRINT_IMAP) {
        mp_imap *it;
        int r = mp_imap_open(pool, print_line, NULL, PRINTED, 0, NULL, NULL, 0, NULL, &it);
        while (r == 0)
            r = mp_imap_next(it, MP_FOREVER, NULL, NULL, NULL);
        mp_imap_free(it);
        return r == MP_EEOF ? 0 : r;
    }
    if (how == PRINT_FUTURES) {
        for (int i = 0; i < PRINTED; i++) {
            mp_future *f;
            int r = mp_submit(pool, print_line, NULL, 0, 0, NULL, &f);
            if (r == 0)
                r = mp_future_result(f, MP_FOREVER, NULL, 0);
            mp_future_free(f);
            if (r)
                return r;
        }
        return 0;
    }
    return mp_map(pool, print_line, NULL, PRINTED, 0, NULL, 0, NULL);
}

/* A program whose process workers print, with stdout going to `out` (a
 * file or a pipe).  It checks that every line is out by the time the call
 * returns when it can see (a file: `check` is a descriptor reading it),
 * then exits -- without closing its pool, unless told to. */
static _Noreturn void printing_program(int out, int check, int how)
{
    if (dup2(out, 1) < 0)
        _exit(2);
    close(out);
    mp_pool *pool;
    mp_pool_options opts = { .backend = MP_BACKEND_PROCESS, .workers = 2 };
    if (mp_pool_open(&pool, &opts) != 0 || run_printing(pool, how) != 0)
        _exit(3);
    if (how == PRINT_AND_CLOSE && mp_pool_close(pool) != 0)
        _exit(4);
    if (check >= 0 && (lseek(check, 0, SEEK_SET) != 0 || count_lines(check) != PRINTED))
        _exit(5);          /* a line was still buffered in a worker */
    exit(0);
}

static void test_printed_lines_are_not_lost(void **state)
{
    (void)state;
    watchdog(60);
    static const char *const names[] = { "map", "imap", "futures", "map and close" };
    for (int how = PRINT_MAP; how <= PRINT_AND_CLOSE; how++) {
        /* stdout a file: the program checks every line is there when the
         * call returns, and they are all there after it exited. */
        char path[] = "/tmp/mproc-printed-XXXXXX";
        int out = mkstemp(path);
        assert_true(out >= 0);
        int check = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(check >= 0);
        unlink(path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            printing_program(out, check, how);
        close(out);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("%s, stdout a file: the program ended with status 0x%x", names[how], status);
        assert_true(wait_no_children(10) >= 0);
        assert_int_equal(lseek(check, 0, SEEK_SET), 0);   /* the program read it too */
        assert_int_equal(count_lines(check), PRINTED);
        close(check);

        /* stdout a pipe: every line arrives, and end of file with it (no
         * worker is left holding the pipe). */
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            printing_program(fds[1], -1, how);
        }
        close(fds[1]);
        size_t lines = count_lines(fds[0]);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("%s, stdout a pipe: the program ended with status 0x%x", names[how], status);
        if (lines != PRINTED)
            fail_msg("%s, stdout a pipe: %zu of %d lines arrived", names[how], lines, PRINTED);
        assert_true(wait_no_children(10) >= 0);
    }
    alarm(0);
}

/* A task that crashes its worker the first time only: with retries it
 * succeeds on its second run. */
static _Atomic int *crash_count;

static int crash_once(mp_task *task, const void *in, void *out)
{
    (void)in;
    if (mp_task_index(task) == 3 && atomic_fetch_add(crash_count, 1) == 0)
        raise(SIGKILL);
    *(size_t *)out = mp_task_index(task);
    return 0;
}

static int crash_always(mp_task *task, const void *in, void *out)
{
    (void)in;
    if (mp_task_index(task) == 3) {
        atomic_fetch_add(crash_count, 1);
        raise(SIGKILL);
    }
    *(size_t *)out = mp_task_index(task);
    return 0;
}

static void test_retries(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    assert_int_equal(mp_shm_alloc(sizeof *crash_count, (void **)&crash_count), 0);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2, .retries = 2 });
    size_t out[10];
    assert_int_equal(mp_map(pool, crash_once, NULL, 10, 0, out, sizeof *out, NULL), 0);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(out[i], i);
    assert_int_equal(atomic_load(crash_count), 2);

    /* A task that always kills its worker runs 1 + retries times, then fails. */
    atomic_store(crash_count, 0);
    mp_failures failed = { 0 };
    assert_int_equal(mp_map(pool, crash_always, NULL, 10, 0, out, sizeof *out, &(mp_call){ .failures = &failed }), MP_ETASK);
    assert_int_equal(atomic_load(crash_count), 3);
    assert_int_equal(failed.count, 1);
    assert_non_null(strstr(failed.items[0].message, "killed by SIGKILL while running task 3 (run 3 times)"));
    mp_failures_free(&failed);
    assert_int_equal(mp_pool_close(pool), 0);
    mp_shm_free(crash_count);
    alarm(0);
}

static int hang_at_5(mp_task *task, const void *in, void *out);

/* Streams (imap) and async calls recover the same way. */
static int die_at_7_imap(mp_task *task, const void *in, void *out)
{
    (void)in;
    if (mp_task_index(task) == 7)
        raise(SIGKILL);
    *(size_t *)out = mp_task_index(task) + 1;
    return 0;
}

static void test_death_in_imap_and_async(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    const mp_imap_order orders[] = { MP_IMAP_ORDERED, MP_IMAP_UNORDERED };
    for (int o = 0; o < 2; o++) {
        for (size_t chunk = 1; chunk <= 4; chunk += 3) {
            enum { N = 300 };
            mp_imap *it;
            mp_imap_options opts = { .order = orders[o], .chunksize = chunk };
            assert_int_equal(mp_imap_open(pool, die_at_7_imap, NULL, N, 0, NULL, NULL, sizeof(size_t), &opts, &it), 0);
            bool seen[N] = { false };
            int failed = 0, r;
            size_t v, idx;
            while ((r = mp_imap_next(it, 10, &v, &idx, NULL)) != MP_EEOF) {
                assert_true(r == 0 || r == MP_ETASK);
                assert_true(idx < N && !seen[idx]);
                seen[idx] = true;
                if (r == MP_ETASK) {
                    assert_int_equal(idx, 7);
                    if (!strstr(mp_last_error(), "killed by SIGKILL while running task 7"))
                        fail_msg("imap message: %s", mp_last_error());
                    failed++;
                } else {
                    assert_int_equal(v, idx + 1);
                }
            }
            mp_imap_free(it);
            assert_int_equal(failed, 1);
            for (size_t i = 0; i < N; i++)
                assert_true(seen[i]);
        }
    }
    /* The pool's task_timeout holds for imap too. */
    mp_pool *timed = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2, .task_timeout = TASK_LIMIT_S });
    mp_imap *it;
    assert_int_equal(mp_imap_open(timed, hang_at_5, NULL, 20, 0, NULL, NULL, sizeof(size_t), NULL, &it), 0);
    size_t v, idx;
    int r, timeouts = 0, results = 0;
    while ((r = mp_imap_next(it, 10, &v, &idx, NULL)) != MP_EEOF) {
        results++;
        if (r == MP_ETASK) {
            assert_int_equal(idx, 5);
            assert_non_null(strstr(mp_last_error(), "task 5 timed out after " TASK_LIMIT_TEXT " on worker"));
            timeouts++;
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(v, idx + 1);
        }
    }
    assert_int_equal(results, 20);
    assert_int_equal(timeouts, 1);
    mp_imap_free(it);
    assert_int_equal(mp_pool_close(timed), 0);

    mp_async *res;
    size_t out[50];
    assert_int_equal(mp_map_async(pool, die_at_7_imap, NULL, 50, 0, out, sizeof *out, NULL, &res), 0);
    mp_failures failed = { 0 };
    assert_int_equal(mp_async_get(res, 10, &failed), MP_ETASK);
    assert_int_equal(failed.count, 1);
    assert_int_equal(failed.items[0].code, MP_EWORKER);
    for (size_t i = 0; i < 50; i++)
        if (i != 7)
            assert_int_equal(out[i], i + 1);
    mp_failures_free(&failed);
    mp_async_free(res);
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

/* A task that kills every worker that runs it, in every task: the pool
 * stops forking after 101 such workers instead of once per task. */
static int always_die(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    (void)out;
    raise(SIGKILL);
    return 0;
}

static void test_every_task_kills_its_worker(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    assert_int_equal(mp_map(pool, always_die, NULL, 100000, 0, NULL, 0, &(mp_call){ .chunksize = 1 }), MP_EBROKEN);
    if (!strstr(mp_last_error(), "101 workers in a row died before finishing a task (the last one killed by SIGKILL)"))
        fail_msg("message: %s", mp_last_error());
    assert_int_equal(mp_pool_close(pool), MP_EBROKEN);
    assert_true(wait_no_children(PROMPT_S) >= 0);
    alarm(0);
}

/* ---- timeouts ------------------------------------------------------------------ */

static int hang_at_5(mp_task *task, const void *in, void *out)
{
    (void)in;
    if (mp_task_index(task) == 5) {
        double t0 = now();
        /* Process workers are killed; thread workers must notice. */
        while (!mp_task_cancelled(task) && now() - t0 < HANG_S)
            sleep_s(0.001);
    }
    *(size_t *)out = mp_task_index(task) + 1;
    return 0;
}

static int hang_ignoring_sigterm(mp_task *task, const void *in, void *out)
{
    (void)in;
    if (mp_task_index(task) == 2) {
        signal(SIGTERM, SIG_IGN);
        sleep_s(HANG_S);
    }
    *(size_t *)out = 1;
    return 0;
}

static void test_task_timeout(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    const mp_backend backends[] = { MP_BACKEND_PROCESS, MP_BACKEND_THREAD };
    for (int b = 0; b < 2; b++) {
        for (int per_call = 0; per_call < 2; per_call++) {
            mp_pool *pool = open_with((mp_pool_options){ .backend = backends[b], .workers = 2,
                                                          .task_timeout = per_call ? 0 : TASK_LIMIT_S });
            enum { N = 50 };
            size_t out[N] = { 0 };
            mp_failures failed = { 0 };
            mp_call call = { .failures = &failed, .chunksize = 1, .timeout = per_call ? TASK_LIMIT_S : 0 };
            double t0 = now();
            assert_int_equal(mp_map(pool, hang_at_5, NULL, N, 0, out, sizeof *out, &call), MP_ETASK);
            double took = now() - t0;
            assert_true(took < PROMPT_S);
            assert_int_equal(failed.count, 1);
            assert_int_equal(failed.items[0].index, 5);
            assert_int_equal(failed.items[0].code, MP_ETIMEDOUT);
            if (!strstr(failed.items[0].message, "task 5 timed out after " TASK_LIMIT_TEXT " on worker"))
                fail_msg("message: %s", failed.items[0].message);
            for (size_t i = 0; i < N; i++)   /* a failed element holds zeros on both backends */
                assert_int_equal(out[i], i == 5 ? 0 : i + 1);
            mp_failures_free(&failed);
            /* A call with MP_FOREVER has no limit even if the pool has one. */
            assert_int_equal(mp_map(pool, sleepy, NULL, 4, 0, NULL, 0, &(mp_call){ .timeout = MP_FOREVER }), 0);
            assert_int_equal(mp_pool_close(pool), 0);
        }
    }
    /* SIGTERM ignored: SIGKILL follows after the grace period. */
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2, .task_timeout = TASK_LIMIT_S });
    mp_failures failed = { 0 };
    size_t out[6];
    double t0 = now();
    assert_int_equal(mp_map(pool, hang_ignoring_sigterm, NULL, 6, 0, out, sizeof *out, &(mp_call){ .failures = &failed }), MP_ETASK);
    assert_true(now() - t0 < PROMPT_S);
    assert_int_equal(failed.count, 1);
    assert_int_equal(failed.items[0].code, MP_ETIMEDOUT);
    mp_failures_free(&failed);
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

/* Writes its result, then dies by a signal on odd inputs. */
static int write_then_die_odd(mp_task *task, const void *in, void *out)
{
    (void)task;
    long x = *(const long *)in;
    *(long *)out = 1000 + x;
    if (x % 2)
        raise(x % 4 == 1 ? SIGKILL : SIGSEGV);
    return 0;
}

/* A task killed with its worker leaves zeros in its element, as a task
 * that fails by returning does: not its partial write, not the caller's
 * old value. */
static void test_killed_task_element_is_zeroed(void **state)
{
    (void)state;
    watchdog(60);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    enum { N = 12 };
    long in[N], out[N];
    for (long i = 0; i < N; i++) {
        in[i] = i;
        out[i] = -1;
    }
    mp_failures failed = { 0 };
    mp_call call = { .chunksize = 1, .failures = &failed };
    assert_int_equal(mp_map(pool, write_then_die_odd, in, N, sizeof *in, out, sizeof *out, &call), MP_ETASK);
    assert_int_equal(failed.count, N / 2);
    assert_int_equal(failed.items[0].code, MP_EWORKER);
    for (long i = 0; i < N; i++)
        assert_int_equal(out[i], i % 2 ? 0 : 1000 + i);
    mp_failures_free(&failed);

    /* In mp_shm memory the tasks write in place: the same holds. */
    long *shared;
    assert_int_equal(mp_shm_alloc(N * sizeof *shared, (void **)&shared), 0);
    for (long i = 0; i < N; i++)
        shared[i] = -1;
    assert_int_equal(mp_map(pool, write_then_die_odd, in, N, sizeof *in, shared, sizeof *shared, &call), MP_ETASK);
    for (long i = 0; i < N; i++)
        assert_int_equal(shared[i], i % 2 ? 0 : 1000 + i);
    mp_failures_free(&failed);
    mp_shm_free(shared);
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

static int note_pid_slowly(mp_task *task, const void *in, void *out)
{
    sleep_s(0.001);
    return square_noting_pid(task, in, out);
}

/* A stopped idle worker (SIGSTOP, a debugger) does not keep close from
 * returning: it is killed after the grace period, and nothing is left. */
static void test_close_with_a_stopped_worker(void **state)
{
    (void)state;
    watchdog(60);
    enum { W = 2, N = 64 };
    assert_int_equal(mp_shm_alloc(W * sizeof *worker_pids, (void **)&worker_pids), 0);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = W });
    long in[N], out[N];
    for (long i = 0; i < N; i++)
        in[i] = i;
    while (!atomic_load(&worker_pids[0]) || !atomic_load(&worker_pids[1]))
        assert_int_equal(mp_map(pool, note_pid_slowly, in, N, sizeof *in, out, sizeof *out, &(mp_call){ .chunksize = 1 }), 0);
    pid_t stopped = atomic_load(&worker_pids[0]);
    assert_int_equal(kill(stopped, SIGSTOP), 0);

    /* Maps still work, on the other worker. */
    assert_int_equal(mp_map(pool, square, in, N, sizeof *in, out, sizeof *out, NULL), 0);
    assert_int_equal(out[N - 1], (N - 1) * (N - 1));

    double t0 = now();
    assert_int_equal(mp_pool_close(pool), 0);
    assert_true(now() - t0 < 30);        /* a bound that catches a hang, not a speed check */
    assert_int_equal(kill(stopped, 0), -1);   /* killed and reaped: no zombie, no stopped process */
    assert_int_equal(errno, ESRCH);
    assert_true(wait_no_children(10) >= 0);
    mp_shm_free((void *)worker_pids);
    worker_pids = NULL;
    alarm(0);
}

static void test_bad_supervision_options(void **state)
{
    (void)state;
    mp_pool *pool = NULL;
    mp_pool_options bad[] = {
        { .task_timeout = -2 }, { .task_timeout = NAN }, { .retries = -1 }, { .retries = 101 },
        { .maxtasksperchild = -1 }, { .initializer_context_size = 4 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mp_pool_open(&pool, &bad[i]), MP_EINVAL);
        assert_null(pool);
    }
    pool = open_with((mp_pool_options){ .backend = MP_BACKEND_THREAD, .workers = 1 });
    const double timeouts[] = { -0.5, NAN, -INFINITY, INFINITY };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mp_map(pool, sleepy, NULL, 1, 0, NULL, 0, &(mp_call){ .timeout = timeouts[i] }), MP_EINVAL);
        assert_non_null(strstr(mp_last_error(), "timeout"));
    }
    assert_int_equal(mp_pool_cancel(NULL), MP_EINVAL);
    assert_int_equal(mp_pool_close(pool), 0);
}

/* ---- initializer -------------------------------------------------------------- */

static _Atomic int *init_runs;

static int init_ok_then_fail(const void *ctx)
{
    int limit = *(const int *)ctx;
    if (atomic_fetch_add(init_runs, 1) >= limit)
        return mp_set_error(MP_ENOENT, "no such config file: /etc/example.conf");
    return 0;
}

static int read_init_value(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    *(int *)out = atomic_load(init_runs);
    return 0;
}

static void test_initializer(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    assert_int_equal(mp_shm_alloc(sizeof *init_runs, (void **)&init_runs), 0);
    const mp_backend backends[] = { MP_BACKEND_PROCESS, MP_BACKEND_THREAD };
    for (int b = 0; b < 2; b++) {
        /* Runs once per worker. */
        int limit = 100;
        atomic_store(init_runs, 0);
        mp_pool *pool = open_with((mp_pool_options){ .backend = backends[b], .workers = 3, .initializer = init_ok_then_fail,
                                                      .initializer_context = &limit, .initializer_context_size = sizeof limit });
        int seen;
        assert_int_equal(mp_apply(pool, read_init_value, NULL, 0, &seen, sizeof seen, NULL), 0);
        assert_int_equal(seen, 3);
        assert_int_equal(mp_pool_close(pool), 0);

        /* Fails at open: mp_pool_open fails with its code and message. */
        limit = 1;
        atomic_store(init_runs, 0);
        pool = NULL;
        mp_pool_options opts = { .backend = backends[b], .workers = 3, .initializer = init_ok_then_fail,
                                 .initializer_context = &limit, .initializer_context_size = sizeof limit };
        assert_int_equal(mp_pool_open(&pool, &opts), MP_ENOENT);
        assert_null(pool);
        if (!strstr(mp_last_error(), "initializer failed: no such config file: /etc/example.conf"))
            fail_msg("message: %s", mp_last_error());
        assert_true(wait_no_children(PROMPT_S) >= 0);
    }

    /* Fails in a replacement: the pool is broken, no respawn loop. */
    int limit = 2;
    atomic_store(init_runs, 0);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2, .initializer = init_ok_then_fail,
                                                  .initializer_context = &limit, .initializer_context_size = sizeof limit });
    size_t how = 0, out[20];
    mp_call call = { .context = &how, .context_size = sizeof how, .chunksize = 1 };
    int r = mp_map(pool, die_at_7, NULL, 20, 0, out, sizeof *out, &call);
    assert_true(r == MP_ETASK || r == MP_EBROKEN);
    double t0 = now();
    while ((r = mp_map(pool, die_at_7, NULL, 2, 0, out, sizeof *out, &call)) != MP_EBROKEN && now() - t0 < PROMPT_S)
        sleep_s(0.01);
    assert_int_equal(r, MP_EBROKEN);
    if (!strstr(mp_last_error(), "initializer failed in replacement worker") || !strstr(mp_last_error(), "/etc/example.conf"))
        fail_msg("message: %s", mp_last_error());
    sleep_s(0.1);
    assert_int_equal(atomic_load(init_runs), 3);   /* tried once, not again */
    assert_int_equal(mp_pool_close(pool), MP_EBROKEN);
    assert_true(wait_no_children(PROMPT_S) >= 0);
    mp_shm_free(init_runs);
    alarm(0);
}

/* ---- maxtasksperchild ------------------------------------------------------------- */

static int note_pid(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    *(int *)out = getpid();
    return 0;
}

static int by_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void test_maxtasksperchild(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2, .maxtasksperchild = 10 });
    enum { N = 200 };
    int pids[N];
    for (size_t chunk = 0; chunk <= 7; chunk += 7) {
        assert_int_equal(mp_map(pool, note_pid, NULL, N, 0, pids, sizeof *pids, &(mp_call){ .chunksize = chunk }), 0);
        qsort(pids, N, sizeof *pids, by_int);
        int distinct = 0, run = 0;
        for (int i = 0; i < N; i++) {
            if (i == 0 || pids[i] != pids[i - 1]) {
                distinct++;
                run = 0;
            }
            assert_true(pids[i] > 0);
            assert_true(++run <= 10);
        }
        assert_true(distinct >= N / 10);
    }
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

/* ---- cancel, terminate, SIGINT, a killed parent ------------------------------------ */

/* How many slow_forever tasks have started, in memory that every process
 * of the test shares (mapped in main, before any pool or child exists).
 * Whoever acts on a running map waits for it to say so. */
static _Atomic int *slow_started;

static int slow_forever(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    atomic_fetch_add(slow_started, 1);
    double t0 = now();
    while (!mp_task_cancelled(task) && now() - t0 < HANG_S)
        sleep_s(0.001);
    return 0;
}

/* Waits until a slow_forever task runs, so the map is surely under way
 * (the watchdog catches one that never starts). */
static void wait_until_slow_task_runs(void)
{
    while (atomic_load(slow_started) == 0)
        sleep_s(0.001);
}

static void *cancel_when_running(void *pool)
{
    wait_until_slow_task_runs();
    mp_pool_cancel(pool);
    return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    const mp_backend backends[] = { MP_BACKEND_PROCESS, MP_BACKEND_THREAD };
    for (int b = 0; b < 2; b++) {
        mp_pool *pool = open_with((mp_pool_options){ .backend = backends[b], .workers = 2 });
        atomic_store(slow_started, 0);
        pthread_t t;
        pthread_create(&t, NULL, cancel_when_running, pool);
        double t0 = now();
        assert_int_equal(mp_map(pool, slow_forever, NULL, 1000, 0, NULL, 0, NULL), MP_ECANCELED);
        double took = now() - t0;
        pthread_join(t, NULL);
        assert_true(took < PROMPT_S);
        assert_non_null(strstr(mp_last_error(), "cancelled"));
        /* The pool stays usable. */
        long in[100], out[100];
        for (int i = 0; i < 100; i++)
            in[i] = i;
        assert_int_equal(mp_map(pool, square, in, 100, sizeof *in, out, sizeof *out, NULL), 0);
        for (int i = 0; i < 100; i++)
            assert_int_equal(out[i], i * i);
        assert_int_equal(mp_pool_close(pool), 0);
    }
    assert_true(wait_no_children(PROMPT_S) >= 0);
    alarm(0);
}

static void *terminate_when_running(void *pool)
{
    wait_until_slow_task_runs();
    mp_pool_terminate(pool);
    return NULL;
}

static void test_terminate_during_map(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    atomic_store(slow_started, 0);
    pthread_t t;
    pthread_create(&t, NULL, terminate_when_running, pool);
    double t0 = now();
    assert_int_equal(mp_map(pool, slow_forever, NULL, 1000, 0, NULL, 0, NULL), MP_ECLOSED);
    pthread_join(t, NULL);
    assert_true(now() - t0 < PROMPT_S);
    /* terminate reaped every worker and the fork server */
    assert_int_equal(reap_children(), 0);
    alarm(0);
}

static mp_pool *sigint_pool;

static void on_sigint(int sig)
{
    (void)sig;
    mp_pool_cancel(sigint_pool);
}

/* The program run by the SIGINT tests: a process-group leader, as a shell
 * makes a foreground job, blocked in a long map. */
static void sigint_program(int ready_fd, bool handle)
{
    setpgid(0, 0);
    if (handle) {
        struct sigaction sa = { .sa_handler = on_sigint };
        sigaction(SIGINT, &sa, NULL);
    } else {
        signal(SIGINT, SIG_DFL);
    }
    if (mp_pool_open(&sigint_pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 }))
        _exit(2);
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1)
        _exit(3);
    int r = mp_map(sigint_pool, slow_forever, NULL, 1000, 0, NULL, 0, NULL);
    mp_pool_close(sigint_pool);
    _exit(r == MP_ECANCELED ? 0 : 4);
}

static void sigint_case(bool handle)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    atomic_store(slow_started, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        sigint_program(fds[1], handle);
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    wait_until_slow_task_runs();
    setpgid(pid, pid);      /* in case the child has not yet: same group either way */
    double t0 = now();
    assert_int_equal(kill(-pid, SIGINT), 0);    /* as a terminal's Ctrl-C does */
    int status = -1;
    while (waitpid(pid, &status, WNOHANG) == 0 && now() - t0 < PROMPT_S)
        sleep_s(0.001);
    double gone = wait_no_children(PROMPT_S);
    double took = now() - t0;
    assert_true(gone >= 0);
    print_message("SIGINT (%s): program and workers gone after %.1f ms\n", handle ? "handler cancels" : "default action", took * 1e3);
    assert_true(took < PROMPT_S);
    if (handle)
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    else
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
}

static void test_sigint_stops_everything(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    sigint_case(false);
    sigint_case(true);
    alarm(0);
}

static void test_killed_parent_leaves_no_worker(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    atomic_store(slow_started, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        mp_pool *pool;
        if (mp_pool_open(&pool, &(mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 }))
            _exit(2);
        char c = 'r';
        if (write(fds[1], &c, 1) != 1)
            _exit(3);
        mp_map(pool, slow_forever, NULL, 1000, 0, NULL, 0, NULL);
        _exit(4);
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    wait_until_slow_task_runs();
    assert_true(reap_children() >= 1);
    double t0 = now();
    kill(pid, SIGKILL);
    double gone = wait_no_children(PROMPT_S);
    print_message("parent killed: its fork server and workers gone after %.1f ms\n", (now() - t0) * 1e3);
    assert_true(gone >= 0);
    alarm(0);
}

/* The fork server killed from outside: every worker dies with it, and the
 * pool says so instead of hanging. */
static int parent_pid(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    *(int *)out = getppid();
    return 0;
}

static void test_fork_server_killed(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    int server;
    assert_int_equal(mp_apply(pool, parent_pid, NULL, 0, &server, sizeof server, NULL), 0);
    assert_true(server > 0 && server != getpid());
    assert_int_equal(kill(server, SIGKILL), 0);
    double t0 = now();
    int r;
    while ((r = mp_map(pool, sleepy, NULL, 4, 0, NULL, 0, NULL)) == 0 && now() - t0 < PROMPT_S)
        sleep_s(0.01);
    assert_int_equal(r, MP_EBROKEN);
    if (!strstr(mp_last_error(), "fork server"))
        fail_msg("message: %s", mp_last_error());
    assert_int_equal(mp_pool_close(pool), MP_EBROKEN);
    assert_true(wait_no_children(PROMPT_S) >= 0);
    alarm(0);
}

/* ---- replacements are safe while the parent's threads allocate ---------------------- */

static _Atomic bool stop_busy;

static void *busy_malloc(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_busy)) {
        void *p[16];
        for (int i = 0; i < 16; i++)
            p[i] = malloc((size_t)(i + 1) * 100);
        for (int i = 0; i < 16; i++)
            free(p[i]);
    }
    return NULL;
}

static int malloc_then_die(mp_task *task, const void *in, void *out)
{
    (void)in;
    void *p = malloc(1000);
    free(p);
    if (mp_task_index(task) % 50 == 49)
        raise(SIGKILL);
    *(size_t *)out = mp_task_index(task);
    return 0;
}

static void test_respawn_with_busy_threads(void **state)
{
    (void)state;
    watchdog(WATCHDOG_S);
    pthread_t busy[2];
    atomic_store(&stop_busy, false);
    for (int i = 0; i < 2; i++)
        pthread_create(&busy[i], NULL, busy_malloc, NULL);
    mp_pool *pool = open_with((mp_pool_options){ .backend = MP_BACKEND_PROCESS, .workers = 2 });
    enum { N = 1000 };
    static size_t out[N];
    mp_failures failed = { 0 };
    assert_int_equal(mp_map(pool, malloc_then_die, NULL, N, 0, out, sizeof *out, &(mp_call){ .failures = &failed, .chunksize = 1 }), MP_ETASK);
    assert_int_equal(failed.count, N / 50);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(out[i], i % 50 == 49 ? 0 : i);
    mp_failures_free(&failed);
    atomic_store(&stop_busy, true);
    for (int i = 0; i < 2; i++)
        pthread_join(busy[i], NULL);
    assert_int_equal(mp_pool_close(pool), 0);
    alarm(0);
}

int main(void)
{
    /* Orphans of the programs these tests kill come back to us. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    slow_started = mmap(NULL, sizeof *slow_started, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slow_started == MAP_FAILED)
        return perror("mmap"), 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_supervision_options),
        cmocka_unit_test(test_each_death_is_named),
        cmocka_unit_test(test_crash_names_address_and_memory_rule),
        cmocka_unit_test(test_printed_lines_are_not_lost),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_death_in_imap_and_async),
        cmocka_unit_test(test_every_task_kills_its_worker),
        cmocka_unit_test(test_task_timeout),
        cmocka_unit_test(test_killed_task_element_is_zeroed),
        cmocka_unit_test(test_close_with_a_stopped_worker),
        cmocka_unit_test(test_initializer),
        cmocka_unit_test(test_maxtasksperchild),
        cmocka_unit_test(test_cancel_from_another_thread),
        cmocka_unit_test(test_terminate_during_map),
        cmocka_unit_test(test_sigint_stops_everything),
        cmocka_unit_test(test_killed_parent_leaves_no_worker),
        cmocka_unit_test(test_fork_server_killed),
        cmocka_unit_test(test_respawn_with_busy_threads),
        cmocka_unit_test(test_random_kills_during_large_maps),
    };
    /* FAULT_ONLY=name runs one test (for debugging a failure). */
    const char *only = getenv("FAULT_ONLY");
    if (only)
        for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
            if (strstr(tests[i].name, only))
                return _cmocka_run_group_tests("one", &tests[i], 1, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
