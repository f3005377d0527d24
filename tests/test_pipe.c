/* labels: ipc */
/* test_pipe.c - mp_pipe: whole messages of every size between processes
 * and threads, buffers too small, timeouts, end-of-file on close and on
 * peer death (also of a peer that never used its end), one-way pipes,
 * waiting on several ends, and which process a close acts for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"
#include "shm.h" /* mp__shm_in_use */

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((i * 2654435761u + seed) >> 13))
            return 0;
    return 1;
}

static void join_ok(mp_process *p, int expected)
{
    int code = -1000;
    assert_int_equal(mp_process_join(p, 300), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, expected);
    assert_int_equal(mp_process_close(p), 0);
}

/* Sizes around the interesting edges of a 4 KiB ring. */
static const size_t sizes[] = {0, 1, 7, 8, 9, 100, 4088, 4089, 4096, 5000, 12345, 1 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

typedef struct ends {
    mp_pipe *a, *b;
} ends;

/* Child: echoes every message back, verifying it first, until EOF. */
static int echo(void *arg, size_t size)
{
    (void)size;
    mp_pipe *b = ((ends *)arg)->b;
    for (;;) {
        void *msg;
        size_t n;
        int r = mp_pipe_recv_alloc(b, &msg, &n, 60);
        if (r == MP_EEOF)
            return 0;
        if (r != 0)
            return 1;
        r = mp_pipe_send(b, msg, n, 60);
        free(msg);
        if (r != 0)
            return 2;
    }
}

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 4096), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "echo", echo, &e, sizeof e, 0), 0);
    size_t max = 1 << 20;
    unsigned char *out = malloc(max), *in = malloc(max);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NSIZES; i++) {
            fill(out, sizes[i], (unsigned)i + 1);
            assert_int_equal(mp_pipe_send(e.a, out, sizes[i], 60), 0);
            size_t n = 99;
            assert_int_equal(mp_pipe_recv(e.a, in, max, &n, 60), 0);
            assert_int_equal(n, sizes[i]);
            assert_true(check(in, n, (unsigned)i + 1));
        }
    }
    /* Many small messages in flight at once. */
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(mp_pipe_send(e.a, &i, sizeof i, 60), 0);
    for (unsigned i = 0; i < 200; i++) {
        unsigned v = 0;
        size_t n;
        assert_int_equal(mp_pipe_recv(e.a, &v, sizeof v, &n, 60), 0);
        assert_int_equal(v, i);
    }
    assert_int_equal(mp_pipe_close(e.a), 0);
    join_ok(p, 0);
    assert_int_equal(mp_pipe_close(e.b), 0);
    free(out);
    free(in);
}

/* Random sizes, mostly larger than the 4 KiB ring, in both directions at
 * once: every message arrives whole, in order, with the right bytes. */
typedef struct stream_job {
    mp_pipe *a, *b;
    int n;
} stream_job;

static size_t random_size(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) % 20000;
}

static int stream_peer(void *arg, size_t size)
{
    (void)size;
    stream_job *j = arg;
    static unsigned char buf[20000];
    uint32_t rs = 1, ws = 2;
    for (int i = 0; i < j->n; i++) {
        size_t n, want = random_size(&rs);
        if (mp_pipe_recv(j->b, buf, sizeof buf, &n, 60) != 0 || n != want || !check(buf, n, (unsigned)i))
            return 1;
        n = random_size(&ws);
        fill(buf, n, (unsigned)~i);
        if (mp_pipe_send(j->b, buf, n, 60) != 0)
            return 2;
    }
    return 0;
}

