/* labels: ipc */
/* test_sync.c - locks, semaphores, events, conditions and barriers, between
 * threads and between processes; robust locks whose holder is killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Memory shared by the test and its children. */
typedef struct shared {
    mp_lock lock;
    mp_rlock rlock;
    mp_sem sem;
    mp_event ready, go;
    mp_cond cond;
    mp_barrier barrier;
    long counter;
    int items;
} shared;

static shared *sh;

static int setup(void **state)
{
    (void)state;
    void *mem;
    if (mp_shm_alloc(sizeof(shared), &mem) != 0)
        return -1;
    sh = mem;
    mp_lock_init(&sh->lock);
    mp_rlock_init(&sh->rlock);
    mp_sem_init(&sh->sem, 0, 0);
    mp_event_init(&sh->ready);
    mp_event_init(&sh->go);
    mp_cond_init(&sh->cond);
    mp_barrier_init(&sh->barrier, 4);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mp_shm_free(sh);
    return 0;
}

static void join_ok(mp_process *p, int expected)
{
    int code = -1000;
    assert_int_equal(mp_process_join(p, 30), 0);
    assert_int_equal(mp_process_exitcode(p, &code), 0);
    assert_int_equal(code, expected);
    assert_int_equal(mp_process_close(p), 0);
}

/* --- mp_lock ------------------------------------------------------------ */

static int count_with_lock(void *arg, size_t size)
{
    (void)size;
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        if (mp_lock_acquire(&sh->lock, MP_FOREVER) != 0)
            return 1;
        sh->counter++;
        mp_lock_release(&sh->lock);
    }
    return 0;
}

static void test_lock_counter_processes(void **state)
{
    (void)state;
    int n = 20000;
    sh->counter = 0;
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, count_with_lock, &n, sizeof n, 0), 0);
    assert_int_equal(count_with_lock(&n, sizeof n), 0);
    for (int i = 0; i < 3; i++)
        join_ok(p[i], 0);
    assert_int_equal(sh->counter, 4L * n);
}

static void *count_thread(void *arg)
{
    count_with_lock(arg, 0);
    return NULL;
}

static void test_lock_counter_threads(void **state)
{
    (void)state;
    int n = 20000;
    sh->counter = 0;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_thread, &n), 0);
    count_with_lock(&n, 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(sh->counter, 4L * n);
}

static int hold_lock_until_go(void *arg, size_t size)
{
    (void)arg, (void)size;
    if (mp_lock_acquire(&sh->lock, MP_FOREVER) != 0)
        return 1;
    mp_event_set(&sh->ready);
    mp_event_wait(&sh->go, 30);
    mp_lock_release(&sh->lock);
    return 0;
}

static void test_lock_timeouts_and_misuse(void **state)
{
    (void)state;
    mp_event_clear(&sh->ready);
    mp_event_clear(&sh->go);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "holder", hold_lock_until_go, NULL, 0, 0), 0);
    assert_int_equal(mp_event_wait(&sh->ready, 30), 0);
    assert_int_equal(mp_lock_acquire(&sh->lock, 0), MP_EAGAIN);
    assert_int_equal(mp_lock_acquire(&sh->lock, 0.05), MP_ETIMEDOUT);
    assert_int_equal(mp_lock_acquire(&sh->lock, -2), MP_EINVAL);
    assert_int_equal(mp_lock_acquire(&sh->lock, NAN), MP_EINVAL);
    assert_int_equal(mp_lock_release(&sh->lock), MP_EINVAL); /* not ours */
    mp_event_set(&sh->go);
    assert_int_equal(mp_lock_acquire(&sh->lock, 30), 0);
    assert_int_equal(mp_lock_acquire(&sh->lock, 0), MP_EINVAL); /* would deadlock */
    assert_int_equal(mp_lock_release(&sh->lock), 0);
    join_ok(p, 0);

    mp_lock *l;
    assert_int_equal(mp_lock_create(&l), 0);
    assert_int_equal(mp_lock_acquire(l, 0), 0);
    assert_int_equal(mp_lock_release(l), 0);
    assert_int_equal(mp_lock_destroy(l), 0);
    mp_lock local;
    mp_lock_init(&local);
    mp_lock_destroy(&local);
    assert_int_equal(mp_lock_acquire(&local, 0), MP_EINVAL);
    assert_int_equal(mp_lock_acquire(NULL, 0), MP_EINVAL);
    assert_int_equal(mp_lock_create(NULL), MP_EINVAL);
}

