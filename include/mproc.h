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
 *
 * Random numbers: every process worker and every mp_process child reseeds
 * libc's generators (rand, random, the drand48 family) when it starts, from
 * a value of its own, so forked processes never repeat each other's draws.
 * The draws are not reproducible; reproducible numbers come from a seed and
 * the task index.  Thread workers share the program's generators, as libc
 * defines them for threads.
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
 * (libuv's convention); mproc's own conditions use values below -4000.
 *
 * MP_ERRNO_MAP is the one list of them: X(name, value, description) for
 * each, in the order of their values.  It generates the enum below and
 * mp_strerror's descriptions; a program can use it to list every code. */
#define MP_ERRNO_MAP(X)                                                                   \
    X(OK, 0, "success")                                                                   \
    X(ENOENT, -2, "no such object")          /* named segment, key */                     \
    X(EAGAIN, -11, "operation would block")  /* non-blocking form */                     \
    X(ENOMEM, -12, "out of memory")          /* heap or shared arena */                   \
    X(EEXIST, -17, "already exists")                                                      \
    X(EINVAL, -22, "invalid argument")       /* from the caller */                        \
    X(ERANGE, -34, "buffer too small")       /* the message says the size */              \
    X(EMSGSIZE, -90, "message too large")    /* larger than the object's bound */         \
    X(ENOTSUP, -95, "not supported")         /* backend, platform */                      \
    X(ETIMEDOUT, -110, "timed out")          /* the timeout expired */                    \
    X(ECANCELED, -125, "cancelled")                                                       \
    X(EOWNERDEAD, -130, "previous owner died") /* acquired a lock whose owner died */     \
    X(ETASK, -4001, "one or more tasks failed") /* see mp_failures */                     \
    X(ECLOSED, -4002, "closed")              /* the object is closed or being closed */   \
    X(EBROKEN, -4003, "pool is broken")      /* it can run no more work */                \
    X(EWORKER, -4004, "worker died")         /* while running the task */                 \
    X(EFULL, -4005, "table is full")         /* a fixed-capacity table */                 \
    X(EEOF, -4095, "end of file")            /* the peer closed or died */

#define MP__ERRNO_ENUM(name, value, text) MP_##name = (value),
enum { MP_ERRNO_MAP(MP__ERRNO_ENUM) };
#undef MP__ERRNO_ENUM

/* Short static description of a code ("invalid argument").  Never NULL. */
MP_API const char *mp_strerror(int code);

/* The detailed message of the most recent failure of an mproc call in the
 * calling thread ("mp_map: count is 0").  Thread-local; valid until the
 * thread's next failing mproc call.  Never NULL ("" before any failure). */
MP_API const char *mp_last_error(void);

/* Records a message as the calling thread's last error and returns `code`,
 * as the library does for its own failures.  A worker initializer reports
 * why it failed this way:  return mp_set_error(MP_ENOENT, "no %s", path);
 * The message is truncated to 511 bytes.  Thread-safe. */
MP_API int mp_set_error(int code, const char *fmt, ...) MP_PRINTF(2, 3);

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
 * Errors: MP_EINVAL (out NULL or size 0), MP_ENOMEM (arena exhausted), or
 * the reason the arena could not be set up (see below).
 *
 * The arena's size: MPROC_SHM_SIZE, read once when the arena is set up --
 * decimal digits with an optional K, M, G or T suffix (powers of 1024,
 * either case), at least 64M; default 32G of address space, of which only
 * touched pages cost memory.  Any other value (a sign, a space, another
 * suffix, an overflow) makes every call that needs the arena -- this one,
 * mp_pool_open, the mp_X_create functions -- fail with MP_EINVAL and a
 * message naming the variable and its value.  If the address space cannot
 * hold even 64M (a small ulimit -v), they fail with -ENOMEM and say so. */
MP_API int mp_shm_alloc(size_t size, void **out);

/* Releases memory from mp_shm_alloc.  NULL is ignored.  Any process of the
 * tree may free a block (results made by workers are freed by the caller),
 * exactly once: unlike the objects built on it, a block has no owner, so a
 * forked child must not free blocks it only inherited.  Passing a pointer
 * that mp_shm_alloc did not return is an error (MP_EINVAL), detected for
 * pointers outside the arena and for blocks already free. */
MP_API int mp_shm_free(void *ptr);

/* 1 if [ptr, ptr+size) lies inside the shared arena (so process workers can
 * see it without a copy), else 0. */
MP_API int mp_shm_contains(const void *ptr, size_t size);

/* ======================================================================
 * Pools
 *
 * A pool runs tasks on a fixed set of workers.  The backend decides what a
 * worker is -- a thread, or a process forked once when the pool opens --
 * and nothing else changes: the map family behaves identically on both.
 *
 *     mp_pool *pool;
 *     if (mp_pool_open(&pool, NULL) != 0)              // defaults
 *         fprintf(stderr, "%s\n", mp_last_error());
 *     mp_map(pool, square, in, n, sizeof *in, out, sizeof *out, NULL);
 *     mp_pool_close(pool);
 *
 * Thread-safety: every pool function may be called from several threads at
 * once (calls on one pool are queued and run in order of arrival), except
 * that mp_pool_close/mp_pool_terminate must be the last call on the pool.
 *
 * A task must not wait on its own pool: it would wait for itself.  A
 * blocking call from a task of the pool it runs on -- mp_map, mp_starmap,
 * mp_apply, mp_async_get/mp_async_wait on the pool's results,
 * mp_future_wait/_result/_bytes, mp_wait, mp_as_completed_next,
 * mp_imap_next, mp_pool_shutdown, mp_pool_close, mp_pool_terminate --
 * returns MP_EINVAL ("called from a task of the same pool") and changes
 * nothing.  On a thread pool a task may submit without waiting
 * (mp_map_async, mp_submit, mp_imap_open); a process worker's pool is a
 * copy (next paragraph), so there those are MP_EINVAL too.
 *
 * A pool belongs to the process that opened it.  A child made with plain
 * fork() inherits a copy it must not use: there mp_pool_close and
 * mp_pool_terminate release only the child's copy (its private memory and
 * descriptors: no worker is signalled, no thread joined, nothing shared
 * touched) and return 0 -- so an atexit handler closing a global pool is
 * harmless in a child that calls exit() -- and mp_async_free,
 * mp_future_free, mp_as_completed_free and mp_imap_free release the
 * child's copies of handles and iterators the same way.  Every other call
 * there on the pool, its async results, futures, as_completed iterators or
 * imap iterators returns MP_EINVAL with a message (mp_pool_cancel without
 * one: it is async-signal-safe); the calls that answer 1/0 answer 0.  The
 * owner's pool goes on unharmed.  mp_pool_workers and mp_pool_backend read
 * only the copy and answer anywhere.
 * ====================================================================== */

typedef struct mp_pool mp_pool;
typedef struct mp_task mp_task;
typedef struct mp_bytes mp_bytes;     /* a variable-size result, below */
typedef struct mp_async mp_async;     /* an async call's handle, below */

typedef enum mp_backend {
    MP_BACKEND_DEFAULT = 0,   /* MPROC_BACKEND if set, else threads */
    MP_BACKEND_THREAD = 1,    /* workers are threads of this process */
    MP_BACKEND_PROCESS = 2,   /* workers are processes forked at open */
    MP_BACKEND_MPI = 3        /* workers are the other ranks of an MPI job
                                 (docs/mpi.md; MP_ENOTSUP when left out) */
} mp_backend;

/* Options for mp_pool_open.  Zero-initialise ({0}) for the defaults; fields
 * may be added at the end in later versions. */
typedef struct mp_pool_options {
    mp_backend backend;  /* MP_BACKEND_DEFAULT: the environment variable
                            MPROC_BACKEND ("thread", "process" or "mpi"),
                            else threads */
    int workers;         /* 0: MPROC_WORKERS if set, else mp_cpu_count() */

    /* Runs once in every worker as it starts, before it takes any task
     * (and in every replacement worker).  It returns 0, or an error code --
     * with a message set by mp_set_error.  If it fails while the pool
     * opens, mp_pool_open fails with its code and message; if it fails in a
     * replacement worker, the pool is broken (MP_EBROKEN, the message
     * quoting the initializer's); a failing initializer is never retried. */
    int (*initializer)(const void *context);
    const void *initializer_context;   /* copied at open; NULL if none */
    size_t initializer_context_size;   /* bytes; 0 if the context is NULL */
    /* Process workers: a worker is replaced by a fresh one after running
     * this many tasks (0: never).  Thread workers ignore it. */
    long maxtasksperchild;
    /* Seconds a task may run (0: no limit).  Each call may override it
     * (mp_call.timeout); imap iterators use it as it is.  See "Failures"
     * below for what happens to a task that runs longer. */
    double task_timeout;
    /* Process workers: how many times a task whose worker died while
     * running it is run again, on another worker, before it is reported
     * failed (0 to 100; 0: report at once). */
    int retries;
} mp_pool_options;

/* Number of CPUs this process may use: its affinity mask, capped by a
 * cgroup v2 cpu.max quota when one is set (rounded up).  At least 1. */
MP_API int mp_cpu_count(void);

/* "thread", "process", "mpi", or "unknown". */
MP_API const char *mp_backend_name(mp_backend backend);

/* Opens a pool and starts its workers.  opts may be NULL (defaults).
 * Process workers are forked here: they see globals as they are now (the
 * memory rule at the top of this file), and so do the workers that later
 * replace dead ones: they are forked by a small single-threaded fork server
 * made now, never from the running program.  stdout and stderr are flushed
 * before forking so buffered output is not written twice.  What tasks
 * print in a process worker is written out before they are reported
 * finished (stdout) and whenever the worker goes idle or exits (every
 * stdio stream): when a call returns, an imap result arrives or a future is
 * done, its tasks' lines have been written, so a program that exits
 * without closing its pool loses none.  Lines of a task that never
 * finished (its worker crashed or was killed) may be lost.  Process workers
 * ignore SIGINT (a terminal's Ctrl-C is for the program: it may cancel the
 * pool or exit) and die with the program, even when it is killed.
 * Errors: MP_EINVAL (out NULL; workers < 0 or > 4096; unknown backend in
 * opts; MPROC_BACKEND not "thread"/"process"/"mpi"; MPROC_WORKERS not a number
 * from 1 to 4096; initializer_context_size without a context; a negative
 * maxtasksperchild; task_timeout NaN or negative; retries outside 0..100),
 * MP_ENOTSUP (the backend was left out of this build, see README.md;
 * MPI: the program was not started by mpirun, or runs on one rank),
 * MP_ENOMEM, the initializer's code and message if it failed in a worker,
 * or a system error (-errno) when a worker cannot be started.  On error
 * nothing is left running. */
MP_API int mp_pool_open(mp_pool **out, const mp_pool_options *opts);

/* Waits for the work already submitted to finish, stops the workers, reaps
 * every one of them (and the fork server) and frees the pool.  NULL is
 * ignored.  Returns 0, or MP_EBROKEN if the pool was broken (it is freed
 * all the same).  A worker that died and was replaced does not count.
 * Close always finishes: a process worker that has not exited 3 seconds
 * after it was told to (stopped by SIGSTOP, held by a debugger) is killed
 * with SIGKILL and reaped.  It held no task -- every task submitted before
 * close had finished -- so that is no failure: close still returns 0.
 * In a forked child, or from a task of the pool, see "A pool belongs to"
 * and "A task must not wait" above. */
MP_API int mp_pool_close(mp_pool *pool);

/* Stops at once: process workers are killed (SIGKILL) and reaped; thread
 * workers finish the task they are running (a thread cannot be killed) and
 * take no more.  Calls still waiting on the pool return MP_ECLOSED.  Frees
 * the pool.  NULL is ignored.  Returns 0; MP_EINVAL from a task of the
 * pool (nothing changes); in a forked child it releases only the child's
 * copy (above). */
MP_API int mp_pool_terminate(mp_pool *pool);

/* Cancels every synchronous call (mp_map, mp_starmap, mp_apply) in
 * progress on the pool: each returns MP_ECANCELED promptly, its tasks not
 * yet started are never started, and the pool stays usable for later calls.
 * (Async results, futures and imap iterators have their own ways to stop:
 * mp_future_cancel, mp_pool_shutdown, mp_imap_free.)  Tasks already
 * running are stopped on process pools (their worker is killed and
 * replaced, as after a timeout); on thread pools they run to their end --
 * mp_task_cancelled() tells them to hurry -- and the call returns when they
 * have.  Calls begun after this one returns are not affected.
 * Async-signal-safe (atomic stores and futex wake-ups only): a SIGINT
 * handler may call it.  Thread-safe.  Returns 0, or MP_EINVAL (without a
 * message) if pool is NULL or the calling process is not its owner. */
MP_API int mp_pool_cancel(mp_pool *pool);

/* --- MPI -------------------------------------------------------------
 * The MPI backend (a build component: on when CMake finds an MPI C
 * library; docs/mpi.md).  Run the program under mpirun with
 * MPROC_BACKEND=mpi, or open a pool with .backend = MP_BACKEND_MPI:
 *
 *     mpirun -n 4 env MPROC_BACKEND=mpi ./prog
 *
 * Rank 0 runs main; every other rank serves tasks and never returns into
 * main (with MPROC_BACKEND=mpi it serves from before main; with only
 * .backend it runs main up to mp_pool_open and serves from there).  Every
 * rank exits when rank 0's program ends.  Rank 0's pool has one worker per
 * serving rank and every pool API works as on the other backends.
 *
 * The memory rule for MPI, in one sentence: a task sees the bytes of its
 * inputs, of the call's context and of the initializer's context, copied
 * to the rank that runs it, and nothing else of the caller -- not its
 * globals, not its heap, not what a pointer inside those bytes points to.
 * The context goes to each rank once per call, inputs once per chunk.
 * Task functions and the initializer are found on the other ranks by
 * their place in the executable or shared library that holds them (the
 * same binary on every rank); a function pointer that is in no loaded
 * object (JIT code, a trampoline) is refused at the call with MP_EINVAL.
 * IPC objects (pipes, queues, locks, shared values, mp_process) are
 * node-local: they work between the processes of one rank, not across
 * ranks.  Task timeouts are checked when a task returns (a remote task
 * cannot be stopped); cancel skips tasks not yet shipped.  A rank that
 * dies ends the MPI job (Open MPI's default): mpirun names the rank. */

/* The collective form, for SPMD programs (as mpi4py's MPICommExecutor):
 * every rank of the communicator calls it.  comm points to an MPI_Comm
 * (NULL: MPI_COMM_WORLD).  At `root` it opens a pool whose workers are the
 * other ranks, stores it in *out and returns 0; at every other rank it
 * serves the root's tasks until the root closes (or terminates) that
 * pool, then stores NULL in *out and returns 0, so the program goes on
 * after the parallel part.  MPI must be initialised (MPI_Init_thread with
 * MPI_THREAD_MULTIPLE) by the program; mproc does not finalise it.  opts
 * as for mp_pool_open (backend is ignored).  Errors: MP_EINVAL (out NULL,
 * root not a rank of comm, bad opts), MP_ENOTSUP (built without MPI, MPI
 * not initialised, or initialised below MPI_THREAD_MULTIPLE), as
 * mp_pool_open.  Thread-safe as mp_pool_open. */
MP_API int mp_pool_open_mpi(mp_pool **out, const mp_pool_options *opts, const void *comm, int root);

MP_API int mp_pool_workers(const mp_pool *pool);          /* -1 if NULL */
MP_API mp_backend mp_pool_backend(const mp_pool *pool);   /* DEFAULT if NULL */

/* --- tasks -------------------------------------------------------------
 * A task function returns 0 on success.  Any other value marks the task
 * failed with that code; mp_task_fail attaches a message as well.  A failed
 * task's output element holds zeros afterwards, on every backend: whatever
 * the task wrote there is discarded, as is a partial write by a process
 * worker that died or was killed past its timeout (the map family's `out`,
 * and imap's results, alike). */
typedef int (*mp_map_fn)(mp_task *task, const void *in, void *out);
/* starmap: in[k] points at this task's element of the k-th input array. */
typedef int (*mp_star_fn)(mp_task *task, const void *const *in, void *out);

/* The call's context blob (mp_call.context; NULL if none) and its size.
 * On process workers it is a copy in shared memory: read-only by contract. */
MP_API const void *mp_task_context(const mp_task *task);
MP_API size_t mp_task_context_size(const mp_task *task);
/* This task's position in the input (0-based). */
MP_API size_t mp_task_index(const mp_task *task);
/* Which worker runs it, 0 .. workers-1. */
MP_API int mp_task_worker(const mp_task *task);
/* 1 if the task should stop early: its call was cancelled, the pool is
 * being terminated, or the task is past its timeout.  Cheap (a clock read
 * and two loads): long tasks may ask it often.  On a process pool a task
 * past its timeout is killed anyway; on a thread pool nothing can stop a
 * running task, so a long task that wants its timeout honoured asks this. */
MP_API int mp_task_cancelled(const mp_task *task);
/* Records a message for this task's failure and returns `code`, so a task
 * ends with:  return mp_task_fail(task, 2, "bad record %zu", i);
 * The message is truncated to MP_MESSAGE_MAX-1 bytes.  code 0 is turned
 * into MP_ETASK (a failure must have a non-zero code). */
MP_API int mp_task_fail(mp_task *task, int code, const char *fmt, ...) MP_PRINTF(3, 4);

/* --- failures ------------------------------------------------------------ */
#define MP_MESSAGE_MAX 240

typedef struct mp_failure {
    size_t index;                   /* the failed task's input position */
    int code;                       /* what the task returned */
    char message[MP_MESSAGE_MAX];   /* mp_task_fail's text, or a default */
} mp_failure;

/* Every failed task of one call, sorted by index.  Filled by the library
 * when mp_call.failures points at one; the caller owns it and releases it
 * with mp_failures_free (which resets it to empty; safe to call twice). */
typedef struct mp_failures {
    size_t count;
    mp_failure *items;
} mp_failures;

MP_API void mp_failures_free(mp_failures *failures);

/* --- progress ----------------------------------------------------------
 * Any map, starmap, async map, imap and set of futures can show a progress
 * bar on standard error: count, percentage, a bar, elapsed time, ETA and a
 * smoothed rate, redrawn at most 10 times a second by mproc's progress
 * thread (never a worker, never the caller's thread), and finished with a
 * final line when the call ends -- including on failure ("3 failed") or
 * cancel ("cancelled").  Turn it on in the call (.progress.mode =
 * MP_PROGRESS_ON), or for every call of any program, without recompiling:
 *
 *     MPROC_PROGRESS=1      a bar for every call whose mode is AUTO, when
 *                           stderr is a terminal
 *     MPROC_PROGRESS=force  also when stderr is not a terminal (then one
 *                           plain line per second and a final line)
 *     MPROC_PROGRESS=0      no bar drawn, whatever the program asked
 *
 * Cost: nothing when off.  When on, the thread reads the counters the
 * workers keep anyway; workers report finished tasks per claimed chunk
 * rather than per 64 tasks, so even a call of a few slow tasks moves the
 * bar. */
typedef enum mp_progress_mode {
    MP_PROGRESS_AUTO = 0,   /* default: off unless MPROC_PROGRESS says on */
    MP_PROGRESS_OFF = 1,    /* no bar, even if MPROC_PROGRESS=1 */
    MP_PROGRESS_ON = 2,     /* a bar when stderr is a terminal */
    MP_PROGRESS_FORCE = 3   /* a bar even when it is not */
} mp_progress_mode;

/* A program that draws its own progress: called with the tasks done and
 * the total (0 if not known yet, as for imap over a generator) at most 10
 * times a second while the count moves, and exactly once more at the end
 * with the final count.  Runs in mproc's progress thread, never a worker:
 * it must be quick and must not wait on the pool. */
typedef void (*mp_progress_fn)(uint64_t done, uint64_t total, void *arg);

typedef struct mp_progress {
    mp_progress_mode mode;
    const char *label;          /* text before the bar (copied, at most 63
                                   bytes); NULL: the call's name */
    mp_progress_fn fn;          /* optional; called whatever the mode, except
                                   MP_PROGRESS_OFF */
    void *arg;                  /* passed to fn */
} mp_progress;

/* Per-call options.  NULL or a zeroed struct means the defaults. */
typedef struct mp_call {
    /* Tasks claimed at a time.  0 (default): automatic guided
     * self-scheduling -- each claim takes remaining/(2*workers) tasks, never
     * fewer than 1, so early chunks are large (low overhead) and the last
     * ones small (uneven tasks still balance). */
    size_t chunksize;
    const void *context;            /* blob every task can read */
    size_t context_size;            /* bytes; 0 if context is NULL */
    mp_failures *failures;          /* OUT, optional: every failed task */
    /* OUT, optional: `count` elements, each task's variable-size result
     * (see mp_task_write); the caller owns each data. */
    mp_bytes *results;
    /* Async calls only (mp_*_async); MP_EINVAL elsewhere.  See below. */
    void (*callback)(mp_async *result, void *arg);
    void (*error_callback)(mp_async *result, void *arg);
    void *callback_arg;
    /* Seconds each task may run (the map family, the async forms and
     * mp_submit): 0 (default) takes the pool's task_timeout; MP_FOREVER
     * means no limit for this call; NaN or another negative value is
     * MP_EINVAL. */
    double timeout;
    /* Random streams (mp_task_rng, "Random streams" below).  Task i of the
     * call draws from the stream (seed, stream + i).  The default seed 0
     * is a seed like any other: results are reproducible unless a program
     * picks a new seed.  One-task calls (mp_apply, mp_apply_async,
     * mp_submit) with stream_set 0 take the pool's next one-task number
     * instead of `stream`: the n-th such call on the pool (from 0) draws
     * from stream n, so repeated submissions get distinct streams.  Set
     * stream_set to 1 to name the stream yourself (needed for
     * reproducibility when several threads submit at once). */
    uint64_t seed;
    uint64_t stream;
    int stream_set;
    /* A progress bar for this call (see "progress" above): the map family
     * and the async forms count finished tasks; zeroed: MPROC_PROGRESS
     * decides. */
    mp_progress progress;
} mp_call;

/* Failures, and what a call reports for them (all appear in
 * mp_call.failures and, for the first one, in mp_last_error()):
 *  - A task returns non-zero: that code, with mp_task_fail's message.
 *  - A process worker dies while running a task (a crash, abort(), _exit,
 *    a kill, the OOM killer): MP_EWORKER, "worker 4711 killed by SIGSEGV
 *    while running task 17" or "worker 4711 exited with status 3 while
 *    running task 17" -- after `retries` more attempts, if allowed.  A
 *    segfault or bus error also names the address and, when it can tell,
 *    the likely cause: "...: address 0x7f3a1c000010 is not mapped in the
 *    worker: memory allocated after the pool opened is not visible to
 *    process workers; use mp_shm_alloc or pass it as input/context" (the
 *    address is mapped in the program: the memory rule), "address 0x0 (a
 *    NULL pointer)", "... is not mapped (a dangling or corrupt pointer?)".
 *    The worker is replaced and every other task runs normally; the tasks
 *    the dead worker had claimed but not started are run by its
 *    replacement.
 *  - A task runs past its timeout: MP_ETIMEDOUT, "task 5 timed out after
 *    0.2 s on worker 4711".  Process workers get SIGTERM, then SIGKILL
 *    100 ms later, and are replaced.  Thread workers cannot be stopped: the
 *    task runs on (it may poll mp_task_cancelled) and is reported timed
 *    out when it returns.  Timed-out tasks are not retried.
 * A pool that cannot go on is broken: calls in progress and later ones
 * return MP_EBROKEN with the reason.  That happens when a replacement
 * worker cannot start (its initializer failed, the fork failed, or several
 * in a row died before they were ready), when 101 workers in a row died
 * before finishing a task (a task that kills every worker: rather than fork
 * once per task), or when the fork server was killed. */

/* Applies fn to each of `count` input elements of `in_size` bytes and
 * stores each result, in input order, in `out` (elements of `out_size`
 * bytes).  Returns when every task has finished.
 * `in` may be NULL with in_size 0 (tasks then use mp_task_index), and `out`
 * may be NULL with out_size 0 (tasks without output).  count 0 is a valid
 * empty map.  On process pools `in` and the context are copied into shared
 * memory and results copied back, unless they already are mp_shm memory
 * (then tasks use them in place).
 * Returns 0; MP_ETASK if any task failed (all other results are delivered,
 * mp_last_error() names the first failure, call->failures lists all);
 * MP_EINVAL for bad arguments (nothing runs), among them a count whose
 * product with in_size or out_size does not fit a size_t; MP_ENOMEM;
 * MP_ECLOSED if the pool is being closed or terminated; MP_ECANCELED after
 * mp_pool_cancel; MP_EBROKEN if the pool cannot replace a dead worker. */
MP_API int mp_map(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                  void *out, size_t out_size, const mp_call *call);

/* mp_map over C strings: task i gets strings[i] itself as `in` (a
 * NUL-terminated const char *, or NULL where strings[i] is NULL), so argv,
 * glob results or lines read from a file map as they are:
 *
 *     static int count_lines(mp_task *task, const void *in, void *out)
 *     {
 *         const char *path = in;  ...
 *     }
 *     mp_map_strings(pool, count_lines, paths, npaths, counts, sizeof *counts, NULL);
 *
 * On every backend: process workers get a copy of the pointers and the
 * strings, packed in one block of shared memory for the call (the strings'
 * bytes, plus one pointer each), so strings allocated after the pool
 * opened work too -- with mp_map over an array of char *, they would not
 * (see the memory rule).  Thread workers read the caller's strings in
 * place; the caller keeps them unchanged until the call returns.  Errors as
 * mp_map, and MP_EINVAL if strings is NULL with count > 0. */
MP_API int mp_map_strings(mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                          void *out, size_t out_size, const mp_call *call);

/* One input array of a starmap. */
typedef struct mp_array {
    const void *base;
    size_t count;
    size_t size;         /* element size in bytes */
} mp_array;

#define MP_MAX_ARGS 16

/* Python's starmap over zipped arrays: task i gets the i-th element of each
 * of the `nargs` (1..MP_MAX_ARGS) arrays.  All arrays must have the same
 * count (MP_EINVAL otherwise).  Otherwise as mp_map. */
MP_API int mp_starmap(mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                      void *out, size_t out_size, const mp_call *call);

/* Runs one call fn(in) on a worker and waits for it: mp_map with count 1.
 * Returns 0, or MP_ETASK with the task's code and message in
 * call->failures and mp_last_error(). */
MP_API int mp_apply(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                    void *out, size_t out_size, const mp_call *call);

/* ======================================================================
 * Variable-size results
 *
 * A task may produce output of any size by appending to its result buffer
 * with mp_task_write / mp_task_printf.  The buffer lives in the shared arena,
 * so it crosses from a process worker to the caller without another copy;
 * the caller receives it as an mp_bytes and OWNS it: release data with
 * mp_bytes_free.  Collected for a map call when mp_call.results is set, for
 * a future by mp_future_bytes, for imap by mp_imap_next's `bytes`.
 * ====================================================================== */

struct mp_bytes {
    void *data;     /* NULL when the task wrote nothing */
    size_t size;
};

/* Appends `size` bytes to this task's result.  Returns 0, MP_ENOMEM (arena
 * full; the result so far is kept), or MP_EINVAL (task or data NULL with
 * size > 0, or the call collects no variable-size results).  A failed
 * task's result is discarded. */
MP_API int mp_task_write(mp_task *task, const void *data, size_t size);
/* Appends formatted text (without the terminating NUL). */
MP_API int mp_task_printf(mp_task *task, const char *fmt, ...) MP_PRINTF(2, 3);
/* Releases a result's data (and resets it to empty).  NULL is ignored. */
MP_API void mp_bytes_free(mp_bytes *bytes);

/* ======================================================================
 * Async results: mp_map_async, mp_starmap_async, mp_apply_async
 *
 * The call returns at once with a handle; tasks write into `out` as they
 * finish, so `out` (and mp_call.results) must stay valid until the handle
 * is ready.  Options, inputs and context are copied at submission, so the
 * caller may reuse them at once -- except inputs in mp_shm memory, which
 * are used in place and must not change until the handle is ready.
 *
 * Callbacks (mp_call.callback / error_callback) run on a thread the pool
 * owns -- never in a worker, never in a thread of yours -- once, after the
 * results are in place: `callback` when every task succeeded, else
 * `error_callback`.  A callback must not call mp_async_free on its own
 * handle, nor close the pool.
 * ====================================================================== */

typedef void (*mp_async_callback)(mp_async *result, void *arg);

/* As mp_map / mp_starmap / mp_apply, but returns at once with *result.
 * Errors as those calls for bad arguments (nothing started); the task
 * failures are reported by mp_async_get.  At most 64 calls per pool run at
 * once; a further call waits for a slot (a bounded window, not an error). */
MP_API int mp_map_async(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                        void *out, size_t out_size, const mp_call *call, mp_async **result);
/* mp_map_strings, async: the strings are copied for the call on every
 * backend, so the caller may free them as soon as this returns. */
MP_API int mp_map_strings_async(mp_pool *pool, mp_map_fn fn, const char *const *strings, size_t count,
                                void *out, size_t out_size, const mp_call *call, mp_async **result);
MP_API int mp_starmap_async(mp_pool *pool, mp_star_fn fn, const mp_array *args, size_t nargs,
                            void *out, size_t out_size, const mp_call *call, mp_async **result);
MP_API int mp_apply_async(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size,
                          void *out, size_t out_size, const mp_call *call, mp_async **result);

/* Waits until the call has finished (all results in place, callbacks run).
 * Returns 0 when ready, MP_ETIMEDOUT, or MP_EINVAL (NULL, bad timeout). */
MP_API int mp_async_wait(mp_async *result, double timeout);
/* 1 if finished, else 0 (0 for NULL). */
MP_API int mp_async_ready(mp_async *result);
/* 1 if finished and every task succeeded, 0 if finished with failures,
 * MP_EAGAIN if not finished yet, MP_EINVAL for NULL. */
MP_API int mp_async_successful(mp_async *result);
/* Waits (up to timeout) and reports the outcome: 0, or MP_ETASK with
 * every failure in *failures (optional), or the call's error (MP_EBROKEN,
 * MP_ECLOSED).  MP_ETIMEDOUT leaves everything as it was.  May be called
 * any number of times (as Python's AsyncResult.get): each call returns the
 * same code and fills *failures with its own copy of the same list, which
 * the caller owns and frees with mp_failures_free (MP_ENOMEM if there is no
 * memory for the copy).  The results themselves are in the caller's `out`
 * (and mp_call.results) from the moment the handle is ready. */
MP_API int mp_async_get(mp_async *result, double timeout, mp_failures *failures);
/* Releases the handle.  If the call is still running, its unstarted tasks
 * are cancelled and running ones finish first (they write into `out`).
 * NULL is ignored.  Thread-safe with respect to the pool. */
MP_API void mp_async_free(mp_async *result);

/* ======================================================================
 * Futures (concurrent.futures)
 *
 * mp_submit runs one call fn(in) and returns a future.  The result (out_size
 * fixed bytes, plus optional variable-size bytes) is kept in the future
 * until taken.  Futures are reference-counted: the caller's reference is
 * released with mp_future_free, in any order relative to the pool (a pool
 * closed first leaves the future usable: done, or cancelled).  Done
 * callbacks run on a thread the pool owns; a callback added to a finished
 * future runs at once in the calling thread (as Python does).
 * ====================================================================== */

typedef struct mp_future mp_future;
typedef void (*mp_future_callback)(mp_future *future, void *arg);

/* Submits fn(in).  `in` (in_size bytes, may be NULL with 0) is copied;
 * out_size is the size of the task's fixed output (0: none).
 * call may be NULL; its context is copied; its seed and stream name the
 * task's random stream (by default, the pool's next one-task number: see
 * mp_call.seed); its timeout limits the task as mp_call.timeout does for
 * mp_map (0: the pool's task_timeout; a task past it fails with
 * MP_ETIMEDOUT, see "Failures"); chunksize, failures, results and
 * callbacks in it are ignored.  Errors: MP_EINVAL (also a NaN or negative
 * timeout other than MP_FOREVER), MP_ENOMEM, MP_ECLOSED (pool shut down),
 * MP_EBROKEN. */
MP_API int mp_submit(mp_pool *pool, mp_map_fn fn, const void *in, size_t in_size, size_t out_size,
                     const mp_call *call, mp_future **future);

/* Waits up to timeout for the future to finish; 0, MP_ETIMEDOUT, MP_EINVAL. */
MP_API int mp_future_wait(mp_future *future, double timeout);
/* Waits and copies the fixed-size result into out (out_size must equal the
 * submitted size; out may be NULL when it is 0).  Returns 0; MP_ETASK if the
 * task failed (message in mp_last_error, details via mp_future_failure);
 * MP_ECANCELED; MP_ETIMEDOUT; MP_EINVAL.  May be called repeatedly. */
MP_API int mp_future_result(mp_future *future, double timeout, void *out, size_t out_size);
/* Waits and hands over the variable-size result (mp_task_write): the
 * caller owns bytes->data afterwards.  A second call is MP_EINVAL
 * ("already taken").  Errors otherwise as mp_future_result. */
MP_API int mp_future_bytes(mp_future *future, double timeout, mp_bytes *bytes);
/* The failure of a finished, failed future, or NULL (success, not finished,
 * cancelled, NULL).  Valid until mp_future_free. */
MP_API const mp_failure *mp_future_failure(mp_future *future);
/* Cancels a future that has not started: returns 1 if cancelled (its
 * callbacks run), 0 if it is running or done.  MP_EINVAL for NULL. */
MP_API int mp_future_cancel(mp_future *future);
MP_API int mp_future_cancelled(mp_future *future);  /* 1/0 */
MP_API int mp_future_running(mp_future *future);    /* 1 while a worker runs it */
MP_API int mp_future_done(mp_future *future);       /* 1 if finished or cancelled */
/* Adds a callback run once when the future finishes (or at once, in this
 * thread, if it already has).  Errors: MP_EINVAL (NULL), MP_ENOMEM. */
MP_API int mp_future_add_done_callback(mp_future *future, mp_future_callback cb, void *arg);
/* Releases the caller's reference.  A pending future is cancelled first;
 * a running one finishes and is then discarded.  NULL is ignored. */
MP_API void mp_future_free(mp_future *future);

typedef enum mp_wait_mode {
    MP_FIRST_COMPLETED = 1,   /* any future finished or cancelled */
    MP_FIRST_EXCEPTION = 2,   /* any future failed, or all finished */
    MP_ALL_COMPLETED = 3      /* every future finished or cancelled */
} mp_wait_mode;

/* Waits until `mode` holds for the n futures (from one pool).  Returns 0
 * when it holds, MP_ETIMEDOUT when the timeout expired first; *ndone
 * (optional) is the number finished either way.  MP_EINVAL for n == 0,
 * NULL entries, futures of different pools, an unknown mode or a bad
 * timeout. */
MP_API int mp_wait(mp_future *const *futures, size_t n, double timeout, mp_wait_mode mode, size_t *ndone);

/* Yields futures as they finish (Python's as_completed).  The iterator
 * keeps its own references; free it with mp_as_completed_free. */
typedef struct mp_as_completed mp_as_completed;
MP_API int mp_as_completed_open(mp_future *const *futures, size_t n, mp_as_completed **it);
/* Next finished future in *future (borrowed from the caller's set): 0,
 * MP_ETIMEDOUT (the timeout covers this call), MP_EEOF when all were
 * yielded. */
MP_API int mp_as_completed_next(mp_as_completed *it, double timeout, mp_future **future);
MP_API void mp_as_completed_free(mp_as_completed *it);
/* Shows a progress bar over the set, counting the futures yielded, as
 * Python users wrap as_completed in tqdm.  Without this call the iterator
 * shows one when MPROC_PROGRESS asks.  Call it before the first next;
 * later calls replace the options.  MP_EINVAL for NULL; MP_ENOMEM. */
MP_API int mp_as_completed_progress(mp_as_completed *it, const mp_progress *opts);

/* Python's Executor.shutdown: the pool takes no more submissions or calls
 * (MP_ECLOSED); with cancel_futures, futures not yet started are cancelled;
 * with wait, returns when everything submitted has finished.  The pool is
 * still to be released with mp_pool_close.  Idempotent. */
MP_API int mp_pool_shutdown(mp_pool *pool, int wait, int cancel_futures);

/* ======================================================================
 * imap and imap_unordered
 *
 * An iterator over results, in input order (MP_IMAP_ORDERED) or in order of
 * completion (MP_IMAP_UNORDERED).  Inputs come from an array or from a
 * generator called on demand; only a window of inputs is ever in flight
 * (mp_imap_options.window, default 4 x workers x chunksize, at least 64),
 * so an endless input runs in constant memory.  The generator and the
 * iterator run in the thread that calls mp_imap_next.
 * ====================================================================== */

typedef struct mp_imap mp_imap;

/* Produces the next input into `in` (in_size bytes).  Returns 1 when it
 * produced one, 0 at the end of the input, or a negative code to fail the
 * iteration (mp_imap_next then returns it). */
typedef int (*mp_generator_fn)(void *state, void *in);

typedef enum mp_imap_order { MP_IMAP_ORDERED = 0, MP_IMAP_UNORDERED = 1 } mp_imap_order;

typedef struct mp_imap_options {
    mp_imap_order order;
    size_t chunksize;           /* tasks per claim; 0 means 1 */
    size_t window;              /* inputs in flight; 0: the default */
    const void *context;        /* as mp_call.context */
    size_t context_size;
    int collect_bytes;          /* 1: tasks may mp_task_write */
    uint64_t seed;              /* random streams: input i draws from
                                   (seed, i), as in mp_call.seed */
    mp_progress progress;       /* a bar counting the results taken with
                                   mp_imap_next; its total is the count, or
                                   unknown until a generator ends */
} mp_imap_options;

/* Opens an iterator over fn applied to `count` elements of `in`, or, when
 * `generator` is not NULL, to what the generator produces (in is then
 * unused; count is ignored).  opts may be NULL.  in_size may be 0 (tasks get
 * NULL), out_size may be 0.  Errors: MP_EINVAL (also when window x in_size,
 * window x out_size or count x in_size does not fit a size_t), MP_ENOMEM,
 * MP_ECLOSED. */
MP_API int mp_imap_open(mp_pool *pool, mp_map_fn fn, const void *in, size_t count, size_t in_size,
                        mp_generator_fn generator, void *generator_state, size_t out_size,
                        const mp_imap_options *opts, mp_imap **it);

/* Takes the next result: copies the task's output into out (out_size
 * bytes as opened; out may be NULL when 0), its input position into *index
 * (optional), and its variable-size result into *bytes (optional; caller
 * owns it).  Returns 0; MP_ETASK if this task failed (mp_last_error names
 * it; iteration goes on); MP_EEOF after the last result; MP_ETIMEDOUT;
 * a generator's negative code; MP_EINVAL. */
MP_API int mp_imap_next(mp_imap *it, double timeout, void *out, size_t *index, mp_bytes *bytes);
/* Releases the iterator at any point: inputs not yet started are dropped,
 * running tasks finish first.  NULL is ignored.  Closing or terminating
 * the pool stops open iterators the same way; they must still be freed,
 * and mp_imap_next on them returns MP_ECLOSED. */
MP_API void mp_imap_free(mp_imap *it);

/* ======================================================================
 * Progress bars of your own
 *
 * The renderer the pools use, for any loop: open a bar with a total (0 if
 * unknown), move it from any thread, close it.  Drawn as the calls' bars
 * are (the mode and MPROC_PROGRESS decide; several bars stack, one line
 * each).  `mproc run --bar` uses it.
 *
 *     mp_bar *bar;
 *     mp_bar_open(&bar, nfiles, &(mp_progress){ .mode = MP_PROGRESS_ON });
 *     for (...) { work(); mp_bar_add(bar, 1); }
 *     mp_bar_close(bar);
 * ====================================================================== */

typedef struct mp_bar mp_bar;

/* Opens a bar.  opts may be NULL (MP_PROGRESS_AUTO, label "progress").
 * When there is nothing to draw and no callback, *bar is still a valid
 * handle whose updates cost an atomic add.  Errors: MP_EINVAL (bar NULL),
 * MP_ENOMEM. */
MP_API int mp_bar_open(mp_bar **bar, uint64_t total, const mp_progress *opts);
/* Adds n to the count, or sets it.  Thread-safe, lock-free, no system
 * call.  MP_EINVAL for NULL. */
MP_API int mp_bar_add(mp_bar *bar, uint64_t n);
MP_API int mp_bar_set(mp_bar *bar, uint64_t done);
/* Changes the total (0: unknown) or the label (copied).  Thread-safe. */
MP_API int mp_bar_set_total(mp_bar *bar, uint64_t total);
MP_API int mp_bar_set_label(mp_bar *bar, const char *label);
/* Draws the final line (and makes the last callback), then frees the bar.
 * Returns when both are done.  NULL is ignored. */
MP_API void mp_bar_close(mp_bar *bar);

/* ======================================================================
 * Map-reduce
 *
 * The map reads one input element (an array element, or a chunk of a
 * buffer or of files split at record boundaries) and emits (key, value)
 * pairs with mp_emit.  Pairs go into tables of the worker that emitted
 * them, one per partition; with a combiner, a key's value is combined in
 * place at every emit, so a word count keeps one counter per distinct word
 * and never a pair per word.  Then one reduce task per partition merges the
 * workers' tables for that partition and calls the reduce once per key --
 * with all its values, or with the combined value -- and the caller gets
 * one array of (key, result), owned by it.
 *
 *     static int words(mp_task *task, const void *in, mp_emitter *emit)
 *     {
 *         const mp_mr_chunk *c = in;            (a piece of the files)
 *         for each word w in c->data[0 .. c->size):
 *             mp_emit(emit, w, len, &(uint64_t){ 1 });
 *         return 0;
 *     }
 *     static void add(void *acc, const void *v) { *(uint64_t *)acc += *(const uint64_t *)v; }
 *
 *     mp_mapreduce mr = { .map = words, .combine = add, .value_size = 8 };
 *     mp_mr_result res;
 *     mp_mapreduce_files(pool, &mr, paths, n, MP_MR_WORDS, 0, &res);
 *     mp_mr_sort_by_value(&res, by_count_descending, 20);   (the top 20)
 *     ... res.items[i].key, .key_size, .value ...
 *     mp_mr_result_free(&res);
 *
 * Keys are either of one fixed size (key_size > 0: integers, histogram
 * bins, small arrays) or byte strings of any length (key_size 0; mp_emit
 * says each one's length).  Values have one fixed size.  Two keys are the
 * same when their bytes are.
 *
 * The memory rule: with a combiner, each worker's tables grow with the
 * distinct keys it saw (key bytes + value + about 24 bytes each), never
 * with the pairs emitted; without one, with the pairs (value + 8 bytes
 * each).  The tables live in the shared arena (MPROC_SHM_SIZE), so process
 * workers shuffle with no pipe and no copy per pair.  A run whose tables
 * do not fit fails with MP_ENOMEM and a message, and returns nothing.
 *
 * Failures: a map or reduce task that fails (returns non-zero,
 * mp_task_fail) is reported as in mp_map -- the call returns MP_ETASK,
 * mp_last_error() names the first failed task, mapreduce.failures lists
 * each (the map's task indices are input positions or chunk numbers; the
 * reduce's are partitions) -- and the result is empty: part of a map's
 * pairs may already have been combined.  For the same reason a process
 * worker that dies in the middle of a map task fails the run (MP_ETASK),
 * even where the pool's `retries` re-ran the task; a worker replaced
 * between tasks (maxtasksperchild, or killed while idle) hands its tables
 * to its replacement and the run goes on.
 *
 * Runs on thread and process pools, behind the same calls; the map and
 * reduce functions follow the pool's memory rule (see mp_map).
 * ====================================================================== */

typedef struct mp_emitter mp_emitter;

/* Emits one pair from a map task: key_size bytes of key (for fixed-size
 * keys it must equal mapreduce.key_size), and a value of value_size bytes.
 * Both are copied.  Returns 0; MP_EINVAL (NULL, a wrong or zero key size
 * for byte-string keys, keys over 2^31 bytes); MP_ENOMEM when the worker's
 * tables do not fit in the shared arena (return it from the map: the run
 * then fails with MP_ENOMEM).  Only in the map task it was given to. */
MP_API int mp_emit(mp_emitter *emit, const void *key, size_t key_size, const void *value);
/* mapreduce.context (a private copy on process workers), or NULL. */
MP_API const void *mp_emitter_context(const mp_emitter *emit);

/* The map: reads `in` and emits.  0, or a failure code (mp_task_fail). */
typedef int (*mp_mr_map_fn)(mp_task *task, const void *in, mp_emitter *emit);
/* acc = acc (+) value, for an associative and commutative (+).  The first
 * value of a key is copied into acc; later ones are combined into it. */
typedef void (*mp_mr_combine_fn)(void *acc, const void *value);
/* Called once per key, with its n >= 1 values side by side (value_size
 * bytes each; with a combiner, n is 1: the combined value).  Writes the
 * key's result (result_size bytes) into out.  0, or a failure code. */
typedef int (*mp_mr_reduce_fn)(mp_task *task, const void *key, size_t key_size, const void *values, size_t n,
                               void *out);
/* Which partition, 0 .. npartitions-1, a key goes to (default: a hash). */
typedef size_t (*mp_mr_partition_fn)(const void *key, size_t key_size, size_t npartitions);
/* Orders keys (sort) or results (mp_mr_sort_by_value): < 0, 0, > 0. */
typedef int (*mp_mr_compare_fn)(const void *a, size_t a_size, const void *b, size_t b_size);

typedef struct mp_mapreduce {
    mp_mr_map_fn map;                /* required */
    mp_mr_combine_fn combine;        /* optional */
    mp_mr_reduce_fn reduce;          /* required without a combiner */
    mp_mr_partition_fn partition;    /* optional: a hash of the key's bytes */
    size_t key_size;                 /* bytes of every key; 0: byte strings */
    /* Optional, for small integer keys (bins, cluster numbers): every key
     * is an unsigned integer of key_size 1, 2, 4 or 8 bytes, in the
     * machine's byte order, below key_range.  Tables are then arrays
     * indexed by the key (no hashing, no probing), partition p holds the
     * p-th contiguous block of the range unless `partition` is set, and a
     * key out of range fails its map task with MP_EINVAL.  Each worker's
     * tables index key_range keys in all (4 bytes each; with a partition
     * function of your own, key_range per partition).  0: hashed tables. */
    uint64_t key_range;
    size_t value_size;               /* bytes of every value (> 0) */
    size_t result_size;              /* bytes of each reduce result; 0: value_size */
    /* Sort the result by key: 0 no (partition order), 1 yes -- by
     * key_compare, or by the key bytes (memcmp, then length). */
    int sort;
    mp_mr_compare_fn key_compare;
    const void *context;             /* blob the map reads (mp_emitter_context) */
    size_t context_size;
    size_t partitions;               /* reduce tasks; 0: 4 x workers */
    size_t chunk_bytes;              /* buffers and files: bytes per map task
                                        (0: 4 MiB), cut at record boundaries */
    mp_failures *failures;           /* OUT, optional, as mp_call.failures */
    mp_progress progress;            /* a bar over the map's tasks */
} mp_mapreduce;

/* One key's outcome. */
typedef struct mp_kv {
    const void *key;
    size_t key_size;
    void *value;                     /* result_size bytes */
} mp_kv;

/* The caller owns it; mp_mr_result_free releases it (safe twice). */
typedef struct mp_mr_result {
    size_t count;
    size_t value_size;               /* bytes of each item's value (result_size) */
    mp_kv *items;
    void *storage_;                  /* private */
} mp_mr_result;

/* How buffers and files are cut into map tasks: after a newline
 * (MP_MR_LINES), at whitespace (MP_MR_WORDS), or every record_size bytes
 * (MP_MR_FIXED). */
typedef enum mp_mr_records { MP_MR_LINES = 0, MP_MR_WORDS = 1, MP_MR_FIXED = 2 } mp_mr_records;

/* What a map task gets as `in` for a buffer or files: its chunk, which
 * starts and ends at record boundaries (a record longer than chunk_bytes
 * stays whole).  data is read-only, valid during the task. */
typedef struct mp_mr_chunk {
    const char *data;
    size_t size;
    size_t file;                     /* index in paths (0 for a buffer) */
    uint64_t offset;                 /* of data in that file or buffer */
} mp_mr_chunk;

/* Runs map over `count` elements of `in` (in_size bytes each; in may be
 * NULL with in_size 0, as in mp_map), then reduce, into *result.  Returns
 * 0; MP_ETASK (see "Failures" above; *result is empty); MP_ENOMEM;
 * MP_EINVAL (NULL pool, mapreduce, map or result; value_size 0; no reduce
 * and no combiner; result_size set without a reduce; on an MPI pool, a
 * map, combine, reduce or partition function that is in no loaded
 * object's code; nothing started); and the pool's errors (MP_ECLOSED,
 * MP_EBROKEN, ...).  *result is empty on any error.
 *
 * On an MPI pool the map runs on the serving ranks, each into tables of
 * its own; the ranks then send each other the partitions they own (pairs
 * cross the network once, after combining) and reduce them, and rank 0
 * gets the records.  The memory rule holds per rank: each rank's tables
 * grow with the distinct keys it sees. */
MP_API int mp_mapreduce_array(mp_pool *pool, const mp_mapreduce *mapreduce, const void *in, size_t count,
                              size_t in_size, mp_mr_result *result);
/* Over a buffer cut at record boundaries; each map task gets an
 * mp_mr_chunk.  On process pools a buffer not in mp_shm memory is copied
 * into the arena for the call (put large inputs in mp_shm_alloc memory to
 * avoid the copy).  On MPI pools each chunk's bytes go to the rank that
 * maps it, once: straight from the buffer for MP_MR_FIXED (whose chunks are
 * of one size), packed first for lines and words (one copy of the buffer
 * for the call).  record_size: MP_MR_FIXED's record length (else 0). */
MP_API int mp_mapreduce_buffer(mp_pool *pool, const mp_mapreduce *mapreduce, const char *data, size_t size,
                               mp_mr_records records, size_t record_size, mp_mr_result *result);
/* Over files, each cut at record boundaries (a chunk never spans two
 * files); workers map their own chunks, read-only (on an MPI pool each rank
 * opens the same paths: a file system every node sees).  Errors as above,
 * and the open/read errors of a file (nothing started). */
MP_API int mp_mapreduce_files(mp_pool *pool, const mp_mapreduce *mapreduce, const char *const *paths,
                              size_t npaths, mp_mr_records records, size_t record_size, mp_mr_result *result);

/* Sorts the items by value, largest first (compare gets two values and
 * value_size twice; ties keep no particular order), keeping the first k
 * (0: all): the top k.  MP_EINVAL for NULL. */
MP_API int mp_mr_sort_by_value(mp_mr_result *result, mp_mr_compare_fn compare, size_t k);
MP_API void mp_mr_result_free(mp_mr_result *result);

/* ======================================================================
 * Random streams
 *
 * A Monte Carlo result should be bit-identical for any worker count,
 * backend, chunk size and schedule.  So a task's random numbers depend only
 * on the call's seed and the task's stream number -- its index in the call
 * (mp_map, mp_starmap, imap), or its submission number (mp_apply,
 * mp_submit; see mp_call.seed) -- never on which worker runs it, or when:
 *
 *     static int sample(mp_task *task, const void *in, void *out)
 *     {
 *         mp_rng *rng = mp_task_rng(task);
 *         *(double *)out = mp_rng_normal(rng);
 *         return 0;
 *     }
 *
 * The same streams are available outside pools: mp_rng_init(&rng, seed, i)
 * gives exactly what task i of a map with that seed draws.
 *
 * How: Philox4x32-10 (a counter-based generator, as in Random123), keyed by
 * the seed, turns the counters (0, 0, stream) and (1, 0, stream) into 256
 * bits -- counter words (c0, c1, c2, c3) are (block, 0, low and high 32
 * bits of the stream), the key words the low and high halves of the seed.
 * Those bits are the state of a xoshiro256++ generator, which makes the
 * draws (one to three nanoseconds each; mp_rng_fill is the cheapest per
 * number).  Distinct streams start at unrelated points of a 2^256 - 1
 * period.  Not for cryptography.
 *
 * An mp_rng is used by one thread at a time; it owns no resources (nothing
 * to free), and may be copied to replay a stream from that point.
 * ====================================================================== */

typedef struct mp_rng {
    uint64_t state[4];   /* private: the xoshiro256++ state */
    double spare;        /* private: the second normal of the last pair */
    int has_spare;
} mp_rng;

/* Sets rng to the start of stream `stream` under `seed`.  Returns 0, or
 * MP_EINVAL if rng is NULL. */
MP_API int mp_rng_init(mp_rng *rng, uint64_t seed, uint64_t stream);

/* The running task's generator, derived from (call seed, task stream) the
 * first time the task asks, so tasks that draw nothing pay nothing.  Later
 * calls in the same task return the same generator, where the task left
 * it.  Owned by the pool; valid until the task function returns; use it
 * only in the task's own thread.  NULL if task is NULL (MP_EINVAL in
 * mp_last_error). */
MP_API mp_rng *mp_task_rng(mp_task *task);

/* The next 64 random bits.  (A NULL rng returns 0 and sets mp_last_error;
 * the same holds for the draws below.) */
MP_API uint64_t mp_rng_u64(mp_rng *rng);
/* A double uniform on [0, 1): a multiple of 2^-53, never 1.0. */
MP_API double mp_rng_double(mp_rng *rng);
/* An integer uniform on [0, bound), without modulo bias (Lemire's method:
 * a few draws are rejected and redrawn, at most half of them for the worst
 * bound).  bound 0 means the whole 64-bit range (2^64 mod 2^64). */
MP_API uint64_t mp_rng_below(mp_rng *rng, uint64_t bound);
/* A standard normal (mean 0, variance 1), by Marsaglia's polar method: the
 * pair's second value is kept in rng for the next call. */
MP_API double mp_rng_normal(mp_rng *rng);
/* Stores the next n outputs of mp_rng_u64 in out: the same numbers, at a
 * lower cost per number.  Returns 0, or MP_EINVAL (rng NULL, or out NULL
 * with n > 0). */
MP_API int mp_rng_fill(mp_rng *rng, uint64_t *out, size_t n);

/* Raw Philox4x32-10: out = the block for `counter` under `key`, bit for
 * bit as Random123's philox4x32(ctr, key).  For programs that want random
 * access by counter.  Returns 0, or MP_EINVAL if a pointer is NULL. */
MP_API int mp_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* ======================================================================
 * Synchronisation between processes and threads
 *
 * Lock, RLock, Semaphore (optionally bounded), Event, Condition and Barrier,
 * as in Python's multiprocessing.  Each works between the threads of one
 * process and between processes alike, provided it lives in memory every
 * party sees:
 *   - mp_X_create allocates it from the shared arena (mp_shm_alloc), so it
 *     is usable from every process of the tree, including process-pool
 *     workers and mp_process children; mp_X_destroy frees it.
 *   - mp_X_init prepares one in memory the caller provides (a struct in
 *     mp_shm_alloc memory, in a named segment, or in private memory for
 *     threads only); mp_X_destroy then only marks it dead.
 * The structures are public so that they can be embedded; their fields are
 * private.  Destroy an object only when nobody uses it any more; using one
 * after destroy is MP_EINVAL while its memory has not been reused.
 *
 * Who destroys an object.  Every object whose state lives in shared memory
 * -- locks, semaphores, events, conditions, barriers, queues, dictionaries,
 * shared values and arrays -- belongs to the process that made it
 * (mp_X_create or mp_X_init), and only that process's mp_X_destroy (and
 * mp_queue_close) acts on it.  In any other process, such as a child forked
 * after the object was made, which inherited copies of the pointers and
 * may destroy them on its way out, or a pool worker, the call releases only
 * that process's view, which holds nothing: it returns 0 and the object
 * goes on unharmed for everyone else.  If the creator has died, the first
 * process to destroy the object takes it over, so nothing leaks with a dead
 * creator.  Pipe ends belong to the process that uses them (see Pipes);
 * named segments are unlinked only by their creator (see there).  Plain
 * mp_shm_alloc memory is the exception: it is raw memory, and any process
 * of the tree may mp_shm_free a block, once.
 *
 * Waiting spins briefly (a hand-off between two running processes then
 * costs well under a microsecond) and then sleeps on a futex.  Every wait
 * takes a timeout in seconds: MP_FOREVER waits without limit; 0 only tries.
 * When the time runs out the result is MP_EAGAIN for a timeout of 0 and
 * MP_ETIMEDOUT otherwise.
 *
 * Robust locks.  mp_lock, mp_rlock and the lock inside mp_cond are owned by
 * a thread.  If the owner dies (its process is killed, or the thread ends)
 * while holding one, the next acquirer gets the lock together with
 * MP_EOWNERDEAD: it holds the lock and must decide whether the data the
 * lock protects is consistent.  A dead owner is noticed within about 0.1 s
 * by the threads waiting for the lock (they check the owner's thread id in
 * /proc as they wait), and at once by a caller that only tries (timeout 0).  Semaphores, events and barriers have no owner:
 * permits held by a process that dies are not returned.
 * ====================================================================== */

