"""Model parsing and attribution on the generator zoo: which generator made this image, and how was it built?

    python benchmarks/parsing.py [--zoo runs/zoo] [--model modelparse] [--quick] [--compare]   (also run by bench reverse)

The zoo (`darkroom zoo build --out runs/zoo`) has known members (the parser trained on their train-split
samples) and held-out members it never saw. Side by side in the same run: the spectral baseline of Durall
et al. (azimuthal average of the log-magnitude FFT) with a logistic regression per question, fitted on
the same training samples, and chance / the majority class of the known members.

1. Attribution, closed set: test-split samples of the known members and real images (renders, digits).
2. Open set: "unknown generator" from 1 - the top attribution probability; AUROC of held-out members'
   samples against the known members' test samples; what the parser's calibrated threshold names.
3. Hyper-parameters of the 42 held-out members (leave-members-out): accuracy per hyper-parameter, on all of
   them and on the first 10 (the held-out set before gan52-gan83 joined it); beside it, on the known members'
   test samples (memory on the parser's own zoo; on another build of the zoo, the same generators at another
   checkpoint). Then each held-out member by the parser's majority answer over its samples.
4. The closed loop: new samples of darkroom's shipped generators (cgan-digits, cgan-scenes; zoo members).
5. When the runs of configs/modelparse-{supervised,combined,supcon,pretrained}.toml exist (``--compare``
   for this table alone): supervised vs contrastive-pretrained vs combined feature learning.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from darkroom.data import load_dataset
from darkroom.data.zoo import ATTRIBUTION, HELDOUT, HYPERPARAMS, MEMBERS, REAL
from darkroom.forensics.classical import spectrum_profile
from darkroom.models import load_run
from darkroom.ops.parsing import generator_choice


def arrays(dataset, limit=None):
    n = len(dataset) if limit is None else min(limit, len(dataset))
    step = max(1, len(dataset) // n)
    picks = range(0, len(dataset), step)
    images = torch.stack([dataset[i]["image"] for i in picks])
    labels = np.array([dataset[i]["label"] for i in picks])
    targets = np.stack([dataset[i]["target"].numpy() for i in picks])
    sources = [dataset[i]["source"] for i in picks]
    return images, labels, targets, sources


@torch.no_grad()
def parser_probs(model, images):
    out = {}
    for i in range(0, len(images), 256):
        for name, p in model.predict(images[i : i + 256]).items():
            out.setdefault(name, []).append(p.numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


def spectra(images):
    return np.stack([spectrum_profile(x, bins=16) for x in images])


def fit_lr(features, y):
    keep = y >= 0
    scaler = StandardScaler().fit(features[keep])
    lr = LogisticRegression(max_iter=2000).fit(scaler.transform(features[keep]), y[keep])

    def probs(f):
        p = np.zeros((len(f), int(y.max()) + 1))
        p[:, lr.classes_] = lr.predict_proba(scaler.transform(f))
        return p

    return probs


def table(title, header, rows):
    print(f"\n{title}\n\n| {' | '.join(header)} |\n|{'---|' * len(header)}")
    for row in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")


def fits_zoo(model) -> bool:
    """Attribution classes are the zoo's known members + real: a parser trained before the zoo grew has fewer."""
    return model.config.num_classes == len(ATTRIBUTION)


