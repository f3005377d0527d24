/* internal.h - helpers shared between libmproc's source files (mp__ names).
 * Nothing here is part of the public API. */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include "mproc.h"

#include "atomics.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP__CACHELINE 64
#define MP__ALIGNED __attribute__((aligned(MP__CACHELINE)))
#define MP__UNUSED(x) ((void)(x))
#define MP__LIKELY(x) __builtin_expect(!!(x), 1)
#define MP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MP__NOINLINE __attribute__((noinline, cold))

/* --- contracts ------------------------------------------------------------
 * MP__ASSERT(cond) states an internal contract: a job-state transition, the
 * precondition of a _locked function, a worker slot's state.  Compiled into
 * debug and sanitizer builds (MPROC_ASSERTS, see CMakeLists.txt), where a
 * broken contract prints where and aborts; an optimised release build does
 * not evaluate `cond` at all, so it must have no side effect. */
#ifdef MPROC_ASSERTS
#define MP__ASSERT(cond) (MP__LIKELY(cond) ? (void)0 : mp__assert_failed(#cond, __FILE__, __LINE__, __func__))
#else
#define MP__ASSERT(cond) ((void)sizeof(!(cond)))
#endif
_Noreturn void mp__assert_failed(const char *cond, const char *file, int line, const char *func);

/* --- errors (error.c) ---------------------------------------------------
 * Records a formatted message as the calling thread's last error and
 * returns `code`, so a failure path reads:  return mp__error(MP_EINVAL, ...) */
int mp__error(int code, const char *fmt, ...) MP_PRINTF(2, 3);
int mp__verror(int code, const char *fmt, va_list ap);
/* Same, for a failed system call: code is -errno, message ends with
 * strerror(errno).  Reads errno itself. */
int mp__syserror(const char *fmt, ...) MP_PRINTF(1, 2);

/* --- sizes ---------------------------------------------------------------
 * True if a * b does not fit a size_t; otherwise stores the product.  Every
 * size product computed from a caller's numbers (count x element size,
 * window x element size) goes through here, so that a wrapped product can
 * never become a small allocation that is then overrun. */
static inline bool mp__mul_overflows(size_t a, size_t b, size_t *product)
{
    return __builtin_mul_overflow(a, b, product);
}

/* --- time (clock.c) ---------------------------------------------------- */
double mp__now(void);                 /* CLOCK_MONOTONIC seconds */
/* Validates a timeout in seconds: < 0 means "wait forever" only when it is
 * exactly MP_FOREVER; NaN or other negatives are MP_EINVAL. */
int mp__check_timeout(const char *who, double timeout);

/* --- spinning ---------------------------------------------------------- */
static inline void mp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of a spin-wait.  Every 16th step yields the core: with more
 * spinning threads than cores (a caller, an idle worker, a busy worker on
 * two cores), pure spinning can keep the very thread we wait for off the
 * CPU for a whole time slice. */
void mp__spin_step(unsigned step);

/* The calling process's id: getpid() without a system call, cached and
 * forgotten in every forked child (ipc.c).  Pools, handles and shared
 * objects compare it with their owner's. */
uint32_t mp__pid(void);

#endif
