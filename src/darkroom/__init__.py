"""darkroom: generate, edit, restore and reverse-engineer images with deep learning, offline.

>>> import darkroom
>>> image = darkroom.read_image("photo.jpg")            # (3, H, W) float32 in [0, 1]
>>> data = darkroom.load_dataset("scenes:size=64")
>>> sample = data[0]                                     # image, label, params, caption
>>> clean, applied = darkroom.restore("denoise", image)  # also sr, inpaint (mask=...), colorize
>>> images = darkroom.text_to_image("runs/textgan", ["a small red star near the top left"], n=4)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import os

    import torch

from darkroom.data import load_dataset, parse_spec  # noqa: E402
from darkroom.io import read_image, read_provenance, write_image  # noqa: E402


def restore(task: str, image: torch.Tensor, model: str | None = None, **options) -> tuple[torch.Tensor, dict]:
    """``darkroom restore`` from Python; see :func:`darkroom.ops.restore.restore`."""
    from darkroom.ops.restore import restore as _restore

    return _restore(task, image, model, **options)


def text_to_image(
    run: str | os.PathLike, prompts: str | list[str], n: int = 1, seed: int = 0, **options
) -> torch.Tensor:
    """``darkroom sample RUN --prompt`` from Python: ``n`` images of each prompt, (len(prompts) * n, 3, H, W);
    see :func:`darkroom.ops.textgen.text_to_image`."""
    from darkroom.ops.textgen import text_to_image as _text_to_image

    return _text_to_image(run, [prompts] if isinstance(prompts, str) else list(prompts), n, seed, **options)


__all__ = [
    "__version__",
    "load_dataset",
    "parse_spec",
    "read_image",
    "read_provenance",
    "restore",
    "text_to_image",
    "write_image",
]
