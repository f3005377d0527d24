/* input.c - input sources, their product and linking, and -n grouping. */
#include "input.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct colsep {
    int trim_left, trim_right;
    int use_regex;
    regex_t re;
    char *plain;
    size_t plain_len;
};

typedef struct source {
    strvec values;      /* in-memory values (unused for a streamed source) */
    FILE *stream;       /* streamed source, or NULL */
    int owns_stream;
    int at_eof_str;     /* -E: the end-of-file string was read */
} source;

typedef struct group {
    size_t first, count;    /* sources [first, first+count) */
    size_t rows;            /* rows held in memory (in-memory groups) */
} group;

struct input {
    source *sources;
    size_t nsources;
    group *groups;
    size_t ngroups;
    int streamed;           /* group 0 is read lazily (one source) */
    size_t *odometer;       /* current row of each group */
    int started, finished;
    size_t max_args;
    int no_args;            /* -n0: jobs are given no arguments */
    const char *eof_str;    /* -E, or NULL */
    size_t eof_len;
    int skip_blank;         /* -r */
    colsep *colsep;
    int trim_left, trim_right;  /* --trim, without --colsep */
    int link;               /* --link: sources wrap around to the longest */
    strvec header;          /* --header: the column names */
    const char *delim;      /* ends each record of a file: -d, -0 or newline */
    size_t delim_len;
    char *line;             /* getdelim buffer */
    size_t line_cap;
    strbuf record;          /* a record ending in a delimiter of several bytes */
    size_t max_lines;       /* -L, -l: lines ending in a blank go on */
    strbuf joined;          /* ... joined with the lines they go on in */
    int delim_has_nul;      /* -0: NUL ends records; else a NUL is spelled \0 */
    strbuf spelled;         /* a record with its NULs spelled out */
    int warned_nul;
    strvec row0;            /* the current row of group 0 */
};

/* Reads the next record of f: up to the delimiter (removed) or the end
 * of the file.  A one-byte delimiter reads straight into in->line; a
 * longer one collects pieces ending in its last byte until they end in
 * all of it.  Returns 1 with *rec and *len set, 0 at the end of the file,
 * -1 on a read error or when out of memory. */
static int read_record(input *in, FILE *f, const char **rec, size_t *len)
{
    const char *delim = in->delim;
    size_t dlen = in->delim_len;
    int got = 0;
    sb_clear(&in->record);
    for (;;) {
        errno = 0;
        ssize_t n = getdelim(&in->line, &in->line_cap, delim[dlen - 1], f);
        if (n < 0 && errno)
            return -1;
        if (n < 0 && !got)
            return 0;
        if (n < 0)
            break; /* the last record, without a delimiter */
        got = 1;
        if (dlen == 1) {
            if (in->line[n - 1] == delim[0])
                in->line[--n] = '\0';
            *rec = in->line;
            *len = (size_t)n;
            return 1;
        }
        if (sb_add(&in->record, in->line, (size_t)n) < 0)
            return -1;
        size_t have = in->record.len;
        if (have >= dlen && !memcmp(in->record.data + have - dlen, delim, dlen)) {
            in->record.len -= dlen;
            in->record.data[in->record.len] = '\0';
            break;
        }
    }
    *rec = in->record.data;
    *len = in->record.len;
    return 1;
}

typedef enum record_verdict { RECORD_KEEP, RECORD_SKIP, RECORD_END } record_verdict;

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(" \t\n\r\f\v", s[i]))
            return 0;
    return 1;
}

/* What becomes of a record read from a source: -E's string ends the
 * source, -r skips blank records (in that order, as GNU parallel checks
 * them); values after ::: are records too. */
static record_verdict judge_record(const input *in, const char *rec, size_t len)
{
    if (in->eof_str && len == in->eof_len && !memcmp(rec, in->eof_str, len))
        return RECORD_END;
    if (in->skip_blank && is_blank(rec, len))
        return RECORD_SKIP;
    return RECORD_KEEP;
}

/* A NUL byte cannot be passed in an argument: as GNU parallel does, it
 * becomes the two characters \0, with a warning (once). */
