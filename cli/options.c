/* options.c - parsing the `mproc run` command line.
 *
 * Layout: [options] [command words] [(:::|:::+) args... | (::::|::::+) files...]...
 * Options end at the first word that is not an option (or after "--"); from
 * there on every word belongs to the command until an input separator. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum opt_id {
    OPT_JOBS, OPT_KEEP, OPT_TAG, OPT_LINEBUF, OPT_UNGROUP, OPT_GROUP, OPT_DRYRUN,
    OPT_QUOTE, OPT_BAR, OPT_ETA, OPT_PROGRESS, OPT_MAXARGS, OPT_COLSEP, OPT_JOBLOG,
    OPT_RESUME, OPT_RESUME_FAILED, OPT_RETRIES, OPT_HALT, OPT_TIMEOUT, OPT_RESULTS,
    OPT_NO_KEEP, OPT_EOF, OPT_EOF_OPT, OPT_NO_EMPTY, OPT_REPLACE, OPT_REPLACE_OPT, OPT_DELIMITER, OPT_NULL, OPT_VERBOSE, OPT_SILENT, OPT_TRACE, OPT_NOOP, OPT_HELP, OPT_VERSION, OPT_ARGFILE,
    OPT_MAXREPL, OPT_XARGS, OPT_MULTI, OPT_TAGSTRING, OPT_CTAG, OPT_CTAGSTRING, OPT_TRIM, OPT_SHUF,
    OPT_DELAY, OPT_SLOTVAR, OPT_TERMSEQ, OPT_HEADER, OPT_LINK, OPT_PLUS, OPT_CONTEXT, OPT_MAXCHARS, OPT_LINES, OPT_LINES_OPT,
    OPT_PIPE, OPT_PIPEPART, OPT_BLOCK, OPT_RECSTART, OPT_RECEND, OPT_CAT, OPT_FIFO
};

/* An option's value: none, the next word (or attached: -j4, --jobs=4),
 * optional and then only attached (-iSTR, --replace=STR), or optional
 * and attached or the next word when that is a number (-l, -l2, -l 2). */
enum { VALUE_NONE, VALUE_NEXT, VALUE_ATTACHED, VALUE_NUMBER };

typedef struct opt_def {
    const char *name;   /* long name without "--"; "" if none */
    char short_name;    /* 0 if none */
    int takes_value;    /* VALUE_NONE, VALUE_NEXT or VALUE_ATTACHED */
    enum opt_id id;
} opt_def;

