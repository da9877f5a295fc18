"""Is the GAN loss readable at all from one 32 px sample of a zoo-sized generator?

The zoo's held-out loss accuracy is near chance. Either the loss leaves no trace in a 600-step member's
samples, or it does and the parser fails to carry it across architectures. This probe separates the two:
it trains GANs that differ *only* in loss and seed (two fixed architectures, each loss x seed), then asks
a parser (the `modelparse` network, loss head only) for the loss of

- unseen seeds of architectures it saw (within: leave one seed out), and
- an architecture it never saw (across: train on one, test on the other).

    darkroom bench lossprobe [--out runs/lossprobe] [--member-steps 600] [--archs AB] [--seeds 3] [--quick]
    (or: python benchmarks/loss_probe.py ...)

Trains the members that the folder lacks (``darkroom zoo build``'s recipe, 2 jobs: 24 members of 600 steps
take ~20 minutes on 2 cores), then one parser per fold (5 folds, ~15 minutes; --quick: 150 parser steps).
Prints per-sample accuracy and each held-out member's majority answer, beside a Durall spectrum + logistic
regression fitted on the same members (chance: 25 %).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from darkroom.data.zoo import HYPERPARAMS, read_samples, sample_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parsing import fit_lr, spectra  # noqa: E402  (the Durall peer of bench parsing)

LOSSES = HYPERPARAMS["loss"][:4]
LOSS_HEAD = list(HYPERPARAMS).index("loss")
ARCHS = {
    "A": {"upsample": "transposed", "norm": "batch", "activation": "relu"},
    "B": {"upsample": "nearest", "norm": "none", "activation": "lrelu"},
}
SEEDS = (101, 202, 303, 404)


def members(archs: str = "AB", seeds: int = 3) -> list[dict]:
    return [
        {
            "name": f"{arch}-{loss}-{seed}",
            "model": "gan",
            "loss": loss,
            "latent_dim": 64,
            "width": 16,
            "data": "scenes",
            "seed": seed,
            "heldout": True,
            "arch": arch,
            **settings,
        }
        for arch, settings in ARCHS.items()
        if arch in archs
        for loss in LOSSES
        for seed in SEEDS[:seeds]
    ]


def trained_steps(out: Path, m: dict) -> int:
    return json.loads((out / m["name"] / "card.json").read_text())["train"]["steps"]


def build(out: Path, ms: list[dict], steps: int, jobs: int) -> None:
    from darkroom.ops.zoo import build_member

    todo = [m for m in ms if not all((out / m["name"] / f).is_file() for f in ("samples.npz", "card.json"))]
    other = [m["name"] for m in ms if m not in todo and trained_steps(out, m) != steps]
    if other:
        raise SystemExit(
            f"{out} holds members trained for other than {steps} steps ({', '.join(other[:3])}); "
            f"pass their --member-steps or another --out"
        )
    print(f"{len(todo)} of {len(ms)} members to train, {steps} steps each", flush=True)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [pool.submit(build_member, m["name"], str(out), steps, 2000, m) for m in todo]
        for m, f in zip(todo, futures):
            print(f"{m['name']}: {f.result()['train_seconds']:.0f} s", flush=True)


def load(out: Path, ms: list[dict], split: str) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    images, labels, names = [], [], []
    for m in ms:
        arr = read_samples(out / m["name"] / "samples.npz")
        arr = arr[sample_split(len(arr), split)]
        images.append(torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255)
        labels += [LOSSES.index(m["loss"])] * len(arr)
        names += [m["name"]] * len(arr)
    return torch.cat(images), np.array(labels), names


def train_parser(images: torch.Tensor, labels: np.ndarray, steps: int, seed: int = 0):
    from darkroom.models.modelparse import ModelParseConfig, ModelParser

    torch.manual_seed(seed)
    model = ModelParser(
        ModelParseConfig(channels=3, image_size=32, num_classes=2, width=16, stages=3, inputs="srm+npr")
    )
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=max(0.05, 2 / steps))
    target = torch.full((len(labels), len(HYPERPARAMS)), -1, dtype=torch.long)
    target[:, LOSS_HEAD] = torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(images), (128,), generator=gen)
        out = model.loss({"image": images[idx], "label": torch.full((128,), -1), "target": target[idx]})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        sched.step()
    return model.eval(), float(out["loss_acc"])


def fold(out: str, train_ms: list[dict], test_ms: list[dict], steps: int) -> dict:
    out = Path(out)
    x, y, _ = load(out, train_ms, "train")
    tx, ty, names = load(out, test_ms, "all")
    t0 = time.time()
    model, train_acc = train_parser(x, y, steps)
    with torch.no_grad():
        pred = np.concatenate([model(tx[i : i + 512])["loss"][:, :4].argmax(1).numpy() for i in range(0, len(tx), 512)])
    spec_pred = fit_lr(spectra(x), y)(spectra(tx)).argmax(1)
    majority = {n: np.bincount(pred[[k == n for k in names]], minlength=4).argmax() for n in dict.fromkeys(names)}
    return {
        "parser": float((pred == ty).mean()),
        "spectrum": float((spec_pred == ty).mean()),
        "train_acc": train_acc,
        "minutes": (time.time() - t0) / 60,
        "members_right": sum(LOSSES[v] == n.split("-")[1] for n, v in majority.items()),
        "members": len(majority),
        "misread": [f"{n} as {LOSSES[v]}" for n, v in majority.items() if LOSSES[v] != n.split("-")[1]],
    }


def probe(out: Path, ms: list[dict], steps: int, jobs: int) -> None:
    seeds, archs = sorted({m["seed"] for m in ms}), sorted({m["arch"] for m in ms})
    folds = {
        f"within, seed {s} left out": ([m for m in ms if m["seed"] != s], [m for m in ms if m["seed"] == s])
        for s in seeds
    }
    if len(archs) == 2:
        folds.update(
            {
                f"across, trained on {a}, tested on {b}": (
                    [m for m in ms if m["arch"] == a],
                    [m for m in ms if m["arch"] == b],
                )
                for a, b in (archs, archs[::-1])
            }
        )
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {name: pool.submit(fold, str(out), tr, te, steps) for name, (tr, te) in folds.items()}
        results = {name: f.result() for name, f in futures.items()}
    member_steps = trained_steps(out, ms[0])
    print(
        f"\nLoss of GANs that differ only in loss and seed ({out}); "
        f"{'; '.join(f'{a} = {ARCHS[a]}' for a in archs)}; latent 64, width 16, scenes, {member_steps}-step "
        f"members; parser: {steps} steps, batch 128. Chance 25 %.\n"
    )
    print(
        "| held out | parser, per sample | members right (majority) | Durall spectrum + LR | last training batch "
        "| minutes |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['parser']:.1%} | {r['members_right']} of {r['members']} | {r['spectrum']:.1%} "
            f"| {r['train_acc']:.1%} | {r['minutes']:.1f} |"
        )
    for name, r in results.items():
        print(f"{name}: misread {', '.join(r['misread']) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/lossprobe", help="the probe's members (built when missing)")
    ap.add_argument("--member-steps", type=int, default=600, help="training steps of each member (zoo: 600)")
    ap.add_argument("--steps", type=int, default=600, help="training steps of each fold's parser")
    ap.add_argument("--quick", action="store_true", help="150 parser steps")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--archs", default="AB", help="which fixed architectures (A, B or AB)")
    ap.add_argument("--seeds", type=int, default=3, help=f"seeds per architecture and loss (at most {len(SEEDS)})")
    args = ap.parse_args()
    if not 2 <= args.seeds <= len(SEEDS) or not args.archs or set(args.archs) - set(ARCHS):
        ap.error(f"--seeds from 2 to {len(SEEDS)}, --archs A, B or AB")
    if args.steps < 10 or args.member_steps < 1:
        ap.error("--steps at least 10 (the parser's warm-up), --member-steps at least 1")
    out, ms = Path(args.out), members(args.archs, args.seeds)
    build(out, ms, args.member_steps, args.jobs)
    probe(out, ms, 150 if args.quick else args.steps, args.jobs)


if __name__ == "__main__":
    main()
