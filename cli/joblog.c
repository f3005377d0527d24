/* joblog.c - writing and reading the job log. */
#include "joblog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

static const char header[] = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

int joblog_open(joblog *jl, const char *path, int keep, strbuf *err)
{
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (keep ? 0 : O_TRUNC);
    jl->fd = open(path, flags, 0666);
    if (jl->fd < 0) {
        sb_addf(err, "cannot open job log '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(jl->fd, &st) == 0 && st.st_size == 0 &&
        write_all(jl->fd, header, sizeof header - 1) < 0) {
        sb_addf(err, "cannot write job log '%s': %s", path, strerror(errno));
        close(jl->fd);
        jl->fd = -1;
        return -1;
    }
    return 0;
}

int joblog_write(joblog *jl, unsigned long seq, double start, double runtime, size_t send, size_t receive,
                 int exitval, int sig, const char *cmd)
{
    if (jl->fd < 0)
        return 0;
    strbuf b = STRBUF_INIT;
    sb_addf(&b, "%lu\t:\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t", seq, start, runtime, send, receive, exitval, sig);
    sb_adds(&b, cmd);
    sb_addc(&b, '\n');
    /* One write per line: O_APPEND keeps lines whole. */
    int rc = b.failed ? -1 : write_all(jl->fd, b.data, b.len);
    sb_free(&b);
    return rc;
}

void joblog_close(joblog *jl)
{
    if (jl->fd >= 0)
        close(jl->fd);
    jl->fd = -1;
}

int seqset_add(seqset *s, unsigned long seq)
{
    size_t byte = seq / 8;
    if (byte >= s->nbytes) {
        size_t n = s->nbytes ? s->nbytes : 64;
        while (n <= byte)
            n *= 2;
        unsigned char *p = realloc(s->bits, n);
        if (!p)
            return -1;
        memset(p + s->nbytes, 0, n - s->nbytes);
        s->bits = p;
        s->nbytes = n;
    }
    s->bits[byte] |= (unsigned char)(1u << (seq % 8));
    return 0;
}

int seqset_has(const seqset *s, unsigned long seq)
{
    size_t byte = seq / 8;
    return byte < s->nbytes && (s->bits[byte] >> (seq % 8) & 1);
}

void seqset_free(seqset *s)
{
    free(s->bits);
    s->bits = NULL;
    s->nbytes = 0;
}

/* Parses a decimal integer field [s, end); returns 0 or -1. */
static int parse_int_field(const char *s, const char *end, long *out)
{
    if (s == end || end - s > 18)
        return -1;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
        if (s == end)
            return -1;
    }
    long v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

int joblog_read_skips(const char *path, int succeeded_only, seqset *skip, strbuf *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        sb_addf(err, "cannot read job log '%s': %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (lineno == 1) {
            if (strncmp(line, header, sizeof header - 2) != 0) {
                sb_addf(err, "job log '%s' is malformed: line 1 is not the header", path);
                rc = -1;
                break;
            }
            continue;
        }
        /* Fields: seq host start runtime send receive exitval signal command */
        const char *field[9];
        const char *p = line;
        int nf = 0;
        field[nf++] = p;
        while (nf < 9 && (p = strchr(p, '\t')) != NULL)
            field[nf++] = ++p;
        long seq, exitval, sig;
        if (nf < 9 || parse_int_field(field[0], field[1] - 1, &seq) < 0 || seq < 1 ||
            parse_int_field(field[6], field[7] - 1, &exitval) < 0 ||
            parse_int_field(field[7], field[8] - 1, &sig) < 0) {
            sb_addf(err, "job log '%s' is malformed at line %lu", path, lineno);
            rc = -1;
            break;
        }
        if ((!succeeded_only || (exitval == 0 && sig == 0)) && seqset_add(skip, (unsigned long)seq) < 0) {
            sb_adds(err, "out of memory");
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}
