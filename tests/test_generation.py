import contextlib
import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from darkroom.cli import main
from darkroom.io import read_image, read_provenance
from darkroom.losses import batch_diversity, discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from darkroom.models import build_model, load_run, resolve_config
from darkroom.ops.training import run_training

DIGITS = {"channels": 1, "image_size": [16, 16], "num_classes": 10}
SMALL = {
    "vae": {"width": "4", "latent_dim": "4", "downsamples": "2"},
    "cvae": {"width": "4", "latent_dim": "4", "downsamples": "2"},
    "dcgan": {"width": "4", "latent_dim": "8"},
    "gan": {"width": "4", "d_width": "4", "latent_dim": "8"},
    "cgan": {"width": "4", "d_width": "4", "latent_dim": "8"},
}


def quiet(*args):
    pass


@pytest.mark.parametrize("name", list(SMALL))
def test_models_build_sample_and_lose(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, SMALL[name], DIGITS))
    batch = {"image": torch.rand(4, 1, 16, 16), "label": torch.tensor([0, 1, 2, 9])}
    labels = 3 if getattr(model, "conditional", False) else None
    images = model.eval().sample(5, labels)
    assert images.shape == (5, 1, 16, 16) and 0 <= images.min() and images.max() <= 1
    model.train()
    phases = list(model.phases()) if hasattr(model, "phases") else [None]
    for phase in phases:
        out = model.loss(batch) if phase is None else model.loss(batch, phase=phase)
        assert out["loss"].ndim == 0 and out["loss"].requires_grad
        out["loss"].backward()