/* A non-recursive robust lock.  Release by a thread that does not hold it
 * is MP_EINVAL; so is acquiring it again in the thread that holds it (that
 * would deadlock). */
typedef struct mp_lock {
    uint32_t word, magic, flags, owner;
} mp_lock;

/* Prepares `l` (unlocked).  Not to be called on a lock in use. */
MP_API int mp_lock_init(mp_lock *l);
/* Allocates and prepares a lock in the shared arena.  MP_ENOMEM. */
MP_API int mp_lock_create(mp_lock **out);
/* Marks the lock dead; frees it if mp_lock_create made it.  Only in the
 * process that made it; elsewhere 0, and nothing changes (see above). */
MP_API int mp_lock_destroy(mp_lock *l);
/* 0, MP_EOWNERDEAD (acquired from a dead owner), MP_EAGAIN/MP_ETIMEDOUT. */
MP_API int mp_lock_acquire(mp_lock *l, double timeout);
MP_API int mp_lock_release(mp_lock *l);

/* A recursive robust lock: the owning thread may acquire it again and must
 * release it as many times. */
typedef struct mp_rlock {
    uint32_t word, count, magic, flags, owner;
} mp_rlock;

MP_API int mp_rlock_init(mp_rlock *l);
MP_API int mp_rlock_create(mp_rlock **out);
/* As mp_lock_destroy: acts only in the process that made the lock. */
MP_API int mp_rlock_destroy(mp_rlock *l);
MP_API int mp_rlock_acquire(mp_rlock *l, double timeout);
MP_API int mp_rlock_release(mp_rlock *l);

