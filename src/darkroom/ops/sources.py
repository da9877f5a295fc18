"""Training and test sets for ``sources-scenes``: which of darkroom's own scene generators made a 64 px image.

Class 0 is a real render of ``scenes`` (one or two objects, random parameters, drawn by ``data.scenes``);
class k >= 1 is a sample of the k-th entry of ``GENERATORS``: ``textsprites-scenes`` drawing a caption of a
random scene (the caption generator's wording), ``sprites-scenes`` drawing a random shape label. Stored as an
``npz`` with ``class_names``, so ``darkroom train classifier --data npz:FILE`` trains on it (the npz spec's
fixed 80/10/10 split). A different ``seed`` gives other scenes, captions and samples: the benchmark's sets
use seeds no training set uses.

``modelparse``, trained on a zoo of 32 px DCGAN-style generators, calls many of these samples real and
names zoo members for others (``darkroom bench sources`` measures it), so inspect needs this reading too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from darkroom.data.captions import caption
from darkroom.data.scenes import render, sample_params
from darkroom.io import write_npz_atomic
from darkroom.models import load_run

SIZE = 64
REAL = "real render"
GENERATORS = ("textsprites-scenes", "sprites-scenes")
CLASS_NAMES = (REAL, *GENERATORS)


def _bytes(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def _scene(rng: np.random.Generator):
    return sample_params(rng, SIZE, objects=int(rng.integers(1, 3)))


def real_renders(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([(render(_scene(rng)) * 255).round().astype(np.uint8) for _ in range(n)])


@torch.no_grad()
def generator_samples(name: str, n: int, rng: np.random.Generator, batch: int = 256) -> np.ndarray:
    """``n`` samples of one of ``GENERATORS`` (uint8, N x 64 x 64 x 3)."""
    from darkroom.ops.textgen import prompt_samples

    model, _ = load_run(name)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    if getattr(model, "text_conditioned", False):
        prompts = [caption(_scene(rng), rng) for _ in range(n)]
        return _bytes(prompt_samples(model, prompts, 1, seed=int(rng.integers(2**31)), warn=lambda *_: None))
    classes = model.config.num_classes
    out = []
    for start in range(0, n, batch):
        labels = torch.from_numpy(rng.integers(0, classes, min(batch, n - start)))
        out.append(_bytes(model.sample(len(labels), labels, generator=generator).float().cpu()))
    return np.concatenate(out)


def scene_sources(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of every class of ``CLASS_NAMES``, shuffled: (images uint8 N x 64 x 64 x 3, labels)."""
    rng = np.random.default_rng(seed)
    images = [real_renders(n, rng)] + [generator_samples(name, n, rng) for name in GENERATORS]
    labels = np.repeat(np.arange(len(images)), n)
    order = rng.permutation(len(labels))
    return np.concatenate(images)[order], labels[order]


def write_sources(path, n: int, seed: int) -> Path:
    """Write the set of :func:`scene_sources` as an npz (atomically)."""
    images, labels = scene_sources(n, seed)
    return write_npz_atomic(path, compress=True, images=images, labels=labels, class_names=np.array(CLASS_NAMES))
