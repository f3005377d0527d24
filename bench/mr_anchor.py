"""The Python anchors of mproc-bench's mr_wordcount.

    python3 mr_anchor.py tutorial FILE   prints the seconds it took (after start-up)
    python3 mr_anchor.py counter FILE

tutorial: map-reduce as the tutorials teach it with multiprocessing -- the
  text broken into chunks, Pool.map of a mapper that turns a chunk into
  (word, 1) pairs, the pairs partitioned by key in the parent, Pool.map of a
  reducer over the partitions, then the 20 most frequent words.
counter: what a seasoned Python programmer writes instead -- Pool.map of
  Counter(chunk.split()) over the chunks, the Counters added in the parent.
"""
import collections
import sys
import time
from multiprocessing import Pool


def chunks(text, n):
    size, at = len(text) // n + 1, 0
    while at < len(text):
        end = min(at + size, len(text))
        while end < len(text) and not text[end].isspace():
            end += 1
        yield text[at:end]
        at = end


def mapper(chunk):
    return [(word, 1) for word in chunk.split()]


def reducer(item):
    word, ones = item
    return word, sum(ones)


def tutorial(pool, text):
    mapped = pool.map(mapper, chunks(text, 64))
    partitioned = collections.defaultdict(list)
    for pairs in mapped:
        for word, one in pairs:
            partitioned[word].append(one)
    counts = pool.map(reducer, partitioned.items(), chunksize=1024)
    return sorted(counts, key=lambda wc: wc[1], reverse=True)[:20]


def count_words(chunk):
    return collections.Counter(chunk.split())


def counter(pool, text):
    total = collections.Counter()
    for c in pool.map(count_words, chunks(text, 64)):
        total.update(c)
    return total.most_common(20)


if __name__ == "__main__":
    with open(sys.argv[2]) as f:
        text = f.read()
    with Pool(2) as pool:
        pool.map(count_words, ["warm up"])
        t0 = time.perf_counter()
        globals()[sys.argv[1]](pool, text)
        print(f"{time.perf_counter() - t0:.4f}")
