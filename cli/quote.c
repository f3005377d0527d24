/* quote.c - shell quoting and path edits.
 *
 * The quoting produces the same text GNU parallel shows in --dry-run and in
 * its job log, so that logs written by either tool can be compared and a
 * --resume works across them. */
#include "quote.h"

#include <string.h>

static int is_plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '+' || c == '.' || c == '/';
}

int shell_word_is_plain(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_plain_byte((unsigned char)s[i]))
            return 0;
    return 1;
}

int shell_quote(strbuf *out, const char *s, size_t n)
{
    if (shell_word_is_plain(s, n))
        return sb_add(out, s, n);
    if (n == 0)
        return sb_add(out, "''", 2);
    /* Quoted runs between single quotes; an empty run at either end is
     * dropped so that "'" comes out as "'" and not as ''"'"''. */
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\'')
            j++;
        if (j > i) {
            sb_addc(out, '\'');
            sb_add(out, s + i, j - i);
            sb_addc(out, '\'');
        } else if (i > 0 && s[i - 1] == '\'' && j < n) {
            /* two quotes in a row: keep the empty run, as the reference does */
            sb_add(out, "''", 2);
        }
        if (j < n)
            sb_add(out, "\"'\"", 3);
        i = j + 1;
    }
    return out->failed ? -1 : 0;
}

/* Offset of the first byte after the last slash. */
static size_t base_start(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && s[i - 1] != '/')
        i--;
    return i;
}

/* Length without the extension: a final '.' and what follows it, provided
 * no slash follows the dot. */
static size_t noext_len(const char *s, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '/')
            return n;
        if (s[i - 1] == '.')
            return i - 1;
    }
    return n;
}

static int add_dirname(strbuf *out, const char *s, size_t n)
{
    size_t end = n;
    while (end > 1 && s[end - 1] == '/')
        end--;
    if (end == 1 && s[0] == '/')
        return sb_add(out, "/", 1);
    size_t b = base_start(s, end);
    if (b == 0)
        return sb_add(out, ".", 1);
    end = b;
    while (end > 1 && s[end - 1] == '/')
        end--;
    return sb_add(out, s, end);
}

int path_edit_apply(strbuf *out, const char *s, size_t n, path_edit edit)
{
    size_t b;
    switch (edit) {
    case EDIT_NONE:
        return sb_add(out, s, n);
    case EDIT_NOEXT:
        return sb_add(out, s, noext_len(s, n));
    case EDIT_BASENAME:
        b = base_start(s, n);
        return sb_add(out, s + b, n - b);
    case EDIT_DIRNAME:
        return add_dirname(out, s, n);
    case EDIT_BASE_NOEXT:
        b = base_start(s, n);
        return sb_add(out, s + b, noext_len(s + b, n - b));
    }
    return -1;
}
