/* tally.h - counting finished jobs: the --halt decision and the exit
 * status, as GNU parallel computes them. */
#ifndef MPROC_CLI_TALLY_H
#define MPROC_CLI_TALLY_H

#include "options.h"

typedef struct tally {
    halt_spec halt;
    unsigned long total;        /* jobs in the input, 0 when unknown */
    unsigned long done, failed, succeeded;
    int halted;
    int halt_exitval;           /* status of the job that triggered the halt */
} tally;

void tally_init(tally *t, const halt_spec *halt, unsigned long total);

/* Counts one finished job (exitval/sig as in the job log).  Returns 1 when
 * this job makes the --halt condition true, 0 otherwise. */
int tally_add(tally *t, int exitval, int sig);

/* The exit status for the run so far: 0, the failed count (101 beyond
 * 100), a percentage for fail=N%, or the halting job's status for
 * fail=1. */
int tally_exit_status(const tally *t);

#endif
