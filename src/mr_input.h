/* mr_input.h - map-reduce's inputs: buffers and files cut into chunks at
 * record boundaries (mr_input.c). */
#ifndef MPROC_MR_INPUT_H
#define MPROC_MR_INPUT_H

#include "internal.h"

/* A piece of a file, as the caller cut it; the worker maps it itself. */
typedef struct mp__mr_piece {
    size_t file;
    uint64_t offset;
    size_t size;
} mp__mr_piece;

/* Cuts data[0, size) into chunks of about `target` bytes ending at record
 * boundaries.  *chunks (malloc'd, caller frees) and *n.  MP_EINVAL (with a
 * message naming `who`) for a fixed record size of 0 or one that does not
 * divide size; MP_ENOMEM. */
int mp__mr_cut_buffer(const char *who, const char *data, size_t size, mp_mr_records records, size_t record_size,
                      size_t target, mp_mr_chunk **chunks, size_t *n);

/* The same over files: *pieces (malloc'd) say which bytes of which file.
 * A file that cannot be opened or read is MP_E... from errno, with its
 * name.  Empty files give no piece. */
int mp__mr_cut_files(const char *who, const char *const *paths, size_t npaths, mp_mr_records records,
                     size_t record_size, size_t target, mp__mr_piece **pieces, size_t *n);

/* In a worker: maps a piece of the file at `path` read-only into *chunk;
 * *base and *len are what to munmap afterwards.  0, or -errno (the caller
 * words the failure). */
int mp__mr_map_piece(const char *path, const mp__mr_piece *piece, mp_mr_chunk *chunk, void **base, size_t *len);

#endif
