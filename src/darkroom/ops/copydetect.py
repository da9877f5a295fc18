"""``darkroom index`` and ``darkroom trace``: find the original an image was copied from.

An index is a folder: ``index.json`` (descriptor model, its weights' checksum, dimension, the reference paths in order;
another version of the weights is refused until `darkroom index rebuild`),
``embeddings.npy`` (float32, one L2-normalised row per path) and ``faiss.index`` (a FAISS inner-product
index over those rows, of the kind ``index.json`` names: exact, an inverted file, or an inverted file of
product-quantised vectors for millions, chosen by the number of references unless ``--kind`` says; see
:mod:`darkroom.ops.copysearch`). A build saves every ``CHUNK`` images, so an interrupted build, run again
with the same arguments, resumes where it stopped. A score is the cosine similarity of query and reference,
less the query's crowding (how much it resembles unrelated photos; see ``CopyDescriptor.crowding``); ``is_copy``
compares it with the descriptor's calibrated threshold (its model card states the precision it was set for).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.io import Failure, atomic_path, list_images, read_image, write_text_atomic
from darkroom.models import load_run, sha256, weights_path
from darkroom.ops.copysearch import Searcher, choose_kind, kind_of, search_index

DEFAULT_MODEL = "copydesc"
CHUNK = 64
DEFAULT_THRESHOLD = 0.6  # used only for run folders without a calibrated threshold


def load_descriptor(model: str | None = None):
    """(network, name, threshold): the shipped ``copydesc`` or a copydesc run folder."""
    name = model or DEFAULT_MODEL
    net, info = load_run(name)
    if info["model"] != "copydesc":
        raise ValueError(f"{name}: a {info['model']} model is not a copy descriptor")
    threshold = info.get("measured", {}).get("copy_threshold", info.get("copy_threshold", DEFAULT_THRESHOLD))
    # an index remembers it, so new weights need a rebuild (shipped cards carry the checksum load_run verified)
    net.weights_id = (info.get("sha256") or sha256(weights_path(name)))[:16]
    return net, name, float(threshold)


@torch.no_grad()
def embed(net, images: list[torch.Tensor]) -> np.ndarray:
    """(N, D) float32 descriptors of (3, H, W) images of any sizes."""
    if not images:
        return np.zeros((0, net.descriptor_dim), np.float32)
    batch = torch.stack([net.resize(image[None])[0] for image in images])
    return net.descriptor(batch).cpu().numpy().astype(np.float32)


def crowding(net, descriptors: np.ndarray) -> np.ndarray:
    """(Q,) float32: what comes off each query's cosines to give its scores (``CopyDescriptor.crowding``)."""
    with torch.no_grad():
        return net.crowding(torch.from_numpy(np.ascontiguousarray(descriptors, np.float32))).numpy()


def add_background(run, vectors: np.ndarray, out, k: int = 10, weight: float = 0.35, note: dict | None = None):
    """Write the copydesc run ``run`` again as the run folder ``out``, with ``vectors`` (N, descriptor_dim)
    as its background and scores less ``weight`` times a query's mean cosine to its ``k`` nearest of them."""
    import dataclasses

    from safetensors.torch import save_model

    from darkroom.models import get_model_class
    from darkroom.models.copydesc import BACKGROUND_SCALE

    net, info = load_run(run)
    if info["model"] != "copydesc":
        raise ValueError(f"{run}: a {info['model']} run, not copydesc")
    config = dataclasses.replace(net.config, background=len(vectors), background_k=k, background_weight=weight)
    model = get_model_class("copydesc")(config)
    state = {name: value for name, value in net.state_dict().items() if name != "background"}
    quantized = torch.as_tensor(np.asarray(vectors, np.float32) * BACKGROUND_SCALE).round().clamp(-127, 127)
    model.load_state_dict({**state, "background": quantized.to(torch.int8)})
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))
    info = {key: value for key, value in info.items() if key not in ("sha256", "size_bytes", "stored_dtype")}
    info.update(model_config=dataclasses.asdict(config), background=note or {"from": str(run)})
    write_text_atomic(folder / "run.json", json.dumps(info, indent=1) + "\n")
    return folder


