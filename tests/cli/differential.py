#!/usr/bin/env python3
"""Differential tests for `mproc run`: each case runs the same arguments
through GNU parallel (the reference) and through `mproc run`, in two fresh
directories holding the same files, and compares standard output, standard
error (when the case says it is deterministic), the exit status, the job
log without its timing columns and any --results tree.

A few cases have no reference behaviour to compare with (mproc's own
checks: signals, memory, help); they state what they expect instead.  So
do the cases where GNU parallel itself is unsafe (it runs an input as
shell code when a replacement string stands inside quotes): there the case
gives mproc's expected output and does not run GNU parallel.

No case may depend on the machine being idle: jobs that must end in a
given order wait for each other (through files), never for a shorter sleep,
and every time limit is a generous bound that catches a hang, not a speed
check.

Each check runs in a directory of its own, under a HOME of its process's
own: the checks are independent, and so are the parts --shard I/N cuts the
suite into (ctest runs them side by side, cli_differential_1 ... _N).

usage: differential.py --mproc PATH [--shard I/N] [-k PATTERN] [-v]
"""
import argparse
import hashlib
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PARALLEL = shutil.which("parallel")
CASES = []
# The jobs' shell, the same for both tools, so that shell messages match.
SHELL = shutil.which("bash") or "/bin/sh"


# Seconds a run of one tool may take before the case counts as hung: GNU
# parallel needs a minute for 2000 jobs on a busy two-core machine.
HANG = 600


def case(name, args, stdin=None, files=None, stderr=True, sort=False, joblog=None,
         results=None, timeout=HANG, pre=None, after=None, check=None, stdout=True,
         expect=None, shell=None, env=None, cost=1):
    """Registers one differential case.

    args    the words after `parallel` / `mproc run`
    stdin   bytes given on standard input (None: /dev/null)
    files   {name: bytes} created in the working directory first
    stdout  compare standard output (False for usage errors: GNU parallel
            prints its usage there, mproc names the problem on stderr)
    stderr  compare standard error (lines the tools write about themselves,
            "parallel: ..." and "mproc run: ...", are never compared)
    sort    compare output lines sorted (jobs run concurrently)
    joblog  name of a job log to compare, without its timing columns
    results name of a --results directory whose tree is compared
    pre     a shell command run in the working directory first
    after   a shell command whose output is compared after the run
    check   an extra function(ours) -> error string or None
    expect  (stdout bytes, exit status) mproc must give, for a case where GNU
            parallel is unsafe or its result depends on timing: it is not
            run, and no file named "pwned" may appear in the working
            directory
    shell   the jobs' shell for this case (default: bash)
    env     variables set for both tools (e.g. PARALLEL)
    cost    roughly how many ordinary cases' time this one takes (GNU
            parallel starting a thousand jobs, a timeout running out): only
            to share the checks out evenly among parts (--shard)
    """
    CASES.append(dict(name=name, args=args, stdin=stdin, files=files or {}, stderr=stderr,
                      sort=sort, joblog=joblog, results=results, timeout=timeout, pre=pre, stdout=stdout,
                      after=after, check=check, expect=expect, shell=shell, env=env or {}, cost=cost))


SELF_CHECKS = []


def self_check(fn):
    """Registers one of mproc's own checks: fn(mproc, base, env) returns an
    error string or None.  Each costs about an ordinary case."""
    SELF_CHECKS.append(fn)
    return fn


def csv_stdout_check(ours):
    """--results -.csv: the table on stdout, the jobs' own output nowhere."""
    import csv
    import io
    rows = list(csv.reader(io.StringIO(ours["stdout"].decode(), newline="")))
    want = [["Seq", "Host", "Send", "Receive", "Exitval", "Signal", "Command", "V1", "Stdout", "Stderr"],
            ["1", ":", "0", "2", "0", "0", "echo a", "a", "a\n", ""],
            ["2", ":", "0", "2", "0", "0", "echo b", "b", "b\n", ""]]
    got = [r[:2] + r[4:] for r in rows]
    return None if got == want else "stdout table %r" % got


def nothing_ran(ours):
    """A usage error: a message naming the problem, and no job output."""
    if ours["stdout"] or not ours["stderr"].startswith(b"mproc run: "):
        return "expected only a message on stderr, got %r / %r" % (ours["stdout"][:200], ours["stderr"][:200])
    return None


# ---- inputs ---------------------------------------------------------------
case("args", ["-k", "echo", ":::", "a", "b", "c"])
case("product", ["-k", "echo", ":::", "a", "b", ":::", "1", "2", "3"])
case("product-three", ["-k", "echo", "{3}{2}{1}", ":::", "a", "b", ":::", "1", "2", ":::", "x", "y"])
case("linked", ["-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2", "3"])
case("linked-shorter", ["-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2"])
case("linked-in-product", ["-k", "echo", ":::", "a", "b", ":::+", "1", "2", ":::", "x", "y"])
case("argfile", ["-k", "echo", "{}", "::::", "in.txt"], files={"in.txt": b"one\ntwo\nthree\n"})
case("argfile-linked", ["-k", "echo", "::::", "a.txt", "::::+", "b.txt"],
     files={"a.txt": b"a1\na2\n", "b.txt": b"b1\nb2\n"})
case("argfile-linked-several", ["-k", "echo", ":::", "a", "b", "c", "::::+", "f1", "f2"],
     files={"f1": b"1\n2\n3\n", "f2": b"x\ny\nz\n"})
case("argfile-linked-several-product", ["-k", "echo", ":::", "a", "b", "::::+", "f1", "f2", ":::", "p", "q"],
     files={"f1": b"1\n2\n", "f2": b"x\ny\n"})
case("argfile-two-files", ["-k", "echo", "::::", "a.txt", "b.txt"],
     files={"a.txt": b"a1\na2\n", "b.txt": b"b1\nb2\n"})
case("argfile-and-args", ["-k", "echo", "::::", "a.txt", ":::", "x", "y"], files={"a.txt": b"a1\na2\n"})
case("arg-file-option", ["-k", "-a", "a.txt", "echo"], files={"a.txt": b"a1\na2\n"})
case("argfile-dash-stdin", ["-k", "echo", "::::", "-"], stdin=b"s1\ns2\n")
case("stdin", ["-k", "echo", "line:"], stdin=b"x\ny\nz\n")
case("stdin-empty-lines", ["-k", "echo", "[{}]"], stdin=b"a\n\nb\n\n")
case("stdin-no-final-newline", ["-k", "echo", "[{}]"], stdin=b"a\nb")
case("stdin-carriage-return", ["-k", "echo", "[{}]"], stdin=b"a\r\nb\n")
case("stdin-empty", ["echo", "never"], stdin=b"")
case("args-empty", ["echo", "never", ":::"])
case("argfile-empty", ["-k", "echo", "::::", "empty.txt"], files={"empty.txt": b""})
case("empty-source-first-in-product", ["-k", "echo", "[{1}]", "[{2}]", "::::", "empty.txt", ":::", "a", "b"],
     files={"empty.txt": b""})
case("empty-source-last-in-product", ["-k", "echo", "[{1}]", "[{2}]", ":::", "a", "b", "::::", "empty.txt"],
     files={"empty.txt": b""})
case("colsep", ["-k", "--colsep", ",", "echo", "[{2}]", "[{1}]", "[{3}]"], stdin=b"a,b,c\nd,e\n")
case("colsep-append", ["-k", "--colsep", ",", "echo"], stdin=b"a,b,c\nd,e\n")
case("colsep-regex", ["-k", "--colsep", " +", "echo", "{2}-{1}"], stdin=b"a   b\nc d\n")
case("colsep-trim", ["-k", "-C", ",", "echo", "[{1}]", "[{2}]"], stdin=b" a , b \n")
case("colsep-tab", ["-k", "--colsep", "\t", "echo", "{2}", "{1}"], stdin=b"a\tb\nc\td\n")
case("colsep-args", ["-k", "--colsep", ":", "echo", "{2}", "{1}", ":::", "a:b", "c:d"])
case("max-args-append", ["-k", "-n", "2", "echo", ":::", "a", "b", "c", "d", "e"])
case("max-args-positional", ["-k", "-n2", "echo", "[{1}]", "[{2}]", "[{}]", ":::", "a", "b", "c"])
case("max-args-long", ["-k", "--max-args=3", "echo", "{#}", "{}", ":::"] + [str(i) for i in range(10)])

# ---- replacement strings --------------------------------------------------
PATHS = ["a", "dir.x/file", "dir/f.tar.gz", "/abs/x.y", ".hidden", "a/", "", "/x", "a//b",
         "a/b/", "/", "x/.y", "a.b.c", "dir/.hidden", ".", "..", "./x", "a.", "/.x", "a.b/c.d/"]
case("path-edits", ["-k", "echo", "[{}]", "[{.}]", "[{/}]", "[{//}]", "[{/.}]", ":::"] + PATHS)
case("positional", ["-k", "echo", "{2}", "{1}", ":::", "a", "b", ":::", "1", "2"])
case("positional-edits", ["-k", "echo", "{1.}", "{2/}", "{1//}", "{2/.}", ":::", "d/a.x", ":::", "e/f/b.y"])
case("positional-beyond", ["-k", "echo", "[{3}]", "[{1}]", ":::", "a", ":::", "b"])
case("colsep-missing-column", ["-k", "--colsep", ",", "printf", "[%s]", "x{3}x", "[{3}]", "{3}", "\"{3}\"", "'{3}'",
                                "{3}{3}", "{3.}", "{3/}", "{3//}", "z\\n"], stdin=b"a,b\n")
case("colsep-missing-column-shell", ["-k", "--colsep", ",", "printf '[%s]' {3} z; echo"], stdin=b"a,b\n")
case("colsep-missing-column-dry-run", ["-k", "--dry-run", "--colsep", ",", "echo", "x{3}x", "{3}", "z"], stdin=b"a,b\n")
case("colsep-missing-column-quote", ["-k", "-q", "--colsep", ",", "printf", "[%s]", "x{3}x", "{3}", "z\\n"], stdin=b"a,b\n")
case("max-args-missing-positional", ["-k", "-n2", "printf", "[%s]", "{1}", "{2}", "z\\n", ":::", "a", "b", "c"])
case("positional-from-end", ["-k", "echo", "{-1}", "{-2}", "{-3}", "{-1.}", "{-2/}", ":::", "a.x", ":::", "d/b", ":::", "c"])
case("positional-from-end-max-args", ["-k", "-n3", "echo", "{-1}", ":::", "a", "b", "c", "d"])
# Past the first argument, {-N} is no text.  (GNU parallel wraps around once
# for N up to twice the number of arguments, {-2} with one argument being
# that argument: not compared.)
case("positional-from-end-beyond", ["-k", "echo", "x{-3}x", "{-3}", "{-0}", "{-01}", "z", ":::", "a"])
case("positional-from-end-colsep", ["-k", "--colsep", ",", "echo", "{-1}", "{-2}", ":::", "a,b,c"])
case("positional-from-end-literal", ["-k", "echo", "{-}", "{--1}", "{-x}", ":::", "a"])
case("sequence", ["-k", "echo", "{#}", "{}", ":::", "a", "b", "c"])
case("slot-one-job", ["-j1", "-k", "echo", "{%}", "{#}", ":::", "a", "b", "c"])
# Job 1 holds slot 1 until job 3 has started, which it can only do in the
# slot job 2 frees: slots 1 2 2 however long anything takes.
case("slot-two-jobs", ["-j2", "-k", "if [ {} = 1 ]; then until [ -e three ]; do sleep 0.01; done; fi; "
                       "if [ {} = 3 ]; then touch three; fi; echo {%}", ":::", "1", "2", "3"])
