/* process_names.c - start functions in child processes, each with a name,
 * and collect their exit codes (Python's Process and current_process()).
 *
 * Each child gets a copy of its argument blob and sees the parent's memory
 * as it was at the start; the function's return value is its exit code.
 */
#include <mproc.h>

#include <stdio.h>

typedef struct greeting {
    int number;
    char text[32];
} greeting;

static int say_hello(void *arg, size_t size)
{
    (void)size;
    const greeting *g = arg;
    printf("%s (pid %d): %s, I am number %d\n", mp_process_current_name(), mp_process_current_pid(), g->text,
           g->number);
    return g->number; /* becomes the exit code */
}

int main(void)
{
    mp_process *children[3];
    for (int i = 0; i < 3; i++) {
        greeting g = {i, "hello"};
        char name[32];
        snprintf(name, sizeof name, "greeter-%d", i);
        if (mp_process_start(&children[i], name, say_hello, &g, sizeof g, 0) != 0) {
            fprintf(stderr, "start: %s\n", mp_last_error());
            return 1;
        }
    }
    for (int i = 0; i < 3; i++) {
        int code;
        mp_process_join(children[i], MP_FOREVER); /* reap every child */
        mp_process_exitcode(children[i], &code);
        printf("%s exited with %d\n", mp_process_name(children[i]), code);
        mp_process_close(children[i]);
    }
    printf("%s is done\n", mp_process_current_name());
    return 0;
}
