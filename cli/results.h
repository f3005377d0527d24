/* results.h - --results: each job's output stored as GNU parallel does.
 *
 *   --results DIR         DIR/1/<arg1>/2/<arg2>/{seq,stdout,stderr}
 *   --results out_{1}/    with replacement strings: that directory,
 *   --results out_{1}     ... or the files out_a, out_a.err, out_a.seq
 *   --results F.csv       one table: a row per job (also .tsv, .json;
 *                         -.csv and the like write it on standard output) */
#ifndef MPROC_CLI_RESULTS_H
#define MPROC_CLI_RESULTS_H

#include <stddef.h>

#include "strbuf.h"

typedef enum results_format { RESULTS_FILES, RESULTS_CSV, RESULTS_TSV, RESULTS_JSON } results_format;

/* The format a --results name asks for, from its suffix (any case). */
results_format results_format_of(const char *name);

/* Whether the name is -.csv, -.tsv or -.json: the table goes to standard
 * output, instead of the jobs' output. */
int results_to_stdout(const char *name);

/* Returns 0, or -1 with a message in *err.  An argument too long to be a
 * directory name is shortened to the longest one the file system takes
 * (found as GNU parallel finds it). */
int results_store(const char *dir, char *const *args, size_t nargs, unsigned long seq,
                  const strbuf *out, const strbuf *errout, strbuf *err);

/* Stores at a path rendered from a --results name with replacement
 * strings: files in path/ when it ends in a slash, else path, path.err
 * and path.seq (directories made as needed).  0, or -1 with a message. */
int results_store_at(const char *path, unsigned long seq, const strbuf *out, const strbuf *errout, strbuf *err);

typedef struct results_table {
    int fd;                 /* -1: none */
    int owns_fd;
    results_format format;
    int header_done;
} results_table;

/* One job, as a row of the table. */
typedef struct results_row {
    unsigned long seq;
    double start, runtime;
    size_t receive;
    int exitval, sig;
    const char *cmd;
    char *const *args;
    size_t nargs;
    const strvec *names;    /* --header's column names, or NULL: V1, V2... */
    const strbuf *out, *err;
} results_row;

int results_table_open(results_table *t, const char *name, strbuf *err);
/* Writes the row (after the header line, for the first one of a CSV or
 * TSV table).  0 or -1. */
int results_table_write(results_table *t, const results_row *row);
void results_table_close(results_table *t);

#endif
