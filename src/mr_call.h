/* mr_call.h - one map-reduce run's state, shared by mapreduce.c (runs on
 * pools whose workers share memory) and mapreduce_mpi.c (runs on MPI
 * pools, where each serving rank keeps a run of its own).
 *
 * A run has one slot per worker (mp_task_worker), each with one table per
 * partition that only that worker writes during the map.  The reduce task
 * of partition p merges slot tables [0, workers) for p; an MPI rank adds
 * slots for the tables its peers send it (see mapreduce_mpi.c). */
#ifndef MPROC_MR_CALL_H
#define MPROC_MR_CALL_H

#include "internal.h"
#include "mr_table.h"

enum mp__mr_input { MP__MR_ARRAY, MP__MR_BUFFER, MP__MR_FILES };

typedef struct mp__mr_slot {
    _Atomic uint32_t pid;            /* the process whose tables these are; 0: none */
    _Atomic uint32_t busy;           /* 1 while a map task of that process runs */
    mp__mr_table *tables;            /* `partitions` tables, or NULL */
} mp__mr_slot;

/* One run, in the arena.  Written by the caller before the map call;
 * workers only read it, except their own slot and `tainted`. */
typedef struct mp__mr_call {
    mp_mr_map_fn map;
    mp_mr_combine_fn combine;
    mp_mr_reduce_fn reduce;
    mp_mr_partition_fn partition;
    size_t key_size, value_size, result_size;
    uint64_t key_range;              /* dense tables for keys below it; 0: hashed */
    uint64_t dense_inverse;          /* ceil(2^64 partitions / key_range) if partitions < key_range, else 0 */
    size_t partitions;
    int workers;                     /* slots */
    enum mp__mr_input input;
    const void *context;             /* arena copy, or NULL */
    size_t context_size;
    char **paths;                    /* files: arena copies */
    size_t npaths;
    bool populate;                   /* map a buffer chunk's pages before the map reads them */
    _Atomic uint32_t tainted;
    mp__mr_slot worker[];
} mp__mr_call;

/* What a reduce task hands back: its partition's records, an arena block
 * of [key size : 8][reserved : 8][key, padded][result, padded] each. */
typedef struct mp__mr_part {
    void *block;
    size_t count, bytes;
} mp__mr_part;

/* The run's state in the arena, with copies of the context and paths, for
 * `slots` workers.  0 or MP_ENOMEM with a message (*out may then hold a
 * part-built run: free it with mp__mr_call_free). */
int mp__mr_call_new(const mp_mapreduce *mr, int slots, enum mp__mr_input input, const char *const *paths,
                    size_t npaths, mp__mr_call **out);
void mp__mr_call_free(mp__mr_call *c);

/* Runs the map over one input element (an array element, an
 * mp_mr_chunk, or an mp__mr_piece of c->paths) into the slot of the task's
 * worker.  The task's return value. */
int mp__mr_map_input(mp__mr_call *c, mp_task *task, const void *in);

/* The partition of a key below c->key_range when no partition function is
 * set: floor(k * partitions / key_range), so the partitions split the
 * range into contiguous blocks.  Emitting pays a multiplication, not a
 * division: with inverse = ceil(2^64 P / R), k * inverse / 2^64 exceeds
 * k P / R by less than k / 2^64, which stays under the 1 / R that kP/R
 * lacks of the next integer as long as k R < 2^64 (both are below 2^32,
 * checked at the call). */
static inline size_t mp__mr_dense_partition(const mp__mr_call *c, uint64_t k)
{
    if (c->dense_inverse)
        return (size_t)(((unsigned __int128)k * c->dense_inverse) >> 64);
    return (size_t)(k * (uint64_t)c->partitions / c->key_range);
}

/* Slot s's table for partition p, made on first use.  NULL: the arena is
 * full. */
mp__mr_table *mp__mr_slot_table(mp__mr_call *c, int s, size_t p);

/* A reduce task: its context is one mp__mr_call pointer, its index the
 * partition, its output an mp__mr_part. */
int mp__mr_reduce_task(mp_task *task, const void *in, void *out);

/* The size of a record of the result. */
size_t mp__mr_record_bytes(size_t key_size, size_t result_size);

/* The records of `n` parts, copied into the caller's result.  0 or
 * MP_ENOMEM with a message naming `who`. */
int mp__mr_collect(const char *who, size_t result_size, const mp__mr_part *parts, size_t n, mp_mr_result *result);

/* What the map call's failures mean for the run: MP_ENOMEM if a table did
 * not fit, else MP_ETASK.  `failures` goes to the caller if it asked. */
int mp__mr_map_failed(const char *who, mp_failures *failures, const mp_mapreduce *mr);

/* Sorts a finished result by key when the run asked for it. */
void mp__mr_sort_result(const mp_mapreduce *mr, mp_mr_result *result);

/* The whole run on an MPI pool (mapreduce_mpi.c): the map over `count`
 * elements of `in_size` bytes at `in` (array elements, buffer chunks or
 * file pieces of `paths`).  Arguments were checked by the caller. */
int mp__mr_run_shipped(const char *who, mp_pool *pool, const mp_mapreduce *mr, enum mp__mr_input input,
                       const void *in, size_t count, size_t in_size, const char *const *paths, size_t npaths,
                       mp_mr_result *result);

#endif