static int spell_nuls(input *in, const char **rec, size_t *len)
{
    static const char warning[] = "mproc run: warning: a NUL character in the input was replaced with \\0 "
                                  "(NUL cannot be passed in an argument; did you mean --null?)\n";
    sb_clear(&in->spelled);
    for (size_t i = 0; i < *len; i++) {
        if ((*rec)[i])
            sb_addc(&in->spelled, (*rec)[i]);
        else
            sb_add(&in->spelled, "\\0", 2);
    }
    if (in->spelled.failed)
        return -1;
    if (!in->warned_nul) {
        in->warned_nul = 1;
        ssize_t ignored = write(2, warning, sizeof warning - 1);
        (void)ignored;
    }
    *rec = in->spelled.data;
    *len = in->spelled.len;
    return 0;
}

/* -L, -l: a line ending in a blank goes on in the next line. */
static int continues(const input *in, const char *rec, size_t len)
{
    return in->max_lines && len > 0 && strchr(" \t\n\r\f\v", rec[len - 1]) && rec[len - 1];
}

/* The next record of a file source that -E and -r let through, joined
 * with the lines it goes on in (see continues).  Returns 1, 0 at its
 * end, or -1 (see read_record). */
static int next_record(input *in, source *s, const char **rec, size_t *len)
{
    int joining = 0;
    for (;;) {
        int r = s->at_eof_str ? 0 : read_record(in, s->stream, rec, len);
        if (r < 0)
            return -1;
        if (r > 0 && !in->delim_has_nul && memchr(*rec, '\0', *len) && spell_nuls(in, rec, len) < 0)
            return -1;
        if (r > 0 && in->eof_str && *len == in->eof_len && !memcmp(*rec, in->eof_str, *len)) {
            s->at_eof_str = 1;
            r = 0;
        }
        if (r == 0) {
            /* The end of the source ends a line that was to go on. */
            *rec = in->joined.data;
            *len = in->joined.len;
            return joining;
        }
        if (joining) {
            if (sb_add(&in->joined, *rec, *len) < 0)
                return -1;
            *rec = in->joined.data;
            *len = in->joined.len;
            joining = 0;
        }
        if (judge_record(in, *rec, *len) == RECORD_SKIP)
            continue;
        if (!continues(in, *rec, *len))
            return 1;
        if (*rec != in->joined.data) {
            sb_clear(&in->joined);
            if (sb_add(&in->joined, *rec, *len) < 0)
                return -1;
        }
        joining = 1;
    }
}

static int open_source(input *in, source *s, const source_spec *spec, strbuf *err)
{
    if (spec->kind == SOURCE_ARGS) {
        for (size_t i = 0; i < spec->nargs; i++) {
            record_verdict v = judge_record(in, spec->args[i], strlen(spec->args[i]));
            if (v == RECORD_END)
                break;
            if (v == RECORD_KEEP && sv_pushs(&s->values, spec->args[i]) < 0)
                goto oom;
        }
        return 0;
    }
    if (!spec->path || !strcmp(spec->path, "-")) {
        s->stream = stdin;
        return 0;
    }
    s->stream = fopen(spec->path, "re");
    if (!s->stream) {
        sb_addf(err, "cannot open input file '%s': %s", spec->path, strerror(errno));
        return -1;
    }
    s->owns_stream = 1;
    return 0;
oom:
    sb_adds(err, "out of memory");
    return -1;
}

/* --header: takes the first value of a source and adds the names in it
 * (its columns with --colsep, else the value) to in->header. */
