"""``darkroom edit local``: tamper with real photos, writing a ground-truth mask beside each output.

For every input: ``OUT/<stem>.png`` (the edited photo, its edit parameters in the PNG's provenance),
``OUT/<stem>.mask.png`` (white = edited) and one line of ``OUT/edits.jsonl``. Object removal fills with
darkroom's inpainter; splicing takes its region from ``--donor`` (or from the next input). A global JPEG
recompression and resize can follow, as images get when shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.data import degrade
from darkroom.data.tamper import EDITS, tamper
from darkroom.io import Failure, list_images, output_names, read_image, write_image, write_text_atomic
from darkroom.ops.restore import load_restorer, restore_image


def _inpainter():
    net, name = load_restorer("inpaint", None, None)

    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return restore_image("inpaint", image, net, mask=mask)[0]

    fill.name = f"darkroom {name}"
    return fill


def local_edits(
    inputs,
    out,
    edit: str = "random",
    donor=None,
    jpeg: int | None = None,
    resize: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[Path], list[str]]:
    """Edit every image of ``inputs``; returns (written images, failures)."""
    if edit != "random" and edit not in EDITS:
        raise ValueError(f"--edit must be random or one of {', '.join(EDITS)}, got {edit!r}")
    if jpeg is not None and not 1 <= jpeg <= 100:
        raise ValueError(f"--jpeg must be a quality in 1..100, got {jpeg}")
    if resize is not None and not 0 < resize <= 4:
        raise ValueError(f"--resize must be a factor in (0, 4], got {resize}")
    paths, failures = list_images(inputs)
    donor_image = read_image(donor) if donor else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fill = None
    written, records = [], []
    stems = output_names(paths, suffix="")  # distinct where inputs share a stem
    for i, path in enumerate(tqdm(paths, desc="edit local", unit="img", disable=not progress or len(paths) < 2)):
        rng = np.random.default_rng([seed, i])
        try:
            image = read_image(path)
            if min(image.shape[-2:]) < 32:
                raise ValueError(f"{path}: image too small to edit locally ({image.shape[-1]}x{image.shape[-2]})")
            chosen = edit if edit != "random" else EDITS[int(rng.integers(len(EDITS)))]
            source = donor_image
            if chosen == "splice" and source is None:
                if len(paths) < 2:
                    raise ValueError(f"{path}: a splice needs --donor or a second input image")
                source = read_image(paths[(i + 1) % len(paths)])
            if chosen == "removal" and fill is None:
                fill = _inpainter()
            edited, mask, params = tamper(image, rng, chosen, donor=source, fill=fill)
            if resize and resize != 1:
                h, w = edited.shape[-2:]
                size = (max(1, round(h * resize)), max(1, round(w * resize)))
                edited, _ = degrade.resize(edited, size)
                mask = (
                    torch.nn.functional.interpolate(mask[None], size=size, mode="bilinear", align_corners=False)[0]
                    > 0.5
                ).float()
                params["resize_factor"] = resize
            if jpeg:
                edited, _ = degrade.jpeg(edited, jpeg)
                params["jpeg_quality"] = jpeg
        except ValueError as err:
            failures.append(Failure(path, err))
            continue
        provenance = {"operation": "edit-local", "source": str(path), "seed": seed, **params}
        target = write_image(out / f"{stems[i]}.png", edited, provenance=provenance)
        write_image(
            out / f"{stems[i]}.mask.png", mask, provenance={"operation": "edit-local-mask", "source": str(path)}
        )
        records.append(json.dumps({"file": target.name, "mask": f"{stems[i]}.mask.png", **provenance}, default=str))
        written.append(target)
    write_text_atomic(out / "edits.jsonl", "".join(r + "\n" for r in records))
    return written, failures
