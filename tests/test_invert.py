import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from darkroom.cli import main
from darkroom.io import read_provenance
from darkroom.models import load_run
from darkroom.ops.edit import latents
from darkroom.ops.invert import invert
from darkroom.ops.training import run_training


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    root = tmp_path_factory.mktemp("invert")
    run_training(
        "latentenc",
        "digits:size=32",
        root / "enc",
        {"generator": "cgan-digits", "width": "4", "stages": "2", "batch_size": "8"},
        flags={"steps": 2},
        progress=False,
        print_fn=lambda *a: None,
    )
    return root / "enc"


def test_inversion_recovers_an_image_the_generator_made():
    generator = load_run("cgan-digits")[0]
    z = torch.randn(1, generator.config.latent_dim, generator=torch.Generator().manual_seed(3))
    target = generator.generate(z, 4)[0].detach()
    found = invert("cgan-digits", target, steps=150, candidates=32)
    assert found.label == 4  # chosen with the start, no --label given
    assert found.psnr > found.psnr_start + 3 and found.psnr > 25


def test_wrong_size_image_is_resized_with_a_warning():
    found = invert("cgan-digits", torch.rand(3, 40, 50), steps=2, candidates=4, label=1)
    assert found.result.shape == (1, 32, 32) and "resized" in found.warnings[0]


def test_latent_encoder_saves_only_itself_and_warm_starts(encoder, tmp_path):
    weights = load_file(str(encoder / "model.safetensors"))
    assert weights and not any("generator" in k or k.startswith("_") for k in weights)
    generator = load_run("cgan-digits")[0]
    assert sum(v.numel() for v in weights.values()) < sum(p.numel() for p in generator.G.parameters())
    Image.fromarray((np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)).save(tmp_path / "x.png")
    assert (
        main(
            [
                "edit",
                "invert",
                "cgan-digits",
                "--image",
                str(tmp_path / "x.png"),
                "--encoder",
                str(encoder),
                "--steps",
                "3",
                "--label",
                "2",
                "--out",
                str(tmp_path / "inv.png"),
            ]
        )
        == 0
    )
    provenance = read_provenance(tmp_path / "inv.png")
    assert provenance["label"] == 2 and len(provenance["latent"]) == generator.config.latent_dim
    assert provenance["psnr"] > 0


def test_invert_errors(tmp_path, capsys):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "x.png")
    assert (
        main(["edit", "invert", "denoise", "--image", str(tmp_path / "x.png"), "--out", str(tmp_path / "o.png")]) == 2
    )
    assert "not a GAN" in capsys.readouterr().err
    assert (
        main(
            [
                "edit",
                "invert",
                "cgan-digits",
                "--image",
                str(tmp_path / "x.png"),
                "--encoder",
                "denoise",
                "--out",
                str(tmp_path / "o.png"),
            ]
        )
        == 2
    )
    assert "not a latent encoder" in capsys.readouterr().err
    assert (
        main(["edit", "invert", "cgan-digits", "--image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o.png")])
        == 2
    )


def test_conditional_latents_get_random_labels():
    generator = load_run("cgan-digits")[0]
    z, labels = latents(generator, 200, seed=0)
    assert z.shape == (200, generator.config.latent_dim) and len(set(labels.tolist())) == 10
    assert latents(generator, 5, seed=0, label=3)[1] == 3
