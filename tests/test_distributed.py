"""`torchrun --nproc-per-node 2 -m darkroom train ...`: one job in two halves (gloo on CPU)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun's gloo rendezvous on this machine")


def _train(out, model: str, batch: int, steps: int, nproc: int = 1, extra=(), env=None) -> subprocess.CompletedProcess:
    args = [model, "--data", "digits:size=16", "--steps", str(steps), "--out", str(out), "--seed", "0", "--quiet"]
    args += ["--set", f"train.batch_size={batch}", "--set", "train.log_every=1", "--set", "train.checkpoint_every=5"]
    args += list(extra)
    if "--resume" in extra:  # a resumed run keeps its settings
        args = [model, "--steps", str(steps), "--out", str(out), "--quiet", "--resume"]
    if nproc == 1:
        command = [sys.executable, "-m", "darkroom", "train", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
        command += ["-m", "darkroom", "train", *args]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def _losses(run) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row and row.get("split") != "val"}


def test_two_processes_with_half_batches_train_as_one_process_with_the_whole_batch(tmp_path):
    one = _train(tmp_path / "one", "autoencoder", 16, 20)
    two = _train(tmp_path / "two", "autoencoder", 8, 20, nproc=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == list(range(1, 21))
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-7)
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["world_size"] == 2 and info["step"] == 20
    assert two.stdout.count("finished step 20") == 1  # rank 0 reports for the job


def test_a_killed_two_process_run_resumes_with_the_same_losses(tmp_path):
    whole = _train(tmp_path / "whole", "vae", 8, 14, nproc=2)  # the VAE draws noise: each rank's RNG matters
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = _train(tmp_path / "part", "vae", 8, 14, nproc=2, env={"DARKROOM_KILL_AFTER_STEP": "10"})
    assert killed.returncode != 0
    resumed = _train(tmp_path / "part", "vae", 8, 14, nproc=2, extra=["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = _losses(tmp_path / "whole"), _losses(tmp_path / "part")
    assert sorted(b) == list(range(1, 15))
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-5)


def test_a_gan_trains_under_torchrun(tmp_path):
    run = _train(tmp_path / "gan", "gan", 8, 4, nproc=2, extra=["--set", "train.ema=0.9"])
    assert run.returncode == 0, run.stderr[-2000:]
    info = json.loads((tmp_path / "gan" / "run.json").read_text())
    assert info["world_size"] == 2 and (tmp_path / "gan" / "model.safetensors").is_file()
