/* standup.c - three different functions in three processes at once: a
 * stand-up meeting, some work and a coffee break that would take the sum
 * of their times one after the other, and take the longest of them in
 * parallel (the tutorial's standup / work / coffee with Process, start and
 * join).
 *
 * Each process gets its own arguments as a blob (Python's args=(...)) and
 * its function's return value becomes its exit code.  The tutorial's
 * seconds are twentieths of a second here.
 */
#include "example.h"

#define SECOND 0.05

typedef struct repeated {
    char text[64];
    int times;
} repeated;

static int standup(void *arg, size_t size)
{
    (void)size;
    const repeated *r = arg;
    for (int i = 0; i < r->times; i++) {
        printf("%s%d\n", r->text, i);
        fflush(stdout); /* show it now, not when the child exits */
        pause_for(1 * SECOND);
    }
    return 0;
}

static int work(void *arg, size_t size)
{
    (void)size;
    const repeated *r = arg;
    for (int i = 0; i < r->times; i++) {
        printf("%s%d\n", r->text, i);
        fflush(stdout);
        pause_for(1.5 * SECOND);
    }
    return 0;
}

static int coffee(void *arg, size_t size)
{
    (void)arg, (void)size;
    pause_for(10 * SECOND);
    printf("coffee break is done\n");
    return 0;
}

int main(void)
{
    double start = seconds_now();
    repeated updates = { "The update is being given by attendee no. ", 4 };
    repeated task = { "Task being completed is at priority ", 3 };

    mp_process *t[3];
    check(mp_process_start(&t[0], "standup", standup, &updates, sizeof updates, 0));
    check(mp_process_start(&t[1], "work", work, &task, sizeof task, 0));
    check(mp_process_start(&t[2], "coffee", coffee, NULL, 0, 0));
    for (int i = 0; i < 3; i++) {
        check(mp_process_join(t[i], MP_FOREVER)); /* wait until process i is finished */
        check(mp_process_close(t[i]));
    }
    printf("It's time to go home\n");
    printf("time required = %.2f s (one after the other: %.2f s)\n", seconds_now() - start,
           (4 * 1 + 3 * 1.5 + 10) * SECOND);
    return 0;
}
