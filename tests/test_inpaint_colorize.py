import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.cli import main
from darkroom.io import read_image, read_provenance
from darkroom.metrics.image import colourfulness, masked_psnr
from darkroom.models import build_model, load_run, resolve_config
from darkroom.models.restore import random_dihedral
from darkroom.nn.unet import UNet
from darkroom.ops.restore import prepare_mask, restore_image, scribble_mask
from darkroom.ops.training import run_training

DATA = {"channels": 3, "image_size": [64, 64]}
quiet = lambda *a: None  # noqa: E731


def luma_error(out: torch.Tensor, gray: torch.Tensor) -> float:
    """The largest BT.601 luma difference between ``out`` ((B,) 3, H, W) and ``gray`` where no channel clipped
    (clipping may move the luma; elsewhere a colorizer that keeps it must be exact)."""
    out, gray = (out[None], gray[None]) if out.dim() == 3 else (out, gray)
    luma = (out * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    inside = ((out > 0) & (out < 1)).all(1, keepdim=True)
    assert float(inside.float().mean()) > 0.5
    return float((luma - gray)[inside].abs().max())


def test_unet_keeps_any_size():
    net = UNet(4, 3, width=8, levels=3, cap=16)
    assert net(torch.rand(2, 4, 37, 51)).shape == (2, 3, 37, 51)


def test_random_dihedral_only_moves_pixels():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    torch.manual_seed(0)
    y = random_dihedral(x)
    for a, b in zip(x, y):
        assert torch.equal(a.flatten().sort().values, b.flatten().sort().values)
    wide = random_dihedral(torch.rand(4, 1, 3, 6))
    assert wide.shape == (4, 1, 3, 6)  # no 90-degree turns for non-square images


def test_inpainter_keeps_known_pixels_and_learns(photo):
    torch.manual_seed(0)
    model = build_model("inpaint", resolve_config("inpaint", {"width": "8", "cap": "16"}, DATA))
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:40, 10:50] = 1
    out = model(photo[None], mask)
    assert torch.equal(out * (1 - mask), photo[None] * (1 - mask))  # only the hole changes
    masks = model.masks(5, 64, 64, "cpu")
    assert masks.shape == (5, 1, 64, 64) and 0 < float(masks.mean()) <= 0.5
    batch = {"image": photo[None].repeat(8, 1, 1, 1)}
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(30):
        loss = model.loss(batch)["loss"]
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.7 * first


def test_colorizer_starts_from_the_gray_image(photo):
    model = build_model("colorize", resolve_config("colorize", {"width": "8", "cap": "16"}, DATA))
    gray = (photo * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    with torch.no_grad():
        out = model(gray[None].expand(1, 3, -1, -1))  # gray-looking RGB in
    assert out.shape == (1, 3, 64, 64)
    assert float((out[0] - gray).abs().max()) < 0.02  # zero-initialised head: the gray image back
    assert float(model.loss({"image": photo[None]})["psnr_gray"]) < 40


def test_colorizer_mse_loss_is_the_rgb_error_and_bad_loss_is_refused(photo):
    model = build_model("colorize", resolve_config("colorize", {"width": "8", "cap": "16", "loss": "mse-rgb"}, DATA))
    out = model.loss({"image": photo[None]})
    gray = (photo * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    # a fresh colorizer returns (nearly) the gray image, so its loss is the gray image's squared error
    assert abs(float(out["loss"].detach()) - float(((gray - photo) ** 2).mean())) < 2e-3
    out["loss"].backward()
    assert model.net.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="loss must be one of l1-lab, mse-rgb, classify"):
        resolve_config("colorize", {"loss": "l2"}, DATA)


def test_low_resolution_colorizer_keeps_the_input_luma(photo):
    torch.manual_seed(0)
    model = build_model(
        "colorize",
        resolve_config(
            "colorize", {"width": "8", "cap": "16", "chroma_scale": "4", "keep_luma": "true", "upright": "true"}, DATA
        ),
    )
    torch.nn.init.normal_(model.net.head.weight, std=0.05)  # a colorizer that does colour something
    model.net.head.bias.data = torch.tensor([0.0, 0.2, -0.3])
    image = photo[None, :, :61, :59]  # sizes the scale does not divide
    gray = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():
        out = model(gray)
    assert out.shape == (1, 3, 61, 59)
    assert float((out[:, 1:] - out[:, :1]).abs().mean()) > 0.01  # coloured, not gray
    assert luma_error(out, gray) < 1e-4
    loss = model.loss({"image": image.repeat(2, 1, 1, 1)})["loss"]
    loss.backward()
    assert model.net.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="chroma_scale"):
        resolve_config("colorize", {"chroma_scale": "0"}, DATA)


