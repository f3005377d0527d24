/* template.c - finding replacement strings in command text. */
#include "template.h"

#include <stdlib.h>
#include <string.h>

/* Parses the edit suffix inside the braces: "", ".", "/", "//", "/.". */
static int parse_edit(const char *s, size_t n, path_edit *edit)
{
    if (n == 0) { *edit = EDIT_NONE; return 1; }
    if (n == 1 && s[0] == '.') { *edit = EDIT_NOEXT; return 1; }
    if (n == 1 && s[0] == '/') { *edit = EDIT_BASENAME; return 1; }
    if (n == 2 && s[0] == '/' && s[1] == '/') { *edit = EDIT_DIRNAME; return 1; }
    if (n == 2 && s[0] == '/' && s[1] == '.') { *edit = EDIT_BASE_NOEXT; return 1; }
    return 0;
}

/* --plus's path edits. */
static int parse_plus_edit(const char *s, size_t n, path_edit *edit)
{
    static const struct { const char *text; path_edit edit; } edits[] = {
        {"+/", EDIT_PLUS_DIR},   {"+.", EDIT_PLUS_EXT},     {"+..", EDIT_PLUS_EXT2},
        {"+...", EDIT_PLUS_EXT3}, {"..", EDIT_NOEXT2},      {"...", EDIT_NOEXT3},
        {"/..", EDIT_BASE_NOEXT2}, {"/...", EDIT_BASE_NOEXT3},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
        if (strlen(edits[i].text) == n && !memcmp(s, edits[i].text, n)) {
            *edit = edits[i].edit;
            return 1;
        }
    return 0;
}

/* Parses a decimal number at s[*i..n); 0 if there is none. */
static int parse_decimal(const char *s, size_t n, size_t *i, size_t *out)
{
    size_t v = 0, start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9' && v < TEMPLATE_MAX_POS)
        v = v * 10 + (size_t)(s[(*i)++] - '0');
    *out = v;
    return *i > start;
}

/* {:-text}, {:n}, {:n:m}. */
static int parse_colon_op(const char *in, size_t n, size_t off, segment *r)
{
    if (n >= 3 && in[1] == '-') {
        r->op = PLUS_DEFAULT;
        r->pat_off = off + 2;
        r->pat_len = n - 2;
        return 1;
    }
    size_t i = 1;
    if (!parse_decimal(in, n, &i, &r->from))
        return 0;
    r->count = (size_t)-1;
    if (i < n && in[i] == ':') {
        i++;
        if (!parse_decimal(in, n, &i, &r->count))
            return 0;
    }
    r->op = PLUS_SUBSTR;
    return i == n;
}

/* {/pat/rep}, {/#pat/rep}, {/%pat/rep}, {//pat/rep}. */
static int parse_sub_op(const char *in, size_t n, size_t off, segment *r)
{
    size_t i = 1;
    r->op = PLUS_SUB;
    if (n > 1 && (in[1] == '#' || in[1] == '%' || in[1] == '/')) {
        r->op = in[1] == '#' ? PLUS_SUB_HEAD : in[1] == '%' ? PLUS_SUB_TAIL : PLUS_SUB_ALL;
        i = 2;
    }
    const char *slash = memchr(in + i, '/', n - i);
    if (!slash || slash == in + i)
        return 0;
    /* {/pat/rep}: pat holds none of # % / (GNU parallel's rule). */
    if (r->op == PLUS_SUB && (memchr(in + i, '#', (size_t)(slash - in) - i) || memchr(in + i, '%', (size_t)(slash - in) - i)))
        return 0;
    r->pat_off = off + i;
    r->pat_len = (size_t)(slash - in) - i;
    r->rep_off = off + (size_t)(slash - in) + 1;
    r->rep_len = n - (size_t)(slash - in) - 1;
    return 1;
}

/* A pattern operator: c or cc followed by the pattern. */
static int parse_pattern_op(const char *in, size_t n, size_t off, plus_op one, plus_op two, segment *r)
{
    size_t i = n > 1 && in[1] == in[0] ? 2 : 1;
    if (i >= n || in[i] == in[0])
        return 0;
    r->op = i == 2 ? two : one;
    r->pat_off = off + i;
    r->pat_len = n - i;
    return 1;
}

/* --plus's strings inside the braces (in[0..n), at offset off of the
 * parsed text), after a position if any. */
static int parse_plus(const char *in, size_t n, size_t off, segment *r)
{
    if (parse_plus_edit(in, n, &r->edit))
        return 1;
    if (n == 0)
        return 0;
    switch (in[0]) {
    case ':': return parse_colon_op(in, n, off, r);
    case '/': return parse_sub_op(in, n, off, r);
    case '#': return parse_pattern_op(in, n, off, PLUS_CUT_HEAD, PLUS_CUT_HEAD_LONG, r);
    case '%': return parse_pattern_op(in, n, off, PLUS_CUT_TAIL, PLUS_CUT_TAIL_LONG, r);
    case '^': return parse_pattern_op(in, n, off, PLUS_UPPER, PLUS_UPPER_ALL, r);
    case ',': return parse_pattern_op(in, n, off, PLUS_LOWER, PLUS_LOWER_ALL, r);
    }
    return 0;
}

/* --plus's strings that stand alone: {##} {0#} {0%} {slot}. */
static int parse_plus_word(const char *in, size_t n, segment_kind *kind)
{
    static const struct { const char *text; segment_kind kind; } words[] = {
        {"##", SEG_TOTAL}, {"0#", SEG_SEQ_PAD}, {"0%", SEG_SLOT_PAD}, {"slot", SEG_SLOT},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].text) == n && !memcmp(in, words[i].text, n)) {
            *kind = words[i].kind;
            return 1;
        }
    return 0;
}