/* --- owner death ---------------------------------------------------------- */

enum { KIND_LOCK, KIND_RLOCK, KIND_COND };

static int die_holding(void *arg, size_t size)
{
    (void)size;
    int kind = *(int *)arg;
    int r = 0;
    if (kind == KIND_LOCK)
        r = mp_lock_acquire(&sh->lock, MP_FOREVER);
    else if (kind == KIND_RLOCK)
        r = mp_rlock_acquire(&sh->rlock, MP_FOREVER) | mp_rlock_acquire(&sh->rlock, MP_FOREVER);
    else
        r = mp_cond_acquire(&sh->cond, MP_FOREVER);
    if (r != 0)
        return 1;
    mp_event_set(&sh->ready);
    raise(SIGKILL);
    return 2;
}

static void killed_holder(int kind)
{
    mp_event_clear(&sh->ready);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "doomed", die_holding, &kind, sizeof kind, 0), 0);
    assert_int_equal(mp_event_wait(&sh->ready, 30), 0);
    int r;
    /* Before the child is reaped it is a zombie: already dead for us. */
    if (kind == KIND_LOCK) {
        r = mp_lock_acquire(&sh->lock, 10);
        assert_int_equal(r, MP_EOWNERDEAD);
        assert_int_equal(mp_lock_release(&sh->lock), 0);
        assert_int_equal(mp_lock_acquire(&sh->lock, 0), 0);
        assert_int_equal(mp_lock_release(&sh->lock), 0);
    } else if (kind == KIND_RLOCK) {
        r = mp_rlock_acquire(&sh->rlock, 10);
        assert_int_equal(r, MP_EOWNERDEAD);
        /* The dead owner's recursion depth is not inherited. */
        assert_int_equal(mp_rlock_release(&sh->rlock), 0);
        assert_int_equal(mp_rlock_release(&sh->rlock), MP_EINVAL);
    } else {
        r = mp_cond_acquire(&sh->cond, 10);
        assert_int_equal(r, MP_EOWNERDEAD);
        assert_int_equal(mp_cond_release(&sh->cond), 0);
    }
    join_ok(p, -SIGKILL);
}

static void test_killed_lock_holder(void **state) { (void)state; killed_holder(KIND_LOCK); }
static void test_killed_rlock_holder(void **state) { (void)state; killed_holder(KIND_RLOCK); }
static void test_killed_cond_holder(void **state) { (void)state; killed_holder(KIND_COND); }

/* A caller that only tries (timeout 0) takes a dead holder's lock too:
 * otherwise a non-blocking user would be refused forever. */
static void test_killed_holder_try_acquire(void **state)
{
    (void)state;
    mp_event_clear(&sh->ready);
    int kind = KIND_LOCK;
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "doomed", die_holding, &kind, sizeof kind, 0), 0);
    join_ok(p, -SIGKILL);
    assert_int_equal(mp_lock_acquire(&sh->lock, 0), MP_EOWNERDEAD);
    assert_int_equal(mp_lock_release(&sh->lock), 0);
}

static int heir_candidate(void *arg, size_t size)
{
    (void)arg, (void)size;
    int r = mp_lock_acquire(&sh->lock, 30);
    if (r != 0 && r != MP_EOWNERDEAD)
        return 2;
    mp_lock_release(&sh->lock);
    return r == MP_EOWNERDEAD;
}

