"""The generated-image detector and the set it learns from."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from darkroom.data import degrade
from darkroom.forensics.classical import spectrum_profile as numpy_profile
from darkroom.io import write_image
from darkroom.models import build_model, load_run, resolve_config
from darkroom.models.gendetect import DetectSample, dihedral, either, smooth_max
from darkroom.nn.residuals import CHROMA, GAIN, block_grid, npr_residual, spectrum_profile, to_ycc
from darkroom.ops.generated import ALL_FAMILIES, FAMILIES, detail, make_examples, real_example


def textured(seed: int, side: int = 128) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, side // 8, side // 8, generator=g)
    return torch.nn.functional.interpolate(base[None], size=(side, side), mode="bicubic")[0].clamp(0, 1)


def test_examples_pair_real_and_generated_content():
    flat = torch.full((3, 128, 128), 0.5)
    assert detail(flat) < 0.01 < detail(textured(0))
    images, labels = make_examples([flat, textured(0), textured(1)], 64, per_patch=2, progress=False)
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.uint8  # the flat patch is skipped
    assert labels.tolist() == [0, 1, 2, 0, 3, 4]  # one real, then families in turn
    assert FAMILIES == ("denoise", "sr-x2", "sr-x4", "colorize", "inpaint")


def test_inpaint_examples_are_redrawn_by_the_network_everywhere():
    patch = textured(3)
    images, labels = make_examples([patch], 64, families=("inpaint",), per_patch=1, progress=False)
    assert labels.tolist() == [0, 5]
    real, made = images.astype(np.int16)
    assert (real != made).mean() > 0.5  # the raw prediction, not the photo with its holes filled


def test_autoencode_examples_come_from_the_zoo_runs_given(tmp_path):
    from darkroom.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(3):
        write_image(photos / f"p{k}.png", textured(10 + k, 96))
    run = tmp_path / "zoo" / "f2"
    assert (
        main(
            [
                "train",
                "photoae",
                "--data",
                f"photos:{photos},patch=32",
                "--steps",
                "2",
                "--set",
                "model.factor=2",
                "--set",
                "model.width=4",
                "--set",
                "model.upsample=pixelshuffle",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    images, labels = make_examples(
        [textured(4)], 64, families=("autoencode",), per_patch=1, progress=False, autoencoders=[run]
    )
    assert labels.tolist() == [0, len(FAMILIES) + 1] == [0, ALL_FAMILIES.index("autoencode") + 1]
    assert images.shape == (2, 64, 64, 3)
    with pytest.raises(ValueError, match="photoae runs"):
        make_examples([textured(4)], 64, families=("autoencode",), per_patch=1, progress=False)


def test_photo_autoencoder_redraws_at_the_input_size_and_refuses_odd_sizes():
    model = build_model(
        "photoae", resolve_config("photoae", {"channels": 3, "factor": 8, "width": 4, "upsample": "transposed"})
    )
    assert model.encode(torch.rand(1, 3, 64, 48)).shape == (1, 8, 8, 6)
    assert model(torch.rand(2, 3, 64, 48)).shape == (2, 3, 64, 48)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 3, 60, 64))
    with pytest.raises(ValueError, match="factor"):
        resolve_config("photoae", {"factor": 3})


def test_resized_real_examples_still_hold_a_crop_with_a_small_margin():
    rng = np.random.default_rng(0)
    sides = [real_example(textured(0), rng, crop=96).shape[-1] for _ in range(60)]
    assert min(sides) >= 96 and max(sides) > 128 and sides.count(128) < 60  # resized both ways, some untouched
    assert min(real_example(textured(0), rng).shape[-1] for _ in range(100)) < 96  # without a crop: down to 0.55


def test_augmentation_keeps_the_crop_and_range():
    transform = DetectSample(32, jpeg_prob=1.0, blur_prob=1.0, resize_prob=1.0)
    out = transform({"image": textured(2, 64), "label": 3}, np.random.default_rng(0))
    assert out["image"].shape == (3, 32, 32) and out["label"] == 3
    assert 0 <= out["image"].min() and out["image"].max() <= 1


def test_holdout_family_is_left_out_of_the_loss():
    model = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "holdout": 2}))
    x = torch.rand(4, 3, 32, 32)
    only_held = model.loss({"image": x, "label": torch.tensor([2, 2, 2, 2])})
    assert only_held["loss"].item() == 0 and "accuracy" not in only_held
    mixed = model.loss({"image": x, "label": torch.tensor([0, 1, 2, 3])})
    mixed["loss"].backward()
    assert mixed["loss"].item() > 0 and model.head.weight.grad is not None


def test_image_probability_on_any_size():
    model = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32})).eval()
    for shape in [(3, 20, 50), (1, 40, 40), (3, 300, 500)]:
        p = model.image_prob(torch.rand(shape))
        assert 0 <= p <= 1


def test_augmentation_probabilities_come_from_the_config():
    model = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "jpeg_prob": 0.0}))
    assert model.sample_transform.jpeg_prob == 0.0 and model.sample_transform.blur_prob == 0.1
    with pytest.raises(ValueError, match="jpeg_prob"):
        resolve_config("gendetect", {"jpeg_prob": 1.5})


def test_npr_residual_is_zero_on_a_nearest_upsampled_image_and_not_on_a_smooth_one():
    blocky = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16), scale_factor=2, mode="nearest")
    assert npr_residual(blocky).abs().max() == 0
    assert npr_residual(textured(0, 33)[None]).shape[-2:] == (32, 32)  # odd sizes lose their last row and column
    assert npr_residual(textured(0, 32)[None]).abs().max() > 0


@pytest.mark.parametrize("inputs", ["npr", "srm+npr"])
def test_npr_inputs_take_any_size(inputs):
    model = build_model(
        "gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "inputs": inputs})
    ).eval()
    assert model(torch.rand(2, 3, 33, 31)).shape == (2,) and 0 <= model.image_prob(torch.rand(3, 40, 41)) <= 1
    with pytest.raises(ValueError, match="inputs"):
        resolve_config("gendetect", {"inputs": "fft"})


def test_spectrum_profile_is_the_baselines_and_falls_with_smoothing():
    x = torch.stack([textured(1, 48), torch.rand(3, 48, 48)])
    ours = spectrum_profile(x, 24)
    assert ours.shape == (2, 24)
    assert np.allclose(ours.numpy(), np.stack([numpy_profile(i, 24) for i in x]), atol=1e-5)
    assert ours[0, -6:].mean() < ours[1, -6:].mean() - 0.3  # the bicubic-smooth image's top band is emptier


def test_detector_with_a_spectrum_branch_learns_and_takes_any_size():
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "inputs": "npr", "spectrum_bins": 16}),
    )
    out = model.loss({"image": torch.rand(4, 3, 32, 32), "label": torch.tensor([0, 1, 0, 2])})
    out["loss"].backward()
    assert model.spectrum[1].weight.grad.abs().sum() > 0 and model.head.weight.shape == (
        1,
        model.body.out_channels + 32,
    )
    model.eval()
    assert model(torch.rand(2, 3, 33, 31)).shape == (2,) and 0 <= model.image_prob(torch.rand(3, 40, 41)) <= 1
    with pytest.raises(ValueError, match="spectrum_bins"):
        resolve_config("gendetect", {"spectrum_bins": -1})
    with pytest.raises(ValueError, match="spectrum_only"):
        resolve_config("gendetect", {"spectrum_only": 0.5})  # without a spectrum branch


def test_spectrum_only_crops_are_read_from_the_profile_alone_in_training():
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "spectrum_only": 0.999}),
    )
    x = torch.rand(2, 3, 32, 32)
    model.train()
    torch.manual_seed(0)  # every crop below the 0.999 draw
    spectrum = model.spectrum(spectrum_profile(x, 16))
    head_on_profile = model.head.bias + spectrum @ model.head.weight[0, -32:]
    assert torch.allclose(model(x), head_on_profile, atol=1e-5)
    model.eval()
    assert not torch.allclose(
        model(x), model.head.bias + model.spectrum(spectrum_profile(x, 16)) @ model.head.weight[0, -32:]
    )


def test_without_a_hidden_layer_the_profile_part_of_the_logit_is_linear_in_the_profiles():
    model = build_model(
        "gendetect",
        resolve_config(
            "gendetect",
            {
                "width": 4,
                "stages": 2,
                "crop": 32,
                "spectrum_bins": 16,
                "spectrum_chroma": True,
                "spectrum_hidden": 0,
                "spectrum_only": 0.999,
            },
        ),
    )
    assert model.head.weight.shape == (1, model.body.out_channels + 48)
    x = torch.rand(4, 3, 32, 32)
    model.train()
    torch.manual_seed(0)  # every crop below the 0.999 draw: the residual features are zeroed
    logits = model(x)
    profiles = model.profiles(x)
    normalised = (profiles - profiles.mean(0)) / (profiles.var(0, unbiased=False) + 1e-5).sqrt()
    bn = model.spectrum[0]
    expected = model.head.bias + (normalised * bn.weight + bn.bias) @ model.head.weight[0, -48:]
    assert torch.allclose(logits, expected, atol=1e-4)
    with pytest.raises(ValueError, match="spectrum_hidden"):
        resolve_config("gendetect", {"spectrum_bins": 8, "spectrum_hidden": -1})


def test_halves_max_takes_the_larger_standardised_half_outside_training_only():
    settings = {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16}
    model = build_model("gendetect", resolve_config("gendetect", settings)).eval()
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        residual, profile = model.half_logits(x)
    assert torch.allclose(residual + profile, model(x), atol=1e-5)  # the two shares make the trained logit
    stats = (float(residual.mean()), 0.5, float(profile.mean()) + 1, 2.0)
    model.config = dataclasses.replace(model.config, halves="max", half_stats=stats)
    r, p = (residual - stats[0]) / 0.5, (profile - stats[2]) / 2.0
    assert torch.allclose(model(x), torch.maximum(r, p), atol=1e-5)
    smooth = []
    for t in (0.01, 1.0, 100.0):  # the smooth maximum: the larger half at small T, towards the sum at large T
        model.config = dataclasses.replace(model.config, half_temperature=t)
        smooth.append(model(x))
        assert (smooth[-1] >= torch.maximum(r, p) - 1e-5).all()
    assert torch.allclose(smooth[0], torch.maximum(r, p), atol=0.01)
    assert torch.allclose(smooth[1], torch.logaddexp(r, p), atol=1e-5)
    assert torch.allclose(smooth[2] - 100 * np.log(2), (r + p) / 2, atol=0.05)
    model.train()
    torch.manual_seed(0)
    trained = model(x)
    model.config = dataclasses.replace(model.config, halves="sum")
    torch.manual_seed(0)
    assert torch.allclose(trained, model(x))  # training always reads the sum
    for bad in (
        {"halves": "max"},
        {**settings, "halves": "max", "combine": "or"},
        {**settings, "halves": "mean"},
        {**settings, "half_stats": (0.0, 0.0, 0.0, 1.0)},
        {**settings, "half_temperature": -1.0},
    ):
        with pytest.raises(ValueError, match="halves|half_stats|half_temperature"):
            resolve_config("gendetect", bad)


def test_either_is_the_noisy_or_of_two_logits_and_stays_finite():
    a, b = torch.tensor([-3.0, 0.0, 2.0, -200.0, 50.0]), torch.tensor([1.0, 0.0, -1.0, -200.0, 50.0])
    expected = 1 - (1 - torch.sigmoid(a)) * (1 - torch.sigmoid(b))
    assert torch.allclose(torch.sigmoid(either(a, b))[:3], expected[:3], atol=1e-6)
    assert torch.isfinite(either(a, b)).all() and either(a, b)[3] < -20 and either(a, b)[4] > 20


def test_combine_or_gives_each_cue_its_own_logit():
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "combine": "or"}),
    )
    assert model.head.weight.shape == (1, model.body.out_channels) and model.spectrum_head.weight.shape == (1, 32)
    x = torch.rand(4, 3, 32, 32)
    model.eval()
    residual = model.head(model.residual_features(x)).squeeze(1)
    spectrum = model.spectrum_head(model.spectrum(model.profiles(x))).squeeze(1)
    assert torch.allclose(model(x), either(residual, spectrum), atol=1e-5)
    model.train()
    out = model.loss({"image": x, "label": torch.tensor([0, 1, 0, 2])})
    out["loss"].backward()
    assert model.spectrum_head.weight.grad.abs().sum() > 0 and model.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="combine"):
        resolve_config("gendetect", {"combine": "or"})  # without a spectrum branch


def test_chroma_profiles_see_smoothed_colour_that_the_luma_profile_misses():
    luma = 0.3 + 0.4 * textured(1, 48)[:1]

    def coloured(noise):  # the grey image plus colour that leaves its luma as it is
        return torch.cat([luma + noise, luma - noise * (0.299 / 0.587), luma], 0)[None]

    fine = torch.randn(1, 48, 48) * 0.05
    smooth = F.interpolate(fine[None, :, ::6, ::6], size=48, mode="bilinear")[0]  # a colorizer's colour
    sharp, soft = coloured(fine), coloured(smooth)
    assert torch.allclose(spectrum_profile(sharp, 24), spectrum_profile(soft, 24), atol=1e-4)  # luma: blind
    cb_sharp, cb_soft = spectrum_profile(sharp, 24, CHROMA[0]), spectrum_profile(soft, 24, CHROMA[0])
    assert cb_sharp[0, -6:].mean() > cb_soft[0, -6:].mean() + 0.2
    rgb = sharp
    model = build_model(
        "gendetect",
        resolve_config(
            "gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "spectrum_chroma": True}
        ),
    )
    assert model.profiles(rgb).shape == (1, 48) and torch.allclose(
        model.profiles(rgb)[:, 16:32], spectrum_profile(rgb, 16, CHROMA[0])
    )
    out = model.loss({"image": torch.rand(4, 3, 32, 32), "label": torch.tensor([0, 1, 0, 2])})
    out["loss"].backward()
    assert model.spectrum[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="spectrum_chroma"):
        resolve_config("gendetect", {"spectrum_chroma": True})


def test_probability_applies_the_calibration_of_the_config():
    plain = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2}))
    fitted = build_model(
        "gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "logit_slope": 2.0, "logit_shift": -1.0})
    )
    logits = torch.tensor([-1.0, 0.0, 0.5])
    assert torch.allclose(plain.probability(logits), torch.sigmoid(logits))
    assert torch.allclose(fitted.probability(logits), torch.sigmoid(2 * logits - 1))


def test_real_blur_softens_real_crops_only():
    transform = DetectSample(64, jpeg_prob=0.0, blur_prob=0.0, resize_prob=0.0, real_blur_prob=1.0)
    sharp = textured(3, 64)
    sharp = sharp + 0.05 * torch.randn(sharp.shape, generator=torch.Generator().manual_seed(0))
    sharp = sharp.clamp(0, 1)

    def roughness(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean()

    real = transform({"image": sharp, "label": 0}, np.random.default_rng(0))["image"]
    fake = transform({"image": sharp, "label": 2}, np.random.default_rng(0))["image"]
    assert roughness(real) < 0.7 * roughness(fake) and torch.equal(
        torch.sort(fake.flatten())[0], torch.sort(sharp.flatten())[0]
    )
    with pytest.raises(ValueError, match="real_blur_prob"):
        resolve_config("gendetect", {"real_blur_prob": -0.1})


def test_profile_real_jpeg_recompresses_real_crops_of_the_profile_only_share_and_the_loss_reads_that_share():
    transform = DetectSample(
        64, jpeg_prob=0.0, blur_prob=0.0, resize_prob=0.0, spectrum_only=0.5, profile_real_jpeg=1.0
    )
    image = textured(4, 64)
    rng = np.random.default_rng(0)
    for label in (0, 2):
        for _ in range(12):
            out = transform({"image": image, "label": label}, rng)
            touched = not torch.equal(torch.sort(out["image"].flatten())[0], torch.sort(image.flatten())[0])
            assert touched == (out["profile_only"] and label == 0)
    model = build_model(
        "gendetect",
        resolve_config(
            "gendetect",
            {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "spectrum_only": 0.5, "profile_real_jpeg": 1.0},
        ),
    )
    model.train()
    x = torch.rand(2, 3, 32, 32)
    features = model.residual_features(x)
    spectrum = model.spectrum(spectrum_profile(x, 16))
    n = features.shape[1]
    full = model.head.bias + features @ model.head.weight[0, :n] + spectrum @ model.head.weight[0, n:]
    alone = model.head.bias + spectrum @ model.head.weight[0, n:]
    logits = model(x, torch.tensor([True, False]))
    assert torch.allclose(logits, torch.stack([alone[0], full[1]]), atol=1e-5)
    batch = {"image": x, "label": torch.tensor([0, 1]), "profile_only": [True, False]}
    assert torch.isfinite(model.loss(batch)["loss"])
    with pytest.raises(ValueError, match="profile_real_jpeg"):
        resolve_config("gendetect", {"profile_real_jpeg": 0.5})  # without a profile-only share


def test_block_grid_finds_a_jpeg_grid_at_any_offset_and_not_in_the_photo_before():
    photo = textured(5, 96)
    photo = (photo + 0.03 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    squeezed = degrade.jpeg(photo, 80)[0]
    clean = block_grid(torch.stack([photo[:, s : s + 48, s : s + 48] for s in range(0, 8, 3)]))
    grids = block_grid(torch.stack([squeezed[:, s : s + 48, s : s + 48] for s in range(0, 8, 3)]))
    assert clean.max() < 0.3 and grids.min() > 2 * clean.max()  # whichever offset the crop starts at
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "spectrum_grid": True}),
    )
    assert model.profiles(torch.rand(2, 3, 32, 32)).shape == (2, 18) and model.eval()(
        torch.rand(2, 3, 40, 40)
    ).shape == (2,)
    with pytest.raises(ValueError, match="spectrum_grid"):
        resolve_config("gendetect", {"spectrum_grid": True})  # without the profiles


def test_shipped_jpeg_expert_reads_recompressed_super_resolution_where_gendetect_cannot():
    """`inspect` reads JPEG files with gendetect-jpeg: on recompressed x4-enlarged crops of a photo no
    detector trained on (scikit-image's coffee), it must rank them above the recompressed real crops, and
    better than the shipped detector, which the recompression blinds."""
    from skimage import data
    from sklearn.metrics import average_precision_score

    from darkroom.data import degrade
    from darkroom.models import load_run

    coffee = torch.from_numpy(data.coffee()).permute(2, 0, 1).float() / 255
    patches = [coffee[:, t : t + 128, l : l + 128] for t in range(0, 272, 128) for l in range(0, 472, 128)]
    images, labels = make_examples(patches, 64, families=("sr-x4",), per_patch=1, progress=False)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    squeezed = (degrade.jpeg(x, 90)[0] * 255).round() / 255
    ap = {}
    for name in ("gendetect", "gendetect-jpeg"):
        model, _ = load_run(name)
        with torch.no_grad():
            ap[name] = average_precision_score(labels > 0, model(squeezed).numpy())
    assert ap["gendetect-jpeg"] > 0.8 and ap["gendetect-jpeg"] > ap["gendetect"] + 0.1, ap


def test_shipped_detector_is_a_pair_that_finds_network_output_in_a_photo_it_never_trained_on():
    """The shipped gendetect (two recipes' networks, their mean logit over 8 views) on clean crops of
    scikit-image's coffee (a test photo): every family ranks above the real crops."""
    from skimage import data
    from sklearn.metrics import average_precision_score

    model, info = load_run("gendetect")
    assert info["model"] == "gendetect-pair" and model.config.tta and len(model.members) == 2
    coffee = torch.from_numpy(data.coffee()).permute(2, 0, 1).float() / 255
    patches = [coffee[:, t : t + 128, l : l + 128] for t in range(0, 272, 128) for l in range(0, 472, 128)]
    images, labels = make_examples(patches, 64, per_patch=len(FAMILIES), progress=False)
    with torch.no_grad():
        probs = model.probability(model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)).numpy()
    for k, family in enumerate(FAMILIES, start=1):
        pick = (labels == 0) | (labels == k)
        assert average_precision_score(labels[pick] == k, probs[pick]) > 0.9, family


def test_the_set_script_warns_when_real_photos_would_keep_jpeg_traces_the_outputs_lose(tmp_path, load_script):
    # packed JPEG photos read at their own size taught the detector "JPEG traces = camera photo" (README)
    script = load_script("make_generated_set")
    (tmp_path / "png" / "train").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "png" / "train" / "a.png")
    (tmp_path / "jpeg" / "train").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "jpeg" / "train" / "a.JPG")
    assert script.keeps_jpeg_traces(str(tmp_path / "jpeg"))
    assert not script.keeps_jpeg_traces(f"{tmp_path / 'jpeg'},scale=0.5")  # resampled as the test photos are
    assert script.keeps_jpeg_traces(f"{tmp_path / 'jpeg'},scale=1")
    assert not script.keeps_jpeg_traces(str(tmp_path / "png"))
    assert not script.keeps_jpeg_traces(str(tmp_path / "missing"))


