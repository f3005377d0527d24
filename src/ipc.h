/* ipc.h - building blocks shared by the inter-process modules (locks,
 * events, pipes, queues, the shared dictionary).
 *
 * Every waiting primitive follows the same pattern: spin briefly on the
 * shared word (a hand-off between two running processes costs ~0.1 us),
 * then sleep on a futex in bounded slices.  A slice ends every few
 * milliseconds so that a waiter can notice that the process it waits for has
 * died (a robust lock's owner, a pipe's peer) instead of sleeping forever.
 *
 * Fields of objects in shared memory are plain integers, seen as atomic
 * through MP__ATOMIC (atomics.h): the public header can then show the
 * layout of the objects a caller places in its own shared memory
 * (mp_lock_init and friends) without exposing C11 atomics to C++ or older
 * compilers. */
#ifndef MPROC_IPC_H
#define MPROC_IPC_H

#include "atomics.h"
#include "evc.h"
#include "futex.h"
#include "internal.h"

#include <math.h>
#include <string.h>

/* The spin phase is adaptive, per thread.  Spinning pays when the other
 * side is running on another core and answers within microseconds (a
 * hand-off then costs ~0.1 us instead of a futex wake-up); it only burns
 * the core when the other side is not running -- on a loaded machine,
 * waiting for slow work.  So each thread keeps a budget of spin iterations
 * (one iteration is a pause, tens of ns): a spin that ends in success grows
 * it, one that ends in sleep halves it. */
#define MP__SPIN_MIN 64u
#define MP__SPIN_START 256u
#define MP__SPIN_MAX 2048u
#define MP__SPIN_LIMIT ((int)mp__spin_budget)

extern _Thread_local uint32_t mp__spin_budget;

/* Reports how the last spin phase ended. */
static inline void mp__spin_feedback(int succeeded)
{
    uint32_t b = mp__spin_budget;
    if (succeeded)
        b = b + b / 4 + 1 > MP__SPIN_MAX ? MP__SPIN_MAX : b + b / 4 + 1;
    else
        b = b / 2 < MP__SPIN_MIN ? MP__SPIN_MIN : b / 2;
    mp__spin_budget = b;
}

/* Sleep slices while waiting on something another process may never do:
 * the first slice is short so that a death is noticed quickly, later ones
 * grow to keep an idle waiter cheap. */
#define MP__SLICE_FIRST 0.002
#define MP__SLICE_MAX 0.1

/* Magic numbers that mark a live object; destroy/close clears them so that
 * a use after release is reported (while the memory is not reused). */
#define MP__MAGIC_LOCK 0x4c4f434bu   /* "LOCK" */
#define MP__MAGIC_RLOCK 0x524c434bu  /* "RLCK" */
#define MP__MAGIC_SEM 0x53454d41u    /* "SEMA" */
#define MP__MAGIC_EVENT 0x45564e54u  /* "EVNT" */
#define MP__MAGIC_COND 0x434f4e44u   /* "COND" */
#define MP__MAGIC_BARRIER 0x42415252u /* "BARR" */
#define MP__MAGIC_PIPE 0x50495045u    /* "PIPE" */
#define MP__MAGIC_QUEUE 0x51554555u   /* "QUEU" */
#define MP__MAGIC_ARRAY 0x41525259u   /* "ARRY" */
#define MP__MAGIC_DICT 0x44494354u    /* "DICT" */

/* Flag stored beside a magic number: the object came from mp_shm_alloc and
 * its destroy function gives the memory back. */
#define MP__FLAG_ALLOCATED 1u

/* The calling thread's kernel id, cached per thread (and refreshed in a
 * child after fork). */
uint32_t mp__tid(void);

/* mp__pid(), the calling process's cached id, is declared in internal.h:
 * pools use it too. */

/* 1 only when the thread or process `id` has certainly ended: it no longer
 * exists or is a zombie waiting to be reaped.  0 when it runs, or when that
 * cannot be told (no /proc): a lock is then never taken from a live owner. */
int mp__task_dead(uint32_t id);

/* --- who may destroy an object ----------------------------------------
 * Every object in shared memory records the pid of the process that made
 * it (mp_X_create or mp_X_init), and only that process destroys it: a
 * process forked after the object was made holds a copy of the pointer,
 * not a share of the object, so its destroy releases only its own view,
 * which holds nothing -- the object is untouched.  Why an owner's pid and
 * not a reference count: a plain fork() copies every pointer without the
 * library seeing it, and a killed process never gives a reference back, so
 * a count would free too early or never.  The pid costs nothing on any
 * fast path.  If the owner has died, the first process to destroy the
 * object takes it over, so nothing is leaked with its creator.  (A pid is
 * not reused while its process runs; one reused after the owner's death
 * only makes a leaked object freeable by the newcomer.)
 *
 * 1 if the calling process owns the object whose owner's pid is *owner --
 * it made it, or the maker has died and this caller won the take-over --
 * else 0. */
int mp__owns(uint32_t *owner);

/* The end of an owner's mp_X_destroy: marks the object dead and gives its
 * memory back if mp_X_create allocated it (`flags` has MP__FLAG_ALLOCATED).
 * 0, or mp_shm_free's error. */
int mp__retire(void *obj, uint32_t *magic, uint32_t flags);

/* --- the mp_process children of this process (ipc.c) -------------------
 * process.c reports each child it starts and reaps; a pipe end its creator
 * never used passes to the children started after the pipe was made, and
 * the creator asks whether they have all ended.  A forked child starts with
 * an empty list. */
