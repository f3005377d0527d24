/* mpi_link.h - what the MPI backend's files share: references to functions
 * that hold on every rank, the wire format between the rank that owns a
 * pool (the root) and the ranks that serve it, and the serving loop.
 *
 * The root's pool has one proxy thread per worker of each serving rank
 * (backend_mpi.c).  A proxy is a scheduler worker whose claimed ranges run
 * elsewhere (mp__shared.send_elsewhere): it sends each range to its rank as
 * a request on a tag of its own, for one worker there, and gets the reply
 * per range, in order.  With several ranges in flight per proxy, the next
 * one is queued at the rank while the current one runs; small ranges that
 * pile up while the rank is busy go together in one message.
 *
 * Messages are MPI_BYTE arrays on the pool's communicator (a duplicate, so
 * no message of the program's can meet them):
 *
 *   control, tag MP__MPI_TAG_CONTROL, root -> server:
 *     mp__mpi_control { HELLO } -> reply on MP__MPI_TAG_REPLY: mp__mpi_hello
 *     mp__mpi_control { OPEN, initializer ref, context size } + context
 *       -> reply on MP__MPI_TAG_REPLY: mp__mpi_opened
 *     mp__mpi_control { QUIT }: the server leaves its loop
 *     MP__MPI_MR order (mapreduce_mpi.c): shuffle a map-reduce run's
 *       tables between the serving ranks (tag MP__MPI_TAG_MR_SHUFFLE),
 *       reduce, reply on MP__MPI_TAG_MR_REPLY; or forget the run
 *   ranges, tag = the proxy's own (>= MP__MPI_TAG_FIRST_PROXY), one or
 *   more per message, each:
 *     mp__mpi_request { RANGE, begin, count, bytes, has_job }
 *       [+ mp__mpi_jobhdr + context, when the proxy's job changed]
 *       + inputs: per argument, count elements (strings: count lengths,
 *         UINT64_MAX for NULL, then the bytes), each argument's array
 *         aligned to MP__MPI_ALIGN, the range padded to a multiple of it
 *     -> one reply message on the same tag, per range in order:
 *          mp__mpi_reply + count outputs
 *          + nfailed x (mp__mpi_failure + message bytes)
 *          + [count lengths (UINT64_MAX: none) + bytes: mp_task_write]
 *          + padding to a multiple of MP__MPI_ALIGN
 *     mp__mpi_request { BYE, executor }: the proxy is gone; the worker
 *       that ran its ranges forgets its job (no reply)
 */
#ifndef MPROC_MPI_LINK_H
#define MPROC_MPI_LINK_H

#include "sched.h"

#include <mpi.h>

/* ---- function references (mpi_fnref.c) ---------------------------------- */

/* A code address as "this offset into the loaded object of this name",
 * which is the same place in every rank that runs the same binary (each
 * rank loads objects at addresses of its own). */
typedef struct mp__fnref {
    char object[240];        /* the object's path as the loader names it; "" = the executable */
    uint64_t offset;         /* from the object's load address */
    uint32_t present;        /* 0: no function (NULL) */
    uint32_t pad;
} mp__fnref;

/* Describes fn (NULL gives a reference to no function).  0, or MP_EINVAL
 * with a message naming `who` if fn is in no executable segment of a
 * loaded object. */
int mp__fnref_make(void (*fn)(void), const char *who, mp__fnref *ref);
/* The function a reference names in this process: 0 and *fn (NULL for a
 * reference to none), or MP_EINVAL with a message if the object is not
 * loaded here or the place is not code. */
int mp__fnref_resolve(const mp__fnref *ref, void (**fn)(void));

/* ---- the pool's ranks (backend_mpi.c) ----------------------------------- */

/* A serving rank, as it introduced itself. */
typedef struct mp__mpi_rank {
    int rank;
    int workers;             /* ranges it runs at once */
    int worker_base;         /* mp_task_worker of its first worker */
    int pid;
    char host[64];
} mp__mpi_rank;

/* The communicator and the serving ranks (*n of them) of an open MPI pool;
 * both stay valid while the pool is open. */
const mp__mpi_rank *mp__mpi_pool_ranks(mp_pool *pool, MPI_Comm *comm, int *n);

/* ---- wire format ------------------------------------------------------- */

enum {
    MP__MPI_TAG_CONTROL = 1,
    MP__MPI_TAG_REPLY = 2,
    MP__MPI_TAG_MR_REPLY = 3,          /* a rank's reduce results (mapreduce_mpi.c) */
    MP__MPI_TAG_MR_SHUFFLE = 4,        /* partitions, between serving ranks */
    MP__MPI_TAG_FIRST_PROXY = 16,
    MP__MPI_TAG_LAST_PROXY = 32000     /* the standard promises tags up to 32767 */
};

enum { MP__MPI_OPEN = 1, MP__MPI_QUIT = 2, MP__MPI_RANGE = 3, MP__MPI_BYE = 4, MP__MPI_HELLO = 5, MP__MPI_MR = 6 };

