/* named_segment.c - share memory by name with another program.
 *
 *   named_segment create NAME     creates NAME, waits for a reader, exits
 *   named_segment read NAME       opens NAME, prints the message, answers
 *   named_segment                 does both (the reader in a child)
 *
 * The creator owns the name and removes it when it closes the segment, so
 * nothing is left in /dev/shm afterwards.  The lock and the event inside
 * the segment are placed there with their mp_X_init forms.
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

typedef struct board {
    mp_lock lock;
    mp_event answered;
    char message[64];
} board;

static int reader(const char *name)
{
    mp_segment *seg;
    if (mp_segment_open(&seg, name, sizeof(board)) != 0) {
        fprintf(stderr, "open: %s\n", mp_last_error());
        return 1;
    }
    board *b = mp_segment_ptr(seg);
    mp_lock_acquire(&b->lock, MP_FOREVER);
    printf("reader got: %s\n", b->message);
    strcpy(b->message, "thanks");
    mp_lock_release(&b->lock);
    mp_event_set(&b->answered);
    return mp_segment_close(seg) == 0 ? 0 : 1; /* only unmaps */
}

static int reader_process(void *arg, size_t size)
{
    (void)size;
    return reader(arg);
}

static int creator(const char *name, int with_child)
{
    mp_segment *seg;
    if (mp_segment_create(&seg, name, sizeof(board), 0) != 0) {
        fprintf(stderr, "create: %s\n", mp_last_error());
        return 1;
    }
    board *b = mp_segment_ptr(seg);
    mp_lock_init(&b->lock);
    mp_event_init(&b->answered);
    strcpy(b->message, "hello through /dev/shm");
    mp_process *child = NULL;
    if (with_child)
        mp_process_start(&child, "reader", reader_process, name, strlen(name) + 1, 0);
    else
        printf("run: named_segment read %s\n", name);
    if (mp_event_wait(&b->answered, 60.0) == 0)
        printf("creator got: %s\n", b->message);
    if (child) {
        mp_process_join(child, MP_FOREVER);
        mp_process_close(child);
    }
    return mp_segment_close(seg) == 0 ? 0 : 1; /* the creator unlinks */
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "create"))
        return creator(argv[2], 0);
    if (argc == 3 && !strcmp(argv[1], "read"))
        return reader(argv[2]);
    char name[64];
    snprintf(name, sizeof name, "mproc-example-%d", mp_process_current_pid());
    return creator(name, 1);
}
