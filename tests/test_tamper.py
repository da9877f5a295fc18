"""Tampering tools, tamper maps, the tamper localizer, `darkroom edit local` and the `tampered` data."""

import json

import numpy as np
import pytest
import torch

from darkroom.cli import main
from darkroom.data import collate, load_dataset
from darkroom.data.base import to_tensor
from darkroom.data.photos import skimage_photo
from darkroom.data.tamper import EDITS, FRAME_PASTS, frame_history, normalized_fill, postprocess, region_mask, tamper
from darkroom.forensics.tampermap import best_f1, ela_map, localize, noise_map, pixel_scores
from darkroom.io import read_image, write_image
from darkroom.models import build_model, resolve_config


@pytest.fixture(scope="module")
def host():
    return to_tensor(skimage_photo("coffee"))[:, :128, :160]


@pytest.fixture(scope="module")
def donor():
    return to_tensor(skimage_photo("astronaut"))[:, :128, :160]


@pytest.mark.parametrize("edit", EDITS)
def test_every_edit_changes_only_inside_its_mask(edit, host, donor):
    edited, mask, params = tamper(host, np.random.default_rng(0), edit, donor=donor)
    assert edited.shape == host.shape and mask.shape == (1, 128, 160) and params["edit"] == edit
    assert 0 < mask.mean() < 0.5
    outside = (edited - host).abs().amax(0)[mask[0] == 0]
    assert outside.max() <= 1.5 / 255 + 1e-6  # the edit stays in its mask (up to 8-bit rounding)
    inside = (edited - host).abs().amax(0)[mask[0] == 1]
    assert inside.mean() > 0.5 / 255 or edit == "copymove"  # a moved region may look like what it covers
    json.dumps(params)


def test_tamper_is_seeded_and_checks_its_input(host, donor):
    a = tamper(host, np.random.default_rng(5), donor=donor)
    b = tamper(host, np.random.default_rng(5), donor=donor)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    with pytest.raises(ValueError, match="donor"):
        tamper(host, np.random.default_rng(0), "splice")
    with pytest.raises(ValueError, match="edit must be"):
        tamper(host, np.random.default_rng(0), "warp")


def test_copymove_takes_the_warp_asked_for(host):
    _, mask, params = tamper(host, np.random.default_rng(3), "copymove", warp=(25.0, 1.2))
    assert params["angle"] == 25.0 and params["scale"] == 1.2
    _, same, _ = tamper(host, np.random.default_rng(3), "copymove")
    assert torch.equal(mask, same)  # the same draw otherwise: only the warp differs


def test_region_masks_and_fill(host):
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = region_mask(64, 96, rng, (0.05, 0.1))
        assert 0.02 < m.mean() < 0.2
    mask = torch.zeros(1, 128, 160)
    mask[:, 40:80, 50:110] = 1
    filled = normalized_fill(host, mask)
    assert torch.equal(filled[:, mask[0] == 0], host[:, mask[0] == 0])
    assert (filled[:, 60, 80] - host[:, 60, 80]).abs().max() < 0.5


def test_postprocess_keeps_mask_aligned(host):
    mask = torch.zeros(1, 128, 160)
    mask[:, :64] = 1
    image, out_mask, params = postprocess(host, mask, np.random.default_rng(0), p_jpeg=1.0, p_resize=1.0)
    assert image.shape[-2:] == out_mask.shape[-2:] and "jpeg_quality" in params and params["resize_factor"] < 1
    assert abs(out_mask.mean() - 0.5) < 0.05


def test_classical_maps_light_up_a_noisy_region(host):
    noisy = host.clone()
    noisy[:, 32:96, 40:120] = (noisy[:, 32:96, 40:120] + torch.randn(3, 64, 80) * 20 / 255).clamp(0, 1)
    truth = torch.zeros(1, 128, 160)
    truth[:, 32:96, 40:120] = 1
    for fn in (noise_map, ela_map):
        prob = fn(noisy)
        assert prob.shape == (1, 128, 160) and 0 <= prob.min() and prob.max() <= 1
        assert prob[truth == 1].mean() > prob[truth == 0].mean()
    assert pixel_scores(truth, truth)["f1"] == 1.0
    assert best_f1(truth.numpy() * 0.7, truth.numpy()) == 1.0


