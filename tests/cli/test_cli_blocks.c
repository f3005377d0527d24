/* test_cli_blocks.c - unit tests for cutting input into blocks (--pipe,
 * --pipepart), --block sizes and line-buffered output.  The expected cuts
 * are the ones GNU parallel 20221122 makes of the same input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "blocks.h"
#include "options.h"
#include "output.h"

/* A file in memory holding data, positioned at its start. */
static int memory_file(const char *data, size_t n)
{
    int fd = memfd_create("test-input", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Everything a memory file holds. */
static void read_back(int fd, strbuf *out)
{
    off_t end = lseek(fd, 0, SEEK_END);
    assert_true(end >= 0);
    sb_clear(out);
    assert_int_equal(sb_reserve(out, (size_t)end), 0);
    assert_int_equal(pread(fd, out->data, (size_t)end, 0), (ssize_t)end);
    out->len = (size_t)end;
    out->data[out->len] = '\0';
}

/* The blocks --pipe cuts data into, joined with '|'. */
static void check_stdin_cuts(const char *data, size_t block, size_t per_block, const char *recstart,
                             const char *recend, const char *want)
{
    int fd = memory_file(data, strlen(data));
    stdin_blocks b;
    assert_int_equal(stdin_blocks_init(&b, fd, block, per_block, recstart, recend), 0);
    strbuf got = STRBUF_INIT, one = STRBUF_INIT;
    for (;;) {
        int r = stdin_blocks_take(&b, &one);
        if (r == STDIN_BLOCKS_END)
            break;
        if (r == STDIN_BLOCKS_LATER) {
            assert_true(stdin_blocks_hungry(&b));
            assert_int_equal(stdin_blocks_read(&b), 0);
            continue;
        }
        assert_int_equal(r, 1);
        assert_true(one.len > 0);
        if (got.len)
            sb_addc(&got, '|');
        sb_add(&got, one.data, one.len);
    }
    assert_string_equal(sb_str(&got), want);
    sb_free(&got);
    sb_free(&one);
    stdin_blocks_free(&b);
    close(fd);
}

static void test_stdin_blocks(void **state)
{
    (void)state;
    /* Whole records up to the block size; the rest goes to the next. */
    check_stdin_cuts("a\nb\nc\n", 3, 0, NULL, NULL, "a\n|b\n|c\n");
    check_stdin_cuts("1\n22\n333\n4444\n", 8, 0, NULL, NULL, "1\n22\n|333\n|4444\n");
    /* Without a final separator the end of the input ends the record. */
    check_stdin_cuts("a\nb\nc", 1 << 20, 0, NULL, NULL, "a\nb\nc");
    check_stdin_cuts("", 10, 0, NULL, NULL, "");
    /* A record longer than the block goes whole (the block size grows). */
    check_stdin_cuts("ab\ncdefghijklmnop\nq\n", 4, 0, NULL, NULL, "ab\n|cdefghijklmnop\n|q\n");
    /* -N: that many records per block. */
    check_stdin_cuts("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 1 << 20, 3, NULL, NULL, "1\n2\n3\n|4\n5\n6\n|7\n8\n9\n|10\n");
    /* --recstart alone: a record starts at each '>'. */
    check_stdin_cuts(">a\nx\n>b\ny\n>c\n", 1 << 20, 1, ">", NULL, ">a\nx\n|>b\ny\n|>c\n");
    check_stdin_cuts(">a\nx\n>b\ny\n>c\n", 5, 0, ">", NULL, ">a\nx\n|>b\ny\n|>c\n");
    /* --recend with an escape, and both separators together. */
    check_stdin_cuts("a;b;c;", 4, 0, NULL, ";", "a;b;|c;");
    check_stdin_cuts("1\t2\t3\t", 4, 0, NULL, "\\t", "1\t2\t|3\t");
    check_stdin_cuts("x\n>a\n>b\n", 6, 0, ">", "\\n", "x\n>a\n|>b\n");
}

/* The part lengths --pipepart cuts a file into, joined with ','. */
static void check_file_parts(const char *data, long long block, long slots, const char *recstart,
                             const char *recend, const char *want)
{
    char path[] = "/tmp/test-cli-blocks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
    file_parts p;
    strbuf err = STRBUF_INIT, got = STRBUF_INIT;
    assert_int_equal(file_parts_open(&p, path, block, slots, recstart, recend, &err), 0);
    off_t off, expect_off = 0;
    size_t len;
    int r;
    while ((r = file_parts_next(&p, &off, &len)) == 1) {
        assert_int_equal(off, expect_off);
        expect_off += (off_t)len;
        sb_addf(&got, got.len ? ",%zu" : "%zu", len);
    }
    assert_int_equal(r, 0);
    assert_int_equal(expect_off, (off_t)strlen(data));
    assert_string_equal(sb_str(&got), want);
    file_parts_close(&p);
    unlink(path);
    sb_free(&err);
    sb_free(&got);
}

static void test_file_parts(void **state)
{
    (void)state;
    /* A part ends at the first boundary at or after the block size. */
    check_file_parts("aaaa\nbb\ncccccc\nd\n", 5, 1, NULL, NULL, "8,7,2");
    check_file_parts("aaaa\nbb\ncccccc\nd\n", 3, 1, NULL, NULL, "5,10,2");
    check_file_parts("a\nb\nc", 2, 1, NULL, NULL, "4,1");
    check_file_parts("", 5, 1, NULL, NULL, "");
    check_file_parts(">a\nx\n>b\n>c\n", 2, 1, ">", NULL, "5,3,3");
    /* A negative block: that many parts per job slot. */
    check_file_parts("1\n2\n3\n4\n5\n6\n7\n8\n", -2, 2, NULL, NULL, "6,6,4");

    strbuf err = STRBUF_INIT;
    file_parts p;
    assert_int_equal(file_parts_open(&p, "/", 10, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(sb_str(&err), "regular file"));
    sb_clear(&err);
    assert_int_equal(file_parts_open(&p, "/nonexistent/file", 10, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(sb_str(&err), "cannot open"));
    sb_free(&err);
}

static void check_block_size(const char *s, long long want)
{
    long long v = 0;
    assert_int_equal(parse_block_size(s, &v), 0);
    assert_true(v == want);
}

static void test_block_size(void **state)
{
    (void)state;
    check_block_size("1", 1);
    check_block_size("10k", 10000);
    check_block_size("2K", 2048);
    check_block_size("1m", 1000000);
    check_block_size("1M", 1048576);
    check_block_size("1.5k", 1500);
    check_block_size("1ki", 1024);
    check_block_size("1Mi", 1048576);
    check_block_size("2G", 2147483648LL);
    check_block_size("1g", 1000000000);
    check_block_size("1T", 1099511627776LL);
    check_block_size("-2", -2);
    const char *bad[] = {"", "0", "0.5", "-0", "k", "1x", "1MB", "1 M", "M1", "1e3", "--1", "nan", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long v = 42;
        assert_int_equal(parse_block_size(bad[i], &v), -1);
        assert_true(v == 42);
    }
}

/* --line-buffer: a line much longer than each read arrives whole, and
 * nothing is written before its newline. */
static void test_long_line_intact(void **state)
{
    (void)state;
    const size_t piece = 65536, pieces = 200;
    strbuf input = STRBUF_INIT;
    sb_adds(&input, "first\n");
    for (size_t i = 0; i < piece * pieces; i++)
        sb_addc(&input, (char)('a' + i % 26));
    sb_adds(&input, "\nlast line without newline");
    int out = memfd_create("test-output", MFD_CLOEXEC);
    assert_true(out >= 0);
    strbuf buf = STRBUF_INIT, written = STRBUF_INIT;
    size_t line_end = 6 + piece * pieces + 1;
    for (size_t at = 0; at < input.len; at += piece) {
        size_t n = input.len - at < piece ? input.len - at : piece;
        sb_add(&buf, input.data + at, n);
        assert_int_equal(flush_complete_lines(out, "T\t", 2, &buf, n), 0);
        read_back(out, &written);
        /* Only whole lines are out, each tagged. */
        if (at + n < line_end)
            assert_string_equal(sb_str(&written), "T\tfirst\n");
    }
    assert_string_equal(sb_str(&buf), "last line without newline");
    read_back(out, &written);
    assert_int_equal(written.len, 2 + 6 + 2 + piece * pieces + 1);
    assert_memory_equal(written.data + 8, "T\t", 2);
    assert_memory_equal(written.data + 10, input.data + 6, piece * pieces + 1);
    close(out);
    sb_free(&input);
    sb_free(&buf);
    sb_free(&written);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdin_blocks),
        cmocka_unit_test(test_file_parts),
        cmocka_unit_test(test_block_size),
        cmocka_unit_test(test_long_line_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