static void test_random_sizes_both_ways(void **state)
{
    (void)state;
    stream_job j = {.n = 3000};
    assert_int_equal(mp_pipe_create(&j.a, &j.b, 0, 4096), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, stream_peer, &j, sizeof j, 0), 0);
    static unsigned char buf[20000];
    uint32_t ws = 1, rs = 2;
    for (int i = 0; i < j.n; i++) {
        size_t n = random_size(&ws);
        fill(buf, n, (unsigned)i);
        assert_int_equal(mp_pipe_send(j.a, buf, n, 60), 0);
        size_t got, want = random_size(&rs);
        assert_int_equal(mp_pipe_recv(j.a, buf, sizeof buf, &got, 60), 0);
        assert_int_equal(got, want);
        assert_true(check(buf, got, (unsigned)~i));
    }
    join_ok(p, 0);
    mp_pipe_close(j.a);
    mp_pipe_close(j.b);
}

static void test_buffer_too_small_and_timeouts(void **state)
{
    (void)state;
    mp_pipe *a, *b;
    assert_int_equal(mp_pipe_create(&a, &b, 0, 0), 0);
    char big[100], small[10];
    fill((unsigned char *)big, sizeof big, 5);
    assert_int_equal(mp_pipe_send(b, big, sizeof big, 0), 0);
    size_t n = 0;
    assert_int_equal(mp_pipe_recv(a, small, sizeof small, &n, 0), MP_ERANGE);
    assert_int_equal(n, 100);
    assert_int_equal(mp_pipe_poll(a, 0), 0); /* still there */
    void *msg;
    assert_int_equal(mp_pipe_recv_alloc(a, &msg, &n, 0), 0);
    assert_int_equal(n, 100);
    assert_true(check(msg, n, 5));
    free(msg);

    assert_int_equal(mp_pipe_recv(a, small, sizeof small, &n, 0), MP_EAGAIN);
    assert_int_equal(mp_pipe_recv(a, small, sizeof small, &n, 0.02), MP_ETIMEDOUT);
    assert_int_equal(mp_pipe_poll(a, 0.01), MP_ETIMEDOUT);
    assert_int_equal(mp_pipe_recv(a, small, sizeof small, &n, -3), MP_EINVAL);
    assert_int_equal(mp_pipe_recv(a, small, sizeof small, NULL, 0), MP_EINVAL);
    assert_int_equal(mp_pipe_send(a, NULL, 5, 0), MP_EINVAL);
    assert_int_equal(mp_pipe_send(a, NULL, 0, 0), 0); /* empty message */
    assert_int_equal(mp_pipe_recv(b, NULL, 0, &n, 0), 0);
    assert_int_equal(n, 0);

    /* Fill a small ring: a message that does not fit times out whole. */
    mp_pipe *c, *d;
    assert_int_equal(mp_pipe_create(&c, &d, 0, 4096), 0);
    char chunk[1000] = {0};
    int sent = 0;
    while (mp_pipe_send(c, chunk, sizeof chunk, 0) == 0)
        sent++;
    assert_int_equal(sent, 4);
    assert_int_equal(mp_pipe_send(c, chunk, sizeof chunk, 0.02), MP_ETIMEDOUT);
    for (int i = 0; i < sent; i++)
        assert_int_equal(mp_pipe_recv(d, chunk, sizeof chunk, &n, 0), 0);
    assert_int_equal(mp_pipe_recv(d, chunk, sizeof chunk, &n, 0), MP_EAGAIN);

    assert_int_equal(mp_pipe_close(a), 0);
    assert_int_equal(mp_pipe_close(a), MP_ECLOSED);
    assert_int_equal(mp_pipe_send(a, "x", 1, 0), MP_ECLOSED);
    assert_int_equal(mp_pipe_send(b, "x", 1, 0), MP_EEOF);
    assert_int_equal(mp_pipe_close(b), 0);
    mp_pipe_close(c);
    mp_pipe_close(d);
    assert_int_equal(mp_pipe_create(NULL, &b, 0, 0), MP_EINVAL);
    assert_int_equal(mp_pipe_create(&a, &b, 8, 0), MP_EINVAL);
}