/* A counting semaphore.  `max` 0 makes it unbounded; otherwise it is a
 * bounded semaphore (Python's BoundedSemaphore): a release that would raise
 * the count above `max` is MP_EINVAL and changes nothing.  value and max are
 * at most INT32_MAX. */
typedef struct mp_sem {
    uint32_t value, waiters, max, magic, flags, owner;
} mp_sem;

MP_API int mp_sem_init(mp_sem *s, unsigned value, unsigned max);
MP_API int mp_sem_create(mp_sem **out, unsigned value, unsigned max);
/* As mp_lock_destroy: acts only in the process that made the semaphore. */
MP_API int mp_sem_destroy(mp_sem *s);
MP_API int mp_sem_acquire(mp_sem *s, double timeout);
MP_API int mp_sem_release(mp_sem *s);
/* The current count (a snapshot). */
MP_API int mp_sem_value(const mp_sem *s, unsigned *out);

/* An event: a flag that mp_event_wait waits for. */
typedef struct mp_event {
    uint32_t flag, waiters, magic, flags, owner;
} mp_event;

MP_API int mp_event_init(mp_event *e);
MP_API int mp_event_create(mp_event **out);
/* As mp_lock_destroy: acts only in the process that made the event. */
MP_API int mp_event_destroy(mp_event *e);
/* Sets the flag and wakes every waiter. */
MP_API int mp_event_set(mp_event *e);
MP_API int mp_event_clear(mp_event *e);
/* 1 if set, 0 if not (or if `e` is not a live event). */
MP_API int mp_event_is_set(const mp_event *e);
/* Returns 0 as soon as the flag is set, else the expiry code. */
MP_API int mp_event_wait(mp_event *e, double timeout);

