/* fault.h - naming the fault a process worker died of (fault.c). */
#ifndef MPROC_FAULT_H
#define MPROC_FAULT_H

#include "sched.h"

/* A process worker's SIGSEGV and SIGBUS are caught (on an
 * alternate stack) just long enough to store the faulting address in its
 * slot; then the worker dies of the signal as before.  Call in the worker,
 * before any task runs. */
void mp__fault_watch(mp__wslot *ws);
/* For the supervisor, after the worker died with wait `status`: appends to
 * buf (whose string is `used` bytes long) where it faulted and the likely
 * cause -- "address 0x... is not mapped in the worker: memory allocated after
 * the pool opened ..." -- or nothing when it did not die of a recorded fault. */
void mp__fault_explain(const mp__wslot *ws, int status, char *buf, size_t len, size_t used);

#endif
