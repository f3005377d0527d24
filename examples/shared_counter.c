/* shared_counter.c - a counter in shared memory, incremented by four
 * processes: first without a lock (updates get lost: the total comes out
 * short), then with the value's lock (always exact).
 *
 * ++*counter is a load, an add and a store; two processes interleaving
 * them both store the same result and one increment vanishes.
 *
 *   usage: shared_counter [rounds]    increments per process (default 3000000)
 */
#include "example.h"

#define WORKERS 4

static mp_barrier *start; /* made before the children: they inherit it */
static long rounds;       /* set before the children too */

static int increment(void *arg, size_t size)
{
    mp_value *counter = *(mp_value **)arg;
    int use_lock = size == sizeof(mp_value *) + 1;
    volatile long *c = mp_value_ptr(counter);
    mp_barrier_wait(start, MP_FOREVER, NULL); /* all start at once */
    for (long i = 0; i < rounds; i++) {
        if (use_lock)
            mp_value_lock(counter, MP_FOREVER);
        *c = *c + 1;
        if (use_lock)
            mp_value_unlock(counter);
    }
    return 0;
}

static long run(int use_lock)
{
    mp_value *counter;
    mp_value_create(&counter, sizeof(long), NULL, 0);
    /* The argument blob: the handle, plus one byte saying "lock". */
    char arg[sizeof counter + 1];
    *(mp_value **)(void *)arg = counter;
    mp_process *p[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        mp_process_start(&p[i], NULL, increment, arg, sizeof counter + (size_t)use_lock, 0);
    for (int i = 0; i < WORKERS; i++) {
        mp_process_join(p[i], MP_FOREVER);
        mp_process_close(p[i]);
    }
    long total;
    mp_value_get(counter, &total);
    mp_value_destroy(counter);
    return total;
}

int main(int argc, char **argv)
{
    rounds = count_arg(argc, argv, 1, 3000000);
    mp_barrier_create(&start, WORKERS);
    printf("expected:     %ld\n", WORKERS * rounds);
    printf("without lock: %ld\n", run(0));
    printf("with lock:    %ld\n", run(1));
    mp_barrier_destroy(start);
    return 0;
}