static void test_killed_holder_one_heir(void **state)
{
    (void)state;
    /* Two waiters notice the death; exactly one inherits the lock. */
    mp_event_clear(&sh->ready);
    int kind = KIND_LOCK;
    mp_process *p;
    assert_int_equal(mp_process_start(&p, "doomed", die_holding, &kind, sizeof kind, 0), 0);
    assert_int_equal(mp_event_wait(&sh->ready, 30), 0);
    mp_process *w;
    assert_int_equal(mp_process_start(&w, "waiter", heir_candidate, NULL, 0, 0), 0);
    int r = mp_lock_acquire(&sh->lock, 10);
    assert_true(r == 0 || r == MP_EOWNERDEAD);
    mp_lock_release(&sh->lock);
    join_ok(p, -SIGKILL);
    int code = -1;
    assert_int_equal(mp_process_join(w, 30), 0);
    assert_int_equal(mp_process_exitcode(w, &code), 0);
    mp_process_close(w);
    assert_true((r == MP_EOWNERDEAD) != (code == 1));
}

/* --- mp_rlock ------------------------------------------------------------ */

static void test_rlock(void **state)
{
    (void)state;
    mp_rlock *l;
    assert_int_equal(mp_rlock_create(&l), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mp_rlock_acquire(l, 0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mp_rlock_release(l), 0);
    assert_int_equal(mp_rlock_release(l), MP_EINVAL);
    assert_int_equal(mp_rlock_destroy(l), 0);
}

/* --- mp_sem ---------------------------------------------------------------- */

static int sem_poster(void *arg, size_t size)
{
    (void)arg, (void)size;
    for (int i = 0; i < 1000; i++)
        if (mp_sem_release(&sh->sem) != 0)
            return 1;
    return 0;
}

static void test_semaphore(void **state)
{
    (void)state;
    mp_sem_init(&sh->sem, 0, 0);
    mp_process *p;
    assert_int_equal(mp_process_start(&p, NULL, sem_poster, NULL, 0, 0), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mp_sem_acquire(&sh->sem, 30), 0);
    join_ok(p, 0);
    assert_int_equal(mp_sem_acquire(&sh->sem, 0), MP_EAGAIN);
    assert_int_equal(mp_sem_acquire(&sh->sem, 0.02), MP_ETIMEDOUT);

    mp_sem *b;
    assert_int_equal(mp_sem_create(&b, 2, 2), 0);
    assert_int_equal(mp_sem_release(b), MP_EINVAL); /* above the bound */
    assert_int_equal(mp_sem_acquire(b, 0), 0);
    assert_int_equal(mp_sem_release(b), 0);
    unsigned v = 0;
    assert_int_equal(mp_sem_value(b, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(mp_sem_destroy(b), 0);
    assert_int_equal(mp_sem_create(&b, 3, 2), MP_EINVAL);
}

/* --- mp_event ----------------------------------------------------------- */

static int event_waiter(void *arg, size_t size)
{
    (void)arg, (void)size;
    mp_event_set(&sh->ready);
    /* One waits without limit, one with a timeout too large to compute. */
    return mp_event_wait(&sh->go, getpid() % 2 ? MP_FOREVER : 1e300) == 0 ? 0 : 1;
}

static void test_event(void **state)
{
    (void)state;
    mp_event_clear(&sh->ready);
    mp_event_clear(&sh->go);
    mp_process *p[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, event_waiter, NULL, 0, 0), 0);
    assert_int_equal(mp_event_wait(&sh->ready, 30), 0);
    assert_int_equal(mp_event_wait(&sh->go, 0), MP_EAGAIN);
    assert_int_equal(mp_event_wait(&sh->go, 0.02), MP_ETIMEDOUT);
    usleep(20000); /* let the children sleep in the kernel */
    assert_int_equal(mp_event_set(&sh->go), 0);
    assert_true(mp_event_is_set(&sh->go));
    for (int i = 0; i < 2; i++)
        join_ok(p[i], 0);
    mp_event_clear(&sh->go);
    assert_false(mp_event_is_set(&sh->go));
}

/* --- mp_cond -------------------------------------------------------------- */

static int has_items(void *arg)
{
    (void)arg;
    return sh->items > 0;
}

static int cond_consumer(void *arg, size_t size)
{
    (void)arg, (void)size;
    int got = 0;
    while (got < 500) {
        if (mp_cond_acquire(&sh->cond, 30) != 0)
            return 1;
        if (mp_cond_wait_for(&sh->cond, has_items, NULL, 30) != 0)
            return 2;
        sh->items--;
        got++;
        mp_cond_release(&sh->cond);
    }
    return 0;
}

static void test_condition(void **state)
{
    (void)state;
    sh->items = 0;
    mp_process *p[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, cond_consumer, NULL, 0, 0), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mp_cond_acquire(&sh->cond, 30), 0);
        sh->items++;
        assert_int_equal(mp_cond_notify(&sh->cond, 1), 0);
        assert_int_equal(mp_cond_release(&sh->cond), 0);
    }
    for (int i = 0; i < 2; i++)
        join_ok(p[i], 0);
    assert_int_equal(sh->items, 0);

    assert_int_equal(mp_cond_wait(&sh->cond, 0), MP_EINVAL); /* lock not held */
    assert_int_equal(mp_cond_notify(&sh->cond, 1), MP_EINVAL);
    assert_int_equal(mp_cond_acquire(&sh->cond, 0), 0);
    assert_int_equal(mp_cond_acquire(&sh->cond, 0), 0); /* recursive */
    assert_int_equal(mp_cond_wait(&sh->cond, 0.02), MP_ETIMEDOUT);
    assert_int_equal(mp_cond_notify(&sh->cond, 0), MP_EINVAL);
    assert_int_equal(mp_cond_notify_all(&sh->cond), 0);
    assert_int_equal(mp_cond_release(&sh->cond), 0);
    assert_int_equal(mp_cond_release(&sh->cond), 0);
    assert_int_equal(mp_cond_release(&sh->cond), MP_EINVAL);
}

