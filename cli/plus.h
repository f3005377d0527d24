/* plus.h - the value edits of --plus's replacement strings (bash's
 * ${v:-text} ${v:n:m} ${v#pat} ${v%pat} ${v/pat/rep} ${v^pat} ...). */
#ifndef MPROC_CLI_PLUS_H
#define MPROC_CLI_PLUS_H

#include <stddef.h>

#include "strbuf.h"
#include "template.h"

/* Appends v[0..n) edited as s->op says; the pattern and replacement are
 * at s->pat_off and s->rep_off in text.  A pattern that is not a valid
 * extended regular expression matches nothing.  Returns 0 or -1 (out of
 * memory). */
int plus_apply(strbuf *out, const char *v, size_t n, const segment *s, const char *text);

#endif
