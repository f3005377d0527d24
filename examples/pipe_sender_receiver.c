/* pipe_sender_receiver.c - a sender and a receiver talking over a pipe.
 *
 * The parent makes the pipe, starts a child that uses end `b`, and keeps
 * end `a`.  Messages arrive whole and in order, whatever their size.  When
 * the child closes its end (or dies), the parent's receive returns MP_EEOF
 * once everything sent has been read: no hang.
 */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ends {
    mp_pipe *a, *b;
} ends;

static int sender(void *arg, size_t size)
{
    (void)size;
    mp_pipe *b = ((ends *)arg)->b;
    const char *lines[] = {"hello", "from the", "other process"};
    for (int i = 0; i < 3; i++)
        mp_pipe_send(b, lines[i], strlen(lines[i]) + 1, MP_FOREVER);
    mp_pipe_close(b); /* the receiver sees end-of-file next */
    return 0;
}

int main(void)
{
    ends e;
    if (mp_pipe_create(&e.a, &e.b, 0, 0) != 0) {
        fprintf(stderr, "pipe: %s\n", mp_last_error());
        return 1;
    }
    mp_process *child;
    if (mp_process_start(&child, "sender", sender, &e, sizeof e, 0) != 0)
        return 1;
    for (;;) {
        void *msg;
        size_t size;
        int r = mp_pipe_recv_alloc(e.a, &msg, &size, 10.0);
        if (r == MP_EEOF)
            break;
        if (r != 0) {
            fprintf(stderr, "recv: %s\n", mp_last_error());
            break;
        }
        printf("received %zu bytes: %s\n", size, (char *)msg);
        free(msg);
    }
    mp_process_join(child, MP_FOREVER);
    mp_process_close(child);
    mp_pipe_close(e.a); /* both ends closed: the pipe's memory is freed */
    return 0;
}
