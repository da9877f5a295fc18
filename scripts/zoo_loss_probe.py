"""Is the GAN loss readable at all from one 32 px sample of a zoo-sized generator? (issue 6)

The zoo's held-out loss accuracy is near chance. Either the loss leaves no trace in a 600-step member's
samples, or it does and the parser fails to carry it across architectures. This probe separates the two:
it trains GANs that differ *only* in loss and seed (two fixed architectures, each loss x seed), then asks
a parser (the `modelparse` network, loss head only) for the loss of

- unseen seeds of architectures it saw (within: leave one seed out), and
- an architecture it never saw (across: train on one, test on the other).

    python scripts/zoo_loss_probe.py build --out runs/lossprobe     # 24 members, ~20 min on 2 cores
    python scripts/zoo_loss_probe.py probe --out runs/lossprobe     # 5 parsers, ~15 min on 2 cores

Prints per-sample accuracy and each held-out member's majority answer, beside a Durall spectrum + logistic
regression fitted on the same members (chance: 25 %).
"""
from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from darkroom.data.zoo import HYPERPARAMS, read_samples, sample_split

LOSSES = HYPERPARAMS["loss"][:4]
LOSS_HEAD = list(HYPERPARAMS).index("loss")
ARCHS = {"A": {"upsample": "transposed", "norm": "batch", "activation": "relu"},
         "B": {"upsample": "nearest", "norm": "none", "activation": "lrelu"}}
SEEDS = (101, 202, 303)


def members() -> list[dict]:
    return [{"name": f"{arch}-{loss}-{seed}", "model": "gan", "loss": loss, "latent_dim": 64, "width": 16,
             "data": "scenes", "seed": seed, "heldout": True, "arch": arch, **settings}
            for arch, settings in ARCHS.items() for loss in LOSSES for seed in SEEDS]


def build(out: Path, steps: int, jobs: int) -> None:
    from darkroom.ops.zoo import build_member
    todo = [m for m in members() if not (out / m["name"] / "samples.npz").is_file()]
    print(f"{len(todo)} of {len(members())} members to train, {steps} steps each")
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
    model = ModelParser(ModelParseConfig(channels=3, image_size=32, num_classes=2, width=16, stages=3,
                                         inputs="srm+npr"))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.05)
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


def spectra(images: torch.Tensor) -> np.ndarray:
    from darkroom.forensics.classical import spectrum_profile
    return np.stack([spectrum_profile(img, bins=16) for img in images])


def fold(out: str, train_ms: list[dict], test_ms: list[dict], steps: int) -> dict:
    out = Path(out)
    x, y, _ = load(out, train_ms, "train")
    tx, ty, names = load(out, test_ms, "all")
    t0 = time.time()
    model, train_acc = train_parser(x, y, steps)
    with torch.no_grad():
        pred = np.concatenate([model(tx[i:i + 512])["loss"][:, :4].argmax(1).numpy()
                               for i in range(0, len(tx), 512)])
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(spectra(x), y)
    spec_pred = lr.predict(spectra(tx))
    majority = {n: np.bincount(pred[[k == n for k in names]], minlength=4).argmax() for n in dict.fromkeys(names)}
    return {"parser": float((pred == ty).mean()), "spectrum": float((spec_pred == ty).mean()),
            "train_acc": train_acc, "minutes": (time.time() - t0) / 60,
            "members_right": sum(LOSSES[v] == n.split("-")[1] for n, v in majority.items()),
            "members": len(majority), "misread": [f"{n} as {LOSSES[v]}" for n, v in majority.items()
                                                  if LOSSES[v] != n.split("-")[1]]}


def probe(out: Path, steps: int, jobs: int) -> None:
    ms = members()
    folds = {f"within, seed {s} left out": ([m for m in ms if m["seed"] != s], [m for m in ms if m["seed"] == s])
             for s in SEEDS}
    folds.update({f"across, trained on {a}, tested on {b}": ([m for m in ms if m["arch"] == a],
                                                           [m for m in ms if m["arch"] == b])
                  for a, b in (("A", "B"), ("B", "A"))})
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {name: pool.submit(fold, str(out), tr, te, steps) for name, (tr, te) in folds.items()}
        results = {name: f.result() for name, f in futures.items()}
    print(f"\nLoss of GANs that differ only in loss and seed; A = {ARCHS['A']}, B = {ARCHS['B']}; latent 64, "
          f"width 16, scenes, 600-step members; parser: {steps} steps, batch 128. Chance 25 %.\n")
    print("| held out | parser, per sample | members right (majority) | Durall spectrum + LR | parser train acc. "
          "| minutes |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['parser']:.1%} | {r['members_right']} of {r['members']} | {r['spectrum']:.1%} "
              f"| {r['train_acc']:.1%} | {r['minutes']:.1f} |")
    for name, r in results.items():
        print(f"{name}: misread {', '.join(r['misread']) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["build", "probe"])
    ap.add_argument("--out", default="runs/lossprobe")
    ap.add_argument("--steps", type=int, help="build: member steps (600); probe: parser steps (600)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    if args.action == "build":
        build(out, args.steps or 600, args.jobs)
    else:
        probe(out, args.steps or 600, args.jobs)


if __name__ == "__main__":
    main()
