"""The README's restoration picture: for each task, the damaged input, darkroom's result and the original,
on scikit-image's `coffee` (a test-split photo no model trained on).

    python experiments/readme_figures.py docs/restoration.jpg
"""

import sys

import torch
import torch.nn.functional as F

from darkroom.data import degrade
from darkroom.data.base import to_tensor
from darkroom.data.photos import skimage_photo
from darkroom.io import grid, write_image
from darkroom.ops.restore import restore


def main(out: str) -> None:
    clean = to_tensor(skimage_photo("coffee")[60:316, 180:436])
    noisy, _ = degrade.gaussian_noise(clean, 25, generator=0)
    small, _ = degrade.downscale(clean, 4)
    mask, _ = degrade.inpainting_mask(256, 256, "medium", seed=3)
    gray, _ = degrade.grayscale(clean)
    rows = [
        (noisy, restore("denoise", noisy, sigma=25)[0]),
        (
            F.interpolate(small[None], scale_factor=4, mode="bicubic")[0].clamp(0, 1),
            restore("sr", small, "sr-x4-large", scale=4)[0],
        ),
        (clean * (1 - mask) + mask, restore("inpaint", clean, mask=mask)[0]),
        (gray, restore("colorize", gray)[0]),
    ]
    images = torch.stack([im for damaged, result in rows for im in (damaged, result, clean)])
    write_image(out, grid(images, ncol=3), provenance={"operation": "readme-figure"})
    print(f"wrote {out}: rows denoise (sigma 25), sr x4 (bicubic | darkroom), inpaint (medium mask), colorize")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/restoration.jpg")
