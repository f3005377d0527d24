/* output.h - writing job output to our standard output and error. */
#ifndef MPROC_CLI_OUTPUT_H
#define MPROC_CLI_OUTPUT_H

#include <stddef.h>

#include "strbuf.h"

/* Writes everything, retrying after EINTR; a reader that went away
 * (EPIPE) is not an error worth stopping jobs for.  Returns 0 or -1. */
int write_all(int fd, const void *p, size_t n);

/* A message about the run itself, on standard error: "mproc run: "
 * before it, a newline after it. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes data to fd, each line preceded by tag (NULL: no tag).  A final
 * line without newline is tagged too. */
int write_tagged(int fd, const char *tag, size_t taglen, const char *data, size_t n);

/* --ctag: the colour GNU parallel gives job seq's tagged lines (an
 * escape sequence that sets it, then one that clears to the end of the
 * line).  Points to static storage. */
const char *tag_color(unsigned long seq);

/* As write_tagged, each line coloured: color, tag, the line, the reset
 * sequence and a newline (a last line without one gets one, as in GNU
 * parallel); a carriage return restarts the colour. */
int write_colored(int fd, const char *color, const char *tag, size_t taglen, const char *data, size_t n);

/* --line-buffer: writes the complete lines at the front of *buf (tagged)
 * and keeps the unfinished rest.  Only the last fresh bytes are searched
 * for a newline: the caller flushes after every append, so the bytes
 * before them hold none (a long line costs linear time, not quadratic).
 * Returns 0, or -1 with errno set when the write failed. */
int flush_complete_lines(int fd, const char *tag, size_t taglen, strbuf *buf, size_t fresh);

#endif