static int send_three_then_close(void *arg, size_t size)
{
    (void)size;
    mp_pipe *b = ((ends *)arg)->b;
    for (int i = 0; i < 3; i++)
        if (mp_pipe_send(b, &i, sizeof i, 10) != 0)
            return 1;
    return mp_pipe_close(b) == 0 ? 0 : 2;
}

static void test_eof_on_close(void **state)
{
    (void)state;
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 0), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, send_three_then_close, &e, sizeof e, 0), 0);
    for (int i = 0; i < 3; i++) {
        int v = -1;
        size_t n;
        assert_int_equal(mp_pipe_recv(e.a, &v, sizeof v, &n, 30), 0);
        assert_int_equal(v, i);
    }
    size_t n;
    int v;
    assert_int_equal(mp_pipe_recv(e.a, &v, sizeof v, &n, 30), MP_EEOF);
    assert_int_equal(mp_pipe_poll(e.a, 0), 0); /* EOF counts as ready */
    join_ok(p, 0);
    assert_int_equal(mp_pipe_close(e.a), 0);
}

static int recv_one_then_die(void *arg, size_t size)
{
    (void)size;
    mp_pipe *b = ((ends *)arg)->b;
    char c;
    size_t n;
    if (mp_pipe_recv(b, &c, 1, &n, 30) != 0)
        return 1;
    raise(SIGKILL);
    return 2;
}

static void test_eof_on_peer_death(void **state)
{
    (void)state;
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 4096), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, recv_one_then_die, &e, sizeof e, 0), 0);
    assert_int_equal(mp_pipe_send(e.a, "x", 1, 10), 0);
    size_t n;
    char buf[8];
    /* The child is a zombie until joined: already dead for the pipe. */
    assert_int_equal(mp_pipe_recv(e.a, buf, sizeof buf, &n, 30), MP_EEOF);
    /* A sender blocked on a full ring gets EOF as well. */
    static char chunk[20000];
    assert_int_equal(mp_pipe_send(e.a, chunk, sizeof chunk, 30), MP_EEOF);
    join_ok(p, -SIGKILL);
    assert_int_equal(mp_pipe_close(e.a), 0);
    assert_int_equal(mp_pipe_close(e.b), 0); /* the dead process's end */
}

/* --- a peer that never touched its end ------------------------------------
 * The ends the creator has not used pass to the child it starts next, so
 * the child's death is end-of-file even if the child never did anything. */
static int exit_at_once(void *arg, size_t size)
{
    (void)arg, (void)size;
    return 0;
}

static int die_at_once(void *arg, size_t size)
{
    (void)arg, (void)size;
    raise(SIGKILL);
    return 1;
}

static void test_eof_when_peer_never_used_its_end(void **state)
{
    (void)state;
    static const mp_process_fn children[] = {exit_at_once, die_at_once};
    static const int codes[] = {0, -SIGKILL};
    size_t before = mp__shm_in_use();
    for (int i = 0; i < 2; i++) {
        ends e;
        assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 4096), 0);
        mp_process *p;
        assert_int_equal(mp_process_start(&p, NULL, children[i], &e, sizeof e, 0), 0);
        char buf[8];
        size_t n;
        alarm(60); /* a hang kills the test program: a failure, not a stall */
        assert_int_equal(mp_pipe_recv(e.a, buf, sizeof buf, &n, MP_FOREVER), MP_EEOF);
        static char chunk[20000]; /* more than the ring holds: must wait */
        assert_int_equal(mp_pipe_send(e.a, chunk, sizeof chunk, MP_FOREVER), MP_EEOF);
        alarm(0);
        join_ok(p, codes[i]);
        /* The dead child's end is closed in its place: nothing leaks. */
        assert_int_equal(mp_pipe_close(e.a), 0);
        assert_int_equal(mp_pipe_close(e.b), 0);
    }
    assert_int_equal(mp__shm_in_use(), before);
}

