/* blocks.h - cutting an input into blocks of whole records (--pipe,
 * --pipepart).
 *
 * A record boundary is where --recend is followed by --recstart (the
 * block ends after the recend).  The cut points are GNU parallel's, so
 * that a job sees the same block under both tools:
 *
 *  - --pipe reads standard input in rounds: each round tops the buffer up
 *    to the next multiple of the block size (or to end of file), then
 *    hands out everything before the last boundary (with -N: every run of
 *    N records).  A round that hands out nothing grows the block size by
 *    1.3x, so that a record longer than a block still goes through whole.
 *    What is left at end of file is the last block.
 *  - --pipepart cuts a seekable file without reading it: a part ends at
 *    the first boundary at or after block size bytes from where the
 *    previous part ended its search. */
#ifndef MPROC_CLI_BLOCKS_H
#define MPROC_CLI_BLOCKS_H

#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

/* The separators, escapes decoded (\n \t \r \0 \\ \' \"). */
typedef struct records {
    strbuf start;
    strbuf end;
    strbuf boundary;    /* end followed by start */
} records;

/* Decodes --recstart and --recend (NULL: not given; neither given means a
 * record ends at a newline).  Returns 0 or -1 (out of memory). */
int records_init(records *r, const char *recstart, const char *recend);
void records_free(records *r);

typedef struct stdin_blocks {
    int fd;
    records rec;
    size_t block;       /* the current block size (grows) */
    size_t per_block;   /* -N: records per block; 0 = as many as fit */
    strbuf buf;         /* read, not handed out */
    size_t want;        /* bytes still to read in this round */
    size_t head;        /* buf[0, head) has been handed out */
    size_t *cuts;       /* lengths of the blocks cut in this round, in order */
    size_t ncuts, cutcap, nexted;
    int eof;
    size_t grew_from;   /* a block size outgrown, to warn about */
} stdin_blocks;

/* recstart/recend as for records_init; block > 0.  Returns 0 or -1. */
int stdin_blocks_init(stdin_blocks *b, int fd, size_t block, size_t per_block, const char *recstart,
                      const char *recend);
void stdin_blocks_free(stdin_blocks *b);

/* Whether the reader needs more input before it can hand out a block:
 * poll its fd for reading when it does. */
int stdin_blocks_hungry(const stdin_blocks *b);

/* One read(2) of what the current round still needs; cuts the blocks
 * when the round is complete.  Returns 0, or -1 with errno set. */
int stdin_blocks_read(stdin_blocks *b);

/* What stdin_blocks_take returns besides 1 (a block). */
#define STDIN_BLOCKS_LATER 0    /* none is cut yet: read more */
#define STDIN_BLOCKS_END (-1)   /* the input is over */
#define STDIN_BLOCKS_NOMEM (-2) /* out of memory */

/* Moves the next block into *out (cleared first). */
int stdin_blocks_take(stdin_blocks *b, strbuf *out);

/* Where the parts of a file end, found one at a time. */
typedef struct file_parts {
    int fd;
    off_t size;
    off_t block;
    off_t pos;          /* where the next part starts */
    off_t search;       /* where the search for its end starts */
    records rec;
    strbuf window;      /* scratch for reading near a cut */
} file_parts;

/* Opens path (which must be a regular file) for parts of block bytes;
 * block < 0 asks for -block parts per job slot (slots jobs at a time),
 * as GNU parallel does.  Returns 0, or -1 with a message in *err. */
int file_parts_open(file_parts *p, const char *path, long long block, long slots, const char *recstart,
                    const char *recend, strbuf *err);
void file_parts_close(file_parts *p);

/* The next part: 1 with *off and *len set, 0 at the end, -1 when the file
 * cannot be read (errno set). */
int file_parts_next(file_parts *p, off_t *off, size_t *len);

#endif
