/* input.h - the stream of job arguments.
 *
 * Sources are combined as GNU parallel does: linked sources (:::+, ::::+)
 * advance together, element by element; groups of them form a cartesian
 * product, the last group varying fastest.  The first group is read
 * lazily when it is a single file or standard input, so an input of any
 * length runs in constant memory; the other groups must be held in memory
 * because they are repeated. */
#ifndef MPROC_CLI_INPUT_H
#define MPROC_CLI_INPUT_H

#include "options.h"
#include "strbuf.h"

typedef struct input input;

/* Opens every source (so an unreadable file is reported before any job
 * starts) and reads the groups that must be held in memory.  Returns 0 or
 * -1 with a message in *err. */
int input_open(input **out, const run_options *o, strbuf *err);

/* Fills *args (cleared first) with the next job's arguments.  Returns 1,
 * 0 at the end of the input, or -1 with a message in *err. */
int input_next(input *in, strvec *args, strbuf *err);

void input_close(input *in);

/* --header: the column names read from the first value of each source,
 * in column order ({name} is {N} for the name at index N-1); empty
 * without --header. */
const strvec *input_header(const input *in);

/* Splits one input value into columns at the separator (an extended
 * regular expression, or a plain string when it has no special
 * characters), trimming blanks around each column and dropping empty
 * trailing columns.  Exposed for testing. */
typedef struct colsep colsep;
int colsep_compile(colsep **out, const char *sep, strbuf *err);
int colsep_split(const colsep *c, const char *s, size_t n, strvec *out);
/* Which ends of each column lose their blanks (both by default). */
void colsep_set_trim(colsep *c, int left, int right);
void colsep_free(colsep *c);

#endif
