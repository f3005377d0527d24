/* pack.c - filling command lines with as many inputs as fit. */
#include "pack.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Linux's limit on a single exec argument (MAX_ARG_STRLEN): the shell's
 * -c text is one. */
#define ONE_ARG_MAX 131072

size_t pack_default_max_chars(void)
{
    long arg_max = sysconf(_SC_ARG_MAX);
    size_t env = 0;
    for (char **e = environ; *e; e++)
        env += strlen(*e) + 1 + sizeof *e;
    size_t limit = ONE_ARG_MAX;
    if (arg_max > 0 && (size_t)arg_max > env + 4096 && (size_t)arg_max - env - 4096 < limit)
        limit = (size_t)arg_max - env - 4096;
    /* As GNU parallel: room for its wrapping, then half of it. */
    return limit > 3000 ? (limit - 3000) / 2 : 1;
}

void packer_init(packer *p, input *in, const command *cmd, size_t max_chars, size_t max_records,
                 unsigned long slots)
{
    memset(p, 0, sizeof *p);
    p->in = in;
    p->cmd = cmd;
    p->max_chars = max_chars;
    p->max_records = max_records;
    p->slots = slots;
    p->spread_done = slots == 0;
}

/* Puts a record back in front of the held ones. */
static int unget(packer *p, strvec *rec)
{
    if (p->held_first == 0) {
        size_t cap = p->held_cap ? p->held_cap * 2 : 16;
        strvec *n = malloc(cap * sizeof *n);
        if (!n)
            return -1;
        /* Keep the held records at the end: room to put more in front. */
        size_t first = cap - p->nheld;
        if (p->nheld)
            memcpy(n + first, p->held + p->held_first, p->nheld * sizeof *n);
        free(p->held);
        p->held = n;
        p->held_cap = cap;
        p->held_first = first;
    }
    p->held[--p->held_first] = *rec;
    p->nheld++;
    memset(rec, 0, sizeof *rec);
    return 0;
}

/* The next record: a held one, or one read from the input.  1, 0 or -1. */
static int take(packer *p, strvec *rec, strbuf *err)
{
    if (p->nheld) {
        *rec = p->held[p->held_first++];
        p->nheld--;
        return 1;
    }
    return input_next(p->in, rec, err);
}

/* Whether the input has no record left (reads one ahead to know). */
static int at_end(packer *p, strbuf *err)
{
    if (p->nheld)
        return 0;
    strvec rec = STRVEC_INIT;
    int got = input_next(p->in, &rec, err);
    if (got > 0 && unget(p, &rec) < 0)
        got = -1;
    sv_free(&rec);
    return got < 0 ? -1 : got == 0;
}

/* The length of the command line of a job with just these arguments. */
static size_t first_length(const command *cmd, const strvec *rec)
{
    strbuf text = STRBUF_INIT;
    job_values v = {rec->items, rec->len, 1, 1, NULL};
    command_shell_text(cmd, &v, &text);
    size_t n = text.len;
    sb_free(&text);
    return n;
}

static int append_record(strvec *args, const strvec *rec)
{
    for (size_t i = 0; i < rec->len; i++)
        if (sv_pushs(args, rec->items[i]) < 0)
            return -1;
    return 0;
}

typedef struct line {
    strvec *recs;
    size_t n, cap;
} line;

static int line_push(line *l, strvec *rec)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        strvec *r = realloc(l->recs, cap * sizeof *r);
        if (!r)
            return -1;
        l->recs = r;
        l->cap = cap;
    }
    l->recs[l->n++] = *rec;
    memset(rec, 0, sizeof *rec);
    return 0;
}

/* Gives back the records of l from index keep on, newest last. */
static int line_unget_from(packer *p, line *l, size_t keep)
{
    while (l->n > keep)
        if (unget(p, &l->recs[--l->n]) < 0)
            return -1;
    return 0;
}

static void line_free(line *l)
{
    for (size_t i = 0; i < l->n; i++)
        sv_free(&l->recs[i]);
    free(l->recs);
}

static void too_long(strbuf *err, size_t len, size_t max, unsigned long at, const strvec *rec)
{
    strbuf joined = STRBUF_INIT;
    for (size_t i = 0; i < rec->len; i++) {
        if (i)
            sb_addc(&joined, ' ');
        sb_adds(&joined, rec->items[i]);
    }
    sb_addf(err, "command line too long (%zu >= %zu) at input %lu: %.50s%s", len, max, at, sb_str(&joined),
            joined.len > 50 ? "..." : "");
    sb_free(&joined);
}

/* Reads records into l while they fit.  0, or -1 with a message. */
static int fill(packer *p, line *l, strbuf *err)
{
    size_t len = 0;
    for (;;) {
        strvec rec = STRVEC_INIT;
        int got = take(p, &rec, err);
        if (got <= 0) {
            sv_free(&rec);
            return got;
        }
        if (l->n == 0) {
            len = first_length(p->cmd, &rec);
        } else {
            for (size_t i = 0; i < rec.len; i++)
                len += command_growth(p->cmd, rec.items[i]);
        }
        if (len >= p->max_chars) {
            if (l->n > 0) {
                int rc = unget(p, &rec);
                sv_free(&rec);
                return rc;
            }
            too_long(err, len, p->max_chars, p->taken, &rec);
            sv_free(&rec);
            return -1;
        }
        p->taken++;
        if (line_push(l, &rec) < 0) {
            sv_free(&rec);
            return -1;
        }
        if (p->max_records && l->n >= p->max_records)
            return 0;
    }
}

int packer_next(packer *p, strvec *args, strbuf *err)
{
    line l = {0};
    sv_clear(args);
    int rc = fill(p, &l, err);
    if (rc == 0 && !p->spread_done && l.n > 0) {
        int end = at_end(p, err);
        if (end < 0) {
            rc = -1;
        } else if (end) {
            /* The last line: spread it over the slots. */
            p->spread_done = 1;
            if (l.n > 1) {
                p->max_records = (l.n + p->slots - 1) / p->slots;
                rc = line_unget_from(p, &l, p->max_records);
            }
        }
    }
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = append_record(args, &l.recs[i]);
    int got = l.n > 0;
    line_free(&l);
    if (rc < 0) {
        if (!err->len)
            sb_adds(err, "out of memory");
        return -1;
    }
    return got;
}

void packer_free(packer *p)
{
    for (size_t i = 0; i < p->nheld; i++)
        sv_free(&p->held[p->held_first + i]);
    free(p->held);
    p->held = NULL;
    p->nheld = 0;
}
