"""``darkroom zoo build``: train every member of the generator zoo (``data/zoo.py``) with ``darkroom train``,
then draw its samples and write its card. Members run in parallel worker processes, one thread each;
a finished member is skipped (and named, when it was trained for another number of steps than asked), an
interrupted one resumes from its last checkpoint. ``zoo.json`` records the steps asked and the members kept.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.data import load_dataset
from darkroom.data.zoo import MEMBERS, REAL, member, write_card
from darkroom.io import to_uint8

DEFAULT_STEPS = 600
DEFAULT_SAMPLES = 2000


# The zoo's members were trained with these; pinned so that `gan`'s data-dependent defaults
# (GAN.data_defaults) never change what a zoo member is.
ZOO_PINNED = {"lean": False, "g_lr": 2e-4, "d_lr": 2e-4, "clusters": 0, "augment": ""}


def member_run(m: dict, steps: int) -> tuple[str, dict, dict]:
    """(model name, model settings, train settings) for ``darkroom train``."""
    train = {
        "steps": steps,
        "batch_size": 32,
        "seed": m["seed"],
        "checkpoint_every": max(1, steps // 4),
        "sample_every": steps,
        "log_every": 50,
    }
    if m["model"] == "vae":
        return "vae", {"latent_dim": m["latent_dim"], "width": m["width"]}, train
    model = {
        "latent_dim": m["latent_dim"],
        "width": m["width"],
        "d_width": 16,
        "loss": m["loss"],
        "upsample": m["upsample"],
        "norm": m["norm"],
        "activation": m["activation"],
        "spectral_norm": True,
        "gp": 10.0 if m["loss"] == "wgan" else 0.0,
        **ZOO_PINNED,
    }
    return "gan", model, {**train, "ema": 0.99}


def _save_samples(path: Path, images: np.ndarray) -> None:
    tmp = path.with_name("samples.tmp.npz")
    np.savez_compressed(tmp, images=images)
    tmp.replace(path)


def build_member(name: str, out: str, steps: int, samples: int, settings: dict | None = None) -> dict:
    """Train one member (resuming if a checkpoint exists; a shipped one is not trained), sample it, write
    its card. ``settings``: a generator outside MEMBERS, in the same form (benchmarks/loss_probe.py)."""
    from darkroom.models import load_run
    from darkroom.ops.training import run_training
    from darkroom.train.checkpoint import list_checkpoints

    m, folder = settings or member(name), Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    model_name, model_cfg, train_cfg = member_run(m, steps)
    run_dir = name if m.get("shipped") else folder / "run"  # shipped weights: sampled, not trained again
    t0 = time.time()
    if not m.get("shipped") and not (run_dir / "model.safetensors").is_file():
        log = open(folder / "train.log", "a")
        resume = bool(list_checkpoints(run_dir)) if run_dir.is_dir() else False
        run_training(
            model_name,
            f"{m['data']}:size=32",
            run_dir,
            {} if resume else model_cfg,
            flags={"steps": steps} if resume else train_cfg,
            resume=resume,
            progress=False,
            print_fn=lambda s: print(s, file=log, flush=True),
        )
        log.close()
    seconds = time.time() - t0
    model, info = load_run(run_dir)
    gen = torch.Generator().manual_seed(m["seed"])
    classes = getattr(model.config, "num_classes", 0)  # class-conditional: every class in turn
    labels = [torch.arange(i, min(i + 500, samples)) % classes if classes else None for i in range(0, samples, 500)]
    chunks = [
        model.sample(min(500, samples - i), labels[k], generator=gen) for k, i in enumerate(range(0, samples, 500))
    ]
    _save_samples(folder / "samples.npz", to_uint8(torch.cat(chunks)))
    if m.get("shipped"):  # the shipped card's settings, not the zoo's
        model_name, model_cfg, train_cfg = info["model"], info["model_config"], info["train_config"]
    card = {
        "member": m,
        "model": model_name,
        "model_config": model_cfg,
        "train": train_cfg,
        "data": f"{m['data']}:size=32",
        "train_seconds": round(seconds, 1),
        "samples": samples,
        "metrics": info.get("metrics", {}),
    }
    write_card(folder / "card.json", card)
    return card


def build_real(out: Path, samples: int) -> None:
    """``real/samples.npz``: renders and digits interleaved, so every split holds both."""
    folder = out / REAL
    folder.mkdir(parents=True, exist_ok=True)
    scenes, digits = load_dataset("scenes:size=32", split="test"), load_dataset("digits:size=32", split="all")
    images = []
    for i in range(samples):
        source = scenes if i % 2 == 0 else digits
        image = source[(i // 2) % len(source)]["image"]
        images.append(image.expand(3, -1, -1))
    _save_samples(folder / "samples.npz", to_uint8(torch.stack(images)))
    write_card(
        folder / "card.json",
        {
            "member": {"name": REAL},
            "data": ["scenes:size=32,split=test", "digits:size=32,split=all"],
            "samples": samples,
        },
    )


def _done(folder: Path) -> bool:
    return (folder / "card.json").is_file() and (folder / "samples.npz").is_file()


def _trained_steps(folder: Path) -> int | None:
    try:
        return json.loads((folder / "card.json").read_text())["train"]["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_zoo(
    out,
    steps: int = DEFAULT_STEPS,
    samples: int = DEFAULT_SAMPLES,
    jobs: int = 2,
    names: list[str] | None = None,
    progress: bool = True,
    print_fn=print,
) -> dict:
    """Build (or finish building) the zoo in ``out``; returns {"built": [...], "skipped": [...]}."""
    if steps < 1 or samples < 10 or jobs < 1:
        raise ValueError("zoo: steps >= 1, samples >= 10 and jobs >= 1 please")
    out = Path(out)
    names = names or [m["name"] for m in MEMBERS]
    for name in names:
        member(name)
    out.mkdir(parents=True, exist_ok=True)
    if not _done(out / REAL):
        build_real(out, samples)
    todo = [n for n in names if not _done(out / n)]
    skipped = [n for n in names if n not in todo]
    if skipped:
        print_fn(f"zoo: {len(skipped)} members already built, {len(todo)} to go")
    other = [n for n in skipped if not member(n).get("shipped") and _trained_steps(out / n) != steps]
    if other:
        print_fn(
            f"zoo: kept as built, trained for another number of steps than {steps}: {', '.join(other[:3])}"
            f"{f' and {len(other) - 3} more' if len(other) > 3 else ''} (to train a copy on, see "
            f"experiments/zoo_variants.py)"
        )
    built = []
    bar = tqdm(total=len(todo), disable=not progress, unit="member")
    if jobs == 1:
        for name in todo:
            build_member(name, str(out), steps, samples)
            built.append(name)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = {pool.submit(build_member, name, str(out), steps, samples): name for name in todo}
            for future in as_completed(futures):
                card = future.result()
                built.append(futures[future])
                bar.set_postfix_str(f"{futures[future]} {card['train_seconds']:.0f}s")
                bar.update()
    bar.close()
    index = {"members": MEMBERS, "steps": steps, "samples": samples, "other_steps": other}  # other: kept as built
    (out / "zoo.json").write_text(json.dumps(index, indent=2))
    return {"built": built, "skipped": skipped}