def test_ab_bins_and_soft_encoding():
    from darkroom.models.colorize import ab_bins, soft_encode

    centres = ab_bins()
    assert 150 < len(centres) < 320 and (centres == 0).all(1).any()  # the in-gamut cells hold gray
    ab = torch.tensor([[[[3.0, 40.0]], [[-2.0, -60.0]]]])  # (1, 2, 1, 2): two pixels
    soft, nearest = soft_encode(ab, centres)
    assert soft.shape == (1, len(centres), 1, 2) and torch.allclose(soft.sum(1), torch.ones(1, 1, 2))
    assert (soft > 0).sum(1).eq(5).all()  # five nearest cells
    assert centres[nearest[0, 0, 0]].tolist() == [0.0, 0.0]


def test_classification_colorizer_rebalances_and_decodes(photo):
    torch.manual_seed(0)
    model = build_model(
        "colorize",
        resolve_config(
            "colorize", {"width": "8", "cap": "16", "loss": "classify", "chroma_scale": "2", "keep_luma": "true"}, DATA
        ),
    )
    blue_sky = torch.stack([torch.full((32, 32), v) for v in (0.3, 0.5, 0.9)])
    data = [{"image": photo}, {"image": blue_sky}]
    model.prepare_data(data, quiet)
    weights, seen = model.class_weights, (model.class_weights < model.class_weights.max())
    assert seen.any() and float(weights.min()) > 0
    assert float(weights[~seen].min()) > float(weights.min())  # unseen (rare) colours weigh more
    model.prepare_data([{"image": torch.zeros(3, 8, 8)}], quiet)  # the val split: weights kept
    assert torch.equal(model.class_weights, weights)
    out = model.loss({"image": photo[None].repeat(2, 1, 1, 1)})
    out["loss"].backward()
    assert float(out["loss"].detach()) > 0 and model.classes[1].weight.grad.abs().sum() > 0
    logits = torch.full((1, len(model.centres), 2, 2), -20.0)
    logits[:, 7] = 20.0  # all the mass on one bin: the annealed mean is that bin's colour
    assert torch.allclose(model.decode(logits, (4, 4))[0, :, 0, 0], model.centres[7], atol=1e-3)
    gray = photo[None].mean(1, keepdim=True)
    with torch.no_grad():
        colour = model(gray)
    assert colour.shape == (1, 3, 64, 64) and luma_error(colour, gray) < 1e-4


def test_work_size_colours_a_shrunk_copy_and_keeps_the_detail(photo):
    torch.manual_seed(0)
    config = {"width": "8", "cap": "16", "keep_luma": "true", "work_size": "32"}
    model = build_model("colorize", resolve_config("colorize", config, DATA))
    torch.nn.init.normal_(model.net.head.weight, std=0.05)
    model.net.head.bias.data = torch.tensor([0.0, 0.2, -0.3])
    gray = photo[None].mean(1, keepdim=True)
    seen = []
    model.net.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-2:]))
    with torch.no_grad():
        out = model(gray)
    assert seen == [(32, 32)] and out.shape == (1, 3, 64, 64)
    assert luma_error(out, gray) < 1e-4  # the full-size luma, not the shrunk one
    result, _ = restore_image("colorize", gray[0].expand(3, -1, -1), model, tile=32)  # one pass, not tiled
    assert torch.allclose(result, out[0], atol=1e-5)