/* A condition variable with its own recursive robust lock (Python's
 * Condition()).  wait/notify require the calling thread to hold the lock
 * (else MP_EINVAL).  mp_cond_wait releases the lock completely, sleeps
 * until notified or the timeout, and re-acquires the lock to the same depth
 * before it returns -- whatever it returns, except MP_EINVAL.  Wake-ups can
 * be spurious: test the predicate in a loop, or use mp_cond_wait_for. */
typedef struct mp_cond {
    mp_rlock lock;
    uint32_t seq, waiters, magic, flags, owner;
} mp_cond;

MP_API int mp_cond_init(mp_cond *c);
MP_API int mp_cond_create(mp_cond **out);
/* As mp_lock_destroy: acts only in the process that made the condition. */
MP_API int mp_cond_destroy(mp_cond *c);
MP_API int mp_cond_acquire(mp_cond *c, double timeout);
MP_API int mp_cond_release(mp_cond *c);
/* 0 (notified, or spuriously woken), MP_EAGAIN/MP_ETIMEDOUT, or
 * MP_EOWNERDEAD if a process died holding the lock meanwhile. */
MP_API int mp_cond_wait(mp_cond *c, double timeout);
/* Waits until predicate(arg) returns non-zero, evaluated with the lock
 * held.  0 when it holds, the expiry code if it still fails at the end. */
