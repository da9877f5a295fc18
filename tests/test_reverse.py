"""Reverse engineering: processing chains, the chain estimator, classical estimators, scene parameters,
and `darkroom inspect`."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.cli import main
from darkroom.data import collate, load_dataset
from darkroom.data.base import to_tensor
from darkroom.data.chain import CANONICAL, IDENTITY, RANGES, apply_chain, min_input_size, sample_chain
from darkroom.data.photos import skimage_photo
from darkroom.forensics.classical import laplacian_variance, pca_sigma, upscale_factor, wavelet_sigma
from darkroom.forensics.processing import UPSCALE_STRENGTH, estimate_processing, tile_offsets
from darkroom.io import write_image
from darkroom.models import build_model, load_run, resolve_config
from darkroom.models.chain import ChainSample
from darkroom.models.sceneparams import rotation_error


@pytest.fixture(scope="module")
def coffee():
    return to_tensor(skimage_photo("coffee"))  # a test-split photo: never seen in training


@pytest.fixture(scope="module")
def chain_model():
    return load_run("chain")[0]


def test_sampled_chains_stay_in_range():
    rng = np.random.default_rng(0)
    for _ in range(200):
        chain = sample_chain(rng)
        assert sorted(chain["order"]) == sorted(CANONICAL)
        assert RANGES["noise_sigma"][0] <= chain["noise_sigma"] <= RANGES["noise_sigma"][1]
        assert chain["jpeg_quality"] is None or 10 <= chain["jpeg_quality"] <= 100
        assert chain["blur_sigma"] == 0 or RANGES["blur_sigma"][0] <= chain["blur_sigma"] <= RANGES["blur_sigma"][1]
        assert 0.5 <= chain["resize_factor"] <= 2 and 0.5 <= chain["gamma"] <= 2


def test_apply_chain_crops_quantises_and_is_seeded(photo):
    big = torch.nn.functional.interpolate(photo[None], size=(256, 256), mode="bilinear")[0]
    chain = {**IDENTITY, "noise_sigma": 10.0, "resize_factor": 0.5, "jpeg_quality": 50}
    a, b = apply_chain(big, chain, crop=128, seed=3), apply_chain(big, chain, crop=128, seed=3)
    assert a.shape == (3, 128, 128) and torch.equal(a, b)
    assert torch.allclose(a * 255, (a * 255).round(), atol=1e-4)  # 8-bit values, as a file holds
    identity = apply_chain(big, dict(IDENTITY))
    assert (identity - big).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="at least"):
        apply_chain(big[:, :100, :100], {**IDENTITY, "resize_factor": 0.5}, crop=128)
    assert min_input_size(128) == 256


def test_chain_model_trains_on_processed_crops():
    config = resolve_config("chain", {"width": 8, "stages": 2, "crop": 32}, {"channels": 3, "image_size": [64, 64]})
    model = build_model("chain", config)
    rng = np.random.default_rng(0)
    samples = [model.sample_transform({"image": torch.rand(3, 64, 64), "label": -1}, rng) for _ in range(4)]
    assert samples[0]["image"].shape == (3, 32, 32) and samples[0]["target"].shape == (6,)
    out = model.loss(collate(samples))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.body.body[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="patch=64"):
        ChainSample(32, 0.0)({"image": torch.rand(3, 40, 40)}, rng)


def test_tiles_sit_on_the_jpeg_grid():
    offsets = tile_offsets(300, 517, 128, 16)
    assert len(offsets) == 16
    assert all(t % 8 == 0 and l % 8 == 0 and t + 128 <= 300 and l + 128 <= 517 for t, l in offsets)
    assert tile_offsets(100, 100, 128, 16) == [(0, 0)]


def test_shipped_chain_model_reads_noise_blur_and_jpeg(coffee, chain_model, tmp_path):
    crop = coffee[:, :256, :256]
    noisy = apply_chain(crop, {**IDENTITY, "noise_sigma": 25.0}, seed=0)
    estimate = estimate_processing(noisy, chain_model)
    assert abs(estimate["noise_sigma"] - 25) < 4 and estimate["jpeg_quality"] is None
    clean = estimate_processing(apply_chain(crop, dict(IDENTITY)), chain_model)
    assert clean["noise_sigma"] < 4 and clean["blur_sigma"] < 0.5
    blurred = estimate_processing(apply_chain(crop, {**IDENTITY, "blur_sigma": 2.0}), chain_model)
    assert abs(blurred["blur_sigma"] - 2) < 0.6
    compressed = estimate_processing(apply_chain(crop, {**IDENTITY, "jpeg_quality": 60}), chain_model)
    assert compressed["jpeg_quality"] is not None and abs(compressed["jpeg_quality_from_pixels"] - 60) <= 10
    path = tmp_path / "q37.jpg"
    Image.fromarray((crop.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path, quality=37)
    from_file = estimate_processing(to_tensor(np.asarray(Image.open(path))), chain_model, path=path)
    assert from_file["jpeg_quality"] == 37 and "quantisation table" in from_file["notes"][0]
    tiny = estimate_processing(crop[:, :40, :50], chain_model)
    assert "mirrored" in tiny["notes"][0]


def test_classical_noise_estimators_on_flat_noise():
    flat = apply_chain(torch.full((3, 128, 128), 0.5), {**IDENTITY, "noise_sigma": 10.0}, seed=0)
    assert abs(wavelet_sigma(flat) - 10) < 1.5
    assert abs(pca_sigma(flat) - 10) < 1.5


def test_upscale_factor_reads_enlargements_and_leaves_untouched_photos_alone(coffee, chain_model):
    crop = coffee[:, :256, :256]
    assert upscale_factor(crop)[1] < UPSCALE_STRENGTH
    assert upscale_factor(apply_chain(crop, {**IDENTITY, "resize_factor": 0.6}))[1] < UPSCALE_STRENGTH
    found, strength = upscale_factor(apply_chain(crop, {**IDENTITY, "resize_factor": 1.4}))
    assert abs(found - 1.4) < 0.02 and strength >= UPSCALE_STRENGTH
    found, strength = upscale_factor(apply_chain(crop, {**IDENTITY, "resize_factor": 2.0}))
    assert abs(found - 2.0) < 0.02 and strength > 2 * upscale_factor(crop)[1]  # weaker, but there
    estimate = estimate_processing(apply_chain(crop, {**IDENTITY, "resize_factor": 1.4}), chain_model)
    assert abs(estimate["resize_factor"] - 1.4) < 0.02 and "interpolation period" in estimate["notes"][-1]
    with pytest.raises(ValueError, match="too small"):
        upscale_factor(crop[:, :20, :20])


def test_laplacian_variance_falls_with_blur(coffee):
    crop = coffee[:, :128, :128]
    sharp = laplacian_variance(crop)
    assert laplacian_variance(apply_chain(crop, {**IDENTITY, "blur_sigma": 1.0})) < sharp / 2


def test_rotation_error_respects_symmetry():
    k = torch.tensor([4.0, 1.0, 0.0])
    err = rotation_error(torch.tensor([91.0, 350.0, 10.0]), torch.tensor([0.0, 10.0, 200.0]), k)
    assert torch.allclose(err, torch.tensor([1.0, 20.0, 0.0]))


def test_sceneparams_trains_on_one_or_two_objects():
    config = resolve_config("sceneparams", {"width": 8}, {"channels": 3, "image_size": [32, 32]})
    model = build_model("sceneparams", config)
    data = load_dataset("scenes:objects=0", limit=16)
    assert {len(data[i]["params"]["objects"]) for i in range(16)} == {1, 2}
    batch = collate([model.sample_transform(data[i], np.random.default_rng(i)) for i in range(16)])
    out = model.loss(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and 0 <= out["shape_accuracy"] <= 1


def test_shipped_sceneparams_reads_held_out_renders():
    model, _ = load_run("sceneparams")
    data = load_dataset("scenes:objects=1", split="test", limit=64)
    batch = collate([data[i] for i in range(64)])
    preds = model.predict(batch["image"])
    shapes = np.mean([p["objects"][0]["shape"] == t["objects"][0]["shape"] for p, t in zip(preds, batch["params"])])
    position = np.mean(
        [
            np.hypot(p["objects"][0]["x"] - t["objects"][0]["x"], p["objects"][0]["y"] - t["objects"][0]["y"]) * 32
            for p, t in zip(preds, batch["params"])
        ]
    )
    assert shapes >= 0.95 and position < 1.0
    assert all(len(p["objects"]) == 1 for p in preds)


def test_inspect_cli_json_contradictions_and_bad_files(coffee, tmp_path, capsys):
    crop = coffee[:, :192, :192]
    write_image(
        tmp_path / "noisy.png",
        apply_chain(crop, {**IDENTITY, "noise_sigma": 30.0}, seed=0),
        provenance={"operation": "test", "noise_sigma": 0},
    )
    Image.fromarray((crop.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=80)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "photo.png", crop)  # the same stem as photo.jpg: its own heatmap
    bad = Image.new("RGB", (8, 8))
    bad.save(tmp_path / "text.png", pnginfo=_pnginfo("darkroom", "{not json"))
    code = main(
        ["inspect", str(tmp_path), "--json", "--report", str(tmp_path / "r.html"), "--heatmap", str(tmp_path / "maps")]
    )
    results = {r["path"].split("/")[-1]: r for r in json.loads(capsys.readouterr().out)}
    broken = results.pop("broken.png")  # a failure is listed as {"path", "error"}
    assert set(broken) == {"path", "error"} and broken["error"] and "\n" not in broken["error"]
    assert code == 1 and set(results) == {"noisy.png", "photo.jpg", "photo.png", "text.png"}
    for r in results.values():
        assert set(r) >= {"path", "generated", "processing", "tamper", "scene", "model_parsing", "provenance"}
    assert results["photo.jpg"]["processing"]["jpeg_quality"] == 80
    assert any("noise_sigma" in c for c in results["noisy.png"]["contradictions"])
    assert results["text.png"]["provenance"]["malformed"] is True
    photo_generated = results["photo.jpg"]["generated"]
    # a JPEG is read by the detector trained on recompressed crops, and the verdict says how weak it is there
    assert photo_generated["detector"] == "gendetect-jpeg" and 0 <= photo_generated["prob"] <= 1
    assert "JPEG-compressed (q80): read by the JPEG expert" in photo_generated["notes"][0]
    for r in results.values():  # JPEG traces in the pixels route to the expert too (coffee was once a JPEG)
        if r["generated"]["detector"].startswith("gendetect"):
            looks_jpeg = r["processing"]["jpeg_quality"] is not None
            assert r["generated"]["detector"] == ("gendetect-jpeg" if looks_jpeg else "gendetect")
    assert results["photo.jpg"]["model_parsing"] is None
    assert results["text.png"]["generated"]["detector"] == "modelparse"  # small: read by the zoo parser
    assert results["text.png"]["tamper"]["score"] is None and "not analysed" in results["text.png"]["tamper"]["note"]
    heatmap = Image.open(results["noisy.png"]["tamper"]["heatmap"])
    assert heatmap.size == (192, 192) and 0 <= results["noisy.png"]["tamper"]["score"] <= 1
    maps = {results[name]["tamper"]["heatmap"] for name in ("photo.jpg", "photo.png")}
    assert len(maps) == 2 and all(Path(m).is_file() for m in maps)
    mask = Image.open(results["noisy.png"]["tamper"]["mask"])  # the probability itself, gray, the image's size
    assert mask.mode == "L" and mask.size == (192, 192) and results["noisy.png"]["tamper"]["mask"].endswith(".mask.png")
    assert results["text.png"]["tamper"]["mask"] is None
    assert (tmp_path / "r.html").read_text().count("<tr>") == 4


def test_detector_caveats_follow_the_processing_estimate():
    from darkroom.ops.inspect import detector_caveats

    clean = {"noise_sigma": 1.0, "jpeg_quality": None, "blur_sigma": 0.1}
    assert detector_caveats(clean) == []
    assert ["near chance" in n for n in detector_caveats({**clean, "jpeg_quality": 90})] == [True]
    assert ["JPEG expert" in n for n in detector_caveats({**clean, "jpeg_quality": 90}, "gendetect-jpeg")] == [True]
    assert ["blurred" in n for n in detector_caveats({**clean, "blur_sigma": 1.5})] == [True]


def _pnginfo(key, value):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def test_spectrum_profile_sees_upsampling(coffee):
    from darkroom.forensics.classical import spectrum_profile

    crop = coffee[:, :128, :128]
    up = torch.nn.functional.interpolate(crop[None, :, :64, :64], scale_factor=2, mode="nearest")[0]
    a, b = spectrum_profile(crop), spectrum_profile(up)
    assert a.shape == (64,) and 0 <= a.min() and a.max() <= 1
    assert np.abs(a - b).mean() > 0.02  # nearest-neighbour upsampling reshapes the high frequencies