/* The long names are GNU parallel's, with the spellings it accepts. */
static const opt_def opt_table[] = {
    {"jobs", 'j', 1, OPT_JOBS},          {"max-procs", 'P', 1, OPT_JOBS},
    {"maxprocs", 0, 1, OPT_JOBS},
    {"keep-order", 'k', 0, OPT_KEEP},    {"keeporder", 0, 0, OPT_KEEP},
    {"no-keep-order", 0, 0, OPT_NO_KEEP}, {"nokeeporder", 0, 0, OPT_NO_KEEP},
    {"nok", 0, 0, OPT_NO_KEEP},          {"no-k", 0, 0, OPT_NO_KEEP},
    {"tag", 0, 0, OPT_TAG},
    {"line-buffer", 0, 0, OPT_LINEBUF},  {"lb", 0, 0, OPT_LINEBUF},
    {"line-buffered", 0, 0, OPT_LINEBUF}, {"linebuffer", 0, 0, OPT_LINEBUF},
    {"linebuffered", 0, 0, OPT_LINEBUF},
    {"ungroup", 'u', 0, OPT_UNGROUP},    {"group", 'g', 0, OPT_GROUP},
    {"dry-run", 0, 0, OPT_DRYRUN},       {"dryrun", 0, 0, OPT_DRYRUN},
    {"dr", 0, 0, OPT_DRYRUN},
    {"quote", 'q', 0, OPT_QUOTE},        {"bar", 0, 0, OPT_BAR},
    {"eta", 0, 0, OPT_ETA},              {"progress", 0, 0, OPT_PROGRESS},
    {"max-args", 'n', 1, OPT_MAXARGS},   {"maxargs", 0, 1, OPT_MAXARGS},
    {"max-replace-args", 'N', 1, OPT_MAXREPL}, {"maxreplaceargs", 0, 1, OPT_MAXREPL},
    {"colsep", 'C', 1, OPT_COLSEP},      {"col-sep", 0, 1, OPT_COLSEP},
    {"joblog", 0, 1, OPT_JOBLOG},        {"jl", 0, 1, OPT_JOBLOG},
    {"resume", 0, 0, OPT_RESUME},
    {"resume-failed", 0, 0, OPT_RESUME_FAILED}, {"resumefailed", 0, 0, OPT_RESUME_FAILED},
    {"retries", 0, 1, OPT_RETRIES},      {"halt", 0, 1, OPT_HALT},
    {"halt-on-error", 0, 1, OPT_HALT},   {"timeout", 0, 1, OPT_TIMEOUT},
    {"results", 0, 1, OPT_RESULTS},      {"res", 0, 1, OPT_RESULTS},
    {"result", 0, 1, OPT_RESULTS},
    {"will-cite", 0, 0, OPT_NOOP},       {"willcite", 0, 0, OPT_NOOP},
    {"nn", 0, 0, OPT_NOOP},              {"nonotice", 0, 0, OPT_NOOP},
    {"no-notice", 0, 0, OPT_NOOP},
    {"help", 'h', 0, OPT_HELP},
    {"version", 'V', 0, OPT_VERSION},    {"arg-file", 'a', 1, OPT_ARGFILE},
    {"argfile", 0, 1, OPT_ARGFILE},
    {"", 'v', 0, OPT_VERBOSE},           {"silent", 0, 0, OPT_SILENT},
    {"verbose", 't', 0, OPT_TRACE},
    {"delimiter", 'd', 1, OPT_DELIMITER}, {"null", '0', 0, OPT_NULL},
    {"", 'E', 1, OPT_EOF},               {"eof", 'e', VALUE_ATTACHED, OPT_EOF_OPT},
    {"no-run-if-empty", 'r', 0, OPT_NO_EMPTY}, {"norunifempty", 0, 0, OPT_NO_EMPTY},
    {"", 'I', 1, OPT_REPLACE},           {"replace", 'i', VALUE_ATTACHED, OPT_REPLACE_OPT},
    {"", 'm', 0, OPT_MULTI},             {"xargs", 0, 0, OPT_XARGS},
    {"", 'X', 0, OPT_CONTEXT},
    {"max-chars", 's', 1, OPT_MAXCHARS}, {"maxchars", 0, 1, OPT_MAXCHARS},
    {"", 'L', 1, OPT_LINES},             {"max-lines", 'l', VALUE_NUMBER, OPT_LINES_OPT},
    {"maxlines", 0, VALUE_NUMBER, OPT_LINES_OPT},
    {"tagstring", 0, 1, OPT_TAGSTRING},  {"tag-string", 0, 1, OPT_TAGSTRING},
    {"ctag", 0, 0, OPT_CTAG},            {"ctagstring", 0, 1, OPT_CTAGSTRING},
    {"ctag-string", 0, 1, OPT_CTAGSTRING}, {"trim", 0, 1, OPT_TRIM},
    {"shuf", 0, 0, OPT_SHUF},            {"delay", 0, 1, OPT_DELAY},
    {"process-slot-var", 0, 1, OPT_SLOTVAR}, {"termseq", 0, 1, OPT_TERMSEQ},
    {"term-seq", 0, 1, OPT_TERMSEQ},     {"header", 0, 1, OPT_HEADER},
    {"link", 0, 0, OPT_LINK},            {"xapply", 0, 0, OPT_LINK},
    {"plus", 0, 0, OPT_PLUS},
    /* --pipe and --pipepart */
    {"pipe", 0, 0, OPT_PIPE},            {"spreadstdin", 0, 0, OPT_PIPE},
    {"pipepart", 0, 0, OPT_PIPEPART},    {"pipe-part", 0, 0, OPT_PIPEPART},
    {"block", 0, 1, OPT_BLOCK},          {"block-size", 0, 1, OPT_BLOCK},
    {"blocksize", 0, 1, OPT_BLOCK},
    {"recstart", 0, 1, OPT_RECSTART},    {"recend", 0, 1, OPT_RECEND},
    {"cat", 0, 0, OPT_CAT},              {"fifo", 0, 0, OPT_FIFO},
};
#define NOPTS (sizeof opt_table / sizeof opt_table[0])

static int is_separator(const char *s)
{
    return !strcmp(s, ":::") || !strcmp(s, ":::+") || !strcmp(s, "::::") || !strcmp(s, "::::+");
}

