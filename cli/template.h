/* template.h - replacement strings in a command template.
 *
 *   {}  {.}  {/}  {//}  {/.}      every argument of the job, edited
 *   {N} {N.} {N/} {N//} {N/.}     argument N (1-based), edited
 *   {-N} {-N.} ...                argument N counted from the last
 *   {#}                           the job's sequence number
 *   {%}                           the job's slot number
 *
 * Anything else between braces is ordinary text.  GNU parallel's
 * {= perl expression =} is not supported: template_find_perl finds it so
 * that such a template can be refused rather than run as text. */
#ifndef MPROC_CLI_TEMPLATE_H
#define MPROC_CLI_TEMPLATE_H

#include <stddef.h>

#include "quote.h"
#include "shellctx.h"

typedef enum segment_kind {
    SEG_TEXT,       /* literal text: bytes [off, off+len) of the source */
    SEG_ALL_ARGS,   /* {} and its edits */
    SEG_ARG,        /* {N} and its edits */
    SEG_SEQ,        /* {#} */
    SEG_SLOT        /* {%} */
} segment_kind;

typedef struct segment {
    segment_kind kind;
    path_edit edit;
    size_t pos;     /* SEG_ARG: 1-based argument number */
    int from_end;   /* SEG_ARG: pos counts from the last argument ({-N}) */
    size_t off;     /* SEG_TEXT: offset into the parsed text */
    size_t len;     /* SEG_TEXT: length */
    shell_context ctx; /* replacements: the shell quoting the value lands in */
} segment;

/* Largest N accepted in {N}: beyond it the braces are plain text. */
#define TEMPLATE_MAX_POS 1000000u

/* If s[0..n) starts with a replacement string, fills *seg, sets *used to
 * its length and returns 1; otherwise returns 0. */
int replacement_parse(const char *s, size_t n, segment *seg, size_t *used);

/* If s[0..n) holds a {= perl expression =} (from a {= to the first =}
 * after it, as GNU parallel reads it), sets *off and *len to where it is
 * and returns 1; otherwise returns 0. */
int template_find_perl(const char *s, size_t n, size_t *off, size_t *len);

/* --header: appends s with each {name}, {name.}, {name/}, {name//} and
 * {name/.} of a column name turned into the column's number ({2}, {2.}
 * ...), names[i] being column i+1.  Returns 0 or -1 (out of memory). */
int template_name_columns(const char *s, const strvec *names, strbuf *out);

typedef struct segment_list {
    segment *items;
    size_t len;
    size_t cap;
} segment_list;

/* Splits s[0..n) into text and replacement segments (appended to *out;
 * offsets are relative to s, plus base).  replace is -I's string for all
 * the arguments (NULL: {}); with one, {} and {N} are plain text, as in
 * GNU parallel, and the edits ({.}, {N/}...) keep their meaning.  Returns
 * the number of replacement segments found, or -1 on allocation failure. */
long template_split(const char *s, size_t n, size_t base, const char *replace, segment_list *out);
/* Appends s, growing the list.  0, or -1 when out of memory. */
int segment_list_push(segment_list *l, segment s);
/* Appends a SEG_TEXT segment for bytes [off, off+len); 0 or -1. */
int segment_list_push_text(segment_list *l, size_t off, size_t len);
void segment_list_free(segment_list *l);

#endif