def test_tamper_model_trains_and_localizes_in_tiles():
    config = resolve_config("tamper", {"width": 4, "levels": 2, "cap": 8}, {"channels": 3, "image_size": [32, 32]})
    model = build_model("tamper", config)
    data = load_dataset("photos:patch=64", limit=6)
    samples = [model.sample_transform(data[i], np.random.default_rng(i)) for i in range(6)]
    batch = collate(samples)
    out = model.loss(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and set(batch["edit"]) - {"clean"} <= set(EDITS)
    model.eval()
    prob = localize(torch.rand(3, 150, 700), model, tile=128, overlap=32)
    assert prob.shape == (1, 150, 700) and 0 <= prob.min() and prob.max() <= 1


def test_training_photos_get_a_uniform_past_before_the_edit(host):
    from darkroom.models.tamper import TamperSample

    for key in ("host_prob", "gray_prob", "jpeg_prob", "frame_prob"):
        with pytest.raises(ValueError, match="host_prob, gray_prob, jpeg_prob and frame_prob"):
            resolve_config("tamper", {key: "1.5"}, {"channels": 3, "image_size": [32, 32]})
    sample = {"image": host}
    plain = TamperSample(clean_prob=1.0, jpeg_prob=0.0)(sample, np.random.default_rng(0))
    assert torch.equal(plain["image"], host) and plain["mask"].sum() == 0
    recompressed = TamperSample(clean_prob=1.0, jpeg_prob=1.0)(sample, np.random.default_rng(0))
    assert "jpeg_quality" in recompressed["post"] and not torch.equal(recompressed["image"], host)
    gray = TamperSample(clean_prob=1.0, gray_prob=1.0)(sample, np.random.default_rng(0))["image"]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert abs(float(gray.mean() - host.mean())) < 0.05  # luma, not a blank frame
    rng = np.random.default_rng(3)
    pasts = [TamperSample(clean_prob=1.0, host_prob=1.0)(sample, rng) for _ in range(6)]
    assert all(p["mask"].sum() == 0 and p["label"] == 0 for p in pasts)  # still untouched: nothing to find
    assert sum(not torch.equal(p["image"], host) for p in pasts) >= 4  # almost every history changes pixels
    # an edit after the history is still found where it was made
    edited = TamperSample(clean_prob=0.0, host_prob=1.0)
    edited.seen = [host.flip(-1)]
    out = edited(sample, np.random.default_rng(1))
    assert out["label"] == 1 and out["mask"].sum() > 0


def test_frame_pasts_keep_the_size_and_stay_untouched(host):
    from darkroom.models.tamper import TamperSample

    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(12):
        out, params = frame_history(host, rng)
        kinds.add(params["frame"])
        assert out.shape == host.shape and 0 < float((out - host).abs().mean()) < 0.1
        assert torch.equal((out * 255).round() / 255, out)  # 8-bit, as a saved file
    assert kinds == set(FRAME_PASTS)
    gray = host.mean(0, keepdim=True).expand(3, -1, -1)
    for seed in range(6):
        out, _ = frame_history(gray, np.random.default_rng(seed))
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])  # a gray photo stays gray
    enlarged = [frame_history(host, np.random.default_rng(s)) for s in range(40)]
    nearest = next(x for x, p in enlarged if p.get("mode") == "nearest")
    assert (nearest[:, :, 1:] == nearest[:, :, :-1]).float().mean() > 0.3  # repeated columns
    pasts = [TamperSample(clean_prob=1.0, frame_prob=1.0)({"image": host}, rng) for _ in range(4)]
    assert all(p["mask"].sum() == 0 and p["label"] == 0 and not torch.equal(p["image"], host) for p in pasts)


