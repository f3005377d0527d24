/* shellctx.c - the quoting-context scan of a command template, and
 * quoting a value for the context it lands in. */
#include "shellctx.h"

#include <string.h>

#include "quote.h"

/* ---- quoting a value ---------------------------------------------------- */

/* Bytes that a backslash must protect inside "...". */
static int is_double_special(unsigned char c)
{
    return c == '$' || c == '`' || c == '"' || c == '\\';
}

static int add_double_escaped(strbuf *out, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (is_double_special((unsigned char)v[i]))
            sb_addc(out, '\\');
        sb_addc(out, v[i]);
    }
    return out->failed ? -1 : 0;
}

/* Outside quotes after a template backslash: the backslash takes the
 * value's first byte literally, as it would any ordinary byte; the rest
 * is quoted.  A newline (or nothing) after a backslash would continue the
 * line instead, so then a newline is emitted for the backslash to remove,
 * and the whole value quoted after it.  Multibyte characters are not cut. */
static int quote_bare_escaped(strbuf *out, const char *v, size_t n)
{
    unsigned char first = n ? (unsigned char)v[0] : '\n';
    if (first == '\n' || first >= 0x80) {
        sb_addc(out, '\n');
        return shell_quote(out, v, n);
    }
    sb_addc(out, v[0]);
    return n > 1 ? shell_quote(out, v + 1, n - 1) : (out->failed ? -1 : 0);
}

/* Inside "...": backslashes before $ ` " \.  A template backslash before
 * the value stays literal: it gets a backslash of its own whenever it
 * would otherwise escape what follows. */
static int quote_double(strbuf *out, const char *v, size_t n, int escaped)
{
    if (escaped && (n == 0 || v[0] == '\n' || is_double_special((unsigned char)v[0])))
        sb_addc(out, '\\');
    return add_double_escaped(out, v, n);
}

/* Inside ${...} within "...", bash pairs single quotes (keeping them) but
 * expands what they hold: the value goes in a "..." of its own, where a
 * single quote is an ordinary byte. */
static int quote_double_param(strbuf *out, const char *v, size_t n, int escaped)
{
    if (escaped)
        sb_addc(out, '\\');
    sb_addc(out, '"');
    add_double_escaped(out, v, n);
    sb_addc(out, '"');
    return out->failed ? -1 : 0;
}

/* Inside '...' or $'...': close the quote, add the value quoted as a word,
 * reopen.  In $'...' a template backslash before the value is made
 * literal, or it would escape the closing quote. */
static int quote_reopened(strbuf *out, const char *v, size_t n, int escaped, const char *reopen)
{
    if (escaped)
        sb_addc(out, '\\');
    sb_addc(out, '\'');
    shell_quote(out, v, n);
    sb_adds(out, reopen);
    return out->failed ? -1 : 0;
}

/* Arithmetic reads its text as if in "...", where single quotes are plain
 * bytes that the evaluator rejects: the value is kept whole as a quoted
 * operand, never evaluated. */
static int quote_arith(strbuf *out, const char *v, size_t n)
{
    sb_addc(out, '\'');
    add_double_escaped(out, v, n);
    sb_addc(out, '\'');
    return out->failed ? -1 : 0;
}

/* A newline would end the comment: each one starts a new comment. */
static int quote_comment(strbuf *out, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sb_addc(out, v[i]);
        if (v[i] == '\n')
            sb_addc(out, '#');
    }
    return out->failed ? -1 : 0;
}