static int read_header(input *in, source *s, strbuf *err)
{
    strvec names = STRVEC_INIT;
    const char *rec = NULL;
    size_t len = 0;
    int rc = 0;
    if (s->stream) {
        int r = read_record(in, s->stream, &rec, &len);
        if (r < 0) {
            sb_addf(err, "cannot read input: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            return 0;
    } else if (s->values.len) {
        rec = s->values.items[0];
        len = strlen(rec);
    } else {
        return 0;
    }
    if (len > 0 && rec[len - 1] == '\r')
        len--;
    if (in->colsep)
        rc = colsep_split(in->colsep, rec, len, &names);
    else
        rc = sv_push(&names, rec, len);
    for (size_t i = 0; i < names.len && rc == 0; i++)
        rc = sv_pushs(&in->header, names.items[i]);
    sv_free(&names);
    if (!s->stream && s->values.len) {
        free(s->values.items[0]);
        memmove(s->values.items, s->values.items + 1, (s->values.len - 1) * sizeof *s->values.items);
        s->values.items[--s->values.len] = NULL;
    }
    if (rc < 0)
        sb_adds(err, "out of memory");
    return rc;
}

static int slurp_source(input *in, source *s, strbuf *err)
{
    if (!s->stream)
        return 0;
    const char *rec;
    size_t len;
    int r;
    while ((r = next_record(in, s, &rec, &len)) > 0)
        if (sv_push(&s->values, rec, len) < 0) {
            sb_adds(err, "out of memory");
            return -1;
        }
    if (r < 0) {
        sb_addf(err, "cannot read input: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int input_open(input **out, const run_options *o, strbuf *err)
{
    input *in = calloc(1, sizeof *in);
    if (!in)
        goto oom;
    /* When jobs are packed, the packer counts the inputs of a job. */
    in->max_args = o->max_args && !run_options_pack(o) ? o->max_args : 1;
    in->no_args = o->no_args && !run_options_pack(o);
    in->eof_str = o->eof_str;
    in->eof_len = o->eof_str ? strlen(o->eof_str) : 0;
    in->skip_blank = o->skip_blank;
    in->max_lines = o->max_lines;
    in->delim = o->delimiter.len ? o->delimiter.data : "\n";
    in->delim_len = o->delimiter.len ? o->delimiter.len : 1;
    in->delim_has_nul = memchr(in->delim, '\0', in->delim_len) != NULL;
    if (o->colsep && colsep_compile(&in->colsep, o->colsep, err) < 0)
        goto fail;
    trim_mode trim = o->trim == TRIM_DEFAULT ? (o->colsep ? TRIM_BOTH : TRIM_NONE) : o->trim;
    in->trim_left = trim == TRIM_LEFT || trim == TRIM_BOTH;
    in->trim_right = trim == TRIM_RIGHT || trim == TRIM_BOTH;
    if (in->colsep) {
        colsep_set_trim(in->colsep, in->trim_left, in->trim_right);
        in->trim_left = in->trim_right = 0;
    }
    in->link = o->link;
    size_t ns = o->nsources ? o->nsources : 1;
    in->sources = calloc(ns, sizeof *in->sources);
    in->groups = calloc(ns, sizeof *in->groups);
    in->odometer = calloc(ns, sizeof *in->odometer);
    if (!in->sources || !in->groups || !in->odometer)
        goto oom;
    in->nsources = ns;
    if (o->nsources == 0) {
        in->sources[0].stream = stdin;
        in->groups[0].count = 1;
        in->ngroups = 1;
        if (o->header && read_header(in, &in->sources[0], err) < 0)
            goto fail;
    } else {
        for (size_t i = 0; i < o->nsources; i++) {
            if (open_source(in, &in->sources[i], &o->sources[i], err) < 0)
                goto fail;
            if (o->header && read_header(in, &in->sources[i], err) < 0)
                goto fail;
            if (i == 0 || (!o->sources[i].linked && !o->link)) {
                in->groups[in->ngroups].first = i;
                in->groups[in->ngroups].count = 0;
                in->ngroups++;
            }
            in->groups[in->ngroups - 1].count++;
        }
    }
    in->streamed = in->groups[0].count == 1 && in->sources[0].stream != NULL;
    for (size_t g = 0; g < in->ngroups; g++) {
        group *gr = &in->groups[g];
        if (g == 0 && in->streamed)
            continue;
        size_t rows = (size_t)-1, longest = 0;
        for (size_t k = 0; k < gr->count; k++) {
            source *s = &in->sources[gr->first + k];
            if (slurp_source(in, s, err) < 0)
                goto fail;
            if (s->values.len < rows)
                rows = s->values.len;
            if (s->values.len > longest)
                longest = s->values.len;
        }
        /* --link goes on to the longest source, the shorter ones starting
         * over; :::+ stops at the shortest. */
        gr->rows = in->link && rows > 0 ? longest : rows;
    }
    *out = in;
    return 0;
oom:
    sb_adds(err, "out of memory");
fail:
    input_close(in);
    return -1;
}

static int is_space(char c)
{
    return c && strchr(" \t\n\r\f\v", c) != NULL;
}

/* s[0..*n) without the blanks --trim takes off its ends. */
static const char *trimmed(const char *s, size_t *n, int left, int right)
{
    while (left && *n > 0 && is_space(*s)) {
        s++;
        (*n)--;
    }
    while (right && *n > 0 && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* Appends one value, split into columns when --colsep is given. */
static int add_value(input *in, strvec *args, const char *s, size_t n)
{
    if (in->colsep)
        return colsep_split(in->colsep, s, n, args);
    s = trimmed(s, &n, in->trim_left, in->trim_right);
    return sv_push(args, s, n);
}

/* Loads the next row of group 0 into in->row0.  Returns 1, 0 or -1. */
static int next_row0(input *in, strbuf *err)
{
    sv_clear(&in->row0);
    if (in->streamed) {
        const char *rec;
        size_t len;
        int r = next_record(in, &in->sources[0], &rec, &len);
        if (r < 0) {
            sb_addf(err, "cannot read input: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            return 0;
        return sv_push(&in->row0, rec, len) < 0 ? -1 : 1;
    }
    group *g = &in->groups[0];
    if (in->odometer[0] >= g->rows)
        return 0;
    for (size_t k = 0; k < g->count; k++) {
        const strvec *vals = &in->sources[g->first + k].values;
        if (sv_pushs(&in->row0, vals->items[in->odometer[0] % vals->len]) < 0)
            return -1;
    }
    in->odometer[0]++;
    return 1;
}

/* Advances to the next tuple of the product.  Returns 1, 0 or -1. */
static int next_tuple(input *in, strvec *args, strbuf *err)
{
    if (in->finished)
        return 0;
    size_t G = in->ngroups;
    int r;
    if (!in->started) {
        in->started = 1;
        for (size_t g = 1; g < G; g++)
            if (in->groups[g].rows == 0) {
                /* In a product an empty source stands for one empty value. */
                in->groups[g].rows = 1;
                for (size_t k = 0; k < in->groups[g].count; k++)
                    if (sv_push(&in->sources[in->groups[g].first + k].values, "", 0) < 0)
                        return -1;
            }
        r = next_row0(in, err);
        if (r == 0 && G > 1) {
            for (size_t k = 0; k < in->groups[0].count; k++)
                if (sv_push(&in->row0, "", 0) < 0)
                    return -1;
            r = 1;
        }
    } else {
        size_t g = G;
        r = 1;
        while (g > 1) {
            g--;
            if (++in->odometer[g] < in->groups[g].rows)
                break;
            in->odometer[g] = 0;
            if (g == 1) {
                r = next_row0(in, err);
                break;
            }
        }
        if (G == 1)
            r = next_row0(in, err);
    }
    if (r <= 0) {
        in->finished = 1;
        return r;
    }
    for (size_t k = 0; k < in->row0.len; k++)
        if (add_value(in, args, in->row0.items[k], strlen(in->row0.items[k])) < 0)
            return -1;
    for (size_t g = 1; g < G; g++) {
        group *gr = &in->groups[g];
        for (size_t k = 0; k < gr->count; k++) {
            const char *v = in->sources[gr->first + k].values.items[in->odometer[g]];
            if (add_value(in, args, v, strlen(v)) < 0)
                return -1;
        }
    }
    return 1;
}

int input_next(input *in, strvec *args, strbuf *err)
{
    sv_clear(args);
    size_t got = 0;
    while (got < in->max_args) {
        int r = next_tuple(in, args, err);
        if (r < 0) {
            if (!err->len)
                sb_adds(err, "out of memory");
            return -1;
        }
        if (r == 0)
            break;
        got++;
    }
    if (in->no_args)
        sv_clear(args);
    return got > 0;
}

void input_close(input *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nsources; i++) {
        sv_free(&in->sources[i].values);
        if (in->sources[i].owns_stream)
            fclose(in->sources[i].stream);
    }
    free(in->sources);
    free(in->groups);
    free(in->odometer);
    sv_free(&in->row0);
    free(in->line);
    sb_free(&in->record);
    sb_free(&in->joined);
    sb_free(&in->spelled);
    sv_free(&in->header);
    colsep_free(in->colsep);
    free(in);
}

const strvec *input_header(const input *in)
{
    return &in->header;
}

/* ---- column splitting ------------------------------------------------- */

static int has_regex_special(const char *s)
{
    return strpbrk(s, ".[]()*+?{}|^$\\") != NULL;
}

int colsep_compile(colsep **out, const char *sep, strbuf *err)
{
    colsep *c = calloc(1, sizeof *c);
    if (!c) {
        sb_adds(err, "out of memory");
        return -1;
    }
    if (!has_regex_special(sep)) {
        c->plain = strdup(sep);
        if (!c->plain) {
            free(c);
            sb_adds(err, "out of memory");
            return -1;
        }
        c->plain_len = strlen(sep);
        colsep_set_trim(c, 1, 1);
        *out = c;
        return 0;
    }
    /* Perl-style \t and \s are common in separators: translate them. */
    strbuf pat = STRBUF_INIT;
    for (const char *p = sep; *p; p++) {
        if (p[0] == '\\' && p[1] == 't') { sb_addc(&pat, '\t'); p++; }
        else if (p[0] == '\\' && p[1] == 's') { sb_adds(&pat, "[[:space:]]"); p++; }
        else sb_addc(&pat, *p);
    }
    int rc = pat.failed ? REG_ESPACE : regcomp(&c->re, sb_str(&pat), REG_EXTENDED);
    sb_free(&pat);
    if (rc != 0) {
        sb_addf(err, "cannot parse --colsep '%s' as a regular expression", sep);
        free(c);
        return -1;
    }
    c->use_regex = 1;
    colsep_set_trim(c, 1, 1);
    *out = c;
    return 0;
}

static int push_trimmed(const colsep *c, strvec *out, const char *s, size_t n)
{
    s = trimmed(s, &n, c->trim_left, c->trim_right);
    return sv_push(out, s, n);
}

void colsep_set_trim(colsep *c, int left, int right)
{
    c->trim_left = left;
    c->trim_right = right;
}

int colsep_split(const colsep *c, const char *s, size_t n, strvec *out)
{
    size_t first = out->len;
    size_t pos = 0;
    while (pos <= n) {
        size_t mstart = n, mend = n;
        int found = 0;
        if (c->use_regex) {
            regmatch_t m;
            m.rm_so = (regoff_t)pos;
            m.rm_eo = (regoff_t)n;
            /* REG_STARTEND keeps the search inside [pos, n) without copying. */
            /* An empty match separates nothing: the rest is one column. */
            if (regexec(&c->re, s, 1, &m, REG_STARTEND | (pos > 0 ? REG_NOTBOL : 0)) == 0 &&
                m.rm_eo > m.rm_so) {
                mstart = (size_t)m.rm_so;
                mend = (size_t)m.rm_eo;
                found = 1;
            }
        } else {
            for (size_t i = pos; i + c->plain_len <= n; i++)
                if (!memcmp(s + i, c->plain, c->plain_len)) {
                    mstart = i;
                    mend = i + c->plain_len;
                    found = 1;
                    break;
                }
        }
        if (!found) {
            if (push_trimmed(c, out, s + pos, n - pos) < 0)
                return -1;
            break;
        }
        if (push_trimmed(c, out, s + pos, mstart - pos) < 0)
            return -1;
        pos = mend;
    }
    /* Empty trailing columns are dropped (but a value keeps one column). */
    while (out->len > first + 1 && out->items[out->len - 1][0] == '\0') {
        free(out->items[out->len - 1]);
        out->len--;
    }
    return 0;
}

void colsep_free(colsep *c)
{
    if (!c)
        return;
    if (c->use_regex)
        regfree(&c->re);
    free(c->plain);
    free(c);
}