/* Parses a whole decimal number (optionally fractional); rejects trailing
 * junk, NaN and infinities. */
static int parse_number(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Whether s is a whole number: an optional value takes the next word
 * only when it is one. */
static int is_count(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int parse_count(const char *s, long min, long *out)
{
    double v;
    if (parse_number(s, strlen(s), &v) < 0 || v != floor(v) || v < (double)min || v > 1e9)
        return -1;
    *out = (long)v;
    return 0;
}

int parse_jobs(const char *s, jobs_kind *kind, double *value)
{
    size_t n = strlen(s);
    double v;
    if (n == 0)
        return -1;
    if (s[0] == '+' || s[0] == '-') {
        if (parse_number(s + 1, n - 1, &v) < 0 || v != floor(v) || v > 1e6)
            return -1;
        *kind = s[0] == '+' ? JOBS_PLUS : JOBS_MINUS;
    } else if (s[n - 1] == '%') {
        if (parse_number(s, n - 1, &v) < 0 || v > 1e6)
            return -1;
        *kind = JOBS_PERCENT;
    } else {
        if (parse_number(s, n, &v) < 0 || v != floor(v) || v > 1e6)
            return -1;
        *kind = v == 0 ? JOBS_UNLIMITED : JOBS_ABS;
    }
    *value = v;
    return 0;
}

long jobs_resolve(jobs_kind kind, double value, long ncpu)
{
    long n;
    switch (kind) {
    case JOBS_ABS:       n = (long)value; break;
    case JOBS_PLUS:      n = ncpu + (long)value; break;
    case JOBS_MINUS:     n = ncpu - (long)value; break;
    case JOBS_PERCENT:   n = (long)floor((double)ncpu * value / 100.0); break;
    case JOBS_UNLIMITED: n = 0; break;
    case JOBS_CPUS:
    default:             n = ncpu; break;
    }
    if (kind != JOBS_UNLIMITED && n < 1)
        n = 1;
    return n;
}

int parse_halt(const char *s, halt_spec *h)
{
    halt_spec r = {HALT_NEVER, HALT_FAIL, 0, 0};
    size_t n = strlen(s);
    if (!strcmp(s, "never") || !strcmp(s, "0")) { *h = r; return 0; }
    if (!strcmp(s, "1") || !strcmp(s, "2") || !strcmp(s, "-1") || !strcmp(s, "-2")) {
        r.when = (s[strlen(s) - 1] == '1') ? HALT_SOON : HALT_NOW;
        r.why = s[0] == '-' ? HALT_SUCCESS : HALT_FAIL;
        r.value = 1;
        *h = r;
        return 0;
    }
    if (n > 1 && s[n - 1] == '%' && !strchr(s, ',')) {
        double v;
        if (parse_number(s, n - 1, &v) < 0 || v <= 0 || v >= 100)
            return -1;
        r.when = HALT_SOON;
        r.value = v;
        r.percent = 1;
        *h = r;
        return 0;
    }
    const char *comma = strchr(s, ',');
    if (!comma)
        return -1;
    size_t wl = (size_t)(comma - s);
    if (wl == 3 && !strncmp(s, "now", 3)) r.when = HALT_NOW;
    else if (wl == 4 && !strncmp(s, "soon", 4)) r.when = HALT_SOON;
    else if (wl == 5 && !strncmp(s, "never", 5)) r.when = HALT_NEVER;
    else return -1;
    const char *why = comma + 1;
    const char *eq = strchr(why, '=');
    if (!eq)
        return -1;
    size_t yl = (size_t)(eq - why);
    if (yl == 4 && !strncmp(why, "fail", 4)) r.why = HALT_FAIL;
    else if (yl == 7 && !strncmp(why, "success", 7)) r.why = HALT_SUCCESS;
    else if (yl == 4 && !strncmp(why, "done", 4)) r.why = HALT_DONE;
    else return -1;
    const char *val = eq + 1;
    size_t vl = strlen(val);
    if (vl > 0 && val[vl - 1] == '%') {
        r.percent = 1;
        vl--;
    }
    if (parse_number(val, vl, &r.value) < 0 || r.value <= 0)
        return -1;
    if (r.percent && r.value > 100)
        return -1;
    if (!r.percent && r.value != floor(r.value))
        return -1;
    *h = r;
    return 0;
}

static int parse_time_sum(const char *s, double *out);

int parse_duration(const char *s, double *seconds, int *percent)
{
    size_t n = strlen(s);
    if (n == 0)
        return -1;
    if (s[n - 1] == '%') {
        double v;
        if (parse_number(s, n - 1, &v) < 0 || v <= 0)
            return -1;
        *seconds = v;
        *percent = 1;
        return 0;
    }
    double total;
    if (parse_time_sum(s, &total) < 0 || !(total > 0))
        return -1;
    *seconds = total;
    *percent = 0;
    return 0;
}

/* A sum of numbers, each with an optional unit: 90, 1.5m, 1h30m, 2d.
 * 0, or -1 when s is not one (or more than 1e9 seconds). */
static int parse_time_sum(const char *s, double *out)
{
    size_t n = strlen(s);
    if (n == 0)
        return -1;
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'))
            j++;
        double v;
        if (parse_number(s + i, j - i, &v) < 0)
            return -1;
        double unit = 1;
        if (j < n) {
            switch (s[j]) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            default: return -1;
            }
            j++;
        }
        total += v * unit;
        i = j;
    }
    if (total > 1e9)
        return -1;
    *out = total;
    return 0;
}

