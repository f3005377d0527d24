/* backend_process.c - workers are processes, forked when the pool opens.
 *
 * Workers share the control block through the shared arena, which exists
 * before any of them is forked, and see the caller's memory only as it was
 * then: the front end stages call data in the arena.  They are forked by
 * the pool's fork server and watched by its supervisor (supervise.c,
 * forkserver.c): a worker that dies is accounted for and replaced, and a
 * waiting caller only has to ask whether the pool was broken (a
 * replacement that could not start). */
#include "supervise.h"

const mp__backend_ops mp__process_backend = {
    .name = "process",
    .memory = MP__MEMORY_STAGED,
    .supervised = true,
    .futex_shared = true,
    .stops_running_tasks = true,
    .start = mp__supervisor_start,
    .check = mp__crew_broken,
    .stop = mp__supervisor_stop,
    .forget = mp__supervisor_forget,
    .publish = mp__crew_publish_in_place,
    .feed = mp__crew_feed_in_place,
    .watch = mp__supervisor_kick,
};
