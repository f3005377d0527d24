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

#endif