def test_ycc_residual_puts_a_colour_change_in_the_chroma_channels_at_the_luma_scale():
    luma = 0.3 + 0.4 * textured(1, 32)[:1]
    noise = torch.randn(1, 32, 32) * 0.02
    recoloured = torch.cat([luma + noise, luma - noise * (0.299 / 0.587), luma], 0)[None]  # the same luma
    grey, colour = to_ycc(luma.expand(3, -1, -1)[None]), to_ycc(recoloured)
    assert torch.allclose(grey[:, 0], colour[:, 0], atol=1e-6) and grey[:, 1:].abs().max() < 1e-6
    assert colour[:, 1:].abs().mean() > 3 * to_ycc(recoloured, chroma_gain=1.0)[:, 1:].abs().mean()
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "inputs": "npr", "residual_space": "ycc"}),
    )
    seen = []
    model.body.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    model.residual_features(recoloured)
    assert torch.allclose(seen[0], npr_residual(to_ycc(recoloured * 2 - 1)) * GAIN, atol=1e-5)
    model.config = dataclasses.replace(model.config, chroma_gain=2.0)
    model.residual_features(recoloured)
    assert torch.allclose(seen[1], npr_residual(to_ycc(recoloured * 2 - 1, 2.0)) * GAIN, atol=1e-5)
    with pytest.raises(ValueError, match="residual_space"):
        resolve_config("gendetect", {"residual_space": "lab"})
    with pytest.raises(ValueError, match="chroma_gain"):
        resolve_config("gendetect", {"residual_space": "ycc", "chroma_gain": 0})


