/* plus.c - the value edits of --plus's replacement strings.
 *
 * GNU parallel defines them with perl substitutions; here the pattern is
 * an extended regular expression, the same for the patterns people write
 * (literal text, ., *, [...]).  Perl's non-greedy forms ({#pat}: the
 * shortest head) are found by trying each length in turn. */
#include "plus.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef struct pattern {
    regex_t anywhere;   /* pat */
    regex_t whole;      /* ^(pat)$: matches a whole range */
    int ok;
} pattern;

static int compile(pattern *p, const char *pat, size_t n)
{
    strbuf b = STRBUF_INIT;
    memset(p, 0, sizeof *p);
    sb_add(&b, pat, n);
    if (b.failed)
        return -1;
    int rc = regcomp(&p->anywhere, sb_str(&b), REG_EXTENDED);
    sb_clear(&b);
    sb_adds(&b, "^(");
    sb_add(&b, pat, n);
    sb_adds(&b, ")$");
    if (rc == 0 && !b.failed && regcomp(&p->whole, sb_str(&b), REG_EXTENDED) == 0)
        p->ok = 1;
    else if (rc == 0)
        regfree(&p->anywhere);
    int failed = b.failed;
    sb_free(&b);
    return failed ? -1 : 0;
}

static void release(pattern *p)
{
    if (p->ok) {
        regfree(&p->anywhere);
        regfree(&p->whole);
    }
}

/* Whether the pattern matches all of v[from..to). */
static int matches_whole(const pattern *p, const char *v, size_t from, size_t to)
{
    /* The range as a string of its own: ^ is where it starts. */
    regmatch_t m = {0, (regoff_t)(to - from)};
    return regexec(&p->whole, v + from, 1, &m, REG_STARTEND) == 0;
}

/* The first match in v[from..n): 1 with *so, *eo set, or 0. */
static int find(const pattern *p, const char *v, size_t from, size_t n, size_t *so, size_t *eo)
{
    regmatch_t m = {(regoff_t)from, (regoff_t)n};
    if (regexec(&p->anywhere, v, 1, &m, REG_STARTEND | (from > 0 ? REG_NOTBOL : 0)) != 0)
        return 0;
    *so = (size_t)m.rm_so;
    *eo = (size_t)m.rm_eo;
    return 1;
}

/* The shortest (longest) head v[0..k) the pattern matches whole; n+1 if none. */
static size_t head_end(const pattern *p, const char *v, size_t n, int longest)
{
    for (size_t i = 0; i <= n; i++) {
        size_t k = longest ? n - i : i;
        if (matches_whole(p, v, 0, k))
            return k;
    }
    return n + 1;
}

/* Where the shortest (longest) tail v[k..n) the pattern matches whole
 * starts; n+1 if none. */
static size_t tail_start(const pattern *p, const char *v, size_t n, int longest)
{
    for (size_t i = 0; i <= n; i++) {
        size_t k = longest ? i : n - i;
        if (matches_whole(p, v, k, n))
            return k;
    }
    return n + 1;
}

static int add_cased(strbuf *out, const char *s, size_t n, int upper)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        sb_addc(out, (char)(upper ? toupper(c) : tolower(c)));
    }
    return out->failed ? -1 : 0;
}

/* Appends v with each match (the first only unless all) put through
 * rep (the replacement text, or NULL to change case as upper says). */
static int substitute(strbuf *out, const pattern *p, const char *v, size_t n, int all, const char *rep,
                      size_t replen, int upper)
{
    size_t pos = 0, so, eo;
    while (pos <= n && find(p, v, pos, n, &so, &eo)) {
        sb_add(out, v + pos, so - pos);
        if (rep)
            sb_add(out, rep, replen);
        else
            add_cased(out, v + so, eo - so, upper);
        pos = eo;
        if (eo == so) {
            /* An empty match: keep one byte and look after it. */
            if (so < n)
                sb_addc(out, v[so]);
            pos = so + 1;
        }
        if (!all)
            break;
    }
    if (pos < n)
        sb_add(out, v + pos, n - pos);
    return out->failed ? -1 : 0;
}

/* The head edits: a match at the start only. */
static int substitute_head(strbuf *out, const pattern *p, const char *v, size_t n, const char *rep, size_t replen,
                           int upper)
{
    size_t k = head_end(p, v, n, 1);
    if (k > n)
        return sb_add(out, v, n);
    if (rep)
        sb_add(out, rep, replen);
    else
        add_cased(out, v, k, upper);
    return sb_add(out, v + k, n - k);
}

static int apply_pattern(strbuf *out, const char *v, size_t n, const segment *s, const pattern *p, const char *rep)
{
    size_t k;
    switch ((plus_op)s->op) {
    case PLUS_CUT_HEAD:
    case PLUS_CUT_HEAD_LONG:
        k = head_end(p, v, n, s->op == PLUS_CUT_HEAD_LONG);
        return k > n ? sb_add(out, v, n) : sb_add(out, v + k, n - k);
    case PLUS_CUT_TAIL:
    case PLUS_CUT_TAIL_LONG:
        k = tail_start(p, v, n, s->op == PLUS_CUT_TAIL_LONG);
        return sb_add(out, v, k > n ? n : k);
    case PLUS_SUB_TAIL:
        k = tail_start(p, v, n, 1);
        if (k > n)
            return sb_add(out, v, n);
        sb_add(out, v, k);
        return sb_add(out, rep, s->rep_len);
    case PLUS_SUB:
    case PLUS_SUB_ALL:
        return substitute(out, p, v, n, s->op == PLUS_SUB_ALL, rep, s->rep_len, 0);
    case PLUS_SUB_HEAD:
        return substitute_head(out, p, v, n, rep, s->rep_len, 0);
    case PLUS_UPPER:
    case PLUS_LOWER:
        return substitute_head(out, p, v, n, NULL, 0, s->op == PLUS_UPPER);
    case PLUS_UPPER_ALL:
    case PLUS_LOWER_ALL:
        return substitute(out, p, v, n, 1, NULL, 0, s->op == PLUS_UPPER_ALL);
    default:
        return sb_add(out, v, n);
    }
}

int plus_apply(strbuf *out, const char *v, size_t n, const segment *s, const char *text)
{
    switch ((plus_op)s->op) {
    case PLUS_NONE:
        return sb_add(out, v, n);
    case PLUS_DEFAULT:
        /* Perl's false values: "" and "0". */
        if (n == 0 || (n == 1 && v[0] == '0'))
            return sb_add(out, text + s->pat_off, s->pat_len);
        return sb_add(out, v, n);
    case PLUS_SUBSTR: {
        if (s->from > n)
            return sb_add(out, "", 0);
        size_t len = n - s->from;
        return sb_add(out, v + s->from, s->count < len ? s->count : len);
    }
    default:
        break;
    }
    pattern p;
    if (compile(&p, text + s->pat_off, s->pat_len) < 0)
        return -1;
    int rc = p.ok ? apply_pattern(out, v, n, s, &p, text + s->rep_off) : sb_add(out, v, n);
    release(&p);
    return rc;
}
