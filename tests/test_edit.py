import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.cli import main
from darkroom.io import read_image, read_provenance
from darkroom.models import load_run
from darkroom.ops.edit import sefa_directions, slerp
from darkroom.ops.training import run_training


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("edit")
    quiet = lambda *a: None  # noqa: E731
    run_training(
        "vae",
        "digits:size=16",
        root / "vae",
        {"width": "4", "latent_dim": "6", "downsamples": "2", "batch_size": "16"},
        flags={"steps": 3},
        progress=False,
        print_fn=quiet,
    )
    run_training(
        "cgan",
        "digits:size=16",
        root / "cgan",
        {"width": "4", "d_width": "4", "latent_dim": "8", "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    run_training(
        "dcgan",
        "digits:size=16",
        root / "dcgan",
        {"width": "4", "latent_dim": "8", "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    return root


def test_slerp_keeps_norm_and_ends():
    a, b = torch.randn(2, 64)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    norms = path.norm(dim=1)
    assert norms.min() > 0.9 * min(a.norm(), b.norm())  # lerp would dip towards the origin


def test_sefa_recovers_known_directions(runs):
    model, _ = load_run(runs / "cgan")
    latent = model.config.latent_dim
    assert latent == 8
    hadamard = torch.tensor([[1.0]])
    for _ in range(3):
        hadamard = torch.cat([torch.cat([hadamard, hadamard], 1), torch.cat([hadamard, -hadamard], 1)])
    q = hadamard / 8**0.5  # entries of equal size: every column of W below has the same norm, so SeFa's
    scales = torch.linspace(3, 0.1, latent)  # column normalisation leaves the spectrum as built
    torch.manual_seed(0)
    with torch.no_grad():
        model.G.embed.weight[:, :latent].copy_(  # the label's one-hot columns (label_input) stay as trained
            torch.linalg.qr(torch.randn(model.G.embed.weight.shape[0], latent))[0] @ torch.diag(scales) @ q.T
        )
    vectors, values = sefa_directions(model, 2)
    assert values[0] >= values[1]
    for k in range(2):
        assert abs(float(vectors[k] @ q[:, k])) > 0.9


def test_interpolate_writes_strip_and_gif(runs, tmp_path):
    assert main(["edit", "interpolate", str(runs / "vae"), "--out", str(tmp_path / "s.png"), "--steps", "6"]) == 0
    strip = read_image(tmp_path / "s.png")
    assert strip.shape[2] > 5 * strip.shape[1] // 2  # a row of 6 tiles
    assert read_provenance(tmp_path / "s.png")["method"] == "lerp"
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 10  # there and back
    assert main(["edit", "interpolate", str(runs / "cgan"), "--out", str(tmp_path / "c.png"), "--label", "4"]) == 0
    assert read_provenance(tmp_path / "c.png")["method"] == "slerp"


def test_directions_and_attribute(runs, tmp_path):
    for run in ("dcgan", "vae"):
        assert main(["edit", "directions", str(runs / run), "--out", str(tmp_path / f"{run}.png"), "--count", "3"]) == 0
        assert read_image(tmp_path / f"{run}.png").shape[1] > 3 * 16
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "x.png")
    assert (
        main(
            [
                "edit",
                "attribute",
                str(runs / "vae"),
                "--image",
                str(tmp_path / "x.png"),
                "--data",
                "digits",
                "--label",
                "1",
                "--out",
                str(tmp_path / "a.png"),
            ]
        )
        == 0
    )
    assert read_provenance(tmp_path / "a.png")["label"] == 1


def test_edit_errors(runs, tmp_path, capsys):
    assert main(["edit", "interpolate", str(runs / "cgan"), "--out", str(tmp_path / "c.png")]) == 2
    assert "needs --label" in capsys.readouterr().err
    assert (
        main(
            [
                "edit",
                "attribute",
                str(runs / "dcgan"),
                "--image",
                "x.png",
                "--data",
                "digits",
                "--label",
                "1",
                "--out",
                str(tmp_path / "a.png"),
            ]
        )
        == 2
    )
    assert "unconditional vae" in capsys.readouterr().err


def test_pca_directions_follow_the_dominant_activation_axis(runs):
    from darkroom.ops.edit import pca_directions

    model, _ = load_run(runs / "dcgan")
    vectors, variances = pca_directions(model, 3, n=400)
    assert vectors.shape == (3, model.config.latent_dim) and torch.allclose(vectors.norm(dim=1), torch.ones(3))
    assert variances[0] >= variances[1] >= variances[2]


def test_svm_direction_separates_by_a_planted_label(runs, monkeypatch):
    from darkroom.ops import edit

    model, _ = load_run(runs / "dcgan")
    secret = torch.randn(model.config.latent_dim)
    secret /= secret.norm()
    # a labeller that reads the latent back through a planted rule: the SVM normal must find that axis
    latents = []
    monkeypatch.setattr(edit, "_decode", lambda m, z, label: latents.append(z) or z)
    monkeypatch.setattr(edit, "image_labeller", lambda target: lambda z, run: z @ secret > 0)
    normal, accuracy = edit.svm_direction(model, runs / "dcgan", "planted", n=1000)
    assert accuracy > 0.9 and float(normal @ secret) > 0.9


def test_directions_cli_methods(runs, tmp_path):
    assert (
        main(
            [
                "edit",
                "directions",
                str(runs / "dcgan"),
                "--method",
                "pca",
                "--count",
                "2",
                "--out",
                str(tmp_path / "pca.png"),
            ]
        )
        == 0
    )
    assert read_provenance(tmp_path / "pca.png")["method"] == "pca"
    assert (
        main(
            [
                "edit",
                "directions",
                str(runs / "cgan"),
                "--label",
                "1",
                "--method",
                "svm",
                "--target",
                "nope",
                "--out",
                str(tmp_path / "svm.png"),
            ]
        )
        == 2
    )


def test_conditioned_direction_leaves_the_kept_labels_alone(runs, monkeypatch, tmp_path):
    from darkroom.ops import edit

    size, x = torch.zeros(8), torch.zeros(8)
    size[:2] = torch.tensor([0.8, 0.6])  # "size" is entangled with "x" (axis 0)
    x[0] = 1.0
    moved = edit.conditioned(size, [x])
    assert abs(float(moved @ x)) < 1e-6 and float(moved[1]) == pytest.approx(1.0)
    assert torch.equal(edit.conditioned(size, []), size)
    with pytest.raises(ValueError, match="span"):
        edit.conditioned(x, [x])
    # through the CLI: planted labels on two latent axes; the kept one must not move
    model, _ = load_run(runs / "dcgan")
    axes = torch.eye(model.config.latent_dim)
    planted = {"scene:size": (axes[0] + axes[1]) / 2**0.5, "scene:x": axes[0]}
    used = []
    monkeypatch.setattr(edit, "_decode", lambda m, z, label: used.append(z) or model.generate(z))
    monkeypatch.setattr(edit, "svm_direction", lambda m, r, t, label=None, seed=0: (planted[t], 1.0))
    assert (
        main(
            [
                "edit",
                "directions",
                str(runs / "dcgan"),
                "--method",
                "svm",
                "--target",
                "scene:size",
                "--keep",
                "scene:x",
                "--out",
                str(tmp_path / "kept.png"),
            ]
        )
        == 0
    )
    steps = used[-1][1:] - used[-1][:-1]  # one row: the same latent moved along the conditioned direction
    assert float(steps[:, 0].abs().max()) < 1e-5 and float(steps[:, 1].abs().min()) > 0.1
    assert read_provenance(tmp_path / "kept.png")["keep"] == ["scene:x"]
    assert (
        main(
            [
                "edit",
                "directions",
                str(runs / "dcgan"),
                "--method",
                "pca",
                "--keep",
                "scene:x",
                "--out",
                str(tmp_path / "bad.png"),
            ]
        )
        == 2
    )