def test_calibration_with_halves_max_standardises_the_real_crops_and_leaves_the_held_out_family_out(load_script):
    script = load_script("calibrate_gendetect")
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 16, "holdout": 2}),
    ).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    images[10:] = images[10:] // 4 * 4 + 100  # a different look for the "generated" crops
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3] * 10)
    fitted, summary = script.calibrate(model, images, labels, ["clean"], "max")
    assert fitted["halves"] == "max" and model.config.halves == "max" and len(fitted["half_stats"]) == 4
    assert summary["real"] == 10 and summary["generated"] == 20  # family 2 is the held-out one
    x = torch.from_numpy(images[:10]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        residual, profile = model.half_logits(x)
    mean_r, sd_r, mean_p, sd_p = fitted["half_stats"]
    for half, mean, sd in ((residual, mean_r, sd_r), (profile, mean_p, sd_p)):
        z = (half - mean) / sd
        assert abs(float(z.mean())) < 1e-4 and abs(float(z.std(unbiased=False)) - 1) < 1e-3
    assert model.config.logit_slope == fitted["logit_slope"]
    fitted, _ = script.calibrate(model, images, labels, ["clean"], "max", temperature=2.0)
    assert fitted["half_temperature"] == 2.0 and model.config.half_temperature == 2.0
    chooser = load_script("half_temperature")
    r, p = chooser.standardised_halves(model, images)  # the chooser scores what the model computes
    with torch.no_grad():
        logits = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    assert torch.allclose(smooth_max(r, p, 2.0), logits, atol=1e-4)


def test_capped_calibration_calls_at_most_the_cap_of_real_crops_generated_and_keeps_the_slope(load_script):
    script = load_script("calibrate_gendetect")
    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.normal(0, 1, 200), rng.normal(2, 1, 800)])  # real crops overlap the generated
    generated = np.arange(1000) >= 200
    slope, shift, prob = script.fit_logistic(raw, generated)
    assert (prob[~generated] > 0.5).mean() > 0.05  # the equal-weight fit calls many real crops generated
    for cap in (0.0, 0.01, 0.05):
        capped, prob_capped = script.capped_shift(slope, shift, raw, generated, cap)
        assert capped < shift and (prob_capped[~generated] > 0.5).mean() <= cap
        assert (prob_capped[~generated] > 0.5).mean() >= cap - 1 / 200  # no lower than it needs to be
    assert script.capped_shift(slope, shift, raw, generated, 0.5)[0] == shift  # already under the cap: as fitted
    with pytest.raises(ValueError, match="max-false-alarm"):
        script.capped_shift(slope, shift, raw, generated, 1.0)


