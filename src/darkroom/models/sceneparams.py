"""``sceneparams``: read every render parameter back from a ``scenes`` image: for each object its shape,
colour (name and RGB), size, position and rotation; the background kind and colour; whether a second
object is there. The judge for edits and text-conditioned generation, and ``inspect``'s ``scene`` field.

Objects are found as in CenterNet: on a coarse grid (4 px cells at 32 px) every cell says whether an
object's centre lies in it and, if so, that object's shape, colour, size, rotation and the centre's offset
inside the cell; the background comes from a pooled head. Rotation is predicted modulo the shape's
symmetry (a square rotated by 90 degrees is the same square) as (cos k.theta, sin k.theta) with k the
order of that symmetry; circles have none.
Trained on clean renders and on renders put through JPEG, noise and mild resizing, so it reads the
scenes that generators and file formats hand it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data import degrade
from darkroom.data.scenes import BACKGROUNDS, COLOR_NAMES, SHAPES
from darkroom.nn.resnet import GeM, SmallResNet

SYMMETRY = {"circle": 0, "square": 4, "triangle": 3, "star": 5, "heart": 1, "cross": 4, "diamond": 2, "hexagon": 6}
N_SHAPE, N_COLOR, N_BG = len(SHAPES), len(COLOR_NAMES), len(BACKGROUNDS)
OBJECT_WIDTH = N_SHAPE + N_COLOR + 3 + 3 + 2  # logits, rgb, size and the centre's offset in its cell, cos/sin
BG_WIDTH = N_BG + N_COLOR + 3


def _cell(obj: dict, grid: int) -> tuple[int, int, float, float]:
    """(row, col) of the cell holding the object's centre and the centre's offset inside it (0..1)."""
    fx, fy = obj["x"] * grid, obj["y"] * grid
    col, row = min(int(fx), grid - 1), min(int(fy), grid - 1)
    return row, col, fx - col, fy - row


def _object_targets(objects: list[dict], grid: int) -> dict[str, torch.Tensor]:
    k = torch.tensor([float(SYMMETRY[o["shape"]]) for o in objects])
    theta = torch.tensor([math.radians(o["rotation"]) for o in objects])
    cells = [_cell(o, grid) for o in objects]
    return {
        "shape": torch.tensor([SHAPES.index(o["shape"]) for o in objects]),
        "color": torch.tensor([COLOR_NAMES.index(o["color_name"]) for o in objects]),
        "rgb": torch.tensor([list(o["color"]) for o in objects], dtype=torch.float32),
        "geometry": torch.tensor([[o["size"], c[2], c[3]] for o, c in zip(objects, cells)], dtype=torch.float32),
        "rotation": torch.stack([torch.cos(k * theta), torch.sin(k * theta)], 1),
        "k": k,
    }


def _split_object(pred: torch.Tensor) -> dict[str, torch.Tensor]:
    a, b = N_SHAPE, N_SHAPE + N_COLOR
    return {
        "shape": pred[:, :a],
        "color": pred[:, a:b],
        "rgb": pred[:, b : b + 3],
        "geometry": pred[:, b + 3 : b + 6],
        "rotation": pred[:, b + 6 : b + 8],
    }


def _object_loss(pred: dict, t: dict) -> torch.Tensor:
    """Per-sample loss (B,) of one object slot against one object's targets."""
    rot = F.smooth_l1_loss(pred["rotation"], t["rotation"], beta=0.05, reduction="none").sum(1) * (t["k"] > 0)
    return (
        F.cross_entropy(pred["shape"], t["shape"], reduction="none")
        + F.cross_entropy(pred["color"], t["color"], reduction="none")
        + 10 * F.smooth_l1_loss(pred["rgb"], t["rgb"], beta=0.01, reduction="none").sum(1)
        + 20 * F.smooth_l1_loss(pred["geometry"][:, :1], t["geometry"][:, :1], beta=0.01, reduction="none").sum(1)
        + 2 * F.smooth_l1_loss(pred["geometry"][:, 1:], t["geometry"][:, 1:], beta=0.05, reduction="none").sum(1)
        + rot
    )


def _to_device(t: dict, device) -> dict:
    return {k: v.to(device) for k, v in t.items()}


