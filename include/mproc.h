/* mproc.h - the public API of libmproc, a parallel-programming toolkit for C.
 *
 * Everything a program needs is declared here, with its contract: what it
 * does, who owns what, whether it is thread-safe, and how it fails.
 *
 * Conventions
 *   - Public names start with mp_ (functions, types) or MP_ (macros, codes).
 *   - Functions that can fail return int: 0 on success or a negative MP_E*
 *     code.  A readable message for the most recent failure in the calling
 *     thread is available from mp_last_error().  Out-parameters are written
 *     only on success.
 *   - Bad input (NULL, zero size, negative count, unknown option) is reported
 *     as MP_EINVAL and changes nothing.  The library never prints, never
 *     calls exit() or abort() on a caller's mistake, and has no process-wide
 *     switches: two pools never disturb each other.
 *
 * THE MEMORY RULE for process workers, in one sentence:
 *   a task sees its own input (copied in), its context blob (copied in),
 *   memory from mp_shm_*, and globals as they were when the pool opened.
 * Raw pointers to parent memory made after the pool opened are not visible
 * to process workers.  Thread workers see everything, but write only their
 * own output.
 */
#ifndef MPROC_H
#define MPROC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MP_API __attribute__((visibility("default")))
#define MP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MP_API
#define MP_PRINTF(f, a)
#endif

#define MP_VERSION_MAJOR 0
#define MP_VERSION_MINOR 1
#define MP_VERSION_PATCH 0

/* ======================================================================
 * Errors
 * ====================================================================== */

/* Result codes.  System errors are reported as the negated errno value
 * (libuv's convention); mproc's own conditions use values below -4000. */
enum {
    MP_OK = 0,
    MP_ENOENT = -2,         /* no such object (named segment, key) */
    MP_EAGAIN = -11,        /* would block (non-blocking form) */
    MP_ENOMEM = -12,        /* out of memory (heap or shared arena) */
    MP_EEXIST = -17,        /* already exists */
    MP_EINVAL = -22,        /* invalid argument from the caller */
    MP_ERANGE = -34,        /* caller's buffer too small (message says the size) */
    MP_EMSGSIZE = -90,      /* message larger than the object's bound */
    MP_ENOTSUP = -95,       /* not supported (backend, platform) */
    MP_ETIMEDOUT = -110,    /* the timeout expired */
    MP_ECANCELED = -125,    /* cancelled */
    MP_EOWNERDEAD = -130,   /* acquired a lock whose previous owner died */
    MP_ETASK = -4001,       /* one or more tasks failed (see mp_failures) */
    MP_ECLOSED = -4002,     /* the object is closed or being closed */
    MP_EBROKEN = -4003,     /* the pool is broken and can run no more work */
    MP_EWORKER = -4004,     /* a worker died while running the task */
    MP_EFULL = -4005,       /* a fixed-capacity table is full */
    MP_EEOF = -4095         /* end of file: the peer closed or died */
};

/* Short static description of a code ("invalid argument").  Never NULL. */
MP_API const char *mp_strerror(int code);

/* The detailed message of the most recent failure of an mproc call in the
 * calling thread ("mp_map: count is 0").  Thread-local; valid until the
 * thread's next failing mproc call.  Never NULL ("" before any failure). */
MP_API const char *mp_last_error(void);

/* Timeouts are in seconds, as doubles.  MP_FOREVER waits without limit; 0
 * polls.  A NaN or any other negative value is MP_EINVAL. */
#define MP_FOREVER (-1.0)

/* ======================================================================
 * Shared memory
 *
 * mp_shm_alloc memory lives in one shared arena per process tree, reserved
 * the first time mproc needs it and inherited by every worker and child
 * process forked after that.  A pointer into it means the same bytes in every
 * process of the tree, whenever it was allocated -- before or after a pool
 * opened.  Pass large read-only inputs this way: process workers read them
 * in place, without a copy.
 * ====================================================================== */

/* Allocates `size` bytes of zeroed shared memory, aligned to 64 bytes.
 * The caller owns it and releases it with mp_shm_free.  Thread-safe and
 * process-safe (any process of the tree may allocate and free).
 * Errors: MP_EINVAL (out NULL or size 0), MP_ENOMEM (arena exhausted: the
 * reservation is set by MPROC_SHM_SIZE, in bytes with an optional K/M/G). */
MP_API int mp_shm_alloc(size_t size, void **out);

/* Releases memory from mp_shm_alloc.  NULL is ignored.  Passing a pointer
 * that mp_shm_alloc did not return is an error (MP_EINVAL), detected for
 * pointers outside the arena. */
MP_API int mp_shm_free(void *ptr);

/* 1 if [ptr, ptr+size) lies inside the shared arena (so process workers can
 * see it without a copy), else 0. */
MP_API int mp_shm_contains(const void *ptr, size_t size);

/* @@POOL@@ */

/* @@IPC@@ */

#ifdef __cplusplus
}
#endif
#endif /* MPROC_H */
