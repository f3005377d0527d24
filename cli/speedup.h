/* speedup.h - `mproc speedup`: runs a command at several worker counts,
 * prints the speedup table, fits Amdahl's, Gustafson's and Gunther's laws
 * and draws the plot (docs/mproc.1, SPEEDUP). */
#ifndef MPROC_CLI_SPEEDUP_H
#define MPROC_CLI_SPEEDUP_H

#include "strbuf.h"

#define SPEEDUP_MAX_POINTS 64
#define SPEEDUP_MAX_WORKERS 4096
#define SPEEDUP_MAX_RUNS 1000

typedef struct speedup_options {
    long workers[SPEEDUP_MAX_POINTS];   /* ascending, distinct, includes 1 */
    int nworkers;                       /* 0: the default list */
    int runs;                           /* timed runs per worker count */
    const char *svg_path;               /* NULL: no plot */
    const char *json_path;              /* NULL: no JSON */
    char **command;                     /* argv words after --, borrowed */
    int ncommand;
    int show_help;
} speedup_options;

/* Parses the arguments after `speedup`.  Returns 0, or -1 with the reason
 * in err (nothing else to free either way). */
int speedup_options_parse(speedup_options *o, int argc, char **argv, long usable_cpus, strbuf *err);

/* Parses "1,2,4,8" into o->workers (sorted, duplicates dropped).  Returns
 * 0, or -1 with the reason in err. */
int speedup_parse_workers(speedup_options *o, const char *list, strbuf *err);

/* The whole command: exit status 0, 1 (the command failed or a file could
 * not be written) or 2 (usage). */
int speedup_main(int argc, char **argv);

#endif
