#!/usr/bin/env python3
"""Runs every example program and checks what it prints.

    check.py SOURCE_EXAMPLES_DIR BUILT_EXAMPLES_DIR [MPROC_COMMAND]

Every examples/<name>.c must have a check here.  Programs whose pools follow
MPROC_BACKEND run once per backend; the others (mp_process children, or a
backend chosen in the code) run once.  Inputs are kept small; the time
limit of each run only catches a hang.  A check looks at the values printed
(the squares, the prime factors, the sums, every element handled once), not
just the exit status.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

TIME_LIMIT = 120  # seconds per run
BACKENDS = ("thread", "process")


class Failed(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failed(what)


def squares(n):
    return [i * i for i in range(n)]


def as_list(text):
    return [int(x) for x in re.findall(r"-?\d+", text)]


def lines_matching(out, pattern):
    return [m for m in (re.fullmatch(pattern, line) for line in out.splitlines()) if m]


def smallest_factor(n):
    d = 2
    while d * d <= n:
        if n % d == 0:
            return d
        d += 1
    return n


def largest_factor(n):
    largest, d = 1, 2
    while d * d <= n:
        while n % d == 0:
            largest, n = d, n // d
        d += 1
    return n if n > 1 else largest


# --- one check per example: each gets (run, backend) and raises Failed ------

def check_square_map(run, backend):
    out = run(["20"], backend)
    expect(lines_matching(out, r"serial: +(\[.*\])")[0].group(1) == str(squares(20)), "serial squares")
    expect(lines_matching(out, r"parallel: +(\[.*\])")[0].group(1) == str(squares(20)), "parallel squares")


def check_which_worker(run, backend):
    out = run(["8"], backend)
    main_pid = int(re.search(r"main program pid = (\d+)", out).group(1))
    handled = lines_matching(out, r"x = (\d+), pid = (\d+), worker (\d+)")
    expect(sorted(int(m.group(1)) for m in handled) == list(range(8)), "every element handled once")
    pids = {int(m.group(2)) for m in handled}
    if backend == "thread":
        expect(pids == {main_pid}, "thread workers run in the program's process")
    else:
        expect(main_pid not in pids, "process workers are other processes")
    expect(f"8 elements handled by {len(pids)} distinct process(es)" in out, "the count of processes")


TUTORIAL_LARGEST = {
    188554848645154545454: 123303913, 188554848645154545455: 64684339157857477,
    188554848645154545456: 4447137379, 188554848645154545457: 460680751,
    188554848645154545458: 600493148551447597, 188554848645154545459: 5889946229505343,
    188554848645154545460: 409901844880770751, 188554848645154545461: 27766259,
    188554848645154545462: 791244185009, 188554848645154545463: 3252796395279289,
}


def factor_lines(out):
    return {int(m.group(1)): int(m.group(2)) for m in lines_matching(out, r"(\d+): (\d+)")}


def check_largest_prime_factor(run, backend):
    out = run([], backend)
    expect("largest prime factor of 6: 3" in out, "the factor of 6")
    expect(factor_lines(out) == TUTORIAL_LARGEST, "the tutorial's ten factors")
    expect("agree: yes" in out, "apply_async, map_async and serial agree")
    out = run(["1", "300"], backend)
    expect(factor_lines(out) == {n: largest_factor(n) for n in range(1, 301)}, "factors of 1..300")
    expect("agree: yes" in out, "apply_async, map_async and serial agree on 1..300")


smallest_seen = {}


def check_smallest_prime_factor(run, backend):
    out = run(["30", "7"], backend)
    found = lines_matching(out, r"(\d+): (\d+)")
    expect(len(found) == 30, "30 numbers")
    numbers = [int(m.group(1)) for m in found]
    for m in found:
        n, p = int(m.group(1)), int(m.group(2))
        expect(10**6 <= n <= 10**9, f"{n} in [1e6, 1e9]")
        expect(p == smallest_factor(n), f"smallest prime factor of {n}")
    # The draws depend on the seed and the position only: every backend
    # (every schedule) draws the same numbers.
    expect(smallest_seen.setdefault("numbers", numbers) == numbers, "same seed, same numbers")


NAMES = ["Abhijit", "Anas", "Ayush", "Falguni", "Harjot", "Jigyasa", "Prachi", "Saurabh", "Sheshant", "Rahul"]


def expect_files(directory, first):
    for i, name in enumerate(NAMES):
        with open(os.path.join(directory, f"file_{first + i}.txt")) as f:
            expect(f.read() == name, f"file_{first + i}.txt holds {name}")


def created(first):
    return [f"file file_{first + i}.txt created" for i in range(len(NAMES))]


def check_save_files(run, backend):
    with tempfile.TemporaryDirectory() as d:
        lines = run([d], backend).splitlines()
        expect(lines[0] == "file_empid_27468.txt created", "apply's file")
        expect(lines[1:21] == created(10) + created(20), "map's and starmap's files, in input order")
        with open(os.path.join(d, "file_empid_27468.txt")) as f:
            expect(f.read() == "Falguni", "apply's file content")
        expect_files(d, 10)
        expect_files(d, 20)


def check_save_files_async(run, backend):
    with tempfile.TemporaryDirectory() as d:
        lines = run([d], backend).splitlines()
        other = "Other work while waiting for the calls to complete..."
        expect(lines[0] == "file_empid_27468.txt created", "apply_async's file")
        expect(lines[1:12] == [other] + created(30), "map_async: other work first, then the files in order")
        expect(lines[12:14] == [other, "callback: all 10 files written, the last one file_49.txt"],
               "starmap_async's callback ran before get returned")
        expect_files(d, 30)
        expect_files(d, 40)


def check_standup(run, backend):
    lines = run([], backend).splitlines()
    updates = [f"The update is being given by attendee no. {i}" for i in range(4)]
    tasks = [f"Task being completed is at priority {i}" for i in range(3)]
    expect([l for l in lines if l.startswith("The update")] == updates, "four updates in order")
    expect([l for l in lines if l.startswith("Task")] == tasks, "three tasks in order")
    expect(lines.index("coffee break is done") < lines.index("It's time to go home"), "joined before going home")
    expect(len(lines) == 10 and lines[8] == "It's time to go home", "going home comes after every child")


def check_process_names(run, backend):
    lines = run([], backend).splitlines()
    expect(lines[0] == "hello bob", "hello bob")
    said = [re.fullmatch(r"process (\d) \(pid \d+\) says (\d+)", l) for l in lines[1:6]]
    expect(all(said) and sorted(int(m.group(1)) for m in said) == list(range(5)), "each of the five spoke")
    expect(all(1 <= int(m.group(2)) <= 50 for m in said), "numbers from 1 to 50")
    expect(lines[6:] == [f"process {i} exited with 0" for i in range(5)] + ["MainProcess is done"],
           "joined in order, exit codes 0")


def check_pipe_sender_receiver(run, backend):
    lines = run([], backend).splitlines()
    expect(sorted(lines[:3]) == ["Received: Hello, team!", "Received: end of file", "Sent: Hello, team!"],
           "one message, then end of file")
    expect(lines[3:] == ["done.", 'asked "how are you", got "how are you? fine, thanks"',
                         'asked "and the team", got "and the team? fine, thanks"'], "the duplex answers")


def check_queue_producers_consumers(run, backend):
    out = run([], backend)
    expect("total 1001000 (expected 1001000)" in out, "every job's number counted once")
    handled = [int(m.group(1)) for m in lines_matching(out, r"Process-\d+ handled (\d+) jobs")]
    expect(len(handled) == 3 and sum(handled) == 2000, "three consumers took all 2000 jobs")


def check_imap_squares(run, backend):
    out = run(["12"], backend)
    ordered, unordered = out.split("imap_unordered (completion order):")
    pairs = lambda text: [(int(m.group(1)), int(m.group(2))) for m in lines_matching(text, r"  (\d+)\^2 = (\d+)")]
    expect(pairs(ordered) == [(i, i * i) for i in range(12)], "imap: every square, in input order")
    expect(sorted(pairs(unordered)) == [(i, i * i) for i in range(12)], "imap_unordered: every square once")


def check_progress_bar(run, backend):
    total = (40 * 39 // 2) ** 2   # the sum of the cubes of 0..39
    out, err = run(["40"], backend, stderr=True)
    for form in ("imap_unordered", "map", "serial"):
        expect(f"sum of cubes ({form}): {total}" in out, f"the {form} sum")
    expect(err == "", "no bar when stderr is not a terminal")
    out, err = run(["40"], backend, stderr=True, env={"MPROC_PROGRESS": "force"})
    for label in ("imap_unordered", "map", "serial"):
        expect(re.search(label + r": 100%\|.*\| 40/40 \[", err), f"the {label} bar's final line")


def check_sum_squares(run, backend):
    out = run(["10"], backend)
    expect(len(lines_matching(out, r"(serial|parallel|map-reduce): +sum = 285 in .*")) == 3, "the three sums are 285")


def check_executor_map(run, backend):
    lines = run(["6"], backend).splitlines()
    expect(len(lines) == 2 and lines[0].startswith("process") and lines[1].startswith("thread"), "two runs")
    expect(all(l.endswith(": " + str(squares(6))) for l in lines), "the squares on both")


def check_submit(run, backend):
    out = run([], backend)
    expect("future.result() = 3" in out, "slowadd(1, 2)")
    expect("results: 0 2 4 6 8 10 12 14" in out, "slowadd(i, i) for eight i, in submission order")


def check_joblib_loop(run, backend):
    expect(run(["9"], backend).strip() == str(squares(9)), "the loop's squares")


DATA = ["one two three\n", "a\nb\nc\n", "", "  spaced   out  words \n\n", "no newline", "x\n" * 100,
        "tab\tseparated\twords\n", "last file\n"]


def wc(text):
    return text.count("\n"), len(text.split()), len(text)


def check_file_stats(run, backend):
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, text in enumerate(DATA):
            paths.append(os.path.join(d, f"data_{i + 1}.dat"))
            with open(paths[-1], "w") as f:
                f.write(text)
        expected = [f"{p}: {l} lines, {w} words, {b} bytes" for p, (l, w, b) in zip(paths, map(wc, DATA))]
        totals = [sum(c[k] for c in map(wc, DATA)) for k in range(3)]
        total = "total: {} lines, {} words, {} bytes".format(*totals)
        expect(run(paths, backend).splitlines() == expected + [total], "per-file counts and the total")

        missing = os.path.join(d, "missing.dat")
        out, err = run(paths[:2] + [missing], backend, status=1, stderr=True)
        expect(out.splitlines()[:2] == expected[:2], "the readable files are still counted")
        expect(f"file_stats: {missing}: No such file or directory" in err, "the missing file's reason")

        # Several copies of the program, one per file, through mproc run.
        if run.mproc and backend == BACKENDS[0]:
            out = subprocess.run([run.mproc, "run", "-k", run.program, ":::"] + paths, capture_output=True,
                                 text=True, timeout=TIME_LIMIT)
            expect(out.returncode == 0 and out.stdout.splitlines() == expected, "mproc run, one copy per file")


def check_wordcount(run, backend):
    import collections
    texts = ["The cat and the hat.\n" * 300, "A cat, a dog; THE END 42\n" * 120 + "rare-word once\n",
             "", "no newline at the end, the cat"]
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, text in enumerate(texts):
            paths.append(os.path.join(d, f"text_{i}.txt"))
            with open(paths[-1], "w") as f:
                f.write(text)
        counts = collections.Counter(re.findall(r"[a-z0-9]+", "".join(t + " " for t in texts).lower()))
        out = run(paths, backend)
        rows = lines_matching(out, r" *(\d+) (\S+)")
        top = sorted(counts.values(), reverse=True)[:20]
        expect([int(m.group(1)) for m in rows] == top, "the 20 largest counts, largest first")
        expect(all(counts[m.group(2)] == int(m.group(1)) for m in rows), "each word's count")
        expect(f"{len(counts)} distinct words" in out, "the number of distinct words")


def primes_below(n):
    sieve = bytearray([1]) * n
    sieve[:2] = b"\0\0"[:n]
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


def check_futures(run, backend):
    out = run(["20000"], backend)
    done = {int(m.group(1)): int(m.group(2)) for m in lines_matching(out, r"  job (\d+) done: (\d+)")}
    expect(done == {i: i * i for i in range(10)}, "ten done callbacks with their results")
    expect("all 10 callbacks ran" in out, "every callback ran before the wait returned")
    expect(f"  {primes_below(20000)} primes below 20000" in out, "primes below 20000")


def check_shared_counter(run, backend):
    out = run(["20000"], backend)
    expect("expected:     80000" in out and "with lock:    80000" in out, "the locked count is exact")
    lost = int(re.search(r"without lock: (\d+)", out).group(1))
    expect(0 < lost <= 80000, "the unlocked count is at most the expected one")


def check_event_barrier(run, backend):
    lines = run([], backend).splitlines()
    expect(lines[0] == "all started; go!", "the go line first")
    phases = [int(m.group(1)) for m in (re.fullmatch(r"Process-\d+ finished phase (\d)", l) for l in lines[1:]) if m]
    expect(phases == [1, 1, 1, 2, 2, 2, 3, 3, 3], "no process starts a phase before all finished the last")


def check_named_segment(run, backend):
    out = run([], backend)
    expect("reader got: hello through /dev/shm" in out and "creator got: thanks" in out, "the exchange")


def check_shared_dict(run, backend):
    out = run([], backend)
    counts = {m.group(1): int(m.group(2)) for m in lines_matching(out, r"(\w+) +(\d+)")}
    expect("10 distinct words" in out, "ten distinct words")
    expect(counts == {"the": 4, "quick": 1, "brown": 1, "fox": 2, "jumps": 1, "over": 1, "lazy": 1, "dog": 2,
                      "sleeps": 1, "runs": 1}, "every word counted")


def check_pi(run, backend):
    out = run(["400000"], backend)
    expect("all three estimates identical: yes" in out, "serial, threads and processes agree")


def check_pi_workers(run, backend):
    out = run(["400000", "3"], backend)
    rows = lines_matching(out, r" +(\d) +[\d.]+s +([\d.]+)x +\d+% +([\d.]+)")
    expect([int(m.group(1)) for m in rows] == [1, 2, 3], "a row per worker count")
    expect(len({m.group(3) for m in rows}) == 1, "the same estimate at every worker count")
    expect(rows[0].group(2) == "1.00", "speedup 1 at one worker")
    # The plot: mproc speedup over --once, as `make speedup-pi` makes it.
    if run.mproc and backend == BACKENDS[0]:
        with tempfile.TemporaryDirectory() as d:
            svg = os.path.join(d, "pi-speedup.svg")
            p = subprocess.run([run.mproc, "speedup", "--workers", "1,2", "--runs", "1", "--svg", svg, "--",
                                run.program, "--once", "400000"], capture_output=True, text=True, timeout=TIME_LIMIT)
            expect(p.returncode == 0, f"mproc speedup ran: {p.stderr}")
            import xml.etree.ElementTree as ET
            ET.parse(svg)
            expect("Amdahl" in p.stdout and os.path.getsize(svg) > 0, "the table, the fits and the SVG")


# name: (check, runs per backend?)
CHECKS = {
    "square_map": (check_square_map, True),
    "which_worker": (check_which_worker, True),
    "largest_prime_factor": (check_largest_prime_factor, True),
    "smallest_prime_factor": (check_smallest_prime_factor, True),
    "save_files": (check_save_files, True),
    "save_files_async": (check_save_files_async, True),
    "standup": (check_standup, False),
    "process_names": (check_process_names, False),
    "pipe_sender_receiver": (check_pipe_sender_receiver, False),
    "queue_producers_consumers": (check_queue_producers_consumers, False),
    "imap_squares": (check_imap_squares, True),
    "progress_bar": (check_progress_bar, True),
    "wordcount": (check_wordcount, True),
    "pi_workers": (check_pi_workers, True),
    "sum_squares": (check_sum_squares, True),
    "executor_map": (check_executor_map, False),
    "submit": (check_submit, True),
    "joblib_loop": (check_joblib_loop, True),
    "file_stats": (check_file_stats, True),
    "futures": (check_futures, False),
    "shared_counter": (check_shared_counter, False),
    "event_barrier": (check_event_barrier, False),
    "named_segment": (check_named_segment, False),
    "shared_dict": (check_shared_dict, False),
    "pi": (check_pi, False),
}


class Runner:
    """Runs one example program; fails on a hang or an unexpected status."""

    def __init__(self, program, mproc):
        self.program = program
        self.mproc = mproc  # the mproc command, for checks that use mproc run

    def __call__(self, args, backend, status=0, stderr=False, env=None):
        extra, env = env or {}, dict(os.environ)
        env.pop("MPROC_PROGRESS", None)
        env.update(extra)
        env.pop("MPROC_BACKEND", None)
        if backend:
            env["MPROC_BACKEND"] = backend
        try:
            p = subprocess.run([self.program] + args, capture_output=True, text=True, env=env,
                               timeout=TIME_LIMIT)
        except subprocess.TimeoutExpired:
            raise Failed(f"no result within {TIME_LIMIT} s")
        if p.returncode != status:
            raise Failed(f"exit status {p.returncode}, expected {status}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
        return (p.stdout, p.stderr) if stderr else p.stdout


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sources, built = sys.argv[1], sys.argv[2]
    mproc = sys.argv[3] if len(sys.argv) == 4 and sys.argv[3] else None
    names = sorted(f[:-2] for f in os.listdir(sources) if f.endswith(".c"))
    failures = [f"{name}: no check in {__file__}" for name in names if name not in CHECKS]
    for name in names:
        if name not in CHECKS:
            continue
        check, per_backend = CHECKS[name]
        run = Runner(os.path.join(built, name), mproc)
        for backend in BACKENDS if per_backend else (None,):
            label = f"{name} ({backend})" if backend else name
            start = time.monotonic()
            try:
                check(run, backend)
                print(f"ok    {label}  {time.monotonic() - start:.1f} s")
            except Failed as e:
                failures.append(f"{label}: {e}")
                print(f"FAIL  {label}")
            except Exception as e:  # output that does not parse: a regex found nothing, ...
                failures.append(f"{label}: unexpected output ({type(e).__name__}: {e})")
                print(f"FAIL  {label}")
            sys.stdout.flush()
    for f in failures:
        print(f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