MP_API int mp_cond_wait_for(mp_cond *c, int (*predicate)(void *arg), void *arg, double timeout);
/* Wakes up to n waiters (n >= 1) / all waiters. */
MP_API int mp_cond_notify(mp_cond *c, int n);
MP_API int mp_cond_notify_all(mp_cond *c);

/* A barrier for `parties` callers (Python's Barrier).  mp_barrier_wait
 * returns 0 once all have arrived and stores the caller's arrival index
 * (0 .. parties-1) in *index if index is not NULL.  A wait that times out
 * breaks the barrier: that caller gets the expiry code, the other waiters
 * and every later wait get MP_EBROKEN until mp_barrier_reset.  The barrier
 * is reusable: generation after generation. */
typedef struct mp_barrier {
    uint32_t lock, gen, arrived, parties, broken, broken_gen, magic, flags, owner;
} mp_barrier;

MP_API int mp_barrier_init(mp_barrier *b, unsigned parties);
MP_API int mp_barrier_create(mp_barrier **out, unsigned parties);
/* As mp_lock_destroy: acts only in the process that made the barrier. */
MP_API int mp_barrier_destroy(mp_barrier *b);
MP_API int mp_barrier_wait(mp_barrier *b, double timeout, unsigned *index);
/* Breaks the barrier: current and later waits get MP_EBROKEN. */
MP_API int mp_barrier_abort(mp_barrier *b);
/* Returns the barrier to its initial state; callers still waiting get
 * MP_EBROKEN. */
