/* labels: unit */
/* test_elsewhere.c - the scheduler's loop for workers that run tasks
 * elsewhere (mp__shared.send_elsewhere / finish_elsewhere, the MPI
 * backend's proxies), driven by a fake backend that holds every range
 * until the test lets it go.  No MPI: what is checked is the scheduler's
 * side -- the window of ranges in flight, prefetch that leaves other
 * workers their share, ranges of several jobs, results and completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sched.h"
#include "shm.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* The fake backend: ranges sent, in order, and how many the test let
 * finish. */
#define MAX_SENT 4096

typedef struct sent {
    mp__job *job;
    size_t begin, end;
    int worker;
} sent;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    sent ranges[MAX_SENT];
    int nsent;
    int released;            /* ranges finish_elsewhere may return, in send order per worker */
    int finished;
    int waiting;             /* workers blocked in finish_elsewhere */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

static void fake_send(void *arg, int worker, mp__job *job, size_t begin, size_t end)
{
    (void)arg;
    pthread_mutex_lock(&fake.lock);
    assert_true(fake.nsent < MAX_SENT);
    fake.ranges[fake.nsent++] = (sent){ job, begin, end, worker };
    pthread_cond_broadcast(&fake.changed);
    pthread_mutex_unlock(&fake.lock);
}

/* The oldest range this worker sent and has not finished: "runs" it (out
 * = 2 x in) once the test has released that many ranges. */
static void fake_finish(void *arg, int worker, mp__job *job, size_t *begin, size_t *end)
{
    (void)arg;
    pthread_mutex_lock(&fake.lock);
    fake.waiting++;
    pthread_cond_broadcast(&fake.changed);
    while (fake.finished >= fake.released)
        pthread_cond_wait(&fake.changed, &fake.lock);
    fake.waiting--;
    int k = -1;
    for (int i = 0; i < fake.nsent && k < 0; i++)
        if (fake.ranges[i].worker == worker && fake.ranges[i].job)
            k = i;
    assert_true(k >= 0);
    sent r = fake.ranges[k];
    fake.ranges[k].job = NULL;   /* finished */
    fake.finished++;
    pthread_mutex_unlock(&fake.lock);
    assert_ptr_equal(r.job, job);
    for (size_t i = r.begin; i < r.end; i++) {
        int64_t x;
        memcpy(&x, job->in[0] + i * sizeof x, sizeof x);
        x *= 2;
        memcpy(job->out + i * sizeof x, &x, sizeof x);
    }
    *begin = r.begin;
    *end = r.end;
}

static void release(int n)
{
    pthread_mutex_lock(&fake.lock);
    fake.released += n;
    pthread_cond_broadcast(&fake.changed);
    pthread_mutex_unlock(&fake.lock);
}

/* Waits until `workers` workers block in finish_elsewhere with nothing
 * more to send: the window is as full as the scheduler makes it. */
static void wait_blocked(int workers)
{
    pthread_mutex_lock(&fake.lock);
    while (fake.waiting < workers)
        pthread_cond_wait(&fake.changed, &fake.lock);
    pthread_mutex_unlock(&fake.lock);
}

typedef struct worker_arg {
    mp__shared *sh;
    int id;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    mp__sched_worker_main(a->sh, a->id);
    return NULL;
}

static mp__shared *make_block(int workers)
{
    mp__shared *sh;
    assert_int_equal(mp__arena_init(), 0);
    assert_int_equal(mp__sched_create(workers, false, false, &sh), 0);
    sh->send_elsewhere = fake_send;
    sh->finish_elsewhere = fake_finish;
    memset(fake.ranges, 0, sizeof fake.ranges);
    fake.nsent = fake.released = fake.finished = fake.waiting = 0;
    return sh;
}

/* A map job of `count` tasks, guided (chunksize 0) or fixed. */
static mp__job *publish_map(mp__shared *sh, uint64_t seq, const int64_t *in, int64_t *out, size_t count,
                            size_t chunksize)
{
    mp__job *job = mp__sched_reserve(sh, seq);
    assert_non_null(job);
    job->kind = MP__KIND_MAP;
    job->nargs = 1;
    job->in[0] = (const char *)in;
    job->in_size[0] = sizeof *in;
    job->out = (char *)out;
    job->out_size = sizeof *out;
    job->flush_every = 64;
    atomic_store(&job->count, count);
    atomic_store(&job->chunksize, chunksize);
    mp__sched_publish(sh, job);
    return job;
}

static int sent_count(void)
{
    pthread_mutex_lock(&fake.lock);
    int n = fake.nsent;
    pthread_mutex_unlock(&fake.lock);
    return n;
}

static size_t sent_tasks_of(int worker)
{
    size_t n = 0;
    pthread_mutex_lock(&fake.lock);
    for (int i = 0; i < fake.nsent; i++)
        if (fake.ranges[i].worker == worker)
            n += fake.ranges[i].end - fake.ranges[i].begin;
    pthread_mutex_unlock(&fake.lock);
    return n;
}

