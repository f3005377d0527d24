/* labels: unit;pool */
/* test_progress.c - progress bars: the line, the rate, and the bars of the
 * map family, imap, futures and mp_bar, drawn or called back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "progress.h"
#include "support.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the line ---------------------------------------------------------- */

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void test_line_with_a_total(void **state)
{
    (void)state;
    char buf[256];
    mp__bar_view v = { "squares", 42, 100, 3.0, 14.0, NULL, false };
    size_t n = mp__bar_line(buf, sizeof buf, &v, 80, false);
    assert_int_equal(n, strlen(buf));
    assert_true(strlen(buf) <= 79);
    assert_non_null(strstr(buf, "squares:  42%|"));
    assert_non_null(strstr(buf, "| 42/100 [00:03<00:04, 14/s]"));
    /* The bar: as many cells filled as the fraction says. */
    const char *bar = strchr(buf, '|') + 1;
    int width = (int)(strchr(bar, '|') - bar);
    assert_true(width >= 4 && width <= 60);
    assert_int_equal(count_char(buf, '#'), (int)(0.42 * width));
}

static void test_line_without_a_total_and_final(void **state)
{
    (void)state;
    char buf[256];
    mp__bar_view v = { "gen", 1234, 0, 65.0, 1500.0, NULL, false };
    mp__bar_line(buf, sizeof buf, &v, 80, false);
    assert_string_equal(buf, "gen: 1234 [01:05, 1.5k/s]");
    /* Final: the average rate, no ETA, the note in the brackets. */
    mp__bar_view f = { "m", 100, 100, 4.0, 999.0, "3 failed", true };
    mp__bar_line(buf, sizeof buf, &f, 80, false);
    assert_non_null(strstr(buf, "m: 100%|"));
    assert_non_null(strstr(buf, "| 100/100 [00:04, 25/s, 3 failed]"));
    assert_null(strchr(buf, '<'));
    /* Slow tasks: seconds per task; an hour and more: h:mm:ss. */
    mp__bar_view s = { "s", 1, 10, 3725.0, 0.25, NULL, false };
    mp__bar_line(buf, sizeof buf, &s, 80, false);
    assert_non_null(strstr(buf, "[1:02:05<00:36, 4s/task]"));
    /* Too narrow for a bar: the figures only. */
    mp__bar_line(buf, sizeof buf, &v, 20, false);
    assert_null(strchr(buf, '|'));
    /* A buffer too small is truncated, never overrun. */
    char tiny[8];
    assert_int_equal(mp__bar_line(tiny, sizeof tiny, &f, 80, false), 7);
    assert_int_equal(strlen(tiny), 7);
}

static void test_line_utf8_blocks(void **state)
{
    (void)state;
    char buf[512];
    mp__bar_view v = { "u", 50, 100, 1.0, 50.0, NULL, false };
    mp__bar_line(buf, sizeof buf, &v, 80, true);
    assert_non_null(strstr(buf, "\u2588"));
    assert_null(strchr(buf, '#'));
}

/* ---- the rate ------------------------------------------------------------ */

static void test_rate_is_smoothed(void **state)
{
    (void)state;
    mp__rate r;
    mp__rate_start(&r, 0);
    uint64_t done = 0;
    double t = 0;
    for (int i = 0; i < 100; i++) {      /* 10 s at 100 tasks a second */
        t += 0.1;
        done += 10;
        mp__rate_update(&r, done, t);
    }
    assert_true(r.per_second > 99 && r.per_second < 101);
    /* A burst of ten times the rate for one tick moves the estimate by a
     * few percent, not tenfold: the ETA does not jump. */
    t += 0.1;
    done += 100;
    mp__rate_update(&r, done, t);
    assert_true(r.per_second > 100 && r.per_second < 135);
    /* A count that goes back (a reset) is ignored. */
    double before = r.per_second;
    mp__rate_update(&r, 5, t + 0.1);
    assert_true(r.per_second == before);
}

/* ---- callbacks ------------------------------------------------------------ */

