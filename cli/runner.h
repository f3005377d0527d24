/* runner.h - `mproc run`: reads the input, runs the jobs, prints their
 * output and returns GNU parallel's exit status. */
#ifndef MPROC_CLI_RUNNER_H
#define MPROC_CLI_RUNNER_H

#include "options.h"

/* Exit statuses besides the count of failed jobs. */
#define RUN_EXIT_MANY_FAILED 101
#define RUN_EXIT_ERROR 255

/* Runs the jobs the options describe.  Returns the exit status; when the
 * run was interrupted by a signal, *signo is set to it (the caller should
 * re-raise it after cleanup), otherwise to 0. */
int run_jobs(run_options *o, int *signo);

/* Prints `mproc run` usage. */
void run_usage(int fd);

#endif
