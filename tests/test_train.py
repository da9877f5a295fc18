import json
import os
import subprocess
import sys

import pytest
import torch

from darkroom.data import collate, load_dataset
from darkroom.models import build_model, load_run, resolve_config
from darkroom.ops.training import run_training
from darkroom.train.checkpoint import list_checkpoints

TINY = {"width": "4", "latent_dim": "8", "downsamples": "2", "batch_size": "8", "log_every": "1", "lr": "3e-3"}
DATA = "scenes:size=16,n=256"


def _train_cli(out, steps, env_extra=None, resume=False):
    # A VAE: its loss draws random numbers, so any RNG state lost in the resume shows in the losses.
    cmd = [
        sys.executable,
        "-m",
        "darkroom.cli",
        "train",
        "vae",
        "--data",
        DATA,
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--quiet",
    ]
    if resume:
        cmd.append("--resume")
    else:
        cmd += [f"--set={k}={v}" for k, v in {**TINY, "checkpoint_every": "4", "ema": "0.9"}.items()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _losses(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r.get("split"), r["loss"]) for r in rows]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    straight = _train_cli(tmp_path / "a", 12)
    assert straight.returncode == 0, straight.stderr
    killed = _train_cli(tmp_path / "b", 12, {"DARKROOM_KILL_AFTER_STEP": "6"})
    assert killed.returncode == -9  # really killed by SIGKILL
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["step_00000004"]
    resumed = _train_cli(tmp_path / "b", 12, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    wa = load_run(tmp_path / "a")[0].state_dict()
    wb = load_run(tmp_path / "b")[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_loss_falls_and_run_folder_is_complete(tmp_path):
    batch = collate([load_dataset(DATA, split="val")[i] for i in range(32)])
    torch.manual_seed(0)
    untrained = build_model(
        "autoencoder",
        resolve_config(
            "autoencoder",
            {"width": "4", "latent_dim": "8", "downsamples": "2"},
            {"channels": 3, "image_size": [16, 16]},
        ),
    )
    info = run_training(
        "autoencoder",
        DATA,
        tmp_path / "run",
        {**TINY, "checkpoint_every": "20", "sample_every": "20"},
        flags={"steps": 40},
        progress=False,
        print_fn=lambda *a: None,
    )
    trained = load_run(tmp_path / "run")[0]
    with torch.no_grad():
        assert float(trained.loss(batch)["loss"]) < 0.85 * float(untrained.eval().loss(batch)["loss"])
    assert info["step"] == 40 and info["finished"] and info["metrics"]["val"]["loss"] > 0
    run = tmp_path / "run"
    for name in ("model.safetensors", "run.json", "metrics.jsonl", "samples/step_00000040.png"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "run.json").read_text())
    assert saved["model_config"]["width"] == 4 and saved["data"] == DATA and saved["train_config"]["steps"] == 40
    assert saved["darkroom_version"] and "git" in saved
    assert len(list_checkpoints(run)) == 2
    model, _ = load_run(run)
    x = torch.rand(2, 3, 16, 16)
    assert model(x).shape == x.shape


def test_existing_run_needs_resume_and_resume_keeps_config(tmp_path):
    run_training(
        "autoencoder",
        DATA,
        tmp_path / "r",
        TINY,
        flags={"steps": 4, "checkpoint_every": 2},
        progress=False,
        print_fn=lambda *a: None,
    )
    with pytest.raises(ValueError, match="--resume"):
        run_training("autoencoder", DATA, tmp_path / "r", TINY, flags={"steps": 4}, progress=False)
    with pytest.raises(ValueError, match="only steps and minutes"):
        run_training(
            "autoencoder", DATA, tmp_path / "r", {"width": "8"}, flags={"steps": 8}, resume=True, progress=False
        )
    info = run_training(
        "autoencoder",
        None,
        tmp_path / "r",
        {},
        flags={"steps": 6},
        resume=True,
        progress=False,
        print_fn=lambda *a: None,
    )
    assert info["step"] == 6


def test_minutes_budget_stops_early(tmp_path):
    info = run_training(
        "autoencoder",
        DATA,
        tmp_path / "t",
        TINY,
        flags={"steps": 100000, "minutes": 0.001},
        progress=False,
        print_fn=lambda *a: None,
    )
    assert 1 <= info["step"] < 100000 and not info["finished"]
    assert (tmp_path / "t" / "model.safetensors").is_file() and list_checkpoints(tmp_path / "t")


def test_no_pickle_in_checkpoints(tmp_path):
    run_training(
        "autoencoder", DATA, tmp_path / "p", TINY, flags={"steps": 2}, progress=False, print_fn=lambda *a: None
    )
    for path in (tmp_path / "p").rglob("*"):
        if path.is_file() and path.suffix not in (".json", ".jsonl", ".png", ".safetensors"):
            pytest.fail(f"unexpected checkpoint file {path}")


def test_model_shapes():
    config = resolve_config("autoencoder", {"width": "4"}, {"channels": 1, "image_size": [32, 32]})
    model = build_model("autoencoder", config)
    x = torch.rand(3, 1, 32, 32)
    assert model.encode(x).shape == (3, 64) and model(x).shape == x.shape
    out = model.loss({"image": x})
    assert set(out) == {"loss", "psnr"} and out["loss"].requires_grad


def _ema_of_a_jump(decay: float):
    """An EMA whose shadow weight is 0 while the model's weight has jumped to 1."""
    from darkroom.train.ema import EMA

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay)
    with torch.no_grad():
        model.weight.fill_(1.0)
    return model, ema