#define MAX_CALLS 4096
typedef struct calls {
    pthread_mutex_t lock;
    size_t n;
    uint64_t done[MAX_CALLS], total[MAX_CALLS];
    double when[MAX_CALLS];
    pthread_t thread[MAX_CALLS];
    pid_t pid[MAX_CALLS];
} calls;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void record(uint64_t done, uint64_t total, void *arg)
{
    calls *c = arg;
    pthread_mutex_lock(&c->lock);
    if (c->n < MAX_CALLS) {
        c->done[c->n] = done;
        c->total[c->n] = total;
        c->when[c->n] = now_seconds();
        c->thread[c->n] = pthread_self();
        c->pid[c->n] = getpid();
        c->n++;
    }
    pthread_mutex_unlock(&c->lock);
}

static calls *calls_new(void)
{
    calls *c = calloc(1, sizeof *c);
    assert_non_null(c);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void calls_free(calls *c)
{
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static pthread_t worker_threads[64];

static int nap(mp_task *task, const void *in, void *out)
{
    (void)task;
    (void)in;
    (void)out;
    struct timespec ts = { 0, 15 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    return 0;
}

/* nap, noting which thread ran task i (a map's tasks have distinct i). */
static int nap_noting_thread(mp_task *task, const void *in, void *out)
{
    size_t i = mp_task_index(task);
    if (i < 64)
        worker_threads[i] = pthread_self();
    return nap(task, in, out);
}

/* Checks a bar's callbacks: counts never go back, at most ten a second
 * while the call runs, the last one says done == total, all made by one
 * thread of this process that is not `caller`. */
static void check_calls(const calls *c, uint64_t total, pthread_t caller)
{
    assert_true(c->n >= 1);
    assert_int_equal(c->done[c->n - 1], total);
    assert_int_equal(c->total[c->n - 1], total);
    for (size_t k = 0; k < c->n; k++) {
        assert_int_equal(c->pid[k], getpid());
        assert_false(pthread_equal(c->thread[k], caller));
        assert_true(pthread_equal(c->thread[k], c->thread[0]));
        if (k > 0) {
            assert_true(c->done[k] >= c->done[k - 1]);
            if (k < c->n - 1)   /* the last one comes at the end, whenever that is */
                assert_true(c->when[k] - c->when[k - 1] >= 0.095);
        }
    }
}

/* Set by the callback when it reports a count strictly between 0 and the
 * total; in shared memory, since process workers wait for it. */
static _Atomic int *saw_between;

static void record_between(uint64_t done, uint64_t total, void *arg)
{
    record(done, total, arg);
    if (done > 0 && done < total)
        atomic_store(saw_between, 1);
}

/* The second half of the tasks waits until the bar has shown the first
 * half's progress (or 60 s, a bound that only a hang reaches): the test
 * does not depend on how fast anything runs. */
static int half_waits_for_bar(mp_task *task, const void *in, void *out)
{
    if (mp_task_index(task) >= 30)
        for (int i = 0; i < 60000 && !atomic_load(saw_between); i++)
            usleep(1000);
    return nap_noting_thread(task, in, out);
}

static void test_map_callbacks_every_backend(void **state)
{
    (void)state;
    assert_int_equal(mp_shm_alloc(sizeof *saw_between, (void **)&saw_between), 0);
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        calls *c = calls_new();
        memset(worker_threads, 0, sizeof worker_threads);
        atomic_store(saw_between, 0);
        mp_call call = { .progress = { .fn = record_between, .arg = c } };
        assert_int_equal(mp_map(pool, half_waits_for_bar, NULL, 60, 0, NULL, 0, &call), 0);
        /* The last callback was made before mp_map returned. */
        pthread_mutex_lock(&c->lock);
        check_calls(c, 60, pthread_self());
        /* The bar moved while the call ran: a count between the ends. */
        assert_true(atomic_load(saw_between));
        if (b == MP_BACKEND_THREAD)
            for (int i = 0; i < 60; i++)
                assert_false(pthread_equal(worker_threads[i], c->thread[0]));
        pthread_mutex_unlock(&c->lock);
        calls_free(c);
        mp_pool_close(pool);
    }
    mp_shm_free((void *)saw_between);
}

static int fail_some(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    return mp_task_index(task) % 10 == 3 ? mp_task_fail(task, 5, "no") : 0;
}

static void test_starmap_and_async_callbacks(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        calls *c = calls_new();
        int xs[30] = { 0 };
        mp_array args[1] = { { xs, 30, sizeof xs[0] } };
        mp_call call = { .progress = { .fn = record, .arg = c } };
        assert_int_equal(mp_starmap(pool, (mp_star_fn)(void (*)(void))fail_some, args, 1, NULL, 0, &call), MP_ETASK);
        check_calls(c, 30, pthread_self());
        calls_free(c);

        /* An async map's bar ends when the result is collected; its last
         * callback comes from the progress thread soon after. */
        c = calls_new();
        call.progress.arg = c;
        mp_async *res;
        assert_int_equal(mp_map_async(pool, nap, NULL, 20, 0, NULL, 0, &call, &res), 0);
        assert_int_equal(mp_async_get(res, MP_FOREVER, NULL), 0);
        for (double until = now_seconds() + 60; now_seconds() < until;) {
            pthread_mutex_lock(&c->lock);
            bool ended = c->n && c->done[c->n - 1] == 20;
            pthread_mutex_unlock(&c->lock);
            if (ended)
                break;
            usleep(10000);
        }
        pthread_mutex_lock(&c->lock);
        check_calls(c, 20, pthread_self());
        pthread_mutex_unlock(&c->lock);
        mp_async_free(res);
        mp_pool_close(pool);
        calls_free(c);
    }
}

/* ---- drawn bars -------------------------------------------------------------- */

/* Runs fn with stderr sent to a file; returns what was written there
 * (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/mproc-progress-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    return text;
}

typedef struct map_run {
    mp_backend backend;
    mp_progress_mode mode;
    const char *env;              /* MPROC_PROGRESS, NULL: unset */
    mp_map_fn fn;
    size_t count;
    int expect;
} map_run;