int replacement_parse_plus(const char *s, size_t n, int plus, segment *seg, size_t *used)
{
    if (n < 2 || s[0] != '{')
        return 0;
    size_t close = 1;
    /* --plus's patterns may be long; the other strings are short. */
    while (close < n && (plus || close <= 12) && s[close] != '}')
        close++;
    if (close >= n || s[close] != '}')
        return 0;
    const char *in = s + 1;
    size_t inlen = close - 1;
    segment r = {.kind = SEG_TEXT, .edit = EDIT_NONE};
    if (inlen == 1 && in[0] == '#') {
        r.kind = SEG_SEQ;
    } else if (inlen == 1 && in[0] == '%') {
        r.kind = SEG_SLOT;
    } else if (plus && parse_plus_word(in, inlen, &r.kind)) {
        /* kind set */
    } else if ((inlen > 0 && in[0] >= '1' && in[0] <= '9') ||
               (inlen > 1 && in[0] == '-' && in[1] >= '0' && in[1] <= '9')) {
        r.from_end = in[0] == '-';
        size_t i = (size_t)r.from_end, pos = 0;
        while (i < inlen && in[i] >= '0' && in[i] <= '9') {
            pos = pos * 10 + (size_t)(in[i] - '0');
            if (pos > TEMPLATE_MAX_POS)
                return 0;
            i++;
        }
        if (!parse_edit(in + i, inlen - i, &r.edit) && !(plus && parse_plus(in + i, inlen - i, 1 + i, &r)))
            return 0;
        r.kind = SEG_ARG;
        r.pos = pos;
    } else {
        if (!parse_edit(in, inlen, &r.edit) && !(plus && parse_plus(in, inlen, 1, &r)))
            return 0;
        r.kind = SEG_ALL_ARGS;
    }
    *seg = r;
    *used = close + 1;
    return 1;
}

int replacement_parse(const char *s, size_t n, segment *seg, size_t *used)
{
    return replacement_parse_plus(s, n, 0, seg, used);
}

