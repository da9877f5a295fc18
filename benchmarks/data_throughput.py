"""Data-layer throughput on one core, and the training loop's own overhead.

    python benchmarks/data_throughput.py [--quick]      (or: darkroom bench data)

Prints markdown tables: images/s for scenes rendering, folder loading with JPEG decoding, each
degradation; and step times of a tiny model (pure compute vs inside the trainer).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from darkroom.data import collate, degrade, load_dataset
from darkroom.data.photos import skimage_photo
from darkroom.data.scenes import render, sample_params
from darkroom.models import build_model, resolve_config
from darkroom.ops.training import run_training


def rate(fn, count: int) -> float:
    """Calls per second of ``fn(i)`` over ``count`` calls (after one warm-up call)."""
    fn(0)
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; torch {torch.__version__}; {torch.get_num_threads()} thread(s)"


def bench_scenes(n: int) -> list[tuple[str, float]]:
    rows = []
    for size, objects in ((32, 1), (32, 2), (64, 1), (64, 2)):
        rows.append(
            (
                f"scenes render {size} px, {objects} object(s)",
                rate(lambda i: render(sample_params(np.random.default_rng([0, i]), size, objects)), n),
            )
        )
    data = load_dataset("scenes:size=32")
    rows.append(("scenes dataset item 32 px (render + caption + tensor)", rate(lambda i: data[i], n)))
    return rows


def bench_folder(n: int) -> list[tuple[str, float]]:
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
    try:
        photo = skimage_photo("astronaut")
        for i in range(n):
            crop = photo[(i * 7) % 200 : (i * 7) % 200 + 256, (i * 5) % 200 : (i * 5) % 200 + 256]
            Image.fromarray(crop).save(folder / f"{i:05d}.jpg", quality=90)
        data = load_dataset(f"folder:{folder},split=all,size=64")
        return [("folder: 256x256 JPEG decode + resize to 64", rate(lambda i: data[i % len(data)], n))]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_degradations(n: int) -> list[tuple[str, float]]:
    image = torch.from_numpy(skimage_photo("astronaut")[:64, :64]).permute(2, 0, 1).float() / 255
    g = torch.Generator().manual_seed(0)
    ops = {
        "gaussian_noise sigma 25": lambda i: degrade.gaussian_noise(image, 25, g),
        "poisson_noise sigma 25": lambda i: degrade.poisson_noise(image, 25, g),
        "gaussian_blur sigma 2": lambda i: degrade.gaussian_blur(image, 2.0),
        "motion_blur length 9": lambda i: degrade.motion_blur(image, 9, 30.0),
        "downscale x2 bicubic": lambda i: degrade.downscale(image, 2),
        "jpeg quality 50": lambda i: degrade.jpeg(image, 50),
        "tone gamma 1.5": lambda i: degrade.tone(image, gamma=1.5),
        "grayscale": lambda i: degrade.grayscale(image),
        "inpainting mask medium": lambda i: degrade.inpainting_mask(64, 64, "medium", seed=i),
    }
    return [(f"{name} (64x64)", rate(fn, n)) for name, fn in ops.items()]


def bench_loop(steps: int) -> list[tuple[str, float, float]]:
    """Seconds per step of a tiny autoencoder: pure compute on one batch, and inside the trainer."""
    tiny = {"width": "8", "latent_dim": "32", "batch_size": "32", "log_every": "10"}
    flags = {"steps": steps, "checkpoint_every": 10**6, "sample_every": 10**6, "val_batches": 0}
    config = resolve_config("autoencoder", {"width": "8", "latent_dim": "32"}, {"channels": 3, "image_size": [32, 32]})
    torch.manual_seed(0)
    model = build_model("autoencoder", config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = load_dataset("scenes:size=32")
    batch = collate([data[i] for i in range(32)])

    def step(_):
        out = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    compute = 1 / rate(step, steps)
    fetch = 1 / rate(lambda i: collate([data[(i * 32 + k) % len(data)] for k in range(32)]), steps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images = np.stack([(data[i]["image"].permute(1, 2, 0).numpy() * 255).astype(np.uint8) for i in range(512)])
        np.savez(Path(tmp) / "mem.npz", images=images)
        for name, spec in (
            ("in-memory npz", f"npz:{tmp}/mem.npz,split=all"),
            ("scenes rendered on the fly", "scenes:size=32"),
        ):
            run = Path(tmp) / name.replace(" ", "_")
            run_training("autoencoder", spec, run, tiny, flags=flags, progress=False, print_fn=lambda *a: None)
            log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            per_step = np.median([32 / r["images_per_s"] for r in log[1:]])  # skip the warm-up window
            rows.append((f"trainer step, data = {name}", per_step, per_step / compute - 1))
    rows.insert(0, ("pure compute: forward + backward + AdamW on one fixed batch", compute, 0.0))
    rows.append(("fetching one batch of 32 scenes (render + collate)", fetch, fetch / compute))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = 300 if args.quick else 3000
    t0 = time.time()
    print(f"## Data throughput (one core)\n\nmachine: {machine()}\n")
    print("| operation | images/s |\n|---|---:|")
    for name, value in bench_scenes(n) + bench_folder(max(50, n // 10)) + bench_degradations(max(100, n // 3)):
        print(f"| {name} | {value:,.0f} |")
    print("\n## Training loop overhead (tiny autoencoder, 32 px, batch 32, one core)\n")
    print("| measurement | ms/step | vs pure compute |\n|---|---:|---:|")
    for name, seconds, extra in bench_loop(60 if args.quick else 300):
        print(f"| {name} | {seconds * 1000:.1f} | {extra:+.1%} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {time.time() - t0:.0f} s, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
