"""``tampered`` / ``tampered:DIR``: photo patches (as ``photos``), each locally edited by
``darkroom.data.tamper`` with its ground-truth mask, edit parameters and, for half of them, a global JPEG
recompression. Sample ``i`` is the same on every machine; splice donors are other patches of the split.
``clean=F`` leaves that share of samples untouched (label 0); tampered samples have label 1.

    darkroom data export tampered:/usr/share/backgrounds,patch=256,split=test --out DIR -n 100
"""
from __future__ import annotations

import numpy as np

from darkroom.data.base import ImageDataset
from darkroom.data.photos import PhotosDataset
from darkroom.data.tamper import postprocess, tamper


class TamperedDataset(ImageDataset):
    OPTIONS = {"patch": int, "scale": float, "clean": float, "seed": int}
    NEEDS_PATH = False
    TAKES_PATH = True

    def __init__(self, path=None, *, split="train", size=None, limit=None, grayscale=False, patch=None,
                 scale=1.0, clean=0.2, seed=0):
        if not 0 <= clean < 1:
            raise ValueError(f"tampered: clean must be in [0, 1), got {clean}")
        if grayscale:
            raise ValueError("tampered: edits are made on colour photos (drop grayscale)")
        self.photos = PhotosDataset(path, split=split, size=size, limit=limit, patch=patch or size or 256,
                                    scale=scale)
        self.split, self.clean, self.seed = split, clean, seed
        self.channels, self.image_size, self.class_names = 3, self.photos.image_size, ["clean", "tampered"]

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> dict:
        sample = self.photos[index]
        rng = np.random.default_rng([self.seed, index])
        image, h, w = sample["image"], *sample["image"].shape[-2:]
        if rng.random() < self.clean or len(self.photos) < 2:
            edited, mask, params = image, image.new_zeros(1, h, w), {"edit": None}
        else:
            donor = self.photos[(index * 7919 + 13) % len(self.photos)]["image"]
            edited, mask, params = tamper(image, rng, donor=donor)
        edited, mask, post = postprocess(edited, mask, rng, p_resize=0.0)
        return {"image": edited, "label": int(params["edit"] is not None), "mask": mask,
                "params": {**params, **post}, "path": sample["path"]}
