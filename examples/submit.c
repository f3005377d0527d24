/* submit.c - ad-hoc parallelism with futures: submit one call, take its
 * result; submit eight, then collect them (the tutorial's
 * ThreadPoolExecutor(4).submit(slowadd, 1, 2) and future.result()).
 *
 * mp_submit copies the arguments and returns a future at once; the future
 * is pending, then running, then done.  mp_future_result waits for it.
 */
#include "example.h"

typedef struct add_args {
    long a, b;
    double delay;
} add_args;

static int slowadd(mp_task *task, const void *in, void *out)
{
    (void)task;
    const add_args *args = in;
    pause_for(args->delay);
    *(long *)out = args->a + args->b;
    return 0;
}

int main(void)
{
    mp_pool *e;
    check(mp_pool_open(&e, &(mp_pool_options){ .workers = 4 }));

    mp_future *future;
    add_args one = { 1, 2, 0.1 };
    check(mp_submit(e, slowadd, &one, sizeof one, sizeof(long), NULL, &future));
    printf("future: %s\n", mp_future_done(future) ? "done" : "not done yet");
    long result;
    check(mp_future_result(future, MP_FOREVER, &result, sizeof result));
    printf("future.result() = %ld\n", result);
    mp_future_free(future);

    /* Submit many at once: they run in parallel, four at a time. */
    enum { N = 8 };
    mp_future *futures[N];
    double start = seconds_now();
    for (long i = 0; i < N; i++) {
        add_args args = { i, i, 0.1 };
        check(mp_submit(e, slowadd, &args, sizeof args, sizeof(long), NULL, &futures[i]));
    }
    printf("results:");
    for (int i = 0; i < N; i++) {
        check(mp_future_result(futures[i], MP_FOREVER, &result, sizeof result));
        printf(" %ld", result);
        mp_future_free(futures[i]);
    }
    printf("\n%d calls of 0.1 s each in %.2f s\n", N, seconds_now() - start);
    check(mp_pool_close(e));
    return 0;
}
