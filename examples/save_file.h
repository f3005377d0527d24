/* save_file.h - the tutorial's create_and_save_file tasks, shared by
 * save_files.c (apply, map, starmap) and save_files_async.c (their async
 * forms).  Each task waits a while (the tutorial's time.sleep), writes one
 * small text file and returns the file's name.
 *
 * Strings cross to the workers as fixed-size char arrays, inside the input
 * elements and the output elements; the directory and the first file number
 * travel in the call's context, which every task of the call can read.
 */
#ifndef SAVE_FILE_H
#define SAVE_FILE_H

#include "example.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The tutorial's ten strings (one per file). */
#define NAME_COUNT 10
typedef char name_text[16];
static const name_text tutorial_names[NAME_COUNT] = {
    "Abhijit", "Anas", "Ayush", "Falguni", "Harjot", "Jigyasa", "Prachi", "Saurabh", "Sheshant", "Rahul",
};

/* The tutorial sleeps 1 to 3 seconds per file; here a "second" is 10 ms. */
#define SECOND 0.01

/* The call's context: where the files go and how the first is numbered. */
typedef struct save_place {
    char dir[1024];
    int first;   /* task i writes file_<first + i>.txt */
} save_place;

/* A task's output: the name of the file it wrote. */
typedef struct file_name {
    char text[48];
} file_name;

/* apply's input: a file name part and the text to write. */
typedef struct file_request {
    char file[24];
    char text[24];
} file_request;

/* Writes text to <dir>/<name>; 0, or the task's failure with the reason. */
static int save_text(mp_task *task, const char *name, const char *text)
{
    const save_place *place = mp_task_context(task);
    char path[sizeof place->dir + sizeof(file_name)];
    snprintf(path, sizeof path, "%s/%s", place->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return mp_task_fail(task, errno, "%s: %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0)
        return mp_task_fail(task, errno, "%s: %s", path, strerror(errno));
    return 0;
}

/* apply: file_<file>.txt holding `text`. */
static int create_and_save_file_apply(mp_task *task, const void *in, void *out)
{
    const file_request *request = in;
    file_name *name = out;
    snprintf(name->text, sizeof name->text, "file_%s.txt", request->file);
    pause_for(2 * SECOND);
    return save_text(task, name->text, request->text);
}

/* map: task i writes string i to file_<first + i>.txt. */
static int create_and_save_file_map(mp_task *task, const void *in, void *out)
{
    const save_place *place = mp_task_context(task);
    file_name *name = out;
    snprintf(name->text, sizeof name->text, "file_%d.txt", place->first + (int)mp_task_index(task));
    pause_for(2 * SECOND);
    return save_text(task, name->text, in);
}

/* starmap: two arguments per task, the string and its own sleep time. */
static int create_and_save_file_starmap(mp_task *task, const void *const *in, void *out)
{
    const save_place *place = mp_task_context(task);
    file_name *name = out;
    snprintf(name->text, sizeof name->text, "file_%d.txt", place->first + (int)mp_task_index(task));
    pause_for(*(const int *)in[1] * SECOND);
    return save_text(task, name->text, in[0]);
}

/* The tutorial's per-file sleep times for starmap, in "seconds". */
static const int tutorial_time_out[NAME_COUNT] = { 1, 2, 3, 1, 2, 3, 1, 2, 3, 2 };

/* Fills *place with argv[1] as the directory, or a new one in /tmp. */
static void choose_directory(int argc, char **argv, save_place *place)
{
    if (argc > 1 && strlen(argv[1]) < sizeof place->dir) {
        strcpy(place->dir, argv[1]);
        return;
    }
    if (argc > 1) {
        fprintf(stderr, "%s: directory name too long\n", argv[0]);
        exit(2);
    }
    strcpy(place->dir, "/tmp/mproc-files-XXXXXX");
    if (!mkdtemp(place->dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

#endif
