/* shm.h - the shared arena's internal interface (see shm.c). */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stdbool.h>
#include <stddef.h>

/* Reserves the arena if this process tree has none yet.  Pools call it
 * before forking workers so that every worker inherits the mapping. */
int mp__arena_init(void);
/* mp_shm_alloc without argument checks; `zero` false skips clearing the
 * payload (for staging buffers that are overwritten at once). */
int mp__shm_alloc(size_t size, bool zero, void **out);
/* Bytes currently allocated (headers included), for tests and statistics. */
size_t mp__shm_in_use(void);
/* Ends a process the library forked (a worker, the fork server, an
 * mp_process child) with _exit(code).  Under valgrind it first hides the
 * arena from the exit-time leak check: the arena is the tree's, not the
 * child's, and scanning its whole reservation in every child that ends
 * costs seconds per pool. */
_Noreturn void mp__child_exit(int code);

#endif
