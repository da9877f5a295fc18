"""The search structure of a copy index (``darkroom index build --kind``), from a few photos to millions.

- ``flat``: exact inner product over every reference (FAISS ``IndexFlatIP``); 4 bytes per dimension per
  reference, and a query compares with all of them.
- ``ivf``: an inverted file (``IndexIVFFlat``) of ``4 sqrt(N)`` cells from spherical k-means; a query visits
  its ``NPROBE`` nearest cells. Still 4 bytes per dimension per reference.
- ``ivfpq``: the same cells with product-quantised vectors (``IndexIVFPQ``, ``dim / 8`` sub-quantisers of
  8 bits: one byte per 8 dimensions, 96 bytes for copydesc's 768), for millions of references, visiting
  ``NPROBE_PQ`` cells; the best
  ``RERANK`` candidates are re-scored exactly against the float vectors of ``embeddings.npy``, read from
  disk (memory-mapped), so the scores it reports are exact cosines.
- ``auto`` (the default): flat below ``IVF_MIN`` references, ivf below ``PQ_MIN``, ivfpq above. The kind
  chosen is recorded in ``index.json``; `darkroom bench copyscale` measures them at a million references.
"""

from __future__ import annotations

import numpy as np

KINDS = ("auto", "flat", "ivf", "ivfpq")
IVF_MIN = 20_000  # below this many references an exact search takes under 10 ms anyway
PQ_MIN = 100_000  # above this an inverted file of float vectors passes 300 MB (768-d)
NPROBE = 32  # cells visited per query; `darkroom bench copydetect` measures what it costs in recall
NPROBE_PQ = 64  # ivfpq's, at millions of references: recall@1 of exact 0.976 at 1 M (32: 0.928), `bench copyscale`
RERANK = 64  # ivfpq candidates re-scored exactly


def choose_kind(count: int, kind: str = "auto") -> str:
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind != "auto":
        return kind
    return "flat" if count < IVF_MIN else ("ivf" if count < PQ_MIN else "ivfpq")


def _training_rows(embeddings: np.ndarray, count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    sample = rng.choice(len(embeddings), min(len(embeddings), count), replace=False)
    return np.ascontiguousarray(embeddings[np.sort(sample)], np.float32)


def search_index(embeddings: np.ndarray, dim: int, nlist: int | None = None, kind: str = "auto"):
    """A FAISS inner-product index of ``kind`` over ``embeddings`` (``auto``: by their number; an explicit
    ``nlist`` asks for cells, so ``ivf`` at least)."""
    import faiss

    embeddings = embeddings.reshape(-1, dim)
    kind = choose_kind(len(embeddings), kind)
    if nlist is not None and kind == "flat":
        kind = "ivf"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = min(nlist or int(4 * len(embeddings) ** 0.5), len(embeddings))
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivfpq":
            if dim % 8:
                raise ValueError(f"ivfpq needs a dimension divisible by 8, the descriptors have {dim}")
            nlist = max(1, min(nlist, len(embeddings) // 39))  # FAISS wants >= 39 training rows per cell
            bits = int(min(8, np.log2(len(embeddings))))  # 256 codes each, or fewer for a tiny index
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, dim // 8, bits, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical, index.cp.niter = True, 10
        index.train(_training_rows(embeddings, max(40 * index.nlist, 256 * 39 if kind == "ivfpq" else 0)))
        index.nprobe = NPROBE
    for start in range(0, len(embeddings), 100_000):  # a memory-mapped file is read a slice at a time
        index.add(np.ascontiguousarray(embeddings[start : start + 100_000], np.float32))
    return index


def kind_of(index) -> str:
    import faiss

    if isinstance(index, faiss.IndexIVFPQ):
        return "ivfpq"
    return "ivf" if hasattr(index, "nprobe") else "flat"


class Searcher:
    """Top-k search over an index; for ``ivfpq``, the best ``RERANK`` candidates re-scored exactly with the
    float vectors (``embeddings``, a memory-mapped array is enough)."""

    def __init__(self, index, embeddings: np.ndarray, nprobe: int | None = None):
        self.index, self.embeddings, self.kind = index, embeddings, kind_of(index)
        if hasattr(index, "nprobe"):  # FAISS does not store it
            index.nprobe = nprobe or (NPROBE_PQ if self.kind == "ivfpq" else NPROBE)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32)
        if self.kind != "ivfpq":
            return self.index.search(queries, k)
        _, candidates = self.index.search(queries, max(RERANK, k))
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        for q, found in enumerate(candidates):
            found = found[found >= 0]
            order = np.argsort(found)  # ascending rows: a memory-mapped file reads them in one sweep
            exact = np.asarray(self.embeddings[found[order]], np.float32) @ queries[q]
            best = np.argsort(-exact)[:k]
            scores[q, : len(best)], rows[q, : len(best)] = exact[best], found[order][best]
        return scores, rows
