/* quote.h - shell quoting and the path edits behind {.} {/} {//} {/.}. */
#ifndef MPROC_CLI_QUOTE_H
#define MPROC_CLI_QUOTE_H

#include <stddef.h>

#include "strbuf.h"

/* Path edits a replacement string may apply to a value. */
typedef enum path_edit {
    EDIT_NONE,        /* {}    the value as it is */
    EDIT_NOEXT,       /* {.}   without the extension of the last component */
    EDIT_BASENAME,    /* {/}   what follows the last slash */
    EDIT_DIRNAME,     /* {//}  POSIX dirname */
    EDIT_BASE_NOEXT,  /* {/.}  {/} then {.} */
    /* --plus: */
    EDIT_PLUS_DIR,    /* {+/}   before the last slash ("" without one) */
    EDIT_PLUS_EXT,    /* {+.}   after the last dot ("" without one) */
    EDIT_PLUS_EXT2,   /* {+..}  the last two extensions ("" without them) */
    EDIT_PLUS_EXT3,   /* {+...} the last three */
    EDIT_NOEXT2,      /* {..}   without the last two extensions */
    EDIT_NOEXT3,      /* {...}  without the last three */
    EDIT_BASE_NOEXT2, /* {/..}  {/} then {..} */
    EDIT_BASE_NOEXT3  /* {/...} {/} then {...} */
} path_edit;

/* Appends the edited value; returns 0 or -1 (allocation). */
int path_edit_apply(strbuf *out, const char *s, size_t n, path_edit edit);

/* Nonzero when s can be given to a POSIX shell as one word unquoted. */
int shell_word_is_plain(const char *s, size_t n);

/* Appends s quoted so that a POSIX shell reads it back as one literal word:
 * plain words unchanged, anything else in single quotes, with each single
 * quote written as "'" between quoted runs.  Returns 0 or -1. */
int shell_quote(strbuf *out, const char *s, size_t n);

#endif