static void run_map(void *arg)
{
    map_run *m = arg;
    if (m->env)
        setenv("MPROC_PROGRESS", m->env, 1);
    else
        unsetenv("MPROC_PROGRESS");
    mp_pool *pool = open_pool(m->backend, 2);
    mp_call call = { .progress = { .mode = m->mode } };
    assert_int_equal(mp_map(pool, m->fn, NULL, m->count, 0, NULL, 0, &call), m->expect);
    mp_pool_close(pool);
    unsetenv("MPROC_PROGRESS");
}

static void test_forced_bar_and_the_environment(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        /* MPROC_PROGRESS=force draws a default call's bar into a file. */
        map_run m = { b, MP_PROGRESS_AUTO, "force", nap, 20, 0 };
        char *text = capture_stderr(run_map, &m);
        assert_non_null(strstr(text, "mp_map: 100%|"));
        assert_non_null(strstr(text, "| 20/20 ["));
        free(text);
        /* Failures are in the final line. */
        m = (map_run){ b, MP_PROGRESS_FORCE, NULL, fail_some, 40, MP_ETASK };
        text = capture_stderr(run_map, &m);
        assert_non_null(strstr(text, "| 40/40 ["));
        assert_non_null(strstr(text, ", 4 failed]"));
        free(text);
        /* Nothing drawn: ON when stderr is not a terminal; OFF although the
         * environment asks; FORCE although the environment says 0; the
         * default without the environment. */
        const map_run quiet[] = {
            { b, MP_PROGRESS_ON, NULL, nap, 5, 0 },
            { b, MP_PROGRESS_OFF, "force", nap, 5, 0 },
            { b, MP_PROGRESS_FORCE, "0", nap, 5, 0 },
            { b, MP_PROGRESS_AUTO, NULL, nap, 5, 0 },
            { b, MP_PROGRESS_AUTO, "1", nap, 5, 0 },
        };
        for (size_t k = 0; k < sizeof quiet / sizeof quiet[0]; k++) {
            m = quiet[k];
            text = capture_stderr(run_map, &m);
            assert_string_equal(text, "");
            free(text);
        }
    }
}

