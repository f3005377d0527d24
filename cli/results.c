/* results.c - storing job output under a --results directory. */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

/* A value becomes one path component: '\' is doubled and '/' becomes "\_". */
static void add_component(strbuf *p, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            sb_add(p, "\\\\", 2);
        else if (*v == '/')
            sb_add(p, "\\_", 2);
        else
            sb_addc(p, *v);
    }
}

static int make_dir(const char *path)
{
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

static int write_file(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, data, n);
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

int results_store(const char *dir, char *const *args, size_t nargs, unsigned long seq,
                  const strbuf *out, const strbuf *errout, strbuf *err)
{
    strbuf p = STRBUF_INIT;
    int rc = 0;
    sb_adds(&p, dir);
    if (make_dir(sb_str(&p)) < 0)
        rc = -1;
    for (size_t i = 0; i < nargs && rc == 0; i++) {
        sb_addf(&p, "/%zu", i + 1);
        if (make_dir(sb_str(&p)) < 0) { rc = -1; break; }
        sb_addc(&p, '/');
        add_component(&p, args[i]);
        if (make_dir(sb_str(&p)) < 0) { rc = -1; break; }
    }
    size_t base = p.len;
    char seqtext[32];
    int seqlen = snprintf(seqtext, sizeof seqtext, "%lu", seq);
    if (rc == 0) {
        sb_adds(&p, "/seq");
        rc = write_file(sb_str(&p), seqtext, (size_t)seqlen);
    }
    if (rc == 0) {
        p.len = base;
        sb_adds(&p, "/stdout");
        rc = write_file(sb_str(&p), out->data ? out->data : "", out->len);
    }
    if (rc == 0) {
        p.len = base;
        sb_adds(&p, "/stderr");
        rc = write_file(sb_str(&p), errout->data ? errout->data : "", errout->len);
    }
    if (rc < 0 || p.failed)
        sb_addf(err, "cannot store results in '%s': %s", sb_str(&p), strerror(errno));
    sb_free(&p);
    return rc < 0 || p.failed ? -1 : 0;
}
