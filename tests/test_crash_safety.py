"""kill -9 at random moments: ``train``, ``index build`` and ``zoo build`` resume to the same result as an
uninterrupted run, and no half-written file ever stands under its final name."""

import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image
from safetensors.numpy import load_file

KILLS = 3


def _cli(args, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "darkroom.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _timed(args) -> float:
    """Seconds an uninterrupted run of ``args`` takes (it must succeed)."""
    start = time.time()
    assert _cli(args).wait(timeout=600) == 0
    return time.time() - start


def _kill_at_random_moments(args, resume_args, done, seed, duration):
    """Start ``args``, SIGKILL it at a random moment of the ``duration`` an uninterrupted run took (past its
    start-up); restart with ``resume_args``; ``KILLS`` times, then let it finish. Returns how many kills
    landed before the job was done."""
    rng = np.random.default_rng(seed)
    landed = 0
    for attempt in range(KILLS):
        process = _cli(args if attempt == 0 else resume_args)
        time.sleep(float(rng.uniform(0.4, 0.85)) * duration)
        if process.poll() is None:
            process.kill()
            landed += 1
        process.wait()
        check_no_half_written_files(done.parent if done.parent.exists() else done)
        if done.exists():
            break
    process = _cli(resume_args)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return landed


def check_no_half_written_files(root):
    """Every file under its final name is whole: JSON parses, safetensors and npz load, PNGs decode."""
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or ".tmp" in path.name:
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                [data[k] for k in data.files]
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".png":
            with Image.open(path) as img:
                img.load()


TRAIN = ["--data", "scenes:size=16,n=256", "--steps", "60", "--quiet"]
TRAIN_SET = [
    f"--set={k}={v}"
    for k, v in {
        "width": 4,
        "latent_dim": 8,
        "downsamples": 2,
        "batch_size": 8,
        "log_every": 1,
        "checkpoint_every": 5,
        "sample_every": 20,
    }.items()
]


def _losses(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r.get("split"), r["loss"]) for r in rows]


def test_train_killed_at_random_moments_resumes_to_the_same_losses(tmp_path):
    duration = _timed(["train", "vae", *TRAIN, "--out", str(tmp_path / "a"), *TRAIN_SET])
    run = tmp_path / "b"
    landed = _kill_at_random_moments(
        ["train", "vae", *TRAIN, "--out", str(run), *TRAIN_SET],
        ["train", "vae", *TRAIN, "--out", str(run), "--resume"],
        run / "model.safetensors",
        seed=1,
        duration=duration,
    )
    assert landed >= 1
    assert _losses(tmp_path / "a") == _losses(run)
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_index_build_killed_at_random_moments_resumes_to_the_same_index(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(200):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(refs / f"r{i:03d}.png")
    duration = _timed(["index", "build", str(refs), "--out", str(tmp_path / "a"), "--quiet"])
    index = tmp_path / "b"
    landed = _kill_at_random_moments(
        ["index", "build", str(refs), "--out", str(index), "--quiet"],
        ["index", "build", str(refs), "--out", str(index), "--quiet"],
        index / "faiss.index",
        seed=2,
        duration=duration,
    )
    assert landed >= 1
    meta_a, meta_b = (json.loads((tmp_path / n / "index.json").read_text()) for n in ("a", "b"))
    assert meta_a["paths"] == meta_b["paths"] and len(meta_b["paths"]) == 200
    ea, eb = (np.load(tmp_path / n / "embeddings.npy") for n in ("a", "b"))
    np.testing.assert_allclose(ea, eb, atol=1e-5)


def test_zoo_build_killed_at_random_moments_resumes_to_the_same_members(tmp_path):
    args = ["zoo", "build", "--steps", "40", "--samples", "20", "--jobs", "1", "--members", "gan00,vae00"]
    duration = _timed([*args, "--out", str(tmp_path / "a")])
    zoo = tmp_path / "b"
    landed = _kill_at_random_moments(
        [*args, "--out", str(zoo)], [*args, "--out", str(zoo)], zoo / "zoo.json", seed=3, duration=duration
    )
    assert landed >= 1
    for name in ("gan00", "vae00"):
        with np.load(tmp_path / "a" / name / "samples.npz") as a, np.load(zoo / name / "samples.npz") as b:
            np.testing.assert_array_equal(a["images"], b["images"])
