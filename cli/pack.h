/* pack.h - filling command lines with as many inputs as fit (-X, -m, -s).
 *
 * Records (one input tuple each) are added to a job while its command
 * line stays shorter than the limit and, with -n, -N or -L, until it has
 * that many.  As GNU parallel does, the line that reaches the end of the
 * input is spread over the job slots: with 4 slots and 10 records left,
 * jobs of 3, 3, 3 and 1 records instead of one job of 10. */
#ifndef MPROC_CLI_PACK_H
#define MPROC_CLI_PACK_H

#include "command.h"
#include "input.h"
#include "strbuf.h"

typedef struct packer {
    input *in;
    const command *cmd;
    size_t max_chars;       /* a command line must stay shorter */
    size_t max_records;     /* records per job; 0 = as many as fit */
    unsigned long slots;    /* job slots the last line is spread over; 0: not spread */
    int spread_done;
    strvec *held;           /* records read ahead, oldest first */
    size_t nheld, held_cap, held_first;
    unsigned long taken;    /* records handed out so far, for messages */
} packer;

/* slots: how many jobs the line that meets the end of the input is
 * spread over (0: it is not, as for --xargs). */
/* The longest command line GNU parallel allows by default, from the
 * system's limits on one exec argument and on all of them together. */
size_t pack_default_max_chars(void);

void packer_init(packer *p, input *in, const command *cmd, size_t max_chars, size_t max_records,
                 unsigned long slots);

/* Fills *args (cleared first) with the next job's arguments.  Returns 1,
 * 0 at the end of the input, or -1 with a message in *err (a read error,
 * or one record that alone makes too long a command line). */
int packer_next(packer *p, strvec *args, strbuf *err);

void packer_free(packer *p);

#endif
