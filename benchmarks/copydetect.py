"""Copy detection: darkroom's descriptor versus perceptual hashes, on photos no model trained on.

    python benchmarks/copydetect.py [--quick] [--model RUN] [--distractors N] [--views] [--scale N]
    (or: darkroom bench copydetect; --scale 1000000: only the index kinds at a million references)

References: 6 regions (3x2 grid) of each test-split photo in "reference" photos, plus the regions of the
val-split photos as distractors. Copy queries: every reference region of the test photos, transformed by
each family of `darkroom.data.copyaug` (strong crop, flips, 90-degree and small rotations, colour,
grayscale, blur, JPEG, text, stickers, banners, borders, mixing, a random chain of three) and by two
families held out from training (perspective, pixelation). Non-copy queries: regions of other test-split
photos, transformed the same way, which must match nothing. Metrics over all query-reference pairs of
each query's top 10 (micro AP), recall at 90 % precision, accuracy@1 of the copy queries, per family too.
darkroom's is_copy threshold is calibrated on the val photos (90 % precision) and checked here.
Peers: pHash, dHash, wHash (`imagehash`, 64 bits), PDQ (`pdqhash`, 256 bits) and PDQ over the 8
dihedral versions of the query, and a 32x32 gray-thumbnail cosine.
Then the search at scale: the same queries among the references plus 20,000 distractor descriptors (random
crops of the odd-numbered train photos; copydesc's background comes from the even-numbered ones), exact
search versus the inverted file `darkroom index` uses above 20,000 references, and build and search times
for 100,000 descriptors.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from darkroom.data import copyaug, load_dataset
from darkroom.data.base import to_tensor
from darkroom.models.copydesc import VIEWS
from darkroom.ops.copydetect import crowding, embed, load_descriptor
from darkroom.ops.copysearch import NPROBE, search_index

FAMILIES = [
    "crop",
    "flip",
    "rot90",
    "rotate",
    "colour",
    "gray",
    "blur",
    "jpeg",
    "text",
    "emoji",
    "banner",
    "pad",
    "mix",
    "chain of 3",
    "perspective (held out)",
    "pixelate (held out)",
]


def _photo_source(split: str, scale: float = 0.25):
    root = "/usr/share/backgrounds"
    spec = f"photos:{root},split={split},scale={scale}" if os.path.isdir(root) else f"photos:split={split}"
    return load_dataset(spec, patch=8)


def regions(split: str, scale: float = 0.25) -> list[tuple[str, torch.Tensor]]:
    data = _photo_source(split, scale)
    out = []
    for key in data.photos:
        photo = data._photo(key)
        h, w = photo.shape[:2]
        for r in range(2):
            for c in range(3):
                crop = photo[r * h // 2 : (r + 1) * h // 2, c * w // 3 : (c + 1) * w // 3]
                out.append((f"{key.split('/')[-1]}#{r}{c}", to_tensor(crop)))
    return out


def transform(image: torch.Tensor, family: str, rng, other: torch.Tensor) -> torch.Tensor:
    if family == "chain of 3":
        return copyaug.copy_augment(image, rng, (3, 3), other)[0]
    name = family.split(" ")[0]
    if name == "crop":
        return copyaug.crop(image, rng, min_area=0.3)[0]
    if name == "jpeg":
        return copyaug.degrade.jpeg(image, int(rng.integers(20, 45)))[0]
    return copyaug.apply(name, image, rng, other)[0]


def make_queries(refs, sources, rng, families):
    queries = []  # (image, true reference index or -1, family)
    for i, (_, image) in enumerate(refs):
        for family in families:
            queries.append((transform(image, family, rng, sources[(i + 7) % len(sources)][1]), i, family))
    return queries


# ---- scorers: each maps (reference images, query images) -> (Q, R) similarity matrix -------------------


def _u8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _hamming_similarity(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    return 1 - (q[:, None, :] != r[None, :, :]).mean(-1)


def imagehash_scorer(kind: str):
    import imagehash

    fn = {"pHash": imagehash.phash, "dHash": imagehash.dhash, "wHash": imagehash.whash}[kind]
    bits = lambda images: np.stack([fn(Image.fromarray(_u8(x))).hash.flatten() for x in images])  # noqa: E731
    return lambda refs, queries: _hamming_similarity(bits(queries), bits(refs))


def pdq_scorer(dihedral: bool):
    import pdqhash

    def scores(refs, queries):
        ref_bits = np.stack([pdqhash.compute(_u8(x))[0] for x in refs]).astype(bool)
        if not dihedral:
            return _hamming_similarity(np.stack([pdqhash.compute(_u8(x))[0] for x in queries]).astype(bool), ref_bits)
        best = None
        for q in queries:
            variants = np.stack(pdqhash.compute_dihedral(_u8(q))[0]).astype(bool)  # 8 hashes
            s = _hamming_similarity(variants, ref_bits).max(0)[None]
            best = s if best is None else np.concatenate([best, s])
        return best

    return scores


def thumbnail_scorer(refs, queries):
    def vec(images):
        thumbs = torch.stack(
            [F.interpolate(x.mean(0, keepdim=True)[None], size=(32, 32), mode="area")[0].flatten() for x in images]
        )
        thumbs = thumbs - thumbs.mean(1, keepdim=True)
        return F.normalize(thumbs, dim=1).numpy()

    return vec(queries) @ vec(refs).T


def darkroom_scorer(net):
    """`darkroom trace`'s scores (cosine less the query's crowding); the last call's (reference, query)
    descriptors stay in ``scores.vectors``."""

    def scores(refs, queries):
        ref_vecs = np.concatenate([embed(net, refs[i : i + 64]) for i in range(0, len(refs), 64)])
        query_vecs = np.concatenate([embed(net, queries[i : i + 64]) for i in range(0, len(queries), 64)])
        scores.vectors = ref_vecs, query_vecs
        return query_vecs @ ref_vecs.T - crowding(net, query_vecs)[:, None]

    return scores


def distractor_vectors(net, count: int, rng, half: int) -> np.ndarray:
    """Descriptors of ``count`` random crops (15-70 % of each side) of train-split photos: real image content,
    none of it from the test photos, to stand in for a large collection of unrelated references. ``half`` 0
    takes the even-numbered train photos (copydesc's shipped background), 1 the odd ones (the distractors
    here), so the background never saw the distractors' photos."""
    data = _photo_source("train")
    photos = data.photos[half::2]
    out = []
    for start in tqdm(range(0, count, 256), desc="distractors", unit="batch"):
        images = []
        for _ in range(min(256, count - start)):
            photo = data._photo(photos[int(rng.integers(len(photos)))])
            h, w = photo.shape[:2]
            ch, cw = int(h * rng.uniform(0.15, 0.7)), int(w * rng.uniform(0.15, 0.7))
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            images.append(net.resize(to_tensor(photo[y : y + ch, x : x + cw])[None])[0])
        out.append(embed(net, images))
    return np.concatenate(out)


