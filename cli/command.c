/* command.c - shell text and direct-exec argv for a job. */
#include "command.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plus.h"
#include "quote.h"

/* Bytes that have no meaning to the shell anywhere in a word. */
static int is_inert_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_-+./,:@%^=", c) != NULL;
}

/* Shell builtins and keywords: a command starting with one of these must
 * go through the shell, where it means something else than (or has no)
 * program on PATH.  true, false and echo behave the same either way. */
static const char *const shell_words[] = {
    "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command", "compgen",
    "complete", "compopt", "continue", "declare", "dirs", "disown", "enable", "eval",
    "exec", "exit", "export", "fc", "fg", "getopts", "hash", "help", "history", "jobs",
    "kill", "let", "local", "logout", "mapfile", "popd", "printf", "pushd", "pwd", "read",
    "readarray", "readonly", "return", "set", "shift", "shopt", "source", "suspend",
    "test", "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset",
    "wait", ".", ":", "[", "[[", "]]", "if", "then", "else", "elif", "fi", "case", "esac",
    "for", "select", "while", "until", "do", "done", "in", "function", "time", "coproc",
    "{", "}", "!", NULL,
};

static int is_shell_word(const char *s)
{
    for (const char *const *w = shell_words; *w; w++)
        if (!strcmp(*w, s))
            return 1;
    return 0;
}

/* -q: every word is one argument; its text is literal, only replacement
 * strings in it are replaced. */
static int compile_quoted(command *c, char **words, size_t nwords, const char *replace, int plus)
{
    size_t cap = 0;
    for (size_t w = 0; w < nwords; w++) {
        size_t base = c->text.len;
        size_t before = c->segs.len;
        sb_adds(&c->text, words[w]);
        long found = template_split_plus(words[w], strlen(words[w]), base, replace, plus, &c->segs);
        if (found < 0 || c->text.failed)
            return -1;
        if (found > 0)
            c->has_repl = 1;
        if (c->segs.len == before && segment_list_push_text(&c->segs, base, 0) < 0)
            return -1; /* an empty word is still a word */
        if (c->segs.len > cap) {
            size_t ncap = c->segs.cap;
            size_t *p = realloc(c->seg_word, ncap * sizeof *p);
            if (!p)
                return -1;
            c->seg_word = p;
            cap = ncap;
        }
        for (size_t k = before; k < c->segs.len; k++)
            c->seg_word[k] = w;
    }
    c->fast = 1;
    return 0;
}

/* The words joined with spaces, as GNU parallel reads them. */
static int join_words(strbuf *out, char **words, size_t nwords)
{
    for (size_t w = 0; w < nwords; w++) {
        if (w)
            sb_addc(out, ' ');
        sb_adds(out, words[w]);
    }
    return out->failed ? -1 : 0;
}

/* Scans the shell text once and gives each replacement string, and the
 * arguments appended after the text, the quoting context it lands in. */
static int assign_contexts(command *c, strbuf *err)
{
    shell_scan scan;
    const char *why = NULL;
    shell_scan_init(&scan);
    for (size_t k = 0; k < c->segs.len; k++) {
        segment *s = &c->segs.items[k];
        if (s->kind == SEG_TEXT) {
            shell_scan_text(&scan, c->text.data + s->off, s->len);
        } else if (shell_scan_value(&scan, &s->ctx, &why) < 0) {
            sb_addf(err, "cannot quote a replacement string safely after %s in '%s'", why, c->text.data);
            return -1;
        }
    }
    if (c->has_repl)
        return 0;
    shell_scan_text(&scan, " ", 1);
    if (shell_scan_value(&scan, &c->tail, &why) < 0) {
        sb_addf(err, "cannot quote the appended inputs safely after %s in '%s'", why, c->text.data);
        return -1;
    }
    return 0;
}

/* The words are joined with spaces into shell text, as GNU parallel does;
 * the text can be exec'd directly when every byte outside the replacement
 * strings is inert to the shell. */
