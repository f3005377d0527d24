/* save_files_async.c - the async forms of apply, map and starmap: each
 * returns at once with a handle, the program does other work, and
 * mp_async_get waits for the outcome (the tutorial's apply_async,
 * map_async, starmap_async with .get(), and a callback).
 *
 *   usage: save_files_async [directory]   (default: a new directory in /tmp)
 *
 * The callback runs on a thread the pool owns, once, when every task of the
 * call has succeeded (error_callback if any failed); mp_async_get returns
 * after it has run.
 */
#include "save_file.h"

typedef struct batch {
    const file_name *names;
    size_t count;
} batch;

static void custom_callback(mp_async *result, void *arg)
{
    (void)result;
    const batch *b = arg;
    printf("callback: all %zu files written, the last one %s\n", b->count, b->names[b->count - 1].text);
}

int main(int argc, char **argv)
{
    save_place place = { .first = 0 };
    choose_directory(argc, argv, &place);
    mp_pool *pool;
    check(mp_pool_open(&pool, NULL));
    double start = seconds_now();
    mp_async *pending;

    /* apply_async, then get. */
    file_request request = { "empid_27468", "Falguni" };
    file_name one;
    check(mp_apply_async(pool, create_and_save_file_apply, &request, sizeof request, &one, sizeof one,
                         &(mp_call){ .context = &place, .context_size = sizeof place }, &pending));
    check(mp_async_get(pending, MP_FOREVER, NULL));
    mp_async_free(pending);
    printf("%s created\n", one.text);

    /* map_async: `names` fills in while this thread goes on. */
    file_name names[NAME_COUNT];
    place.first = 30;
    check(mp_map_async(pool, create_and_save_file_map, tutorial_names, NAME_COUNT, sizeof *tutorial_names, names,
                       sizeof *names, &(mp_call){ .context = &place, .context_size = sizeof place }, &pending));
    printf("Other work while waiting for the calls to complete...\n");
    check(mp_async_get(pending, MP_FOREVER, NULL)); /* blocks until done */
    mp_async_free(pending);
    for (size_t i = 0; i < NAME_COUNT; i++)
        printf("file %s created\n", names[i].text);

    /* starmap_async with a callback. */
    mp_array args[2] = {
        { tutorial_names, NAME_COUNT, sizeof *tutorial_names },
        { tutorial_time_out, NAME_COUNT, sizeof *tutorial_time_out },
    };
    place.first = 40;
    batch done = { names, NAME_COUNT };
    mp_call call = { .context = &place, .context_size = sizeof place, .callback = custom_callback,
                     .callback_arg = &done };
    check(mp_starmap_async(pool, create_and_save_file_starmap, args, 2, names, sizeof *names, &call, &pending));
    printf("Other work while waiting for the calls to complete...\n");
    check(mp_async_get(pending, MP_FOREVER, NULL));
    mp_async_free(pending);

    check(mp_pool_close(pool));
    printf("time required = %.2f s; the files are in %s\n", seconds_now() - start, place.dir);
    return 0;
}