/* --- who a close acts for --------------------------------------------------
 * Python's idiom: each side closes the end it does not use.  The child's
 * close of `a` and the parent's close of `b` release only their own views;
 * the child's close of `b`, the end it used, is end-of-file for the parent. */
static int talk_then_close(void *arg, size_t size)
{
    (void)size;
    ends *e = arg;
    char buf[8];
    size_t n;
    if (mp_pipe_close(e->a) != 0)
        return 1;
    if (mp_pipe_send(e->b, "hi", 3, 10) != 0 || mp_pipe_recv(e->b, buf, sizeof buf, &n, 10) != 0)
        return 2;
    if (n != 3 || strcmp(buf, "yo") != 0)
        return 3;
    return mp_pipe_close(e->b) == 0 ? 0 : 4;
}

static void test_each_side_closes_the_end_it_does_not_use(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 0), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, talk_then_close, &e, sizeof e, 0), 0);
    assert_int_equal(mp_pipe_close(e.b), 0); /* the child's end now */
    char buf[8];
    size_t n;
    assert_int_equal(mp_pipe_recv(e.a, buf, sizeof buf, &n, 10), 0);
    assert_string_equal(buf, "hi");
    assert_int_equal(mp_pipe_send(e.a, "yo", 3, 10), 0);
    assert_int_equal(mp_pipe_recv(e.a, buf, sizeof buf, &n, 10), MP_EEOF);
    join_ok(p, 0);
    assert_int_equal(mp_pipe_close(e.a), 0); /* the last end: frees the pipe */
    assert_int_equal(mp__shm_in_use(), before);
}

/* The pipe's memory belongs to its creator: a child that closes its end
 * first does not free it under the parent, which closes both of its
 * handles last, in any order. */
static int send_one_then_close(void *arg, size_t size)
{
    (void)size;
    ends *e = arg;
    if (mp_pipe_send(e->b, "z", 1, 10) != 0)
        return 1;
    return mp_pipe_close(e->b) == 0 ? 0 : 2;
}

static void test_creator_closes_both_ends_last(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    for (int order = 0; order < 2; order++) {
        ends e;
        assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 0), 0);
        mp_process *p;
        assert_int_equal(mp_process_start(&p, NULL, send_one_then_close, &e, sizeof e, 0), 0);
        char c;
        size_t n;
        assert_int_equal(mp_pipe_recv(e.a, &c, 1, &n, 10), 0);
        assert_int_equal(mp_pipe_recv(e.a, &c, 1, &n, 10), MP_EEOF);
        join_ok(p, 0);
        assert_int_equal(mp_pipe_close(order ? e.b : e.a), 0);
        assert_int_equal(mp_pipe_close(order ? e.a : e.b), 0);
        assert_int_equal(mp_pipe_close(e.a), MP_EINVAL); /* released now */
    }
    assert_int_equal(mp__shm_in_use(), before);
}

/* A child made with plain fork() that closes the ends it inherited leaves
 * the parent's pipe working. */
static void test_forked_child_closes_only_its_view(void **state)
{
    (void)state;
    size_t before = mp__shm_in_use();
    mp_pipe *a, *b;
    assert_int_equal(mp_pipe_create(&a, &b, 0, 0), 0);
    assert_int_equal(mp_pipe_send(a, "x", 1, 0), 0); /* used by the parent */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(mp_pipe_close(a) == 0 && mp_pipe_close(b) == 0 ? 0 : 1);
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char c = 0;
    size_t n;
    assert_int_equal(mp_pipe_recv(b, &c, 1, &n, 5), 0);
    assert_int_equal(c, 'x');
    assert_int_equal(mp_pipe_send(b, "y", 1, 5), 0);
    assert_int_equal(mp_pipe_recv(a, &c, 1, &n, 5), 0);
    assert_int_equal(c, 'y');
    assert_int_equal(mp_pipe_close(a), 0);
    assert_int_equal(mp_pipe_close(b), 0);
    assert_int_equal(mp__shm_in_use(), before);
}