def test_colorize_starts_from_a_contrastive_encoder(tmp_path):
    common = {"width": "8", "levels": "2", "cap": "16", "batch_size": "4"}
    run_training(
        "simclr",
        "photos:patch=32,grayscale=1",
        tmp_path / "pre",
        {**common, "backbone": "unet"},
        flags={"steps": 2},
        progress=False,
        print_fn=quiet,
    )
    run_training(
        "colorize",
        "photos:patch=32",
        tmp_path / "col",
        {**common, "pretrained": str(tmp_path / "pre"), "lr": "1e-12"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    pre, _ = load_run(tmp_path / "pre")
    col, _ = load_run(tmp_path / "col")
    a, b = pre.encoder.stem[0].weight, col.net.encoder.stem[0].weight
    assert torch.allclose(a, b, atol=1e-6)  # lr ~ 0: still the pretrained weights
    with pytest.raises(ValueError, match="simclr"):
        run_training(
            "colorize",
            "photos:patch=32",
            tmp_path / "bad",
            {**common, "pretrained": str(tmp_path / "col")},
            flags={"steps": 1},
            progress=False,
            print_fn=quiet,
        )


def test_simclr_features_are_unit_vectors():
    model = build_model(
        "simclr", resolve_config("simclr", {"width": "8", "levels": "2"}, {"channels": 1, "image_size": [16, 16]})
    )
    x = torch.rand(6, 1, 16, 16)
    assert torch.allclose(model.features(x).norm(dim=1), torch.ones(6), atol=1e-5)
    out = model.loss({"image": x})
    assert torch.isfinite(out["loss"]) and 0 <= float(out["pair_accuracy"]) <= 1


def test_scribbles_and_masks():
    image = torch.full((3, 40, 40), 0.5)
    image[:, 10:12, 5:30] = 1.0
    mask = scribble_mask(image)
    assert mask[0, 10:12, 5:30].all() and mask[0, 8, 5] == 1 and mask[0, 30, 30] == 0  # grown by 2 px
    warnings = []
    small = torch.zeros(1, 20, 20)
    small[:, 5:10, 5:10] = 1
    resized = prepare_mask(small, image, warnings.append)
    assert resized.shape == (1, 40, 40) and float(resized.sum()) == 100 and "resized" in warnings[0]
    assert len(warnings) == 1  # a black-and-white mask draws no other warning
    photo = torch.linspace(0, 1, 40 * 40).reshape(1, 40, 40)  # a grey ramp given as the mask
    thresholded = prepare_mask(photo, image, warnings.append)
    assert "not black and white" in warnings[1] and float(thresholded.mean()) == pytest.approx(0.5, abs=0.01)


def test_metrics_for_restoration():
    gray = torch.full((3, 8, 8), 0.4)
    assert colourfulness(gray) == pytest.approx(0.0)
    red = torch.zeros(3, 8, 8)
    red[0] = 1.0  # rg = 255, yb = 127.5, no spread: 0.3 * hypot
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    a, b = torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)
    b[:, 0, 0] = 0.1
    mask = torch.zeros(4, 4)
    mask[0, :2] = 1
    assert masked_psnr(a, b, mask) == pytest.approx(10 * np.log10(1 / (0.01 / 2)))


def test_shipped_inpainter_beats_a_flat_fill():
    """On a smooth photo-like gradient the shipped model must do far better than filling with the mean."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    image = torch.stack([0.2 + 0.6 * xs, 0.3 + 0.4 * ys, 0.5 + 0.3 * xs * ys])
    mask = torch.zeros(1, 96, 96)
    mask[:, 30:60, 20:70] = 1
    net, _ = load_run("inpaint")
    out, applied = restore_image("inpaint", image, net, mask=mask)
    flat = image * (1 - mask) + image.mean((1, 2), keepdim=True) * mask
    assert masked_psnr(out, image, mask) > masked_psnr(flat, image, mask) + 8
    assert applied["hole_fraction"] == pytest.approx(float(mask.mean()), abs=1e-4)


def test_restore_inpaint_and_colorize_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    photo = (rng.random((48, 64, 3)) * 120 + 60).astype(np.uint8)
    scribbled = photo.copy()
    scribbled[20:24, 5:50] = 255
    Image.fromarray(scribbled).save(tmp_path / "scribbled.png")
    Image.fromarray(photo).save(tmp_path / "clean.png")
    assert (
        main(
            [
                "restore",
                "inpaint",
                str(tmp_path / "scribbled.png"),
                str(tmp_path / "clean.png"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "nothing to fill" in capsys.readouterr().err  # clean.png: copied with a warning
    filled = read_image(tmp_path / "out" / "scribbled.png")
    assert float(filled[:, 21, 10:40].mean()) < 0.95  # the white stroke is gone
    assert read_provenance(tmp_path / "out" / "scribbled.png")["hole_fraction"] > 0
    Image.fromarray(photo[..., 0]).save(tmp_path / "gray.png")
    assert main(["restore", "colorize", str(tmp_path / "gray.png"), "--out", str(tmp_path / "col")]) == 0
    assert read_image(tmp_path / "col" / "gray.png").shape == (3, 48, 64)
    assert (
        main(
            [
                "restore",
                "inpaint",
                str(tmp_path / "clean.png"),
                "--mask",
                str(tmp_path / "none.png"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert main(["restore", "sr", str(tmp_path / "clean.png"), "--scale", "3", "--out", str(tmp_path / "x")]) == 2
    assert main(["restore", "colorize", str(tmp_path / "clean.png"), "--half", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "--scale" in err and "half" in err


def test_python_api_mirrors_the_cli(photo):
    import darkroom

    noisy = (photo + torch.randn_like(photo) * 20 / 255).clamp(0, 1)
    clean, applied = darkroom.restore("denoise", noisy, sigma=20)
    assert clean.shape == photo.shape and applied["model"] == "denoise" and applied["noise_sigma"] == 20
    up, applied = darkroom.restore("sr", photo[:, :32, :32], scale=4)
    assert up.shape == (3, 128, 128) and applied["scale"] == 4
    with pytest.raises(ValueError, match="mask"):
        darkroom.restore("inpaint", photo)


def test_self_ensemble_undoes_each_transform():
    from darkroom.ops.restore import self_ensemble

    x = torch.rand(1, 3, 9, 14)
    assert torch.allclose(self_ensemble(lambda t: t * 2)(x), x * 2)
    up = self_ensemble(lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest"))(x)
    assert torch.allclose(up[..., ::2, ::2], x)  # an upscaler's output is transformed back at its own size
    shift = self_ensemble(lambda t: torch.roll(t, 1, -1))(x)  # not flip-equivariant: averaging changes it
    assert not torch.allclose(shift, torch.roll(x, 1, -1))


def test_reference_colorize_takes_the_colours_of_a_flipped_shifted_crop(photo):
    from darkroom.ops.refcolor import reference_colorize

    gray = (photo * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    reference = photo.flip(-1)[:, 6:, 9:]  # another size, mirrored and shifted
    out = reference_colorize(gray, reference, samples=5000)
    assert out.shape == photo.shape
    floor = psnr_of(gray.expand_as(photo), photo)
    assert psnr_of(out, photo) > floor + 3
    assert luma_error(out, gray) < 1e-4
    with pytest.raises(ValueError, match="colour photo"):
        reference_colorize(gray, gray.expand(3, -1, -1))


def psnr_of(a, b):
    from darkroom.metrics.image import psnr

    return psnr(a, b)


def test_restore_colorize_with_a_reference_and_its_bad_input(tmp_path, photo, capsys):
    from darkroom.io import write_image

    write_image(tmp_path / "colour.png", photo)
    write_image(tmp_path / "gray.png", photo.mean(0, keepdim=True).expand(3, -1, -1))
    write_image(tmp_path / "ref.png", photo.flip(-2))
    args = [
        "restore",
        "colorize",
        str(tmp_path / "gray.png"),
        str(tmp_path / "colour.png"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*args, "--reference", str(tmp_path / "ref.png")]) == 0
    assert capsys.readouterr().err.count("has colour: colorized from its luma") == 1  # said once
    assert read_provenance(tmp_path / "o" / "gray.png")["reference"].endswith("ref.png")
    assert main([*args, "--reference", str(tmp_path / "gray.png")]) == 2
    assert "must be a colour photo" in capsys.readouterr().err
    assert (
        main(
            [
                "restore",
                "denoise",
                str(tmp_path / "gray.png"),
                "--out",
                str(tmp_path / "d"),
                "--reference",
                str(tmp_path / "ref.png"),
            ]
        )
        == 2
    )
    assert main([*args, "--reference", str(tmp_path / "missing.png")]) == 2
    assert "missing.png" in capsys.readouterr().err