/* In a terminal (a pseudo-terminal here) MP_PROGRESS_ON draws in place:
 * carriage returns and erase-to-end-of-line, ending at 100%. */
static char *self_path;

/* The program on the terminal's side: a fresh process (exec'd, so that no
 * thread of this one -- a lingering progress thread -- is forked along,
 * which ThreadSanitizer does not support) running one map with a bar. */
static int terminal_child(const char *backend)
{
    unsetenv("MPROC_PROGRESS");
    mp_pool *pool = NULL;
    mp_backend b = strcmp(backend, "process") ? MP_BACKEND_THREAD : MP_BACKEND_PROCESS;
    if (mp_pool_open(&pool, &(mp_pool_options){ .backend = b, .workers = 2 }))
        return 2;
    mp_call call = { .progress = { .mode = MP_PROGRESS_ON, .label = "tty" } };
    int r = mp_map(pool, nap, NULL, 30, 0, NULL, 0, &call);
    mp_pool_close(pool);
    return r == 0 ? 0 : 1;
}

static void test_terminal_bar(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        int master;
        pid_t pid = forkpty(&master, NULL, NULL, NULL);
        assert_true(pid >= 0);
        if (pid == 0) {
            execl(self_path, self_path, "--terminal-child", mp_backend_name(b), (char *)NULL);
            _exit(127);
        }
        char text[65536];
        size_t len = 0;
        for (;;) {
            ssize_t n = read(master, text + len, sizeof text - 1 - len);
            if (n <= 0)
                break;            /* EIO once the child is gone */
            len += (size_t)n;
        }
        text[len] = '\0';
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(master);
        assert_non_null(strstr(text, "\rtty: "));
        assert_non_null(strstr(text, "\033[K"));
        assert_non_null(strstr(text, "30/30 ["));
    }
}

/* ---- imap, futures, mp_bar ---------------------------------------------------- */

typedef struct counter { int next, end; } counter;

static int produce(void *state, void *in)
{
    counter *g = state;
    if (g->next == g->end)
        return 0;
    *(int *)in = g->next++;
    return 1;
}

static int twice(mp_task *task, const void *in, void *out)
{
    (void)task;
    *(int *)out = 2 * *(const int *)in;
    return 0;
}

static void test_imap_bar_counts_results(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        calls *c = calls_new();
        counter g = { 0, 500 };
        mp_imap_options o = { .order = MP_IMAP_UNORDERED, .progress = { .fn = record, .arg = c } };
        mp_imap *it;
        assert_int_equal(mp_imap_open(pool, twice, NULL, 0, sizeof(int), produce, &g, sizeof(int), &o, &it), 0);
        int out, got = 0;
        while (mp_imap_next(it, MP_FOREVER, &out, NULL, NULL) == 0)
            got++;
        assert_int_equal(got, 500);
        /* The total became known when the generator ended. */
        check_calls(c, 500, pthread_self());
        for (size_t k = 0; k + 1 < c->n; k++)
            assert_true(c->total[k] == 0 || c->total[k] == 500);
        mp_imap_free(it);
        calls_free(c);
        mp_pool_close(pool);
    }
}

static void test_as_completed_bar(void **state)
{
    (void)state;
    FOR_EACH_BACKEND(b) {
        mp_pool *pool = open_pool(b, 2);
        calls *c = calls_new();
        mp_future *fs[12];
        for (int i = 0; i < 12; i++)
            assert_int_equal(mp_submit(pool, nap, NULL, 0, 0, NULL, &fs[i]), 0);
        mp_as_completed *it;
        assert_int_equal(mp_as_completed_open(fs, 12, &it), 0);
        assert_int_equal(mp_as_completed_progress(NULL, &(mp_progress){ 0 }), MP_EINVAL);
        assert_int_equal(mp_as_completed_progress(it, NULL), MP_EINVAL);
        assert_int_equal(mp_as_completed_progress(it, &(mp_progress){ .fn = record, .arg = c, .label = "futures" }), 0);
        mp_future *f;
        int n = 0;
        while (mp_as_completed_next(it, MP_FOREVER, &f) == 0)
            n++;
        assert_int_equal(n, 12);
        check_calls(c, 12, pthread_self());
        assert_int_equal(mp_as_completed_progress(it, &(mp_progress){ 0 }), MP_EINVAL);   /* too late */
        mp_as_completed_free(it);
        for (int i = 0; i < 12; i++)
            mp_future_free(fs[i]);
        calls_free(c);
        mp_pool_close(pool);
    }
}

