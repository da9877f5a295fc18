"""Fixed high-pass residuals that forensic networks read beside (or instead of) the pixels.

``srm``: the SRM "square 3x3" high-pass of each channel. ``npr``: each pixel minus the top-left pixel of
its 2x2 block (Tan et al. 2024, "Rethinking the up-sampling operations in CNN-based generative network for
generalizable deepfake detection"): upsampling layers leave their trace there, whatever the generator.
``spectrum_profile``: Durall et al.'s azimuthal average of the log-magnitude FFT (the torch twin of
``forensics.classical.spectrum_profile``), which sees what a smoothing network takes out of the highest
frequencies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

HIGHPASS = torch.tensor([[-1.0, 2.0, -1.0], [2.0, -4.0, 2.0], [-1.0, 2.0, -1.0]]) / 4  # SRM "square 3x3"
INPUTS = ("srm", "npr", "srm+npr")
CHANNELS = {"srm": 6, "npr": 3, "srm+npr": 9}  # for a 3-channel image
GAIN = 8  # residuals are small: scale them to the image's range


def whole_blocks(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) cropped to whole 2x2 blocks: odd sizes lose their last row or column."""
    return x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W): each pixel minus the top-left pixel of its 2x2 block (odd sizes lose the last row/column)."""
    x = whole_blocks(x)
    return x - F.interpolate(x[..., ::2, ::2], scale_factor=2, mode="nearest")


def srm_residual(x: torch.Tensor, highpass: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> the same shape: ``highpass`` ((C, 1, 3, 3), HIGHPASS per channel) with reflected borders."""
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), highpass, groups=x.shape[1])


def residual_inputs(x: torch.Tensor, kind: str, highpass: torch.Tensor, learned=None) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> the network input for ``kind`` (INPUTS), CHANNELS[kind] channels;
    with "npr" in kind, cropped to whole 2x2 blocks. ``learned`` (a module, optional) adds its output on
    the image to the SRM residual."""
    x = whole_blocks(x) if "npr" in kind else x
    inputs = []
    if "srm" in kind:
        residual = srm_residual(x, highpass) * GAIN
        inputs += [x, residual if learned is None else residual + learned(x)]
    if "npr" in kind:
        inputs.append(npr_residual(x) * GAIN)
    return torch.cat(inputs, 1)


LUMA = (0.299, 0.587, 0.114)
CHROMA = ((-0.1687, -0.3313, 0.5), (0.5, -0.4187, -0.0813))  # JPEG's Cb and Cr, without the offset
# a camera photo's chroma residual is about six times smaller than its luma's (the NPR residual's standard
# deviation on the real crops of configs/gendetect.toml's set: 0.044 luma, 0.007 Cb and Cr)
CHROMA_GAIN = 6.0


def to_ycc(x: torch.Tensor, chroma_gain: float = CHROMA_GAIN) -> torch.Tensor:
    """(B, 3, H, W) RGB -> luma, Cb and Cr (no offset), the chroma scaled by ``chroma_gain`` so that a
    network reads its residual on the same footing as the luma's."""
    mix = x.new_tensor([LUMA, *(tuple(chroma_gain * w for w in c) for c in CHROMA)])
    return torch.einsum("bchw,kc->bkhw", x, mix)


def spectrum_profile(x: torch.Tensor, bins: int, weights=LUMA) -> torch.Tensor:
    """(B, 3, H, W) -> (B, bins): the azimuthal average of the log-magnitude 2-D FFT of the luma (or of the
    channel mix ``weights``, e.g. one of CHROMA), radii from
    the centre to a corner, each profile scaled to [0, 1] (Durall et al., CVPR 2020; the same numbers as
    ``darkroom.forensics.classical.spectrum_profile``, up to float precision). Computed in float64, which
    the centre bin needs (in float32 its rounding noise moves the whole profile by up to 0.25); on Apple's
    MPS, which has no float64, on the CPU."""
    if x.device.type == "mps":
        return spectrum_profile(x.cpu(), bins, weights).to(x.device)
    y = torch.einsum("bchw,c->bhw", x.double(), x.new_tensor(weights, dtype=torch.float64))
    y = y - y.mean((-2, -1), keepdim=True)
    spectrum = torch.log(torch.fft.fftshift(torch.fft.fft2(y), dim=(-2, -1)).abs() + 1e-8)
    h, w = spectrum.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    radius = torch.hypot(yy - h / 2, xx - w / 2) / (h * h / 4 + w * w / 4) ** 0.5
    index = (radius * bins).long().clamp(max=bins - 1).flatten().to(x.device)
    counts = torch.bincount(index, minlength=bins).clamp_min(1)
    sums = spectrum.flatten(1).new_zeros(len(x), bins).index_add_(1, index, spectrum.flatten(1))
    profile = sums / counts
    low, high = profile.min(1, keepdim=True).values, profile.max(1, keepdim=True).values
    return ((profile - low) / (high - low).clamp_min(1e-8)).to(x.dtype)


def block_grid(x: torch.Tensor, period: int = 8) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 2): how much a block grid of ``period`` px stands out in the luma, across
    columns then across rows, whatever its offset. Each 2x2 neighbourhood's mixed difference |a - b - c + d|
    (blind to smooth gradients and straight edges, after Fan and de Queiroz 2003), averaged per offset
    modulo ``period``: the log of the strongest offset's mean over the others'. A JPEG's 8x8 blocks put
    their steps on one offset; a network's smoothing, on none."""
    y = torch.einsum("bchw,c->bhw", x, x.new_tensor(LUMA)) * 255
    mixed = (y[:, :-1, :-1] - y[:, :-1, 1:] - y[:, 1:, :-1] + y[:, 1:, 1:]).abs()
    out = []
    for steps in (mixed.mean(1), mixed.mean(2)):
        n = steps.shape[-1] // period * period
        by_offset = steps[..., :n].reshape(len(x), -1, period).mean(1) + 0.05  # (B, period)
        top = by_offset.max(1).values
        out.append(torch.log(top * (period - 1) / (by_offset.sum(1) - top)))
    return torch.stack(out, 1)
