/* event_barrier.c - start workers together with an event, keep them in
 * step with a barrier.
 *
 * The workers wait for the "go" event, then run three phases; nobody starts
 * phase k+1 before everyone has finished phase k, so the output lists every
 * "phase 1" line before any "phase 2" line, however uneven the work.  Both objects live in the
 * shared arena, so they work across processes.
 */
#include <mproc.h>

#include <stdio.h>
#include <unistd.h>

#define WORKERS 3

typedef struct sync_objects {
    mp_event *go;
    mp_barrier *step;
} sync_objects;

static int worker(void *arg, size_t size)
{
    (void)size;
    sync_objects *s = arg;
    mp_event_wait(s->go, MP_FOREVER);
    for (int phase = 1; phase <= 3; phase++) {
        usleep(1000 * (unsigned)(mp_process_current_pid() % 7)); /* uneven work */
        printf("%s finished phase %d\n", mp_process_current_name(), phase);
        fflush(stdout);
        if (mp_barrier_wait(s->step, 10.0, NULL) != 0)
            return 1;
    }
    return 0;
}

int main(void)
{
    sync_objects s;
    mp_event_create(&s.go);
    mp_barrier_create(&s.step, WORKERS);
    mp_process *p[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        mp_process_start(&p[i], NULL, worker, &s, sizeof s, 0);
    printf("all started; go!\n");
    fflush(stdout);
    mp_event_set(s.go);
    for (int i = 0; i < WORKERS; i++) {
        mp_process_join(p[i], MP_FOREVER);
        mp_process_close(p[i]);
    }
    mp_event_destroy(s.go);
    mp_barrier_destroy(s.step);
    return 0;
}