static int compile_joined(command *c, char **words, size_t nwords, const char *replace, int plus, strbuf *err)
{
    if (join_words(&c->text, words, nwords) < 0)
        return -1;
    long found = template_split_plus(c->text.data, c->text.len, 0, replace, plus, &c->segs);
    if (found < 0)
        return -1;
    c->has_repl = found > 0;
    c->fast = 1;
    for (size_t k = 0; k < c->segs.len; k++) {
        const segment *s = &c->segs.items[k];
        if (s->kind != SEG_TEXT)
            continue;
        for (size_t i = 0; i < s->len; i++) {
            unsigned char ch = (unsigned char)c->text.data[s->off + i];
            if (ch != ' ' && !is_inert_byte(ch))
                c->fast = 0;
        }
    }
    return assign_contexts(c, err);
}

/* GNU parallel would run a {= perl expression =} (even one spread over
 * several words); mproc has no perl to run it with and refuses it. */
static int refuse_perl(char **words, size_t nwords, strbuf *err)
{
    strbuf joined = STRBUF_INIT;
    size_t off, len;
    int rc = join_words(&joined, words, nwords);
    if (rc == 0 && template_find_perl(joined.data, joined.len, &off, &len)) {
        sb_addf(err, "{= perl expression =} replacement strings are not supported: '%.*s'", (int)len,
                joined.data + off);
        rc = -1;
    } else if (rc < 0) {
        sb_adds(err, "out of memory");
    }
    sb_free(&joined);
    return rc;
}

int command_compile(command *c, char **words, size_t nwords, int quote, const char *replace, strbuf *err)
{
    return command_compile_plus(c, words, nwords, quote, replace, 0, err);
}

int command_compile_plus(command *c, char **words, size_t nwords, int quote, const char *replace, int plus,
                         strbuf *err)
{
    memset(c, 0, sizeof *c);
    c->quote = quote;
    c->empty = nwords == 0;
    if (c->empty)
        return 0;
    if (refuse_perl(words, nwords, err) < 0)
        return -1;
    size_t errlen = err->len;
    int rc = -1;
    if (sb_reserve(&c->text, 1) == 0) /* segments index into text.data */
        rc = quote ? compile_quoted(c, words, nwords, replace, plus)
                   : compile_joined(c, words, nwords, replace, plus, err);
    if (rc < 0 && err->len == errlen)
        sb_adds(err, "out of memory");
    return rc;
}

int command_needs_total(const command *c)
{
    for (size_t k = 0; k < c->segs.len; k++)
        if (c->segs.items[k].kind == SEG_TOTAL || c->segs.items[k].kind == SEG_SEQ_PAD)
            return 1;
    return 0;
}

void command_free(command *c)
{
    sb_free(&c->text);
    segment_list_free(&c->segs);
    free(c->seg_word);
    free(c->seg_group);
    sb_free(&c->cache_name);
    sb_free(&c->cache_path);
}

/* The index in v->args of the argument a SEG_ARG names: {N} counts from
 * the first, {-N} from the last.  Returns 0 when there is none. */
static int arg_index(const segment *s, const job_values *v, size_t *idx)
{
    if (s->pos == 0 || s->pos > v->nargs)
        return 0;
    *idx = s->from_end ? v->nargs - s->pos : s->pos - 1;
    return 1;
}

/* Number of values a replacement segment yields.  {N} beyond the job's
 * arguments yields none: as in GNU parallel it is no text at all, not an
 * empty word (except with -q, where every word stays a word). */
static size_t seg_nvalues(const command *c, const segment *s, const job_values *v)
{
    if (s->kind == SEG_ALL_ARGS)
        return v->only ? 1 : v->nargs;
    size_t idx;
    if (s->kind == SEG_ARG && !arg_index(s, v, &idx) && !c->quote)
        return 0;
    return 1;
}

