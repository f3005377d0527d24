/* save_files.c - the three blocking calls of a pool, each writing files:
 * apply (one call), map (one call per string), starmap (one call per pair
 * of arguments), as in the tutorial's create_and_save_file examples.
 *
 *   usage: save_files [directory]     (default: a new directory in /tmp)
 *
 * Each call returns when all its tasks are done, with the results in input
 * order -- whatever order the files were written in.
 */
#include "save_file.h"

static void print_created(const file_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("file %s created\n", names[i].text);
}

int main(int argc, char **argv)
{
    save_place place = { .first = 0 };
    choose_directory(argc, argv, &place);
    mp_pool *pool;
    check(mp_pool_open(&pool, NULL)); /* as many workers as CPUs: Pool() */
    double start = seconds_now();

    /* apply: one task, and wait for it. */
    file_request request = { "empid_27468", "Falguni" };
    file_name one;
    check(mp_apply(pool, create_and_save_file_apply, &request, sizeof request, &one, sizeof one,
                   &(mp_call){ .context = &place, .context_size = sizeof place }));
    printf("%s created\n", one.text);

    /* map: one task per string. */
    file_name names[NAME_COUNT];
    place.first = 10;
    check(mp_map(pool, create_and_save_file_map, tutorial_names, NAME_COUNT, sizeof *tutorial_names, names,
                 sizeof *names, &(mp_call){ .context = &place, .context_size = sizeof place }));
    print_created(names, NAME_COUNT);

    /* starmap: task i gets the i-th element of each array (Python's zip). */
    mp_array args[2] = {
        { tutorial_names, NAME_COUNT, sizeof *tutorial_names },
        { tutorial_time_out, NAME_COUNT, sizeof *tutorial_time_out },
    };
    place.first = 20;
    check(mp_starmap(pool, create_and_save_file_starmap, args, 2, names, sizeof *names,
                     &(mp_call){ .context = &place, .context_size = sizeof place }));
    print_created(names, NAME_COUNT);

    check(mp_pool_close(pool));
    printf("time required = %.2f s; the files are in %s\n", seconds_now() - start, place.dir);
    return 0;
}
