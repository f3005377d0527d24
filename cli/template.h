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
    SEG_SLOT,       /* {%}, and {slot} with --plus */
    SEG_TOTAL,      /* --plus {##}: the number of jobs */
    SEG_SEQ_PAD,    /* --plus {0#}: {#} padded with zeros to the width of {##} */
    SEG_SLOT_PAD    /* --plus {0%}: {%} padded to the width of the slot count */
} segment_kind;

/* --plus's edits of a value, after bash's ${...} (patterns are extended
 * regular expressions). */
typedef enum plus_op {
    PLUS_NONE,
    PLUS_DEFAULT,       /* {:-text}   text when the value is "" or "0" */
    PLUS_SUBSTR,        /* {:n} {:n:m} from byte n (m bytes) */
    PLUS_CUT_HEAD,      /* {#pat}     without the shortest head pat matches */
    PLUS_CUT_HEAD_LONG, /* {##pat}    without the longest */
    PLUS_CUT_TAIL,      /* {%pat}     without the shortest tail */
    PLUS_CUT_TAIL_LONG, /* {%%pat}    without the longest */
    PLUS_SUB,           /* {/pat/rep} the first match replaced */
    PLUS_SUB_HEAD,      /* {/#pat/rep} a match at the start */
    PLUS_SUB_TAIL,      /* {/%pat/rep} a match at the end */
    PLUS_SUB_ALL,       /* {//pat/rep} every match */
    PLUS_UPPER,         /* {^pat}     a match at the start in upper case */
    PLUS_UPPER_ALL,     /* {^^pat}    every match */
    PLUS_LOWER,         /* {,pat} */
    PLUS_LOWER_ALL      /* {,,pat} */
} plus_op;

typedef struct segment {
    segment_kind kind;
    path_edit edit;
    size_t pos;     /* SEG_ARG: 1-based argument number */
    int from_end;   /* SEG_ARG: pos counts from the last argument ({-N}) */
    size_t off;     /* SEG_TEXT: offset into the parsed text */
    size_t len;     /* SEG_TEXT: length */
    shell_context ctx; /* replacements: the shell quoting the value lands in */
    unsigned char op;  /* plus_op */
    size_t pat_off, pat_len; /* --plus: the pattern or text, in the parsed text */
    size_t rep_off, rep_len; /* --plus: the replacement */
    size_t from, count;      /* PLUS_SUBSTR; count SIZE_MAX = to the end */
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
/* As template_split; plus: GNU parallel's --plus replacement strings
 * ({+/} {..} {##} {:-text} {#pat} {/pat/rep} ...) are recognised too. */
long template_split_plus(const char *s, size_t n, size_t base, const char *replace, int plus, segment_list *out);
/* As replacement_parse, with --plus's strings when plus is set; a
 * pattern's offsets are relative to s. */
int replacement_parse_plus(const char *s, size_t n, int plus, segment *seg, size_t *used);
/* Appends s, growing the list.  0, or -1 when out of memory. */
int segment_list_push(segment_list *l, segment s);
/* Appends a SEG_TEXT segment for bytes [off, off+len); 0 or -1. */
int segment_list_push_text(segment_list *l, size_t off, size_t len);
void segment_list_free(segment_list *l);

#endif
