/* strbuf.h - growable byte buffers and string vectors for the mproc command.
 *
 * Allocation failure is sticky: once an append fails the buffer keeps its
 * old contents, sets `failed`, and every later append returns -1.  Callers
 * may check once, after a batch of appends. */
#ifndef MPROC_CLI_STRBUF_H
#define MPROC_CLI_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *data;     /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int failed;
} strbuf;

#define STRBUF_INIT {0, 0, 0, 0}

int sb_reserve(strbuf *b, size_t extra);
int sb_add(strbuf *b, const void *p, size_t n);
int sb_adds(strbuf *b, const char *s);
int sb_addc(strbuf *b, char c);
int sb_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_vaddf(strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Always returns a valid C string ("" for an empty or failed buffer). */
const char *sb_str(const strbuf *b);
void sb_clear(strbuf *b);
void sb_free(strbuf *b);

typedef struct strvec {
    char **items;
    size_t len;
    size_t cap;
} strvec;

#define STRVEC_INIT {0, 0, 0}

/* Appends a copy of n bytes of s (NUL-terminated); returns 0 or -1. */
int sv_push(strvec *v, const char *s, size_t n);
int sv_pushs(strvec *v, const char *s);
void sv_clear(strvec *v);
void sv_free(strvec *v);

#endif