def test_benchmark_left_out_rows_are_the_mean_over_the_seeds_runs_and_list_each(tmp_path, load_script):
    from safetensors.torch import save_model

    bench = load_script("generated", "benchmarks")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2] * 10)
    for seed, name in enumerate(("a-no-sr-x2", "b-no-sr-x2", "c-no-denoise")):
        torch.manual_seed(seed)
        model = build_model(
            "gendetect",
            resolve_config(
                "gendetect", {"width": 4, "stages": 2, "crop": 32, "holdout": 1 if "denoise" in name else 2}
            ),
        )
        (tmp_path / name).mkdir()
        save_model(model, str(tmp_path / name / "model.safetensors"))
        (tmp_path / name / "run.json").write_text(
            json.dumps({"model": "gendetect", "model_config": dataclasses.asdict(model.config)})
        )
    mean, each = bench.left_out(tmp_path, ["a-no-", "b-no-", "missing-no-"], 2, images, labels)
    assert list(each) == ["a-no-sr-x2", "b-no-sr-x2"]
    alone = [bench.left_out(tmp_path, [p], 2, images, labels) for p in ("a-no-", "b-no-")]
    assert mean[0] == pytest.approx(np.mean(list(each.values())))
    assert mean == pytest.approx(np.mean([m for m, _ in alone], axis=0))
    assert bench.left_out(tmp_path, ["missing-no-"], 2, images, labels) == (None, {})
    with pytest.raises(SystemExit, match="holdout=1"):  # a run of another family under that family's name
        (tmp_path / "c-no-denoise").rename(tmp_path / "c-no-sr-x2")
        bench.left_out(tmp_path, ["c-no-"], 2, images, labels)