/* The quoting for the innermost context, before any backquote level. */
static int quote_inner(strbuf *out, const char *v, size_t n, const shell_context *ctx)
{
    int plain = shell_word_is_plain(v, n);
    switch ((quote_context)ctx->where) {
    case QC_BARE:
        return ctx->escaped ? quote_bare_escaped(out, v, n) : shell_quote(out, v, n);
    case QC_SINGLE:
        return plain ? sb_add(out, v, n) : quote_reopened(out, v, n, 0, "'");
    case QC_DOUBLE:
        return quote_double(out, v, n, ctx->escaped);
    case QC_DOUBLE_PARAM:
        return plain ? sb_add(out, v, n) : quote_double_param(out, v, n, ctx->escaped);
    case QC_ANSI:
        /* \ and a plain byte can still mean something here (\n, \x41) */
        return plain && !ctx->escaped ? sb_add(out, v, n) : quote_reopened(out, v, n, ctx->escaped, "$'");
    case QC_ARITH:
        return plain ? sb_add(out, v, n) : quote_arith(out, v, n);
    case QC_COMMENT:
        return quote_comment(out, v, n);
    }
    return -1;
}

int shell_quote_at(strbuf *out, const char *v, size_t n, const shell_context *ctx)
{
    if (!ctx->backquoted)
        return quote_inner(out, v, n, ctx);
    /* Inside `...` the shell first removes the backslash before $ ` \ (and
     * " within "..."), then parses what is left: add one for each. */
    strbuf inner = STRBUF_INIT;
    int rc = quote_inner(&inner, v, n, ctx);
    for (size_t i = 0; rc == 0 && i < inner.len; i++) {
        char c = inner.data[i];
        if (c == '$' || c == '`' || c == '\\' || (c == '"' && ctx->backquote_dq))
            sb_addc(out, '\\');
        sb_addc(out, c);
    }
    sb_free(&inner);
    return rc < 0 || out->failed ? -1 : 0;
}

/* ---- scanning the template ---------------------------------------------- */

static void lose(shell_scan *s, const char *why)
{
    if (!s->lost)
        s->lost = why;
}

static scan_frame *top(shell_scan *s)
{
    return &s->frames[s->depth - 1];
}

/* The current word cannot be a shell keyword. */
static void not_keyword(shell_scan *s)
{
    s->word_start = 0;
    s->wordlen = sizeof s->word;
}

static void push(shell_scan *s, scan_frame_kind kind, quote_context outer)
{
    if (s->depth == SHELL_SCAN_DEPTH) {
        lose(s, "quoting nested too deep");
        return;
    }
    scan_frame f = {(unsigned char)kind, (unsigned char)outer, 0, 0};
    s->frames[s->depth++] = f;
    not_keyword(s);
}

static void pop(shell_scan *s)
{
    if (s->depth > 1)
        s->depth--;
}

/* The quoting that text in frame f is read in. */
static quote_context frame_context(const scan_frame *f)
{
    switch ((scan_frame_kind)f->kind) {
    case FR_SINGLE: return QC_SINGLE;
    case FR_ANSI: return QC_ANSI;
    case FR_DOUBLE: return QC_DOUBLE;
    case FR_ARITH: return QC_ARITH;
    case FR_COMMENT: return QC_COMMENT;
    case FR_PARAM:
        if (f->outer == QC_DOUBLE || f->outer == QC_DOUBLE_PARAM)
            return QC_DOUBLE_PARAM;
        return (quote_context)f->outer;
    case FR_TOP: case FR_CMDSUB: case FR_BACKQUOTE: break;
    }
    return QC_BARE;
}

/* The innermost `...`, or NULL. */
static const scan_frame *backquote_frame(const shell_scan *s)
{
    for (size_t i = s->depth; i > 0; i--)
        if (s->frames[i - 1].kind == FR_BACKQUOTE)
            return &s->frames[i - 1];
    return NULL;
}

void shell_scan_init(shell_scan *s)
{
    memset(s, 0, sizeof *s);
    s->frames[0].kind = FR_TOP;
    s->depth = 1;
    s->word_start = 1;
}

static void word_byte(shell_scan *s, char c)
{
    if (s->word_start)
        s->wordlen = 0;
    s->word_start = 0;
    if (s->wordlen < sizeof s->word)
        s->word[s->wordlen++] = c;
}

/* A blank or an operator ends the word.  Inside $(...), `case` would make
 * the ) of its patterns look like the end of the substitution. */