def rotation_error(pred_deg: torch.Tensor, true_deg: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Angular error in degrees modulo each shape's symmetry (0 for circles)."""
    period = torch.where(k > 0, 360.0 / k.clamp_min(1), torch.full_like(k, 360.0))
    diff = torch.remainder(pred_deg - true_deg, period)
    return torch.minimum(diff, period - diff) * (k > 0)


class SceneSample:
    """Per-sample transform for the data loader: JPEG, noise and mild resizing on a share of renders."""

    def __init__(self, robust_prob: float):
        self.robust_prob = robust_prob

    def __call__(self, sample: dict, rng) -> dict:
        image = sample["image"]
        if rng.random() < self.robust_prob:
            side = image.shape[-1]
            if rng.random() < 0.5:  # mild resizing, back to the network's size
                other = int(round(side * rng.uniform(0.75, 1.5)))
                image = degrade.resize(degrade.resize(image, (other, other))[0], (side, side))[0]
            if rng.random() < 0.5:
                image = degrade.gaussian_noise(image, float(rng.uniform(0, 15)), generator=int(rng.integers(2**31)))[0]
            if rng.random() < 0.5:
                image = degrade.jpeg(image, int(rng.integers(30, 101)))[0]
            image = (image * 255).round() / 255
        return {**sample, "image": image}


@dataclass(frozen=True)
class SceneParamsConfig:
    channels: int = 0
    image_size: int = 0
    width: int = 32
    robust_prob: float = 0.5  # share of training renders that get JPEG / noise / resizing

    def check(self):
        if self.width < 1 or not 0 <= self.robust_prob <= 1:
            raise ValueError("width must be >= 1 and robust_prob in [0, 1]")


class SceneParams(nn.Module):
    """Scene-parameter inference: (B, 3, S, S) renders -> every render parameter (``predict``)."""

    Config = SceneParamsConfig
    train_defaults = {"lr": 2e-3, "batch_size": 128}

    def __init__(self, config: SceneParamsConfig):
        super().__init__()
        self.config = c = config
        if c.image_size < 16:
            raise ValueError(f"sceneparams needs square scenes of at least 16 px, got {c.image_size}")
        stages = 3 if c.image_size <= 32 else 4
        self.body = SmallResNet(3 + 2, c.width, stages, stem_stride=1)
        self.grid = c.image_size // 2 ** (stages - 1)
        width = self.body.out_channels
        self.dense = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(True), nn.Conv2d(width, 1 + OBJECT_WIDTH, 1)
        )
        self.background = nn.Sequential(GeM(), nn.Linear(width, 256), nn.ReLU(True), nn.Linear(256, BG_WIDTH))
        self.sample_transform = SceneSample(c.robust_prob)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1 + OBJECT_WIDTH, G, G) per-cell outputs (objectness logit first) and (B, BG_WIDTH)."""
        size = self.config.image_size
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, size, device=x.device), torch.linspace(-1, 1, size, device=x.device), indexing="ij"
        )
        coords = torch.stack([xs, ys]).expand(len(x), -1, -1, -1)
        features = self.body(torch.cat([x * 2 - 1, coords], 1))
        return self.dense(features), self.background(features)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x, params = batch["image"], batch["params"]
        if not params or params[0] is None:
            raise ValueError("sceneparams trains on data with render parameters: --data scenes")
        device, grid = x.device, self.grid
        dense, bg = self(x)
        owners = [(b, o) for b, p in enumerate(params) for o in p["objects"]]
        cells = torch.tensor([[b, *_cell(o, grid)[:2]] for b, o in owners], device=device)
        centre = torch.zeros_like(dense[:, 0])
        centre[cells[:, 0], cells[:, 1], cells[:, 2]] = 1
        objectness = F.binary_cross_entropy_with_logits(
            dense[:, 0], centre, pos_weight=torch.tensor(8.0, device=device)
        )
        pred = _split_object(dense[cells[:, 0], 1:, cells[:, 1], cells[:, 2]])
        t = _to_device(_object_targets([o for _, o in owners], grid), device)
        bg_kind = torch.tensor([BACKGROUNDS.index(p["background"]) for p in params], device=device)
        bg_name = torch.tensor([COLOR_NAMES.index(p["bg_color_name"]) for p in params], device=device)
        bg_rgb = torch.tensor([list(p["bg_color"]) for p in params], dtype=torch.float32, device=device)
        bg_loss = (
            F.cross_entropy(bg[:, :N_BG], bg_kind)
            + F.cross_entropy(bg[:, N_BG : N_BG + N_COLOR], bg_name)
            + 10 * F.smooth_l1_loss(bg[:, -3:], bg_rgb, beta=0.01, reduction="none").sum(1).mean()
        )
        loss = _object_loss(pred, t).mean() + bg_loss + 4 * objectness
        with torch.no_grad():
            size = self.config.image_size
            k = t["k"]
            pred_rot = torch.rad2deg(torch.atan2(pred["rotation"][:, 1], pred["rotation"][:, 0])) / k.clamp_min(1)
            true_rot = torch.tensor([o["rotation"] for _, o in owners], device=device)
            found = [self._find(dense[b]) for b in range(len(params))]
            counts = torch.tensor([len(f) == len(p["objects"]) for f, p in zip(found, params)], dtype=torch.float32)
            metrics = {
                "shape_accuracy": (pred["shape"].argmax(1) == t["shape"]).float().mean(),
                "color_accuracy": (pred["color"].argmax(1) == t["color"]).float().mean(),
                "color_error": (pred["rgb"] - t["rgb"]).abs().mean() * 255,
                "position_px": ((pred["geometry"][:, 1:] - t["geometry"][:, 1:]) * size / grid).norm(dim=1).mean(),
                "size_px": ((pred["geometry"][:, 0] - t["geometry"][:, 0]).abs() * size).mean(),
                "rotation_deg": rotation_error(pred_rot, true_rot, k).sum() / (k > 0).sum().clamp_min(1),
                "background_accuracy": (bg[:, :N_BG].argmax(1) == bg_kind).float().mean(),
                "bg_color_error": (bg[:, -3:] - bg_rgb).abs().mean() * 255,
                "count_accuracy": counts.mean(),
            }
        return {"loss": loss, **metrics}

    @staticmethod
    def _find(dense: torch.Tensor, max_objects: int = 2) -> list[tuple[int, int, float]]:
        """(row, col, probability) of object centres on one image's grid: the most likely cell always, then
        further cells, best first, while more likely than not and not the same object seen from a
        neighbouring cell (centres closer than 0.2 x the summed sizes; scenes keep objects 0.8 x apart when they can)."""
        grid = dense.shape[-1]
        prob = torch.sigmoid(dense[0].float()).flatten()
        size = dense[1 + N_SHAPE + N_COLOR + 3].float().flatten()
        offset = dense[1 + N_SHAPE + N_COLOR + 4 : 1 + N_SHAPE + N_COLOR + 6].float().flatten(1)
        found = []
        for i in prob.argsort(descending=True)[:9].tolist():
            if found and (len(found) == max_objects or prob[i] <= 0.5):
                break
            x, y = (i % grid + offset[0, i]) / grid, (i // grid + offset[1, i]) / grid
            if all(math.hypot(x - fx, y - fy) > 0.2 * (size[i] + fs) for *_, fx, fy, fs in found):
                found.append((i // grid, i % grid, float(prob[i]), float(x), float(y), float(size[i])))
        return [f[:3] for f in found]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> list[dict]:
        """Render parameters per image, in the renderer's units, with a confidence per categorical field."""
        dense, bg = self(x)
        dense, bg = dense.float(), bg.float()
        results = []
        for i in range(len(x)):
            objects = []
            for row, col, prob in self._find(dense[i]):
                part = _split_object(dense[i, 1:, row, col][None])
                obj = _decode_object(part, 0)
                obj["x"] = round((col + obj.pop("dx")) / self.grid, 4)
                obj["y"] = round((row + obj.pop("dy")) / self.grid, 4)
                obj["confidence"] = round(prob, 4)
                objects.append(obj)
            kind = bg[i, :N_BG].softmax(0)
            name = bg[i, N_BG : N_BG + N_COLOR].softmax(0)
            results.append(
                {
                    "objects": objects,
                    "background": BACKGROUNDS[int(kind.argmax())],
                    "background_confidence": round(float(kind.max()), 4),
                    "bg_color_name": COLOR_NAMES[int(name.argmax())],
                    "bg_color": [round(float(v), 4) for v in bg[i, -3:].clamp(0, 1)],
                }
            )
        return results


def _decode_object(part: dict, i: int) -> dict:
    shape_p, color_p = part["shape"][i].softmax(0), part["color"][i].softmax(0)
    shape = SHAPES[int(shape_p.argmax())]
    k = SYMMETRY[shape]
    cos, sin = part["rotation"][i].tolist()
    rotation = (math.degrees(math.atan2(sin, cos)) / k) % (360 / k) if k else 0.0
    size, dx, dy = part["geometry"][i].tolist()
    return {
        "shape": shape,
        "shape_confidence": round(float(shape_p.max()), 4),
        "color_name": COLOR_NAMES[int(color_p.argmax())],
        "color_confidence": round(float(color_p.max()), 4),
        "color": [round(float(v), 4) for v in part["rgb"][i].clamp(0, 1)],
        "size": round(size, 4),
        "dx": dx,
        "dy": dy,
        "rotation": round(rotation, 2),
    }