def test_tta_scores_a_crop_by_its_mean_logit_over_the_eight_views_so_that_every_view_scores_the_same():
    torch.manual_seed(0)
    model = build_model(
        "gendetect",
        resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32, "spectrum_bins": 8, "spectrum_chroma": True}),
    ).eval()
    x = torch.rand(5, 3, 32, 32)
    views = dihedral(x)
    assert len(views) == 8 and torch.equal(views[0], x)
    assert len({tuple(v[0, 0].flatten()[:40].tolist()) for v in views}) == 8  # all differ
    with torch.no_grad():
        plain = model(x)
        by_hand = torch.stack([model(v) for v in views]).mean(0)
        model.config = dataclasses.replace(model.config, tta=True)
        assert torch.allclose(model(x), by_hand, atol=1e-5) and not torch.allclose(plain, by_hand, atol=1e-3)
        for view in views[1:]:  # a flipped or turned crop is the same crop to the augmented detector
            assert torch.allclose(model(view), by_hand, atol=1e-5)
        assert model.image_prob(x[0], max_crops=1) == pytest.approx(float(model.probability(by_hand[0])), abs=1e-5)
    model.train()
    torch.manual_seed(1)
    trained_on = model(x)
    torch.manual_seed(1)
    assert torch.allclose(trained_on, model.logits(x))  # training sees one view: the loader draws it


