"""Reading generated ``scenes`` back with a parameter-inference model (the shipped ``sceneparams``): does a
sample show the shape (colour, ...) it was asked for, and is its object painted in one of the renderer's
colours?

    readings = read_main_objects(judge, images)        # one dict (or None: no object found) per image
    shape_agreement(readings, ["star", "heart", ...])  # fraction that show the requested shape
    palette_fraction(readings)                         # fraction painted within 16/255 of a named colour
"""

from __future__ import annotations

import numpy as np
import torch

from darkroom.data.scenes import COLORS

PALETTE_TOLERANCE = 16 / 255  # per channel; the renderer jitters its named colours by 12/255


@torch.no_grad()
def read_main_objects(judge, images: torch.Tensor, batch: int = 256) -> list[dict | None]:
    """The main (most confident) object of each image as ``judge.predict`` reads it, with the image's
    background kind and colour name; None where it finds no object."""
    out = []
    for i in range(0, len(images), batch):
        for p in judge.predict(images[i : i + batch]):
            extra = {"background": p["background"], "bg_color_name": p["bg_color_name"]}
            out.append({**p["objects"][0], **extra} if p["objects"] else None)
    return out


def shape_agreement(readings: list[dict | None], wanted: list[str]) -> float:
    return float(np.mean([r is not None and r["shape"] == w for r, w in zip(readings, wanted)]))


def palette_fraction(readings: list[dict | None], tolerance: float = PALETTE_TOLERANCE) -> float:
    """Fraction of images whose object's colour lies within ``tolerance`` (each channel, 0-1 units) of the
    named renderer colour the judge reads: a clean fill, not a muddy blend of object and background."""
    hits = []
    for r in readings:
        if r is None:
            hits.append(False)
            continue
        named = np.asarray(COLORS[r["color_name"]], np.float64) / 255
        hits.append(float(np.abs(np.asarray(r["color"]) - named).max()) <= tolerance)
    return float(np.mean(hits))
