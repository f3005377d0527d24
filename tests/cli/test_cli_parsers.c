/* test_cli_parsers.c - unit tests for the pure parts of `mproc run`:
 * quoting, path edits, replacement strings, option values, command
 * rendering, column splitting and the exit status.  The expected values
 * are what GNU parallel does with the same input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"
#include "input.h"
#include "median.h"
#include "options.h"
#include "quote.h"
#include "shellctx.h"
#include "tally.h"
#include "template.h"

static void check_quote(const char *in, const char *want)
{
    strbuf b = STRBUF_INIT;
    assert_int_equal(shell_quote(&b, in, strlen(in)), 0);
    assert_string_equal(sb_str(&b), want);
    sb_free(&b);
}

static void test_shell_quote(void **state)
{
    (void)state;
    check_quote("abc-_+./9", "abc-_+./9");
    check_quote("", "''");
    check_quote("a b", "'a b'");
    check_quote("c'd", "'c'\"'\"'d'");
    check_quote("'", "\"'\"");
    check_quote("''", "\"'\"''\"'\"");
    check_quote("a'", "'a'\"'\"");
    check_quote("$(x)", "'$(x)'");
    check_quote("a,b", "'a,b'");
    check_quote("\xc3\xa9", "'\xc3\xa9'");
}

static void check_edits(const char *in, const char *noext, const char *base, const char *dir,
                        const char *base_noext)
{
    const char *want[] = {in, noext, base, dir, base_noext};
    for (int e = EDIT_NONE; e <= EDIT_BASE_NOEXT; e++) {
        strbuf b = STRBUF_INIT;
        assert_int_equal(path_edit_apply(&b, in, strlen(in), (path_edit)e), 0);
        assert_string_equal(sb_str(&b), want[e]);
        sb_free(&b);
    }
}

static void test_path_edits(void **state)
{
    (void)state;
    check_edits("a", "a", "a", ".", "a");
    check_edits("dir.x/file", "dir.x/file", "file", "dir.x", "file");
    check_edits("dir/f.tar.gz", "dir/f.tar", "f.tar.gz", "dir", "f.tar");
    check_edits("/abs/x.y", "/abs/x", "x.y", "/abs", "x");
    check_edits(".hidden", "", ".hidden", ".", "");
    check_edits("a/", "a/", "", ".", "");
    check_edits("", "", "", ".", "");
    check_edits("/x", "/x", "x", "/", "x");
    check_edits("a//b", "a//b", "b", "a", "b");
    check_edits("a/b/", "a/b/", "", "a", "");
    check_edits("/", "/", "", "/", "");
    check_edits("//x", "//x", "x", "/", "x");
    check_edits("..", ".", "..", ".", ".");
    check_edits("a.b/c.d/", "a.b/c.d/", "", "a.b", "");
}

static void test_replacement_strings(void **state)
{
    (void)state;
    struct { const char *s; int ok; segment_kind kind; path_edit edit; size_t pos; size_t used; } cases[] = {
        {"{}", 1, SEG_ALL_ARGS, EDIT_NONE, 0, 2},
        {"{.}x", 1, SEG_ALL_ARGS, EDIT_NOEXT, 0, 3},
        {"{/}", 1, SEG_ALL_ARGS, EDIT_BASENAME, 0, 3},
        {"{//}", 1, SEG_ALL_ARGS, EDIT_DIRNAME, 0, 4},
        {"{/.}", 1, SEG_ALL_ARGS, EDIT_BASE_NOEXT, 0, 4},
        {"{#}", 1, SEG_SEQ, EDIT_NONE, 0, 3},
        {"{%}", 1, SEG_SLOT, EDIT_NONE, 0, 3},
        {"{3}", 1, SEG_ARG, EDIT_NONE, 3, 3},
        {"{12/.}", 1, SEG_ARG, EDIT_BASE_NOEXT, 12, 6},
        {"{2//}", 1, SEG_ARG, EDIT_DIRNAME, 2, 5},
        {"{-1}", 1, SEG_ARG, EDIT_NONE, 1, 4},
        {"{-12.}", 1, SEG_ARG, EDIT_NOEXT, 12, 6},
        {"{-0}", 1, SEG_ARG, EDIT_NONE, 0, 4},
        {"{-}", 0, 0, 0, 0, 0},
        {"{--1}", 0, 0, 0, 0, 0},
        {"{0}", 0, 0, 0, 0, 0},
        {"{1x}", 0, 0, 0, 0, 0},
        {"{foo}", 0, 0, 0, 0, 0},
        {"{", 0, 0, 0, 0, 0},
        {"{99999999999}", 0, 0, 0, 0, 0},
        {"{..}", 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        segment seg;
        size_t used = 0;
        int ok = replacement_parse(cases[i].s, strlen(cases[i].s), &seg, &used);
        assert_int_equal(ok, cases[i].ok);
        if (!ok)
            continue;
        assert_int_equal(seg.kind, cases[i].kind);
        assert_int_equal(seg.edit, cases[i].edit);
        assert_int_equal(seg.pos, cases[i].pos);
        assert_int_equal(used, cases[i].used);
    }
    segment_list l = {0, 0, 0};
    assert_int_equal(template_split("a{}b{{1}}", 9, 0, NULL, &l), 2);
    assert_int_equal(l.len, 5); /* a, {}, b{, {1}, } */
    segment_list_free(&l);
    /* -I XX: XX is every argument; {} and {1} are text, {1.} and {#} are not. */
    const char *t = "XX{}{1}{1.}{#}aXXb";
    assert_int_equal(template_split(t, strlen(t), 0, "XX", &l), 4);
    assert_int_equal(l.len, 7); /* XX, {}{1}, {1.}, {#}, a, XX, b */
    assert_int_equal(l.items[0].kind, SEG_ALL_ARGS);
    assert_int_equal(l.items[1].kind, SEG_TEXT);
    assert_int_equal(l.items[1].len, 5);
    assert_int_equal(l.items[2].kind, SEG_ARG);
    assert_int_equal(l.items[3].kind, SEG_SEQ);
    assert_int_equal(l.items[5].kind, SEG_ALL_ARGS);
    segment_list_free(&l);
}