def run(zoo: Path, model_name: str = "modelparse", quick: bool = False) -> None:
    t0 = time.time()
    model, info = load_run(model_name)
    if not fits_zoo(model):
        sys.exit(
            f"{model_name} was trained on a zoo of {model.config.num_classes - 1} known members; this "
            f"darkroom's zoo has {len(ATTRIBUTION) - 1}: retrain it (configs/modelparse.toml)"
        )
    train = arrays(load_dataset(f"zoo:{zoo}"), 3000 if quick else 12000)
    known = arrays(load_dataset(f"zoo:{zoo},split=test"), 1000 if quick else None)
    held = arrays(load_dataset(f"zoo:{zoo},members=heldout,split=test"), 600 if quick else None)
    print(
        f"## Model parsing and attribution\n\nZoo {zoo}: {len(ATTRIBUTION) - 1} known members + real images, "
        f"{len(set(held[3]))} held-out members; parser `{model_name}` (trained on {info.get('data', '?')}); "
        f"spectral baseline fitted on {len(train[0])} training samples; test: {len(known[0])} known, "
        f"{len(held[0])} held-out samples"
    )
    p_known, p_held = parser_probs(model, known[0]), parser_probs(model, held[0])
    s_train, s_known, s_held = spectra(train[0]), spectra(known[0]), spectra(held[0])
    spectral_attr = fit_lr(s_train, train[1])
    sa_known, sa_held = spectral_attr(s_known), spectral_attr(s_held)
    real = ATTRIBUTION.index(REAL)
    gen, first = known[1] != real, np.isin(held[3], HELDOUT[:10])  # first: gan16-gan23, vae02, vae03
    rows = []
    for name, pk in (("darkroom modelparse", p_known["attribution"]), ("Durall spectrum + LR", sa_known)):
        pred = pk.argmax(1)
        rows.append(
            [
                name,
                float((pred == known[1]).mean()),
                float((pred[gen] == known[1][gen]).mean()),
                float(((pred == real) == ~gen).mean()),
            ]
        )
    rows.append(["chance", 1 / len(ATTRIBUTION), 1 / (len(ATTRIBUTION) - 1), 0.5])
    table(
        "Attribution, closed set (test samples of the known members and real images)",
        ["method", "accuracy (all classes)", "accuracy (generated only)", "real vs generated accuracy"],
        rows,
    )
    rows = []
    for name, pk, ph in (
        ("darkroom modelparse", p_known["attribution"], p_held["attribution"]),
        ("Durall spectrum + LR", sa_known, sa_held),
    ):
        auroc = [
            roc_auc_score(np.r_[np.zeros(gen.sum()), np.ones(len(h))], np.r_[1 - pk[gen].max(1), 1 - h.max(1)])
            for h in (ph, ph[first])
        ]
        rows.append([name, *map(float, auroc), float((ph.argmax(1) == real).mean())])
    table(
        "Open set: held-out generators versus known generators (score: 1 - top attribution probability)",
        ["method", "AUROC unknown", "AUROC, first 10 held-out", "held-out images called real"],
        rows,
    )
    threshold = model.config.open_set_threshold
    top_known, score_known, _ = generator_choice(torch.from_numpy(p_known["attribution"][gen]))
    top_held, score_held, real_held = generator_choice(torch.from_numpy(p_held["attribution"]))
    named_known, named_held = score_known.numpy() >= threshold, (score_held >= threshold) & (real_held < 0.5)
    right = named_known & (top_known.numpy() == known[1][gen])
    print(
        f"\nAt the parser's open-set threshold {threshold:g} (top attribution probability among generators; "
        f"{'experiments/calibrate_modelparse.py' if threshold != 0.5 else 'not calibrated'}): "
        f"{right.mean():.1%} of the known members' generated test samples are named right, "
        f"{1 - named_known.mean():.1%} are called unknown; {named_held.numpy().mean():.1%} of the held-out "
        f"members' samples are named after a known member (first 10: {named_held.numpy()[first].mean():.1%}; at 0.5: "
        f"{((score_held >= 0.5) & (real_held < 0.5)).numpy().mean():.1%})"
    )
    rows = []
    for k, (head, values) in enumerate(HYPERPARAMS.items()):
        y_train, y_held = train[2][:, k], held[2][:, k]
        spectral = fit_lr(s_train, y_train)(s_held).argmax(1)
        majority = np.bincount(y_train[y_train >= 0], minlength=len(values)).argmax()
        right = p_held[head].argmax(1) == y_held
        on_known = float((p_known[head].argmax(1) == known[2][:, k])[gen].mean())
        rows.append(
            [
                head,
                float(right.mean()),
                float(right[first].mean()),
                float((spectral == y_held).mean()),
                float((y_held == majority).mean()),
                1 / len(values),
                on_known,
            ]
        )
        if head == "loss":  # a VAE's loss (ELBO) follows from its model type: the GANs alone, four losses
            gans, known_gans = (
                labels[:, list(HYPERPARAMS).index("model")] == HYPERPARAMS["model"].index("gan")
                for labels in (held[2], known[2])
            )
            rows.append(
                [
                    "loss, GANs only",
                    float(right[gans].mean()),
                    float(right[gans & first].mean()),
                    float((spectral == y_held)[gans].mean()),
                    float((y_held == majority)[gans].mean()),
                    1 / 4,
                    float((p_known[head].argmax(1) == known[2][:, k])[known_gans].mean()),
                ]
            )
    table(
        f"Hyper-parameters of the {len(set(held[3]))} held-out generators (never seen in training; beside: the "
        f"first 10, gan16-gan23 + vae02-vae03; last column: the known members' test samples, which show memory "
        f"when this is the zoo the parser trained on)",
        [
            "hyper-parameter",
            "darkroom modelparse",
            "modelparse, first 10",
            "Durall spectrum + LR",
            "majority class",
            "chance",
            "modelparse on known members",
        ],
        rows,
    )
    by_member(held, p_held)
    shipped_generators(model, 200 if quick else 1000)
    print(f"\nparsing: {time.time() - t0:.0f} s")


