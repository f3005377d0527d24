/* shellctx.h - where in the shell's quoting a replacement string stands,
 * and how a value is quoted there.
 *
 * A command template is shell text written by the user; the inputs are
 * data.  Each input must reach the shell as exactly its own bytes, as
 * literal data, wherever the template puts it: outside quotes, inside
 * '...', "...", $'...', after a backslash, inside $(...), `...`, ${...},
 * $((...)) or a # comment.  The template is scanned once, when it is
 * compiled, and every replacement string gets a shell_context; quoting a
 * value for its context is then a single pass over the value per job.
 *
 * The scan models the quoting of a POSIX shell (and bash's $'...').  What
 * it does not model (here-documents, `case` inside $(...), backquotes
 * nested in backquotes) makes it stop: a replacement string after such a
 * point cannot be quoted with certainty and the template is refused. */
#ifndef MPROC_CLI_SHELLCTX_H
#define MPROC_CLI_SHELLCTX_H

#include <stddef.h>

#include "strbuf.h"

/* The quoting a value is inserted into. */
typedef enum quote_context {
    QC_BARE,        /* outside quotes (also inside $(...), `...`, ${...}) */
    QC_SINGLE,      /* inside '...' */
    QC_DOUBLE,      /* inside "..." */
    QC_DOUBLE_PARAM,/* inside ${...} within "..." */
    QC_ANSI,        /* inside $'...' */
    QC_ARITH,       /* inside $((...)) or ((...)) */
    QC_COMMENT      /* after a # that starts a comment */
} quote_context;

typedef struct shell_context {
    unsigned char where;        /* quote_context */
    unsigned char escaped;      /* a template backslash stands just before the value */
    unsigned char backquoted;   /* inside `...`: the shell strips one level of \ first */
    unsigned char backquote_dq; /* ... and that `...` is inside "...", so \" is stripped too */
} shell_context;

/* Appends v[0..n) quoted so that, placed where ctx says, the shell reads
 * exactly those bytes as literal data and nothing in them is expanded or
 * executed.  A value made only of bytes no context gives a meaning to
 * (letters, digits, _ - + . /) is inserted as it is, as GNU parallel does.
 *
 * A template backslash just before the value (ctx->escaped) acts as it
 * would before an ordinary letter: outside quotes it disappears, inside
 * "..." and $'...' it stays a literal backslash.  In $((...)) a value that
 * is not a plain word is put in single quotes, which arithmetic rejects:
 * the job fails instead of evaluating it.  In a comment the value stays
 * in the comment.  Returns 0, or -1 on allocation failure. */
int shell_quote_at(strbuf *out, const char *v, size_t n, const shell_context *ctx);

typedef enum scan_frame_kind {
    FR_TOP, FR_CMDSUB, FR_BACKQUOTE, FR_PARAM, FR_ARITH, FR_DOUBLE, FR_SINGLE, FR_ANSI, FR_COMMENT
} scan_frame_kind;

typedef struct scan_frame {
    unsigned char kind;     /* scan_frame_kind */
    unsigned char outer;    /* quote_context the frame was opened in */
    unsigned char closing;  /* FR_ARITH: the first ) of )) was seen */
    unsigned parens;        /* FR_CMDSUB, FR_ARITH: unclosed ( inside */
} scan_frame;

#define SHELL_SCAN_DEPTH 32

/* The scanner's state between two pieces of template text.  Bytes are fed
 * one at a time; a few tokens ($( $(( ${ $' << (( ) need the next byte,
 * which is what the pending_* fields wait for. */
typedef struct shell_scan {
    scan_frame frames[SHELL_SCAN_DEPTH];
    size_t depth;           /* frames in use; frames[0] is FR_TOP */
    int escape;             /* the last byte was a backslash that escapes the next */
    int layer_escape;       /* inside `...`: the last raw byte was a backslash */
    int pending_dollar;     /* an unescaped $ where it expands */
    int pending_dollar_paren; /* $( : one more ( makes it $(( */
    int pending_lt;         /* how many < in a row (unquoted) */
    int pending_paren;      /* a ( at the start of a word: one more makes (( */
    int word_start;         /* the next byte starts a word (unquoted) */
    char word[8];           /* the word being read, to spot `case` */
    size_t wordlen;         /* sizeof word: not a keyword */
    const char *lost;       /* why the scan stopped, or NULL */
} shell_scan;

void shell_scan_init(shell_scan *s);

/* Feeds n bytes of template text. */
void shell_scan_text(shell_scan *s, const char *text, size_t n);

/* The context of a value inserted at this point of the template; the scan
 * then goes on as if an ordinary word byte had been read.  Returns 0, or
 * -1 when no quoting is certain here, with *why saying what is in the
 * way. */
int shell_scan_value(shell_scan *s, shell_context *ctx, const char **why);

#endif