@pytest.mark.parametrize("name", ["dcgan", "gan", "cgan"])
def test_a_gan_step_runs_the_generator_once_as_the_textbook_loop_does(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, SMALL[name], DIGITS)).train()
    calls = []
    model.G.register_forward_hook(lambda m, i, o: calls.append(o))
    batch = {"image": torch.rand(4, 1, 16, 16), "label": torch.tensor([0, 1, 2, 9])}
    d_out = model.loss(batch, phase="d")
    d_out["loss"].backward()
    assert all(p.grad is None for p in model.G.parameters())  # D's loss does not reach G
    assert next(model.D.parameters()).grad is not None
    g_out = model.loss(batch, phase="g")
    assert len(calls) == 1  # the G phase trained on the D phase's fakes
    g_out["loss"].backward()
    assert all(p.grad is not None for p in model.G.parameters())
    model.loss(batch, phase="g")  # called alone, or with another batch: fresh fakes
    model.loss(batch, phase="d")
    model.loss(dict(batch), phase="g")
    assert len(calls) == 4


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
def test_calibrate_gives_batchnorm_the_statistics_of_these_weights(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, SMALL[name], DIGITS)).eval()
    norms = [m for m in model.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:  # as after an EMA update: statistics copied from other weights
        m.running_mean.fill_(5.0)
        m.running_var.fill_(0.01)
    model.calibrate(batches=8, batch_size=64)
    assert not model.G.training and all(m.momentum == 0.1 for m in norms)
    first = norms[0]
    captured = []
    handle = first.register_forward_hook(lambda m, i, o: captured.append(i[0].detach()))
    labels = torch.randint(0, 10, (512,)) if name == "cgan" else None
    model.generate(torch.randn(512, model.config.latent_dim), labels)
    handle.remove()
    inputs = captured[0].transpose(0, 1).flatten(1)
    assert torch.allclose(first.running_mean, inputs.mean(1), atol=0.05 * float(inputs.std()))


def test_extra_generator_convs_are_conditioned_and_leave_the_default_layout_alone():
    plain = build_model("cgan", resolve_config("cgan", SMALL["cgan"], DIGITS))
    deeper = build_model("cgan", resolve_config("cgan", {**SMALL["cgan"], "g_convs": "2"}, DIGITS))
    assert set(plain.state_dict()) < set(deeper.state_dict())  # shipped g_convs=1 weights still load
    added = [m for stage in deeper.G.stages for m in stage.norms]
    assert len(added) == len(deeper.G.stages) and all(hasattr(m, "gain") for m in added)  # class-conditional
    torch.manual_seed(0)
    for m in added:
        nn.init.normal_(m.gain.weight, 1.0, 0.5)
    z = torch.randn(4, 8)
    deeper.eval()
    assert not torch.allclose(deeper.generate(z, 0), deeper.generate(z, 1))
    with pytest.raises(ValueError, match="g_convs"):
        build_model("gan", resolve_config("gan", {**SMALL["gan"], "g_convs": "0"}, DIGITS))


def test_weights_shipped_without_the_discriminator_load_only_when_the_card_says_so(tmp_path):
    from safetensors.torch import save_file

    model = build_model("cgan", resolve_config("cgan", SMALL["cgan"], DIGITS))
    save_file(
        {k: v for k, v in model.state_dict().items() if not k.startswith("D.")}, str(tmp_path / "model.safetensors")
    )
    info = {"model": "cgan", "model_config": dataclasses.asdict(model.config)}
    (tmp_path / "run.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="do not fit"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({**info, "dropped": ["D."]}))
    loaded, _ = load_run(tmp_path)
    z = torch.randn(3, 8)
    assert torch.equal(loaded.generate(z, 1), model.eval().generate(z, 1))
    (tmp_path / "run.json").write_text(json.dumps({**info, "dropped": ["G.stages."]}))  # D missing, G not
    with pytest.raises(ValueError, match="do not fit"):
        load_run(tmp_path)


def test_conditional_models_check_labels():
    model = build_model("cgan", resolve_config("cgan", SMALL["cgan"], DIGITS)).eval()
    with pytest.raises(ValueError, match="out of range"):
        model.sample(2, 10)
    with pytest.raises(ValueError, match="needs --label"):
        model.sample(2)
    with pytest.raises(ValueError, match="truncation"):
        model.sample(2, 1, truncation=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model("cgan", resolve_config("cgan", SMALL["cgan"], {**DIGITS, "num_classes": 1}))


def test_gan_losses_analytic():
    zero = torch.zeros(8)
    assert math.isclose(float(discriminator_loss("bce", zero, zero)), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(float(generator_loss("bce", zero)), math.log(2), rel_tol=1e-6)
    assert float(discriminator_loss("hinge", torch.full((8,), 2.0), torch.full((8,), -2.0))) == 0
    assert float(discriminator_loss("hinge", zero, zero)) == 2
    assert float(discriminator_loss("wgan", torch.full((8,), 3.0), torch.ones(8))) == -2
    assert float(discriminator_loss("lsgan", torch.ones(8), zero)) == 0
    with pytest.raises(ValueError, match="unknown GAN loss"):
        generator_loss("nope", zero)


def test_penalties_analytic():
    weight = torch.tensor([3.0, 4.0])
    x = torch.rand(5, 2, requires_grad=True)
    assert math.isclose(float(r1_penalty(x @ weight, x)), 25.0, rel_tol=1e-6)  # ||grad||^2 = ||w||^2

    class Linear(nn.Module):
        def forward(self, x):
            return x.flatten(1) @ (weight / 5)  # unit-norm gradient everywhere

    real, fake = torch.rand(6, 2, 1, 1), torch.rand(6, 2, 1, 1)
    assert float(gradient_penalty(Linear(), real, fake)) < 1e-10
    same = torch.rand(1, 3, 4, 4).expand(6, -1, -1, -1)
    assert float(batch_diversity(same, torch.rand(6, 3, 4, 4))) == 0


def test_vae_kl_and_warmup():
    config = resolve_config("vae", {**SMALL["vae"], "kl_warmup": "4"}, DIGITS)
    model = build_model("vae", config).train()
    batch = {"image": torch.rand(3, 1, 16, 16)}
    weights = [float(model.loss(batch)["kl_weight"]) for _ in range(6)]
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    out = model.eval().loss(batch)
    assert out["bits_per_dim"] > 0 and out["kl"] >= 0
    assert math.isclose(out["bits_per_dim"].item(), out["nelbo_nats"].item() / (256 * math.log(2)) + 8, rel_tol=1e-5)


def test_gan_resume_is_exact(tmp_path):
    common = {**SMALL["gan"], "batch_size": "8", "log_every": "1", "checkpoint_every": "3"}
    run_training("gan", "digits:size=16", tmp_path / "a", common, flags={"steps": 6}, progress=False, print_fn=quiet)
    run_training("gan", "digits:size=16", tmp_path / "b", common, flags={"steps": 3}, progress=False, print_fn=quiet)
    run_training("gan", None, tmp_path / "b", {}, flags={"steps": 6}, resume=True, progress=False, print_fn=quiet)
    a, b = load_run(tmp_path / "a")[0].state_dict(), load_run(tmp_path / "b")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6] and "d_loss" in log[0] and "g_loss" in log[0]


def test_a_gan_on_28px_mnist_trains_at_32px_and_says_so(tmp_path):
    import numpy as np

    images = np.random.default_rng(0).integers(0, 255, (40, 28, 28), dtype=np.uint8)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())
    said = []
    info = run_training(
        "dcgan",
        f"mnist:{tmp_path}",
        tmp_path / "run",
        {"width": "4", "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=said.append,
    )
    assert info["data"] == f"mnist:{tmp_path},size=32" and info["model_config"]["image_size"] == 32
    assert any(line.startswith("note:") and "28 px" in line for line in said)
    assert load_run(tmp_path / "run")[0].sample(2).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="power-of-two"):  # a size the user names is kept, and refused
        run_training("dcgan", f"mnist:{tmp_path},size=28", tmp_path / "r28", {}, progress=False, print_fn=quiet)


class Collapsed(nn.Module):
    """A stand-in model that reports a collapsed generator."""

    Config = None

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def loss(self, batch):
        return {"loss": (self.w**2).sum() + batch["image"].mean() * 0, "diversity": torch.tensor(0.01)}


def test_collapse_is_reported_in_the_log(tmp_path):
    from darkroom.train import TrainConfig, train

    config = TrainConfig(steps=2, log_every=1, batch_size=4, val_batches=0)
    train("collapsed", Collapsed(), TrainConfig(), config, "digits:size=8", tmp_path / "c", progress=False)
    log = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert "mode collapse" in log[0]["warning"]


def test_sample_command(tmp_path, capsys):
    run_training(
        "cgan",
        "digits:size=16",
        tmp_path / "cg",
        {**SMALL["cgan"], "batch_size": "8"},
        flags={"steps": 2},
        progress=False,
        print_fn=quiet,
    )
    assert main(["sample", str(tmp_path / "cg"), "-n", "6", "--out", str(tmp_path / "g.png"), "--label", "7"]) == 0
    assert read_image(tmp_path / "g.png").shape[1] > 16
    assert (
        main(["sample", str(tmp_path / "cg"), "-n", "3", "--out", str(tmp_path / "dir"), "--label", "2", "--seed", "5"])
        == 0
    )
    provenance = read_provenance(tmp_path / "dir" / "sample_00002.png")
    assert provenance["model"] == "cgan" and provenance["seed"] == 5 and provenance["latent_index"] == 2
    assert provenance["label"] == 2
    first = read_image(tmp_path / "dir" / "sample_00000.png")
    main(["sample", str(tmp_path / "cg"), "-n", "3", "--out", str(tmp_path / "again"), "--label", "2", "--seed", "5"])
    assert torch.equal(first, read_image(tmp_path / "again" / "sample_00000.png"))  # same seed, same image
    # --label all: n of every class, one grid row per class; in a folder each file names its own label
    assert main(["sample", str(tmp_path / "cg"), "-n", "2", "--out", str(tmp_path / "all.png"), "--label", "all"]) == 0
    assert read_image(tmp_path / "all.png").shape[1:] == (10 * 18 + 2, 2 * 18 + 2)  # 16 px tiles, 2 px padding
    assert main(["sample", str(tmp_path / "cg"), "-n", "2", "--out", str(tmp_path / "alldir"), "--label", "all"]) == 0
    assert len(list((tmp_path / "alldir").glob("*.png"))) == 20
    assert read_provenance(tmp_path / "alldir" / "sample_00005.png")["label"] == 2
    capsys.readouterr()
    for argv, message in [
        (["--label", "10"], "out of range"),
        (["--label", "2", "--truncation", "2"], "truncation"),
        ([], "pass --label"),
        (["--prompt", "a 2"], "not text-conditioned"),
        (["--label", "2", "--prompt", "a 2"], "--label is for class-conditional"),
    ]:
        assert main(["sample", str(tmp_path / "cg"), "-n", "2", "--out", str(tmp_path / "x.png"), *argv]) == 2
        assert message in capsys.readouterr().err


def test_sample_refuses_non_generators(tmp_path, capsys):
    run_training(
        "autoencoder",
        "digits:size=16",
        tmp_path / "ae",
        {"width": "4", "downsamples": "2"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    assert main(["sample", str(tmp_path / "ae"), "-n", "2", "--out", str(tmp_path / "x.png")]) == 2
    assert "not a generator" in capsys.readouterr().err
    run_training(
        "dcgan", "digits:size=16", tmp_path / "dc", SMALL["dcgan"], flags={"steps": 1}, progress=False, print_fn=quiet
    )
    assert main(["sample", str(tmp_path / "dc"), "-n", "2", "--out", str(tmp_path / "x.png"), "--label", "all"]) == 2
    assert "--label all needs one that is" in capsys.readouterr().err


def test_shipped_cgan_draws_the_requested_digits():
    from darkroom.metrics.generation import predicted_labels

    generator, card = load_run("cgan-digits")
    judge, _ = load_run("features-digits")
    labels = torch.arange(10).repeat_interleave(20)
    images = generator.sample(200, labels, generator=torch.Generator().manual_seed(1))
    assert images.shape == (200, 1, 32, 32)
    assert float((predicted_labels(images, judge) == labels).float().mean()) > 0.85


def test_diff_augment_transforms_are_what_they_say_and_pass_gradients():
    from darkroom.nn.diffaug import diff_augment, parse_policy

    torch.manual_seed(0)
    assert parse_policy(" translation, cutout ") == ("translation", "cutout") and parse_policy("") == ()
    with pytest.raises(ValueError, match="augment must be"):
        parse_policy("translation,flip")
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    assert diff_augment(x, ()) is x
    shifted = diff_augment(x, ("translation",))
    for a, b in zip(x, shifted):  # every image is the original moved by at most 4 whole pixels
        assert any(
            torch.equal(
                b[:, max(dy, 0) : 32 + min(dy, 0), max(dx, 0) : 32 + min(dx, 0)],
                a[:, max(-dy, 0) : 32 + min(-dy, 0), max(-dx, 0) : 32 + min(-dx, 0)],
            )
            for dy in range(-4, 5)
            for dx in range(-4, 5)
        )
    cut = diff_augment(torch.ones(64, 1, 32, 32), ("cutout",))
    zeros = (cut == 0).flatten(1).sum(1)
    assert zeros.max() == 256 and zeros.min() >= 64  # a 16x16 square, at most three quarters off the edge
    leaf = x.clone().requires_grad_(True)
    diff_augment(leaf, parse_policy("color,translation,cutout")).sum().backward()
    assert leaf.grad.abs().sum() > 0


def test_gan_augment_is_checked_and_trains():
    with pytest.raises(ValueError, match="augment must be"):
        resolve_config("gan", {**SMALL["gan"], "augment": "rotate"}, DIGITS)
    torch.manual_seed(0)
    model = build_model("gan", resolve_config("gan", {**SMALL["gan"], "augment": "translation,cutout"}, DIGITS))
    batch = {"image": torch.rand(4, 1, 16, 16)}
    for phase in model.phases():
        out = model.loss(batch, phase=phase)
        out["loss"].backward()
    assert all(p.grad is not None for p in model.G.parameters())


def test_lean_layout_has_no_full_resolution_layer_and_old_cards_keep_theirs():
    info = {"channels": 1, "image_size": [32, 32], "num_classes": 10}
    lean = build_model(
        "gan", resolve_config("gan", {"width": "8", "d_width": "8", "lean": "1", "upsample": "transposed"}, info)
    )
    classic = build_model("gan", resolve_config("gan", {"width": "8", "d_width": "8"}, info))
    z = torch.randn(3, lean.config.latent_dim)
    assert lean.G(z).shape == classic.G(z).shape == (3, 1, 32, 32)
    assert lean.D(torch.rand(3, 1, 32, 32)).shape == (3,)
    full_res = [m for m in lean.D.body if isinstance(m, nn.Conv2d) and m.stride == (1, 1)]
    assert not full_res and len(lean.G.stages) == len(classic.G.stages) - 1
    assert not resolve_config("gan", {}, info).lean  # a card that predates `lean` loads as it was trained


def test_gan_defaults_follow_the_data_and_are_said(tmp_path):
    from darkroom.ops.zoo import ZOO_PINNED, member_run

    said = []
    info = run_training(
        "gan",
        "digits:size=16",
        tmp_path / "run",
        {"latent_dim": "8", "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=said.append,
    )
    assert info["model_config"]["lean"] and info["model_config"]["upsample"] == "transposed"
    assert any(line.startswith("note: defaults for this data") and "lean=True" in line for line in said)
    kept = run_training(
        "gan",
        "digits:size=16",
        tmp_path / "kept",
        {"upsample": "nearest", "width": "4", "d_width": "4", "lean": "0", "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    assert kept["model_config"]["upsample"] == "nearest" and not kept["model_config"]["lean"]
    assert set(ZOO_PINNED) <= set(
        member_run(
            {
                "model": "gan",
                "latent_dim": 8,
                "width": 8,
                "loss": "hinge",
                "upsample": "nearest",
                "norm": "batch",
                "activation": "relu",
                "seed": 0,
            },
            10,
        )[1]
    )


def test_minutes_alone_is_a_time_budget_and_bad_budgets_are_one_line_errors(tmp_path, capsys):
    info = run_training(
        "autoencoder",
        "digits:size=16",
        tmp_path / "t",
        {"width": "4", "batch_size": "8"},
        flags={"minutes": 0.02},
        progress=False,
        print_fn=quiet,
    )
    assert info["step"] > 0 and info["train_config"]["steps"] >= 10**9
    for flag in (["--minutes", "0"], ["--minutes", "-2"], ["--steps", "-1"]):
        with pytest.raises(SystemExit) if flag[0] == "--steps" else contextlib.nullcontext():
            code = main(["train", "gan", "--data", "digits", "--out", str(tmp_path / "x"), *flag])
            assert code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_a_folder_of_mixed_sizes_trains_a_gan_at_one_size_said_once(tmp_path):
    from darkroom.io import write_image

    for i, (h, w) in enumerate([(20, 30), (40, 40), (50, 24)]):
        write_image(tmp_path / "data" / f"{i}.png", torch.rand(3, h, w))
    lines = []
    info = run_training(
        "gan",
        f"folder:{tmp_path / 'data'}",
        tmp_path / "run",
        {"width": "4", "d_width": "4"},
        flags={"steps": 1},
        progress=False,
        print_fn=lines.append,
    )
    assert info["model_config"]["image_size"] == 64
    assert sum("mixed sizes" in line for line in lines) == 1


def test_cgan_aux_classifier_learns_real_labels_and_fakes_in_its_own_phase():
    torch.manual_seed(0)
    model = build_model("cgan", resolve_config("cgan", {**SMALL["cgan"], "aux": "1"}, DIGITS))
    assert list(model.phases()) == ["d", "c", "g"]  # between D (which makes the fakes) and G (which uses them)
    batch = {"image": torch.rand(4, 1, 16, 16), "label": torch.tensor([0, 1, 2, 9])}
    outs = {phase: model.loss(batch, phase=phase) for phase in model.phases()}
    assert "c_fake_caught" in outs["c"] and outs["c"]["loss"].requires_grad
    assert "g_aux" in outs["g"] and model.C(batch["image"])[0].shape == (4, 11)  # 10 digits + "fake"
    with pytest.raises(ValueError, match="aux must be"):
        resolve_config("cgan", {**SMALL["cgan"], "aux": "-1"}, DIGITS)


def test_cgan_on_small_gray_data_takes_the_label_at_both_inputs(tmp_path):
    info = run_training(
        "cgan",
        "digits:size=16",
        tmp_path / "run",
        {**SMALL["cgan"], "batch_size": "8"},
        flags={"steps": 1},
        progress=False,
        print_fn=quiet,
    )
    assert info["model_config"]["label_input"] and info["model_config"]["lean"]
    model, _ = load_run(tmp_path / "run")
    assert model.D.body[0].in_channels == 1 + 10 and model.G.embed.in_features == 8 + 10
    image = torch.rand(2, 1, 16, 16)
    # the same image under two labels: D reads the label planes (its projection is there too, so zero it)
    model.D.project = None
    assert not torch.allclose(model.D(image, torch.tensor([0, 0])), model.D(image, torch.tensor([3, 3])))
    assert not resolve_config("cgan", {}, DIGITS).label_input  # cards from before the option load as trained


def test_aux_classifier_without_the_fake_class(tmp_path):
    model = build_model("cgan", resolve_config("cgan", {**SMALL["cgan"], "aux": "1", "aux_fakes": "0"}, DIGITS))
    batch = {"image": torch.rand(4, 1, 16, 16), "label": torch.tensor([0, 1, 2, 3])}
    model.loss(batch, "d")
    out = model.loss(batch, "c")
    assert "c_fake_caught" not in out and torch.isfinite(out["loss"])
    assert torch.isfinite(model.loss(batch, "g")["g_aux"])