static int is_octal(char c)
{
    return c >= '0' && c <= '7';
}

int parse_delimiter(const char *s, strbuf *out)
{
    sb_clear(out);
    for (const char *p = s; *p; p++) {
        if (*p != '\\') {
            sb_addc(out, *p);
            continue;
        }
        const char *q = p + 1;
        if (*q == 't' || *q == 'n' || *q == 'r') {
            sb_addc(out, *q == 't' ? '\t' : *q == 'n' ? '\n' : '\r');
            p = q;
        } else if (is_octal(q[0]) && is_octal(q[1]) && is_octal(q[2])) {
            sb_addc(out, (char)(((q[0] - '0') << 6 | (q[1] - '0') << 3 | (q[2] - '0')) & 0xff));
            p = q + 2;
        } else if (is_octal(q[0])) {
            sb_addc(out, (char)(q[0] - '0'));
            p = q;
        } else {
            sb_addc(out, '\\');
        }
    }
    return out->failed || out->len == 0 ? -1 : 0;
}

int parse_block_size(const char *s, long long *out)
{
    const char *p = s;
    int negative = *p == '-';
    if (negative)
        p++;
    size_t digits = strspn(p, "0123456789.");
    double v;
    if (parse_number(p, digits, &v) < 0)
        return -1;
    const char *unit = p + digits;
    double scale = 1;
    if (*unit) {
        static const char prefixes[] = "kmgtp";
        const char *at = strchr(prefixes, unit[0] | 0x20);
        int binary_suffix = (unit[1] == 'i' || unit[1] == 'I') && !unit[2];
        if (!at || (unit[1] && !binary_suffix))
            return -1;
        int upper = unit[0] >= 'A' && unit[0] <= 'Z';
        scale = pow(upper || binary_suffix ? 1024.0 : 1000.0, (double)(at - prefixes) + 1);
    }
    v *= scale;
    if (v < 1 || v > 9e15)
        return -1;
    *out = negative ? -(long long)v : (long long)v;
    return 0;
}

static int is_word_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Reads a quoted part of a word, from just after its opening quote q;
 * returns where it ends (after the closing quote), or NULL if it does
 * not. */
static const char *read_quoted(const char *p, char q, strbuf *word)
{
    for (; *p && *p != q; p++) {
        if (*p == '\\' && p[1] && (q == '"' || p[1] == '\\' || p[1] == '\''))
            p++;
        sb_addc(word, *p);
    }
    return *p ? p + 1 : NULL;
}

int split_shell_words(const char *s, strvec *out, strbuf *err)
{
    strbuf word = STRBUF_INIT;
    const char *p = s;
    int rc = 0;
    while (rc == 0) {
        while (is_word_blank(*p))
            p++;
        if (!*p)
            break;
        sb_clear(&word);
        sb_reserve(&word, 1); /* an empty word ('') is still a word */
        while (*p && !is_word_blank(*p)) {
            if (*p == '\'' || *p == '"') {
                p = read_quoted(p + 1, *p, &word);
                if (!p) {
                    sb_addf(err, "unterminated quote in $PARALLEL: %s", s);
                    rc = -1;
                    break;
                }
                continue;
            }
            if (*p == '\\' && p[1])
                p++;
            sb_addc(&word, *p++);
        }
        if (rc == 0 && (word.failed || sv_push(out, word.data, word.len) < 0)) {
            sb_adds(err, "out of memory");
            rc = -1;
        }
    }
    sb_free(&word);
    return rc;
}

