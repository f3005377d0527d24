/* results.c - storing job output under a --results directory. */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

/* A value becomes one path component: a backslash, a tab and '/' are
 * spelled as two characters (backslash and itself, t, _); max (when not
 * 0) cuts it to the longest name allowed. */
static void add_component(strbuf *p, const char *v, size_t max)
{
    size_t start = p->len;
    for (; *v; v++) {
        if (*v == '\\')
            sb_add(p, "\\\\", 2);
        else if (*v == '\t')
            sb_add(p, "\\t", 2);
        else if (*v == '/')
            sb_add(p, "\\_", 2);
        else
            sb_addc(p, *v);
    }
    if (max && p->len - start > max) {
        p->len = start + max;
        p->data[p->len] = '\0';
    }
}

static int make_dir(const char *path)
{
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

/* The longest directory name under dir, found as GNU parallel searches
 * for it (to within 5 bytes), so that both shorten names alike. */
static size_t longest_name(const char *dir)
{
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0)
        name_max = 255;
    size_t len = 8;
    do
        len *= 16;
    while (len < 100000000 && len <= (size_t)name_max);
    size_t min = len / 16, max = len;
    while (max - min > 5) {
        size_t test = (min + max) / 2;
        if (test <= (size_t)name_max)
            min = test;
        else
            max = test;
    }
    return min;
}

static int write_file(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, data, n);
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

/* Makes dir/1/<arg1>/2/<arg2>... into *p; max as add_component. */
static int make_arg_dirs(strbuf *p, const char *dir, char *const *args, size_t nargs, size_t max)
{
    sb_clear(p);
    sb_adds(p, dir);
    if (make_dir(sb_str(p)) < 0)
        return -1;
    for (size_t i = 0; i < nargs; i++) {
        sb_addf(p, "/%zu", i + 1);
        if (make_dir(sb_str(p)) < 0)
            return -1;
        sb_addc(p, '/');
        add_component(p, args[i], max);
        if (p->failed || make_dir(sb_str(p)) < 0)
            return -1;
    }
    return 0;
}

/* Writes the three files: base + names[k] for seq, stdout and stderr. */
static int write_three(strbuf *p, const char *const names[3], unsigned long seq, const strbuf *out,
                       const strbuf *errout)
{
    char seqtext[32];
    int seqlen = snprintf(seqtext, sizeof seqtext, "%lu", seq);
    const char *data[3] = {seqtext, out->data ? out->data : "", errout->data ? errout->data : ""};
    size_t len[3] = {(size_t)seqlen, out->len, errout->len};
    size_t base = p->len;
    for (int k = 0; k < 3; k++) {
        p->len = base;
        sb_adds(p, names[k]);
        if (p->failed || write_file(sb_str(p), data[k], len[k]) < 0)
            return -1;
    }
    return 0;
}

int results_store(const char *dir, char *const *args, size_t nargs, unsigned long seq,
                  const strbuf *out, const strbuf *errout, strbuf *err)
{
    static const char *const names[3] = {"/seq", "/stdout", "/stderr"};
    strbuf p = STRBUF_INIT;
    int rc = make_arg_dirs(&p, dir, args, nargs, 0);
    if (rc < 0 && errno == ENAMETOOLONG)
        rc = make_arg_dirs(&p, dir, args, nargs, longest_name(dir));
    if (rc == 0)
        rc = write_three(&p, names, seq, out, errout);
    if (rc < 0)
        sb_addf(err, "cannot store results in '%s': %s", sb_str(&p), p.failed ? "out of memory" : strerror(errno));
    sb_free(&p);
    return rc;
}

