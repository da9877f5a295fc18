"""darkroom: generate, edit, restore and reverse-engineer images with deep learning, offline.

    >>> import darkroom
    >>> image = darkroom.read_image("photo.jpg")            # (3, H, W) float32 in [0, 1]
    >>> data = darkroom.load_dataset("scenes:size=64")
    >>> sample = data[0]                                     # image, label, params, caption
"""
__version__ = "0.1.0"

from darkroom.data import load_dataset, parse_spec  # noqa: E402
from darkroom.io import read_image, read_provenance, write_image  # noqa: E402

__all__ = ["__version__", "load_dataset", "parse_spec", "read_image", "read_provenance", "write_image"]
