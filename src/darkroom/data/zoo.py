"""The generator zoo: small generators with known hyper-parameters, and the ``zoo:DIR`` dataset of their
samples that darkroom's model-parsing network learns from.

``MEMBERS`` is fixed (same names and settings on every machine): 24 GANs in which upsampling x loss
covers all 16 pairs once plus 8 more pairs, the data (scenes or digits) balanced over both, with
normalisation, activation, latent size, width and seed drawn from a seeded generator; 4 VAEs; then 16
more GANs covering the 16 pairs again (gan24-gan39, added so that the parser sees eight builds of each
upsampler, not four); then 12 GANs (gan40-gan51, three per upsampler) whose other settings are the ones
their upsampler had least often. Without them transposed convolutions had one instance-norm build where
every other upsampler had four, and the parser read instance-norm transposed GANs as pixel shuffle. Last,
darkroom's shipped generators ``SHIPPED`` (cgan-digits, cgan-scenes): their samples are drawn from the
shipped weights, not trained again. 42 members are *held out*: gan16-gan23, vae02, vae03, and gan52-gan83 (the
upsampling x loss grid twice more). The parsing network never sees their samples, so its hyper-parameter
predictions on them measure generalisation to unseen generators, and the attribution head must answer
"unknown" for them (open set).

A built zoo folder holds ``<member>/samples.npz`` (uint8 images, (N, H, W, C)) and ``<member>/card.json``
for every member, and ``real/samples.npz`` (renders and digits from the training data).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from darkroom.data.base import ImageDataset

HYPERPARAMS = {
    "model": ("gan", "vae"),
    "upsample": ("transposed", "nearest", "bilinear", "pixelshuffle"),
    "norm": ("batch", "instance", "none", "group"),
    "activation": ("relu", "lrelu", "silu", "gelu"),
    "loss": ("bce", "hinge", "wgan", "lsgan", "elbo"),
    "latent_dim": (32, 64, 128),
    "width": (16, 24),
}
DATASETS = ("scenes", "digits")
REAL = "real"


# darkroom's own shipped generators (their model cards say how they were built; the width of cgan-scenes is
# outside HYPERPARAMS and is not a target): built by sampling the shipped weights, so that `inspect` names
# what `darkroom sample` made. tests/test_zoo.py checks these against the cards.
SHIPPED = [{"name": "cgan-digits", "model": "gan", "upsample": "nearest", "loss": "hinge", "norm": "batch",
            "activation": "relu", "latent_dim": 64, "width": 16, "data": "digits", "seed": 0},
           {"name": "cgan-scenes", "model": "gan", "upsample": "nearest", "loss": "hinge", "norm": "batch",
            "activation": "relu", "latent_dim": 64, "width": 32, "data": "scenes", "seed": 0}]


def _members() -> list[dict]:
    rng = np.random.default_rng(2026)
    ups, losses = HYPERPARAMS["upsample"], HYPERPARAMS["loss"][:4]
    members = []
    for i in range(24):
        loss = losses[(i // 4) % 4] if i < 16 else losses[(i + i // 4) % 4]
        members.append({"name": f"gan{i:02d}", "model": "gan", "upsample": ups[i % 4], "loss": loss,
                        "norm": HYPERPARAMS["norm"][int(rng.integers(3))],
                        "activation": HYPERPARAMS["activation"][int(rng.integers(4))],
                        "latent_dim": int(rng.choice(HYPERPARAMS["latent_dim"])),
                        "width": int(rng.choice(HYPERPARAMS["width"])), "data": DATASETS[(i + i // 4) % 2],
                        "seed": int(rng.integers(1000)), "heldout": i >= 16})
    for j in range(4):
        members.append({"name": f"vae{j:02d}", "model": "vae", "upsample": "nearest", "loss": "elbo",
                        "norm": "group", "activation": "silu",
                        "latent_dim": int(rng.choice(HYPERPARAMS["latent_dim"])),
                        "width": int(rng.choice(HYPERPARAMS["width"])), "data": DATASETS[j % 2],
                        "seed": int(rng.integers(1000)), "heldout": j >= 2})
    for i in range(24, 40):  # a second known upsampling x loss grid: more builds of each kind to learn from
        members.append({"name": f"gan{i:02d}", "model": "gan", "upsample": ups[i % 4], "loss": losses[(i // 4) % 4],
                        "norm": HYPERPARAMS["norm"][int(rng.integers(3))],
                        "activation": HYPERPARAMS["activation"][int(rng.integers(4))],
                        "latent_dim": int(rng.choice(HYPERPARAMS["latent_dim"])),
                        "width": int(rng.choice(HYPERPARAMS["width"])), "data": DATASETS[(i + i // 4) % 2],
                        "seed": int(rng.integers(1000)), "heldout": False})
    for i in range(40, 52):  # a third set against confounds: the values each upsampler has had least often
        same = [m for m in members if m["model"] == "gan" and m["upsample"] == ups[i % 4] and not m["heldout"]]

        def rarest(key, values):
            return min(values, key=lambda v: sum(m[key] == v for m in same))  # ties: the first value

        members.append({"name": f"gan{i:02d}", "model": "gan", "upsample": ups[i % 4], "loss": rarest("loss", losses),
                        "norm": rarest("norm", HYPERPARAMS["norm"][:3]),
                        "activation": rarest("activation", HYPERPARAMS["activation"]),
                        "latent_dim": rarest("latent_dim", HYPERPARAMS["latent_dim"]),
                        "width": rarest("width", HYPERPARAMS["width"]), "data": rarest("data", DATASETS),
                        "seed": int(rng.integers(1000)), "heldout": False})
    # A second, larger held-out set: the upsampling x loss grid twice more (gan52-gan83). Each takes, for every
    # other setting, the value its loss had least often among the known GANs and the ones before it (ties: its
    # upsampler). Never trained on, so the parser is judged on 40 GANs it never saw, not 8.
    known, grid = [m for m in members if m["model"] == "gan" and not m["heldout"]], []
    for i in range(52, 84):
        up, loss, before = ups[i % 4], losses[(i // 4) % 4], known + grid

        def least(key, values):
            def uses(v, setting, value):
                return sum(m[key] == v for m in before if m[setting] == value)
            return min(values, key=lambda v: (uses(v, "loss", loss), uses(v, "upsample", up)))

        grid.append({"name": f"gan{i}", "model": "gan", "upsample": up, "loss": loss,
                     "norm": least("norm", HYPERPARAMS["norm"][:3]),
                     "activation": least("activation", HYPERPARAMS["activation"]),
                     "latent_dim": least("latent_dim", HYPERPARAMS["latent_dim"]),
                     "width": least("width", HYPERPARAMS["width"]), "data": least("data", DATASETS),
                     "seed": int(rng.integers(1000)), "heldout": True})
    members += grid + [dict(m, heldout=False, shipped=True) for m in SHIPPED]
    return members


MEMBERS = _members()
KNOWN = [m["name"] for m in MEMBERS if not m["heldout"]]
HELDOUT = [m["name"] for m in MEMBERS if m["heldout"]]
ATTRIBUTION = KNOWN + [REAL]  # the attribution head's classes


def member(name: str) -> dict:
    for m in MEMBERS:
        if m["name"] == name:
            return m
    raise ValueError(f"unknown zoo member {name!r}; known: {', '.join(m['name'] for m in MEMBERS)}")


def hyperparam_targets(name: str) -> list[int]:
    """One class index per entry of HYPERPARAMS (-1 for real images and for values outside HYPERPARAMS)."""
    if name == REAL:
        return [-1] * len(HYPERPARAMS)
    m = member(name)
    return [values.index(m[key]) if m[key] in values else -1 for key, values in HYPERPARAMS.items()]


def sample_split(n: int, split: str) -> slice:
    """Samples of one member: the first 80 % train, then 10 % val, 10 % test."""
    a, b = int(n * 0.8), int(n * 0.9)
    return {"train": slice(0, a), "val": slice(a, b), "test": slice(b, n), "all": slice(0, n)}[split]


def read_samples(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        images = data["images"]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"zoo: {path}: 'images' must be uint8 (N, H, W, C)")
    return images


class ZooDataset(ImageDataset):
    """Samples of a built zoo: ``image`` (3, S, S), ``label`` (attribution class; -1 for held-out
    members) and ``target`` (one class index per hyper-parameter; -1 for real images).

    Options: ``members`` = known (default: the known members and real images), heldout, or all.
    """

    OPTIONS = {"members": str}
    NEEDS_PATH = True
    TAKES_PATH = True

    def __init__(self, path, *, split="train", size=None, limit=None, grayscale=False, members="known"):
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"zoo: {root} is not a folder (build one with `darkroom zoo build --out {root}`)")
        names = {"known": KNOWN + [REAL], "heldout": HELDOUT, "all": [m["name"] for m in MEMBERS] + [REAL]}
        if members not in names:
            raise ValueError(f"zoo: members must be known, heldout or all, got {members!r}")
        missing = [n for n in names[members] if not (root / n / "samples.npz").is_file()]
        if missing:
            raise ValueError(f"zoo: {root} lacks samples of {', '.join(missing)} (run `darkroom zoo build`)")
        images, sources = [], []
        for name in names[members]:
            arr = read_samples(root / name / "samples.npz")
            arr = arr[sample_split(len(arr), split)]
            images.append(np.repeat(arr, 3, axis=3) if arr.shape[3] == 1 else arr)
            sources += [name] * len(arr)
        self.images, self.sources = np.concatenate(images), sources
        self.labels = np.array([ATTRIBUTION.index(s) if s in ATTRIBUTION else -1 for s in sources])
        self.targets = {s: torch.tensor(hyperparam_targets(s)) for s in set(sources)}
        self.split, self.size, self.grayscale = split, size, grayscale
        self.length = min(len(self.images), limit) if limit else len(self.images)
        self.channels, self.image_size = 3, tuple(self.images.shape[1:3])
        self.class_names = list(ATTRIBUTION)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1).float() / 255
        return {"image": image, "label": int(self.labels[index]), "target": self.targets[self.sources[index]],
                "source": self.sources[index]}


def write_card(path: Path, card: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(path)