def test_calibration_with_tta_fits_the_mean_logit_and_writes_it_into_the_card(tmp_path, load_script):
    script = load_script("calibrate_gendetect")
    calibration = load_script("calibration")
    model = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32})).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    images[10:] = images[10:] // 4 * 4 + 100
    labels = np.array([0] * 10 + [1] * 10)
    plain, _ = script.calibrate(model, images, labels, ["clean"])
    assert "tta" not in plain and not model.config.tta  # as the card says, when not asked
    fitted, _ = script.calibrate(model, images, labels, ["clean"], tta=True)
    assert fitted["tta"] is True and model.config.tta and fitted["logit_slope"] != plain["logit_slope"]
    card = tmp_path / "card.json"
    calibration.save_card(card, {"model_config": {}}, fitted, {})
    assert json.loads(card.read_text())["model_config"]["tta"] is True  # a flag, not rounded to 1


def test_benchmark_tta_turns_on_the_models_own(load_script):
    bench = load_script("generated", "benchmarks")
    torch.manual_seed(0)
    model = build_model("gendetect", resolve_config("gendetect", {"width": 4, "stages": 2, "crop": 32})).eval()
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    x = bench.as_tensor(images)
    with torch.no_grad():
        by_hand = model.probability(torch.stack([model(v) for v in dihedral(x)]).mean(0)).numpy()
        plain = model.probability(model(x)).numpy()
    assert np.allclose(bench.network_probs(model, images), plain, atol=1e-6)
    assert np.allclose(bench.network_probs(model, images, tta=True), by_hand, atol=1e-6)
    assert model.config.tta and np.allclose(bench.network_probs(model, images), by_hand, atol=1e-6)


