/* task.c - what a running task can ask about itself. */
#include "sched.h"
#include "shm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Grows the task's result buffer to hold `need` bytes.  Arena memory, so a
 * process worker's result reaches the caller without another copy. */
static int reserve(mp_task *task, size_t need)
{
    if (need <= task->var_cap)
        return 0;
    size_t cap = task->var_cap ? task->var_cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    void *bigger;
    int r = mp__shm_alloc(cap, false, &bigger);
    if (r)
        return r;
    if (task->var.size)
        memcpy(bigger, task->var.data, task->var.size);
    mp_shm_free(task->var.data);
    task->var.data = bigger;
    task->var_cap = cap;
    return 0;
}

int mp_task_write(mp_task *task, const void *data, size_t size)
{
    if (!task)
        return mp__error(MP_EINVAL, "mp_task_write: task is NULL");
    if (!data && size)
        return mp__error(MP_EINVAL, "mp_task_write: data is NULL");
    if (!task->job->varout)
        return mp__error(MP_EINVAL, "mp_task_write: this call collects no variable-size results "
                                    "(set mp_call.results, use mp_future_bytes, or imap's collect_bytes)");
    if (size > SIZE_MAX - task->var.size)
        return mp__error(MP_ENOMEM, "mp_task_write: result too large");
    int r = reserve(task, task->var.size + size);
    if (r)
        return r;
    if (size)
        memcpy((char *)task->var.data + task->var.size, data, size);
    task->var.size += size;
    return 0;
}

int mp_task_printf(mp_task *task, const char *fmt, ...)
{
    if (!task || !fmt)
        return mp__error(MP_EINVAL, "mp_task_printf: %s is NULL", task ? "fmt" : "task");
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return mp__error(MP_EINVAL, "mp_task_printf: bad format");
    if ((size_t)n < sizeof small)
        return mp_task_write(task, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return mp__error(MP_ENOMEM, "mp_task_printf: out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = mp_task_write(task, big, (size_t)n);
    free(big);
    return r;
}

void mp_bytes_free(mp_bytes *bytes)
{
    if (!bytes)
        return;
    mp_shm_free(bytes->data);
    bytes->data = NULL;
    bytes->size = 0;
}

int mp_task_cancelled(const mp_task *task)
{
    if (!task || !task->job)
        return 0;
    if (atomic_load_explicit(&task->job->cancelled, memory_order_relaxed))
        return 1;
    return task->deadline > 0 && mp__now() > task->deadline;
}

/* Derives the generator the first time the running task asks (see
 * pool.h): a task is named by its job slot, the slot's publish sequence
 * number and its index, so a generator left over from an earlier task of
 * this worker is never mistaken for the current one. */
mp_rng *mp_task_rng(mp_task *task)
{
    if (!task || !task->job) {
        mp__error(MP_EINVAL, "mp_task_rng: task is NULL");
        return NULL;
    }
    const mp__job *job = task->job;
    uint64_t seq = atomic_load_explicit(&job->seq, memory_order_relaxed);
    if (task->rng_job != job || task->rng_seq != seq || task->rng_index != task->index) {
        mp_rng_init(&task->rng, job->rng_seed, job->rng_stream + task->index);
        task->rng_job = job;
        task->rng_seq = seq;
        task->rng_index = task->index;
    }
    return &task->rng;
}