void mp__child_started(uint32_t pid);
void mp__child_ended(uint32_t pid);
/* Children started so far by this process (a sequence number). */
uint64_t mp__children_started(void);
/* 1 when at least one child was started after sequence number `seq` and
 * every such child has ended (reaped, or a zombie); else 0. */
int mp__children_gone_since(uint64_t seq);

/* Timeouts longer than this (about 30 years) are taken as "forever", so
 * that no time computation ever overflows a time_t or an int. */
#define MP__TIMEOUT_HUGE 1e9

/* Absolute CLOCK_MONOTONIC deadline for a validated timeout; INFINITY for
 * MP_FOREVER. */
static inline double mp__deadline(double timeout)
{
    return timeout < 0 || timeout > MP__TIMEOUT_HUGE ? INFINITY : mp__now() + timeout;
}

/* The code for "the timeout ran out": MP_EAGAIN when the caller only polled
 * (timeout 0), MP_ETIMEDOUT otherwise. */
static inline int mp__expired(const char *who, double timeout)
{
    if (timeout == 0)
        return mp__error(MP_EAGAIN, "%s: would block", who);
    return mp__error(MP_ETIMEDOUT, "%s: timed out after %g s", who, timeout);
}

/* Sleeps while *word == expected, until woken, the deadline or the end of
 * a slice of `slice` seconds.  Returns 0 when woken (or the word already
 * differed), 1 when only the slice ended, MP_ETIMEDOUT at the deadline.
 * Signals (EINTR) count as a wake-up: callers re-check their condition. */
int mp__sleep(uint32_t *word, uint32_t expected, double deadline, double slice);

/* Grows a liveness slice towards MP__SLICE_MAX. */
static inline double mp__next_slice(double slice)
{
    slice *= 2;
    return slice > MP__SLICE_MAX ? MP__SLICE_MAX : slice;
}

/* The event count (mp__evc) is in evc.h. */

/* --- the robust lock under every locked structure (sync_lock.c) --------
 * The word holds the owner's thread id, with MP__LOCK_WAITERS set while
 * someone sleeps on it.  A waiter whose owner has died takes the lock over
 * and is told so with MP_EOWNERDEAD. */
#define MP__LOCK_WAITERS 0x80000000u
#define MP__LOCK_TID 0x3fffffffu

/* Acquires `word` for the calling thread.  0, MP_EOWNERDEAD (acquired from
 * a dead owner), or the expiry code for `timeout`.  No message is set on
 * MP_EOWNERDEAD; the caller decides what it means for its structure. */
int mp__lock_word(uint32_t *word, double timeout, const char *who);
void mp__unlock_word(uint32_t *word);
/* Takes `word` over, without waiting, if the thread holding it has died:
 * 1 when the caller now holds it (as after MP_EOWNERDEAD), else 0.  For
 * repairs that must not wait for the lock's next regular user. */
int mp__lock_word_reclaim(uint32_t *word);

/* The recursive lock's acquire and release without argument checks, for
 * mp_cond (which embeds one).  `who` names the public caller in messages. */
int mp__rlock_acquire(mp_rlock *l, double timeout, const char *who);
int mp__rlock_release(mp_rlock *l, const char *who);

/* --- byte rings ---------------------------------------------------------
 * Copies into / out of a ring of `mask + 1` bytes (a power of two) at the
 * unbounded stream position `pos`, wrapping at the end. */
static inline void mp__ring_put(unsigned char *ring, size_t mask, uint64_t pos, const void *src, size_t n)
{
    size_t at = (size_t)(pos & mask), first = mask + 1 - at;
    if (first >= n) {
        memcpy(ring + at, src, n);
    } else {
        memcpy(ring + at, src, first);
        memcpy(ring, (const unsigned char *)src + first, n - first);
    }
}

static inline void mp__ring_get(const unsigned char *ring, size_t mask, uint64_t pos, void *dst, size_t n)
{
    size_t at = (size_t)(pos & mask), first = mask + 1 - at;
    if (first >= n) {
        memcpy(dst, ring + at, n);
    } else {
        memcpy(dst, ring + at, first);
        memcpy((unsigned char *)dst + first, ring, n - first);
    }
}

/* --- test hooks -----------------------------------------------------------
 * mp__queue_crash_step names a step of mp_queue_put / mp_queue_get at which
 * the calling process kills itself with SIGKILL, so that tests can check
 * that a queue survives a death at every step.  0, the default, never
 * crashes; each step costs one load of a process-local variable. */
enum mp__queue_step {
    MP__QSTEP_NONE,
    /* put: lock held; frame written past `tail`; commit record written;
     * `nput` stored; `tail` stored (published); record cleared */
    MP__QSTEP_PUT_LOCKED, MP__QSTEP_PUT_COPIED, MP__QSTEP_PUT_RECORDED,
    MP__QSTEP_PUT_COUNTED, MP__QSTEP_PUT_MOVED, MP__QSTEP_PUT_CLEARED,
    /* get: the same steps for `nget` and `head` (COPIED: the frame is in
     * the caller's buffer) */
    MP__QSTEP_GET_LOCKED, MP__QSTEP_GET_COPIED, MP__QSTEP_GET_RECORDED,
    MP__QSTEP_GET_COUNTED, MP__QSTEP_GET_MOVED, MP__QSTEP_GET_CLEARED,
    MP__QSTEP_END
};
extern int mp__queue_crash_step;

#endif