case("inside-word", ["-k", "echo", "pre{}post", "x{.}y", ":::", "a b.c", "d"])
case("all-args-inside-word", ["-k", "echo", "x{}y", ":::", "a", ":::", "b"])
case("inside-shell-quotes", ["-k", "echo \"{}\"", ":::", "c", "d.e"])
# GNU parallel single-quotes the value even inside "...", so the job sees
# the quotes ('a b') and "$(...)" in a value runs: not compared.
case("inside-shell-quotes-quoted-value", ["-k", "echo \"{}\"", ":::", "a b", "$(touch pwned)"],
     expect=(b"a b\n$(touch pwned)\n", 0))
case("no-replacement-appends", ["-k", "echo", "first", ":::", "a b", "c"])
case("perl-lookalikes-literal", ["-k", "echo", "=}", "{=}", "{=", ":::", "x"])
case("unknown-braces-literal", ["-k", "echo", "{foo}", "{", "}", "{1x}", "{}", ":::", "x"])
case("empty-command", ["-k", ":::", "echo a", "echo b; echo c"])
case("empty-command-stdin", ["-k"], stdin=b"echo one\necho two | tr o 0\n")
case("empty-command-product", ["-k", ":::", "echo", "printf %s-", ":::", "a", "b"])
case("empty-value", ["-k", "echo", "[{}]", "[{.}]", ":::", "", "x"])

# ---- safety: inputs stay literal ------------------------------------------
NASTY = ["a b", "it's", 'say "hi"', "$(echo pwned)", "`echo pwned`", "a;echo pwned", "a|cat",
         "a&&echo pwned", "> out", "*", "?", "~", "#comment", "$HOME", "a\\b", "-n", "--help",
         "tab\there", "é ü", "{}", "'", "''", "\"", "!x", "a=b"]
case("nasty-values-fast", ["-k", "echo", "[{}]", ":::"] + NASTY)
case("nasty-values-appended", ["-k", "echo", ":::"] + NASTY)
case("nasty-values-shell", ["-k", "echo [{}] | cat", ":::"] + NASTY)
case("nasty-values-printf", ["-k", "printf", "%s|\\n", ":::"] + NASTY)
case("nasty-file-names", ["-k", "cat"],
     files={"a b.txt": b"spaces\n", "it's.txt": b"quote\n", "$(x).txt": b"dollar\n",
            "a;b.txt": b"semicolon\n", "*.txt": b"star\n"},
     stdin=b"a b.txt\nit's.txt\n$(x).txt\na;b.txt\n*.txt\n")
case("nasty-dry-run", ["-k", "--dry-run", "echo", "{}", ":::"] + NASTY)
case("nasty-joblog", ["-k", "--joblog", "log", "echo", ":::"] + NASTY, joblog="log")
case("quote-option", ["-k", "-q", "echo", "a  b;c", "$HOME", "{}", ":::", "x y"])
case("quote-option-dry-run", ["-k", "-q", "--dry-run", "echo", "a b", "{}", ":::", "it's"])
case("shell-syntax-command", ["-k", "echo {} | tr a-z A-Z; echo done >&2", ":::", "abc", "def"])
case("shell-variable", ["-k", "echo", "$PARALLEL_SEQ", "{}", ":::", "a", "b"])
case("shell-builtin", ["-k", "cd", "/", "&&", "pwd", ":::", "x"])
case("command-not-found", ["-k", "no-such-command-xyz", ":::", "a"])
case("exec-fallback-script", ["-k", "./script.sh", ":::", "a"], pre="printf 'echo script \"$@\"\\n' > script.sh; chmod +x script.sh")
case("jobs-get-default-sigpipe", ["-k", "yes {} | head -n 2", ":::", "a"])
case("echo-help-value", ["-k", "echo", ":::", "--help", "--version"])
case("leading-dash-values", ["-k", "echo", "{}", ":::", "-n", "-e", "-E"])

# ---- safety: every quoting context of the template ------------------------
# Values that GNU parallel runs as code when the template quotes {} itself,
# and values whose bytes a wrong quoting would change.  Each one must reach
# printf exactly, and none may create the file "pwned".
EXEC_VALUES = ["$(touch pwned)", "`touch pwned`", "a;touch pwned", "';touch pwned;'", "\";touch pwned;\"",
               "\\'$(touch pwned)", "a\n$(touch pwned)", "x\ntouch pwned\n#", "a[$(touch pwned)]",
               "$'\\x41'", "${HOME}"]
BYTE_VALUES = ["\\", "a\\", "\\n", "$HOME", "*", "?", "[a]", "~", "it's", "''", "\"", "a\nb", "!x",
               "a b  c", "-n", "plain", "", "\xe9", "\t", "#x", "}", "{}", "$((1+1))", "1"]
CONTEXT_VALUES = EXEC_VALUES + BYTE_VALUES
FMT = "printf '[%s]\\n' "
# (name, template, the argument printf gets for value v, shells).  $'...'
# is bash's: dash reads it as $ and a '...' string.
CONTEXTS = [
    ("bare", FMT + "{}", lambda v: v),
    ("bare-in-word", FMT + "x{}y", lambda v: "x" + v + "y"),
    ("single", FMT + "'{}'", lambda v: v),
    ("single-in-text", FMT + "'<{}>'", lambda v: "<" + v + ">"),
    ("double", FMT + '"{}"', lambda v: v),
    ("double-in-text", FMT + '"<{}> $((2+3))"', lambda v: "<" + v + "> 5"),
    ("ansi", FMT + "$'<{}>\\t'", lambda v: "<" + v + ">\t", ("bash",)),
    ("backslash-bare", FMT + "\\{}", lambda v: v),
    ("backslash-double", FMT + '"\\{}"', lambda v: "\\" + v),
    ("backslash-ansi", FMT + "$'\\{}'", lambda v: "\\" + v, ("bash",)),
    ("cmdsub", FMT + '"$(printf %s {})"', lambda v: v.rstrip("\n")),
    ("cmdsub-double", FMT + '"$(printf %s "{}")"', lambda v: v.rstrip("\n")),
    ("backquote", "x=`printf %s {}`; " + FMT + '"$x"', lambda v: v.rstrip("\n")),
    ("backquote-double", FMT + '"`printf %s {}`"', lambda v: v.rstrip("\n")),
    ("backquote-double-inner", FMT + '"`printf %s \\"{}\\"`"', lambda v: v.rstrip("\n")),
    ("param", FMT + "${x:-{}}", lambda v: v),
    ("param-double", FMT + '"${x:-<{}>}"', lambda v: "<" + v + ">"),
    ("comment", FMT + "x # {}", lambda v: "x"),
    ("appended-after-comment", FMT + "x #", lambda v: "x"),
    ("appended-after-backslash", FMT + "x\\", lambda v: "x " + v),
]
for ctx in CONTEXTS:
    name, template, arg = ctx[:3]
    for sh in ctx[3] if len(ctx) > 3 else ("bash", "dash"):
        want = "".join("[%s]\n" % arg(v) for v in CONTEXT_VALUES).encode("utf-8", "surrogateescape")
        case("context-%s-%s" % (name, sh), ["-k", "-j1", template, ":::"] + CONTEXT_VALUES,
             expect=(want, 0), shell=shutil.which(sh))
# Arithmetic has no literal data: a value that is not a plain word must not
# be evaluated; the job fails instead.
case("context-arith", ["-k", "-j1", "echo $(( {} + 1 ))", ":::", "1", "a[$(touch pwned)]", "$(touch pwned)"],
     expect=(b"2\n", 2))
# Where GNU parallel is safe (plain values), mproc agrees with it, --dry-run
# included.
CONTEXT_PLAIN = ["a", "b.c", "d/e", "-f", "1"]
case("context-plain-values", ["-k", FMT + "{} '{}' \"{}\" \\{} \"\\{}\" \"$(printf %s {})\" \"${x:-{}}\" # {}",
                              ":::"] + CONTEXT_PLAIN)
case("context-plain-dry-run", ["-k", "--dry-run", FMT + "{} '{}' \"{}\" \\{} \"\\{}\" $'{}' \"${x:-{}}\" # {}",
                               ":::"] + CONTEXT_PLAIN)
# it's and $(x) in "...", '...', bare and $'...': escaped, or the quote closed,
# the value quoted and the quote reopened.
case("context-quoted-dry-run", ["-k", "--dry-run", "echo \"{}\" '{}' {} $'{}'", ":::", "it's", "$(x)"],
     expect=(b"echo \"it's\" '''it'\"'\"'s''' 'it'\"'\"'s' $'''it'\"'\"'s'$''\n"
             b"echo \"\\$(x)\" '''$(x)''' '$(x)' $'''$(x)'$''\n", 0))
case("context-colsep", ["-k", "--colsep", ",", FMT + "\"{1}\" '{2}'"], stdin=b"$(touch pwned),it's\n`touch pwned`,a\"b\n",
     expect=(b"[$(touch pwned)]\n[it's]\n[`touch pwned`]\n[a\"b]\n", 0))
case("context-several-args", ["-k", "-n", "3", FMT + "\"{}\"", ":::", "a b", "$(touch pwned)", "'"],
     expect=(b"[a b $(touch pwned) ']\n", 0))
# Templates whose quoting the scan cannot follow are refused before any job.
for name, template in [("after-dollar", "echo ${}"), ("heredoc", "cat <<EOF\n{}\nEOF"),
                       ("case-in-cmdsub", "echo $(case a in a) echo {};; esac)"),
                       ("nested-backquotes", "echo `echo \\`echo {}\\``"),
                       ("backslash-in-backquotes", "echo `echo \\{}`")]:
    case("context-refused-" + name, [template, ":::", "$(touch pwned)"], expect=(b"", 255))


# ---- jobs -----------------------------------------------------------------
case("jobs-2", ["-j2", "echo", ":::", "1", "2", "3", "4", "5"], sort=True)
case("jobs-0", ["-j0", "echo", ":::", "1", "2", "3", "4", "5"], sort=True)
case("jobs-percent", ["-j", "50%", "echo", ":::", "1", "2", "3"], sort=True)
case("jobs-plus", ["-j", "+1", "echo", ":::", "1", "2", "3"], sort=True)
case("jobs-minus", ["-j", "-1", "echo", ":::", "1", "2", "3"], sort=True)
case("jobs-long-option", ["--jobs=3", "-k", "echo", ":::", "1", "2", "3"])
case("jobs-1-order", ["-j1", "sleep {}; echo {}", ":::", "0.2", "0.1", "0"])

# ---- output ---------------------------------------------------------------
case("grouped", ["-j3", "for i in 1 2 3; do echo {}$i; echo err{}$i >&2; sleep 0.1; done", ":::", "a", "b", "c"],
     sort=True, check=lambda ours: grouped_check(ours))
case("grouped-stdout-then-stderr", ["-k", "echo out{}; echo err{} >&2; echo out2{}", ":::", "1", "2"])
case("keep-order", ["-j3", "-k", "sleep {}; echo {}", ":::", "0.3", "0.1", "0.2", "0"])
case("line-buffer", ["-j2", "--line-buffer", "echo {}; sleep 0.1; echo {}-end", ":::", "a", "b"], sort=True)
case("line-buffer-keep-order", ["-j2", "-k", "--lb", "echo {}; sleep 0.{}; echo {}-end", ":::", "3", "1"])
case("ungroup", ["-j1", "-u", "printf", "%s", ":::", "a", "b", "c"])
case("tag", ["-k", "--tag", "echo {}; echo err{} >&2", ":::", "a", "b c"])
case("tag-product", ["-k", "--tag", "echo", ":::", "a", ":::", "1", "2"])
case("tag-no-final-newline", ["-k", "--tag", "printf", "x\\ny", ":::", "a"])
case("reopened-dev-stdout", ["-k", "echo aaaa; echo b > /dev/stdout; echo c", ":::", "1"])
case("background-child-output", ["-k", "(sleep 0.3; echo late) & echo early", ":::", "1"])
case("no-final-newline", ["-k", "printf", "%s", ":::", "a", "b"])
case("large-output", ["-k", "seq", ":::", "100000", "3"])
case("results", ["-k", "--results", "res", "echo {}; echo e{} >&2", ":::", "a", "b/c", "d e", ":::", "1", "2"],
     results="res")