/* Makes the directories of path up to its last slash. */
static int make_parents(const char *path)
{
    strbuf d = STRBUF_INIT;
    int rc = 0;
    for (const char *s = strchr(path + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
        sb_clear(&d);
        sb_add(&d, path, (size_t)(s - path));
        rc = d.failed ? -1 : make_dir(sb_str(&d));
    }
    sb_free(&d);
    return rc;
}

int results_store_at(const char *path, unsigned long seq, const strbuf *out, const strbuf *errout, strbuf *err)
{
    static const char *const in_dir[3] = {"seq", "stdout", "stderr"};
    static const char *const beside[3] = {".seq", "", ".err"};
    size_t n = strlen(path);
    int is_dir = n > 0 && path[n - 1] == '/';
    strbuf p = STRBUF_INIT;
    sb_adds(&p, path);
    int rc = make_parents(path);
    if (rc == 0)
        rc = write_three(&p, is_dir ? in_dir : beside, seq, out, errout);
    if (rc < 0)
        sb_addf(err, "cannot store results in '%s': %s", sb_str(&p), p.failed ? "out of memory" : strerror(errno));
    sb_free(&p);
    return rc;
}

/* ---- tables: CSV, TSV, JSON ----------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

results_format results_format_of(const char *name)
{
    if (ends_with(name, ".csv"))
        return RESULTS_CSV;
    if (ends_with(name, ".tsv"))
        return RESULTS_TSV;
    if (ends_with(name, ".json"))
        return RESULTS_JSON;
    return RESULTS_FILES;
}

int results_to_stdout(const char *name)
{
    return !strcmp(name, "-.csv") || !strcmp(name, "-.tsv") || !strcmp(name, "-.json");
}

int results_table_open(results_table *t, const char *name, strbuf *err)
{
    memset(t, 0, sizeof *t);
    t->format = results_format_of(name);
    if (results_to_stdout(name)) {
        t->fd = 1;
        return 0;
    }
    t->fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (t->fd < 0) {
        sb_addf(err, "cannot open results file '%s': %s", name, strerror(errno));
        return -1;
    }
    t->owns_fd = 1;
    return 0;
}

void results_table_close(results_table *t)
{
    if (t->owns_fd && t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

/* A CSV or TSV field, quoted as GNU parallel quotes it: when it holds a
 * quote (doubled), a blank or the separator. */
static void add_field(strbuf *b, const char *v, size_t n, char sep)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = v[i] == '"' || v[i] == sep || strchr(" \t\n\r\f\v", v[i]) != NULL;
    if (!quote) {
        sb_add(b, v, n);
        return;
    }
    sb_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"')
            sb_addc(b, '"');
        sb_addc(b, v[i]);
    }
    sb_addc(b, '"');
}

static void add_fields_header(strbuf *b, const results_row *row, char sep)
{
    static const char *const fixed[] = {"Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive",
                                        "Exitval", "Signal", "Command"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        sb_adds(b, fixed[i]);
        sb_addc(b, sep);
    }
    for (size_t i = 0; i < row->nargs; i++) {
        if (row->names && i < row->names->len)
            add_field(b, row->names->items[i], strlen(row->names->items[i]), sep);
        else
            sb_addf(b, "V%zu", i + 1);
        sb_addc(b, sep);
    }
    sb_adds(b, "Stdout");
    sb_addc(b, sep);
    sb_adds(b, "Stderr\n");
}

static void add_csv_row(strbuf *b, const results_row *row, char sep)
{
    sb_addf(b, "%lu%c:%c%.3f%c%.3f%c0%c%zu%c%d%c%d%c", row->seq, sep, sep, row->start, sep, row->runtime, sep, sep,
            row->receive, sep, row->exitval, sep, row->sig, sep);
    add_field(b, row->cmd, strlen(row->cmd), sep);
    for (size_t i = 0; i < row->nargs; i++) {
        sb_addc(b, sep);
        add_field(b, row->args[i], strlen(row->args[i]), sep);
    }
    sb_addc(b, sep);
    add_field(b, row->out->data ? row->out->data : "", row->out->len, sep);
    sb_addc(b, sep);
    add_field(b, row->err->data ? row->err->data : "", row->err->len, sep);
    sb_addc(b, '\n');
}

/* A JSON string's content: backslash and quote escaped, control bytes as \\u00XX. */
static void add_json(strbuf *b, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\\' || c == '"') {
            sb_addc(b, '\\');
            sb_addc(b, (char)c);
        } else if (c < 32) {
            sb_addf(b, "\\u%04x", c);
        } else {
            sb_addc(b, (char)c);
        }
    }
}

static void add_json_row(strbuf *b, const results_row *row)
{
    sb_addf(b, "{ \"Seq\": %lu, \"Host\": \":\", \"Starttime\": %.3f, \"JobRuntime\": %.3f, \"Send\": 0, "
               "\"Receive\": %zu, \"Exitval\": %d, \"Signal\": %d, \"Command\": \"",
            row->seq, row->start, row->runtime, row->receive, row->exitval, row->sig);
    add_json(b, row->cmd, strlen(row->cmd));
    sb_adds(b, "\", \"V\": [ ");
    for (size_t i = 0; i < row->nargs; i++) {
        sb_adds(b, i ? ",\"" : "\"");
        add_json(b, row->args[i], strlen(row->args[i]));
        sb_addc(b, '"');
    }
    sb_adds(b, " ], \"Stdout\": \"");
    add_json(b, row->out->data ? row->out->data : "", row->out->len);
    sb_adds(b, "\", \"Stderr\": \"");
    add_json(b, row->err->data ? row->err->data : "", row->err->len);
    sb_adds(b, "\" }\n");
}

int results_table_write(results_table *t, const results_row *row)
{
    if (t->fd < 0)
        return 0;
    strbuf b = STRBUF_INIT;
    char sep = t->format == RESULTS_TSV ? '\t' : ',';
    if (t->format == RESULTS_JSON) {
        add_json_row(&b, row);
    } else {
        if (!t->header_done)
            add_fields_header(&b, row, sep);
        t->header_done = 1;
        add_csv_row(&b, row, sep);
    }
    int rc = b.failed ? -1 : write_all(t->fd, b.data, b.len);
    sb_free(&b);
    return rc;
}
