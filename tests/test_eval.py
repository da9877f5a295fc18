import json
from pathlib import Path

import pytest
import torch

from darkroom.cli import main
from darkroom.metrics import generation as gm
from darkroom.models import build_model, resolve_config
from darkroom.ops.training import run_training


def quiet(*args):
    pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run_training(
        "classifier",
        "digits:size=16",
        root / "clf",
        {"width": "4", "downsamples": "2", "feature_dim": "8", "batch_size": "32"},
        flags={"steps": 20},
        progress=False,
        print_fn=quiet,
    )
    run_training(
        "cgan",
        "digits:size=16",
        root / "cgan",
        {"width": "4", "d_width": "4", "latent_dim": "8", "batch_size": "8"},
        flags={"steps": 2},
        progress=False,
        print_fn=quiet,
    )
    return root


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return build_model(
        "classifier",
        resolve_config(
            "classifier",
            {"width": "4", "downsamples": "2", "feature_dim": "8"},
            {"channels": 1, "image_size": [16, 16], "num_classes": 10},
        ),
    ).eval()


def test_identical_sets_score_perfectly(extractor):
    images = torch.rand(64, 1, 16, 16)
    assert abs(gm.fid(images, images, extractor)) < 1e-3
    kid_mean, _ = gm.kid(images, images, extractor, subsets=5, subset_size=32)
    assert abs(kid_mean) < 0.05
    assert gm.precision_recall(images, images, extractor) == (1.0, 1.0)


def test_metrics_separate_different_distributions(extractor):
    torch.manual_seed(1)
    real = torch.rand(64, 1, 16, 16)
    near = (real + 0.02 * torch.randn_like(real)).clamp(0, 1)
    far = torch.zeros(64, 1, 16, 16) + torch.linspace(0, 1, 16)  # gradients only
    assert gm.fid(real, near, extractor) < gm.fid(real, far, extractor)
    precision_far, recall_far = gm.precision_recall(real, far, extractor)
    assert recall_far < 0.5
    with pytest.raises(ValueError, match="N >= 2"):
        gm.fid(real[:1], near, extractor)