/* Appends arg edited as s says: its path edit, then --plus's edit. */
static int add_edited(const command *c, strbuf *out, const segment *s, const char *arg)
{
    if (s->op == PLUS_NONE)
        return path_edit_apply(out, arg, strlen(arg), s->edit);
    strbuf tmp = STRBUF_INIT;
    int rc = path_edit_apply(&tmp, arg, strlen(arg), s->edit);
    if (rc == 0)
        rc = plus_apply(out, tmp.data ? tmp.data : "", tmp.len, s, c->text.data);
    sb_free(&tmp);
    return rc;
}

/* The number of decimal digits of n (at least 1). */
static int digits(unsigned long n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Appends value i of a replacement segment (unquoted). */
static int seg_value(const command *c, strbuf *out, const segment *s, const job_values *v, size_t i)
{
    switch (s->kind) {
    case SEG_ALL_ARGS:
        return add_edited(c, out, s, v->args[v->only ? *v->only : i]);
    case SEG_ARG: {
        size_t idx;
        if (!arg_index(s, v, &idx))
            return 0;
        return add_edited(c, out, s, v->args[idx]);
    }
    case SEG_SEQ:
        return sb_addf(out, "%lu", v->seq);
    case SEG_SLOT:
        return sb_addf(out, "%lu", v->slot);
    case SEG_TOTAL:
        return sb_addf(out, "%lu", c->total);
    case SEG_SEQ_PAD:
        return sb_addf(out, "%0*lu", digits(c->total), v->seq);
    case SEG_SLOT_PAD:
        return sb_addf(out, "%0*lu", digits(c->slots), v->slot);
    case SEG_TEXT:
        break;
    }
    return 0;
}

/* Appends value i of a replacement segment, quoted for where it lands.  A
 * template backslash before {} escapes the first of its values only. */
static int add_quoted_value(const command *c, strbuf *out, const segment *s, const job_values *v, size_t i,
                            strbuf *tmp)
{
    sb_clear(tmp);
    if (seg_value(c, tmp, s, v, i) < 0)
        return -1;
    shell_context ctx = s->ctx;
    if (i > 0)
        ctx.escaped = 0;
    return shell_quote_at(out, tmp->data ? tmp->data : "", tmp->len, &ctx);
}

/* Whether segment k starts a new -q word. */
static int starts_word(const command *c, size_t k)
{
    return c->quote && k > 0 && c->seg_word[k] != c->seg_word[k - 1];
}

/* The end of the group of segments that starts at k: the -X word, or the
 * whole template when words are not repeated. */
static size_t group_end(const command *c, size_t k)
{
    if (!c->seg_group)
        return c->segs.len;
    size_t e = k + 1;
    while (e < c->segs.len && c->seg_group[e] == c->seg_group[k])
        e++;
    return e;
}

/* Whether segments [k, end) hold {} (or one of its edits). */
static int group_has_all_args(const command *c, size_t k, size_t end)
{
    for (size_t i = k; i < end; i++)
        if (c->segs.items[i].kind == SEG_ALL_ARGS)
            return 1;
    return 0;
}

/* How many copies of segments [k, end) the job gets: one per argument
 * for a -X word holding {}, else one. */
static size_t group_copies(const command *c, size_t k, size_t end, const job_values *v)
{
    if (!c->seg_group || v->nargs == 0 || !group_has_all_args(c, k, end))
        return 1;
    return v->nargs;
}

/* The values copy `copy` of a group sees: in a repeated word {} is one
 * argument. */
static job_values copy_values(const job_values *v, size_t copies, const size_t *copy)
{
    job_values one = *v;
    if (copies > 1)
        one.only = copy;
    return one;
}

/* Appends the shell text of segments [k, end). */
static void shell_text_segments(const command *c, size_t k, size_t end, const job_values *v, strbuf *out,
                                strbuf *tmp)
{
    for (size_t i = k; i < end; i++) {
        const segment *s = &c->segs.items[i];
        if (i > k && starts_word(c, i))
            sb_addc(out, ' ');
        if (s->kind == SEG_TEXT) {
            if (c->quote)
                shell_quote(out, c->text.data + s->off, s->len);
            else
                sb_add(out, c->text.data + s->off, s->len);
            continue;
        }
        size_t n = seg_nvalues(c, s, v);
        for (size_t j = 0; j < n; j++) {
            if (j)
                sb_addc(out, ' ');
            if (add_quoted_value(c, out, s, v, j, tmp) < 0)
                break;
        }
    }
}

int command_shell_text(const command *c, const job_values *v, strbuf *out)
{
    if (c->empty) {
        for (size_t i = 0; i < v->nargs; i++) {
            if (i)
                sb_addc(out, ' ');
            sb_adds(out, v->args[i]);
        }
        return out->failed ? -1 : 0;
    }
    strbuf tmp = STRBUF_INIT;
    for (size_t k = 0, end; k < c->segs.len; k = end) {
        end = group_end(c, k);
        if (starts_word(c, k))
            sb_addc(out, ' ');
        size_t copies = group_copies(c, k, end, v);
        for (size_t r = 0; r < copies; r++) {
            job_values one = copy_values(v, copies, &r);
            if (r)
                sb_addc(out, ' ');
            shell_text_segments(c, k, end, &one, out, &tmp);
        }
    }
    if (!c->has_repl)
        for (size_t i = 0; i < v->nargs; i++) {
            sb_addc(out, ' ');
            shell_quote_at(out, v->args[i], strlen(v->args[i]), &c->tail);
        }
    int failed = tmp.failed;
    sb_free(&tmp);
    return out->failed || failed ? -1 : 0;
}

int command_compile_plain(command *c, const char *text, const char *replace, int plus)
{
    memset(c, 0, sizeof *c);
    if (sb_reserve(&c->text, 1) < 0 || sb_adds(&c->text, text) < 0)
        return -1;
    long found = template_split_plus(c->text.data, c->text.len, 0, replace, plus, &c->segs);
    c->has_repl = found > 0;
    return found < 0 ? -1 : 0;
}

int command_plain_text(const command *c, const job_values *v, strbuf *out)
{
    for (size_t k = 0; k < c->segs.len; k++) {
        const segment *s = &c->segs.items[k];
        if (s->kind == SEG_TEXT) {
            sb_add(out, c->text.data + s->off, s->len);
            continue;
        }
        size_t n = seg_nvalues(c, s, v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_addc(out, ' ');
            seg_value(c, out, s, v, i);
        }
    }
    return out->failed ? -1 : 0;
}

int find_program(const char *name, strbuf *path)
{
    struct stat st;
    sb_clear(path);
    if (!*name)
        return -1;
    if (strchr(name, '/')) {
        if (stat(name, &st) == 0 && S_ISREG(st.st_mode) && access(name, X_OK) == 0)
            return sb_adds(path, name);
        return -1;
    }
    const char *p = getenv("PATH");
    if (!p)
        p = "/usr/local/bin:/usr/bin:/bin";
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        sb_clear(path);
        if (len)
            sb_add(path, p, len);
        else
            sb_addc(path, '.');
        sb_addc(path, '/');
        sb_adds(path, name);
        if (path->failed)
            return -1;
        if (stat(path->data, &st) == 0 && S_ISREG(st.st_mode) && access(path->data, X_OK) == 0)
            return 0;
        if (!colon)
            break;
        p = colon + 1;
    }
    sb_clear(path);
    return -1;
}

