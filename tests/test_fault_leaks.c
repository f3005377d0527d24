/* labels: fault;pool */
/* test_fault_leaks.c - opening, using, breaking and closing pools many times
 * leaves nothing behind: the same open descriptors (each of them
 * close-on-exec while a pool is open), no child process, no new mapping,
 * no /dev/shm entry, no shared-arena block.  Runs under valgrind as well
 * (with fewer cycles), which checks the heap.  Every count is of this
 * process or of a /dev/shm only its own process tree sees, so other
 * programs running at the same time cannot disturb it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mproc.h>
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_fault_leaks: watchdog expired: a test hung\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(99);
}

/* Entries of a directory whose names contain `part` (every entry if NULL),
 * not counting "." and "..". */
static int count_dir_matching(const char *path, const char *part)
{
    int n = 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' && (!part || strstr(e->d_name, part));
    closedir(d);
    return n;
}

static int count_dir(const char *path)
{
    return count_dir_matching(path, NULL);
}

static bool write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* Enters a mount namespace of this process's own: as root directly,
 * otherwise inside a new user namespace that maps our ids to themselves
 * (where the kernel allows unprivileged user namespaces).  Must be called
 * while the process has one thread (for the user-namespace path). */
static bool enter_own_mount_namespace(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        return true;
    char uid_map[64], gid_map[64];
    snprintf(uid_map, sizeof uid_map, "%d %d 1", (int)getuid(), (int)getuid());
    snprintf(gid_map, sizeof gid_map, "%d %d 1", (int)getgid(), (int)getgid());
    return unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 && write_file("/proc/self/setgroups", "deny") &&
           write_file("/proc/self/uid_map", uid_map) && write_file("/proc/self/gid_map", gid_map);
}

/* /dev/shm is the whole machine's: other programs, among them other tests
 * run in parallel with this one, add and remove names there at any time,
 * and nothing tells who made a name.  So the test mounts a fresh, empty
 * tmpfs on /dev/shm in a mount namespace of its own: this process, and the
 * fork servers and workers it starts (which inherit the namespace), see
 * it; nothing else does.  Every name in it was made by this process tree.
 * Returns false, leaving /dev/shm as it was, where the kernel refuses (a
 * container without the rights to make namespaces). */
static bool private_dev_shm(void)
{
    return enter_own_mount_namespace() &&
           mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&     /* nothing propagates out */
           mount("mproc-test-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") == 0;
}

/* Names in /dev/shm this process tree may have made: all of them in a
 * private /dev/shm; else those carrying this process's id (as any name
 * made to be unique per process does), since the others may be anyone's. */
static int count_own_shm_names(bool private)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    return count_dir_matching("/dev/shm", private ? NULL : pid);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Descriptors open before the test began (the harness's, cmocka's). */
static bool preexisting[1024];

static void note_preexisting(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 1024 && fd != dirfd(d))
            preexisting[fd] = true;
    }
    closedir(d);
}

/* Every descriptor the library opened is close-on-exec. */
static void assert_all_cloexec(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d) || (fd < 1024 && preexisting[fd]))
            continue;
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fail_msg("descriptor %d is not close-on-exec", fd);
    }
    closedir(d);
}

static int square(mp_task *task, const void *in, void *out)
{
    long x = *(const long *)in;
    if (x < 0 && mp_task_index(task) == 3)
        raise(SIGKILL);          /* a cycle where a worker dies */
    *(long *)out = x * x;
    return 0;
}

static void cycle(mp_backend backend, int i)
{
    mp_pool *pool;
    mp_pool_options opts = { .backend = backend, .workers = 2, .maxtasksperchild = i % 5 == 0 ? 7 : 0 };
    if (mp_pool_open(&pool, &opts))
        fail_msg("cycle %d: %s", i, mp_last_error());
    long in[100], out[100];
    bool die = backend == MP_BACKEND_PROCESS && i % 10 == 3;
    for (int k = 0; k < 100; k++)
        in[k] = die ? -k : k;
    mp_failures failed = { 0 };
    int r = mp_map(pool, square, in, 100, sizeof *in, out, sizeof *out, &(mp_call){ .failures = &failed });
    assert_int_equal(r, die ? MP_ETASK : 0);
    assert_int_equal(failed.count, die ? 1 : 0);
    mp_failures_free(&failed);
    if (i == 1)
        assert_all_cloexec();
    if (i % 7 == 6)
        assert_int_equal(mp_pool_terminate(pool), 0);
    else
        assert_int_equal(mp_pool_close(pool), 0);
}

static void test_cycles_leave_nothing(void **state)
{
    (void)state;
    signal(SIGALRM, on_alarm);
    /* A watchdog for a hang, not a speed limit: 2000 pools take under a
     * minute on an idle two-core machine, seven minutes on one loaded 25
     * times over, twenty-two under ThreadSanitizer there (it fires below
     * ctest's 3600 s). */
    alarm(3300);
    const int cycles = RUNNING_ON_VALGRIND ? 20 : 1000;
    const mp_backend backends[] = { MP_BACKEND_PROCESS, MP_BACKEND_THREAD };
    bool private = private_dev_shm();
    if (!private)
        print_message("no private /dev/shm (%s): counting only names carrying pid %d\n", strerror(errno), (int)getpid());
    note_preexisting();
    /* One cycle first: the arena and the thread-stack cache are made once. */
    cycle(MP_BACKEND_PROCESS, 0);
    cycle(MP_BACKEND_THREAD, 0);
    int fds = count_dir("/proc/self/fd"), maps = count_lines("/proc/self/maps");
    int shm_names = count_own_shm_names(private);
    size_t in_use = mp__shm_in_use();
    for (int b = 0; b < 2; b++)
        for (int i = 1; i <= cycles; i++)
            cycle(backends[b], i);
    assert_int_equal(count_dir("/proc/self/fd"), fds);
#ifndef SANITIZED
    assert_int_equal(count_lines("/proc/self/maps"), maps);   /* sanitizer runtimes map as they go */
#else
    (void)maps;
#endif
    assert_int_equal(count_own_shm_names(private), shm_names);
    assert_int_equal(mp__shm_in_use(), in_use);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);   /* no child, not even a zombie */
    assert_int_equal(errno, ECHILD);
    print_message("%d cycles per backend: nothing left behind\n", cycles);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cycles_leave_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
