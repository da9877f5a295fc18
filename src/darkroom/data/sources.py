"""The dataset sources behind each spec name (see :mod:`darkroom.data.spec`)."""
from __future__ import annotations

import gzip
import io as _io
import pickle
from pathlib import Path

import numpy as np
import torch

from darkroom.data.base import ImageDataset, fit_image, split_indices, split_of, to_tensor, train_val_indices
from darkroom.data.captions import caption
from darkroom.data.checking import bad_files_error, check_files
from darkroom.data.photos import PhotosDataset
from darkroom.data.scenes import SHAPES, render, sample_params
from darkroom.data.tampered import TamperedDataset
from darkroom.data.zoo import ZooDataset
from darkroom.io import IMAGE_SUFFIXES, Failure, read_image


class _Source(ImageDataset):
    OPTIONS: dict = {}
    NEEDS_PATH = False
    TAKES_PATH = False

    def _finish(self, split: str, size: int | None, limit: int | None, grayscale: bool, count: int):
        self.split, self.size, self.grayscale = split, size, grayscale
        self.length = min(count, limit) if limit else count

    def __len__(self) -> int:
        return self.length

    def _check(self, index: int) -> int:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        return index


class ScenesDataset(_Source):
    """Procedural scenes rendered on the fly; sample ``i`` of a split is the same on every machine."""

    OPTIONS = {"objects": int, "n": int, "seed": int}
    SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

    def __init__(self, path=None, *, split="train", size=None, limit=None, grayscale=False,
                 objects=1, n=None, seed=0):
        if objects not in (0, 1, 2):
            raise ValueError(f"scenes: objects must be 1, 2 or 0 (one or two at random), got {objects}")
        self.render_size = size or 32
        self.objects, self.seed = objects, seed
        count = n or (50_000 if split in ("train", "all") else 2_000)
        self._finish(split, self.render_size, limit, grayscale, count)
        self.channels = 1 if grayscale else 3
        self.image_size = (self.render_size, self.render_size)
        self.class_names = list(SHAPES)

    def params(self, index: int):
        split_id = self.SPLIT_IDS.get(self.split, 0)
        rng = np.random.default_rng([self.seed, split_id, self._check(index)])
        objects = self.objects or 1 + int(rng.random() < 0.5)
        return sample_params(rng, self.render_size, objects), rng

    def caption_of(self, index: int) -> str:
        """Sample ``index``'s caption without rendering it."""
        params, rng = self.params(index)
        return caption(params, rng)

    def __getitem__(self, index: int) -> dict:
        params, rng = self.params(index)
        image = fit_image(to_tensor(render(params)), None, self.grayscale)
        return {"image": image, "label": params.label, "params": params.to_dict(),
                "caption": caption(params, rng)}


class _ArraySource(_Source):
    """In-memory uint8 images (N, H, W, C) with optional labels."""

    def _setup(self, images, labels, split, size, limit, grayscale, class_names=None, split_seed=0,
               indices=None):
        if images.ndim == 3:
            images = images[..., None]
        self.images, self.labels = images, labels
        self.indices = split_indices(len(images), split, split_seed) if indices is None else indices
        self._finish(split, size, limit, grayscale, len(self.indices))
        self.channels = 1 if grayscale or images.shape[3] == 1 else 3
        side = size or None
        self.image_size = (side, side) if side else tuple(images.shape[1:3])
        if class_names is None and labels is not None:
            class_names = [str(c) for c in range(int(labels.max()) + 1)]
        self.class_names = class_names or []

    def __getitem__(self, index: int) -> dict:
        i = int(self.indices[self._check(index)])
        image = fit_image(to_tensor(self.images[i]), self.size, self.grayscale, crop=False)
        label = int(self.labels[i]) if self.labels is not None else -1
        return {"image": image, "label": label, "index": i}


