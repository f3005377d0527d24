"""Python anchors for mproc-bench, measured in the same run as mproc.

    python3 anchors.py NAME N      prints one number: tasks per second

submit          ProcessPoolExecutor(2): N round trips of submit(f, i).result()
imap_unordered  multiprocessing.Pool(2).imap_unordered(f, range(N), chunksize=1)
"""
import sys
import time


def square(x):
    return x * x


def submit(n):
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=2) as ex:
        ex.submit(square, 0).result()          # workers started
        t0 = time.perf_counter()
        for i in range(n):
            ex.submit(square, i).result()
        return n / (time.perf_counter() - t0)


def imap_unordered(n):
    import multiprocessing as mp
    with mp.Pool(2) as pool:
        pool.apply(square, (0,))
        t0 = time.perf_counter()
        for _ in pool.imap_unordered(square, range(n), chunksize=1):
            pass
        return n / (time.perf_counter() - t0)


if __name__ == "__main__":
    name, n = sys.argv[1], int(sys.argv[2])
    print(f"{globals()[name](n):.1f}")