static void *add_many(void *arg)
{
    for (int i = 0; i < 10000; i++)
        mp_bar_add(arg, 1);
    return NULL;
}

static void test_own_bar(void **state)
{
    (void)state;
    calls *c = calls_new();
    mp_bar *bar;
    assert_int_equal(mp_bar_open(&bar, 20000, &(mp_progress){ .fn = record, .arg = c }), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_many, bar), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mp_bar_set_label(bar, "renamed"), 0);
    mp_bar_close(bar);     /* returns after the last callback */
    check_calls(c, 20000, pthread_self());
    calls_free(c);

    /* A bar nobody sees is still a handle: updates work, close frees. */
    unsetenv("MPROC_PROGRESS");
    assert_int_equal(mp_bar_open(&bar, 0, NULL), 0);
    assert_non_null(bar);
    assert_int_equal(mp_bar_add(bar, 3), 0);
    assert_int_equal(mp_bar_set(bar, 7), 0);
    assert_int_equal(mp_bar_set_total(bar, 9), 0);
    mp_bar_close(bar);
    mp_bar_close(NULL);

    assert_int_equal(mp_bar_open(NULL, 1, NULL), MP_EINVAL);
    assert_int_equal(mp_bar_add(NULL, 1), MP_EINVAL);
    assert_int_equal(mp_bar_set(NULL, 1), MP_EINVAL);
    assert_int_equal(mp_bar_set_total(NULL, 1), MP_EINVAL);
    assert_int_equal(mp_bar_set_label(NULL, "x"), MP_EINVAL);
    assert_non_null(strstr(mp_last_error(), "NULL"));
}

/* A cancelled call's bar says so in its final line. */
static _Atomic int *started;      /* in shared memory: process workers set it */

static int wait_for_cancel(mp_task *task, const void *in, void *out)
{
    (void)in;
    (void)out;
    atomic_store(started, 1);
    while (!mp_task_cancelled(task))
        usleep(1000);
    return 0;
}

static void *cancel_once_running(void *pool)
{
    while (!atomic_load(started))
        usleep(1000);
    mp_pool_cancel(pool);
    return NULL;
}

static void run_cancelled(void *arg)
{
    mp_backend b = *(mp_backend *)arg;
    mp_pool *pool = open_pool(b, 2);
    atomic_store(started, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_once_running, pool), 0);
    mp_call call = { .progress = { .mode = MP_PROGRESS_FORCE } };
    assert_int_equal(mp_map(pool, wait_for_cancel, NULL, 50, 0, NULL, 0, &call), MP_ECANCELED);
    pthread_join(t, NULL);
    mp_pool_close(pool);
}

static void test_cancelled_final_line(void **state)
{
    (void)state;
    assert_int_equal(mp_shm_alloc(sizeof *started, (void **)&started), 0);
    FOR_EACH_BACKEND(b) {
        char *text = capture_stderr(run_cancelled, &b);
        assert_non_null(strstr(text, ", cancelled]"));
        free(text);
    }
    mp_shm_free((void *)started);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 3 && !strcmp(argv[1], "--terminal-child"))
        return terminal_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_with_a_total),
        cmocka_unit_test(test_line_without_a_total_and_final),
        cmocka_unit_test(test_line_utf8_blocks),
        cmocka_unit_test(test_rate_is_smoothed),
        cmocka_unit_test(test_map_callbacks_every_backend),
        cmocka_unit_test(test_starmap_and_async_callbacks),
        cmocka_unit_test(test_forced_bar_and_the_environment),
        cmocka_unit_test(test_terminal_bar),
        cmocka_unit_test(test_imap_bar_counts_results),
        cmocka_unit_test(test_as_completed_bar),
        cmocka_unit_test(test_own_bar),
        cmocka_unit_test(test_cancelled_final_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
