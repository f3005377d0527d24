"""The Python anchor of mproc-bench's mr_wordcount, in the tutorials' style:
Pool.map over chunks of the text, each counted with a Counter, then the
counts grouped and reduced in the parent, and the 20 most common words.

    python3 mr_anchor.py FILE      prints the seconds it took (after start-up)
"""
import sys
import time
from collections import Counter
from multiprocessing import Pool


def count_words(chunk):
    return Counter(chunk.split())


def chunks(text, n):
    size, at = len(text) // n + 1, 0
    while at < len(text):
        end = min(at + size, len(text))
        while end < len(text) and not text[end].isspace():
            end += 1
        yield text[at:end]
        at = end


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        text = f.read()
    with Pool(2) as pool:
        pool.map(count_words, ["warm up"])
        t0 = time.perf_counter()
        counts = pool.map(count_words, chunks(text, 64))
        total = Counter()
        for c in counts:
            total.update(c)
        top = total.most_common(20)
        print(f"{time.perf_counter() - t0:.4f}")