MP_API int mp_barrier_reset(mp_barrier *b);
/* 1 if broken, else 0. */
MP_API int mp_barrier_broken(const mp_barrier *b);

/* ======================================================================
 * Processes
 *
 * mp_process runs a function in a forked child (Python's Process with the
 * fork start method).  The child sees the argument blob, its globals and
 * the parent's memory as they were at mp_process_start, plus all mp_shm
 * memory; what it writes to ordinary memory stays in the child.  The
 * function's return value (0..255) is the exit code.  The child reseeds
 * libc's random generators first (see the top of this file), and leaves
 * with _exit() after flushing stdio, so the parent's atexit handlers never
 * run twice.  Every descriptor mproc opens is close-on-exec.
 *
 * An mp_process handle belongs to the process that started the child and
 * is used by one thread at a time.  Reap every child: join it (or kill and
 * join) before mp_process_close.  Forking a process that has other threads
 * copies only the calling thread; the child should not rely on locks held
 * by those threads (the usual fork rule).
 * ====================================================================== */

typedef struct mp_process mp_process;
typedef int (*mp_process_fn)(void *arg, size_t size);

/* A daemon child is killed (SIGKILL) when the thread that started it ends
 * -- in particular when the parent process exits or dies. */
#define MP_PROCESS_DAEMON 1