def test_eval_cli_states_extractor_and_counts(runs, capsys):
    assert (
        main(
            [
                "eval",
                "fid",
                "--real",
                "digits:size=16,split=val",
                "--fake",
                str(runs / "cgan"),
                "-n",
                "60",
                "--extractor",
                str(runs / "clf"),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["fid"] > 0 and result["real_count"] == 60 and result["fake_count"] == 60
    assert result["reference_split"] == "val" and "not Inception" in result["note"]
    assert (
        main(
            [
                "eval",
                "coverage",
                "--real",
                "digits:size=16,split=val",
                "--fake",
                str(runs / "cgan"),
                "-n",
                "20",
                "--extractor",
                str(runs / "clf"),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert 0 <= result["label_accuracy"] <= 1 and len(result["per_label"]) == 10


def test_eval_on_a_folder_of_images(runs, tmp_path, capsys):
    main(["sample", str(runs / "cgan"), "-n", "12", "--out", str(tmp_path / "imgs"), "--label", "3"])
    assert (
        main(
            [
                "eval",
                "pr",
                "--real",
                "digits:size=16",
                "--fake",
                str(tmp_path / "imgs"),
                "-n",
                "12",
                "--extractor",
                str(runs / "clf"),
            ]
        )
        == 0
    )
    assert "precision" in capsys.readouterr().out


def test_eval_errors(runs, capsys):
    assert main(["eval", "fid", "--real", "photos", "--fake", str(runs / "cgan")]) == 2
    assert "feature extractor" in capsys.readouterr().err
    assert (
        main(
            ["eval", "fid", "--real", "digits:size=16", "--fake", str(runs / "cgan"), "--extractor", str(runs / "cgan")]
        )
        == 2
    )
    assert "not a feature extractor" in capsys.readouterr().err


def test_eval_missing_run_fails_before_reading_real_images(monkeypatch):
    import darkroom.ops.evaluate as ev

    monkeypatch.setattr(ev, "real_images", lambda *a: pytest.fail("read the real images first"))
    with pytest.raises(ValueError, match="no such run folder"):
        ev.evaluate("fid", "digits:size=16", "no-such-run")


def test_shipped_digits_extractor_is_accurate():
    from darkroom.data import load_dataset
    from darkroom.models import load_run

    model, card = load_run("features-digits")
    assert card["model"] == "classifier" and card["sha256"]
    data = load_dataset("digits:size=32,split=test")
    images = torch.stack([data[i]["image"] for i in range(len(data))])
    labels = torch.tensor([data[i]["label"] for i in range(len(data))])
    accuracy = float((gm.predicted_labels(images, model) == labels).float().mean())
    assert accuracy > 0.95


def test_damaged_shipped_weights_are_refused(tmp_path, monkeypatch):
    import shutil

    import darkroom.weights
    from darkroom.models import load_run

    for suffix in (".json", ".safetensors"):
        shutil.copy(darkroom.weights.WEIGHTS_DIR / f"features-digits{suffix}", tmp_path / f"features-digits{suffix}")
    data = bytearray((tmp_path / "features-digits.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "features-digits.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(darkroom.weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="checksum"):
        load_run("features-digits")
    with pytest.raises(ValueError, match="no such run folder or shipped weights"):
        load_run("nonexistent-weights")


def test_paired_psnr_ssim(tmp_path, capsys):
    from darkroom.io import write_image

    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    torch.manual_seed(0)
    clean = torch.rand(3, 32, 32)
    write_image(tmp_path / "ref" / "a.png", clean)
    write_image(tmp_path / "ref" / "b.png", clean)
    write_image(tmp_path / "out" / "a.png", clean)  # identical: infinite PSNR, SSIM 1
    shifted = (clean + 0.1).clamp(0, 1)
    write_image(tmp_path / "out" / "b.png", shifted)
    write_image(tmp_path / "out" / "lonely.png", clean)
    assert main(["eval", "ssim", "--real", str(tmp_path / "ref"), "--fake", str(tmp_path / "out"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 2 and result["unmatched"] == 1 and abs(result["per_image"]["a"] - 1) < 1e-9
    assert (
        main(["eval", "psnr", "--real", str(tmp_path / "ref"), "--fake", str(tmp_path / "out" / "b.png"), "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    quantized = (shifted * 255).round() / 255 - (clean * 255).round() / 255
    expected = -10 * float(torch.log10(quantized.pow(2).mean()))
    assert abs(result["mean"] - expected) < 0.01


def test_label_total_variation_is_zero_for_the_same_mix_and_one_for_disjoint_classes():
    class Brightness(torch.nn.Module):  # class 0 for dark images, 1 for bright ones
        def forward(self, x):
            mean = x.flatten(1).mean(1)
            return torch.stack([0.5 - mean, mean - 0.5], 1)

    dark, bright = torch.zeros(6, 1, 8, 8), torch.ones(6, 1, 8, 8)
    half = torch.cat([dark[:3], bright[:3]])
    distance, real_hist, fake_hist = gm.label_total_variation(half, half.flip(0), Brightness(), 3)
    assert distance == 0 and real_hist.tolist() == [0.5, 0.5, 0.0]
    assert gm.label_total_variation(dark, bright, Brightness(), 2)[0] == 1
    assert gm.label_total_variation(half, dark, Brightness(), 2)[0] == pytest.approx(0.5)


NOTMNIST = Path(__file__).parents[1].parent / "shared" / "notmnist"


@pytest.mark.skipif(not NOTMNIST.is_dir(), reason="../shared/notmnist is absent")
def test_shipped_notmnist_extractor_reads_letters_it_never_trained_on():
    from darkroom.data import load_dataset
    from darkroom.models import load_run

    model, card = load_run("features-notmnist")
    data = load_dataset(f"mnist:{NOTMNIST},size=32,split=test")
    images = torch.stack([data[i]["image"] for i in range(len(data))])
    labels = torch.tensor([data[i]["label"] for i in range(len(data))])
    assert float((gm.predicted_labels(images, model) == labels).float().mean()) > 0.9


def test_shipped_notmnist_gan_samples_letters_the_extractor_reads_as_all_ten():
    from darkroom.models import load_run

    gan, card = load_run("gan-notmnist")
    assert card["model_config"]["lean"] and card["data"].startswith("mnist:")
    images = gan.sample(200, generator=torch.Generator().manual_seed(0))
    assert images.shape == (200, 1, 32, 32) and 0 <= float(images.min()) <= float(images.max()) <= 1
    extractor, _ = load_run("features-notmnist")
    assert len(set(gm.predicted_labels(images, extractor).tolist())) == 10  # no mode collapse


def test_eval_fid_on_other_data_trains_an_extractor_once_and_says_which(runs, tmp_path, monkeypatch, capsys):
    import numpy as np

    from darkroom.ops import evaluate as ev
    from tests.test_data import _idx

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ev, "_extractor_steps", lambda model: 3)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (300, 28, 28))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.arange(300) % 3))
    spec = f"mnist:{tmp_path},size=16"
    assert ev.default_extractor("mnist:../shared/notmnist,size=32") == "features-notmnist"
    assert ev.default_extractor("digits:size=32") == "features-digits"
    argv = ["eval", "fid", "--real", spec, "--fake", str(runs / "cgan"), "-n", "40", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "training a feature extractor" in captured.err  # stdout stays one JSON document
    first = json.loads(captured.out)["extractor"]
    assert "extractors" in first  # not the digits extractor
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "training a feature extractor" not in captured.err and json.loads(captured.out)["extractor"] == first


def test_eval_fid_on_unlabelled_photos_trains_a_simclr_extractor(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    from darkroom.ops import evaluate as ev

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ev, "_extractor_steps", lambda model: 3)
    rng = np.random.default_rng(0)
    for folder, count in (("real", 100), ("fake", 20)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{i:03d}.png")
    spec = f"folder:{tmp_path / 'real'},size=16"
    argv = ["eval", "fid", "--real", spec, "--fake", str(tmp_path / "fake"), "-n", "20", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "SimCLR encoder (the data have no labels)" in captured.err
    result = json.loads(captured.out)
    assert result["fake_count"] == 20 and result["fid"] >= 0
    assert json.loads((Path(result["extractor"]) / "run.json").read_text())["model"] == "simclr"
    assert main(["eval", "coverage", "--real", spec, "--fake", str(tmp_path / "fake")]) == 2
    assert "coverage reads labels" in capsys.readouterr().err