static void end_word(shell_scan *s)
{
    if (!s->word_start && top(s)->kind == FR_CMDSUB && s->wordlen == 4 && !memcmp(s->word, "case", 4))
        lose(s, "case ... esac inside $(...)");
    s->word_start = 1;
    s->wordlen = 0;
}

static void open_paren(shell_scan *s)
{
    if (top(s)->kind == FR_CMDSUB)
        top(s)->parens++;
}

static void close_paren(shell_scan *s)
{
    scan_frame *f = top(s);
    if (f->kind != FR_CMDSUB)
        return;
    if (f->parens)
        f->parens--;
    else
        pop(s);
}

/* Ends the tokens that were waiting for one more byte, when what follows
 * is an ordinary byte (or a value). */
static void settle(shell_scan *s)
{
    if (s->pending_dollar_paren) {
        s->pending_dollar_paren = 0;
        push(s, FR_CMDSUB, QC_BARE);
        s->word_start = 1;
    }
    if (s->pending_paren) {
        s->pending_paren = 0;
        open_paren(s);
        s->word_start = 1;
    }
    if (s->pending_lt == 2)
        lose(s, "a here-document (<<)");
    s->pending_lt = 0;
    s->pending_dollar = 0;
}

/* Completes a token begun by the previous byte; returns 1 when c was part
 * of it. */
static int resolve_pending(shell_scan *s, char c)
{
    if (s->pending_dollar) {
        s->pending_dollar = 0;
        quote_context here = frame_context(top(s));
        if (c == '(') {
            s->pending_dollar_paren = 1;
            return 1;
        }
        if (c == '{') {
            push(s, FR_PARAM, here);
            return 1;
        }
        if (c == '\'' && here == QC_BARE) {
            push(s, FR_ANSI, QC_BARE);
            return 1;
        }
        return c == '$'; /* $$ */
    }
    if ((s->pending_dollar_paren || s->pending_paren) && c == '(') {
        s->pending_dollar_paren = s->pending_paren = 0;
        push(s, FR_ARITH, QC_BARE);
        return 1;
    }
    if (s->pending_lt && c == '<') {
        s->pending_lt++;
        return 1;
    }
    settle(s);
    return 0;
}

static void bare_byte(shell_scan *s, char c)
{
    if (s->escape) {
        s->escape = 0;
        not_keyword(s);
        return;
    }
    switch (c) {
    case '\\': s->escape = 1; not_keyword(s); return;
    case '\'': push(s, FR_SINGLE, QC_BARE); return;
    case '"': push(s, FR_DOUBLE, QC_BARE); return;
    case '`': push(s, FR_BACKQUOTE, QC_BARE); return;
    case '$': s->pending_dollar = 1; not_keyword(s); return;
    case '<': end_word(s); s->pending_lt = 1; return;
    case ')': end_word(s); close_paren(s); return;
    case ' ': case '\t': case '\n': case ';': case '&': case '|': case '>':
        end_word(s);
        return;
    case '#':
        if (s->word_start) {
            push(s, FR_COMMENT, QC_BARE);
            return;
        }
        break;
    case '(':
        if (s->word_start) {
            s->pending_paren = 1;
            return;
        }
        end_word(s);
        open_paren(s);
        return;
    case '}':
        if (top(s)->kind == FR_PARAM) {
            pop(s);
            return;
        }
        break;
    }
    word_byte(s, c);
}

/* Inside "...", and inside ${...} within "..." or $((...)). */
static void double_byte(shell_scan *s, char c)
{
    scan_frame *f = top(s);
    if (s->escape) {
        s->escape = 0;
        return;
    }
    switch (c) {
    case '\\': s->escape = 1; break;
    case '$': s->pending_dollar = 1; break;
    case '`': push(s, FR_BACKQUOTE, QC_DOUBLE); break;
    case '"':
        if (f->kind == FR_DOUBLE)
            pop(s);
        else
            push(s, FR_DOUBLE, QC_DOUBLE); /* a nested "..." in ${...} */
        break;
    case '}':
        if (f->kind == FR_PARAM)
            pop(s);
        break;
    case '\'':
        /* paired by bash, not by other shells: no common reading */
        if (f->kind == FR_PARAM)
            lose(s, "a single quote inside ${...} within \"...\"");
        break;
    }
}

