/* futex.h - thin wrappers over the Linux futex system call.
 *
 * A futex word may live in private memory (threads of one process) or in
 * shared memory (several processes); `shared` picks the kernel's keying, and
 * must be true for words in the shared arena that other processes wait on. */
#ifndef MPROC_FUTEX_H
#define MPROC_FUTEX_H

#include "atomics.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected, for at most `timeout` seconds (< 0:
 * forever).  Returns 0 when woken or when the word already differed,
 * MP_ETIMEDOUT-like -ETIMEDOUT on timeout, -EINTR on a signal. */
static inline int mp__futex_wait(_Atomic uint32_t *word, uint32_t expected, bool shared, double timeout)
{
    struct timespec ts, *tsp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = (time_t)timeout;
        ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
        tsp = &ts;
    }
    int op = FUTEX_WAIT | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long r = syscall(SYS_futex, (uint32_t *)word, op, expected, tsp, NULL, 0);
    if (r == 0 || errno == EAGAIN)
        return 0;
    return -errno;
}

/* Wakes up to `n` waiters (INT_MAX: all). */
static inline void mp__futex_wake(_Atomic uint32_t *word, int n, bool shared)
{
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    syscall(SYS_futex, (uint32_t *)word, op, n, NULL, NULL, 0);
}

#endif