/* --- mp_barrier ----------------------------------------------------------- */

static int barrier_party(void *arg, size_t size)
{
    (void)arg, (void)size;
    for (int g = 0; g < 200; g++) {
        unsigned idx;
        if (mp_barrier_wait(&sh->barrier, 30, &idx) != 0 || idx >= 4)
            return 1;
        __atomic_fetch_add(&sh->counter, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

static void test_barrier(void **state)
{
    (void)state;
    mp_barrier_init(&sh->barrier, 4);
    sh->counter = 0;
    mp_process *p[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(mp_process_start(&p[i], NULL, barrier_party, NULL, 0, 0), 0);
    assert_int_equal(barrier_party(NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        join_ok(p[i], 0);
    assert_int_equal(sh->counter, 800);

    /* A lone waiter times out and breaks the barrier for everyone. */
    assert_int_equal(mp_barrier_wait(&sh->barrier, 0.02, NULL), MP_ETIMEDOUT);
    assert_true(mp_barrier_broken(&sh->barrier));
    assert_int_equal(mp_barrier_wait(&sh->barrier, 1, NULL), MP_EBROKEN);
    assert_int_equal(mp_barrier_reset(&sh->barrier), 0);
    assert_false(mp_barrier_broken(&sh->barrier));
    assert_int_equal(mp_barrier_abort(&sh->barrier), 0);
    assert_int_equal(mp_barrier_wait(&sh->barrier, 1, NULL), MP_EBROKEN);
    mp_barrier_reset(&sh->barrier);

    mp_barrier *b;
    assert_int_equal(mp_barrier_create(&b, 1), 0);
    unsigned idx = 9;
    assert_int_equal(mp_barrier_wait(b, 0, &idx), 0);
    assert_int_equal(idx, 0);
    assert_int_equal(mp_barrier_destroy(b), 0);
    assert_int_equal(mp_barrier_create(&b, 0), MP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_counter_processes),
        cmocka_unit_test(test_lock_counter_threads),
        cmocka_unit_test(test_lock_timeouts_and_misuse),
        cmocka_unit_test(test_killed_lock_holder),
        cmocka_unit_test(test_killed_rlock_holder),
        cmocka_unit_test(test_killed_cond_holder),
        cmocka_unit_test(test_killed_holder_try_acquire),
        cmocka_unit_test(test_killed_holder_one_heir),
        cmocka_unit_test(test_rlock),
        cmocka_unit_test(test_semaphore),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_condition),
        cmocka_unit_test(test_barrier),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