def test_a_pair_scores_a_crop_by_the_mean_of_its_members_calibrated_logits(tmp_path, load_script):
    from safetensors.torch import save_model

    script = load_script("pair_gendetect")
    members = []
    for seed, (slope, shift) in enumerate(((1.5, -2.0), (0.7, 0.5))):
        torch.manual_seed(seed)
        model = build_model(
            "gendetect",
            resolve_config(
                "gendetect",
                {
                    "width": 4,
                    "stages": 2,
                    "crop": 32,
                    "holdout": 3,
                    "spectrum_bins": 8 * seed,
                    "logit_slope": slope,
                    "logit_shift": shift,
                },
            ),
        ).eval()
        (tmp_path / f"m{seed}").mkdir()
        save_model(model, str(tmp_path / f"m{seed}" / "model.safetensors"))
        (tmp_path / f"m{seed}" / "run.json").write_text(
            json.dumps(
                {"model": "gendetect", "model_config": dataclasses.asdict(model.config), "data": "npz:train.npz"}
            )
        )
        members.append(model)
    script.pair(str(tmp_path / "m0"), str(tmp_path / "m1"), tmp_path / "pair")
    pair, info = load_run(tmp_path / "pair")
    assert info["model"] == "gendetect-pair" and info["data"] == "npz:train.npz" and pair.config.holdout == 3
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        calibrated = [m.config.logit_slope * m(x) + m.config.logit_shift for m in members]
        assert torch.allclose(pair(x), (calibrated[0] + calibrated[1]) / 2, atol=1e-5)
        pair.config = dataclasses.replace(pair.config, tta=True)
        assert torch.allclose(pair(x), torch.stack([pair.mean_logit(v) for v in dihedral(x)]).mean(0), atol=1e-5)
        assert torch.allclose(pair(x.flip(-1)), pair(x), atol=1e-5)
        assert 0 < pair.image_prob(x[0]) < 1
    members[1].config = dataclasses.replace(members[1].config, holdout=2)
    (tmp_path / "m1" / "run.json").write_text(
        json.dumps({"model": "gendetect", "model_config": dataclasses.asdict(members[1].config)})
    )
    with pytest.raises(SystemExit, match="left out family 3"):  # members must leave out the same family
        script.pair(str(tmp_path / "m0"), str(tmp_path / "m1"), tmp_path / "other")