/* Offset of the first "xy" at or after from in s[0..n), or n. */
static size_t find_pair(const char *s, size_t n, size_t from, char x, char y)
{
    for (size_t i = from; i + 1 < n; i++)
        if (s[i] == x && s[i + 1] == y)
            return i;
    return n;
}

int template_find_perl(const char *s, size_t n, size_t *off, size_t *len)
{
    size_t open = find_pair(s, n, 0, '{', '=');
    if (open == n)
        return 0;
    /* A later {= cannot find an =} that this one does not. */
    size_t close = find_pair(s, n, open + 2, '=', '}');
    if (close == n)
        return 0;
    *off = open;
    *len = close + 2 - open;
    return 1;
}

/* Whether s starts with one of the edits a name may carry, and its '}'. */
static int edit_and_brace(const char *s)
{
    static const char *const ends[] = {"}", ".}", "/}", "//}", "/.}"};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (!strncmp(s, ends[i], strlen(ends[i])))
            return 1;
    return 0;
}

int template_name_columns(const char *s, const strvec *names, strbuf *out)
{
    while (*s) {
        size_t k = names->len;
        if (*s == '{')
            for (k = 0; k < names->len; k++) {
                size_t n = strlen(names->items[k]);
                if (n && !strncmp(s + 1, names->items[k], n) && edit_and_brace(s + 1 + n))
                    break;
            }
        if (k < names->len) {
            sb_addf(out, "{%zu", k + 1);
            s += 1 + strlen(names->items[k]);
        } else {
            sb_addc(out, *s++);
        }
    }
    return out->failed ? -1 : 0;
}

int segment_list_push(segment_list *l, segment s)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        segment *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return -1;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->len++] = s;
    return 0;
}

int segment_list_push_text(segment_list *l, size_t off, size_t len)
{
    segment t = {.kind = SEG_TEXT, .edit = EDIT_NONE, .off = off, .len = len};
    return segment_list_push(l, t);
}

/* With -I, the replacement strings its string takes the place of. */
static int is_unedited_arg(const segment *seg)
{
    return (seg->kind == SEG_ALL_ARGS || seg->kind == SEG_ARG) && seg->edit == EDIT_NONE && seg->op == PLUS_NONE;
}

/* If s[0..n) starts with a replacement string, fills *seg and *used. */
static int find_replacement(const char *s, size_t n, const char *replace, size_t rlen, int plus, segment *seg,
                            size_t *used)
{
    if (replace && n >= rlen && !memcmp(s, replace, rlen)) {
        segment all = {.kind = SEG_ALL_ARGS, .edit = EDIT_NONE};
        *seg = all;
        *used = rlen;
        return 1;
    }
    return s[0] == '{' && replacement_parse_plus(s, n, plus, seg, used) && !(replace && is_unedited_arg(seg));
}

long template_split(const char *s, size_t n, size_t base, const char *replace, segment_list *out)
{
    return template_split_plus(s, n, base, replace, 0, out);
}

long template_split_plus(const char *s, size_t n, size_t base, const char *replace, int plus, segment_list *out)
{
    long found = 0;
    size_t text_start = 0, i = 0;
    size_t rlen = replace ? strlen(replace) : 0;
    if (rlen == 0)
        replace = NULL;
    while (i < n) {
        segment seg;
        size_t used;
        if (find_replacement(s + i, n - i, replace, rlen, plus, &seg, &used)) {
            /* Patterns are located in the parsed text, as text is. */
            seg.pat_off += base + i;
            seg.rep_off += base + i;
            if (i > text_start && segment_list_push_text(out, base + text_start, i - text_start) < 0)
                return -1;
            if (segment_list_push(out, seg) < 0)
                return -1;
            found++;
            i += used;
            text_start = i;
        } else {
            i++;
        }
    }
    if (n > text_start && segment_list_push_text(out, base + text_start, n - text_start) < 0)
        return -1;
    return found;
}

void segment_list_free(segment_list *l)
{
    free(l->items);
    l->items = NULL;
    l->len = l->cap = 0;
}
