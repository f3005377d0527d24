/* command.h - turning the command template and a job's arguments into
 * what is run.
 *
 * Every job has a shell form: the template's shell text with each value
 * quoted for the place it lands in (outside quotes, inside '...', "...",
 * $'...', `...` and so on: see shellctx.h), so that the shell reads it as
 * literal data.  Where GNU parallel is safe the text is the same as the
 * one it would hand to the shell.  It is what --dry-run prints and what
 * the job log records.  When that text
 * needs no shell (plain words, a program found on PATH, no builtin), the
 * job also has an argv form and is exec'd directly: same result, without
 * the cost of starting a shell. */
#ifndef MPROC_CLI_COMMAND_H
#define MPROC_CLI_COMMAND_H

#include "strbuf.h"
#include "template.h"

typedef struct command {
    int empty;          /* no command words: each input is the command */
    int quote;          /* -q: every word is literal */
    int has_repl;       /* any replacement string: arguments are not appended */
    int fast;           /* the template itself allows direct exec */
    strbuf text;        /* the template text segments point into */
    segment_list segs;  /* replacements carry their shell_context */
    shell_context tail; /* where appended arguments land */
    size_t *seg_word;   /* -q: the word each segment belongs to */
    size_t *seg_group;  /* -X: the blank-delimited word of each segment, or NULL */
    strbuf cache_name;  /* last program name looked up on PATH */
    strbuf cache_path;  /* ... and where it was found ("" if nowhere) */
    unsigned long total; /* --plus {##}: the number of jobs (set by the caller) */
    unsigned long slots; /* --plus {0%}: the number of job slots (set by the caller) */
} command;

typedef struct job_values {
    char **args;        /* the job's arguments */
    size_t nargs;
    unsigned long seq;  /* {#} */
    unsigned long slot; /* {%} */
    const size_t *only; /* -X: {} stands for this one argument; NULL: all of them */
} job_values;

/* Compiles the command words (quote: -q, every word is literal; replace:
 * -I's string for {}, NULL for none: see template_split).  Returns
 * 0, or -1 with a message in *err: out of memory, a {= perl expression =},
 * or a replacement string at a place no quoting makes safe (after a $,
 * after a here-document...).  c is always safe to command_free. */
int command_compile(command *c, char **words, size_t nwords, int quote, const char *replace, strbuf *err);
/* As command_compile; plus: --plus's replacement strings too. */
int command_compile_plus(command *c, char **words, size_t nwords, int quote, const char *replace, int plus,
                         strbuf *err);
void command_free(command *c);

/* Whether the template uses the number of jobs ({##}, {0#}): the caller
 * then reads the input ahead and sets c->total. */
int command_needs_total(const command *c);

/* Context replacement (-X, and -N, -L): a word of the template that holds
 * {} is repeated once per argument, each copy with its own ("x{}y" with a
 * and b gives "xay xby"); {} elsewhere gives all the arguments as before.
 * A word is what lies between blanks outside any quoting, so each copy
 * starts in the quoting the scan gave the original.  Call after
 * command_compile; returns 0, or -1 when out of memory. */
int command_repeat_words(command *c);

/* How much longer the shell form gets when arg is added to a job that
 * has arguments already: what -s measures command lines with. */
size_t command_growth(const command *c, const char *arg);

/* Compiles text as a plain template (--tagstring): replacement strings
 * as in a command, nothing quoted, no shell involved.  0, or -1 when out
 * of memory. */
int command_compile_plain(command *c, const char *text, const char *replace, int plus);

/* Appends a plain template with the job's values, unquoted; 0 or -1. */
int command_plain_text(const command *c, const job_values *v, strbuf *out);

/* Appends the shell form of the job to *out; returns 0 or -1. */
int command_shell_text(const command *c, const job_values *v, strbuf *out);

/* Builds the argv form into *argv (cleared first, NULL-terminated) and
 * the program's path into *path.  Returns 1 when the job can be exec'd
 * directly, 0 when it needs the shell, -1 on allocation failure. */
int command_argv(command *c, const job_values *v, strvec *argv, strbuf *path);

/* Finds an executable regular file for name on PATH (name itself when it
 * contains a slash).  Returns 0 and fills *path, or -1. */
int find_program(const char *name, strbuf *path);

#endif