case("results-colsep", ["--colsep", ",", "--results", "res", "echo"], stdin=b"a,b\nc,d/e\n", results="res")
case("results-backslash", ["--results", "res", "echo", ":::", "a\\b"], results="res")

# A table without its timing columns (Starttime, JobRuntime).
CSV_ROWS = ("python3 -c 'import csv,sys; d=sys.argv[2]; "
            "[print(repr(r[:2]+r[4:])) for r in csv.reader(open(sys.argv[1], newline=\"\"), delimiter=d)]' ")
JSON_ROWS = ("python3 -c 'import json,sys; [print(sorted((k,v) for k,v in json.loads(l).items() "
             "if k not in (\"Starttime\",\"JobRuntime\"))) for l in open(sys.argv[1])]' ")
case("results-csv", ["-k", "--results", "res.csv", "echo {}; echo e{} >&2", ":::", "a", "b c", 'q"d', "x,y"],
     after=CSV_ROWS + "res.csv ,")
case("results-csv-upper-case", ["-k", "--results", "RES.CSV", "echo", ":::", "a", ":::", "1", "2"], after=CSV_ROWS + "RES.CSV ,")
case("results-tsv", ["-k", "--results", "res.tsv", "echo", ":::", "a", "b\tc", "d e"], after=CSV_ROWS + "res.tsv '\t'")
case("results-json", ["-k", "--results", "res.json", "printf '%s\\n' {}; echo e >&2", ":::", "a", 'b"c', "d\\e"],
     after=JSON_ROWS + "res.json")
case("results-csv-header", ["-k", "--header", ":", "--results", "res.csv", "echo", ":::", "name", "a", "b"],
     after=CSV_ROWS + "res.csv ,")
case("results-csv-failure", ["-k", "--results", "res.csv", "echo {}; exit {}", ":::", "0", "3"], after=CSV_ROWS + "res.csv ,")
case("results-csv-stdout", ["-k", "--results", "-.csv", "echo", ":::", "a", "b"], stdout=False,
     check=lambda ours: csv_stdout_check(ours))
case("results-template", ["-k", "--results", "out_{1}", "echo {}; echo e{} >&2", ":::", "a", "b", ":::", "x"],
     after="for f in out_*; do echo \"$f: $(cat \"$f\")\"; done")
case("results-template-dir", ["-k", "--results", "o/{1}/{2}/", "echo", ":::", "a", "b", ":::", "x"], results="o")
case("results-template-plus", ["-k", "--plus", "--results", "d/{..}", "echo", ":::", "a.tar.gz"],
     after="ls d; cat d/a d/a.seq")
case("results-long-argument", ["-k", "--results", "res", "echo", ":::", "x" * 300, "y" * 256 + "/" + "z" * 10], results="res")
case("results-tab-in-argument", ["-k", "--results", "res", "echo", ":::", "a\tb"], results="res")

# ---- control --------------------------------------------------------------
case("joblog", ["-k", "--joblog", "log", "echo {}; exit {}", ":::", "0", "1", "2", "a b"], joblog="log")
case("joblog-append", ["-k", "--joblog", "+log", "echo", ":::", "a", "b"], joblog="log",
     files={"log": b"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"
                   b"7\t:\t1.000\t     0.001\t0\t2\t0\t0\techo x\n"})
case("resume", ["-k", "--resume", "--joblog", "log", "echo {}; exit {}", ":::", "0", "1", "0", "0", "1"],
     joblog="log", pre="parallel --will-cite -k --joblog log 'echo {}; exit {}' ::: 0 1 0 >/dev/null")
case("resume-failed", ["-k", "--resume-failed", "--joblog", "log", "echo {}; exit {}", ":::", "0", "1", "0", "0", "1", "0"],
     joblog="log", pre="parallel --will-cite -k --joblog log 'echo {}; exit {}' ::: 0 1 0 0 1 >/dev/null")
case("resume-missing-log", ["-k", "--resume", "--joblog", "log", "echo", ":::", "a"], joblog="log")
case("retries", ["-k", "--joblog", "log", "--retries", "3", "echo x >> cnt; echo try{}; exit 1", ":::", "a"],
     joblog="log", after="wc -l < cnt")
case("retries-success-second", ["-k", "--retries", "3", "echo x >> c{}; test $(wc -l < c{}) -ge 2 && echo ok{}", ":::", "a", "b"],
     after="cat ca cb | wc -l")
case("retries-zero-forever", ["-k", "--retries", "0", "echo x >> c; test $(wc -l < c) -ge 4 && echo ok{}", ":::", "a"],
     after="wc -l < c")
case("halt-now-fail", ["-j1", "-k", "--halt", "now,fail=1", "echo {}; exit {}", ":::", "0", "5", "0"], stderr=False)
case("halt-soon-fail", ["-j1", "-k", "--halt", "soon,fail=1", "echo {}; exit {}", ":::", "0", "4", "0"], stderr=False)
case("halt-now-fail-2", ["-j1", "-k", "--halt", "now,fail=2", "echo {}; exit {}", ":::", "0", "5", "0", "3", "0"], stderr=False)
case("halt-now-success", ["-j1", "-k", "--halt", "now,success=1", "echo {}; exit {}", ":::", "3", "0", "0"], stderr=False)
case("halt-soon-success-2", ["-j1", "-k", "--halt", "soon,success=2", "echo {}; exit {}", ":::", "1", "0", "2", "0", "0"], stderr=False)
case("halt-done", ["-j1", "-k", "--halt", "now,done=3", "echo {}; exit {}", ":::", "1", "0", "2", "0", "0"], stderr=False)
case("halt-legacy-2", ["-j1", "-k", "--halt", "2", "echo {}; exit {}", ":::", "0", "0", "1", "2", "0"], stderr=False)
case("halt-percent", ["-j1", "-k", "--halt", "now,fail=20%", "echo {}; exit {}", ":::", "0", "0", "1", "2", "0", "0", "0", "0", "0"],
     stderr=False)
# A job meant to be stopped by --timeout or --halt sleeps 60 s: far past
# the limit, which kills it long before.  A job meant to finish in time
# does next to nothing, well inside a limit of seconds.
case("halt-now-kills-running", ["-j2", "--halt", "now,fail=1", "sleep {}; exit 3", ":::", "0.2", "60"], stderr=False)
case("halt-timeout", ["--timeout", "0.3", "--halt", "now,fail=1", "sleep", ":::", "60"], stderr=False)
case("halt-signal", ["--halt", "now,fail=1", "kill -9 $$", ":::", "3"], stderr=False)
case("timeout", ["-k", "--joblog", "log", "--timeout", "5", "sleep {}; echo {}", ":::", "0", "60", "0"],
     stderr=False, joblog="log", cost=13)
case("timeout-term-ignored", ["-k", "--timeout", "0.3", "trap '' TERM; sleep 60; echo {}", ":::", "a"], stderr=False)
# 300% of a median of half a second: a quick job would have to stall for a
# second to be taken for a slow one.
case("timeout-percent", ["-j1", "-k", "--timeout", "300%", "sleep {}; echo {}", ":::", "0.5", "0.5", "0.5", "0.5", "60", "0.5"],
     stderr=False, cost=12)
case("dry-run", ["-k", "--dry-run", "echo", "{}", "{#}", ":::", "a b", "c"])
case("dry-run-slots", ["-j1", "--dry-run", "echo", "{%}", ":::", "a", "b", "c"])
case("bar", ["-k", "--bar", "echo", ":::", "a", "b"], stderr=False)
case("eta", ["-k", "--eta", "echo", ":::", "a", "b"], stderr=False)
case("progress", ["-k", "--progress", "echo", ":::", "a", "b"], stderr=False)
case("option-aliases", ["-P", "2", "--group", "--keep-order", "--max-args", "1", "echo", ":::", "a", "b", "c"])
case("bundled-short-options", ["-kj1", "-n1", "echo", ":::", "a", "b"])
case("halt-on-error-alias", ["--halt-on-error", "1", "-j1", "-k", "exit {}", ":::", "0", "2", "0"], stderr=False)
case("results-alias", ["-k", "--res", "out", "echo", ":::", "a", "b"], results="out")
case("tag-colsep", ["-k", "--tag", "--colsep", ",", "echo", "{2}"], stdin=b"a,b\nc,d\n")
case("keep-order-joblog-failures", ["-j3", "-k", "--joblog", "log", "sleep 0.{}; exit {}", ":::", "3", "1", "2", "0"],
     joblog="log")
case("long-aliases", ["--jl", "log", "--keeporder", "--maxprocs", "2", "--maxargs", "1", "--col-sep", ",",
                     "--result", "res", "--willcite", "echo", "{2}", "{1}", ":::", "a,1", "b,2"], joblog="log", results="res")
case("long-aliases-line-buffer", ["-j1", "--linebuffer", "echo", ":::", "a", "b"])
case("long-aliases-more", ["--keep-order", "--no-keep-order", "-k", "--line-buffered", "--dr", "--argfile", "in",
                           "--max-replace-args=2", "--nonotice", "echo", "{2}", "{1}"], files={"in": b"a\nb\nc\n"})
case("long-aliases-resume", ["-k", "--resumefailed", "--joblog", "log", "--norunifempty", "echo {}; exit {}", ":::", "0", "1"],
     joblog="log", pre="parallel --will-cite -k --joblog log 'echo {}; exit {}' ::: 0 1 >/dev/null")
case("env-default-options", ["echo", ":::", "a", "b"], env={"PARALLEL": "-k --tag"})
case("env-default-options-quoted", ["echo", '"a b"', ":::", "x", "y"], env={"PARALLEL": "-k -I \"a b\"  --tag -j1"})
case("env-default-options-overridden", ["-j1", "--tag", "echo", ":::", "b", "a"], env={"PARALLEL": "-j2 -k"})
case("env-default-options-escapes", ["echo", ":::", "x"], env={"PARALLEL": "-k --colsep '\\t' -I\\ a\\\\"})
case("will-cite", ["--will-cite", "-k", "echo", ":::", "a"])

# ---- exit status ----------------------------------------------------------
case("exit-count", ["exit {}", ":::", "0", "3", "0", "1"])
case("exit-over-100", ["-j2", "false", ":::"] + [str(i) for i in range(105)], cost=10)
case("exit-exactly-100", ["-j2", "false", ":::"] + [str(i) for i in range(100)], cost=6)
case("exit-signal", ["--joblog", "log", "kill -9 $$", ":::", "1"], joblog="log", stderr=False)

