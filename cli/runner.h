/* runner.h - `mproc run`: reads the input, runs the jobs, prints their
 * output and returns GNU parallel's exit status. */
#ifndef MPROC_CLI_RUNNER_H
#define MPROC_CLI_RUNNER_H

#include <signal.h>

#include "options.h"
#include "remote.h"

/* Exit statuses besides the count of failed jobs. */
#define RUN_EXIT_MANY_FAILED 101
#define RUN_EXIT_ERROR 255

/* Runs the jobs the options describe: here, and in the remote host's
 * slots when remote is not NULL.  Returns the exit status; when the run
 * was interrupted by a signal, *signo is set to it (the caller should
 * re-raise it after cleanup), otherwise to 0. */
int run_jobs(run_options *o, remote_host *remote, int *signo);

/* The job slots of this machine: -j (or its file) against the usable
 * CPUs, within what the descriptor limit allows.  -1 when -j's file
 * cannot be read or parsed (said on standard error). */
long run_slots(run_options *o);

/* The signals the runner reads from a signalfd and keeps blocked while
 * it runs.  A thread started before the run must block them too, or it
 * takes them from the signalfd. */
void run_signal_set(sigset_t *set);

/* Prints `mproc run` usage. */
void run_usage(int fd);

#endif