static int parse_trim(const char *s, trim_mode *out)
{
    static const struct { const char *name; trim_mode mode; } modes[] = {
        {"n", TRIM_NONE}, {"l", TRIM_LEFT}, {"r", TRIM_RIGHT}, {"lr", TRIM_BOTH}, {"rl", TRIM_BOTH},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(s, modes[i].name)) {
            *out = modes[i].mode;
            return 0;
        }
    return -1;
}

/* A signal by name (TERM, SIGTERM) or number; 0 if none. */
static int signal_number(const char *s, size_t n)
{
    static const struct { const char *name; int sig; } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"ABRT", SIGABRT},
        {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
        {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
        {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    };
    if (n > 3 && !strncmp(s, "SIG", 3)) {
        s += 3;
        n -= 3;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && !strncmp(s, names[i].name, n))
            return names[i].sig;
    double v;
    if (parse_number(s, n, &v) == 0 && v == floor(v) && v >= 1 && v < NSIG)
        return (int)v;
    return 0;
}

int parse_termseq(const char *s, term_seq *out)
{
    term_seq t = {{0}, {0}, 0};
    const char *p = s;
    for (int field = 0;; field++) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        double ms;
        if (field % 2 == 0) {
            if (t.steps == TERM_SEQ_MAX || !(t.sig[t.steps] = signal_number(p, n)))
                return -1;
            t.ms[t.steps++] = 0;
        } else if (parse_number(p, n, &ms) < 0 || ms > 1e9) {
            return -1;
        } else {
            t.ms[t.steps - 1] = (int)ms;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = t;
    return 0;
}

static int add_source(run_options *o, source_spec s, strbuf *err)
{
    source_spec *p = realloc(o->sources, (o->nsources + 1) * sizeof *p);
    if (!p) {
        sb_adds(err, "out of memory");
        return -1;
    }
    o->sources = p;
    o->sources[o->nsources++] = s;
    return 0;
}

static int apply_option(run_options *o, const opt_def *d, const char *val, strbuf *err)
{
    switch (d->id) {
    case OPT_JOBS:
        /* Anything else names a file that holds the value (read when the
         * run starts: parsing opens no file). */
        o->jobs_file = NULL;
        if (parse_jobs(val, &o->jobs_kind, &o->jobs_value) < 0) {
            if (!*val) {
                sb_adds(err, "cannot parse an empty number of jobs (expected N, N%, +N, -N, 0 or a file)");
                return -1;
            }
            o->jobs_file = val;
        }
        break;
    case OPT_KEEP: o->keep_order = 1; break;
    case OPT_NO_KEEP: o->keep_order = 0; break;
    case OPT_TAG: o->tag = 1; break;
    case OPT_LINEBUF: o->line_buffer = 1; break;
    case OPT_UNGROUP: o->ungroup = 1; break;
    case OPT_GROUP: o->ungroup = 0; o->line_buffer = 0; break;
    case OPT_DRYRUN: o->dry_run = 1; break;
    case OPT_QUOTE: o->quote = 1; break;
    case OPT_BAR: o->bar = 1; break;
    case OPT_ETA: o->eta = 1; break;
    case OPT_PROGRESS: o->progress = 1; break;
    case OPT_MAXREPL:
        o->replace_args = 1;
        /* fall through */
    case OPT_MAXARGS: {
        long v;
        if (parse_count(val, 0, &v) < 0) {
            sb_addf(err, "cannot parse the number of arguments '%s' (expected a non-negative integer)", val);
            return -1;
        }
        o->max_args = (size_t)v;
        o->no_args = v == 0;
        o->args_given = 1;
        break;
    }
    case OPT_CTAGSTRING:
        o->color = 1;
        /* fall through */
    case OPT_TAGSTRING:
        o->tagstring = val;
        o->tag = 1;
        break;
    case OPT_CTAG: o->tag = 1; o->color = 1; break;
    case OPT_TRIM:
        if (parse_trim(val, &o->trim) < 0) {
            sb_addf(err, "cannot parse --trim '%s' (expected n, l, r, lr or rl)", val);
            return -1;
        }
        break;
    case OPT_SHUF: o->shuf = 1; break;
    case OPT_DELAY:
        if (parse_time_sum(val, &o->delay) < 0) {
            sb_addf(err, "cannot parse --delay '%s' (expected a duration, e.g. 0.5, 2s, 1m)", val);
            return -1;
        }
        break;
    case OPT_SLOTVAR:
        if (!*val || strchr(val, '=')) {
            sb_addf(err, "cannot use --process-slot-var '%s' (expected a variable name)", val);
            return -1;
        }
        o->slot_var = val;
        break;
    case OPT_TERMSEQ:
        if (parse_termseq(val, &o->termseq) < 0) {
            sb_addf(err, "cannot parse --termseq '%s' (expected SIGNAL,MS,SIGNAL,MS...)", val);
            return -1;
        }
        break;
    case OPT_HEADER:
        /* Without --pipe GNU parallel takes one line whatever the value;
         * 0 (names from the file names) is not supported. */
        if (!*val || !strcmp(val, "0")) {
            sb_addf(err, "cannot use --header '%s' (expected ':', the first line of each source)", val);
            return -1;
        }
        o->header = val;
        break;
    case OPT_LINK: o->link = 1; break;
    case OPT_PLUS: o->plus = 1; break;
    case OPT_XARGS: o->xargs = 1; break;
    case OPT_MULTI: o->xargs = 1; o->spread = 1; break;
    case OPT_CONTEXT: o->context = 1; o->spread = 1; break;
    case OPT_MAXCHARS: {
        long v;
        if (parse_count(val, 1, &v) < 0) {
            sb_addf(err, "cannot parse --max-chars '%s' (expected a positive integer)", val);
            return -1;
        }
        o->max_chars = (size_t)v;
        break;
    }
    case OPT_LINES_OPT:
        if (!val)
            val = "1";
        /* fall through */
    case OPT_LINES: {
        long v;
        if (parse_count(val, 0, &v) < 0) {
            sb_addf(err, "cannot parse the number of lines '%s' (expected a non-negative integer)", val);
            return -1;
        }
        /* -l0 means -l, as in GNU parallel (-L0 too: a line per job). */
        o->max_lines = v ? (size_t)v : 1;
        o->lines_context |= d->id == OPT_LINES;
        break;
    }
    case OPT_EOF_OPT:
    case OPT_EOF:
        /* A bare -e turns the end-of-file string off, as in xargs. */
        o->eof_str = val && *val ? val : NULL;
        break;
    case OPT_NO_EMPTY: o->skip_blank = 1; break;
    case OPT_COLSEP:
        if (!*val) {
            sb_adds(err, "--colsep needs a non-empty separator");
            return -1;
        }
        o->colsep = val;
        break;
    case OPT_JOBLOG:
        if (val[0] == '+') {
            o->joblog_append = 1;
            val++;
        }
        if (!*val) {
            sb_adds(err, "--joblog needs a file name");
            return -1;
        }
        o->joblog = val;
        break;
    case OPT_RESUME: o->resume = 1; break;
    case OPT_RESUME_FAILED: o->resume_failed = 1; break;
    case OPT_RETRIES:
        if (parse_count(val, 0, &o->retries) < 0) {
            sb_addf(err, "cannot parse --retries '%s' (expected a non-negative integer)", val);
            return -1;
        }
        if (o->retries == 0)
            o->retries = RETRIES_FOREVER;
        break;
    case OPT_HALT:
        if (parse_halt(val, &o->halt) < 0) {
            sb_addf(err, "cannot parse --halt '%s' (expected never, now|soon,fail|success|done=N or N%%)", val);
            return -1;
        }
        break;
    case OPT_TIMEOUT:
        if (parse_duration(val, &o->timeout, &o->timeout_percent) < 0) {
            sb_addf(err, "cannot parse --timeout '%s' (expected seconds, e.g. 10, 1.5m, or N%%)", val);
            return -1;
        }
        break;
    case OPT_RESULTS:
        if (!*val) {
            sb_adds(err, "--results needs a directory name");
            return -1;
        }
        o->results = val;
        break;
    case OPT_REPLACE_OPT:
        if (!val)
            val = "{}";
        /* fall through */
    case OPT_REPLACE:
        if (!*val) {
            sb_adds(err, "-I needs a non-empty replacement string");
            return -1;
        }
        o->replace = strcmp(val, "{}") ? val : NULL;
        break;
    case OPT_DELIMITER:
        if (parse_delimiter(val, &o->delimiter) < 0) {
            sb_addf(err, "cannot use -d '%s' (expected a non-empty delimiter)", val);
            return -1;
        }
        break;
    case OPT_NULL: o->null = 1; break;
    case OPT_VERBOSE: o->verbose = 1; break;
    case OPT_SILENT: o->verbose = 0; break;
    case OPT_TRACE: o->trace = 1; break;
    case OPT_NOOP: break;
    case OPT_HELP: o->show_help = 1; break;
    case OPT_VERSION: o->show_version = 1; break;
    case OPT_PIPE: o->pipe = 1; break;
    case OPT_PIPEPART: o->pipepart = 1; break;
    case OPT_BLOCK:
        if (parse_block_size(val, &o->block) < 0) {
            sb_addf(err, "cannot parse --block '%s' (expected a size such as 512k, 10M or 1.5G)", val);
            return -1;
        }
        break;
    case OPT_RECSTART: o->recstart = val; break;
    case OPT_RECEND: o->recend = val; break;
    case OPT_CAT: o->cat = 1; break;
    case OPT_FIFO: o->fifo = 1; break;
    case OPT_ARGFILE: {
        source_spec s = {SOURCE_FILE, NULL, 0, val, 0};
        return add_source(o, s, err);
    }
    }
    return 0;
}

static const opt_def *find_long(const char *name, size_t len)
{
    for (size_t k = 0; k < NOPTS; k++)
        if (len > 0 && strlen(opt_table[k].name) == len && !strncmp(opt_table[k].name, name, len))
            return &opt_table[k];
    return NULL;
}

static const opt_def *find_short(char c)
{
    for (size_t k = 0; k < NOPTS; k++)
        if (opt_table[k].short_name == c)
            return &opt_table[k];
    return NULL;
}

/* Parses one option word at argv[*i]; may consume the next word as its
 * value.  Returns 0 or -1. */
static int parse_option_word(run_options *o, int argc, char **argv, int *i, strbuf *err)
{
    const char *w = argv[*i];
    if (w[1] == '-') {
        const char *name = w + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *d = find_long(name, len);
        if (!d) {
            sb_addf(err, "unknown option '--%.*s'", (int)len, name);
            return -1;
        }
        const char *val = NULL;
        if (d->takes_value == VALUE_ATTACHED) {
            val = eq ? eq + 1 : NULL;
        } else if (d->takes_value == VALUE_NUMBER && !eq) {
            if (*i + 1 < argc && is_count(argv[*i + 1]))
                val = argv[++*i];
        } else if (d->takes_value) {
            if (eq) {
                val = eq + 1;
            } else if (*i + 1 < argc) {
                val = argv[++*i];
            } else {
                sb_addf(err, "option '--%s' needs a value", d->name);
                return -1;
            }
        } else if (eq) {
            sb_addf(err, "option '--%s' takes no value", d->name);
            return -1;
        }
        return apply_option(o, d, val, err);
    }
    /* Bundled short options: -kq, -j4, -j 4, -iSTR. */
    for (const char *c = w + 1; *c; c++) {
        const opt_def *d = find_short(*c);
        if (!d) {
            sb_addf(err, "unknown option '-%c'", *c);
            return -1;
        }
        if (!d->takes_value) {
            if (apply_option(o, d, NULL, err) < 0)
                return -1;
            continue;
        }
        const char *val;
        if (d->takes_value == VALUE_ATTACHED) {
            val = c[1] ? c + 1 : NULL;
        } else if (d->takes_value == VALUE_NUMBER && !c[1]) {
            val = *i + 1 < argc && is_count(argv[*i + 1]) ? argv[++*i] : NULL;
        } else if (c[1]) {
            val = c + 1;
            if (*val == '=')
                val++;
        } else if (*i + 1 < argc) {
            val = argv[++*i];
        } else {
            sb_addf(err, "option '-%c' needs a value", *c);
            return -1;
        }
        return apply_option(o, d, val, err);
    }
    return 0;
}

/* --pipe and --pipepart: the combinations that make sense. */
static int check_pipe_options(run_options *o, strbuf *err)
{
    if (o->pipepart)
        o->pipe = 1;
    if (!o->pipe) {
        if (o->cat || o->fifo || o->block || o->recstart || o->recend) {
            sb_adds(err, "--block, --recstart, --recend, --cat and --fifo need --pipe or --pipepart");
            return -1;
        }
        return 0;
    }
    if (o->cat && o->fifo) {
        sb_adds(err, "--cat and --fifo cannot be used together");
        return -1;
    }
    if (o->header || run_options_pack(o) || o->shuf) {
        /* GNU's --header with --pipe repeats header lines in every block: not built. */
        sb_adds(err, "--pipe and --pipepart cannot be used with --header, -X, -m, --xargs, -s or --shuf");
        return -1;
    }
    if (o->block < 0 && !o->pipepart) {
        sb_adds(err, "a negative --block (parts per job slot) needs --pipepart");
        return -1;
    }
    if (!o->pipepart && o->nsources > 0) {
        /* GNU parallel ignores them: an error says so rather than drop them. */
        sb_adds(err, "--pipe reads standard input only: give a file with < FILE, or cut it with --pipepart -a FILE");
        return -1;
    }
    if (o->pipepart && (o->nsources != 1 || o->sources[0].kind != SOURCE_FILE)) {
        sb_adds(err, "--pipepart needs exactly one file to cut (-a FILE or :::: FILE)");
        return -1;
    }
    if (o->pipepart && !strcmp(o->sources[0].path, "-")) {
        sb_adds(err, "--pipepart needs a regular file, not standard input");
        return -1;
    }
    return 0;
}

int run_options_parse(run_options *o, int argc, char **argv, strbuf *err)
{
    memset(o, 0, sizeof *o);
    o->jobs_kind = JOBS_CPUS;
    o->retries = 1;
    int i = 0;
    for (; i < argc; i++) {
        const char *w = argv[i];
        if (!strcmp(w, "--")) {
            i++;
            break;
        }
        if (w[0] != '-' || w[1] == '\0' || is_separator(w))
            break;
        if (parse_option_word(o, argc, argv, &i, err) < 0)
            return -1;
        if (o->show_help || o->show_version)
            return 0;
    }
    o->cmd = argv + i;
    while (i < argc && !is_separator(argv[i]))
        i++;
    o->ncmd = (size_t)(argv + i - o->cmd);
    while (i < argc) {
        const char *sep = argv[i++];
        int linked = sep[strlen(sep) - 1] == '+';
        int start = i;
        while (i < argc && !is_separator(argv[i]))
            i++;
        if (!strncmp(sep, "::::", 4)) {
            if (i == start) {
                sb_addf(err, "'%s' must be followed by at least one file name", sep);
                return -1;
            }
            for (int k = start; k < i; k++) {
                /* ::::+ links every file it names, as GNU parallel does. */
                source_spec s = {SOURCE_FILE, NULL, 0, argv[k], linked};
                if (add_source(o, s, err) < 0)
                    return -1;
            }
        } else {
            source_spec s = {SOURCE_ARGS, argv + start, (size_t)(i - start), NULL, linked};
            if (add_source(o, s, err) < 0)
                return -1;
        }
    }
    /* A first source has nothing to be linked to: ':::+ a b' is '::: a b'
     * (and '::::+ f1 f2' links f2 to f1), as in GNU parallel. */
    if (o->nsources > 0)
        o->sources[0].linked = 0;
    if (o->null && o->delimiter.len == 0 && sb_addc(&o->delimiter, '\0') < 0) {
        sb_adds(err, "out of memory");
        return -1;
    }
    if (o->max_lines && !o->args_given)
        o->max_args = o->max_lines;
    /* GNU parallel repeats the words around {} for -X, -N, and -L
     * without -m. */
    o->context_replace = o->context || o->replace_args || (o->lines_context && !o->xargs);
    if (o->resume && o->resume_failed)
        o->resume = 0;
    if ((o->resume || o->resume_failed) && !o->joblog) {
        sb_adds(err, "--resume and --resume-failed need --joblog");
        return -1;
    }
    return check_pipe_options(o, err);
}

int run_options_pack(const run_options *o)
{
    return o->xargs || o->context || o->max_chars;
}

void run_options_free(run_options *o)
{
    free(o->sources);
    sb_free(&o->delimiter);
    o->sources = NULL;
    o->nsources = 0;
}