/* A serving rank introduces itself (reply to HELLO, on MP__MPI_TAG_REPLY). */
typedef struct mp__mpi_hello {
    int32_t workers;         /* ranges it runs at once (MPROC_RANK_WORKERS) */
    int32_t pid;
    char host[64];
} mp__mpi_hello;

typedef struct mp__mpi_control {
    uint32_t type;
    uint32_t pad;
    mp__fnref initializer;
    uint64_t ctx_size;
} mp__mpi_control;

typedef struct mp__mpi_opened {
    int32_t code;            /* 0, or the initializer's */
    char message[MP_MESSAGE_MAX];
} mp__mpi_opened;

/* One range of a request message; a message holds one or more, each
 * `bytes` long (this header included). */
typedef struct mp__mpi_request {
    uint32_t type;
    uint32_t has_job;
    uint64_t begin, count;
    uint64_t bytes;
    uint32_t executor;       /* which of the rank's workers runs it: a proxy's ranges run in order on one */
    uint32_t pad;
} mp__mpi_request;

/* What a serving rank must know of a job to run its tasks. */
typedef struct mp__mpi_jobhdr {
    mp__fnref fn;
    uint32_t kind, nargs;
    uint64_t in_size[MP_MAX_ARGS];
    uint64_t out_size, ctx_size;
    uint64_t rng_seed, rng_stream, seq;
    int64_t timeout_ns;
    uint32_t varout;         /* 1: the call collects mp_task_write results */
    uint32_t worker_base;    /* mp_task_worker of the rank's first local worker */
} mp__mpi_jobhdr;

/* The reply to one range; a reply message answers every range of its
 * request, in order, each `bytes` long (this header included). */
typedef struct mp__mpi_reply {
    uint64_t bytes;
    uint64_t begin, count;
    uint32_t nfailed;
    uint32_t has_var;
} mp__mpi_reply;

typedef struct mp__mpi_failure {
    uint64_t index;
    int32_t code;
    uint32_t length;         /* message bytes that follow, no NUL */
} mp__mpi_failure;

#define MP__MPI_NO_BYTES UINT64_MAX   /* a NULL string, or no mp_task_write result */

/* A growing byte buffer that messages are packed into (mpi_serve.c). */
typedef struct mp__wbuf {
    char *data;
    size_t len, cap;
} mp__wbuf;

/* Appends n bytes (or reserves them, when p is NULL) and returns where they
 * are, or NULL when memory runs out. */
void *mp__wbuf_put(mp__wbuf *b, const void *p, size_t n);
void mp__wbuf_free(mp__wbuf *b);

/* Every array a task reads or writes starts at a multiple of this many
 * bytes from the start of its range's part of a message, and every part is
 * a multiple of it long, so that tasks on a serving rank get inputs and
 * outputs as aligned as malloc's (message buffers come from malloc). */
#define MP__MPI_ALIGN 16

/* Pads b with zero bytes to a multiple of MP__MPI_ALIGN.  false: out of
 * memory. */
bool mp__wbuf_align(mp__wbuf *b);

/* p moved on to the next multiple of MP__MPI_ALIGN from `start`. */
static inline const char *mp__mpi_align(const char *start, const char *p)
{
    size_t off = (size_t)(p - start);
    return start + (off + MP__MPI_ALIGN - 1) / MP__MPI_ALIGN * MP__MPI_ALIGN;
}

/* Waits until a message from `source` with `tag` (MPI_ANY_TAG allowed)
 * is there on comm and returns its size in bytes (*st says its source and
 * tag).  Polls: spins for a millisecond, then sleeps in growing steps (up
 * to a sixteenth of the wait so far, at most 8 ms), so a rank that waits
 * long takes no CPU. */
size_t mp__mpi_wait_message(MPI_Comm comm, int source, int tag, MPI_Status *st);
/* mp__mpi_wait_message, then receives the message into *buf (grown as
 * needed, len set) and returns its size and tag. */
int mp__mpi_receive(MPI_Comm comm, int source, int tag, mp__wbuf *buf, int *tag_out);

/* Messages from this size on are sent from and received into the
 * caller's arrays where they are (an MPI datatype of their addresses)
 * instead of being copied into one buffer. */
#define MP__MPI_IN_PLACE_BYTES 65536

/* Map-reduce on a serving rank (mapreduce_mpi.c): carries out an MP__MPI_MR
 * control message from the root (shuffle and reduce a run, or forget it). */
void mp__mr_serve(MPI_Comm comm, int root, const char *msg, size_t len);

/* The serving loop of a rank that is not the root: runs what the root
 * sends on comm until it sends QUIT.  It runs MPROC_RANK_WORKERS ranges at
 * once (a number, 0: every CPU of the rank; default 1), each on a thread
 * of its own when more than one. */
void mp__mpi_serve(MPI_Comm comm, int root);

#endif
