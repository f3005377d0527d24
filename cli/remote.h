/* remote.h - job slots that run their jobs somewhere else.
 *
 * The runner's seam for `mproc run` under mpirun (mpi_jobs.c): the slots
 * after the local ones belong to a remote host.  A job started there has
 * no process of ours (pid -1, no descriptors); its host signals it (the
 * job_host in job.h), and its end is an event the runner takes by calling
 * collect, no later than wait_ms after the last look.  The runner knows
 * nothing of how the host reaches its jobs. */
#ifndef MPROC_CLI_REMOTE_H
#define MPROC_CLI_REMOTE_H

#include "command.h"
#include "job.h"
#include "strbuf.h"

typedef struct remote_host {
    job_host host;              /* signals the jobs it started */
    long slots;                 /* job slots it offers, after the local ones */

    /* Starts the prepared job j (job_prepare) in remote slot i (0 <= i <
     * slots, free): sets its host, start times and state.  Returns 0, or
     * -1 with a message in *err. */
    int (*start)(struct remote_host *h, job *j, long i, command *cmd, const char *shell, strbuf *err);

    /* Takes what came back from jobs that ended: their output (after what
     * j->out held), exit value, signal, start time and run time; marks
     * them reaped.  Returns 0, or -1 with a message in *err when a job
     * could not be run there (that job is marked reaped and discarded). */
    int (*collect)(struct remote_host *h, strbuf *err);

    /* How long the runner may wait before calling collect again, in
     * milliseconds; -1 while no job runs there. */
    int (*wait_ms)(struct remote_host *h);
} remote_host;

#endif
