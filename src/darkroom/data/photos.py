"""``photos``: real photographs available offline, cut into patches.

The colour photographs bundled with scikit-image, plus every image under DIR (``photos:DIR``).
Splits are by photograph, never by patch, so no photo feeds two splits: DIR's train/, val/ and test/
subfolders when it has them, else a stable hash of each file's path. Variants of one picture (the same
name with a resolution suffix, ``_3840x2160``, or a dark/light suffix, ``-d``/``-l``/``-Dark``/``-Light``)
share the earliest of their splits (train, then val, then test), so no evaluated photo has a copy in
training. Photos are decoded lazily and kept in a small cache bounded in bytes.

Patches lie on a fixed grid, so an index always names the same pixels. ``jitter=1`` takes each training
patch at a random place in its photo instead (a photo still gives as many patches as the grid cuts from
it), so a long run sees new crops rather than the same few thousand; val and test keep the grid.
``zoom=1`` makes each training patch a random-resized crop: a square of a random side between ``patch`` and
the photo's short side, scaled down to ``patch``, so a patch sees anything from pixels to the whole scene.
``resize=S`` scales every photo so its short side is S pixels (after ``scale``).

A folder that holds a CSV beside a subfolder of the same name (``imagenet-samples.csv`` and
``imagenet-samples/``, as ``../shared/photos`` does) takes its split from the CSV's ``split`` column: its
``test`` files are the test split, and a stable 1 in 20 of its ``train`` files the val split. ``colour=1``
leaves out the photographs the CSV's ``mode`` column (or the file itself) says are grayscale.
"""
from __future__ import annotations

import csv
import hashlib
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from darkroom.data.base import ImageDataset, fit_image, split_of, to_tensor
from darkroom.data.checking import check_files
from darkroom.io import IMAGE_SUFFIXES, read_array

# The colour camera photographs in skimage.data (telescope and fundus images left out); val and test
# photos are fixed by name. Train restoration models on more: photos:/usr/share/backgrounds.
SKIMAGE_PHOTOS = {"astronaut": "train", "chelsea": "train", "immunohistochemistry": "train",
                  "rocket": "val", "coffee": "test"}
CACHE_BYTES = 1_500_000_000


def skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)()[..., :3], np.uint8)


SPLIT_FOLDERS = ("train", "val", "test")
VARIANT_SUFFIX = re.compile(r"(_\d+x\d+|-(d|l|dark|light))$", re.IGNORECASE)


def variant_key(relative: Path) -> str:
    """The name shared by variants of one picture: ``Elephants_5640x3172.jpg`` and ``Elephants.jpg`` give
    ``Elephants``; ``wood-d.webp`` and ``wood-l.webp`` give ``wood``."""
    return (relative.parent / VARIANT_SUFFIX.sub("", relative.stem)).as_posix()


def listed_photos(root: Path) -> dict[str, tuple[str, str]]:
    """Relative path -> (split, mode) of every photo listed by a CSV in ``root`` that names a subfolder
    (``X.csv`` for ``X/``) and has ``file`` and ``split`` columns; a stable 1 in 20 of its train files is val."""
    listed = {}
    for table in sorted(root.glob("*.csv")):
        if not (root / table.stem).is_dir():
            continue
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"file", "split"} <= rows[0].keys():
            continue
        for row in rows:
            split = row["split"].strip()
            if split == "train" and int(hashlib.sha1(row["file"].encode()).hexdigest()[:8], 16) % 20 == 0:
                split = "val"
            listed[f"{table.stem}/{row['file']}"] = (split, row.get("mode", "").strip())
    return listed


def photo_splits(relatives: list[Path], root: Path) -> list[str]:
    """The split of each photo (paths relative to ``root``), variants of one picture grouped; a CSV in
    ``root`` that lists them decides for its files (``listed_photos``)."""
    listed = listed_photos(root)
    if listed:
        return [listed[r.as_posix()][0] if r.as_posix() in listed else _split(r, root) for r in relatives]
    own = [_split(r, root) for r in relatives]
    earliest: dict[str, int] = {}
    for relative, split in zip(relatives, own):
        key = variant_key(relative)
        earliest[key] = min(earliest.get(key, 2), SPLIT_FOLDERS.index(split))
    return [SPLIT_FOLDERS[earliest[variant_key(r)]] for r in relatives]


def _split(relative: Path, root: Path) -> str:
    """A folder with train/ val/ test/ subfolders splits by them (experiments/pack_photos.py writes such
    folders); any other folder by a stable hash of the relative path."""
    if relative.parts[0] in SPLIT_FOLDERS and len(relative.parts) > 1 and any(
            (root / name).is_dir() for name in SPLIT_FOLDERS if name != relative.parts[0]):
        return relative.parts[0]
    return split_of(relative.as_posix())


def _is_gray_file(path) -> bool:
    """Whether an image file is stored as one channel (or as RGB with three equal channels)."""
    with Image.open(path) as img:
        if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
            return True
        if img.mode != "RGB":
            return False
        img.draft("RGB", (64, 64))
        small = np.asarray(img.convert("RGB").resize((32, 32)), np.int16)
    return bool(np.abs(small - small.mean(axis=2, keepdims=True)).max() <= 2)


