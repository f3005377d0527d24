/* main.c - the `mproc` command: `mproc run ...`, `mproc speedup ...` and help. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "output.h"
#include "runner.h"
#include "speedup.h"
#ifdef MPROC_CLI_MPI
#include "mpi_jobs.h"
#endif

#ifndef MPROC_VERSION
#define MPROC_VERSION "0.0.0"
#endif

static void usage(int fd)
{
    static const char text[] =
        "usage: mproc <command> [arguments]\n"
        "\n"
        "commands:\n"
        "  run     run a command over many inputs in parallel (GNU parallel compatible);\n"
        "          see 'mproc run --help' and mproc(1)\n"
        "  speedup run a command at 1..N workers: speedup table, Amdahl's law, plot;\n"
        "          see 'mproc speedup --help'\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help\n"
        "  --version      show the version\n";
    write_all(fd, text, sizeof text - 1);
}

/* Jobs must not inherit a closed standard descriptor, and the pipes we
 * create must not land on 0, 1 or 2. */
static void ensure_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (n >= 0 && n != fd)
                close(n);
        }
}

/* GNU parallel reads default options from $PARALLEL, as if they came
 * first on the command line.  Fills *words with them followed by
 * argv[0..argc); returns 0, or -1 with a message in *err. */
static int with_default_options(int argc, char **argv, strvec *words, strbuf *err)
{
    const char *env = getenv("PARALLEL");
    if (env && split_shell_words(env, words, err) < 0)
        return -1;
    for (int i = 0; i < argc; i++)
        if (sv_pushs(words, argv[i]) < 0) {
            sb_adds(err, "out of memory");
            return -1;
        }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_options o;
    strbuf err = STRBUF_INIT;
    strvec words = STRVEC_INIT;
    int status = RUN_EXIT_ERROR;
    memset(&o, 0, sizeof o);
    if (with_default_options(argc, argv, &words, &err) < 0 ||
        run_options_parse(&o, (int)words.len, words.items, &err) < 0) {
#ifdef MPROC_CLI_MPI
        if (mpi_jobs_serving())
            goto out;   /* rank 0 says it */
#endif
        strbuf m = STRBUF_INIT;
        sb_addf(&m, "mproc run: %s\nTry 'mproc run --help' for more information.\n", sb_str(&err));
        write_all(2, m.data, m.len);
        sb_free(&m);
        goto out;
    }
    if (o.show_help) {
        run_usage(1);
        status = 0;
        goto out;
    }
    if (o.show_version) {
        write_all(1, "mproc run " MPROC_VERSION "\n", strlen("mproc run " MPROC_VERSION "\n"));
        status = 0;
        goto out;
    }
    int signo = 0;
#ifdef MPROC_CLI_MPI
    if (mpi_jobs_wanted())
        status = mpi_jobs_run(&o, &signo);   /* started by mpirun: the jobs spread over the ranks */
    else
#endif
        status = run_jobs(&o, NULL, &signo);
    if (signo) {
        run_options_free(&o);
        sv_free(&words);
        sb_free(&err);
        /* Tell our parent the truth: we were interrupted. */
        signal(signo, SIG_DFL);
        raise(signo);
        return 128 + signo;
    }
out:
    run_options_free(&o);
    sv_free(&words);
    sb_free(&err);
    return status;
}

int main(int argc, char **argv)
{
    ensure_std_fds();
    if (argc < 2) {
        usage(2);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(1);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        write_all(1, "mproc " MPROC_VERSION "\n", strlen("mproc " MPROC_VERSION "\n"));
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "speedup"))
        return speedup_main(argc - 2, argv + 2);
    strbuf m = STRBUF_INIT;
    sb_addf(&m, "mproc: unknown command '%s'\n", argv[1]);
    write_all(2, m.data, m.len);
    sb_free(&m);
    usage(2);
    return 2;
}