def by_member(held, p_held) -> None:
    """Each held-out member judged by the parser's majority answer over its samples: confusion tables for
    upsampling and loss, and the members it misreads."""
    members = sorted(set(held[3]))
    for head in ("upsample", "loss"):
        values, k = HYPERPARAMS[head], list(HYPERPARAMS).index(head)
        counts, missed = np.zeros((len(values), len(values)), int), []
        for source in members:
            pick = np.array([s == source for s in held[3]])
            truth = held[2][pick, k][0]
            votes = np.bincount(p_held[head][pick].argmax(1), minlength=len(values))
            counts[truth, votes.argmax()] += 1
            if votes.argmax() != truth:
                missed.append(f"{source} ({values[truth]} as {values[votes.argmax()]}, {votes.max() / pick.sum():.0%})")
        present = [i for i in range(len(values)) if counts[i].sum()]
        table(
            f"Held-out members by the parser's majority answer, {head}: {np.trace(counts)} of {counts.sum()} right "
            f"(rows: truth, columns: answer)",
            [head, *(values[i] for i in present)],
            [[values[i], *(int(counts[i, j]) for j in present)] for i in present],
        )
        print(f"\nmisread: {', '.join(missed) or 'none'}")


@torch.no_grad()
def shipped_generators(model, n: int) -> None:
    """The closed loop: what the parser says of fresh samples of darkroom's shipped generators (zoo members
    built from the shipped weights), 8-bit as `darkroom sample` writes them, labels in turn, other seeds
    than the zoo's."""
    rows = []
    for m in (m for m in MEMBERS if m.get("shipped")):
        generator, _ = load_run(m["name"])
        labels = torch.arange(n) % generator.config.num_classes
        x = generator.sample(n, labels, generator=torch.Generator().manual_seed(12345)).float().clamp(0, 1)
        probs = parser_probs(model, (x * 255).round() / 255)
        top, score, real = generator_choice(torch.from_numpy(probs["attribution"]))
        called = (real < 0.5).numpy()
        named = called & (score.numpy() >= model.config.open_set_threshold)
        right = {
            head: float((probs[head].argmax(1) == HYPERPARAMS[head].index(m[head])).mean())
            for head in ("upsample", "loss")
        }
        rows.append(
            [
                m["name"],
                f"{m['upsample']}, {m['loss']}",
                float(called.mean()),
                float((named & (top.numpy() == ATTRIBUTION.index(m["name"]))).mean()),
                float(named.mean()),
                right["upsample"],
                right["loss"],
            ]
        )
    table(
        f"darkroom's shipped generators ({n} new samples each)",
        ["generator", "upsampling, loss", "called generated", "named right", "named", "upsampling right", "loss right"],
        rows,
    )


