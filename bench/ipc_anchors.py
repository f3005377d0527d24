"""Python anchors for the IPC benchmarks of mproc-bench (bench/ipc.c),
measured in the same run as mproc.

    python3 ipc_anchors.py NAME N     prints one number

pipe_rtt      multiprocessing.Pipe: 8-byte send_bytes/recv_bytes round trip, us
pipe_1MiB     Pipe.send_bytes of 1 MiB messages to a child, MiB/s
queue_rtt     two multiprocessing.Queue: 8-byte put/get round trip, us
lock_handoff  multiprocessing.Lock passed between two processes in strict
              turns, us per turn change

Round trips are timed in BATCHES batches and the fastest batch is reported,
exactly as bench/ipc.c does for mproc: on a shared machine other work keeps
descheduling one side or the other.
"""
import multiprocessing as mp
import sys
import time

BATCHES = 20


def pipe_echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pipe_sink(conn, n):
    for _ in range(n):
        conn.recv_bytes()
    conn.send_bytes(b"k")


def queue_echo(there, back, n):
    for _ in range(n):
        back.put(there.get())


def take_turns(lock, turn, me, n, stamps=None):
    done = 0
    while done < n:
        with lock:
            if turn.value == me:
                turn.value = 1 - me
                done += 1
                if stamps is not None and done % (n // BATCHES) == 0:
                    stamps.append(time.perf_counter())


def best_batch(round_trip, n):
    best = float("inf")
    for _ in range(BATCHES):
        t0 = time.perf_counter()
        for _ in range(n // BATCHES):
            round_trip()
        best = min(best, (time.perf_counter() - t0) / (n // BATCHES))
    return best


def pipe_rtt(n):
    a, b = mp.Pipe()
    p = mp.Process(target=pipe_echo, args=(b, n + 100))
    p.start()
    msg = b"x" * 8

    def round_trip():
        a.send_bytes(msg)
        a.recv_bytes()

    for _ in range(100):
        round_trip()
    best = best_batch(round_trip, n)
    p.join()
    return best * 1e6


def pipe_1MiB(n):
    a, b = mp.Pipe()
    p = mp.Process(target=pipe_sink, args=(b, n))
    p.start()
    msg = b"x" * (1 << 20)
    t0 = time.perf_counter()
    for _ in range(n):
        a.send_bytes(msg)
    a.recv_bytes()
    rate = n / (time.perf_counter() - t0)
    p.join()
    return rate


def queue_rtt(n):
    there, back = mp.Queue(), mp.Queue()
    p = mp.Process(target=queue_echo, args=(there, back, n + 100))
    p.start()
    msg = b"x" * 8

    def round_trip():
        there.put(msg)
        back.get()

    for _ in range(100):
        round_trip()
    best = best_batch(round_trip, n)
    p.join()
    return best * 1e6


def lock_handoff(n):
    lock, turn = mp.Lock(), mp.RawValue("i", 0)
    p = mp.Process(target=take_turns, args=(lock, turn, 1, n))
    p.start()
    stamps = [time.perf_counter()]
    take_turns(lock, turn, 0, n, stamps)
    p.join()
    best = min(b - a for a, b in zip(stamps, stamps[1:]))
    return best / (2 * (n // BATCHES)) * 1e6


if __name__ == "__main__":
    mp.set_start_method("fork")
    name, n = sys.argv[1], int(sys.argv[2])
    print(f"{globals()[name](n):.4f}")
