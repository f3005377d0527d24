/* ipc.c - thread ids, liveness checks and bounded futex sleeps shared by
 * the inter-process modules (see ipc.h). */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Thread_local uint32_t mp__spin_budget = MP__SPIN_START;
static _Thread_local uint32_t cached_tid;
static _Atomic uint32_t cached_pid;

/* The live mp_process children of this process, with the sequence number
 * of their start.  Few and short-lived, so a small array searched in full
 * is enough. */
typedef struct child_record {
    uint32_t pid;
    uint64_t seq;
} child_record;

static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;
static child_record *children;
static size_t children_len, children_cap;
static uint64_t children_seq;

/* fork() gives the child new ids, but copies the parent's caches and its
 * list of children (perhaps with the list's lock held by another thread):
 * forget them there. */
static void forget_parent_state(void)
{
    cached_tid = 0;
    atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
    pthread_mutex_init(&children_lock, NULL);
    children_len = 0;
}

__attribute__((constructor)) static void ipc_register_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_parent_state);
}

void mp__child_started(uint32_t pid)
{
    pthread_mutex_lock(&children_lock);
    uint64_t seq = ++children_seq;
    if (children_len == children_cap) {
        size_t cap = children_cap ? 2 * children_cap : 16;
        child_record *grown = realloc(children, cap * sizeof *grown);
        if (grown) {
            children = grown;
            children_cap = cap;
        }
    }
    /* Out of memory: the child goes unrecorded, as if it had ended at once,
     * which can only turn a wait on it into an early end-of-file. */
    if (children_len < children_cap)
        children[children_len++] = (child_record){pid, seq};
    pthread_mutex_unlock(&children_lock);
}

void mp__child_ended(uint32_t pid)
{
    pthread_mutex_lock(&children_lock);
    for (size_t i = 0; i < children_len; i++) {
        if (children[i].pid == pid) {
            children[i] = children[--children_len];
            break;
        }
    }
    pthread_mutex_unlock(&children_lock);
}

uint64_t mp__children_started(void)
{
    pthread_mutex_lock(&children_lock);
    uint64_t seq = children_seq;
    pthread_mutex_unlock(&children_lock);
    return seq;
}

int mp__children_gone_since(uint64_t seq)
{
    pthread_mutex_lock(&children_lock);
    int gone = children_seq > seq;
    for (size_t i = 0; i < children_len && gone; i++)
        if (children[i].seq > seq && !mp__task_dead(children[i].pid))
            gone = 0;
    pthread_mutex_unlock(&children_lock);
    return gone;
}

uint32_t mp__tid(void)
{
    if (MP__UNLIKELY(cached_tid == 0))
        cached_tid = (uint32_t)gettid();
    return cached_tid;
}

uint32_t mp__pid(void)
{
    uint32_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (MP__UNLIKELY(pid == 0)) {
        pid = (uint32_t)getpid();
        atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
    }
    return pid;
}

int mp__task_dead(uint32_t id)
{
    if (id == 0)
        return 0;
    /* /proc/<id> resolves thread ids as well as process ids.  A killed
     * process stays a zombie until its parent reaps it; for the objects it
     * held it is as dead as a reaped one, hence the state check. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return n == 0 || errno == ESRCH;
    buf[n] = '\0';
    /* The command name may contain ')': the state follows the last one. */
    const char *paren = strrchr(buf, ')');
    if (!paren || paren[1] != ' ')
        return 0;
    char state = paren[2];
    return state == 'Z' || state == 'X' || state == 'x';
}

int mp__owns(uint32_t *owner)
{
    uint32_t me = mp__pid(), was = MP__LOAD(owner);
    if (was == me)
        return 1;
    return mp__task_dead(was) && MP__CAS(owner, &was, me);
}

int mp__retire(void *obj, uint32_t *magic, uint32_t flags)
{
    MP__STORE(magic, 0);
    return flags & MP__FLAG_ALLOCATED ? mp_shm_free(obj) : 0;
}

int mp__sleep(uint32_t *word, uint32_t expected, double deadline, double slice)
{
    double left = slice;
    int last_slice = 0;
    if (deadline != INFINITY) {
        double remaining = deadline - mp__now();
        if (remaining <= 0)
            return MP_ETIMEDOUT;
        if (remaining <= slice) {
            left = remaining;
            last_slice = 1;
        }
    }
    /* An unbounded slice with no deadline sleeps without a time limit. */
    int r = mp__futex_wait(MP__ATOMIC(word), expected, true, left > MP__TIMEOUT_HUGE ? -1.0 : left);
    if (r == -ETIMEDOUT)
        return last_slice ? MP_ETIMEDOUT : 1;
    return 0;
}
