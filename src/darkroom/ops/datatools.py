"""``darkroom data info | preview | export``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.data import load_dataset, parse_spec
from darkroom.io import atomic_path, grid, write_image, write_text_atomic


def data_info(spec: str) -> dict:
    """Counts per split, image shape, channels, classes and (where cheap) the label histogram."""
    parsed = parse_spec(spec)
    dataset = load_dataset(parsed)
    info = dataset.info()
    splits = {}
    for split in ("train", "val", "test"):
        try:
            splits[split] = len(load_dataset(parsed, split=split))
        except ValueError as err:
            splits[split] = f"unavailable ({err})"
    info["splits"] = splits
    try:  # every split's files, each checked once (the answers are remembered)
        bad = load_dataset(parsed, split="all").bad_files
    except ValueError:
        bad = dataset.bad_files
    info["unreadable"] = len(bad)
    info["unreadable_files"] = [f.to_json() for f in bad]
    labels = label_list(dataset)
    if labels is not None and dataset.class_names:
        counts = Counter(labels)
        info["label_counts"] = {
            dataset.class_names[k] if 0 <= k < len(dataset.class_names) else str(k): v
            for k, v in sorted(counts.items())
        }
    if len(dataset):
        first = dataset[0]
        info["sample_shape"] = list(first["image"].shape)
        if "caption" in first:
            info["example_caption"] = first["caption"]
    return info


def label_list(dataset) -> list[int] | None:
    if hasattr(dataset, "indices") and getattr(dataset, "labels", None) is not None:
        return [int(dataset.labels[i]) for i in dataset.indices[: len(dataset)]]
    if isinstance(getattr(dataset, "labels", None), list):
        return dataset.labels[: len(dataset)]
    return None


def _take(dataset, count: int, failures: list[str], desc: str):
    """Yield (index, sample) for the first ``count`` readable samples; a bad file is reported, not fatal."""
    for index in tqdm(range(min(count, len(dataset))), desc=desc, unit="img", leave=False):
        try:
            yield index, dataset[index]
        except ValueError as err:
            failures.append(str(err))


def data_preview(spec: str, out, count: int = 64, ncol: int = 8) -> tuple[Path, list[str]]:
    """A grid PNG of the first ``count`` images of the spec's split."""
    dataset = load_dataset(spec)
    if len(dataset) == 0:
        raise ValueError(f"{spec}: no images in this split")
    failures: list[str] = list(dataset.bad_files)
    images = [s["image"] for _, s in _take(dataset, count, failures, "preview")]
    if not images:
        raise ValueError(f"{spec}: none of the images could be read")
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) > 1:
        raise ValueError(f"{spec}: images differ in size; add size=N to the spec for a preview grid")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {out}: the preview is a .png file")
    write_image(
        out,
        grid(torch.stack(images), ncol=ncol),
        provenance={"operation": "data-preview", "data": dataset.spec, "count": len(images)},
    )
    return out, failures


def data_export(spec: str, out, count: int | None = None, fmt: str = "png") -> tuple[int, list[str]]:
    """PNG files ``OUT/000000.png ...`` plus ``OUT/labels.jsonl`` (file, label, class, params, caption);
    ``fmt="idx"``: MNIST's two IDX files instead (``mnist:OUT`` reads them back)."""
    if fmt not in ("png", "idx"):
        raise ValueError(f"--format must be png or idx, got {fmt!r}")
    dataset = load_dataset(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    failures: list[str] = list(dataset.bad_files)
    if fmt == "idx":
        return _export_idx(dataset, out, count, failures), failures
    lines = []
    for index, sample in _take(dataset, count or len(dataset), failures, "export"):
        name = f"{index:06d}.png"
        record = {"file": name, "label": int(sample.get("label", -1))}
        if 0 <= record["label"] < len(dataset.class_names):
            record["class"] = dataset.class_names[record["label"]]
        for key in ("params", "caption", "path"):
            if key in sample:
                record[key] = sample[key]
        write_image(
            out / name, sample["image"], provenance={"operation": "data-export", "data": dataset.spec, "index": index}
        )
        if "mask" in sample:  # tampering data: the ground truth beside the image
            record["mask"] = name.replace(".png", ".mask.png")
            write_image(
                out / record["mask"],
                sample["mask"],
                provenance={"operation": "data-export-mask", "data": dataset.spec, "index": index},
            )
        lines.append(json.dumps(record))
    write_text_atomic(out / "labels.jsonl", "".join(line + "\n" for line in lines))
    return len(lines), failures


def _idx(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, 8, ndim), big-endian sizes, then the bytes."""
    return bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


def _export_idx(dataset, out: Path, count: int | None, failures: list[str]) -> int:
    """``OUT/train-images-idx3-ubyte`` and ``-labels-idx1-ubyte`` (``t10k-`` for a test split), as MNIST
    stores them: gray uint8 images of one size; an unlabelled sample gets label 0 (IDX has no "none")."""
    if dataset.channels != 1:
        raise ValueError(f"{dataset.spec}: IDX holds gray images; add grayscale=1 to the spec")
    images, labels = [], []
    for _, sample in _take(dataset, count or len(dataset), failures, "export"):
        images.append((sample["image"][0].numpy() * 255 + 0.5).astype(np.uint8))
        labels.append(max(int(sample.get("label", -1)), 0))
    if len({image.shape for image in images}) > 1:
        raise ValueError(f"{dataset.spec}: IDX needs one image size; add size=N to the spec")
    if max(labels, default=0) > 255:
        raise ValueError(f"{dataset.spec}: IDX labels are bytes (0-255), the data has {max(labels)}")
    prefix = "t10k" if dataset.split == "test" else "train"
    for name, array in (("images-idx3", np.stack(images)), ("labels-idx1", np.asarray(labels, np.uint8))):
        with atomic_path(out / f"{prefix}-{name}-ubyte") as tmp:
            tmp.write_bytes(_idx(array))
    return len(images)
