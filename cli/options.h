/* options.h - the options of `mproc run`, parsed without side effects.
 *
 * Parsing only reads argv: it opens no file and starts nothing, so a bad
 * command line is reported before any job runs (and the parser can be
 * fuzzed). */
#ifndef MPROC_CLI_OPTIONS_H
#define MPROC_CLI_OPTIONS_H

#include <limits.h>
#include <stddef.h>

#include "strbuf.h"
#include "termseq.h"

typedef enum source_kind {
    SOURCE_ARGS,    /* ::: a b c */
    SOURCE_FILE     /* :::: file  ("-" is standard input) */
} source_kind;

typedef struct source_spec {
    source_kind kind;
    char **args;        /* SOURCE_ARGS: points into argv */
    size_t nargs;
    const char *path;   /* SOURCE_FILE */
    int linked;         /* :::+ / ::::+ : paired with the previous source */
} source_spec;

typedef enum halt_when { HALT_NEVER, HALT_SOON, HALT_NOW } halt_when;
typedef enum halt_why { HALT_FAIL, HALT_SUCCESS, HALT_DONE } halt_why;

typedef struct halt_spec {
    halt_when when;
    halt_why why;
    double value;       /* a count, or a percentage when percent is set */
    int percent;
} halt_spec;

/* --retries 0: as GNU parallel documents it, a failing job is retried
 * until it succeeds. */
#define RETRIES_FOREVER LONG_MAX

/* How the number of job slots was asked for. */
typedef enum jobs_kind { JOBS_CPUS, JOBS_ABS, JOBS_PLUS, JOBS_MINUS, JOBS_PERCENT, JOBS_UNLIMITED } jobs_kind;

/* --trim: which ends of each input lose their blanks. */
typedef enum trim_mode { TRIM_DEFAULT, TRIM_NONE, TRIM_LEFT, TRIM_RIGHT, TRIM_BOTH } trim_mode;

typedef struct run_options {
    jobs_kind jobs_kind;
    double jobs_value;
    const char *jobs_file;      /* -j FILE: the value is read from FILE (NULL: none) */
    int keep_order;
    int tag;
    int line_buffer;
    int ungroup;
    int dry_run;
    int verbose;                /* -v: print each command on stdout, before its output */
    int trace;                  /* -t, --verbose: print each command on stderr as it starts */
    int quote;
    const char *replace;        /* -I: the string that stands for {}; NULL = {} */
    int bar, eta, progress;
    size_t max_args;            /* -n, -N; 0 = one input per job */
    int no_args;                /* -n0, -N0: one input per job, given no arguments */
    int args_given;             /* -n or -N was given (it wins over -L, -l) */
    int replace_args;           /* -N was given */
    int xargs;                  /* -m, --xargs: as many arguments as fit */
    int spread;                 /* -m, -X: the last line is spread over the slots (not --xargs) */
    int context;                /* -X: as many as fit, repeating the words around {} */
    int context_replace;        /* words around {} are repeated: -X, -N, -L without -m */
    size_t max_chars;           /* -s: the longest command line; 0 = the system's */
    size_t max_lines;           /* -L, -l: input lines per job; 0 = not given */
    int lines_context;          /* -L was given (-l repeats no words) */
    const char *eof_str;        /* -E, -e: a record equal to it ends its source */
    int skip_blank;             /* -r: records of only blanks are skipped */
    const char *colsep;         /* NULL = no column splitting */
    strbuf delimiter;           /* -d, -0: ends each input record; empty = newline */
    int null;                   /* -0 (a -d given too wins, as in GNU parallel) */
    const char *joblog;         /* without a leading '+' */
    int joblog_append;          /* +FILE */
    int resume, resume_failed;
    long retries;               /* total attempts (default 1); RETRIES_FOREVER for --retries 0 */
    halt_spec halt;
    double timeout;             /* seconds, or a percentage */
    int timeout_percent;
    const char *results;
    char **cmd;                 /* the command words (points into argv) */
    size_t ncmd;
    source_spec *sources;       /* heap array, owned */
    size_t nsources;
    const char *tagstring;      /* --tagstring, --ctagstring: the tag, with replacement strings */
    int color;                  /* --ctag, --ctagstring: tagged lines are coloured */
    trim_mode trim;             /* --trim; TRIM_DEFAULT: both with --colsep, none without */
    int shuf;                   /* --shuf: jobs in random order */
    double delay;               /* --delay: seconds between job starts */
    const char *slot_var;       /* --process-slot-var NAME */
    term_seq termseq;           /* --termseq; steps 0 = GNU parallel's default */
    const char *header;         /* --header: the first value of each source names its columns */
    int link;                   /* --link, --xapply: every source is linked */
    int plus;                   /* --plus: more replacement strings */
    int show_help, show_version;
    /* --pipe, --pipepart: blocks of input handed to the jobs */
    int pipe;                   /* blocks of standard input (or of -a's file) */
    int pipepart;               /* parts of the -a / :::: file, read in place */
    long long block;            /* --block bytes; negative: parts per job slot; 0 = default */
    const char *recstart;       /* NULL = not given */
    const char *recend;         /* NULL = not given */
    int cat;                    /* --cat: the block in a temporary file, named by {} */
    int fifo;                   /* --fifo: the block in a named pipe, named by {} */
} run_options;

/* Parses argv[0..argc) (the words after "run").  Returns 0, or -1 with a
 * message naming the problem in *err. */
int run_options_parse(run_options *o, int argc, char **argv, strbuf *err);
void run_options_free(run_options *o);

/* Value parsers, exposed for testing. */
int parse_jobs(const char *s, jobs_kind *kind, double *value);
int parse_halt(const char *s, halt_spec *h);
int parse_duration(const char *s, double *seconds, int *percent);
/* Decodes a -d delimiter as GNU parallel does: \t \n \r, \NNN (three
 * octal digits) and \N (one octal digit, \0 is NUL) stand for their
 * bytes; anything else is literal.  Fills *out (cleared first); -1 when
 * the result is empty or out of memory. */
int parse_delimiter(const char *s, strbuf *out);

/* Parses a --termseq sequence: signal names (TERM, SIGTERM) or numbers,
 * each followed by milliseconds (the last may go without).  0 or -1. */
int parse_termseq(const char *s, term_seq *out);

/* Parses a --block size: a number (fractions allowed) with an optional
 * multiplier (k m g t p: powers of 1000; K M G T P and ki mi ... Ki Mi
 * ...: powers of 1024), optionally negative (--pipepart: parts per job
 * slot).  Returns 0, or -1 when s is not such a size or is 0. */
int parse_block_size(const char *s, long long *out);

/* Splits $PARALLEL into words as GNU parallel does (perl's shellwords):
 * blanks separate words; a backslash keeps the next byte; '...' is
 * literal but for \\ and \'; "..." keeps what a backslash escapes.
 * Appends the words to *out.  Returns 0, or -1 with a message in *err
 * (an unterminated quote, out of memory). */
int split_shell_words(const char *s, strvec *out, strbuf *err);

/* Whether jobs are filled with as many inputs as fit (-X, -m, -s). */
int run_options_pack(const run_options *o);

/* Resolves the slot count for a machine with ncpu usable CPUs. */
long jobs_resolve(jobs_kind kind, double value, long ncpu);

#endif
