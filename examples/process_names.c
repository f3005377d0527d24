/* process_names.c - start functions in child processes, each with a name,
 * and join them (Python's Process(target=f, args=('bob',)), start(), join()
 * and current_process().name; then five named processes that each "say" a
 * random number after a little work).
 *
 * A child gets a copy of its argument blob and sees the parent's memory as
 * it was at the start; the function's return value is its exit code.  The
 * lines of the five come out in the order they finish, not their order.
 */
#include "example.h"

#include <stdlib.h>

static int f(void *arg, size_t size)
{
    (void)size;
    printf("hello %s\n", (const char *)arg);
    return 0;
}

/* Prints a random number from 1 to 50 along with the process's name.  Each
 * child seeds a generator of its own from its pid, so the five draw
 * different numbers. */
static int generate_random_number(void *arg, size_t size)
{
    (void)arg, (void)size;
    pause_for(0.2); /* a long-running computation */
    unsigned seed = (unsigned)mp_process_current_pid();
    printf("%s (pid %d) says %d\n", mp_process_current_name(), mp_process_current_pid(), rand_r(&seed) % 50 + 1);
    return 0;
}

int main(void)
{
    mp_process *p;
    const char bob[] = "bob";
    check(mp_process_start(&p, NULL, f, bob, sizeof bob, 0));
    check(mp_process_join(p, MP_FOREVER)); /* wait for the child to finish */
    check(mp_process_close(p));

    enum { N = 5 };
    mp_process *processes[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "process %d", i);
        check(mp_process_start(&processes[i], name, generate_random_number, NULL, 0, 0));
    }
    for (int i = 0; i < N; i++) {
        int code;
        check(mp_process_join(processes[i], MP_FOREVER)); /* reap every child */
        check(mp_process_exitcode(processes[i], &code));
        printf("%s exited with %d\n", mp_process_name(processes[i]), code);
        check(mp_process_close(processes[i]));
    }
    printf("%s is done\n", mp_process_current_name());
    return 0;
}