/* Scans text up to its first "{}" and returns that point's context (or
 * -1 when the scan refuses it). */
static int context_of(const char *text, shell_context *ctx)
{
    const char *at = strstr(text, "{}");
    assert_non_null(at);
    shell_scan scan;
    const char *why = NULL;
    shell_scan_init(&scan);
    shell_scan_text(&scan, text, (size_t)(at - text));
    int rc = shell_scan_value(&scan, ctx, &why);
    if (rc < 0)
        assert_non_null(why);
    return rc;
}

static void test_quoting_context_scan(void **state)
{
    (void)state;
    struct { const char *text; quote_context where; int escaped, backquoted, bq_dq; } cases[] = {
        {"echo {}", QC_BARE, 0, 0, 0},
        {"echo 'a' \"b\" {}", QC_BARE, 0, 0, 0},
        {"echo '{}'", QC_SINGLE, 0, 0, 0},
        {"echo 'a\"b{}", QC_SINGLE, 0, 0, 0},
        {"echo \"{}\"", QC_DOUBLE, 0, 0, 0},
        {"echo \"a'b{}", QC_DOUBLE, 0, 0, 0},
        {"echo \"a\\\"{}", QC_DOUBLE, 0, 0, 0},
        {"echo \"\\{}", QC_DOUBLE, 1, 0, 0},
        {"echo \\{}", QC_BARE, 1, 0, 0},
        {"echo \\\\{}", QC_BARE, 0, 0, 0},
        {"echo \\'{}", QC_BARE, 0, 0, 0},
        {"echo $'a\\'{}", QC_ANSI, 0, 0, 0},
        {"echo $'\\{}", QC_ANSI, 1, 0, 0},
        {"echo \"$'{}", QC_DOUBLE, 0, 0, 0},
        {"echo \"$(echo {}", QC_BARE, 0, 0, 0},
        {"echo \"$(echo \"{}", QC_DOUBLE, 0, 0, 0},
        {"echo \"$(echo (a) ')' {}", QC_BARE, 0, 0, 0},
        {"echo \"$(echo a) {}", QC_DOUBLE, 0, 0, 0},
        {"echo `echo {}", QC_BARE, 0, 1, 0},
        {"echo \"`echo {}", QC_BARE, 0, 1, 1},
        {"echo \"`echo \\\"{}", QC_DOUBLE, 0, 1, 1},
        {"echo \"`echo a` {}", QC_DOUBLE, 0, 0, 0},
        {"echo `echo '` {}", QC_BARE, 0, 0, 0},
        {"echo ${x:-{}", QC_BARE, 0, 0, 0},
        {"echo \"${x:-{}", QC_DOUBLE_PARAM, 0, 0, 0},
        {"echo \"${x} {}", QC_DOUBLE, 0, 0, 0},
        {"echo $(( {}", QC_ARITH, 0, 0, 0},
        {"echo $(( (1) + {}", QC_ARITH, 0, 0, 0},
        {"echo $(( 1 )) {}", QC_BARE, 0, 0, 0},
        {"(( {}", QC_ARITH, 0, 0, 0},
        {"( (echo) ) {}", QC_BARE, 0, 0, 0},
        {"echo # it's {}", QC_COMMENT, 0, 0, 0},
        {"echo # it's\necho '{}", QC_SINGLE, 0, 0, 0},
        {"echo a#b '{}", QC_SINGLE, 0, 0, 0},
        {"echo $# '{}", QC_SINGLE, 0, 0, 0},
        {"echo $$ {}", QC_BARE, 0, 0, 0},
        {"cat <<< {}", QC_BARE, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shell_context ctx;
        assert_int_equal(context_of(cases[i].text, &ctx), 0);
        assert_int_equal(ctx.where, cases[i].where);
        assert_int_equal(ctx.escaped, cases[i].escaped);
        assert_int_equal(ctx.backquoted, cases[i].backquoted);
        assert_int_equal(ctx.backquote_dq, cases[i].bq_dq);
    }
    const char *refused[] = {"echo ${}", "echo \"${}", "cat <<EOF\n{}", "cat <<-EOF\nEOF\n{}",
                             "echo $(case a in a) {}", "echo `echo \\`{}", "echo `echo \\{}",
                             "echo \"${x:-'{}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        shell_context ctx;
        assert_int_equal(context_of(refused[i], &ctx), -1);
    }
}

static void check_quote_at(quote_context where, int escaped, int backquoted, int bq_dq, const char *in,
                           const char *want)
{
    shell_context ctx = {(unsigned char)where, (unsigned char)escaped, (unsigned char)backquoted,
                         (unsigned char)bq_dq};
    strbuf b = STRBUF_INIT;
    assert_int_equal(shell_quote_at(&b, in, strlen(in), &ctx), 0);
    assert_string_equal(sb_str(&b), want);
    sb_free(&b);
}

static void test_quoting_for_context(void **state)
{
    (void)state;
    /* plain values are left alone, as GNU parallel does */
    for (int w = QC_BARE; w <= QC_COMMENT; w++)
        check_quote_at((quote_context)w, 0, 0, 0, "a-b/c.d", "a-b/c.d");
    check_quote_at(QC_BARE, 0, 0, 0, "$(x) 'y'", "'$(x) '\"'\"'y'\"'\"");
    check_quote_at(QC_SINGLE, 0, 0, 0, "a b", "''a b''");
    check_quote_at(QC_SINGLE, 0, 0, 0, "it's", "''it'\"'\"'s''");
    check_quote_at(QC_DOUBLE, 0, 0, 0, "$a`b`\"c\\ 'd'", "\\$a\\`b\\`\\\"c\\\\ 'd'");
    check_quote_at(QC_DOUBLE, 1, 0, 0, "x y", "x y");
    check_quote_at(QC_DOUBLE, 1, 0, 0, "$x", "\\\\$x");
    check_quote_at(QC_DOUBLE, 1, 0, 0, "", "\\");
    check_quote_at(QC_DOUBLE_PARAM, 0, 0, 0, "it's $x", "\"it's \\$x\"");
    check_quote_at(QC_ANSI, 0, 0, 0, "a b", "''a b'$'");
    check_quote_at(QC_ANSI, 1, 0, 0, "n", "\\'n$'");
    check_quote_at(QC_BARE, 1, 0, 0, "$x y", "$'x y'");
    check_quote_at(QC_BARE, 1, 0, 0, "", "\n''");
    check_quote_at(QC_BARE, 1, 0, 0, "\nx", "\n'\nx'");
    check_quote_at(QC_ARITH, 0, 0, 0, "a[$(x)]", "'a[\\$(x)]'");
    check_quote_at(QC_COMMENT, 0, 0, 0, "a\nb", "a\n#b");
    check_quote_at(QC_BARE, 0, 1, 0, "$x\"", "'\\$x\"'");
    check_quote_at(QC_BARE, 0, 1, 1, "$x\"", "'\\$x\\\"'");
    check_quote_at(QC_DOUBLE, 0, 1, 1, "\\", "\\\\\\\\");
}

static void test_perl_expressions(void **state)
{
    (void)state;
    struct { const char *s; int found; size_t off, len; } cases[] = {
        {"echo {= s/a/b/ =}", 1, 5, 12},
        {"x{==}y", 1, 1, 4},
        {"{= a {= b =} c =}", 1, 0, 12},
        {"{=}", 0, 0, 0},
        {"=} {=", 0, 0, 0},
        {"{= never closed", 0, 0, 0},
        {"{} {1} {#}", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t off = 99, len = 99;
        assert_int_equal(template_find_perl(cases[i].s, strlen(cases[i].s), &off, &len), cases[i].found);
        if (cases[i].found) {
            assert_int_equal(off, cases[i].off);
            assert_int_equal(len, cases[i].len);
        }
    }
    /* command_compile refuses them, naming the construct, with or without -q */
    char *split[] = {"echo", "{=", "s/a/b/", "=}"};
    char *heredoc[] = {"cat <<EOF\n{}\nEOF"};
    struct { char **words; size_t n; int quote; const char *needle; } bad[] = {
        {split, 4, 0, "{= s/a/b/ =}"}, {split, 4, 1, "{= s/a/b/ =}"}, {heredoc, 1, 0, "here-document"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        command c;
        strbuf err = STRBUF_INIT;
        assert_int_equal(command_compile(&c, bad[i].words, bad[i].n, bad[i].quote, NULL, &err), -1);
        assert_non_null(strstr(sb_str(&err), bad[i].needle));
        command_free(&c);
        sb_free(&err);
    }
}

static void test_option_values(void **state)
{
    (void)state;
    jobs_kind k;
    double v;
    assert_int_equal(parse_jobs("4", &k, &v), 0);
    assert_int_equal(jobs_resolve(k, v, 8), 4);
    assert_int_equal(parse_jobs("50%", &k, &v), 0);
    assert_int_equal(jobs_resolve(k, v, 8), 4);
    assert_int_equal(parse_jobs("+2", &k, &v), 0);
    assert_int_equal(jobs_resolve(k, v, 8), 10);
    assert_int_equal(parse_jobs("-20", &k, &v), 0);
    assert_int_equal(jobs_resolve(k, v, 8), 1);
    assert_int_equal(parse_jobs("0", &k, &v), 0);
    assert_int_equal(k, JOBS_UNLIMITED);
    const char *bad_jobs[] = {"", "x", "1.5", "+", "%", "-", "4x", "1e3", "nan"};
    for (size_t i = 0; i < sizeof bad_jobs / sizeof bad_jobs[0]; i++)
        assert_int_equal(parse_jobs(bad_jobs[i], &k, &v), -1);

    halt_spec h;
    assert_int_equal(parse_halt("now,fail=1", &h), 0);
    assert_true(h.when == HALT_NOW && h.why == HALT_FAIL && h.value == 1 && !h.percent);
    assert_int_equal(parse_halt("soon,success=30%", &h), 0);
    assert_true(h.when == HALT_SOON && h.why == HALT_SUCCESS && h.value == 30 && h.percent);
    assert_int_equal(parse_halt("2", &h), 0);
    assert_true(h.when == HALT_NOW && h.why == HALT_FAIL && h.value == 1);
    assert_int_equal(parse_halt("-1", &h), 0);
    assert_true(h.when == HALT_SOON && h.why == HALT_SUCCESS);
    assert_int_equal(parse_halt("10%", &h), 0);
    assert_true(h.when == HALT_SOON && h.percent && h.value == 10);
    const char *bad_halt[] = {"", "bad", "now", "now,", "now,fail", "now,fail=", "now,fail=x",
                              "later,fail=1", "now,oops=1", "now,fail=1.5", "now,fail=101%", "3"};
    for (size_t i = 0; i < sizeof bad_halt / sizeof bad_halt[0]; i++)
        assert_int_equal(parse_halt(bad_halt[i], &h), -1);

    double secs;
    int pct;
    assert_int_equal(parse_duration("90", &secs, &pct), 0);
    assert_true(secs == 90 && !pct);
    assert_int_equal(parse_duration("1h30m", &secs, &pct), 0);
    assert_true(secs == 5400);
    assert_int_equal(parse_duration("1.5m", &secs, &pct), 0);
    assert_true(secs == 90);
    assert_int_equal(parse_duration("200%", &secs, &pct), 0);
    assert_true(secs == 200 && pct);
    const char *bad_dur[] = {"", "-3", "0", "1x", "m", "%"};
    for (size_t i = 0; i < sizeof bad_dur / sizeof bad_dur[0]; i++)
        assert_int_equal(parse_duration(bad_dur[i], &secs, &pct), -1);
}

static void check_delimiter(const char *in, const char *want, size_t want_len)
{
    strbuf b = STRBUF_INIT;
    assert_int_equal(parse_delimiter(in, &b), 0);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    sb_free(&b);
}

static void check_words(const char *in, size_t n, const char *const *want)
{
    strvec v = STRVEC_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(split_shell_words(in, &v, &err), 0);
    assert_int_equal(v.len, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v.items[i], want[i]);
    sv_free(&v);
    sb_free(&err);
}

static void test_shell_words(void **state)
{
    (void)state;
    check_words("", 0, NULL);
    check_words("  -k\t--tag  ", 2, (const char *const[]){"-k", "--tag"});
    check_words("-I 'a b' \"c\\\"d\" e\\ f ''", 5, (const char *const[]){"-I", "a b", "c\"d", "e f", ""});
    check_words("'x\\'y' 'p\\q' a\"b c\"d", 3, (const char *const[]){"x'y", "p\\q", "ab cd"});
    strvec v = STRVEC_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(split_shell_words("-k 'open", &v, &err), -1);
    assert_non_null(strstr(sb_str(&err), "unterminated"));
    sv_free(&v);
    sb_free(&err);
}

static void test_delimiters(void **state)
{
    (void)state;
    check_delimiter(",", ",", 1);
    check_delimiter("\\0", "\0", 1);
    check_delimiter("\\n", "\n", 1);
    check_delimiter("\\t\\r", "\t\r", 2);
    check_delimiter("\\101x", "Ax", 2);
    check_delimiter("\\7", "\7", 1);
    check_delimiter("\\18", "\0018", 2);
    check_delimiter("\\", "\\", 1);
    check_delimiter("\\x41", "\\x41", 4); /* GNU parallel reads no hex */
    check_delimiter("\\\\", "\\\\", 2);
    strbuf b = STRBUF_INIT;
    assert_int_equal(parse_delimiter("", &b), -1);
    sb_free(&b);
}

static void test_command_line(void **state)
{
    (void)state;
    char *argv[] = {"-kj2", "--tag", "--joblog=+log", "echo", "{}", "-k", ":::", "a", "b", ":::+",
                    "1", "2", "::::", "f1", "f2", NULL};
    run_options o;
    strbuf err = STRBUF_INIT;
    assert_int_equal(run_options_parse(&o, 15, argv, &err), 0);
    assert_true(o.keep_order && o.tag && o.joblog_append);
    assert_string_equal(o.joblog, "log");
    assert_int_equal(o.jobs_kind, JOBS_ABS);
    assert_int_equal(o.ncmd, 3); /* echo {} -k: options end at the command */
    assert_int_equal(o.nsources, 4);
    assert_true(o.sources[1].linked && !o.sources[2].linked && !o.sources[3].linked);
    assert_string_equal(o.sources[3].path, "f2");
    run_options_free(&o);

    char *bad1[] = {"--nope", NULL};
    assert_int_equal(run_options_parse(&o, 1, bad1, &err), -1);
    assert_non_null(strstr(sb_str(&err), "--nope"));
    run_options_free(&o);
    sb_clear(&err);
    /* A first source has nothing to link to: it is an ordinary one. */
    char *first_linked[] = {"echo", ":::+", "a", NULL};
    assert_int_equal(run_options_parse(&o, 3, first_linked, &err), 0);
    assert_int_equal(o.nsources, 1);
    assert_false(o.sources[0].linked);
    run_options_free(&o);
    sb_clear(&err);
    char *bad3[] = {"-j", NULL};
    assert_int_equal(run_options_parse(&o, 1, bad3, &err), -1);
    run_options_free(&o);
    sb_free(&err);
}

/* -X and -s: for every template, the shell form of a job with one more
 * argument is exactly command_growth longer, so the packer's running
 * length is the real one; and the copies of a repeated word are what the
 * argv form runs too. */
static void test_repeat_words_growth(void **state)
{
    (void)state;
    struct { const char *words[4]; size_t n; int quote; } tpl[] = {
        {{"echo", "x{}y"}, 2, 0},
        {{"echo", "x{}y", "{#}", "{.}"}, 4, 0},
        {{"printf '[%s]' \"<{}>\" '{}'; echo"}, 1, 0},
        {{"echo"}, 1, 0},
        {{"echo {} | cat", "\\{}"}, 2, 0},
        {{"printf", "x{}y", "a b"}, 3, 1},
    };
    char *args[] = {"a", "it's", "b c", "$(x)", "d.e"};
    for (size_t t = 0; t < sizeof tpl / sizeof tpl[0]; t++) {
        for (int repeat = 0; repeat <= 1; repeat++) {
            command c;
            strbuf err = STRBUF_INIT;
            assert_int_equal(command_compile(&c, (char **)tpl[t].words, tpl[t].n, tpl[t].quote, NULL, &err), 0);
            if (repeat)
                assert_int_equal(command_repeat_words(&c), 0);
            strbuf prev = STRBUF_INIT, next = STRBUF_INIT;
            for (size_t n = 1; n < 5; n++) {
                job_values a = {args, n, 1, 1, NULL}, b = {args, n + 1, 1, 1, NULL};
                sb_clear(&prev);
                sb_clear(&next);
                assert_int_equal(command_shell_text(&c, &a, &prev), 0);
                assert_int_equal(command_shell_text(&c, &b, &next), 0);
                assert_int_equal(next.len, prev.len + command_growth(&c, args[n]));
            }
            sb_free(&prev);
            sb_free(&next);
            sb_free(&err);
            command_free(&c);
        }
    }
    char *words[] = {"echo", "x{}y", "{#}"};
    char *two[] = {"a", "b c"};
    command c;
    strbuf err = STRBUF_INIT, shell = STRBUF_INIT, path = STRBUF_INIT;
    strvec argv = STRVEC_INIT;
    assert_int_equal(command_compile(&c, words, 3, 0, NULL, &err), 0);
    assert_int_equal(command_repeat_words(&c), 0);
    job_values v = {two, 2, 7, 1, NULL};
    assert_int_equal(command_shell_text(&c, &v, &shell), 0);
    assert_string_equal(sb_str(&shell), "echo xay x'b c'y 7");
    assert_int_equal(command_argv(&c, &v, &argv, &path), 1);
    assert_int_equal(argv.len, 4);
    assert_string_equal(argv.items[2], "xb cy");
    sb_free(&err);
    sb_free(&shell);
    sb_free(&path);
    sv_free(&argv);
    command_free(&c);
}

static void render(char **words, size_t n, int quote, char **args, size_t nargs, const char *want_shell,
                   int want_direct, const char *want_argv)
{
    command c;
    strbuf err = STRBUF_INIT;
    assert_int_equal(command_compile(&c, words, n, quote, NULL, &err), 0);
    sb_free(&err);
    job_values v = {args, nargs, 1, 1, NULL};
    strbuf shell = STRBUF_INIT, path = STRBUF_INIT, joined = STRBUF_INIT;
    strvec argv = STRVEC_INIT;
    assert_int_equal(command_shell_text(&c, &v, &shell), 0);
    assert_string_equal(sb_str(&shell), want_shell);
    assert_int_equal(command_argv(&c, &v, &argv, &path), want_direct);
    if (want_direct) {
        for (size_t i = 0; i < argv.len; i++)
            sb_addf(&joined, "%s[%s]", i ? " " : "", argv.items[i]);
        assert_string_equal(sb_str(&joined), want_argv);
        assert_null(argv.items[argv.len]);
    }
    sb_free(&shell);
    sb_free(&path);
    sb_free(&joined);
    sv_free(&argv);
    command_free(&c);
}

static void test_command_rendering(void **state)
{
    (void)state;
    char *ab[] = {"a b", "c'd"};
    char *echo_all[] = {"echo", "{}"};
    render(echo_all, 2, 0, ab, 2, "echo 'a b' 'c'\"'\"'d'", 1, "[echo] [a b] [c'd]");
    char *echo_word[] = {"echo", "x{}y"};
    render(echo_word, 2, 0, ab, 2, "echo x'a b' 'c'\"'\"'d'y", 1, "[echo] [xa b] [c'dy]");
    char *echo_only[] = {"echo", "-n"};
    render(echo_only, 2, 0, ab, 1, "echo -n 'a b'", 1, "[echo] [-n] [a b]");
    char *piped[] = {"echo {} | cat"};
    render(piped, 1, 0, ab, 1, "echo 'a b' | cat", 0, NULL);
    char *builtin[] = {"cd", "{}"};
    render(builtin, 2, 0, ab, 1, "cd 'a b'", 0, NULL);
    char *quoted[] = {"echo", "a;b", "{2}"};
    render(quoted, 3, 1, ab, 2, "echo 'a;b' 'c'\"'\"'d'", 1, "[echo] [a;b] [c'd]");
    char *none[] = {NULL};
    char *cmds[] = {"echo hi;", "echo x"};
    render(none, 0, 0, cmds, 2, "echo hi; echo x", 0, NULL);
    char *dq[] = {"echo \"{}\" '{}'"};
    render(dq, 1, 0, ab, 1, "echo \"a b\" '''a b'''", 0, NULL);
    char *appended[] = {"echo x #"};
    char *nl[] = {"a\nrm x"};
    render(appended, 1, 0, nl, 1, "echo x # a\n#rm x", 0, NULL);
    char *help[] = {"--help"};
    render(echo_all, 2, 0, help, 1, "echo --help", 0, NULL);
}

static void check_split(const char *sep, const char *in, size_t want_n, const char *const *want)
{
    colsep *c;
    strbuf err = STRBUF_INIT;
    assert_int_equal(colsep_compile(&c, sep, &err), 0);
    strvec out = STRVEC_INIT;
    assert_int_equal(colsep_split(c, in, strlen(in), &out), 0);
    assert_int_equal(out.len, want_n);
    for (size_t i = 0; i < want_n; i++)
        assert_string_equal(out.items[i], want[i]);
    sv_free(&out);
    colsep_free(c);
    sb_free(&err);
}

static void test_columns(void **state)
{
    (void)state;
    const char *w1[] = {"a", "b", "c"};
    check_split(",", "a,b,c", 3, w1);
    const char *w2[] = {"a", "b"};
    check_split(",", " a , b ,,", 2, w2);
    check_split(" +", "a   b", 2, w2);
    check_split("\\t", "a\tb", 2, w2);
    const char *w3[] = {""};
    check_split(",", "", 1, w3);
    const char *w4[] = {"", "x"};
    check_split(",", ",x", 2, w4);
}

static void test_exit_status(void **state)
{
    (void)state;
    halt_spec never = {HALT_NEVER, HALT_FAIL, 0, 0};
    tally t;
    tally_init(&t, &never, 0);
    assert_int_equal(tally_exit_status(&t), 0);
    for (int i = 0; i < 100; i++)
        tally_add(&t, 1, 0);
    assert_int_equal(tally_exit_status(&t), 100);
    tally_add(&t, 0, 9);
    assert_int_equal(tally_exit_status(&t), 101);

    halt_spec fail1 = {HALT_NOW, HALT_FAIL, 1, 0};
    tally_init(&t, &fail1, 0);
    assert_int_equal(tally_add(&t, 0, 0), 0);
    assert_int_equal(tally_add(&t, 5, 0), 1);
    assert_int_equal(tally_exit_status(&t), 5);
    tally_init(&t, &fail1, 0);
    assert_int_equal(tally_add(&t, -1, 15), 1); /* timed out */
    assert_int_equal(tally_exit_status(&t), 255);

    halt_spec success = {HALT_SOON, HALT_SUCCESS, 2, 0};
    tally_init(&t, &success, 0);
    tally_add(&t, 3, 0);
    assert_int_equal(tally_add(&t, 0, 0), 0);
    assert_int_equal(tally_add(&t, 0, 0), 1);
    assert_int_equal(tally_exit_status(&t), 0);

    halt_spec pct = {HALT_NOW, HALT_FAIL, 20, 1};
    tally_init(&t, &pct, 9);
    tally_add(&t, 0, 0);
    assert_int_equal(tally_add(&t, 1, 0), 0);
    assert_int_equal(tally_add(&t, 2, 0), 1); /* 2 of 9 >= 20% */
    assert_int_equal(tally_exit_status(&t), 23);
}

static void test_median_window(void **state)
{
    (void)state;
    static median_window m;
    median_init(&m);
    assert_true(median_value(&m) == 0);
    median_add(&m, 3);
    median_add(&m, 1);
    median_add(&m, 2);
    assert_int_equal(median_count(&m), 3);
    assert_true(median_value(&m) == 2);
    /* Fill the window with 100s: the early samples drop out. */
    for (int i = 0; i < MEDIAN_WINDOW; i++)
        median_add(&m, 100);
    assert_int_equal(median_count(&m), MEDIAN_WINDOW);
    assert_true(median_value(&m) == 100);
    for (int i = 0; i < MEDIAN_WINDOW / 2 + 1; i++)
        median_add(&m, 5);
    assert_true(median_value(&m) == 5); /* 513 fives, 511 hundreds */
    for (int i = 0; i < MEDIAN_WINDOW; i++)
        median_add(&m, (double)(i % 7));
    assert_true(median_value(&m) == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shell_quote),
        cmocka_unit_test(test_path_edits),
        cmocka_unit_test(test_replacement_strings),
        cmocka_unit_test(test_quoting_context_scan),
        cmocka_unit_test(test_quoting_for_context),
        cmocka_unit_test(test_perl_expressions),
        cmocka_unit_test(test_option_values),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_shell_words),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_command_rendering),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_median_window),
        cmocka_unit_test(test_repeat_words_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
