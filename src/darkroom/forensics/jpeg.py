"""JPEG quality from a file's quantisation tables (exact for libjpeg's standard tables)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# ITU T.81 Annex K luminance table (natural order, which is how Pillow reports tables).
_LUMA = np.array(
    [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ]
)


def standard_table(quality: int) -> np.ndarray:
    """libjpeg's luminance table for ``quality`` 1..100."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_LUMA * scale + 50) // 100, 1, 255)


def quality_from_table(table) -> tuple[int, bool]:
    """(quality, exact): the libjpeg quality whose luminance table is closest; ``exact`` when identical."""
    table = np.asarray(table).ravel()
    if table.size != 64:
        raise ValueError(f"a JPEG quantisation table has 64 entries, got {table.size}")
    errors = [np.abs(standard_table(q) - table).sum() for q in range(1, 101)]
    best = int(np.argmin(errors))
    return best + 1, errors[best] == 0


def jpeg_file_quality(path) -> tuple[int, bool] | None:
    """Quality of a JPEG file from its luminance table, or None when the file is not a JPEG."""
    with Image.open(path) as img:
        if img.format != "JPEG" or not getattr(img, "quantization", None):
            return None
        return quality_from_table(img.quantization[0])
