/* tally.c - job counts, the --halt condition, the exit status. */
#include "tally.h"

#include <math.h>
#include <string.h>

void tally_init(tally *t, const halt_spec *halt, unsigned long total)
{
    memset(t, 0, sizeof *t);
    t->halt = *halt;
    t->total = total;
}

int tally_add(tally *t, int exitval, int sig)
{
    int failed = exitval != 0 || sig != 0;
    t->done++;
    if (failed)
        t->failed++;
    else
        t->succeeded++;
    const halt_spec *h = &t->halt;
    if (h->when == HALT_NEVER || t->halted)
        return 0;
    unsigned long count = h->why == HALT_FAIL ? t->failed : h->why == HALT_SUCCESS ? t->succeeded : t->done;
    int met;
    if (h->percent)
        met = t->total > 0 && (double)count * 100.0 >= h->value * (double)t->total;
    else
        met = (double)count >= h->value;
    if (!met)
        return 0;
    t->halted = 1;
    /* A timed-out job has exit value -1 (status 255); one killed by a
     * signal reports the shell's 128 + signal. */
    t->halt_exitval = exitval ? exitval : sig ? 128 + sig : 0;
    return 1;
}

int tally_exit_status(const tally *t)
{
    const halt_spec *h = &t->halt;
    if (t->halted) {
        if (h->why == HALT_SUCCESS)
            return 0;
        if (h->why == HALT_FAIL && !h->percent && h->value == 1)
            return t->halt_exitval & 0xff;
    }
    if (h->when != HALT_NEVER && h->percent && h->why == HALT_FAIL && t->total > 0)
        return (int)ceil((double)t->failed * 100.0 / (double)t->total);
    return t->failed > 100 ? 101 : (int)t->failed;
}