static int block_in_recv(void *arg, size_t size)
{
    (void)size;
    char c;
    size_t n;
    mp_pipe_recv(((ends *)arg)->b, &c, 1, &n, 30);
    return 1;
}

static void test_killed_waiter_leaves_end_usable(void **state)
{
    (void)state;
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 0), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, block_in_recv, &e, sizeof e, 0), 0);
    usleep(20000); /* let it hold the receive lock while it waits */
    mp_process_kill(p);
    join_ok(p, -SIGKILL);
    /* The parent takes the dead child's end over: nothing was lost. */
    assert_int_equal(mp_pipe_send(e.a, "m", 1, 5), 0);
    char c = 0;
    size_t n;
    assert_int_equal(mp_pipe_recv(e.b, &c, 1, &n, 5), 0);
    assert_int_equal(c, 'm');
    mp_pipe_close(e.a);
    mp_pipe_close(e.b);
}

static int send_huge(void *arg, size_t size)
{
    (void)size;
    static char huge[1 << 20];
    mp_pipe_send(((ends *)arg)->b, huge, sizeof huge, 30);
    return 1;
}

static void test_sender_killed_mid_message(void **state)
{
    (void)state;
    ends e;
    assert_int_equal(mp_pipe_create(&e.a, &e.b, 0, 4096), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, send_huge, &e, sizeof e, 0), 0);
    assert_int_equal(mp_pipe_poll(e.a, 10), 0); /* its first bytes are out */
    mp_process_kill(p);
    join_ok(p, -SIGKILL);
    void *msg;
    size_t n;
    assert_int_equal(mp_pipe_recv_alloc(e.a, &msg, &n, 10), MP_EEOF);
    assert_int_equal(mp_pipe_recv_alloc(e.a, &msg, &n, 10), MP_EEOF);
    mp_pipe_close(e.a);
    mp_pipe_close(e.b);
}

static void test_simplex_and_wait(void **state)
{
    (void)state;
    mp_pipe *r1, *w1, *r2, *w2;
    assert_int_equal(mp_pipe_create(&r1, &w1, MP_PIPE_SIMPLEX, 0), 0);
    assert_int_equal(mp_pipe_create(&r2, &w2, MP_PIPE_SIMPLEX, 0), 0);
    size_t n;
    char c;
    assert_int_equal(mp_pipe_send(r1, "x", 1, 0), MP_EINVAL);
    assert_int_equal(mp_pipe_recv(w1, &c, 1, &n, 0), MP_EINVAL);
    mp_pipe *set[2] = {r1, r2};
    int ready[2] = {7, 7};
    assert_int_equal(mp_pipe_wait(set, 2, 0, ready), MP_EAGAIN);
    assert_int_equal(mp_pipe_wait(set, 2, 0.02, ready), MP_ETIMEDOUT);
    assert_int_equal(ready[0], 7); /* untouched on failure */
    assert_int_equal(mp_pipe_send(w2, "y", 1, 0), 0);
    assert_int_equal(mp_pipe_wait(set, 2, 1, ready), 1);
    assert_int_equal(ready[0], 0);
    assert_int_equal(ready[1], 1);
    assert_int_equal(mp_pipe_wait(set, 0, 1, ready), MP_EINVAL);
    mp_pipe *bad[1] = {w1};
    assert_int_equal(mp_pipe_wait(bad, 1, 0, ready), MP_EINVAL);
    mp_pipe_close(r1);
    mp_pipe_close(w1);
    mp_pipe_close(r2);
    mp_pipe_close(w2);
}

