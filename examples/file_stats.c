/* file_stats.c - one task per input file: each reads its file and returns
 * a few numbers, and the caller sums them up (the tutorial's
 * pool.map(process_file, input_files), then my_summary_analysis).
 *
 *   usage: file_stats FILE...
 *
 * Or run several copies of the program at once, one per file, and let the
 * operating system spread them over the cores (the tutorial's
 * `python my_code.py data_1.dat &` ...):
 *
 *   mproc run ./file_stats ::: data_*.dat
 *
 * The file names are argv as it is: mp_map_strings hands each task its
 * string, on threads and on processes alike (there mproc copies the names
 * into shared memory for the call).  A file that cannot be read fails its
 * own task with the reason; the other files are still counted, the call
 * returns MP_ETASK and mp_call.failures lists what failed.
 */
#include "example.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

typedef struct counts {
    long lines, words, bytes;
} counts;

/* The per-file analysis (wc's three counts). */
static int process_file(mp_task *task, const void *in, void *out)
{
    const char *name = in;
    FILE *f = fopen(name, "r");
    if (!f)
        return mp_task_fail(task, errno, "%s: %s", name, strerror(errno));
    counts c = { 0, 0, 0 };
    int ch, in_word = 0;
    while ((ch = getc(f)) != EOF) {
        c.bytes++;
        c.lines += ch == '\n';
        c.words += !in_word && !isspace(ch);
        in_word = !isspace(ch);
    }
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return mp_task_fail(task, EIO, "%s: read error", name);
    *(counts *)out = c;
    return 0;
}

static void print_counts(const char *label, counts c)
{
    printf("%s: %ld lines, %ld words, %ld bytes\n", label, c.lines, c.words, c.bytes);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: file_stats FILE...\n");
        return 2;
    }
    size_t n = (size_t)argc - 1;
    const char *const *paths = (const char *const *)argv + 1;
    counts *results = allocate(n, sizeof *results);

    mp_pool *pool;
    check(mp_pool_open(&pool, NULL));
    mp_failures failures = { 0, NULL };
    int r = mp_map_strings(pool, process_file, paths, n, results, sizeof *results,
                           &(mp_call){ .failures = &failures });
    if (r != MP_ETASK) /* task failures are reported below, file by file */
        check(r);
    check(mp_pool_close(pool));

    /* The summary: a serial step over the per-file results.  failures is
     * sorted by index, so one pass skips the files that failed. */
    counts total = { 0, 0, 0 };
    size_t next_failure = 0;
    for (size_t i = 0; i < n; i++) {
        if (next_failure < failures.count && failures.items[next_failure].index == i) {
            fprintf(stderr, "file_stats: %s\n", failures.items[next_failure++].message);
            continue;
        }
        print_counts(paths[i], results[i]);
        total.lines += results[i].lines;
        total.words += results[i].words;
        total.bytes += results[i].bytes;
    }
    if (n > 1)
        print_counts("total", total);
    int status = failures.count ? 1 : 0;
    mp_failures_free(&failures);
    free(results);
    return status;
}
