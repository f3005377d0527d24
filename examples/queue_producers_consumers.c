/* queue_producers_consumers.c - producers and consumers over one queue.
 *
 * Two producer processes put numbered jobs; three consumer processes take
 * them and add up what they got in a shared value.  When the producers are
 * done the parent closes the queue: consumers drain what is left, then get
 * MP_ECLOSED and stop.  No feeder thread, no pickling: messages are copied
 * straight into and out of shared memory.
 */
#include <mproc.h>

#include <stdio.h>

#define PRODUCERS 2
#define CONSUMERS 3
#define JOBS 1000

typedef struct shared_state {
    mp_queue *jobs;
    mp_value *total;
} shared_state;

static int produce(void *arg, size_t size)
{
    (void)size;
    shared_state *s = arg;
    for (int64_t i = 1; i <= JOBS; i++)
        if (mp_queue_put(s->jobs, &i, sizeof i, MP_FOREVER) != 0)
            return 1;
    return 0;
}

static int consume(void *arg, size_t size)
{
    (void)size;
    shared_state *s = arg;
    int64_t job, handled = 0;
    size_t n;
    while (mp_queue_get(s->jobs, &job, sizeof job, &n, MP_FOREVER) == 0) {
        mp_value_add_i64(s->total, job, NULL); /* atomic: no lock needed */
        handled++;
    }
    printf("%s handled %lld jobs\n", mp_process_current_name(), (long long)handled);
    return 0;
}

int main(void)
{
    shared_state s;
    if (mp_queue_create(&s.jobs, 100, 0) != 0 || mp_value_create(&s.total, sizeof(int64_t), NULL, 0) != 0) {
        fprintf(stderr, "%s\n", mp_last_error());
        return 1;
    }
    mp_process *p[PRODUCERS], *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        mp_process_start(&c[i], NULL, consume, &s, sizeof s, 0);
    for (int i = 0; i < PRODUCERS; i++)
        mp_process_start(&p[i], NULL, produce, &s, sizeof s, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        mp_process_join(p[i], MP_FOREVER);
        mp_process_close(p[i]);
    }
    mp_queue_close(s.jobs); /* consumers finish what is queued, then stop */
    for (int i = 0; i < CONSUMERS; i++) {
        mp_process_join(c[i], MP_FOREVER);
        mp_process_close(c[i]);
    }
    int64_t total;
    mp_value_get_i64(s.total, &total);
    printf("total %lld (expected %lld)\n", (long long)total, (long long)PRODUCERS * JOBS * (JOBS + 1) / 2);
    mp_queue_destroy(s.jobs);
    mp_value_destroy(s.total);
    return 0;
}
