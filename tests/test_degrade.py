import io

import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.data import degrade
from darkroom.forensics.jpeg import quality_from_table


def test_gaussian_noise_has_the_stated_sigma():
    flat = torch.full((3, 128, 128), 0.5)
    noisy, applied = degrade.gaussian_noise(flat, 25, generator=0)
    assert applied == {"noise": "gaussian", "noise_sigma": 25.0}
    assert abs(float((noisy - flat).std()) * 255 - 25) < 0.5
    again, _ = degrade.gaussian_noise(flat, 25, generator=0)
    assert torch.equal(noisy, again)


def test_poisson_noise_sigma_at_mid_grey():
    flat = torch.full((3, 128, 128), 0.5)
    noisy, applied = degrade.poisson_noise(flat, 20, generator=1)
    assert abs(float((noisy - flat).std()) * 255 - 20) < 0.6
    dark, _ = degrade.poisson_noise(torch.full((3, 64, 64), 0.1), 20, generator=1)
    assert float(dark.std()) < float(noisy.std())  # shot noise grows with intensity


def test_blurs(photo):
    same, applied = degrade.gaussian_blur(photo, 0)
    assert torch.equal(same, photo) and applied["blur_sigma"] == 0
    blurred, _ = degrade.gaussian_blur(photo, 2.0)
    assert blurred.shape == photo.shape and blurred.diff(dim=2).abs().mean() < photo.diff(dim=2).abs().mean()
    impulse = torch.zeros(1, 1, 31, 31)
    impulse[..., 15, 15] = 1
    spread, _ = degrade.gaussian_blur(impulse, 2.0)
    ys = torch.arange(31.0) - 15
    var_x = float((spread[0, 0].sum(0) * ys**2).sum())
    assert abs(var_x - 4.0) < 0.1  # variance = sigma^2
    moved, applied = degrade.motion_blur(photo, 9, 0.0)
    assert applied["blur_length"] == 9 and moved.shape == photo.shape
    assert moved.diff(dim=2).abs().mean() < 0.6 * photo.diff(dim=2).abs().mean()  # horizontal smear
    with pytest.raises(ValueError):
        degrade.motion_blur(photo, 4, 0.0)


def test_downscale(photo):
    small, applied = degrade.downscale(photo, 4)
    assert small.shape == (3, 16, 16) and applied["resize_factor"] == 0.25
    assert abs(float(small.mean() - photo.mean())) < 0.01
    batch, _ = degrade.downscale(photo[None].repeat(2, 1, 1, 1), 2)
    assert batch.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError):
        degrade.downscale(photo, 0.5)


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_jpeg_is_real_at_quality(photo, quality):
    data = degrade.jpeg_bytes(photo, quality)
    with Image.open(io.BytesIO(data)) as img:
        assert quality_from_table(img.quantization[0]) == (quality, True)
    out, applied = degrade.jpeg(photo, quality)
    assert applied == {"jpeg_quality": quality} and out.shape == photo.shape
    with Image.open(io.BytesIO(data)) as img:
        decoded = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)
    assert torch.equal(out, decoded)


def test_jpeg_error_grows_as_quality_falls(photo):
    errors = [float((degrade.jpeg(photo, q)[0] - photo).abs().mean()) for q in (95, 50, 10)]
    assert errors[0] < errors[1] < errors[2]


def test_tone_and_grayscale(photo):
    out, applied = degrade.tone(photo, gamma=2.0)
    assert torch.allclose(out, photo**2, atol=1e-6) and applied["gamma"] == 2.0
    out, _ = degrade.tone(photo, brightness=0.1, contrast=0.5)
    assert torch.allclose(out, ((photo - 0.5) * 0.5 + 0.6).clamp(0, 1), atol=1e-6)
    gray, applied = degrade.grayscale(photo)
    assert gray.shape == photo.shape and torch.equal(gray[0], gray[1]) and applied == {"grayscale": True}
    assert degrade.grayscale(photo, keep_channels=False)[0].shape == (1, 64, 64)


def test_bad_inputs():
    with pytest.raises(ValueError, match="tensor"):
        degrade.gaussian_noise(np.zeros((3, 4, 4)), 10)
    with pytest.raises(ValueError, match="channels"):
        degrade.jpeg(torch.zeros(2, 4, 4), 50)
    with pytest.raises(ValueError, match="quality"):
        degrade.jpeg(torch.zeros(3, 4, 4), 0)
    with pytest.raises(ValueError, match="sigma"):
        degrade.gaussian_noise(torch.zeros(3, 4, 4), -1)


@pytest.mark.parametrize("family", ["thin", "medium", "thick"])
def test_inpainting_masks(family):
    fractions = []
    for seed in range(20):
        mask, applied = degrade.inpainting_mask(96, 128, family, seed=seed)
        assert mask.shape == (1, 96, 128) and set(mask.unique().tolist()) <= {0.0, 1.0}
        assert 0 < applied["hole_fraction"] <= 0.5 and applied["hole_fraction"] == float(mask.mean())
        fractions.append(applied["hole_fraction"])
    again, _ = degrade.inpainting_mask(96, 128, family, seed=3)
    assert torch.equal(again, degrade.inpainting_mask(96, 128, family, seed=3)[0])
    assert np.mean(fractions) > 0.03


def test_mask_families_differ_in_stroke_width():
    def mean_width(family):
        from scipy import ndimage

        widths = []
        for seed in range(10):
            mask = degrade.inpainting_mask(128, 128, family, seed=seed)[0][0].numpy() > 0
            widths.append(2 * ndimage.distance_transform_edt(mask).max())
        return np.mean(widths)

    assert mean_width("thin") < mean_width("medium") < mean_width("thick")
