/* async.h - handles for async results and futures (see async.c). */
#ifndef MPROC_ASYNC_H
#define MPROC_ASYNC_H

#include "pool.h"

enum { MP__H_ASYNC = 1, MP__H_FUTURE = 2 };
enum { MP__H_PENDING = 0, MP__H_DONE = 1, MP__H_CANCELLED = 2 };

typedef struct mp__callback {
    union {
        mp_async_callback async;
        mp_future_callback future;
    } fn;
    void *arg;
    int on_success;                  /* async: callback (1) or error_callback (0) */
    struct mp__callback *next;
} mp__callback;

/* An mp_async or an mp_future (the public types are this struct). */
typedef struct mp__handle {
    int kind;
    _Atomic int refs;                /* the user's + the job's (or callback queue's) */
    _Atomic int status;              /* MP__H_PENDING / DONE / CANCELLED */
    pid_t owner_pid;                 /* the process that made it (its pool's owner) */
    mp_pool *pool;                   /* NULL once the pool closed */
    mp__job *job;                    /* while attached (pool->lock) */
    mp__shape shape;                 /* where results go */
    bool want_failures;

    /* Outcome, written by the harvester under pool->lock. */
    int code;                        /* 0, MP_ETASK, MP_ECANCELED, MP_EBROKEN, ... */
    char message[MP_MESSAGE_MAX + 64];
    mp_failures failures;
    bool taken;                      /* a future's bytes handed over (mp_future_bytes) */

    /* Futures: the fixed-size result and the variable-size one. */
    void *fixed_out;
    mp_bytes bytes_slot;             /* where the task's mp_task_write lands */
    mp_bytes bytes;

    mp__callback *callbacks;
    bool callbacks_done;
    struct mp__handle *cb_next;      /* in pool->cb_queue */
    struct mp__handle *all_next;     /* in pool->handles */
} mp__handle;

/* Called by mp__call_prepare before the job is published. */
void mp__handle_attach(mp__handle *h, mp__job *job);
/* Close and terminate: finish or cancel every handle, stop the callback
 * thread, detach the handles from the pool. */
void mp__handles_close(mp_pool *pool, bool terminate);

#endif