def _load_index(folder: Path) -> tuple[dict, np.ndarray]:
    meta_path = folder / "index.json"
    if not meta_path.is_file():
        raise ValueError(f"{folder}: not a darkroom index (no index.json); build one with `darkroom index build`")
    meta = json.loads(meta_path.read_text())
    path = folder / "embeddings.npy"  # memory-mapped: an index of millions is read where it is searched
    embeddings = np.load(path, allow_pickle=False, mmap_mode="r") if path.is_file() else None
    if embeddings is not None and len(embeddings) > len(meta["paths"]):
        # a build killed between writing the embeddings and index.json: rows are only ever appended, so the
        # first ones are the indexed paths' and the rest are re-embedded when the build resumes
        embeddings = embeddings[: len(meta["paths"])]
    if embeddings is None or len(embeddings) != len(meta["paths"]):
        raise ValueError(f"{folder}: index is damaged (paths and embeddings disagree); run `darkroom index rebuild`")
    return meta, embeddings


def _save_index(folder: Path, meta: dict, embeddings: np.ndarray, with_faiss: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "embeddings.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, embeddings.astype(np.float32))
    write_text_atomic(folder / "index.json", json.dumps({**meta, "count": len(meta["paths"])}, indent=1))
    if with_faiss:
        import faiss

        index = search_index(embeddings, meta["dim"], kind=meta.get("kind", "auto"))
        with atomic_path(folder / "faiss.index") as tmp:
            faiss.write_index(index, str(tmp))
        meta["search"] = kind_of(index)
        write_text_atomic(folder / "index.json", json.dumps({**meta, "count": len(meta["paths"])}, indent=1))


def _read_search_index(folder: Path, meta: dict, embeddings: np.ndarray) -> Searcher:
    import faiss

    path = folder / "faiss.index"
    index = faiss.read_index(str(path)) if path.is_file() else None
    if index is None or index.ntotal != len(embeddings):
        index = search_index(embeddings, embeddings.shape[1], kind=meta.get("kind", "auto"))
    return Searcher(index, embeddings)


def _check_descriptor(folder: Path, meta: dict, net) -> None:
    """Refuse an index whose descriptors another version of its model made (they would not compare)."""
    if meta["dim"] != net.descriptor_dim:
        raise ValueError(
            f"{folder}: built with {meta['dim']}-d descriptors of an older {meta['model']}, which now "
            f"gives {net.descriptor_dim}-d; run `darkroom index rebuild --index {folder}`"
        )
    if meta.get("weights") != net.weights_id and meta["paths"]:
        raise ValueError(
            f"{folder}: built with {meta['model']} weights {meta.get('weights') or '(unrecorded)'}, "
            f"this darkroom has {meta['model']} weights {net.weights_id}; run "
            f"`darkroom index rebuild --index {folder}`"
        )


def build_index(
    inputs,
    out,
    model: str | None = None,
    add: bool = False,
    progress: bool = True,
    kind: str | None = None,
    workers: int = 1,
    ray_address: str | None = None,
):
    """Embed the images of ``inputs`` into the index folder ``out`` (new, resumed, or ``add``-ed to).
    ``kind``: the search structure (:data:`copysearch.KINDS`; default: the index's own, else auto).
    ``workers`` > 1 or ``ray_address``: the files are embedded on processes or Ray actors.
    Returns (number of images now indexed, failures)."""
    folder = Path(out)
    if kind is not None:
        choose_kind(0, kind)  # a bad --kind fails before any work
    paths, failures = list_images(inputs)
    if not paths and failures:
        raise ValueError(failures[0])
    exists = (folder / "index.json").is_file()
    if add and not exists:
        raise ValueError(f"{folder}: no index to add to; use `darkroom index build`")
    meta, embeddings = _load_index(folder) if exists else (None, None)
    net, name, _ = load_descriptor(model or (meta["model"] if meta else None))
    if meta and meta["model"] != name:
        raise ValueError(f"{folder}: built with {meta['model']}, not {name}; use `darkroom index rebuild --model`")
    if meta is None:
        meta = {"model": name, "dim": net.descriptor_dim, "weights": net.weights_id, "paths": [], "version": 1}
        embeddings = np.zeros((0, net.descriptor_dim), np.float32)
    _check_descriptor(folder, meta, net)
    meta["weights"] = net.weights_id
    meta["kind"] = kind or meta.get("kind", "auto")
    known = set(meta["paths"])
    todo = [p for p in paths if str(p.resolve()) not in known]
    for kept, vectors, bad in _embedded(net, name, todo, progress, workers, ray_address):
        failures += bad
        if kept:
            embeddings = np.concatenate([embeddings, vectors])
            meta["paths"] += kept
            _save_index(folder, meta, embeddings, with_faiss=False)  # resumable from here
    _save_index(folder, meta, embeddings)
    return len(meta["paths"]), failures


def _embedded(net, name: str, todo: list[Path], progress: bool, workers: int, ray_address):
    """(resolved paths, their descriptors, failures) a chunk at a time: batched here, or one file per task on
    ``workers`` processes or Ray actors (:mod:`darkroom.ops.parallel`)."""
    if workers == 1 and ray_address is None:
        chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
        for chunk in tqdm(chunks, desc="index", unit="chunk", disable=not progress or not chunks):
            images, kept, bad = [], [], []
            for path in chunk:
                try:
                    images.append(read_image(path))
                    kept.append(str(path.resolve()))
                except ValueError as err:
                    bad.append(Failure(path, err))
            yield kept, embed(net, images), bad
        return
    from darkroom.ops.parallel import imap_items

    kept, vectors, bad = [], [], []
    items = [{"path": str(p)} for p in todo]
    for result in imap_items(EmbedWorker(name), items, workers, ray_address, "index", progress):
        if "error" in result:
            bad.append(Failure(result["path"], result["error"]))
        else:
            kept.append(str(Path(result["path"]).resolve()))
            vectors.append(result["vector"])
        if len(kept) + len(bad) >= CHUNK:
            yield kept, np.asarray(vectors, np.float32).reshape(-1, net.descriptor_dim), bad
            kept, vectors, bad = [], [], []
    yield kept, np.asarray(vectors, np.float32).reshape(-1, net.descriptor_dim), bad


class EmbedWorker:
    """One file's descriptor, for :func:`darkroom.ops.parallel.map_items`."""

    def __init__(self, model: str):
        self.model = model

    def __call__(self):
        net, _, _ = load_descriptor(self.model)

        def one(item: dict) -> dict:
            try:
                return {"path": item["path"], "vector": embed(net, [read_image(item["path"])])[0].tolist()}
            except ValueError as err:
                return {"path": item["path"], "error": str(err)}

        return one


def remove_from_index(index, targets) -> int:
    """Drop every path equal to, or inside a folder named in, ``targets``; returns how many went."""
    folder = Path(index)
    meta, embeddings = _load_index(folder)
    prefixes = [str(Path(t).resolve()) for t in targets]
    keep = [
        i for i, p in enumerate(meta["paths"]) if not any(p == t or p.startswith(t.rstrip("/") + "/") for t in prefixes)
    ]
    removed = len(meta["paths"]) - len(keep)
    meta["paths"] = [meta["paths"][i] for i in keep]
    _save_index(folder, meta, embeddings[keep] if keep else embeddings[:0])
    return removed


def rebuild_index(index, model: str | None = None, progress: bool = True):
    """Re-embed every indexed path that still exists (with ``model``, or the index's own)."""
    folder = Path(index)
    meta, _ = _load_index(folder)
    paths = [p for p in meta["paths"] if Path(p).is_file()]
    for name in ("index.json", "embeddings.npy", "faiss.index"):
        (folder / name).unlink(missing_ok=True)
    if not paths:
        raise ValueError(f"{folder}: none of the indexed files exists any more")
    return build_index(paths, folder, model or meta["model"], progress=progress, kind=meta.get("kind"))


def trace(queries, index, top: int = 5, threshold: float | None = None, progress: bool = True):
    """Best matches for each query: ([{"query", "matches": [{"path", "score", "is_copy"}]}], failures)."""
    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    folder = Path(index)
    meta, embeddings = _load_index(folder)
    if not meta["paths"]:
        raise ValueError(f"{folder}: the index is empty")
    net, _, calibrated = load_descriptor(meta["model"])
    _check_descriptor(folder, meta, net)
    threshold = calibrated if threshold is None else threshold
    search = _read_search_index(folder, meta, embeddings)
    paths, failures = list_images(queries)
    if not paths and failures:
        raise ValueError(failures[0])
    results = []
    for path in tqdm(paths, desc="trace", unit="img", disable=not progress):
        try:
            query = embed(net, [read_image(path)])
        except ValueError as err:
            failures.append(Failure(path, err))
            continue
        scores, rows = search.search(query, min(top, len(meta["paths"])))
        scores = scores - crowding(net, query)[:, None]
        results.append(
            {
                "query": str(path),
                "matches": [
                    {"path": meta["paths"][r], "score": round(float(s), 4), "is_copy": bool(s >= threshold)}
                    for s, r in zip(scores[0], rows[0])
                    if r >= 0
                ],
            }
        )
    return results, failures
