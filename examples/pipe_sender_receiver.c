/* pipe_sender_receiver.c - two processes talking over a pipe, one way and
 * then both ways (the tutorial's send_message / receive_message over
 * multiprocessing.Pipe(), then Pipe(duplex=True)).
 *
 * Messages arrive whole and in order, whatever their size.  When the
 * sending end is closed (or its process dies), the receiver gets what is
 * still in the pipe, then MP_EEOF: never a hang.  The children report
 * trouble through their exit codes; the parent checks them.
 */
#include "example.h"

#include <string.h>

typedef struct ends {
    mp_pipe *a, *b;
} ends;

static int send_message(void *arg, size_t size)
{
    (void)size;
    mp_pipe *conn = ((ends *)arg)->b;
    const char message[] = "Hello, team!";
    if (mp_pipe_send(conn, message, sizeof message, MP_FOREVER) != 0)
        return 1;
    printf("Sent: %s\n", message);
    return mp_pipe_close(conn) == 0 ? 0 : 1;
}

static int receive_message(void *arg, size_t size)
{
    (void)size;
    mp_pipe *conn = ((ends *)arg)->a;
    char message[64];
    size_t got;
    if (mp_pipe_recv(conn, message, sizeof message, &got, 10.0) != 0)
        return 1;
    printf("Received: %s\n", message);
    /* The sender closed its end: what follows the last message is EOF. */
    if (mp_pipe_recv(conn, message, sizeof message, &got, 10.0) == MP_EEOF)
        printf("Received: end of file\n");
    return mp_pipe_close(conn) == 0 ? 0 : 1;
}

/* The duplex child: answers each question on the same end it came from. */
static int answer(void *arg, size_t size)
{
    (void)size;
    mp_pipe *conn = ((ends *)arg)->b;
    char question[64], reply[96];
    size_t got;
    while (mp_pipe_recv(conn, question, sizeof question, &got, 10.0) == 0) {
        snprintf(reply, sizeof reply, "%s? fine, thanks", question);
        if (mp_pipe_send(conn, reply, strlen(reply) + 1, MP_FOREVER) != 0)
            return 1;
    }
    return 0; /* MP_EEOF: the parent closed its end */
}

static void join(mp_process *p)
{
    int code;
    check(mp_process_join(p, MP_FOREVER));
    check(mp_process_exitcode(p, &code));
    check(mp_process_close(p));
    if (code != 0) {
        fprintf(stderr, "a child failed with exit code %d\n", code);
        exit(1);
    }
}

int main(void)
{
    /* One way: `a` only receives, `b` only sends. */
    ends simplex;
    check(mp_pipe_create(&simplex.a, &simplex.b, MP_PIPE_SIMPLEX, 0));
    mp_process *sender, *receiver;
    check(mp_process_start(&sender, "sender", send_message, &simplex, sizeof simplex, 0));
    check(mp_process_start(&receiver, "receiver", receive_message, &simplex, sizeof simplex, 0));
    join(sender);
    join(receiver);
    printf("done.\n");

    /* Both ways: each end sends and receives. */
    ends duplex;
    check(mp_pipe_create(&duplex.a, &duplex.b, 0, 0));
    mp_process *child;
    check(mp_process_start(&child, "answerer", answer, &duplex, sizeof duplex, 0));
    const char *questions[] = { "how are you", "and the team" };
    for (int i = 0; i < 2; i++) {
        char reply[96];
        size_t got;
        check(mp_pipe_send(duplex.a, questions[i], strlen(questions[i]) + 1, MP_FOREVER));
        check(mp_pipe_recv(duplex.a, reply, sizeof reply, &got, 10.0));
        printf("asked \"%s\", got \"%s\"\n", questions[i], reply);
    }
    check(mp_pipe_close(duplex.a)); /* the child's receive returns MP_EEOF */
    join(child);
    check(mp_pipe_close(duplex.b)); /* both ends closed: the memory is freed */
    return 0;
}
