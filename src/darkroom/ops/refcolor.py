"""Exemplar-guided colorization (``darkroom restore colorize --reference REF``): colour a gray photo with the
colours of a colour photo of a similar scene, after Welsh, Ashikhmin and Mueller (Transferring Color to
Greyscale Images, 2002).

Each pixel is described by its luma and the luma's local mean, spread and gradient at three scales (5, 11
and 23 px windows), features that survive flips, shifts and crops. Every pixel of the gray image takes the
mean chroma (Lab's a and b) of its 4 nearest reference pixels in that feature space (faiss, exact L2 on up to
20,000 sampled reference pixels), the chroma map is smoothed by a guided filter steered by the gray image,
and each output pixel keeps the input's luma exactly. Both images are matched at a short side of at most
``work_size`` pixels; the chroma is then enlarged to the input's size.
"""

from __future__ import annotations

import kornia
import numpy as np
import torch
import torch.nn.functional as F

from darkroom.models.colorize import luma

WINDOWS = (5, 11, 23)


def _features(gray: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) luma -> (H * W, 1 + 3 * len(WINDOWS)) per-pixel descriptors."""
    gradient = kornia.filters.sobel(gray)
    channels = [gray]
    for k in WINDOWS:
        mean = F.avg_pool2d(gray, k, 1, k // 2, count_include_pad=False)
        spread = (F.avg_pool2d(gray**2, k, 1, k // 2, count_include_pad=False) - mean**2).clamp_min(0).sqrt()
        channels += [mean, spread, F.avg_pool2d(gradient, k, 1, k // 2, count_include_pad=False)]
    return torch.cat(channels, 1)[0].flatten(1).T.contiguous()


def _shrunk(image: torch.Tensor, work_size: int) -> torch.Tensor:
    """(1, C, H, W) scaled (area) so its short side is at most ``work_size``."""
    h, w = image.shape[-2:]
    factor = min(1.0, work_size / min(h, w))
    if factor == 1.0:
        return image
    return F.interpolate(image, size=(max(1, round(h * factor)), max(1, round(w * factor))), mode="area")


def reference_colorize(
    image: torch.Tensor, reference: torch.Tensor, work_size: int = 256, samples: int = 20_000, k: int = 4, seed: int = 0
) -> torch.Tensor:
    """Colour ``image`` ((1 or 3, H, W) in [0, 1], read as its luma) with ``reference``'s colours ((3, h, w),
    any size); returns (3, H, W) whose BT.601 luma is the input's."""
    import faiss

    if reference.shape[0] != 3 or float((reference.max(0).values - reference.min(0).values).mean()) < 1e-3:
        raise ValueError("the reference must be a colour photo (it gives the colours)")
    gray = luma(image[None])
    small, ref = _shrunk(gray, work_size), _shrunk(reference[None], work_size)
    ref_gray = luma(ref)
    # match the two lumas' ranges first (Welsh et al.'s luminance remapping): exposure differs between photos
    scale = ref_gray.std() / small.std().clamp_min(1e-4)
    remapped = (small - small.mean()) * scale + ref_gray.mean()
    ref_features, features = _features(ref_gray), _features(remapped)
    spread = ref_features.std(0).clamp_min(1e-4)
    ref_features, features = ref_features / spread, features / spread
    ref_ab = kornia.color.rgb_to_lab(ref)[0, 1:].flatten(1).T
    pick = torch.randperm(len(ref_features), generator=torch.Generator().manual_seed(seed))[:samples]
    index = faiss.IndexFlatL2(ref_features.shape[1])
    index.add(np.ascontiguousarray(ref_features[pick].numpy(), np.float32))
    _, nearest = index.search(np.ascontiguousarray(features.numpy(), np.float32), k)
    ab = ref_ab[pick][torch.from_numpy(nearest)].mean(1).T.reshape(1, 2, *small.shape[-2:])
    ab = kornia.filters.guided_blur(small.expand(-1, 2, -1, -1), ab, 7, 1e-3)
    ab = F.interpolate(ab, size=gray.shape[-2:], mode="bilinear", align_corners=False)
    base = kornia.color.rgb_to_lab(gray.expand(-1, 3, -1, -1))
    rgb = kornia.color.lab_to_rgb(torch.cat([base[:, :1], ab], 1), clip=False)
    return (rgb + gray - luma(rgb)).clamp(0, 1)[0]