# ---- bad input ------------------------------------------------------------
case("bad-option", ["--bogus", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("bad-short-option", ["-Z", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("bad-halt", ["--halt", "bad", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("bad-jobs", ["-j", "x", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("bad-argfile", ["echo", "::::", "/nonexistent/file"], stderr=False, stdout=False, check=nothing_ran)
case("bad-joblog-resume", ["--resume", "--joblog", "badlog", "echo", ":::", "a"], stderr=False,
     files={"badlog": b"Seq\tHost\nnot a log line\n"})

# ---- long inputs ----------------------------------------------------------
case("many-args", ["-j2", "-k", "echo", ":::"] + [str(i) for i in range(1500)], cost=150)
case("many-stdin-lines", ["-j2", "-k", "echo"], stdin="".join("%d\n" % i for i in range(2000)).encode(), cost=240)
case("long-argument", ["-k", "echo", ":::", "x" * 60000])
case("long-argument-shell", ["-k", "echo {} | wc -c", ":::", "y" * 60000])
case("big-product", ["-k", "echo", ":::"] + [str(i) for i in range(30)] + [":::"] + [str(i) for i in range(30)], cost=110)
case("max-args-many", ["-k", "-n", "500", "echo", ":::"] + [str(i) for i in range(2000)])

# ---- a replacement string of one's own (-I, -i, --replace) ----------------
case("replace-I", ["-k", "-I", "XX", "echo", "XX", "{}", "{.}", "XX.c", ":::", "a.b"])
case("replace-I-attached", ["-k", "-IXX", "echo", "<XX>", ":::", "a", "b"])
case("replace-I-braces", ["-k", "-I", "{a}", "echo", "{a}", "{}", "{a}{a}", "{a.}", ":::", "a.b"])
case("replace-I-positional-literal", ["-k", "-I", "XX", "echo", "{1}", "{#}", "{1.}", "XX", "{/}", ":::", "a.b/c.d"])
case("replace-I-edit-string", ["-k", "-I", "{.}", "echo", "{.}", "{}", ":::", "Q.x"])
case("replace-I-appends-without", ["-k", "-I", "ZZ", "echo", "foo", ":::", "a"])
case("replace-I-max-args", ["-k", "-I", "ZZ", "-n2", "echo", "ZZ", ":::", "a", "b", "c"])
case("replace-I-quote", ["-k", "-I", "XX", "-q", "echo", "XX XX", ":::", "a"])
case("replace-I-shell", ["-k", "-I", "%", "echo % | tr a-z A-Z", ":::", "a b", "it's"])
case("replace-I-dry-run", ["-k", "--dry-run", "-I", "@@", "mv", "@@", "@@.bak", ":::", "a b", "c"])
case("replace-i-attached", ["-k", "-iZZ", "echo", "ZZ", "{}", ":::", "a"])
case("replace-i-alone", ["-k", "-i", "--", "echo", "[{}]", ":::", "a"])
case("replace-long", ["-k", "--replace=ZZ", "echo", "ZZ", "{}", ":::", "a"])
case("replace-long-alone", ["-k", "--replace", "--", "echo", "[{}]", ":::", "a"])

# ---- the xargs family: -N, -E, -r ----------------------------------------
case("xargs-N", ["-k", "-N2", "echo", ":::", "a", "b", "c"])
case("xargs-N-positional", ["-k", "-N", "2", "echo", "[{1}]", "[{2}]", ":::", "a", "b", "c"])
case("xargs-N-colsep", ["-k", "-N2", "--colsep", ",", "echo", "[{1}]", "[{2}]", "[{3}]", ":::", "a,b", "c,d", "e"])
case("xargs-N0", ["-k", "-N0", "echo", "[{}]", ":::", "a", "b"])
case("xargs-n0", ["-k", "-n0", "echo", "x", ":::", "a", "b"])
case("xargs-eof-string", ["-k", "-E", "EOF", "echo"], stdin=b"a\nb\nEOF\nc\n")
case("xargs-eof-string-attached", ["-k", "-eEOF", "echo"], stdin=b"a\nEOF\nc\n")
case("xargs-eof-string-long", ["-k", "--eof=END", "echo"], stdin=b"a\nEND\nb\n")
case("xargs-eof-string-args", ["-k", "-E", "b", "echo", ":::", "a", "b", "c", ":::", "x", "y"])
case("xargs-eof-string-absent", ["-k", "-E", "zz", "echo"], stdin=b"a\nzzz\n")
case("xargs-eof-string-null", ["-k", "-0", "-E", "b", "echo"], stdin=b"a\0b\0c\0")
case("xargs-no-run-if-empty", ["-k", "-r", "echo", "[{}]"], stdin=b"a\n\n  \n\t\nb\n")
case("xargs-no-run-if-empty-blank", ["-r", "echo", "[{}]"], stdin=b"\n \n")
case("xargs-no-run-if-empty-long", ["-k", "--no-run-if-empty", "echo", "[{1}{2}]", ":::", "a", " ", "b", ":::", "x", ""])
case("xargs-no-run-if-empty-N", ["-k", "-N", "2", "-r", "echo", "[{1}]", "[{2}]", ":::", "a", "", "b"])

# ---- as many arguments as fit: -X, -m, -s, -L, -l -------------------------
case("xargs-X-context", ["-k", "-X", "echo", "x{}y", ":::", "a", "b", "c"])
case("xargs-m", ["-k", "-m", "echo", "x{}y", ":::", "a", "b", "c"])
case("xargs-m-long", ["-k", "--xargs", "echo", ":::", "a", "b", "c"])
case("xargs-X-spread-over-slots", ["-j4", "-k", "-X", "echo", ":::"] + [str(i) for i in range(1, 11)])
case("xargs-X-one-slot", ["-j1", "-k", "-X", "echo", ":::"] + [str(i) for i in range(1, 11)])
case("xargs-X-max-chars", ["-j1", "-k", "-s", "17", "-X", "echo", ":::", "aaa", "bbb", "ccc", "ddd", "eee", "fff"])
case("xargs-m-max-chars-exact", ["-j1", "-k", "-s", "16", "-m", "echo", ":::", "aaa", "bbb", "ccc", "ddd", "eee", "fff"])
case("xargs-m-max-chars-long", ["-j1", "-k", "--max-chars=20", "-m", "echo", "x{}y", ":::", "aaa", "bbb", "ccc", "ddd", "eee", "fff"])
case("xargs-m-too-long", ["-j1", "-k", "-s", "3", "-m", "echo", ":::", "aaaa", "b"], stderr=False)
case("xargs-X-quoted-values", ["-j1", "-k", "-s", "18", "-X", "echo", "a{}b", ":::", "x y", "it's", "c"])
case("xargs-X-dry-run", ["-k", "-X", "--dry-run", "echo", "x{}y", ":::", "a b", "c"])
case("xargs-m-dry-run", ["-j1", "-k", "-m", "--dry-run", "echo", "x{}y", ":::", "a b", "c"])
case("xargs-X-words", ["-j1", "-k", "-X", "echo", "x{}", "{#}", "{}", "x{.}y{/}z", ":::", "a.1", "d/b.2", "c"])
case("xargs-X-shell", ["-j1", "-k", "-X", "echo x{}y | tr a-z A-Z", ":::", "a", "b"])
# GNU parallel repeats the whole blank-delimited word, ";" included, and
# runs each input as a command: mproc ends a word at shell operators too.
case("xargs-X-in-quotes", ["-j1", "-k", "-X", "printf '[%s]' \"<{}>\" '{}'; echo", ":::", "a b", "it's", "$(touch pwned)"],
     expect=(b"[<a b>][<it's>][<$(touch pwned)>][a b][it's][$(touch pwned)]\n", 0))
case("xargs-X-operators", ["-j1", "-k", "-X", "echo {}|cat", ":::", "a", "b"], expect=(b"a b\n", 0))
case("xargs-X-colsep", ["-j1", "-k", "-X", "--colsep", ",", "echo", "[{}]", "[{2}]", ":::", "a,b", "c,d"])
case("xargs-X-max-args", ["-j1", "-k", "-X", "-n", "2", "echo", "[{}]", ":::", "a", "b", "c"])
case("xargs-X-stdin", ["-k", "-X", "echo", "{}.txt"], stdin="".join("%d\n" % i for i in range(50)).encode())
case("xargs-m-many", ["-k", "-m", "echo"], stdin="".join("%d\n" % i for i in range(3000)).encode())
case("xargs-X-quote-option", ["-j1", "-k", "-q", "-X", "printf", "[%s]", "x{}y", "a b", "{}", ":::", "1", "2 3"])
case("xargs-N-context", ["-k", "-N2", "echo", "x{}y", ":::", "a", "b", "c"])
case("xargs-m-N-context", ["-k", "-m", "-N2", "echo", "x{}y", ":::", "a", "b", "c"])
case("xargs-L", ["-k", "-L", "2", "echo", "x{}y"], stdin=b"1\n2\n3\n4\n5\n")
case("xargs-L-m", ["-k", "-m", "-L", "2", "echo", "x{}y"], stdin=b"1\n2\n3\n4\n5\n")
case("xargs-L-continued", ["-k", "-L", "1", "echo", "[{}]"], stdin=b"a \nb\nc\t\nd\ne \n")
case("xargs-L-positional", ["-k", "--max-lines=2", "echo", "{2}"], stdin=b"1\n2\n3\n4\n5\n")
case("xargs-l-alone", ["-k", "-l", "echo"], stdin=b"1\n2\n3\n")
case("xargs-l-number", ["-k", "-l", "2", "echo"], stdin=b"1\n2\n3\n")
case("xargs-l-attached", ["-k", "-l3", "echo", "x{}y"], stdin=b"1\n2\n3\n4\n")
case("xargs-l-continued", ["-k", "-l", "echo", "[{}]"], stdin=b"a \nb\n")
case("xargs-L-eof-string", ["-k", "-L", "1", "-E", "END", "echo", "[{}]"], stdin=b"a \nEND\nb\n")
case("xargs-L-blank-skipped", ["-k", "-r", "-L", "1", "echo", "[{}]"], stdin=b"a\n \n\nb\n")

# ---- tags, trimming, order, pacing ----------------------------------------
case("tagstring", ["-k", "--tagstring", "<{}-{#}>", "echo", ":::", "a", "b c"])
case("tagstring-positional", ["-k", "--tagstring", "{1}x{2.}", "echo", ":::", "a b", "c", ":::", "d.e"])
case("tagstring-escapes", ["-k", "--tagstring", "{}\\t{%}", "-j1", "echo", ":::", "a"])
case("tagstring-stderr", ["-k", "--tag-string", "T{}", "echo {}; echo e{} >&2", ":::", "a", "b"])
case("tagstring-colsep", ["-k", "--colsep", ",", "--tagstring", "{2}", "echo", "{1}"], stdin=b"a,b\nc,d\n")
case("ctag", ["-k", "--ctag", "printf 'x\\ny'; printf 'e\\n' >&2", ":::", "a", "b"])
case("ctag-carriage-return", ["-k", "--ctag", "printf 'x\\ry\\n'", ":::", "a"])
case("ctagstring", ["-k", "--ctagstring", "T{}", "echo", ":::"] + [str(i) for i in range(1, 30)])
case("trim-both", ["-k", "--trim", "lr", "echo", "[{}]", ":::", " a ", "b  ", "\tc"])
case("trim-left", ["-k", "--trim", "l", "echo", "[{}]", ":::", " a "])
case("trim-right", ["-k", "--trim", "r", "echo", "[{}]", ":::", " a "])
case("trim-rl", ["-k", "--trim", "rl", "echo", "[{}]"], stdin=b"  a  \n")
case("trim-none-colsep", ["-k", "--trim", "n", "--colsep", ",", "echo", "[{1}][{2}]", ":::", " a , b "])
case("trim-left-colsep", ["-k", "--trim", "l", "--colsep", ",", "echo", "[{1}][{2}]", ":::", " a , b "])
case("trim-bad", ["--trim", "x", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("shuf", ["--shuf", "echo", ":::"] + [str(i) for i in range(20)], sort=True)
case("shuf-product", ["--shuf", "echo", ":::", "a", "b", ":::", "1", "2"], sort=True)
# Each job waits for the one before it to have started (a file it made):
# only a delay that starts jobs one after the other lets them all finish.
case("delay", ["-j3", "-k", "--delay", "0.2", "touch s{}; if [ {} -gt 1 ]; then test -e s$(({}-1)) || echo early; fi; echo {}",
               ":::", "1", "2", "3"])
case("delay-suffix", ["-k", "--delay", "0.1s", "echo", ":::", "a", "b"])
case("delay-minutes", ["-k", "--delay", "0m", "echo", ":::", "a"])
# GNU parallel runs the jobs with a --delay or --termseq it cannot read;
# mproc names the problem instead.
case("delay-bad", ["--delay", "x", "echo", ":::", "a"], expect=(b"", 255))
case("process-slot-var", ["-j1", "-k", "--process-slot-var", "SLOT", "echo $SLOT {}", ":::", "a", "b"])
case("process-slot-var-two", ["-j2", "-k", "--process-slot-var", "S", "if [ {} = 1 ]; then until [ -e three ]; do sleep 0.01; done; fi; "
                              "if [ {} = 3 ]; then touch three; fi; echo $S", ":::", "1", "2", "3"])
case("process-slot-var-overrides", ["-j1", "-k", "--process-slot-var", "HOME", "echo $HOME", ":::", "a"])
case("termseq-timeout", ["-k", "--timeout", "0.5", "--termseq", "INT,200,KILL,25",
                         "trap 'echo got INT; exit 3' INT; sleep 60 & wait", ":::", "a"], stderr=False)
case("termseq-sig-prefix", ["-k", "--timeout", "0.5", "--term-seq", "SIGUSR1,100,KILL,25",
                            "trap 'echo got USR1; exit 4' USR1; sleep 60 & wait", ":::", "a"], stderr=False)
case("termseq-bad", ["--termseq", "NOPE,10", "echo", ":::", "a"], expect=(b"", 255))

# ---- named columns and linked sources ---------------------------------------
case("header-args", ["-k", "--header", ":", "echo", "{b}", "{a}", ":::", "a", "1", "2", ":::", "b", "x", "y"])
case("header-colsep", ["-k", "--header", ":", "--colsep", ",", "echo", "{n2}", "{n1}", "{1}", "{n1.}"],
     stdin=b"n1,n2\n1.x,2\n3,4\n")
case("header-tab", ["-k", "--header", ":", "--colsep", "\t", "echo", "{n2}"], stdin=b"n1\tn2\n1\t2\n")
case("header-stdin", ["-k", "--header", ":", "echo", "{h}", "{}"], stdin=b"h\n1\n2\n")
case("header-any-value", ["-k", "--header", "2", "echo", "{h}"], stdin=b"h\n1\n2\n")
case("header-tag", ["-k", "--header", ":", "--tag", "echo", "{a}", ":::", "a", "1", "2"])
case("header-tagstring", ["-k", "--header", ":", "--tagstring", "{a}:", "echo", "{a}", ":::", "a", "1", "2"])
case("header-argfile", ["-k", "--header", ":", "echo", "{x}-{y}", "::::", "f1", "::::", "f2"],
     files={"f1": b"x\n1\n2\n", "f2": b"y\np\n"})
case("header-appended", ["-k", "--header", ":", "echo", ":::", "a", "1", "2"])
case("link", ["-k", "--link", "echo", ":::", "a", "b", "c", ":::", "1", "2"])
case("link-three", ["-k", "--xapply", "echo", ":::", "a", "b", ":::", "1", "2", ":::", "x", "y", "z"])
case("link-with-plus", ["-k", "--link", "echo", ":::", "a", "b", ":::", "1", "2", ":::+", "p", "q"])
case("link-files", ["-k", "--link", "echo", "::::", "f1", "f2"], files={"f1": b"1\n2\n3\n", "f2": b"x\n"})

# ---- --plus -----------------------------------------------------------------
PLUS_PATHS = ["a/b.c.d.e", "x.y", "/p/q", ".hidden", "a/.b.c", "d.tar.gz", "a.b/c", "a/", "", "..", "a..b"]
case("plus-path-edits", ["-k", "--plus", "echo", "[{+/}]", "[{+.}]", "[{+..}]", "[{+...}]", "[{..}]", "[{...}]",
                         "[{/..}]", "[{/...}]", ":::"] + PLUS_PATHS)
case("plus-path-edits-positional", ["-k", "--plus", "echo", "{2+.}", "{1+/}", "{-1/..}", "{2...}", ":::", "a/b.c", ":::", "c.d.e.f"])
case("plus-default", ["-k", "--plus", "echo", "[{:-dflt}]", "[{1:-x y}]", ":::", "", "abc", "0", "00"])
case("plus-substr", ["-k", "--plus", "echo", "[{:2}]", "[{:1:2}]", "[{:0:0}]", "[{:10}]", "[{:3:100}]", ":::", "", "abcdef", "ab"])
case("plus-cut", ["-k", "--plus", "echo", "{#a*b}", "{##a*b}", "{%c*d}", "{%%c*d}", "{%b}", "{%%[ab]*}", "{#.}", "{##*}",
                  ":::", "aabbccdd", "aXbYb", "z.z.z.foo"])
case("plus-cut-dot-star", ["-k", "--plus", "echo", "{#z.*z.}", "{##z.*z.}", "{%.z.*z}", "{%%.z.*z}", ":::", "z.z.z.foo", "foo.z.z.z"])
case("plus-substitute", ["-k", "--plus", "echo", "{/b/X}", "{/#a/X}", "{/%b/X}", "{//b/X}", "{/a*/X}", "{//a./X}", "{/a/}",
                         ":::", "abab", "baaab", "xyz"])
case("plus-case", ["-k", "--plus", "echo", "{^a}", "{^^b}", "'{,A}'", "'{,,B}'", "{^[a-c]}", ":::", "abab", "AbBb", "ABAB"])
case("plus-counts", ["-j1", "-k", "--plus", "echo", "{##}", "{0#}", "{0%}", "{slot}", "{#}", ":::"] + list("abcdefghijk"))
case("plus-counts-stdin", ["-j1", "-k", "--plus", "echo", "{0#}/{##}"], stdin=b"a\nb\n")
case("plus-quoted-values", ["-k", "--plus", "echo", "{:-$HOME}", "{/a/;}", "{1^a}", ":::", "", "a b", "it's"])
case("plus-shell", ["-k", "--plus", "echo {/./-} | tr a-z A-Z", ":::", "a.b.c"])
case("plus-dry-run", ["-k", "--plus", "--dry-run", "mv", "{}", "{..}.{+..}", "{/a/x y}", ":::", "a.tar.gz", "b c.d.e"])
case("plus-tagstring", ["-k", "--plus", "--tagstring", "{/..}", "echo", "{:1}", ":::", "d/x.tar.gz"])
case("plus-off-literal", ["-k", "echo", "{+/}", "{..}", "{:-x}", "{##}", "{/a/b}", ":::", "a/b.c"])
case("plus-replace-I", ["-k", "--plus", "-I", "@@", "echo", "@@", "{:-x}", "{..}", ":::", "", "a.b.c"])
case("plus-X", ["-j1", "-k", "--plus", "-X", "echo", "x{..}", ":::", "a.b.c", "d.e.f"])

# ---- values GNU parallel accepts ------------------------------------------
case("jobs-from-file", ["-j", "jf", "-k", "echo", "{%}", ":::", "a", "b", "c"], files={"jf": b"1\n"})
case("jobs-from-file-plus", ["-j", "jf", "-k", "echo", ":::", "a", "b"], files={"jf": b"+0\n"})
case("jobs-from-file-percent", ["--jobs", "jf", "-k", "echo", ":::", "a", "b"], files={"jf": b"50%"})
case("jobs-from-missing-file", ["-j", "nofile", "echo", ":::", "a"], stderr=False, stdout=False, check=nothing_ran)
case("jobs-from-bad-file", ["-j", "jf", "echo", ":::", "a"], files={"jf": b"many\n"}, stderr=False, stdout=False,
     check=nothing_ran)
case("argfile-linked-first", ["-k", "echo", "::::+", "f1", "f2"], files={"f1": b"1\n2\n3\n", "f2": b"x\ny\n"})
case("argfile-linked-first-product", ["-k", "echo", "::::+", "f1", "f2", ":::", "p", "q"],
     files={"f1": b"1\n2\n3\n", "f2": b"x\ny\n"})
case("args-linked-first", ["-k", "echo", ":::+", "a", "b", ":::", "1", "2"])

# ---- a NUL without -0 ---------------------------------------------------------
# (A record of only a NUL is left out: GNU parallel quotes "\\0" wrongly.)
case("nul-without-null", ["-k", "echo", "[{}]"], stdin=b"a\0b\nc\nx\0\0y\n")
case("nul-without-null-dry-run", ["-k", "--dry-run", "printf", "%s", "{}"], stdin=b"a\0\0b\n")
case("nul-without-null-argfile", ["-k", "echo", "::::", "in", ":::", "x"], files={"in": b"1\0\n2\n"})
case("nul-with-delimiter", ["-k", "-d", ",", "echo", "[{}]"], stdin=b"a\0b,c")

# ---- record delimiters (-0, -d) --------------------------------------------
case("null", ["-k", "-0", "echo", "[{}]"], stdin=b"a\0b c\0\0d\ne\0")
case("null-long", ["-k", "--null", "echo", "[{}]"], stdin=b"a\0b")
case("null-find-print0", ["-k", "-0", "-a", "list", "cat"], pre="mkdir d && printf 'one\\n' > 'd/a b' && printf 'two\\n' > d/x && "
     "find d -type f -print0 | sort -z > list")
case("null-arg-file", ["-k", "-0", "-a", "in", "echo", "[{}]"], files={"in": b"a\nb\0c\0"})
case("null-argfile-product", ["-k", "-0", "echo", "{1}{2}", "::::", "in", ":::", "x", "y"], files={"in": b"a\0b\0"})
case("delimiter-comma", ["-k", "-d", ",", "echo", "[{}]"], stdin=b"a,b,,c\n")
case("delimiter-several-bytes", ["-k", "-d", "xx", "echo", "[{}]"], stdin=b"axxbxcxxx")
case("delimiter-tab-escape", ["-k", "-d", "\\t", "echo", "[{}]"], stdin=b"a\tb\t")
case("delimiter-newline-escape", ["-k", "--delimiter", "\\n", "echo", "[{}]"], stdin=b"a\nb c\n")
case("delimiter-nul-escape", ["-k", "-d", "\\0", "echo", "[{}]"], stdin=b"a\0b\0")
case("delimiter-octal", ["-k", "-d", "\\101", "echo", "[{}]"], stdin=b"xAyAz")
case("delimiter-backslash-literal", ["-k", "-d", "\\", "echo", "[{}]"], stdin=b"a\\b\\")
case("delimiter-wins-over-null", ["-k", "-0", "-d", ",", "echo", "[{}]"], stdin=b"a,b")
case("delimiter-colsep", ["-k", "-d", ";", "--colsep", ",", "echo", "{2}{1}"], stdin=b"a,b;c,d")
case("delimiter-bundled", ["-kd,", "echo", "[{}]"], stdin=b"a,b")

# ---- printing the commands (-v, -t) --------------------------------------
case("verbose", ["-k", "-v", "echo", ":::", "a", "b c", "it's"])
case("verbose-shell", ["-k", "-v", "echo {}; echo e{} >&2", ":::", "a", "$x"])
case("verbose-trace", ["-j1", "-t", "echo {}; echo e{} >&2", ":::", "a", "b"])
case("verbose-trace-long", ["-j1", "--verbose", "echo", ":::", "a", "b"])
case("verbose-both", ["-j1", "-v", "-t", "echo", ":::", "a", "b"])
case("verbose-tag", ["-k", "-v", "--tag", "echo", ":::", "a", "b"])
case("verbose-line-buffer", ["-j1", "-v", "--lb", "echo {}; echo e{} >&2", ":::", "a", "b"])
case("verbose-ungroup", ["-j1", "-v", "-u", "echo", ":::", "a", "b"])
case("verbose-max-args", ["-k", "-v", "-n2", "echo", ":::", "a", "b", "c"])
case("verbose-empty-command", ["-k", "-v", ":::", "echo a", "echo b"])
case("verbose-silent", ["-k", "-v", "--silent", "-t", "echo", ":::", "a"])
case("verbose-dry-run", ["-k", "-v", "--dry-run", "echo", ":::", "a"])
case("verbose-trace-dry-run", ["-k", "-t", "--dry-run", "echo", ":::", "a"])
case("verbose-results-joblog", ["-k", "-v", "--results", "res", "--joblog", "log", "echo", ":::", "a", "b"],
     results="res", joblog="log")
case("verbose-retries", ["-k", "-v", "--retries", "2", "echo x >> c; echo try; exit 1", ":::", "a"],
     after="wc -l < c")


# ---- --pipe and --pipepart --------------------------------------------------
NUMBERS = b"".join(b"%d\n" % i for i in range(1, 20001))          # 108894 bytes
WORDS = b"".join(b"w%d;" % i for i in range(3000))
FASTA = b"".join(b">seq%d\n%s\n" % (i, b"ACGT" * (i % 7 + 1)) for i in range(200))
case("pipe-default-block", ["-k", "--pipe", "wc", "-l"], stdin=NUMBERS)
case("pipe-block", ["-k", "--pipe", "--block", "10k", "wc"], stdin=NUMBERS)
case("pipe-block-binary-suffix", ["-k", "--pipe", "--block", "8K", "wc"], stdin=NUMBERS)
case("pipe-block-fraction", ["-k", "--pipe", "--block-size", "2.5k", "wc"], stdin=NUMBERS, cost=12)
case("pipe-blocksize-alias", ["-k", "--pipe", "--blocksize", "30000", "wc"], stdin=NUMBERS)
case("pipe-block-equals", ["-k", "--pipe", "--block=20k", "md5sum"], stdin=NUMBERS)
case("pipe-unordered", ["--pipe", "--block", "5k", "wc", "-l"], stdin=NUMBERS, sort=True)
case("pipe-seq-tag", ["-k", "--tag", "--pipe", "--block", "20k", "echo {#}; wc -l"], stdin=NUMBERS)
case("pipe-one-slot", ["-j1", "--pipe", "--block", "20k", "echo {#} {%}; wc -c"], stdin=NUMBERS)
case("pipe-no-final-newline", ["-k", "--pipe", "--block", "3", "echo \"[$(cat)]\""], stdin=b"a\nb\nc")
case("pipe-empty-input", ["--pipe", "echo", "never"], stdin=b"")
case("pipe-record-longer-than-block", ["-k", "--pipe", "--block", "10", "wc", "-c"],
     stdin=b"short\n" + b"x" * 100 + b"\nend\n" + b"y" * 40)
case("pipe-recend", ["-k", "--pipe", "--block", "1k", "--recend", ";", "md5sum"], stdin=WORDS)
case("pipe-recend-escape", ["-k", "--pipe", "--block", "100", "--recend", "\\0", "od -c | head -1"],
     stdin=b"".join(b"rec%d\0" % i for i in range(100)))
case("pipe-recstart", ["-k", "--pipe", "--block", "500", "--recstart", ">", "head -1"], stdin=FASTA)
case("pipe-recstart-recend", ["-k", "--pipe", "--block", "300", "--recend", "\\n", "--recstart", ">", "md5sum"],
     stdin=FASTA)
case("pipe-records-per-job", ["-k", "--pipe", "-N3", "echo [$(cat | tr '\\n' ,)]"], stdin=b"1\n2\n3\n4\n5\n6\n7\n8\n")
case("pipe-records-per-job-large", ["-k", "--pipe", "-N1000", "--block", "1k", "wc -l"], stdin=NUMBERS)
case("pipe-records-recstart", ["-k", "--pipe", "-N2", "--recstart", ">", "md5sum"], stdin=FASTA, cost=24)
case("pipe-records-max-args", ["-k", "--pipe", "-n", "7", "wc -l"], stdin=NUMBERS[:400])
case("pipe-cat", ["-k", "--pipe", "--block", "20k", "--cat", "wc -l < {}"], stdin=NUMBERS)
case("pipe-cat-records", ["-k", "--pipe", "-N2", "--cat", "cat {} {}"], stdin=b"a\nb\nc\n")
case("pipe-fifo", ["-k", "--pipe", "--block", "20k", "--fifo", "wc -l < {}"], stdin=NUMBERS)
case("pipe-exit-status", ["-k", "--pipe", "-N1", "exit $(cat)"], stdin=b"0\n1\n0\n3\n")
# A job that ends without reading its block does not fail.  (GNU parallel's
# exit status depends on timing there: its feeder dies of SIGPIPE, and the
# job counts as failed, if the job has ended before the block is written.)
case("pipe-job-reads-nothing", ["-k", "--pipe", "--block", "20k", "echo", "done"], stdin=NUMBERS * 4,
     expect=(b"done\n" * 22, 0))
case("pipe-job-reads-part", ["-k", "--pipe", "--block", "50k", "head -2"], stdin=NUMBERS * 4)
case("pipe-line-buffer", ["-j1", "--lb", "--pipe", "--block", "20k", "wc", "-l"], stdin=NUMBERS)
case("pipe-keep-order-slow-first", ["-k", "-j2", "--pipe", "-N1",
                                    "read x; if [ $x = 1 ]; then while [ ! -e two ]; do sleep 0.05; done;"
                                    " else touch two; fi; echo $x"], stdin=b"1\n2\n")
case("pipepart-default-block", ["-k", "--pipepart", "-a", "in.txt", "wc"], files={"in.txt": NUMBERS})
case("pipepart-block", ["-k", "--pipepart", "--block", "10k", "-a", "in.txt", "wc"], files={"in.txt": NUMBERS})
case("pipepart-parts-per-slot", ["-k", "-j3", "--pipepart", "--block", "-2", "-a", "in.txt", "wc"],
     files={"in.txt": NUMBERS})
case("pipepart-argfile-separator", ["-k", "--pipepart", "--block", "25k", "md5sum", "::::", "in.txt"],
     files={"in.txt": NUMBERS})
case("pipepart-recend", ["-k", "--pipepart", "--block", "1k", "--recend", ";", "md5sum", "::::", "in.txt"],
     files={"in.txt": WORDS})
case("pipepart-recstart", ["-k", "--pipepart", "--block", "700", "--recstart", ">", "head -1", "::::", "in.txt"],
     files={"in.txt": FASTA})
case("pipepart-record-longer-than-block", ["-k", "--pipepart", "--block", "10", "-a", "in.txt", "wc", "-c"],
     files={"in.txt": b"short\n" + b"x" * 100 + b"\nend\n" + b"y" * 40})
case("pipepart-no-final-newline", ["-k", "--pipepart", "--block", "2", "-a", "in.txt", "echo \"[$(cat)]\""],
     files={"in.txt": b"a\nb\nc"})
case("pipepart-empty-file", ["--pipepart", "-a", "in.txt", "echo", "never"], files={"in.txt": b""})
case("pipepart-seq-tag", ["-k", "--tag", "--pipepart", "--block", "20k", "-a", "in.txt", "echo {#}; wc -l"],
     files={"in.txt": NUMBERS})
case("pipepart-cat", ["-k", "--pipepart", "--block", "20k", "--cat", "-a", "in.txt", "wc -l < {}"],
     files={"in.txt": NUMBERS})
case("pipepart-fifo", ["-k", "--pipepart", "--block", "20k", "--fifo", "-a", "in.txt", "wc -l < {}"],
     files={"in.txt": NUMBERS})
case("pipepart-unordered", ["--pipepart", "--block", "5k", "-a", "in.txt", "wc", "-l"], files={"in.txt": NUMBERS},
     sort=True)
case("pipepart-job-reads-nothing", ["-k", "--pipepart", "--block", "100k", "-a", "in.txt", "echo", "done"],
     files={"in.txt": NUMBERS * 8})
case("pipe-retries", ["-j1", "--retries", "2", "--pipe", "-N1", "cat >> seen; exit 1"], stdin=b"1\n2\n3\n",
     after="cat seen")
case("pipe-joblog", ["-k", "--joblog", "log", "--pipe", "--block", "30k", "wc", "-l"], stdin=NUMBERS, joblog="log")
case("pipe-dry-run", ["--dry-run", "--pipe", "-N2", "wc -l {#}"], stdin=b"1\n2\n3\n4\n5\n")
case("pipe-halt", ["-j1", "--halt", "now,fail=1", "--pipe", "-N2", "cat; exit 1"], stdin=b"1\n2\n3\n4\n", stderr=False)
case("pipe-verbose", ["-k", "-v", "--pipe", "-N5", "wc", "-l"], stdin=NUMBERS[:100])
case("pipe-ungroup", ["-j1", "-u", "--pipe", "-N2", "cat"], stdin=b"1\n2\n3\n4\n5\n")
case("pipe-results", ["-j1", "--results", "res", "--pipe", "-N5", "wc", "-l"], stdin=NUMBERS[:100], results="res")
LONG_LINE = b"x" * (30 * 1024 * 1024)
case("line-buffer-long-line", ["--lb", "cat", "::::", "in.txt"],
     files={"in.txt": b"long.txt\n", "long.txt": b"before\n" + LONG_LINE + b"\nafter\n" + LONG_LINE})
case("line-buffer-long-line-tag", ["--lb", "--tag", "cat", ":::", "long.txt"],
     files={"long.txt": LONG_LINE + b"\n" + b"y" * 100000 + b"\nz"})


@self_check
def pipe_bad_input(mproc, base, env):
    # Usage errors of --pipe and --pipepart start nothing.  GNU parallel
    # silently ignores input sources given to --pipe; mproc says so.
    os.makedirs(base)
    with open(os.path.join(base, "f"), "w") as f:
        f.write("a\n")
    for extra in (["--pipe", "--block", "0"], ["--pipe", "--block", "1x"], ["--pipe", "--block", ""],
                  ["--pipe", "--block", "-1"], ["--cat"], ["--block", "1k"], ["--recend", ";"],
                  ["--pipe", "--cat", "--fifo"], ["--pipe", "-a", "f"], ["--pipepart"],
                  ["--pipepart", "-a", "f", "-a", "f"], ["--pipepart", "-a", "-"], ["--pipepart", "-a", "nosuch"],
                  ["--pipepart", "-a", "."]):
        argv = [mproc, "run"] + extra + ["touch", "ran"]
        p = subprocess.run(argv, capture_output=True, env=env, cwd=base, input=b"x\n")
        if p.returncode != 255 or os.path.exists(os.path.join(base, "ran")) or \
                not p.stderr.startswith(b"mproc run: "):
            return "%s: rc=%d stderr=%r" % (extra, p.returncode, p.stderr)
    return None


@self_check
def pipepart_retry_gets_its_part_again(mproc, base, env):
    # A retried --pipepart job reads its part again, as a retried --pipe
    # job reads its block again (GNU parallel gives it an empty input).
    os.makedirs(base)
    with open(os.path.join(base, "in.txt"), "wb") as f:
        f.write(b"1\n2\n3\n4\n")
    p = subprocess.run([mproc, "run", "-j1", "--retries", "2", "--joblog", "log", "--pipepart", "--block", "3",
                        "-a", "in.txt", "cat >> seen; exit 1"], capture_output=True, env=env, cwd=base)
    with open(os.path.join(base, "seen"), "rb") as f:
        seen = f.read()
    with open(os.path.join(base, "log"), "rb") as f:
        sent = [row.split(b"\t")[4] for row in f.read().splitlines()[1:]]
    if p.returncode != 2 or seen != b"1\n2\n1\n2\n3\n4\n3\n4\n" or sent != [b"4", b"4"]:
        return "rc=%d seen=%r sent=%r" % (p.returncode, seen, sent)
    return None


def exit_on_closed_stdout(tool, args, env, base):
    """Runs tool with args, its standard output read by a pipe closed
    after the first bytes; returns its exit status (None: it went on for
    more than HANG seconds once nobody was reading)."""
    p = subprocess.Popen(tool + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, env=env, cwd=base)
    p.stdout.read(1)
    p.stdout.close()
    try:
        return p.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


@self_check
def closed_stdout_ends_the_run(mproc, base, env):
    # `mproc run --lb yes ::: 1 | head` ends as GNU parallel's does: killed
    # by SIGPIPE (status 141 in the shell), in every output mode where
    # mproc writes the output itself.
    os.makedirs(base)
    for args in (["--lb", "yes", ":::", "1"], ["--lb", "--tag", "yes", ":::", "1", "2"],
                 ["-j1", "seq {} 300000", ":::", "1", "2", "3"], ["-k", "-j2", "seq {} 300000", ":::", "1", "2", "3"],
                 ["--tag", "seq {} 300000", ":::", "1", "2"]):
        ref = exit_on_closed_stdout([PARALLEL, "--will-cite"], args, env, base)
        ours = exit_on_closed_stdout([mproc, "run"], args, env, base)
        if ref is None or ours != ref:
            return "%s: parallel exited %s, mproc %s" % (args, ref, "hung" if ours is None else ours)
    return None


def grouped_check(ours):
    """Each job's lines must be contiguous in standard output."""
    lines = ours["stdout"].decode().splitlines()
    seen, last = set(), None
    for line in lines:
        job = line[0]
        if job != last:
            if job in seen:
                return "output of job %s is split: %r" % (job, lines)
            seen.add(job)
            last = job
    return None


# ---- running --------------------------------------------------------------
def own_line(line):
    return line.startswith(b"parallel: ") or line.startswith(b"mproc run: ") or \
        line.startswith(b"mproc: ")


def tree(path):
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        rel = os.path.relpath(root, path)
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                out.append((os.path.join(rel, f), fh.read()))
        if not files and not dirs:
            out.append((rel + "/", b""))
    return out


def joblog_rows(path):
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            cols = line.split(b"\t", 8)
            if len(cols) == 9:
                del cols[2:4]     # Starttime, JobRuntime
            rows.append(cols)
    return rows


def run_one(c, argv, workdir, env):
    os.makedirs(workdir)
    for name, data in c["files"].items():
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(data)
    if c["pre"]:
        subprocess.run(c["pre"], shell=True, cwd=workdir, env=env)
    t0 = time.monotonic()
    p = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, timeout=c["timeout"],
                       input=c["stdin"] if c["stdin"] is not None else None,
                       stdin=None if c["stdin"] is not None else subprocess.DEVNULL)
    res = dict(stdout=p.stdout, stderr=p.stderr, rc=p.returncode, secs=time.monotonic() - t0)
    if c["joblog"]:
        res["joblog"] = joblog_rows(os.path.join(workdir, c["joblog"]))
    if c["results"]:
        res["results"] = tree(os.path.join(workdir, c["results"]))
    if c["after"]:
        res["after"] = subprocess.run(c["after"], shell=True, cwd=workdir, env=env,
                                      capture_output=True).stdout
    return res


def normalise(c, res):
    out = dict(res)
    out.pop("secs")
    if c["sort"]:
        out["stdout"] = sorted(res["stdout"].splitlines())
    err = [l for l in res["stderr"].splitlines() if not own_line(l)]
    out["stderr"] = sorted(err) if c["sort"] else err
    if not c["stderr"]:
        out.pop("stderr")
    if not c["stdout"]:
        out.pop("stdout")
    return out


def show(v, limit=1500):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def run_expected(c, mproc, base, env):
    """A case without reference: mproc's output against the expected one."""
    workdir = os.path.join(base, "ours")
    ours = run_one(c, [mproc, "run"] + c["args"], workdir, env)
    c["secs"] = (0, ours["secs"])
    want_out, want_rc = c["expect"]
    problems = []
    if (ours["stdout"], ours["rc"]) != (want_out, want_rc):
        problems.append("expected rc=%d %s\n  got      rc=%d %s\n  stderr: %s" %
                        (want_rc, show(want_out), ours["rc"], show(ours["stdout"]), show(ours["stderr"])))
    if os.path.exists(os.path.join(workdir, "pwned")):
        problems.append("an input ran as shell code: 'pwned' was created")
    return problems


def parallel_version():
    """GNU parallel's version line, asked once."""
    if not hasattr(parallel_version, "line"):
        p = subprocess.run([PARALLEL, "--will-cite", "--version"], capture_output=True, stdin=subprocess.DEVNULL)
        parallel_version.line = p.stdout.split(b"\n", 1)[0]
    return parallel_version.line


def record_name(c):
    """The file name of GNU parallel's recorded result for case c: a digest
    of everything the result depends on (GNU parallel's path and version,
    the jobs' shell, and all of the case but how mproc's result is judged)."""
    judged = ("check", "cost", "secs", "stderr", "stdout", "sort")
    fields = sorted((k, v) for k, v in c.items() if k not in judged)
    return hashlib.sha256(repr((PARALLEL, parallel_version(), SHELL, fields)).encode()).hexdigest() + ".pickle"


def reference(c, base, env, records):
    """GNU parallel's result for case c, run in base/ref; with a directory
    of records, taken from there when an earlier run of the same case left
    it (secs 0), else recorded there.  GNU parallel's result does not
    depend on mproc: the plain and the sanitizer runs of one `make test`
    need it once."""
    if records:
        path = os.path.join(records, record_name(c))
        try:
            with open(path, "rb") as f:
                return dict(pickle.load(f), secs=0.0)
        except FileNotFoundError:
            pass
    ref = run_one(c, [PARALLEL, "--will-cite"] + c["args"], os.path.join(base, "ref"), env)
    if records:
        os.makedirs(records, exist_ok=True)
        partial = "%s.%d" % (path, os.getpid())
        with open(partial, "wb") as f:
            pickle.dump(ref, f)
        os.replace(partial, path)      # whole or absent, for the other parts
    return ref


def run_case(c, mproc, base, env, records=None):
    if c["shell"]:
        env = dict(env, PARALLEL_SHELL=c["shell"], SHELL=c["shell"])
    env = dict(env, **c["env"])
    if c["expect"] is not None:
        return run_expected(c, mproc, base, env)
    ref = reference(c, base, env, records)
    ours = run_one(c, [mproc, "run"] + c["args"], os.path.join(base, "ours"), env)
    c["secs"] = (ref["secs"], ours["secs"])
    a, b = normalise(c, ref), normalise(c, ours)
    problems = []
    for key in a:
        if a[key] != b.get(key):
            problems.append("%s differs:\n  parallel: %s\n  mproc:    %s" % (key, show(a[key]), show(b.get(key))))
    if c["check"]:
        msg = c["check"](ours)
        if msg:
            problems.append(msg)
    return problems


# ---- mproc's own checks (no reference to compare with) ---------------------
@self_check
def help_texts(mproc, base, env):
    for argv in ([mproc, "--help"], [mproc, "run", "--help"]):
        p = subprocess.run(argv, capture_output=True, env=env)
        if p.returncode != 0 or b"usage: mproc" not in p.stdout:
            return "%s: rc=%d out=%r" % (argv, p.returncode, p.stdout[:200])
    p = subprocess.run([mproc, "frobnicate"], capture_output=True, env=env)
    if p.returncode == 0 or b"unknown command" not in p.stderr:
        return "unknown subcommand accepted"
    return None


@self_check
def newline_in_value_is_one_argument(mproc, base, env):
    # GNU parallel splits a ::: value at newlines; mproc keeps every value
    # one literal argument, as its documentation promises.
    p = subprocess.run([mproc, "run", "printf", "[%s]", ":::", "a\nb"], capture_output=True, env=env)
    if p.stdout != b"[a\nb]" or p.returncode != 0:
        return "got %r rc=%d" % (p.stdout, p.returncode)
    p = subprocess.run([mproc, "run", "printf '[%s]' {}", ":::", "a\nb;echo x"], capture_output=True, env=env)
    if p.stdout != b"[a\nb;echo x]":
        return "shell path: got %r" % p.stdout
    return None


@self_check
def bad_input_starts_nothing(mproc, base, env):
    os.makedirs(base)
    marker = os.path.join(base, "ran")
    for extra in (["--halt", "soon,fail=x"], ["-j", "1.5x"], ["--timeout", "-3"], ["-n", "-1"],
                  ["--unknown"], ["--retries", "x"], ["-d", ""], ["-I", ""]):
        argv = [mproc, "run"] + extra + ["touch", marker, ":::", "a"]
        p = subprocess.run(argv, capture_output=True, env=env)
        if p.returncode != 255 or os.path.exists(marker) or not p.stderr.startswith(b"mproc run: "):
            return "%s: rc=%d stderr=%r" % (extra, p.returncode, p.stderr)
    return None


@self_check
def perl_expressions_refused(mproc, base, env):
    # GNU parallel runs {= perl =} (even spread over several words); mproc
    # has no perl and refuses the template before starting anything.
    os.makedirs(base)
    templates = [["touch", "x{= s/a/b/ =}"], ["touch", "{=", "s/a/b/", "=}"], ["touch", "{=1 $_ =}"],
                 ["touch {==} | cat"], ["-q", "touch", "{= s/a/b/ =}"], ["-q", "touch", "{=", "=}"],
                 ["--dry-run", "touch", "{= $_ =}"], ["-k", "--colsep", ",", "touch", "{=2 $_ =}"]]
    for t in templates:
        p = subprocess.run([mproc, "run"] + t + [":::", "a"], capture_output=True, env=env, cwd=base)
        if p.returncode != 255 or p.stdout or not p.stderr.startswith(b"mproc run: ") or b"{=" not in p.stderr \
                or os.listdir(base):
            return "%s: rc=%d out=%r err=%r files=%s" % (t, p.returncode, p.stdout, p.stderr, os.listdir(base))
    return None


def processes_named(marker):
    """Processes whose argv[0] is marker (set with `exec -a`).  Matching
    argv[0] exactly leaves out mproc and the job shells, whose command
    lines contain the marker as text."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read().split(b"\0")[0] == marker.encode():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def wait_for(condition, limit=60):
    """Polls condition() until it holds or `limit` seconds have passed (a
    bound that catches a hang); returns its last value."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def interrupt_case(mproc, base, env, sig, ignore_term):
    os.makedirs(base, exist_ok=True)
    marker = "mproc-test-sleep-%d-%d" % (os.getpid(), sig)
    body = "trap '' TERM; " if ignore_term else ""
    # exec -a gives the sleeping processes a name we can look for.  They
    # sleep far longer than the test waits: only the signal can end them.
    cmd = body + "bash -c 'exec -a %s sleep 600' & bash -c 'exec -a %s sleep 600'; wait" % (marker, marker)
    p = subprocess.Popen([mproc, "run", "-j2", cmd, ":::", "1", "2", "3"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not wait_for(lambda: len(processes_named(marker)) >= 4):
        p.kill()
        p.communicate()
        kill_all(processes_named(marker))
        return "jobs did not start"
    p.send_signal(sig)
    try:
        p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        kill_all(processes_named(marker))
        return "did not stop after the signal"
    # A job killed as mproc exits may take a moment to be gone.
    wait_for(lambda: not processes_named(marker), 30)
    left = processes_named(marker)
    kill_all(left)
    if left:
        return "processes left behind: %s" % left
    if p.returncode != -sig:
        return "exit status %d, expected death by signal %d" % (p.returncode, sig)
    return None


@self_check
def sigint_stops_everything(mproc, base, env):
    return interrupt_case(mproc, base, env, signal.SIGINT, False)


@self_check
def sigterm_stops_term_ignoring_jobs(mproc, base, env):
    return interrupt_case(mproc, base, env, signal.SIGTERM, True)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@self_check
def ctrl_z_stops_and_continues_jobs(mproc, base, env):
    # The job waits until the test lets it finish (by making a file), and
    # the test does that only once it has seen mproc and the job stopped:
    # how long anything takes cannot change the outcome.
    os.makedirs(base)
    marker = "mproc-test-tstp-%d" % os.getpid()
    go = os.path.join(base, "go")
    cmd = "bash -c 'exec -a %s bash -c \"until [ -e %s ]; do sleep 0.01; done\"'; echo done" % (marker, go)
    p = subprocess.Popen([mproc, "run", cmd, ":::", "x"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    jobs = wait_for(lambda: processes_named(marker))
    if not jobs:
        p.kill()
        p.communicate()
        return "job did not start"
    p.send_signal(signal.SIGTSTP)
    wait_for(lambda: proc_state(p.pid) == "T" and proc_state(jobs[0]) == "T")
    states = (proc_state(p.pid), proc_state(jobs[0]))
    open(go, "w").close()
    # Free to finish, the job must still not run while stopped.  (A busy
    # machine can only make this pass wrongly, never fail wrongly.)
    time.sleep(0.3)
    still = proc_state(jobs[0])
    p.send_signal(signal.SIGCONT)
    try:
        out, _ = p.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "did not finish after SIGCONT"
    if states != ("T", "T"):
        return "after SIGTSTP: mproc %s, job %s (expected both stopped)" % states
    if still != "T":
        return "the job ran on while stopped: %s" % still
    if p.returncode != 0 or out != b"done x\n":
        return "after SIGCONT: rc=%d out=%r" % (p.returncode, out)
    return None


@self_check
def ignored_signals_are_inherited(mproc, base, env):
    # nohup: a job must keep SIGHUP ignored; SIGPIPE is back to default.
    def ignore_hup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    p = subprocess.run([mproc, "run", "grep", "SigIgn", "/proc/self/status", ":::", "/dev/null"],
                       capture_output=True, env=env, preexec_fn=ignore_hup)
    m = re.search(rb"SigIgn:\s*([0-9a-f]+)", p.stdout)
    if not m:
        return "no SigIgn line: %r" % p.stdout
    mask = int(m.group(1), 16)
    if not mask & (1 << (signal.SIGHUP - 1)):
        return "SIGHUP not ignored in the job (mask %x)" % mask
    if mask & (1 << (signal.SIGPIPE - 1)):
        return "SIGPIPE ignored in the job (mask %x)" % mask
    return None


def child_maxrss_kib(argv, stdin_bytes, env):
    """Peak RSS of one child, measured with a fresh python as its parent."""
    code = ("import resource,subprocess,sys\n"
            "subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    p = subprocess.run([sys.executable, "-c", code] + argv, input=stdin_bytes, capture_output=True, env=env)
    return int(p.stdout.strip())


@self_check
def input_is_streamed(mproc, base, env):
    small = "".join("%d\n" % i for i in range(1000)).encode()
    large = "".join("%d\n" % i for i in range(300000)).encode()
    argv = [mproc, "run", "--dry-run", "echo", "{}"]
    # AddressSanitizer's quarantine keeps freed memory on purpose.
    env = dict(env)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"
    a = child_maxrss_kib(argv, small, env)
    b = child_maxrss_kib(argv, large, env)
    # 300k lines held in memory would be well over 8 MiB.
    if b - a > 4096:
        return "peak RSS grew from %d KiB to %d KiB with 300x more input" % (a, b)
    return None


@self_check
def direct_exec_without_shell(mproc, base, env):
    # A shell marks the commands it runs with the variable "_"; a plain
    # command must be exec'd directly, so it must not see one.
    env = dict(env)
    env.pop("_", None)
    p = subprocess.run([mproc, "run", "printenv", "{}", ":::", "_"], capture_output=True, env=env)
    if p.returncode != 1 or p.stdout:
        return "plain command went through a shell: rc=%d %r" % (p.returncode, p.stdout)
    p = subprocess.run([mproc, "run", "printenv {} | cat", ":::", "_"], capture_output=True, env=env)
    if p.returncode != 0 or not p.stdout:
        return "shell command did not go through a shell: rc=%d %r" % (p.returncode, p.stdout)
    return None


@self_check
def sighup_lets_running_jobs_finish(mproc, base, env):
    # As GNU parallel: after SIGHUP no job starts, the running ones finish
    # (each waits for a file the test makes once the signal is sent) and
    # their output is printed; the exit status counts their failures.
    os.makedirs(base)
    go = os.path.join(base, "go")
    cmd = "touch %s/started{}; until [ -e %s ]; do sleep 0.01; done; echo {}" % (base, go)
    p = subprocess.Popen([mproc, "run", "-j2", "-k", cmd, ":::", "a", "b", "c", "d"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = lambda: [x for x in os.listdir(base) if x.startswith("started")]
    if not wait_for(lambda: len(started()) >= 2):
        p.kill()
        p.communicate()
        return "jobs did not start"
    p.send_signal(signal.SIGHUP)
    # Give mproc the signal before the jobs may end: its message says so.
    line = p.stderr.readline()
    open(go, "w").close()
    try:
        out, err = p.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "did not finish after SIGHUP"
    if b"SIGHUP" not in line:
        return "no message about SIGHUP: %r" % line
    if out != b"a\nb\n" or p.returncode != 0 or sorted(started()) != ["starteda", "startedb"]:
        return "rc=%d out=%r started=%s" % (p.returncode, out, started())
    return None


@self_check
def line_buffer_keep_order_passes_first_job(mproc, base, env):
    # --lb -k: the first job's lines (stdout and stderr) go out as they are
    # written; the job ends only once the test has seen both.
    os.makedirs(base)
    go = os.path.join(base, "go")
    cmd = ("if [ {} = 1 ]; then echo o1; echo e1 >&2; until [ -e %s ]; do sleep 0.01; done; echo o1b; fi; "
           "echo e{}z >&2; echo o{}z" % go)
    p = subprocess.Popen([mproc, "run", "-j2", "-k", "--lb", cmd, ":::", "1", "2"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # A bound that catches a hang: the job is let go after a minute anyway,
    # and lines that come only then come too late.
    timer = threading.Timer(60, lambda: open(go, "w").close())
    timer.start()
    first_out = p.stdout.readline()
    first_err = p.stderr.readline()
    late = os.path.exists(go)
    timer.cancel()
    open(go, "w").close()
    try:
        out, err = p.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "did not finish"
    if late:
        return "the first job's lines came only once it had ended"
    if (first_out, first_err) != (b"o1\n", b"e1\n"):
        return "first lines %r %r" % (first_out, first_err)
    if out != b"o1b\no1z\no2z\n" or err != b"e1z\ne2z\n" or p.returncode != 0:
        return "rc=%d out=%r err=%r" % (p.returncode, out, err)
    return None


@self_check
def exported_function_without_bash_shell(mproc, base, env):
    # GNU parallel runs jobs in the shell that called it: a function bash
    # exported works though $SHELL is sh.  Both tools, called from bash.
    env = dict(env)
    env["SHELL"] = "/bin/sh"
    env.pop("PARALLEL_SHELL", None)
    # (bash stays the tools' parent: it does not exec the last command.)
    script = 'f() { echo "f:$1"; }; export -f f; "$@" -k f ::: a "b c"; exit $?'
    want = subprocess.run(["bash", "-c", script, "x", PARALLEL], env=env, capture_output=True)
    got = subprocess.run(["bash", "-c", script, "x", mproc, "run"], env=env, capture_output=True)
    if (got.stdout, got.returncode) != (want.stdout, want.returncode) or want.stdout != b"f:a\nf:b c\n":
        return "parallel %r rc=%d, mproc %r rc=%d %r" % (want.stdout, want.returncode, got.stdout, got.returncode,
                                                          got.stderr)
    return None


# ---- choosing the checks ----------------------------------------------------
def all_checks(records=None):
    """Every check in a fixed order, as (name, cost, run): the differential
    cases first, then mproc's own checks.  run(mproc, base, env) returns the
    problems found (an empty list if none) and a note for the verbose
    listing (each tool's time, for a case).  records: the directory of GNU
    parallel's recorded results (reference()), or None."""
    def differential(c):
        def run(mproc, base, env):
            problems = run_case(c, mproc, base, env, records)
            secs = c.get("secs", (0, 0))
            return problems, "parallel %5.2fs  mproc %5.2fs" % secs
        return c["name"], c["cost"], run

    def own(fn):
        def run(mproc, base, env):
            msg = fn(mproc, base, env)
            return [msg] if msg else [], ""
        return fn.__name__, 1, run
    return [differential(c) for c in CASES] + [own(fn) for fn in SELF_CHECKS]


def shard_of(checks, index, count):
    """The checks of part `index` (1..count) of `count`, in their order.
    Costliest first, each check goes to the part with the least cost so
    far (the lowest-numbered on a tie): the slow cases end up in different
    parts, and every part computes the same sharing."""
    totals = [0] * count
    part_of = {}
    for i in sorted(range(len(checks)), key=lambda i: -checks[i][1]):
        part = totals.index(min(totals))
        totals[part] += checks[i][1]
        part_of[i] = part
    return [c for i, c in enumerate(checks) if part_of[i] == index - 1]


def parse_shard(text):
    """"I/N" -> (I, N), with 1 <= I <= N."""
    m = re.fullmatch(r"([0-9]+)/([0-9]+)", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError("expected I/N with 1 <= I <= N, got %r" % text)
    return int(m.group(1)), int(m.group(2))


def private_env():
    """The tools' environment, and a fresh HOME of their own (GNU parallel
    keeps state under $HOME/.parallel) that the caller removes."""
    env = dict(os.environ)
    env["PARALLEL_SHELL"] = SHELL
    env["SHELL"] = SHELL
    env["LC_ALL"] = "C.UTF-8"
    env.pop("PARALLEL", None)
    home = tempfile.mkdtemp(prefix="mproc-cli-test-")
    env["HOME"] = home
    os.makedirs(os.path.join(home, ".parallel"))
    open(os.path.join(home, ".parallel", "will-cite"), "w").close()
    return env, home


def run_checks(checks, mproc, home, env, verbose):
    """Runs the checks one after the other, each in a directory of its own
    under home; prints the failures (every check if verbose); returns the
    names of the checks that failed."""
    failures = []
    for i, (name, _, run) in enumerate(checks):
        t0 = time.monotonic()
        try:
            problems, note = run(mproc, os.path.join(home, "check%03d" % i), env)
        except subprocess.TimeoutExpired as e:
            problems, note = ["timed out: %s" % e], ""
        if verbose or problems:
            print("%-4s %-40s %6.2fs  %s" % ("ok" if not problems else "FAIL", name, time.monotonic() - t0, note),
                  flush=True)
        for p in problems:
            print("     " + p.replace("\n", "\n     "), flush=True)
        if problems:
            failures.append(name)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mproc", required=True)
    ap.add_argument("-k", dest="pattern", default=None, help="only the checks whose name contains PATTERN")
    ap.add_argument("--shard", type=parse_shard, default=(1, 1), metavar="I/N",
                    help="only part I of N (the parts share the checks out evenly)")
    ap.add_argument("--records", metavar="DIR", default=os.environ.get("MPROC_DIFFERENTIAL_RECORDS") or None,
                    help="reuse GNU parallel's results recorded in DIR by an earlier run, record the others there "
                         "(default: $MPROC_DIFFERENTIAL_RECORDS; none: GNU parallel runs every case)")
    ap.add_argument("-v", action="store_true")
    opts = ap.parse_args()
    if not PARALLEL:
        print("GNU parallel is not installed (scripts/deps.sh test installs it)")
        return 1
    mproc = os.path.abspath(opts.mproc)
    checks = shard_of(all_checks(opts.records and os.path.abspath(opts.records)), *opts.shard)
    if opts.pattern:
        checks = [c for c in checks if opts.pattern in c[0]]
    env, home = private_env()
    try:
        failures = run_checks(checks, mproc, home, env, opts.v)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    names = set(c["name"] for c in CASES)
    ndiff = sum(1 for name, _, _ in checks if name in names)
    print("part %d/%d: %d of %d checks passed (%d differential cases against GNU parallel)" %
          (opts.shard + (len(checks) - len(failures), len(checks), ndiff)))
    if failures:
        print("failed: " + " ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
