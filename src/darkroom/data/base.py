"""What every dataset returns, and the few helpers they share.

A sample is a dict: ``image`` (C, H, W) float32 in [0, 1], ``label`` int (-1 when the source has none),
and optionally ``params`` (render parameters), ``caption`` and ``path``.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train", "val", "test", "all")


class ImageDataset(torch.utils.data.Dataset):
    """Base class: subclasses set the attributes below and implement ``__len__`` and ``__getitem__``."""

    spec: str = ""
    channels: int = 3
    image_size: tuple[int, int] | None = None  # (H, W) when every image has the same size
    class_names: list[str] = []
    split: str = "train"
    bad_files: list = []  # a darkroom.io.Failure per file of this split that could not be read (left out)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def info(self) -> dict:
        return {"spec": self.spec, "split": self.split, "count": len(self), "channels": self.channels,
                "image_size": list(self.image_size) if self.image_size else None,
                "num_classes": self.num_classes, "class_names": list(self.class_names),
                "unreadable": len(self.bad_files)}


class Transformed(torch.utils.data.Dataset):
    """``dataset`` whose samples pass through ``transform(sample, rng)`` (a picklable callable), so that
    per-sample work runs in the data loader's workers. Random on every call, or fixed per index with
    ``fixed`` (validation)."""

    def __init__(self, dataset, transform, fixed: bool = False):
        self.dataset, self.transform, self.fixed = dataset, transform, fixed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        seed = index if self.fixed else int(torch.randint(0, 2 ** 62, (1,)))
        return self.transform(self.dataset[index], np.random.default_rng(seed))

    def info(self) -> dict:
        return self.dataset.info()


def readable_images(dataset, n: int, seed: int = 0) -> list[torch.Tensor]:
    """The images of up to ``n`` samples of ``dataset`` picked at random (by ``seed``), those that cannot be
    read left out (the trainer reports them): for a model's ``prepare_data`` statistics."""
    picks = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    images = []
    for i in picks.tolist():
        try:
            images.append(dataset[i]["image"])
        except Exception:  # noqa: BLE001 - an unreadable file is the trainer's to report
            continue
    return images


class SkipUnreadable(torch.utils.data.Dataset):
    """``dataset`` whose sample that cannot be read (a file damaged after the dataset was opened and
    checked) is replaced by the next readable one, with one warning per file, so a file never stops a run."""

    def __init__(self, dataset, warn=print):
        self.dataset, self.warn = dataset, warn
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        for offset in range(len(self.dataset)):
            position = (index + offset) % len(self.dataset)
            try:
                return self.dataset[position]
            except ValueError as err:
                if position not in self._warned:
                    self._warned.add(position)
                    self.warn(f"warning: skipped {err}")
        raise ValueError(f"{self.dataset.spec}: no sample can be read")

    def info(self) -> dict:
        return self.dataset.info()

    def __getattr__(self, name):  # spec, channels, class_names... of the dataset it wraps
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def warn_unreadable(dataset, warn=print) -> None:
    """One warning line per file the dataset left out, and a summary."""
    for failure in dataset.bad_files:
        warn(f"warning: skipped {failure}")
    if dataset.bad_files:
        warn(f"warning: {len(dataset.bad_files)} unreadable file(s) left out of {dataset.spec} "
             f"({dataset.split} split, {len(dataset)} samples remain; strict=1 makes this an error)")


def split_of(key: str, seed: int = 0) -> str:
    """Fixed 80/10/10 split assignment from a stable hash of ``key`` (a path, a name, an index)."""
    bucket = int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def split_indices(n: int, split: str, seed: int = 0) -> np.ndarray:
    """Indices 0..n-1 of one split of a fixed seeded permutation (80/10/10)."""
    if split == "all":
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, n // 10) if n >= 10 else 0
    n_test = n_val
    n_train = n - n_val - n_test
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return np.sort(parts[split])


def train_val_indices(n: int, split: str, seed: int = 0) -> np.ndarray:
    """For sources that ship a training set and a separate test set: a fixed 90/10 train/val cut."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = n // 10
    return np.sort(order[n_val:] if split == "train" else order[:n_val])


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 or float array (H, W[, C]) -> float32 tensor (C, H, W) in [0, 1]."""
    if array.ndim == 2:
        array = array[..., None]
    if not array.flags.writeable:  # e.g. np.asarray of a PIL image: torch wants memory it may write
        array = array.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    return tensor.float() / 255.0 if array.dtype == np.uint8 else tensor.float()


def fit_image(image: torch.Tensor, size: int | None, grayscale: bool, crop: bool = True) -> torch.Tensor:
    """Resize (C, H, W) to size x size (shorter side, then centre crop, when ``crop``) and convert to gray."""
    if grayscale and image.shape[0] == 3:
        image = (image * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    if size and tuple(image.shape[1:]) != (size, size):
        h, w = image.shape[1:]
        if crop:
            scale = size / min(h, w)
            nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        else:
            nh, nw = size, size
        if (nh, nw) != (h, w):
            image = F.interpolate(image[None], size=(nh, nw), mode="bicubic", antialias=(nh < h),
                                  align_corners=False)[0].clamp(0, 1)
        top, left = (nh - size) // 2, (nw - size) // 2
        image = image[:, top:top + size, left:left + size]
    return image.contiguous()


def collate(samples: list[dict]) -> dict:
    """Stack images and labels; keep everything else as lists."""
    shapes = {tuple(s["image"].shape) for s in samples}
    if len(shapes) > 1:
        raise ValueError(f"images in a batch differ in shape {sorted(shapes)}: add size=N to the data spec")
    batch = {"image": torch.stack([s["image"] for s in samples]),
             "label": torch.tensor([int(s.get("label", -1)) for s in samples], dtype=torch.long)}
    for key in samples[0]:
        if key not in batch:
            batch[key] = [s.get(key) for s in samples]
    return batch