/* Ends the word being built, if any. */
static int finish_word(strvec *argv, strbuf *word, int *open)
{
    if (!*open)
        return 0;
    *open = 0;
    int r = sv_push(argv, word->data ? word->data : "", word->len);
    sb_clear(word);
    return r;
}

static int terminate(strvec *argv)
{
    if (sv_push(argv, "", 0) < 0)
        return -1;
    free(argv->items[argv->len - 1]);
    argv->items[--argv->len] = NULL;
    return 0;
}

/* Whether the program the argv names may be exec'd instead of the shell. */
static int argv_is_direct(command *c, const strvec *argv, strbuf *path)
{
    const char *name = argv->items[0];
    if (!*name || strchr(name, '=') || is_shell_word(name))
        return 0;
    /* Only the builtins that agree with their programs reach here; the
     * programs alone answer a lone --help or --version. */
    if (argv->len == 2 && (!strcmp(argv->items[1], "--help") || !strcmp(argv->items[1], "--version")))
        return 0;
    if (c->cache_name.data && !strcmp(c->cache_name.data, name)) {
        if (!c->cache_path.len)
            return 0;
        sb_clear(path);
        return sb_add(path, c->cache_path.data, c->cache_path.len) < 0 ? -1 : 1;
    }
    sb_clear(&c->cache_name);
    sb_clear(&c->cache_path);
    sb_adds(&c->cache_name, name);
    if (find_program(name, path) < 0)
        return 0;
    sb_add(&c->cache_path, path->data, path->len);
    return c->cache_path.failed || c->cache_name.failed ? -1 : 1;
}

