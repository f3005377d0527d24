/* results.h - --results DIR: each job's output stored in files, laid out
 * as GNU parallel does: DIR/1/<arg1>/2/<arg2>/{seq,stdout,stderr}. */
#ifndef MPROC_CLI_RESULTS_H
#define MPROC_CLI_RESULTS_H

#include <stddef.h>

#include "strbuf.h"

/* Returns 0, or -1 with a message in *err. */
int results_store(const char *dir, char *const *args, size_t nargs, unsigned long seq,
                  const strbuf *out, const strbuf *errout, strbuf *err);

#endif
