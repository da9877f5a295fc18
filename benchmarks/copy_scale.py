"""A copy index of millions: search latency, recall against exact search, and memory, per index kind.

    python benchmarks/copy_scale.py [--n 1000000] [--queries 500] [--threads 2] [--kinds flat,ivf,ivfpq]
        [--nprobe 32,64,128] [--quick]
    (or: darkroom bench copyscale ..., or darkroom bench copydetect --scale 1000000)

The references are ``n`` random unit vectors of copydesc's dimension (768), not descriptors of real photos
(a million photos are not on this machine; the search over real descriptors, with real copy queries among
20,000 photo-crop distractors, is the last section of `darkroom bench copydetect`). Each query is a
reference plus Gaussian noise (cosine about 0.87 with it, as a strongly edited copy's descriptor is), asked
one at a time as `darkroom trace` does, top 10. Kinds are those of `darkroom index build --kind`
(darkroom.ops.copysearch): exact (flat), inverted file, inverted file of product-quantised vectors whose
best candidates are re-scored exactly from ``embeddings.npy`` memory-mapped from disk. "recall@1 of exact":
how often a kind's top match is exact search's; "finds the source": how often it is the query's own
reference. Memory is the FAISS index as written to ``faiss.index``; ivfpq reads ``embeddings.npy`` (4 bytes
per dimension per reference, on disk) only for its candidates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def references(n: int, dim: int, path: Path) -> np.ndarray:
    """``n`` random unit vectors written to ``path`` as .npy, returned memory-mapped."""
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, 100_000):
        rows = min(100_000, n - start)
        out[start : start + rows] = unit(rng.standard_normal((rows, dim), dtype=np.float32))
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def timed(searcher, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    rows = np.concatenate([searcher.search(q[None], k)[1] for q in queries])
    return rows, 1000 * (time.perf_counter() - start) / len(queries)


def main() -> None:
    import faiss

    from darkroom.ops.copysearch import NPROBE, NPROBE_PQ, RERANK, Searcher, search_index

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000, help="references (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--dim", type=int, default=768, help="descriptor dimension (copydesc: 768)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kinds", default="flat,ivf,ivfpq")
    parser.add_argument("--nprobe", default="", help="cells visited, a list to compare (default: darkroom's)")
    parser.add_argument("--quick", action="store_true", help="100,000 references, 200 queries")
    args = parser.parse_args()
    if args.quick:
        args.n, args.queries = 100_000, 200
    faiss.omp_set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        refs = references(args.n, args.dim, Path(tmp) / "embeddings.npy")
        rng = np.random.default_rng(1)
        sources = rng.choice(args.n, args.queries, replace=False)
        queries = unit(np.asarray(refs[sources]) + 0.02 * rng.standard_normal((args.queries, args.dim), np.float32))
        print(
            f"## {args.n:,} references ({args.dim}-d random unit vectors), {args.queries} noisy-copy queries, "
            f"one at a time, top 10, {args.threads} threads; inverted files: {int(4 * args.n**0.5)} cells, "
            f"{NPROBE} visited (ivfpq {NPROBE_PQ}) unless the row says; ivfpq: {args.dim // 8} bytes a vector, best "
            f"{RERANK} re-scored exactly\n"
        )
        print("| index | build s | ms / query | recall@1 of exact | finds the source | index MB |")
        print("|---|---:|---:|---:|---:|---:|")
        exact = None
        for kind in args.kinds.split(","):
            start = time.perf_counter()
            index = search_index(refs, args.dim, kind=kind)
            build = time.perf_counter() - start
            size = len(faiss.serialize_index(index)) / 1e6
            probes = [int(p) for p in args.nprobe.split(",") if p] if kind != "flat" else []
            for nprobe in probes or [None]:
                rows, ms = timed(Searcher(index, refs, nprobe), queries)
                top = rows[:, 0]
                exact = top if exact is None and kind == "flat" else exact
                agree = "-" if exact is None else f"{(top == exact).mean():.3f}"
                label = kind if nprobe is None else f"{kind}, {nprobe} cells visited"
                print(f"| {label} | {build:.0f} | {ms:.2f} | {agree} | {(top == sources).mean():.3f} | {size:,.0f} |")
            del index


if __name__ == "__main__":
    main()
