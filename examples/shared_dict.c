/* shared_dict.c - several processes fill one dictionary in shared memory
 * (Python's Manager().dict(), without the manager process).
 *
 * Each worker counts the words of its lines into the shared table; the
 * parent then iterates over the result.
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

static const char *lines[] = {
    "the quick brown fox",
    "jumps over the lazy dog",
    "the dog sleeps",
    "the fox runs",
};

typedef struct job {
    mp_dict *counts;
    mp_lock *lock;   /* makes read-modify-write of one entry atomic */
    int line;
} job;

static int count_words(void *arg, size_t size)
{
    (void)size;
    job *j = arg;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", lines[j->line]);
    for (char *w = strtok(copy, " "); w; w = strtok(NULL, " ")) {
        mp_lock_acquire(j->lock, MP_FOREVER);
        long n = 0;
        size_t got;
        mp_dict_get_str(j->counts, w, &n, sizeof n, &got); /* absent: stays 0 */
        n++;
        mp_dict_set_str(j->counts, w, &n, sizeof n);
        mp_lock_release(j->lock);
    }
    return 0;
}

int main(void)
{
    mp_dict *counts;
    mp_lock *lock;
    if (mp_dict_create(&counts, 100, 32, sizeof(long)) != 0 || mp_lock_create(&lock) != 0) {
        fprintf(stderr, "%s\n", mp_last_error());
        return 1;
    }
    mp_process *p[4];
    for (int i = 0; i < 4; i++) {
        job j = {counts, lock, i};
        mp_process_start(&p[i], NULL, count_words, &j, sizeof j, 0);
    }
    for (int i = 0; i < 4; i++) {
        mp_process_join(p[i], MP_FOREVER);
        mp_process_close(p[i]);
    }
    printf("%zu distinct words\n", mp_dict_len(counts));
    size_t cursor = 0, klen, vlen;
    char word[33];
    long n;
    while (mp_dict_next(counts, &cursor, word, sizeof word - 1, &klen, &n, sizeof n, &vlen) == 0) {
        word[klen] = '\0';
        printf("%-8s %ld\n", word, n);
    }
    mp_dict_destroy(counts);
    mp_lock_destroy(lock);
    return 0;
}