def test_training_windows_show_photos_at_several_densities():
    from darkroom.models.tamper import TamperSample

    with pytest.raises(ValueError, match="crop must be"):
        resolve_config("tamper", {"crop": "64"}, {"channels": 3, "image_size": [32, 32]})
    ramp = torch.linspace(0, 1, 128).expand(3, 128, 128)  # brightness = x / 127
    sample, rng = TamperSample(clean_prob=0.999, crop=64, jpeg_prob=0.0), np.random.default_rng(0)
    spans = []
    for _ in range(12):
        out = sample({"image": ramp}, rng)
        assert out["image"].shape == (3, 64, 64) and out["mask"].shape == (1, 64, 64)
        spans.append(float((out["image"][:, 8:-8, -9] - out["image"][:, 8:-8, 8]).mean()))
    # a window 64 px wide shows 47 px of the ramp (span 0.37) unshrunk, up to twice that shrunk by 2
    assert all(0.35 < v < 0.77 for v in spans) and max(spans) - min(spans) > 0.15


def test_image_prob_applies_the_cards_calibration():
    data = {"channels": 3, "image_size": [32, 32]}
    plain = build_model("tamper", resolve_config("tamper", {"width": 4, "levels": 2, "cap": 8}, data))
    maps = torch.stack([torch.full((1, 20, 20), v) for v in (0.3, 0.6, 0.97)])
    assert torch.allclose(plain.image_prob(maps), plain.image_score(maps), atol=1e-5)  # default: as is
    # the shipped calibration moves the threshold: a raw 0.6 is no longer an edit, a raw 0.97 still is
    shipped = build_model(
        "tamper",
        resolve_config("tamper", {"width": 4, "levels": 2, "cap": 8, "score_slope": 0.4, "score_shift": -1.1}, data),
    )
    prob = shipped.image_prob(maps)
    assert prob[1] < 0.5 < prob[2] and bool((prob.diff() > 0).all())


def test_shipped_tamper_card_is_calibrated():
    from darkroom.models import load_run

    model, card = load_run("tamper")
    assert model.config.score_slope != 1.0 and card["calibration"]["untouched"] > 0
    assert card["calibration"]["untouched_above_half"] < card["calibration"]["raw_untouched_above_half"]


def test_shipped_tamper_does_not_read_noise_all_over_as_an_edit():
    from darkroom.models import load_run

    model, _ = load_run("tamper")
    photo = to_tensor(skimage_photo("rocket"))  # a validation photo: never trained on
    noisy = (
        (photo + torch.randn(photo.shape, generator=torch.Generator().manual_seed(0)) * 8 / 255).clamp(0, 1) * 255
    ).round() / 255
    prob = localize(noisy, model)
    # the stage-3 model put 19 % of these pixels above 0.5: noise everywhere read as the local-noise edit
    assert float((prob > 0.5).float().mean()) < 0.05 and float(model.image_prob(prob[None])[0]) < 0.5


def test_edit_local_cli_writes_masks_and_jsonl(host, donor, tmp_path):
    write_image(tmp_path / "in" / "a.png", host)
    write_image(tmp_path / "in" / "b.png", donor)
    write_image(tmp_path / "in" / "sub" / "a.png", donor)  # the same stem as in/a.png: its own outputs
    code = main(
        [
            "edit",
            "local",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--edit",
            "splice",
            "--jpeg",
            "80",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "edits.jsonl").read_text().splitlines()]
    assert [r["edit"] for r in records] == ["splice"] * 3 and records[0]["jpeg_quality"] == 80
    assert [(r["file"], r["mask"]) for r in records] == [
        ("a.png", "a.mask.png"),
        ("b.png", "b.mask.png"),
        ("a-2.png", "a-2.mask.png"),
    ]
    assert all((tmp_path / "out" / r["file"]).is_file() and (tmp_path / "out" / r["mask"]).is_file() for r in records)
    mask = read_image(tmp_path / "out" / "a.mask.png", grayscale=True)
    assert mask.shape[-2:] == host.shape[-2:] and 0 < mask.mean() < 0.5
    assert (
        main(["edit", "local", str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "o2"), "--edit", "splice"]) == 1
    )  # a lone image has nothing to splice from: reported, not raised


def test_tampered_data_exports_masks(tmp_path):
    data = load_dataset("tampered:patch=64,split=val", limit=4)
    sample = data[0]
    assert sample["mask"].shape == (1, 64, 64) and "edit" in sample["params"]
    assert main(["data", "export", "tampered:patch=64,split=val", "--out", str(tmp_path), "-n", "3"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert all((tmp_path / r["mask"]).is_file() for r in lines)