/* Waits until the job is DONE (ctest's time limit catches a hang). */
static void wait_done(mp__job *job)
{
    while (!mp__job_done(job)) {
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
}

static void finish_all(mp__shared *sh, pthread_t *threads, int n)
{
    release(1 << 20);
    mp__sched_shutdown(sh);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    mp__sched_destroy(sh);
}

/* One worker of two runs, the other is not there yet: prefetch fills the
 * window only up to the worker's share of what is unclaimed, so a guided
 * call keeps most of its tasks for the other worker. */
static void test_prefetch_leaves_others_their_share(void **state)
{
    (void)state;
    enum { N = 64 };
    int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp__shared *sh = make_block(2);
    worker_arg a0 = { sh, 0 }, a1 = { sh, 1 };
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, worker_main, &a0), 0);
    mp__job *job = publish_map(sh, 1, in, out, N, 0);
    wait_blocked(1);
    /* Guided chunks on 2 workers: 16, then 12 (16 < 48/2), then no more
     * (28 >= 36/2).  Taking the window's 8 ranges would be 57 of 64. */
    size_t first = sent_tasks_of(0);
    assert_in_range(first, 1, N / 2);
    assert_true(sent_count() >= 2);   /* it did prefetch */
    /* The other worker arrives and takes its share. */
    assert_int_equal(pthread_create(&t[1], NULL, worker_main, &a1), 0);
    wait_blocked(2);
    assert_true(sent_tasks_of(1) > 0);
    release(1 << 20);
    wait_done(job);
    assert_int_equal(atomic_load(&job->done), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], 2 * i);
    assert_int_equal(sent_tasks_of(0) + sent_tasks_of(1), N);
    mp__sched_free(sh, job);
    finish_all(sh, t, 2);
}

/* Fixed chunks of one task: the window fills up to its 8 ranges, and
 * ranges come back and are counted in order. */
static void test_window_of_small_ranges(void **state)
{
    (void)state;
    enum { N = 1000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp__shared *sh = make_block(1);
    worker_arg a0 = { sh, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &a0), 0);
    mp__job *job = publish_map(sh, 1, in, out, N, 1);
    wait_blocked(1);
    assert_int_equal(sent_count(), MP__ELSEWHERE_WINDOW);
    release(3);
    /* Three back, three more sent: the window is full again. */
    pthread_mutex_lock(&fake.lock);
    while (fake.waiting < 1 || fake.nsent < MP__ELSEWHERE_WINDOW + 3)
        pthread_cond_wait(&fake.changed, &fake.lock);
    pthread_mutex_unlock(&fake.lock);
    assert_int_equal(sent_count(), MP__ELSEWHERE_WINDOW + 3);
    release(1 << 20);
    wait_done(job);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], 2 * i);
    mp__sched_free(sh, job);
    finish_all(sh, &t, 1);
}

/* One-task jobs (futures): one worker keeps ranges of several jobs in
 * flight at once, and each job finishes when its range is back. */
static void test_window_spans_jobs(void **state)
{
    (void)state;
    enum { JOBS = MP__ELSEWHERE_WINDOW + 4 };
    int64_t in[JOBS], out[JOBS];
    mp__job *jobs[JOBS];
    mp__shared *sh = make_block(1);
    for (int i = 0; i < JOBS; i++) {
        in[i] = 100 + i;
        out[i] = 0;
        jobs[i] = publish_map(sh, (uint64_t)i + 1, &in[i], &out[i], 1, 0);
    }
    worker_arg a0 = { sh, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &a0), 0);
    wait_blocked(1);
    assert_int_equal(sent_count(), MP__ELSEWHERE_WINDOW);   /* a full window of jobs from one worker */
    pthread_mutex_lock(&fake.lock);
    for (int k = 0; k < MP__ELSEWHERE_WINDOW; k++)
        assert_ptr_equal(fake.ranges[k].job, jobs[k]);     /* oldest first */
    pthread_mutex_unlock(&fake.lock);
    release(1 << 20);
    for (int i = 0; i < JOBS; i++) {
        wait_done(jobs[i]);
        assert_int_equal(out[i], 2 * (100 + i));
        mp__sched_free(sh, jobs[i]);
    }
    finish_all(sh, &t, 1);
}

/* A claim larger than one send may carry is sent in pieces, each within
 * the limit, and every task still runs once. */
static void test_large_claims_go_in_pieces(void **state)
{
    (void)state;
    enum { N = 1000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mp__shared *sh = make_block(1);
    sh->elsewhere_max_bytes = 10 * (64 + 2 * sizeof(int64_t));   /* ten tasks a piece */
    worker_arg a0 = { sh, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &a0), 0);
    mp__job *job = publish_map(sh, 1, in, out, N, 300);
    release(1 << 20);
    wait_done(job);
    pthread_mutex_lock(&fake.lock);
    size_t total = 0;
    for (int i = 0; i < fake.nsent; i++) {
        assert_true(fake.ranges[i].end - fake.ranges[i].begin <= 10);
        total += fake.ranges[i].end - fake.ranges[i].begin;
    }
    pthread_mutex_unlock(&fake.lock);
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], 2 * i);
    mp__sched_free(sh, job);
    finish_all(sh, &t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefetch_leaves_others_their_share),
        cmocka_unit_test(test_window_of_small_ranges),
        cmocka_unit_test(test_window_spans_jobs),
        cmocka_unit_test(test_large_claims_go_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