/* Adds the words of segments [k, end) to argv; word is the word being
 * built and *open whether there is one. */
static int argv_segments(const command *c, size_t k, size_t end, const job_values *v, strvec *argv, strbuf *word,
                         int *open)
{
    int rc = 0;
    for (size_t i = k; i < end && rc == 0; i++) {
        const segment *s = &c->segs.items[i];
        if (i > k && starts_word(c, i))
            rc = finish_word(argv, word, open);
        if (s->kind == SEG_TEXT) {
            if (c->quote) {
                sb_add(word, c->text.data + s->off, s->len);
                *open = 1;
                continue;
            }
            for (size_t b = 0; b < s->len && rc == 0; b++) {
                char ch = c->text.data[s->off + b];
                if (ch == ' ') {
                    rc = finish_word(argv, word, open);
                } else {
                    sb_addc(word, ch);
                    *open = 1;
                }
            }
            continue;
        }
        /* The shell splits "x{}y" with two arguments into "xa" and "by". */
        size_t n = seg_nvalues(c, s, v);
        for (size_t j = 0; j < n && rc == 0; j++) {
            if (j)
                rc = finish_word(argv, word, open);
            if (seg_value(c, word, s, v, j) < 0)
                rc = -1;
            *open = 1;
        }
    }
    return rc;
}

int command_argv(command *c, const job_values *v, strvec *argv, strbuf *path)
{
    sv_clear(argv);
    if (c->empty || !c->fast)
        return 0;
    strbuf word = STRBUF_INIT;
    int open = 0, rc = 0;
    for (size_t k = 0, end; k < c->segs.len && rc == 0; k = end) {
        end = group_end(c, k);
        if (starts_word(c, k))
            rc = finish_word(argv, &word, &open);
        size_t copies = group_copies(c, k, end, v);
        for (size_t r = 0; r < copies && rc == 0; r++) {
            job_values one = copy_values(v, copies, &r);
            if (r)
                rc = finish_word(argv, &word, &open);
            if (rc == 0)
                rc = argv_segments(c, k, end, &one, argv, &word, &open);
        }
    }
    if (rc == 0)
        rc = finish_word(argv, &word, &open);
    if (!c->has_repl)
        for (size_t i = 0; i < v->nargs && rc == 0; i++)
            rc = sv_pushs(argv, v->args[i]);
    if (word.failed)
        rc = -1;
    sb_free(&word);
    if (rc < 0 || terminate(argv) < 0)
        return -1;
    if (argv->len == 0)
        return 0;
    return argv_is_direct(c, argv, path);
}

/* ---- -X: words repeated per argument ------------------------------------ */

/* Whether the scan stands outside any quoting, where a blank ends a word. */
static int scan_at_top(const shell_scan *s)
{
    return s->depth == 1 && !s->escape && !s->lost;
}

/* Bytes that end a word outside quoting: blanks, and the operators that
 * end a command or redirect (GNU parallel cuts at blanks only, and would
 * repeat the ';' of "{};" with each copy, running the inputs as commands). */
static int ends_word(char ch)
{
    return strchr(" ;|&<>()", ch) != NULL;
}