class PhotosDataset(ImageDataset):
    OPTIONS = {"patch": int, "scale": float, "jitter": bool, "zoom": bool, "resize": int, "colour": bool}
    NEEDS_PATH = False
    TAKES_PATH = True

    def __init__(self, path=None, *, split="train", size=None, limit=None, grayscale=False, patch=None,
                 scale=1.0, jitter=False, zoom=False, resize=0, colour=False):
        self.split, self.grayscale, self.scale, self.resize = split, grayscale, scale, resize
        self.jitter = bool(jitter) and split == "train"  # val and test keep the grid
        self.zoom = bool(zoom) and split == "train"
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.patch = patch or size or 64
        self.size = size or self.patch
        if not 0 < scale <= 1:
            raise ValueError(f"photos: scale must be in (0, 1], got {scale}")
        if resize < 0:
            raise ValueError(f"photos: resize must be >= 0, got {resize}")
        sources = [(f"skimage:{n}", s) for n, s in SKIMAGE_PHOTOS.items()]
        gray = set()
        if path:
            root = Path(path)
            if not root.is_dir():
                raise ValueError(f"photos: {root} is not a folder")
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            sources += list(zip(map(str, files), photo_splits([p.relative_to(root) for p in files], root)))
            if colour:  # the CSV's mode where it has one, else the file's own
                listed = listed_photos(root)
                modes = {str(f): listed.get(f.relative_to(root).as_posix(), ("", ""))[1] for f in files}
                gray = {f for f, mode in modes.items() if mode == "L" or (not mode and _is_gray_file(f))}
        wanted = [key for key, s in sources if split in (s, "all") and key not in gray]
        good, self.bad_files = check_files([k for k in wanted if not k.startswith("skimage:")])
        readable = set(map(str, good))
        self.photos = [k for k in wanted if k.startswith("skimage:") or k in readable]
        self.patches = []  # (photo index, top, left) on the scaled photo
        for i, key in enumerate(self.photos):
            height, width = self._shape(key)
            rows, cols = height // self.patch, width // self.patch
            top0, left0 = (height - rows * self.patch) // 2, (width - cols * self.patch) // 2
            self.patches += [(i, top0 + r * self.patch, left0 + c * self.patch)
                             for r in range(rows) for c in range(cols)]
        if limit:
            self.patches = self.patches[:limit]
        self.channels = 1 if grayscale else 3
        self.image_size = (self.size, self.size)
        self.class_names = []

    def _scaled(self, height: int, width: int) -> tuple[int, int]:
        """The size a photo of ``height`` x ``width`` is decoded at, after ``scale`` and ``resize``."""
        height, width = int(height * self.scale), int(width * self.scale)
        if self.resize and min(height, width):
            factor = self.resize / min(height, width)
            height, width = max(1, round(height * factor)), max(1, round(width * factor))
        return height, width

    def _shape(self, key: str) -> tuple[int, int]:
        if key.startswith("skimage:"):
            height, width = self._photo(key).shape[:2]
            return height, width
        try:
            with Image.open(key) as img:
                width, height = img.size
                if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated by EXIF
                    width, height = height, width
        except OSError:
            return 0, 0  # unreadable: contributes no patch
        return self._scaled(height, width)

    def _photo(self, key: str) -> np.ndarray:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key.startswith("skimage:"):
            array = skimage_photo(key.split(":", 1)[1])
        else:
            array = (read_array(key) * 255 + 0.5).astype(np.uint8)
        height, width = self._scaled(*array.shape[:2])
        if (height, width) != array.shape[:2]:
            img = Image.fromarray(array)
            array = np.asarray(img.resize((width, height), Image.BICUBIC, reducing_gap=None))
        self._cache[key] = array
        while sum(a.nbytes for a in self._cache.values()) > CACHE_BYTES and len(self._cache) > 1:
            self._cache.popitem(last=False)
        return array

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.patches):
            raise IndexError(f"index {index} out of range for {len(self.patches)} patches")
        photo, top, left = self.patches[index]
        key = self.photos[photo]
        array = self._photo(key)
        side = self.patch
        if self.zoom:  # torch's generator: the data loader seeds it per worker
            side = int(torch.randint(self.patch, min(array.shape[:2]) + 1, ()))
        if self.jitter or self.zoom:
            top = int(torch.randint(array.shape[0] - side + 1, ()))
            left = int(torch.randint(array.shape[1] - side + 1, ()))
        crop = array[top:top + side, left:left + side]
        if side != self.patch:
            crop = np.asarray(Image.fromarray(crop).resize((self.patch, self.patch), Image.BICUBIC,
                                                             reducing_gap=None))
        image = fit_image(to_tensor(crop), self.size, self.grayscale)
        return {"image": image, "label": -1, "path": key, "box": (top, left, self.patch)}
