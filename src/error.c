/* error.c - result codes, their descriptions, and the thread-local message
 * of the last failure. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MP__MESSAGE_MAX 512

static _Thread_local char last_error[MP__MESSAGE_MAX];

const char *mp_strerror(int code)
{
#define DESCRIBE(name, value, text) \
    case MP_##name:                  \
        return text;
    switch (code) {
    MP_ERRNO_MAP(DESCRIBE)
    }
#undef DESCRIBE
    if (code < 0 && code > -4000)
        return strerror(-code);
    return "unknown error";
}

const char *mp_last_error(void)
{
    return last_error;
}

/* Formats into a scratch buffer first: an argument may be the last error
 * itself (passing a message on, mp__error(r, "%s", mp_last_error())), and
 * formatting a buffer into itself is undefined -- glibc leaves it empty. */
int mp__verror(int code, const char *fmt, va_list ap)
{
    char message[MP__MESSAGE_MAX];
    vsnprintf(message, sizeof message, fmt, ap);
    memcpy(last_error, message, strlen(message) + 1);
    return code;
}

int mp__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mp__verror(code, fmt, ap);
    va_end(ap);
    return code;
}

int mp__syserror(const char *fmt, ...)
{
    int saved = errno ? errno : EIO;
    va_list ap;
    va_start(ap, fmt);
    mp__verror(-saved, fmt, ap);
    va_end(ap);
    size_t len = strlen(last_error);
    snprintf(last_error + len, sizeof last_error - len, ": %s", strerror(saved));
    return -saved;
}

int mp_set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mp__verror(code, fmt ? fmt : "", ap);
    va_end(ap);
    return code;
}

void mp__assert_failed(const char *cond, const char *file, int line, const char *func)
{
    fprintf(stderr, "mproc: internal contract broken at %s:%d in %s: %s\n", file, line, func, cond);
    abort();
}