class DigitsDataset(_ArraySource):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), upsampled to ``size`` (32)."""

    def __init__(self, path=None, *, split="train", size=None, limit=None, grayscale=False):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        self._setup(images, digits.target.astype(np.int64), split, size or 32, limit, grayscale,
                    [str(d) for d in range(10)])


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read IDX file ({err})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", ndim, 4).astype(int)
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated IDX file ({body.size} of {int(np.prod(dims))} bytes)")
    return body.reshape(dims)


class MnistDataset(_ArraySource):
    """IDX files: train-* gives train and val (90/10), t10k-* gives test."""

    NEEDS_PATH = True

    def __init__(self, path, *, split="train", size=None, limit=None, grayscale=False):
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"mnist: {root} is not a folder")
        pairs = {}
        for images in sorted(root.glob("*-images-idx3-ubyte*")):
            prefix = images.name.split("-images-")[0]
            labels = next(iter(sorted(root.glob(f"{prefix}-labels-idx1-ubyte*"))), None)
            pairs[prefix] = (images, labels)
        if not pairs:
            raise ValueError(f"mnist: no *-images-idx3-ubyte[.gz] file in {root}")
        train_key = next((k for k in pairs if k.startswith("train")), None)
        test_key = next((k for k in pairs if k.startswith("t10k") or k.startswith("test")), None)
        if split == "test" and test_key and train_key:  # MNIST's own split; a lone file splits 80/10/10
            keys, indices_of = [test_key], None
        elif split in ("train", "val") and train_key and test_key:
            keys, indices_of = [train_key], split
        else:
            keys, indices_of = list(pairs), split
        images = np.concatenate([_read_idx(pairs[k][0]) for k in keys])
        labels = None
        if all(pairs[k][1] for k in keys):
            labels = np.concatenate([_read_idx(pairs[k][1]) for k in keys]).astype(np.int64)
            if len(labels) != len(images):
                raise ValueError(f"mnist: {len(images)} images but {len(labels)} labels in {root}")
        indices = None
        if indices_of in ("train", "val") and keys == [train_key]:
            indices = train_val_indices(len(images), split)
        elif indices_of is None:
            indices = np.arange(len(images))
        self._setup(images, labels, split, size, limit, grayscale, indices=indices)


class _CifarUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles: allow only the plain containers and numpy arrays they hold."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(_io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch[b"labels"], np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as err:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({err})") from None
    return data, labels


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Cifar10Dataset(_ArraySource):
    """CIFAR-10 python batches: data_batch_* gives train and val (90/10), test_batch gives test."""

    NEEDS_PATH = True

    def __init__(self, path, *, split="train", size=None, limit=None, grayscale=False):
        root = Path(path)
        if root.is_dir() and not list(root.glob("data_batch_*")) and (root / "cifar-10-batches-py").is_dir():
            root = root / "cifar-10-batches-py"
        train_files = sorted(root.glob("data_batch_*")) if root.is_dir() else []
        test_file = root / "test_batch"
        if not train_files and not test_file.exists():
            raise ValueError(f"cifar10: no data_batch_* or test_batch in {root}")
        files = [test_file] if split == "test" else (train_files if split in ("train", "val") else
                                                     train_files + [test_file])
        files = [f for f in files if f.exists()]
        if not files:
            raise ValueError(f"cifar10: no batch for split {split!r} in {root}")
        parts, self.bad_files = [], []
        for file in files:
            try:
                parts.append(_read_cifar_batch(file))
            except ValueError as err:
                self.bad_files.append(Failure(file, err))
        if not parts:
            raise bad_files_error(self.bad_files, len(files), f"cifar10 {root} ({split} split)")
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        indices = train_val_indices(len(images), split) if split in ("train", "val") else np.arange(len(images))
        self._setup(images, labels, split, size, limit, grayscale, CIFAR10_CLASSES, indices=indices)


class NpzDataset(_ArraySource):
    """An .npz with ``images`` (N, H, W[, C]) uint8, optional ``labels`` (N,) and optional ``class_names``
    (K,) strings, one per label value."""

    NEEDS_PATH = True

    def __init__(self, path, *, split="train", size=None, limit=None, grayscale=False):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"npz: {path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as data:
                if "images" not in data:
                    raise ValueError(f"npz: {path} has no array 'images' (has {', '.join(data.files)})")
                images = data["images"]
                labels = data["labels"].astype(np.int64) if "labels" in data else None
                names = [str(n) for n in data["class_names"]] if "class_names" in data else None
        except (OSError, EOFError, ValueError) as err:  # ValueError: object arrays, which need pickle
            text = str(err)
            raise ValueError(text if text.startswith("npz:") else f"npz: {path}: cannot read ({text})") from None
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
            raise ValueError(f"npz: {path}: 'images' must be uint8 (N, H, W[, 1|3]), got {images.dtype} "
                             f"{images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"npz: {path}: {len(images)} images but {len(labels)} labels")
        if names is not None and (labels is None or len(names) <= labels.max()):
            raise ValueError(f"npz: {path}: {len(names)} class_names for labels up to "
                             f"{None if labels is None else int(labels.max())}")
        self._setup(images, labels, split, size, limit, grayscale, class_names=names)


class FolderDataset(_Source):
    """A recursive image folder read lazily; class = first-level subfolder when present.

    Split by a stable hash of each file's relative path (80/10/10).
    """

    NEEDS_PATH = True

    def __init__(self, path, *, split="train", size=None, limit=None, grayscale=False):
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"folder: {root} is not a folder")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"folder: no images in {root}")
        rel = [p.relative_to(root) for p in files]
        classes = sorted({r.parts[0] for r in rel if len(r.parts) > 1})
        kept = [files[i] for i, r in enumerate(rel) if split == "all" or split_of(r.as_posix()) == split]
        self.root = root
        self.files, self.bad_files = check_files(kept)
        if kept and not self.files:
            raise bad_files_error(self.bad_files, len(kept), f"folder {root} ({split} split)")
        parts = [p.relative_to(root).parts for p in self.files]
        self.labels = [classes.index(part[0]) if len(part) > 1 else -1 for part in parts]
        self.class_names = classes
        self._finish(split, size, limit, grayscale, len(self.files))
        self.channels = 1 if grayscale else 3
        self.image_size = (size, size) if size else None

    def __getitem__(self, index: int) -> dict:
        path = self.files[self._check(index)]
        image = fit_image(read_image(path), self.size, self.grayscale)
        return {"image": image, "label": self.labels[index], "path": str(path)}


SOURCES = {
    "scenes": ScenesDataset, "digits": DigitsDataset, "photos": PhotosDataset, "folder": FolderDataset,
    "mnist": MnistDataset, "cifar10": Cifar10Dataset, "npz": NpzDataset, "tampered": TamperedDataset,
    "zoo": ZooDataset,
}
