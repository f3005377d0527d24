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

/* Where the last k extensions start: the k-th dot from the end, with no
 * dot or slash between it and the end but the k - 1 dots; n if none. */
static size_t exts_start(const char *s, size_t n, int k)
{
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '/')
            return n;
        if (s[i - 1] == '.' && --k == 0)
            return i - 1;
    }
    return n;
}

/* The text after the last occurrence of c, or "" without one. */
static int add_after_last(strbuf *out, const char *s, size_t n, char c)
{
    const char *p = memrchr(s, c, n);
    return p ? sb_add(out, p + 1, n - (size_t)(p + 1 - s)) : sb_add(out, "", 0);
}

/* The text after the last k extensions' dot, or "" without them. */
static int add_exts(strbuf *out, const char *s, size_t n, int k)
{
    size_t e = exts_start(s, n, k);
    return e < n ? sb_add(out, s + e + 1, n - e - 1) : sb_add(out, "", 0);
}

/* --plus's path edits, as GNU parallel's regular expressions define them. */
static int plus_path_edit(strbuf *out, const char *s, size_t n, path_edit edit)
{
    const char *slash;
    size_t b = base_start(s, n);
    switch (edit) {
    case EDIT_PLUS_DIR:
        slash = memrchr(s, '/', n);
        return sb_add(out, s, slash ? (size_t)(slash - s) : 0);
    case EDIT_PLUS_EXT:  return add_after_last(out, s, n, '.');
    case EDIT_PLUS_EXT2: return add_exts(out, s, n, 2);
    case EDIT_PLUS_EXT3: return add_exts(out, s, n, 3);
    case EDIT_NOEXT2:    return sb_add(out, s, exts_start(s, n, 2));
    case EDIT_NOEXT3:    return sb_add(out, s, exts_start(s, n, 3));
    case EDIT_BASE_NOEXT2: return sb_add(out, s + b, exts_start(s + b, n - b, 2));
    case EDIT_BASE_NOEXT3: return sb_add(out, s + b, exts_start(s + b, n - b, 3));
    default:
        return -1;
    }
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
    default:
        return plus_path_edit(out, s, n, edit);
    }
}
