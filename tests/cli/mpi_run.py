#!/usr/bin/env python3
"""`mproc run` under mpirun: the same job set run by `mproc run` alone and
by `mpirun -n 3 mproc run` gives the same output (-k byte for byte, with
--tag too; the same lines without -k), the same exit status when jobs fail
and with --halt now,fail=1, a job log with one line per job and the right
Seq and Exitval, and --resume skipping what that log holds.  The jobs
really run on every rank, a --timeout stops a job on another rank, the
options that cannot cross ranks are refused, and nothing is left running.

usage: mpi_run.py --mpirun PATH --mproc PATH --net sm|tcp
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

FAILURES = []
RANKS = 3
LIMIT = 300          # seconds: only to catch a hang, on a busy machine


def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


class Runner:
    def __init__(self, mpirun, mproc, net):
        self.mproc = mproc
        btl = ["--mca", "btl", "vader,self"] if net == "sm" else \
              ["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo"]
        self.mpirun = [mpirun, "-n", str(RANKS), "--oversubscribe", "--bind-to", "none"] + btl
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        # As tests/mpi/run.sh: Open MPI's own allocations are not ours to
        # check for leaks, and its internals are suppressed under TSan.
        if self.env.get("ASAN_OPTIONS"):
            self.env["ASAN_OPTIONS"] += ":detect_leaks=0"
        if self.env.get("TSAN_OPTIONS"):
            supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi", "tsan.supp")
            self.env["TSAN_OPTIONS"] += ":suppressions=" + os.path.abspath(supp)
        self.env.pop("PARALLEL", None)
        self.mark = f"{os.getpid()}.{net}"
        self.env["MPROC_MPI_RUN_TEST"] = self.mark

    def run(self, args, mpi, stdin=None):
        """Runs mproc run ARGS, alone or under mpirun; returns the completed process."""
        cmd = (self.mpirun if mpi else []) + [self.mproc, "run"] + args
        return subprocess.run(cmd, capture_output=True, env=self.env, timeout=LIMIT, input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL)

    def both(self, args):
        return self.run(args, False), self.run(args, True)


# Jobs with several lines on both outputs, some large enough to take more
# than one message buffer; with unfinished, a last line without a newline
# (whose place in the output only -k fixes).
def output_jobs(unfinished):
    last = "; printf 'last {}'" if unfinished else ""
    return ["-j2", "echo out {}; echo err {} >&2" + last +
            "; if [ $(({} % 7)) = 0 ]; then seq 100000; seq 5000 >&2; fi", ":::"] + [str(i) for i in range(1, 31)]


def test_output(r):
    for opts, name in ((["-k"], "-k"), (["-k", "--tag"], "-k --tag"), (["-k", "-v"], "-k -v")):
        local, mpi = r.both(opts + output_jobs(True))
        check(local.returncode == 0 and mpi.returncode == 0, f"{name}: both runs succeed")
        check(mpi.stdout == local.stdout and len(local.stdout) > 1000000,
              f"{name}: standard output is byte for byte the local run's")
        check(mpi.stderr == local.stderr, f"{name}: standard error is byte for byte the local run's")
    local, mpi = r.both(output_jobs(False))
    check(sorted(mpi.stdout.split(b"\n")) == sorted(local.stdout.split(b"\n")),
          "without -k: the same lines on standard output")
    check(sorted(mpi.stderr.split(b"\n")) == sorted(local.stderr.split(b"\n")),
          "without -k: the same lines on standard error")


def test_exit_status(r):
    fail3 = ["-j1", "sleep 0.1; test $(({} % 3)) != 0", ":::"] + [str(i) for i in range(1, 10)]
    local, mpi = r.both(fail3)
    check(local.returncode == 3 and mpi.returncode == 3,
          f"3 failing jobs: exit 3 alone and under mpirun (got {local.returncode}, {mpi.returncode})")
    halt = ["-j1", "--halt", "now,fail=1", "sleep {}; exit 1", ":::", "0.3", "41.5", "41.5", "41.5", "41.5"]
    local = r.run(halt, False)
    start = time.monotonic()
    mpi = r.run(halt, True)
    took = time.monotonic() - start
    check(local.returncode == 1 and mpi.returncode == 1,
          f"--halt now,fail=1: exit 1 alone and under mpirun (got {local.returncode}, {mpi.returncode})")
    check(took < 30, f"--halt now,fail=1: the jobs on other ranks were stopped (the run took {took:.1f} s, "
          "not their 41.5)")
    check(not leftovers(r.mark), "--halt now: nothing left running")


def read_joblog(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0], [line.split("\t") for line in lines[1:]]


def test_joblog_resume(r, tmp):
    log = os.path.join(tmp, "joblog")
    args = ["-j1", "--joblog", log, "echo {}; exit $(({} % 4 == 0))", ":::"]
    first = r.run(args + [str(i) for i in range(1, 9)], True)
    check(first.returncode == 2, f"joblog run: 2 of 8 jobs fail, exit 2 (got {first.returncode})")
    header, rows = read_joblog(log)
    check(header.split("\t")[0] == "Seq" and len(rows) == 8, "joblog: a header and one line per job")
    check(sorted(int(row[0]) for row in rows) == list(range(1, 9)), "joblog: Seq 1 to 8, once each")
    check(all(int(row[6]) == (int(row[0]) % 4 == 0) and row[7] == "0" for row in rows),
          "joblog: each job's Exitval (and no Signal)")
    # --resume runs only the jobs the log does not hold, as a local run does.
    local_log = os.path.join(tmp, "joblog.local")
    r.run(["-j1", "--joblog", local_log, "echo {}; exit $(({} % 4 == 0))", ":::"] +
          [str(i) for i in range(1, 9)], False)
    more = ["-k", "--resume", "echo {}; exit $(({} % 4 == 0))", ":::"] + [str(i) for i in range(1, 15)]
    mpi = r.run(["-j1", "--joblog", log] + more, True)
    local = r.run(["-j1", "--joblog", local_log] + more, False)
    check(mpi.stdout == b"".join(b"%d\n" % i for i in range(9, 15)), "--resume: only jobs 9 to 14 ran")
    check(mpi.stdout == local.stdout and mpi.returncode == local.returncode == 1,
          "--resume: the output and exit status of the local run")
    _, rows = read_joblog(log)
    check(sorted(int(row[0]) for row in rows) == list(range(1, 15)), "--resume: the log now holds Seq 1 to 14 once")


def test_ranks(r):
    # The runner fills the lowest free slot first: the first three jobs
    # take rank 0's slot, rank 1's and rank 2's (-j1 each), whatever the
    # timing; the sleep keeps them all busy at once anyway.
    p = r.run(["-j1", "-k", "-N0", "sleep 0.2; echo $OMPI_COMM_WORLD_RANK", ":::"] + [str(i) for i in range(12)], True)
    ranks = p.stdout.split()
    check(p.returncode == 0 and len(ranks) == 12, "12 jobs over 3 ranks at -j1 each all ran")
    check(set(ranks) == {b"0", b"1", b"2"}, f"the jobs ran on every rank (ranks {sorted(set(ranks))})")


def test_timeout(r, tmp):
    log = os.path.join(tmp, "joblog.timeout")
    start = time.monotonic()
    p = r.run(["-j1", "--timeout", "1", "--joblog", log, "-N0", "sleep", "42.5", ":::", "a", "b", "c"], True)
    took = time.monotonic() - start
    check(p.returncode == 3, f"--timeout: the 3 jobs failed (exit {p.returncode})")
    check(took < 30, f"--timeout: the run took {took:.1f} s, not the jobs' 42.5")
    _, rows = read_joblog(log)
    check(len(rows) == 3 and all(row[6] == "-1" and row[7] == "15" for row in rows),
          "--timeout: every job logged as stopped by SIGTERM (Exitval -1, Signal 15)")
    check(not leftovers(r.mark), "--timeout: nothing left running on any rank")


def test_nested(r):
    # A job inherits mpirun's variables: an `mproc run` inside it runs its
    # own jobs locally instead of taking itself for a rank.
    inner = f"{r.mproc} run -I @@ -k echo {{}}-@@ ::: x y"
    p = r.run(["-j1", "-k", inner, ":::", "a", "b", "c", "d"], True)
    check(p.returncode == 0 and p.stdout == b"".join(b"%s-x\n%s-y\n" % (c, c) for c in (b"a", b"b", b"c", b"d")),
          "an mproc run inside a job runs its own jobs where it is")


def test_refused(r):
    for opts in (["-u"], ["--line-buffer"], ["--pipe"]):
        p = r.run(opts + ["cat"], True, stdin=b"x\n")
        check(p.returncode == 255 and b"not supported under mpirun" in p.stderr,
              f"{opts[0]} is refused under mpirun with a message")
    p = r.run(["--no-such-option", "true", ":::", "a"], True)
    check(p.returncode == 255 and p.stderr.count(b"unknown option '--no-such-option'") == 1,
          "an unknown option: status 255, said once (by rank 0)")


def leftovers(mark):
    """Processes started by these tests that still run: their environment
    holds this test's mark (mpirun, the ranks and the jobs inherit it)."""
    needle = b"MPROC_MPI_RUN_TEST=" + mark.encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env:
            found.append(pid)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--mproc", required=True)
    ap.add_argument("--net", choices=("sm", "tcp"), default="sm")
    a = ap.parse_args()
    r = Runner(a.mpirun, a.mproc, a.net)
    with tempfile.TemporaryDirectory() as tmp:
        test_output(r)
        test_exit_status(r)
        test_joblog_resume(r, tmp)
        test_ranks(r)
        test_timeout(r, tmp)
        test_nested(r)
        test_refused(r)
    check(not leftovers(r.mark), "no rank and no job is left running")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