/* Forks a child that runs fn(arg, size) and exits with its result.
 * `name` (NULL: "Process-N"; at most 127 bytes) is what the child sees as
 * mp_process_current_name().  flags: 0 or MP_PROCESS_DAEMON.  The caller
 * keeps ownership of arg; the child works on its own copy.
 * Errors: MP_EINVAL, MP_ENOMEM, -EAGAIN (fork failed). */
MP_API int mp_process_start(mp_process **out, const char *name, mp_process_fn fn, const void *arg, size_t size,
                            int flags);
/* Waits until the child has ended and reaps it: 0, or the expiry code. */
MP_API int mp_process_join(mp_process *p, double timeout);
/* 1 while the child runs, 0 once it has ended (and then reaps it). */
MP_API int mp_process_is_alive(mp_process *p);
/* The exit code of an ended child: its status, or -N if signal N killed it
 * (as in Python).  MP_EAGAIN while it still runs. */
MP_API int mp_process_exitcode(mp_process *p, int *code);
/* Sends SIGTERM / SIGKILL.  No effect on a child already reaped. */
MP_API int mp_process_terminate(mp_process *p);
MP_API int mp_process_kill(mp_process *p);
MP_API int mp_process_pid(const mp_process *p);
MP_API const char *mp_process_name(const mp_process *p);
/* Frees the handle.  MP_EINVAL (nothing changes) while the child runs. */
MP_API int mp_process_close(mp_process *p);
/* The calling process's name ("MainProcess" outside mp_process children)
 * and pid. */
MP_API const char *mp_process_current_name(void);
MP_API int mp_process_current_pid(void);

/* ======================================================================
 * Pipes
 *
 * mp_pipe_create makes two connected ends, `a` and `b` (Python's Pipe()).
 * A message sent on one end is received whole on the other, in order;
 * messages have any size (0 included), framing is done for you.  The pipe
 * lives in the shared arena, so its ends work from mp_process children and
 * process-pool workers whenever the pipe was made.  Typical use: make the
 * pipe, start a child that uses `b`, keep using `a` in the parent.
 *
 * Each end belongs to the process that last used it, except that an end
 * its creator has not used yet passes to the mp_process children the
 * creator starts afterwards: they may take it up, and the creator lets go.
 * When the peer end is closed, or every process it belongs to has died,
 * the other side first receives what is still in transit, then gets
 * MP_EEOF -- never a hang (a death is noticed within about 0.1 s), even when
 * the child died before it ever touched its end.  Sending to a closed or
 * dead peer is MP_EEOF too.  Several threads or processes may send (or
 * receive) on one end: messages never interleave; but end-of-file on death
 * assumes one process per end.  A child made with plain fork() receives no
 * end: it takes one over by using it.
 *
 * Performance: a message up to the capacity is one copy in and one copy
 * out, with no system call while both sides are running; larger messages
 * stream through the ring while the receiver drains it.
 * ====================================================================== */

typedef struct mp_pipe mp_pipe;

/* One-way pipe: `a` only receives, `b` only sends (Python's Pipe(False)). */
#define MP_PIPE_SIMPLEX 1

/* Creates a pipe.  flags: 0 (duplex) or MP_PIPE_SIMPLEX.  capacity: bytes
 * buffered per direction, rounded up to a power of two of at least 4 KiB;
 * 0 picks 256 KiB.  Errors: MP_EINVAL, MP_ENOMEM (arena). */
MP_API int mp_pipe_create(mp_pipe **a, mp_pipe **b, int flags, size_t capacity);
/* In the process the end belongs to (see above): closes it for every
 * process, and the peer gets MP_EEOF once it has drained what was sent.
 * In any other process -- the creator closing the end it passed to a child,
 * a child closing the end it does not use, a forked child closing what it
 * inherited -- it releases only the caller's view: it returns 0 and
 * changes nothing shared.  An end whose processes have all died is closed
 * by whoever closes it next.  The pipe's memory belongs to its creator: it
 * is released once both ends are closed and the creator has closed both of
 * its handles (in any order; a close that released only its view counts),
 * or once both ends are closed and the creator has died.  No handle may be
 * used after that.  Closing again an end the calling process already closed
 * is MP_ECLOSED; so is using it while the pipe lives (MP_EINVAL once
 * released, while the memory is not reused). */
MP_API int mp_pipe_close(mp_pipe *p);
/* Sends `size` bytes of `msg` (NULL allowed when size is 0).  Waits for
 * room; a message no larger than the capacity is sent entirely or not at
 * all within the timeout.  A larger one honours the timeout until its first
 * bytes are out, then completes.  Errors: MP_EEOF, MP_EINVAL (receive-only
 * end), the expiry code. */
MP_API int mp_pipe_send(mp_pipe *p, const void *msg, size_t size, double timeout);
/* Receives the next message into buf (capacity `cap`) and stores its size.
 * If it does not fit: MP_ERANGE, *size set to the size needed, and the
 * message stays first in line.  MP_EEOF once the peer is gone and nothing
 * is left.  The timeout applies until a message starts to arrive; the rest
 * of a message larger than the capacity is then awaited (or MP_EEOF). */
MP_API int mp_pipe_recv(mp_pipe *p, void *buf, size_t cap, size_t *size, double timeout);
/* Same, into memory allocated with malloc (caller frees *msg). */
MP_API int mp_pipe_recv_alloc(mp_pipe *p, void **msg, size_t *size, double timeout);
/* 0 when a receive would not block (a message waits, or end-of-file),
 * else the expiry code. */
MP_API int mp_pipe_poll(mp_pipe *p, double timeout);
/* Waits until at least one of `n` receiving ends is ready (as mp_pipe_poll)
 * and returns how many are; ready[i] is set to 1 for those, 0 for the
 * others.  The expiry code if none became ready in time. */
MP_API int mp_pipe_wait(mp_pipe *const *ends, size_t n, double timeout, int *ready);

/* ======================================================================
 * Queues
 *
 * mp_queue is a many-producer many-consumer queue of variable-size
 * messages, usable from threads and processes alike (Python's
 * multiprocessing.Queue and JoinableQueue).  It lives in the shared arena:
 * no feeder thread, no pickling, one copy in and one copy out.  Messages
 * come out in the order they went in.  It is bounded by a number of items
 * and by bytes: each message takes its size plus 8 bytes of the buffer.
 *
 * Timeouts as everywhere: 0 is the non-blocking form (MP_EAGAIN when it
 * would block), MP_FOREVER waits.  After mp_queue_close, puts fail with
 * MP_ECLOSED at once and gets return what is left, then MP_ECLOSED (waiting
 * getters wake up).  Every queue is joinable: each put counts an unfinished
 * task, mp_queue_task_done finishes one, mp_queue_join waits for none to be
 * left.  A process killed at any point of a put or get leaves the queue
 * exact: its message went in (or out) entirely or not at all, a message it
 * did not take out stays first in line, and the counts behind
 * mp_queue_size, the bound and mp_queue_join stay right.  A killed producer
 * loses only its own unpublished message; a killed consumer only the
 * message it had taken.  Thread-safe and process-safe throughout.
 *
 * The queue belongs to the process that created it: only there do
 * mp_queue_close and mp_queue_destroy act.  In any other process (a child
 * forked after the queue was made, which closes its copy on exit, or a
 * pool worker) they release only that process's view, which holds nothing:
 * they return 0 and the queue is unchanged.  If the creator has died, the
 * first process to close or destroy the queue acts in its place.
 * ====================================================================== */

