/* labels: ipc */
/* test_process.c - mp_process: start, names, exit codes, join timeouts,
 * terminate/kill, daemon children, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mproc.h"

#include <signal.h>
#include <stdio.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_join_exitcode),
        cmocka_unit_test(test_timeout_terminate_kill),
        cmocka_unit_test(test_daemon_dies_with_parent),
        cmocka_unit_test(test_many_children_reaped),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