/* Appends segment s, its text cut where words end outside quoting; each
 * cut byte becomes a segment of its own, in a group of its own. */
static int split_at_blanks(const command *c, const segment *s, shell_scan *scan, segment_list *out, size_t *groups,
                           size_t *group)
{
    size_t from = s->off, endoff = s->off + s->len;
    for (size_t b = s->off; b < endoff; b++) {
        int cut = ends_word(c->text.data[b]) && scan_at_top(scan);
        shell_scan_text(scan, c->text.data + b, 1);
        if (!cut)
            continue;
        if (b > from) {
            if (segment_list_push_text(out, from, b - from) < 0)
                return -1;
            groups[out->len - 1] = *group;
        }
        if (segment_list_push_text(out, b, 1) < 0)
            return -1;
        groups[out->len - 1] = ++*group;
        ++*group;
        from = b + 1;
    }
    if (endoff > from) {
        if (segment_list_push_text(out, from, endoff - from) < 0)
            return -1;
        groups[out->len - 1] = *group;
    }
    return 0;
}

int command_repeat_words(command *c)
{
    if (c->empty)
        return 0;
    if (c->quote) {
        /* Under -q every word is a word already. */
        c->seg_group = malloc((c->segs.len ? c->segs.len : 1) * sizeof *c->seg_group);
        if (!c->seg_group)
            return -1;
        memcpy(c->seg_group, c->seg_word, c->segs.len * sizeof *c->seg_group);
        return 0;
    }
    /* A text of n bytes splits into at most 2n + 1 segments. */
    size_t most = c->segs.len + 2 * c->text.len + 1;
    segment_list out = {0};
    size_t *groups = malloc(most * sizeof *groups);
    shell_scan scan;
    const char *why;
    size_t group = 0;
    int rc = groups ? 0 : -1;
    shell_scan_init(&scan);
    for (size_t k = 0; k < c->segs.len && rc == 0; k++) {
        const segment *s = &c->segs.items[k];
        if (s->kind == SEG_TEXT) {
            rc = split_at_blanks(c, s, &scan, &out, groups, &group);
            continue;
        }
        shell_context ignored;
        shell_scan_value(&scan, &ignored, &why);
        rc = segment_list_push(&out, *s);
        if (rc == 0)
            groups[out.len - 1] = group;
    }
    if (rc < 0) {
        segment_list_free(&out);
        free(groups);
        return -1;
    }
    segment_list_free(&c->segs);
    c->segs = out;
    c->seg_group = groups;
    return 0;
}

/* The length of value j of segment s quoted where it lands. */
static size_t quoted_length(const command *c, const segment *s, const job_values *v, size_t j, strbuf *tmp,
                            strbuf *q)
{
    sb_clear(q);
    add_quoted_value(c, q, s, v, j, tmp);
    return q->len;
}

size_t command_growth(const command *c, const char *arg)
{
    if (c->empty)
        return 1 + strlen(arg);
    char *args[1] = {(char *)arg};
    size_t zero = 0;
    job_values one = {args, 1, 0, 0, &zero};
    strbuf tmp = STRBUF_INIT, q = STRBUF_INIT;
    size_t grow = 0;
    for (size_t k = 0, end; k < c->segs.len; k = end) {
        end = group_end(c, k);
        if (c->seg_group && group_has_all_args(c, k, end)) {
            /* One more copy of the word, after a blank. */
            sb_clear(&q);
            shell_text_segments(c, k, end, &one, &q, &tmp);
            grow += 1 + q.len;
            continue;
        }
        for (size_t i = k; i < end; i++)
            if (c->segs.items[i].kind == SEG_ALL_ARGS)
                grow += 1 + quoted_length(c, &c->segs.items[i], &one, 0, &tmp, &q);
    }
    if (!c->has_repl) {
        sb_clear(&q);
        shell_quote_at(&q, arg, strlen(arg), &c->tail);
        grow += 1 + q.len;
    }
    sb_free(&tmp);
    sb_free(&q);
    return grow;
}