VARIANTS = {
    "supervised": "runs/modelparse-supervised",
    "supervised + contrastive": "runs/modelparse-combined",
    "contrastive-pretrained, then supervised": "runs/modelparse-pretrained",
    "contrastive only (linear-probe heads)": "runs/modelparse-supcon",
    "supervised, seed 1": "runs/modelparse-supervised-seed1",
    "supervised + contrastive, seed 1": "runs/modelparse-combined-seed1",
    "supervised, neighbouring-pixel residual input": "runs/modelparse-npr",
    "supervised, image + SRM + neighbouring-pixel residual": "runs/modelparse-srm-npr",
    "supervised, image + SRM + neighbouring-pixel residual, seed 1": "runs/modelparse-srm-npr-seed1",
    "supervised + contrastive, image + SRM + neighbouring-pixel residual": "runs/modelparse-srm-npr-combined",
    "supervised + contrastive, image + SRM + neighbouring-pixel residual, seed 1": "runs/modelparse-srm-npr-combined-seed1",
}


def compare(zoo: Path, variants: dict, quick: bool = False) -> None:
    """Issue 6: supervised vs contrastive-pretrained vs both, same zoo, steps and seed (configs/modelparse-*.toml)."""
    known = arrays(load_dataset(f"zoo:{zoo},split=test"), 1000 if quick else None)
    held = arrays(load_dataset(f"zoo:{zoo},members=heldout,split=test"), 600 if quick else None)
    gen = known[1] != ATTRIBUTION.index(REAL)
    rows = []
    for name, run_dir in variants.items():
        model, info = load_run(run_dir)
        if not fits_zoo(model):
            rows.append(
                [
                    f"{name}: trained on another zoo ({model.config.num_classes - 1} known members), "
                    "retrain it on this one",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            )
            continue
        p_known, p_held = parser_probs(model, known[0]), parser_probs(model, held[0])
        unknown = np.concatenate([1 - p_known["attribution"][gen].max(1), 1 - p_held["attribution"].max(1)])
        truth = np.concatenate([np.zeros(gen.sum()), np.ones(len(held[0]))])
        heads = [float((p_held[h].argmax(1) == held[2][:, k]).mean()) for k, h in enumerate(HYPERPARAMS)]
        init = info["train_config"].get("init")
        steps = f"{load_run(init)[1]['step']} + {info['step']}" if init else str(info["step"])
        rows.append(
            [
                name,
                steps,
                float((p_known["attribution"].argmax(1) == known[1]).mean()),
                float(roc_auc_score(truth, unknown)),
                heads[list(HYPERPARAMS).index("upsample")],
                heads[list(HYPERPARAMS).index("loss")],
                float(np.mean(heads)),
            ]
        )
    table(
        "Supervised vs contrastive feature learning (same zoo and steps; seed 0 unless named)",
        [
            "parser",
            "steps",
            "attribution accuracy",
            "open-set AUROC",
            "held-out upsample",
            "held-out loss",
            "held-out mean over hyper-parameters",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="runs/zoo")
    parser.add_argument("--model", default="modelparse", help="shipped name or run folder")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="only the supervised vs contrastive table (runs/modelparse-{supervised,combined,supcon,pretrained})",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not Path(args.zoo).is_dir():
        sys.exit(
            f"no zoo at {args.zoo}: build it with `darkroom zoo build --out {args.zoo}` (80-120 minutes on 2 cores)"
        )
    variants = {name: path for name, path in VARIANTS.items() if Path(path, "run.json").is_file()}
    if not args.compare:
        run(Path(args.zoo), args.model, args.quick)
    if variants:
        compare(Path(args.zoo), variants, args.quick)
    elif args.compare:
        sys.exit("no variant runs: train them with configs/modelparse-{supervised,combined,supcon,pretrained}.toml")


if __name__ == "__main__":
    main()