static void test_wait_on_many(void **state)
{
    (void)state;
    enum { N = 70 }; /* more than fit the on-stack bookkeeping */
    mp_pipe *r[N], *w[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(mp_pipe_create(&r[i], &w[i], MP_PIPE_SIMPLEX, 4096), 0);
    int ready[N];
    assert_int_equal(mp_pipe_wait(r, N, 0.01, ready), MP_ETIMEDOUT);
    assert_int_equal(mp_pipe_send(w[N - 1], "a", 1, 0), 0);
    assert_int_equal(mp_pipe_send(w[3], "b", 1, 0), 0);
    assert_int_equal(mp_pipe_wait(r, N, 1, ready), 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(ready[i], i == 3 || i == N - 1);
    for (int i = 0; i < N; i++) {
        mp_pipe_close(r[i]);
        mp_pipe_close(w[i]);
    }
}

static int send_later(void *arg, size_t size)
{
    (void)size;
    usleep(30000);
    return mp_pipe_send(((ends *)arg)->b, "z", 1, 10) == 0 ? 0 : 1;
}

static void test_wait_sleeps_until_send(void **state)
{
    (void)state;
    ends e1, e2;
    assert_int_equal(mp_pipe_create(&e1.a, &e1.b, 0, 0), 0);
    assert_int_equal(mp_pipe_create(&e2.a, &e2.b, 0, 0), 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, send_later, &e2, sizeof e2, 0), 0);
    mp_pipe *set[2] = {e1.a, e2.a};
    int ready[2];
    assert_int_equal(mp_pipe_wait(set, 2, 30, ready), 1);
    assert_int_equal(ready[1], 1);
    join_ok(p, 0);
    mp_pipe_close(e1.a);
    mp_pipe_close(e1.b);
    mp_pipe_close(e2.a);
    mp_pipe_close(e2.b);
}

/* Threads sharing one end: messages stay whole. */
typedef struct thread_arg {
    mp_pipe *end;
    unsigned seed;
} thread_arg;

static void *thread_sender(void *arg)
{
    thread_arg *t = arg;
    unsigned char buf[3000];
    for (int i = 0; i < 500; i++) {
        size_t n = 1 + (size_t)(i * 37 + t->seed) % (sizeof buf - 4);
        fill(buf + 4, n, t->seed);
        memcpy(buf, &t->seed, 4);
        if (mp_pipe_send(t->end, buf, n + 4, 30) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_threads_share_an_end(void **state)
{
    (void)state;
    mp_pipe *a, *b;
    assert_int_equal(mp_pipe_create(&a, &b, 0, 8192), 0);
    pthread_t t[2];
    thread_arg args[2] = {{b, 11}, {b, 22}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_sender, &args[i]), 0);
    unsigned char buf[4000];
    for (int i = 0; i < 1000; i++) {
        size_t n;
        assert_int_equal(mp_pipe_recv(a, buf, sizeof buf, &n, 30), 0);
        unsigned seed;
        memcpy(&seed, buf, 4);
        assert_true(seed == 11 || seed == 22);
        assert_true(check(buf + 4, n - 4, seed));
    }
    for (int i = 0; i < 2; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    mp_pipe_close(a);
    mp_pipe_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_random_sizes_both_ways),
        cmocka_unit_test(test_buffer_too_small_and_timeouts),
        cmocka_unit_test(test_eof_on_close),
        cmocka_unit_test(test_eof_on_peer_death),
        cmocka_unit_test(test_eof_when_peer_never_used_its_end),
        cmocka_unit_test(test_each_side_closes_the_end_it_does_not_use),
        cmocka_unit_test(test_creator_closes_both_ends_last),
        cmocka_unit_test(test_forked_child_closes_only_its_view),
        cmocka_unit_test(test_killed_waiter_leaves_end_usable),
        cmocka_unit_test(test_sender_killed_mid_message),
        cmocka_unit_test(test_simplex_and_wait),
        cmocka_unit_test(test_wait_sleeps_until_send),
        cmocka_unit_test(test_wait_on_many),
        cmocka_unit_test(test_threads_share_an_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