typedef struct mp_queue mp_queue;

/* Creates a queue in the shared arena.  max_items: 0 for no limit besides
 * bytes.  max_bytes: buffer size, rounded up to a power of two; 0 picks
 * 1 MiB.  Errors: MP_EINVAL, MP_ENOMEM. */
MP_API int mp_queue_create(mp_queue **out, size_t max_items, size_t max_bytes);
/* In the creating process: frees the queue; nobody may use it any more
 * (later use: MP_EINVAL while the memory is not reused).  Messages still
 * inside are dropped.  Elsewhere: releases only the caller's view (see
 * above). */
MP_API int mp_queue_destroy(mp_queue *q);
/* Appends a copy of msg.  MP_EMSGSIZE if it can never fit the buffer,
 * MP_ECLOSED, the expiry code when full for the whole timeout. */
MP_API int mp_queue_put(mp_queue *q, const void *msg, size_t size, double timeout);
/* Takes the oldest message into buf.  If it does not fit: MP_ERANGE, *size
 * set to the size needed, the message stays first.  MP_ECLOSED once the
 * queue is closed and empty. */
MP_API int mp_queue_get(mp_queue *q, void *buf, size_t cap, size_t *size, double timeout);
/* Same, into memory allocated with malloc (caller frees *msg). */
MP_API int mp_queue_get_alloc(mp_queue *q, void **msg, size_t *size, double timeout);
/* In the creating process: closes the queue for every process (see
 * above).  Idempotent.  Elsewhere: releases only the caller's view. */
MP_API int mp_queue_close(mp_queue *q);
/* Snapshots: number of messages; 1 if empty; 1 if no further message (of
 * any size) could be put now. */
MP_API size_t mp_queue_size(mp_queue *q);
MP_API int mp_queue_empty(mp_queue *q);
MP_API int mp_queue_full(mp_queue *q);
/* Marks one message taken from the queue as processed.  MP_EINVAL when
 * called more times than messages were put. */
MP_API int mp_queue_task_done(mp_queue *q);
/* Waits until every message put has been marked done.  A message whose
 * consumer was killed before marking it done keeps join waiting (as in
 * Python); mark it done on the dead consumer's behalf. */
MP_API int mp_queue_join(mp_queue *q, double timeout);

/* ======================================================================
 * Shared values, arrays and named segments
 *
 * mp_value and mp_shared_array (Python's Value and Array) are typed storage
 * in the shared arena, visible to every process of the tree, with a robust
 * lock in front unless made with MP_SHARED_NOLOCK.  mp_X_get / mp_X_set copy
 * one element under the lock.  mp_value_ptr / mp_shared_array_data give the raw
 * memory: guard read-modify-write sequences with mp_X_lock / mp_X_unlock
 * (which return MP_EOWNERDEAD like mp_lock_acquire).  Destroy once nobody
 * uses the object any more.
 * ====================================================================== */

typedef struct mp_value mp_value;
typedef struct mp_shared_array mp_shared_array;

/* No lock: for data guarded some other way, or only touched atomically. */
#define MP_SHARED_NOLOCK 1

/* Allocates `size` bytes, copied from `init` (NULL: zeros), 64-byte
 * aligned.  flags: 0 or MP_SHARED_NOLOCK.  Errors: MP_EINVAL, MP_ENOMEM. */
MP_API int mp_value_create(mp_value **out, size_t size, const void *init, int flags);
/* Frees the value, in the process that made it; elsewhere 0, and nothing
 * changes (see "Who destroys an object" above). */
MP_API int mp_value_destroy(mp_value *v);
/* The value's bytes (NULL if v is not a live value). */
MP_API void *mp_value_ptr(mp_value *v);
MP_API int mp_value_lock(mp_value *v, double timeout);
MP_API int mp_value_unlock(mp_value *v);
/* Copy the whole value out / in, under its lock if it has one. */
MP_API int mp_value_get(mp_value *v, void *out);
MP_API int mp_value_set(mp_value *v, const void *in);
/* For 8-byte values: atomic operations that need no lock (MP_EINVAL for
 * other sizes).  add stores the new value in *result if not NULL. */
MP_API int mp_value_add_i64(mp_value *v, int64_t delta, int64_t *result);
MP_API int mp_value_get_i64(mp_value *v, int64_t *out);
MP_API int mp_value_set_i64(mp_value *v, int64_t x);
MP_API int mp_value_get_f64(mp_value *v, double *out);
MP_API int mp_value_set_f64(mp_value *v, double x);

/* `count` elements of `elem_size` bytes, from `init` (NULL: zeros). */
MP_API int mp_shared_array_create(mp_shared_array **out, size_t count, size_t elem_size, const void *init,
                                 int flags);
/* As mp_value_destroy: acts only in the process that made the array. */
MP_API int mp_shared_array_destroy(mp_shared_array *a);
MP_API void *mp_shared_array_data(mp_shared_array *a);
MP_API size_t mp_shared_array_length(const mp_shared_array *a);
MP_API int mp_shared_array_lock(mp_shared_array *a, double timeout);
MP_API int mp_shared_array_unlock(mp_shared_array *a);
/* Copy element `index` out / in under the lock; MP_EINVAL out of range. */
MP_API int mp_shared_array_get(mp_shared_array *a, size_t index, void *out);
MP_API int mp_shared_array_set(mp_shared_array *a, size_t index, const void *in);

/* Named segments (POSIX shared memory) let unrelated processes share
 * memory: one creates "name", the others open it.  The creating process
 * owns the name and unlinks it when it closes the segment, unless it passed
 * MP_SEGMENT_KEEP; processes that only opened it (or inherited the handle
 * through fork) merely unmap.  No name is left behind unless asked for.
 * Place locks and other objects inside with their mp_X_init forms.
 * A handle is used by one thread at a time; the memory by anyone. */
typedef struct mp_segment mp_segment;

#define MP_SEGMENT_KEEP 1

/* Creates and maps a zeroed segment of `size` bytes.  `name` is 1..200
 * characters without '/' (a leading '/' is accepted).  Errors: MP_EINVAL,
 * MP_EEXIST (name taken), system errors. */
MP_API int mp_segment_create(mp_segment **out, const char *name, size_t size, int flags);
/* Maps an existing segment.  `size` 0 accepts its size; otherwise it must
 * match exactly (else MP_EINVAL).  MP_ENOENT if there is no such name. */
MP_API int mp_segment_open(mp_segment **out, const char *name, size_t size);
MP_API void *mp_segment_ptr(const mp_segment *s);
MP_API size_t mp_segment_size(const mp_segment *s);
/* The name as used by the system ("/name"). */
MP_API const char *mp_segment_name(const mp_segment *s);
/* Unmaps and frees the calling process's handle: a forked child closing
 * the handle it inherited unmaps only its own mapping.  Unlinks the name
 * only in the creating process (see above). */
MP_API int mp_segment_close(mp_segment *s);
/* Removes a name (a kept segment, or one left by a crash).  MP_ENOENT. */
MP_API int mp_segment_unlink(const char *name);

/* ======================================================================
 * Shared dictionary
 *
 * mp_dict maps byte-string keys to byte-string values in the shared arena
 * (Python's Manager().dict() without a server process): every process of
 * the tree reads and writes it directly.  It is made for at most
 * `capacity` entries with keys up to key_max and values up to value_max
 * bytes; it never allocates afterwards, and a full table or an oversized
 * key or value is an error (MP_EFULL, MP_EMSGSIZE) that changes nothing.
 * Every operation is atomic with respect to the others (one robust lock);
 * thread-safe and process-safe.  The _str forms take a NUL-terminated key
 * (stored without the NUL).
 * ====================================================================== */

typedef struct mp_dict mp_dict;

/* key_max / value_max 0 pick 64 / 256 bytes.  Memory used: about
 * 2 * capacity * (key_max + value_max + 16) bytes.  MP_EINVAL, MP_ENOMEM. */
MP_API int mp_dict_create(mp_dict **out, size_t capacity, size_t key_max, size_t value_max);
/* Frees the table; nobody may use it any more.  Acts only in the process
 * that made it; elsewhere 0, and nothing changes (see "Who destroys an
 * object" above). */
MP_API int mp_dict_destroy(mp_dict *d);
/* Inserts or replaces.  MP_EFULL, MP_EMSGSIZE, MP_EINVAL. */
MP_API int mp_dict_set(mp_dict *d, const void *key, size_t klen, const void *value, size_t vlen);
/* Copies the value into buf.  MP_ENOENT if absent; MP_ERANGE (and *size =
 * the size needed) if it does not fit. */
MP_API int mp_dict_get(mp_dict *d, const void *key, size_t klen, void *buf, size_t cap, size_t *size);
/* Same, into malloc'd memory the caller frees. */
MP_API int mp_dict_get_alloc(mp_dict *d, const void *key, size_t klen, void **value, size_t *size);
/* MP_ENOENT if absent. */
MP_API int mp_dict_delete(mp_dict *d, const void *key, size_t klen);
MP_API size_t mp_dict_len(mp_dict *d);
MP_API int mp_dict_clear(mp_dict *d);
/* Iterates: start with *cursor = 0; each call copies one entry and moves
 * the cursor; MP_ENOENT when there are no more.  Buffers of key_max and
 * value_max bytes always suffice; smaller ones may give MP_ERANGE with the
 * sizes needed in *klen and *vlen (the cursor does not move).  Entries set
 * or deleted during the iteration may or may not be seen; others are seen
 * exactly once. */
MP_API int mp_dict_next(mp_dict *d, size_t *cursor, void *key, size_t key_cap, size_t *klen, void *value,
                        size_t value_cap, size_t *vlen);
MP_API int mp_dict_set_str(mp_dict *d, const char *key, const void *value, size_t vlen);
MP_API int mp_dict_get_str(mp_dict *d, const char *key, void *buf, size_t cap, size_t *size);
MP_API int mp_dict_delete_str(mp_dict *d, const char *key);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_H */