def _timed_search(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-k (scores, rows) answering one query at a time, as `darkroom trace` does, and ms per query."""
    start = time.perf_counter()
    found = [index.search(q[None], k) for q in queries]
    ms = 1000 * (time.perf_counter() - start) / len(queries)
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]), ms


def _build(make) -> tuple[object, float]:
    start = time.perf_counter()
    index = make()
    return index, time.perf_counter() - start


def index_scale(net, refs, queries, truth, distractors: int, rng, n: int = 100_000) -> None:
    """What `darkroom index` does with many references (``refs``, ``queries``: the benchmark's descriptors):
    exact (flat) search versus the inverted file it switches to above IVF_MIN references, in recall on real
    descriptors and in build and search time."""
    import faiss

    faiss.omp_set_num_threads(torch.get_num_threads())
    dim = net.descriptor_dim
    nlist = min(int(4 * n**0.5), (len(refs) + distractors) // 8)  # the cells of an n-reference index
    base = np.concatenate([refs, distractor_vectors(net, distractors, rng, half=1)])  # true references come first
    print(
        f"\n## Searching many references: the {len(refs)} references + {distractors:,} distractors (random crops "
        f"of the odd-numbered train photos, which the background never saw), same queries; inverted file of "
        f"{nlist} cells (as many as a {n:,}-reference index gets, at most one per 8 references), {NPROBE} "
        f"visited per query\n"
    )
    print("| search | uAP | accuracy@1 | top-1 as exact | ms / query |\n|---|---:|---:|---:|---:|")
    exact_rows = None
    for label, make in (
        ("exact (flat)", lambda: _flat(base)),
        ("inverted file", lambda: search_index(base, dim, nlist)),
    ):
        scores, rows, ms = _timed_search(make(), queries)
        scores = scores - crowding(net, queries)[:, None]
        exact_rows = rows if exact_rows is None else exact_rows
        full = np.full((len(queries), len(base)), -np.inf, np.float32)
        np.put_along_axis(full, np.maximum(rows, 0), np.where(rows >= 0, scores, -np.inf), 1)
        m = evaluate(full, truth)
        print(
            f"| {label} | {m['uAP']:.3f} | {m['acc@1']:.3f} | {(rows[:, 0] == exact_rows[:, 0]).mean():.3f} "
            f"| {ms:.2f} |"
        )
    # 100k rows for timing: random unit vectors (balanced cells), and the real descriptors above each repeated
    # with noise (cells as unbalanced as real images make them)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sets = {
        "random unit vectors": unit(noise),
        "real descriptors + noisy repeats": unit(base[np.arange(n) % len(base)] + 0.02 * noise),
    }
    print(f"\n{n:,} {dim}-d descriptors, {torch.get_num_threads()} threads, top 10, one query at a time:\n")
    print("| descriptors | index | build s | ms / query |\n|---|---|---:|---:|")
    for label, data in sets.items():
        probes = unit(data[:200] + 0.03 * rng.standard_normal((200, dim), dtype=np.float32))
        for kind, make in (("exact (flat)", lambda: _flat(data)), ("inverted file", lambda: search_index(data, dim))):
            index, build = _build(make)
            print(f"| {label} | {kind} | {build:.1f} | {_timed_search(index, probes)[2]:.2f} |")


def _flat(data: np.ndarray):
    import faiss

    index = faiss.IndexFlatIP(data.shape[1])
    index.add(np.ascontiguousarray(data))
    return index


# ---- metrics -------------------------------------------------------------------------------------------


def evaluate(scores: np.ndarray, truth: np.ndarray, k: int = 10) -> dict:
    """micro AP over each query's top-k predictions, recall at 90 % precision, accuracy@1 of copies."""
    top = np.argsort(-scores, 1)[:, :k]
    pairs = [(scores[q, r], truth[q] == r) for q in range(len(scores)) for r in top[q]]
    pairs.sort(key=lambda p: -p[0])
    correct = np.array([c for _, c in pairs], bool)
    positives = int((truth >= 0).sum())
    tp = np.cumsum(correct)
    precision, recall = tp / np.arange(1, len(tp) + 1), tp / positives
    ap = float(np.sum(precision[correct]) / positives)
    r90 = float(recall[precision >= 0.9].max()) if (precision >= 0.9).any() else 0.0
    acc1 = float((top[truth >= 0, 0] == truth[truth >= 0]).mean())
    return {"uAP": ap, "R@P90": r90, "acc@1": acc1}


def calibrate(scores: np.ndarray, truth: np.ndarray, precision_target: float = 0.9) -> float:
    """Lowest top-1 score threshold whose decisions reach ``precision_target`` (a decision is right when
    the top-1 reference is the true one)."""
    best = scores.max(1)
    right = scores.argmax(1) == truth
    order = np.argsort(-best)
    precision = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    ok = np.where(precision >= precision_target)[0]
    return float(best[order][ok.max()]) if len(ok) else float(best.max())


def compare_views(net, val, families) -> None:
    """How the descriptor's views were chosen, on val photos only: six calibration sets (each half of the val
    regions as references, the other half as non-copies, three transformation seeds each), micro AP of
    each combination of views."""
    half = len(val) // 2
    sets = []
    for refs, others, seeds in ((val[:half], val[half:], (1, 2, 3)), (val[half:], val[:half], (4, 5, 6))):
        for seed in seeds:
            rng = np.random.default_rng(seed)
            queries = make_queries(refs, val, rng, families) + [
                (q, -1, f) for q, _, f in make_queries(others, val, rng, families)
            ]
            sets.append(([r for _, r in refs], [q for q, _, _ in queries], np.array([t for _, t, _ in queries])))
    combos = ["colour", "colour,gray", "colour,equalized", "colour,gray,equalized"]
    results = {c: [] for c in combos}
    with torch.no_grad():
        for refs, queries, truth in sets:
            feats = {}
            for images, key in ((refs, "r"), (queries, "q")):
                batch = torch.stack([net.resize(x[None])[0] for x in images])
                for view, fn in VIEWS.items():
                    feats[key, view] = torch.cat(
                        [net.features(fn(batch[i : i + 64])) for i in range(0, len(batch), 64)]
                    ).numpy()
            for combo in combos:
                views = combo.split(",")
                scores = sum(feats["q", v] @ feats["r", v].T for v in views) / len(views)
                results[combo].append(evaluate(scores, truth)["uAP"])
    print("\nViews of the retrieval descriptor, micro AP on six val-photo calibration sets (mean, min-max)\n")
    print("| views | mean uAP | min | max |\n|---|---:|---:|---:|")
    for combo, values in results.items():
        print(f"| {combo} | {np.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer photos and families")
    parser.add_argument("--model", default=None, help="copy descriptor (default: the shipped copydesc)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--distractors",
        type=int,
        default=None,
        help="distractors for the many-references section (default 20000, 2000 with --quick; 0: skip)",
    )
    parser.add_argument("--views", action="store_true", help="only compare the descriptor's views on val photos")
    parser.add_argument(
        "--scale", type=int, default=None, metavar="N", help="only the index kinds at N references (copy_scale.py)"
    )
    args = parser.parse_args()
    if args.scale:
        import runpy
        import sys

        sys.argv = [sys.argv[0], "--n", str(args.scale), "--threads", str(args.threads)]
        runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "copy_scale.py"), run_name="__main__")
        return
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    families = FAMILIES[::3] if args.quick else FAMILIES
    if args.distractors is None:
        args.distractors = 2000 if args.quick else 20_000
    if args.views:
        compare_views(load_descriptor(args.model)[0], regions("val"), families)
        return
    test, val = regions("test"), regions("val")
    photos = sorted({name.split("#")[0] for name, _ in test})
    query_photos = set(photos[::3])  # a third of the test photos only ever appear as non-copies
    refs = [r for r in test if r[0].split("#")[0] not in query_photos]
    others = [r for r in test if r[0].split("#")[0] in query_photos]
    if args.quick:
        refs, others = refs[:12], others[:6]
    references = refs + val  # val regions: distractors
    queries = make_queries(refs, references, rng, families)
    queries += [(q, -1, f) for q, _, f in make_queries(others, references, rng, families)]
    truth = np.array([t for _, t, _ in queries])
    query_images = [q for q, _, _ in queries]
    ref_images = [r for _, r in references]

    net, name, _ = load_descriptor(args.model)
    cal_refs = val[: len(val) // 2]
    cal_queries = make_queries(cal_refs, val, rng, families) + [
        (q, -1, f) for q, _, f in make_queries(val[len(val) // 2 :], val, rng, families)
    ]
    cal_scores = darkroom_scorer(net)([r for _, r in cal_refs], [q for q, _, _ in cal_queries])
    threshold = calibrate(cal_scores, np.array([t for _, t, _ in cal_queries]))

    scorers = {f"darkroom {name}": darkroom_scorer(net), "thumbnail cosine (32x32 gray)": thumbnail_scorer}
    try:
        for kind in ("pHash", "dHash", "wHash"):
            scorers[f"{kind} (imagehash)"] = imagehash_scorer(kind)
    except ImportError:
        print("imagehash not installed (pip install imagehash): left out")
    try:
        scorers["PDQ (pdqhash)"] = pdq_scorer(False)
        scorers["PDQ dihedral (pdqhash)"] = pdq_scorer(True)
    except ImportError:
        print("pdqhash not installed (pip install pdqhash): left out")

    print(
        f"## Copy detection: {len(references)} references ({len(refs)} regions of {len(photos) - len(query_photos)} "
        f"test photos + {len(val)} val distractors), {int((truth >= 0).sum())} copy queries, "
        f"{int((truth < 0).sum())} non-copy queries\n"
    )
    print("| method | uAP | recall @ 90 % precision | accuracy@1 | ms / image |\n|---|---:|---:|---:|---:|")
    per_family, all_scores = {}, {}
    for method, scorer in scorers.items():
        start = time.perf_counter()
        scores = scorer(ref_images, query_images)
        ms = 1000 * (time.perf_counter() - start) / (len(ref_images) + len(query_images))
        all_scores[method] = scores
        m = evaluate(scores, truth)
        print(f"| {method} | {m['uAP']:.3f} | {m['R@P90']:.3f} | {m['acc@1']:.3f} | {ms:.1f} |")
        top1 = scores.argmax(1)
        per_family[method] = {
            f: float(np.mean([top1[i] == t for i, (_, t, g) in enumerate(queries) if g == f and t >= 0]))
            for f in families
        }
    print("\naccuracy@1 of copy queries by transformation\n")
    methods = list(per_family)
    print("| transformation | " + " | ".join(methods) + " |\n|---|" + "---:|" * len(methods))
    for f in families:
        print(f"| {f} | " + " | ".join(f"{per_family[m][f]:.2f}" for m in methods) + " |")
    scores = all_scores[f"darkroom {name}"]
    best, right = scores.max(1), scores.argmax(1) == truth
    flagged = best >= threshold
    precision = float(right[flagged].mean()) if flagged.any() else float("nan")
    recall = float((flagged & right & (truth >= 0)).sum() / (truth >= 0).sum())
    false_alarms = float((flagged & (truth < 0)).mean() / max((truth < 0).mean(), 1e-9))
    print(
        f"\nis_copy threshold {threshold:.4f} (calibrated on {len(cal_queries)} val-photo queries for 90 % precision): "
        f"here precision {precision:.3f}, recall {recall:.3f}, non-copies flagged {false_alarms:.3f}"
    )
    if args.distractors:
        index_scale(net, *scorers[f"darkroom {name}"].vectors, truth, args.distractors, rng)


if __name__ == "__main__":
    main()
