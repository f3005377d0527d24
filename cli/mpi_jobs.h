/* mpi_jobs.h - `mproc run` under mpirun: the jobs spread over the ranks.
 *
 * Every rank runs `mproc run` with the same arguments.  Rank 0 is the
 * runner of a one-machine run (runner.c): it reads the input, composes
 * the jobs, orders and tags their output, keeps the job log and decides
 * the exit status.  Its job slots are its own -j followed by each other
 * rank's -j; a job in one of those slots is sent, composed, to that rank,
 * which starts it as a local job is started (job_spawn) and sends back its
 * output, status and times.  Compiled only when MPI is found. */
#ifndef MPROC_CLI_MPI_JOBS_H
#define MPROC_CLI_MPI_JOBS_H

#include "options.h"

/* Whether this process was started by mpirun (or another MPI launcher). */
int mpi_jobs_wanted(void);

/* Whether this process is a rank other than 0 of such a run, as the
 * launcher's variables say (before MPI is joined): rank 0 alone reports
 * what every rank finds wrong with the same arguments. */
int mpi_jobs_serving(void);

/* Joins the MPI job and runs o over its ranks: on rank 0 returns the
 * run's exit status (and *signo as run_jobs does); on the other ranks
 * serves jobs until rank 0's run ends, then returns 0.  With one rank the
 * run is a local one.  Options the ranks cannot share (-u, --line-buffer,
 * --pipe, --pipepart) are refused with a message on rank 0. */
int mpi_jobs_run(run_options *o, int *signo);

#endif