def test_ema_warms_up_then_averages():
    model, ema = _ema_of_a_jump(0.99)
    ema.update(model, 0)  # decay (1 + 0) / 10 = 0.1: mostly the new weights
    assert abs(float(ema.shadow.weight) - 0.9) < 1e-6
    for step in range(1, 2000):
        ema.update(model, step)
    assert abs(float(ema.shadow.weight) - 1.0) < 1e-6


def test_ema_half_life_ramps_up_with_the_steps_taken():
    model, ema = _ema_of_a_jump(0.9999)
    ema.update(model, 1000)  # half-life 5 % of 1000 steps = 50 steps, not the 6,931 of 0.9999
    assert abs(float(ema.shadow.weight) - (1 - 0.5 ** (1 / 50))) < 1e-6


def test_learning_rate_schedule():
    from darkroom.train.loop import TrainConfig, lr_factor

    config = TrainConfig(steps=100, schedule="cosine", warmup=10)
    assert lr_factor(config, 0, 0.0) == pytest.approx(0.1)  # warm-up
    assert lr_factor(config, 50, 0.5) == pytest.approx(0.5)
    assert lr_factor(config, 99, 1.0) == pytest.approx(0.0)
    assert lr_factor(TrainConfig(), 5, 0.9) == 1.0  # constant
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step").check()


def test_init_starts_from_another_run(tmp_path):
    small = {"latent_dim": "4", "width": "8", "batch_size": "8"}
    run_training("vae", "digits", tmp_path / "a", small, flags={"steps": 2}, progress=False, print_fn=lambda *a: None)
    run_training(
        "vae",
        "digits",
        tmp_path / "b",
        {**small, "init": str(tmp_path / "a"), "lr": "1e-12"},
        flags={"steps": 1},
        progress=False,
        print_fn=lambda *a: None,
    )
    a, _ = load_run(tmp_path / "a")
    b, _ = load_run(tmp_path / "b")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        if p.is_floating_point():
            assert torch.allclose(p, q, atol=1e-6), name
    with pytest.raises(ValueError, match="init"):
        run_training(
            "autoencoder",
            "digits",
            tmp_path / "c",
            {"init": str(tmp_path / "a")},
            flags={"steps": 1},
            progress=False,
            print_fn=lambda *a: None,
        )


def test_resume_before_the_first_checkpoint_restarts_with_the_settings_it_was_started_with(tmp_path):
    killed = _train_cli(tmp_path / "b", 12, {"DARKROOM_KILL_AFTER_STEP": "2"})
    assert killed.returncode == -9 and not list_checkpoints(tmp_path / "b")
    resumed = _train_cli(tmp_path / "b", 12, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert _train_cli(tmp_path / "a", 12).returncode == 0
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
