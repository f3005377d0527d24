/* supervise.h - the process backend's internals: the supervisor of a
 * process pool (supervise.c), the fork server (forkserver.c) and the fault
 * catcher (fault.c).  Worker slots, which the supervisor reads, are the
 * scheduler's (sched.h).
 */
#ifndef MPROC_SUPERVISE_H
#define MPROC_SUPERVISE_H

#include "backend.h"
#include "fault.h"
#include "forkserver.h"

#include <stdint.h>
#include <sys/types.h>

static inline uint64_t mp__now_ns(void)
{
    return (uint64_t)(mp__now() * 1e9);
}

/* Exit status of a worker whose initializer failed (the message is in the
 * control block); any other way of ending is reported as it happened. */
#define MP__EXIT_INIT_FAILED 121

/* supervise.c: the supervisor of a process pool, a thread of the parent.
 * start forks the fork server and the workers and waits until every worker
 * ran its initializer; on failure nothing is left running. */
int mp__supervisor_start(mp__crew *crew);
/* Stops the supervisor: workers are killed (now) or awaited (they were told
 * to shut down), the fork server ends, everything is reaped. */
void mp__supervisor_stop(mp__crew *crew, bool now);
/* In a child forked from the pool's owner: frees that process's copy of
 * the supervisor's memory and closes its copies of the descriptors.  The
 * supervisor thread, the fork server and the workers are the owner's and
 * are left alone. */
void mp__supervisor_forget(mp__crew *crew);
/* Wakes the supervisor to look at the workers now (a cancel, a timeout). */
void mp__supervisor_kick(mp__crew *crew);

#endif
