/* fuzz_parser.c - libFuzzer target for the `mproc run` parsers.
 *
 * The input is split at NUL bytes into words, given to the option parser
 * as a command line; a command that parses is then compiled and rendered
 * (shell text and direct-exec argv) with the first source's values as the
 * job's arguments.  Every word also goes through the value parsers, the
 * replacement-string scanner, the shell quoting for every quoting context
 * and the path edits; compiling the command runs the context scan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "options.h"
#include "quote.h"
#include "shellctx.h"
#include "strbuf.h"
#include "template.h"

#define MAX_WORDS 64

static void exercise_word(const char *w)
{
    jobs_kind kind;
    double value;
    int percent;
    halt_spec halt;
    (void)parse_jobs(w, &kind, &value);
    if (parse_jobs(w, &kind, &value) == 0)
        (void)jobs_resolve(kind, value, 2);
    (void)parse_halt(w, &halt);
    (void)parse_duration(w, &value, &percent);

    size_t n = strlen(w);
    segment_list segs = {0, 0, 0};
    (void)template_split(w, n, 0, NULL, &segs);
    segment_list_free(&segs);

    strbuf b = STRBUF_INIT;
    (void)shell_quote(&b, w, n);
    for (int e = EDIT_NONE; e <= EDIT_BASE_NOEXT; e++)
        (void)path_edit_apply(&b, w, n, (path_edit)e);
    for (int where = QC_BARE; where <= QC_COMMENT; where++)
        for (int flags = 0; flags < 8; flags++) {
            shell_context ctx = {(unsigned char)where, (unsigned char)(flags & 1), (unsigned char)(flags >> 1 & 1),
                                 (unsigned char)(flags >> 2 & 1)};
            (void)shell_quote_at(&b, w, n, &ctx);
        }
    sb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_WORDS + 1];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < MAX_WORDS;) {
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    argv[argc] = NULL;
    for (int i = 0; i < argc; i++)
        exercise_word(argv[i]);

    run_options o;
    strbuf err = STRBUF_INIT;
    if (run_options_parse(&o, argc, argv, &err) == 0) {
        command c;
        if (command_compile(&c, o.cmd, o.ncmd, o.quote, o.replace, &err) == 0) {
            char *none[] = {(char *)"", NULL};
            char **args = none;
            size_t nargs = 1;
            if (o.nsources > 0 && o.sources[0].kind == SOURCE_ARGS && o.sources[0].nargs > 0) {
                args = o.sources[0].args;
                nargs = o.sources[0].nargs;
            }
            job_values v = {args, nargs, 7, 2, NULL};
            strbuf shell = STRBUF_INIT, path = STRBUF_INIT;
            strvec av = STRVEC_INIT;
            (void)command_shell_text(&c, &v, &shell);
            (void)command_argv(&c, &v, &av, &path);
            sb_free(&shell);
            sb_free(&path);
            sv_free(&av);
        }
        command_free(&c);
    }
    run_options_free(&o);
    sb_free(&err);
    free(text);
    return 0;
}
