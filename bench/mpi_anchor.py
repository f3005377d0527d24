"""mpi4py.futures, the anchor of bench mpi_submit: N tiny tasks through
MPIPoolExecutor, as a Python user would write them, under
`mpirun -n 3 python3 -m mpi4py.futures mpi_anchor.py FORM N`.

  map     executor.map(tiny, range(N), chunksize=1)
  submit  N executor.submit(tiny, i), then every result

Prints "seconds S" (the best of three) on rank 0."""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def tiny(x):
    return x * x + 1


def main():
    form, n = sys.argv[1], int(sys.argv[2])
    best = None
    with MPIPoolExecutor() as executor:
        list(executor.map(tiny, range(10), chunksize=1))   # the workers are up
        for _ in range(3):
            t0 = time.perf_counter()
            if form == "map":
                out = list(executor.map(tiny, range(n), chunksize=1))
            else:
                futures = [executor.submit(tiny, i) for i in range(n)]
                out = [f.result() for f in futures]
            t = time.perf_counter() - t0
            assert out == [tiny(i) for i in range(n)]
            best = t if best is None or t < best else best
    print("seconds %.9f" % best)


if __name__ == "__main__":
    main()