static void arith_byte(shell_scan *s, char c)
{
    scan_frame *f = top(s);
    if (s->escape) {
        s->escape = 0;
        return;
    }
    if (c != ')')
        f->closing = 0;
    switch (c) {
    case '\\': s->escape = 1; break;
    case '$': s->pending_dollar = 1; break;
    case '`': push(s, FR_BACKQUOTE, QC_ARITH); break;
    case '(': f->parens++; break;
    case ')':
        if (f->parens)
            f->parens--;
        else if (f->closing)
            pop(s);
        else
            f->closing = 1;
        break;
    }
}

/* One byte as the shell parses it, after any backquote level is removed. */
static void inner_byte(shell_scan *s, char c)
{
    if (resolve_pending(s, c) || s->lost)
        return;
    scan_frame *f = top(s);
    switch ((scan_frame_kind)f->kind) {
    case FR_SINGLE:
        if (c == '\'')
            pop(s);
        return;
    case FR_COMMENT:
        if (c == '\n') {
            pop(s);
            end_word(s);
        }
        return;
    case FR_ANSI:
        if (s->escape)
            s->escape = 0;
        else if (c == '\\')
            s->escape = 1;
        else if (c == '\'')
            pop(s);
        return;
    case FR_DOUBLE:
        double_byte(s, c);
        return;
    case FR_ARITH:
        arith_byte(s, c);
        return;
    case FR_PARAM:
        if (f->outer != QC_BARE) {
            double_byte(s, c);
            return;
        }
        break;
    case FR_TOP: case FR_CMDSUB: case FR_BACKQUOTE:
        break;
    }
    bare_byte(s, c);
}

/* Ends the innermost `...` and whatever was left open inside it. */
static void close_backquote(shell_scan *s)
{
    settle(s);
    s->escape = 0;
    while (s->depth > 1 && top(s)->kind != FR_BACKQUOTE)
        pop(s);
    pop(s);
    not_keyword(s);
}

/* One byte of template text.  Inside `...` the shell first takes out the
 * backslashes before $ ` \ (and " if the backquotes are in "..."); the
 * rest goes to the parser as it is. */
static void raw_byte(shell_scan *s, char c)
{
    const scan_frame *bq = backquote_frame(s);
    if (bq) {
        if (s->layer_escape) {
            s->layer_escape = 0;
            if (c == '`') {
                lose(s, "backquotes nested in backquotes");
                return;
            }
            if (c != '$' && c != '\\' && !(c == '"' && bq->outer != QC_BARE))
                inner_byte(s, '\\');
            inner_byte(s, c);
            return;
        }
        if (c == '\\') {
            s->layer_escape = 1;
            return;
        }
        if (c == '`') {
            close_backquote(s);
            return;
        }
    }
    inner_byte(s, c);
}

void shell_scan_text(shell_scan *s, const char *text, size_t n)
{
    for (size_t i = 0; i < n && !s->lost; i++)
        raw_byte(s, text[i]);
}

int shell_scan_value(shell_scan *s, shell_context *ctx, const char **why)
{
    if (s->layer_escape)
        lose(s, "a backslash just before it inside `...`");
    if (s->pending_dollar)
        lose(s, "a $ just before it");
    settle(s);
    if (s->lost) {
        *why = s->lost;
        return -1;
    }
    const scan_frame *bq = backquote_frame(s);
    memset(ctx, 0, sizeof *ctx);
    ctx->where = (unsigned char)frame_context(top(s));
    ctx->escaped = (unsigned char)s->escape;
    ctx->backquoted = bq != NULL;
    ctx->backquote_dq = bq && bq->outer != QC_BARE;
    s->escape = 0;
    not_keyword(s); /* the value is part of a word */
    return 0;
}
