/* task.c - what a running task can ask about itself. */
#include "pool.h"

#include <stdio.h>

const void *mp_task_context(const mp_task *task)
{
    return task ? task->job->ctx : NULL;
}

size_t mp_task_context_size(const mp_task *task)
{
    return task ? task->job->ctx_size : 0;
}

size_t mp_task_index(const mp_task *task)
{
    return task ? task->index : 0;
}

int mp_task_worker(const mp_task *task)
{
    return task ? task->worker : -1;
}

int mp_task_fail(mp_task *task, int code, const char *fmt, ...)
{
    if (code == 0)
        code = MP_ETASK;
    if (!task)
        return code;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(task->message, sizeof task->message, fmt, ap);
        va_end(ap);
        task->has_message = true;
    }
    return code;
}

int mp_task_cancelled(const mp_task *task)
{
    if (!task || !task->job)
        return 0;
    if (atomic_load_explicit(&task->job->cancelled, memory_order_relaxed))
        return 1;
    return task->deadline > 0 && mp__now() > task->deadline;
}
