/* strbuf.c - growable byte buffers and string vectors. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sb_reserve(strbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra >= (size_t)-1 / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int sb_add(strbuf *b, const void *p, size_t n)
{
    if (sb_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sb_adds(strbuf *b, const char *s) { return sb_add(b, s, strlen(s)); }

int sb_addc(strbuf *b, char c) { return sb_add(b, &c, 1); }

int sb_vaddf(strbuf *b, const char *fmt, va_list ap)
{
    char small[128];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    int rc = 0;
    if (n < 0) {
        b->failed = 1;
        rc = -1;
    } else if ((size_t)n < sizeof small) {
        rc = sb_add(b, small, (size_t)n);
    } else if (sb_reserve(b, (size_t)n) < 0) {
        rc = -1;
    } else {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int sb_addf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sb_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sb_str(const strbuf *b) { return b->data && !b->failed ? b->data : ""; }

void sb_clear(strbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sb_free(strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

int sv_push(strvec *v, const char *s, size_t n)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        char **p = realloc(v->items, cap * sizeof *p);
        if (!p)
            return -1;
        v->items = p;
        v->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    if (n)
        memcpy(copy, s, n);
    copy[n] = '\0';
    v->items[v->len++] = copy;
    return 0;
}

int sv_pushs(strvec *v, const char *s) { return sv_push(v, s, strlen(s)); }

void sv_clear(strvec *v)
{
    for (size_t i = 0; i < v->len; i++)
        free(v->items[i]);
    v->len = 0;
}

void sv_free(strvec *v)
{
    sv_clear(v);
    free(v->items);
    v->items = NULL;
    v->cap = 0;
}
