"""Generation at a fixed CPU budget: the textbook DCGAN loop vs darkroom's trainer.

    python benchmarks/generation.py [--quick] [--minutes M] [--threads T]
        [--data digits|scenes|notmnist|photos] [--grids DIR] [--gan-config F.toml] [--notmnist DIR]
        [--photos DIR] [--extractor RUN] [--runs reference,dcgan,gan,cgan,vae]
    (or: darkroom bench generation)

Three runs on digits (32 px; or scenes, 32 px, one object), each for the same wall-clock budget and
thread count (on notMNIST also `train cgan`, with the fraction of its samples the classifier reads as the
letter asked for, and `train vae`, with its ELBO on the 2,000 held-out glyphs in nats):
1. reference: a plain DCGAN training loop written here (Radford et al.: Adam 2e-4, beta1 0.5, BCE,
   D step then G step, data held in memory) with darkroom's DCGAN architecture;
2. darkroom `train dcgan` (same architecture and recipe, through darkroom's trainer and data layer);
3. darkroom `train gan` (the stable variant: hinge, spectral norm, EMA; or the settings of ``--gan-config``,
   e.g. configs/gan-digits-smalld.toml, within the same budget).
Then FID, KID, precision/recall and mode coverage (label TV: the total variation between the labels the
extractor predicts for the samples and for the data; 0 is the same mix of digits or shapes) of 1000 samples
against the training split (digits: all 1,439; scenes: the first 10,000 renders, which the reference loop
also trains on), in the feature space of darkroom's shipped `features-digits` / `features-scenes` extractor
(not Inception: compare within this table only). ``--data notmnist``: real 28 px font glyphs
(../shared/notmnist): every run trains on the first 8,000, and 2,000 samples are scored against the last
2,000 in the space of a classifier trained in the same run on the 8,000 (``--extractor RUN`` reuses one).
``--data photos``: 32 px crops of the colour photographs in ../shared/photos' train split (890), scored
against the same crops in the space of a SimCLR encoder trained in the run on them.
``--grids DIR`` also writes 64 samples of each run as
DIR/generation-DATA-RUN.png. ``--runs reference,gan`` runs only those rows (peers still side by side in the
one run; a 20-minute notMNIST table of all five rows takes about 107 minutes on one thread).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from darkroom.data import load_dataset
from darkroom.io import grid, write_image
from darkroom.metrics import generation as gm
from darkroom.models import load_run
from darkroom.nn.gan import DCGANDiscriminator, DCGANGenerator
from darkroom.ops.training import run_training


def reference_dcgan(minutes: float, images: torch.Tensor, seed: int = 0, batch_size: int = 64):
    """The textbook loop, nothing else: returns the generator, steps and images/s."""
    torch.manual_seed(seed)
    channels = images.shape[1]
    G, D = DCGANGenerator(100, channels, 32, 64), DCGANDiscriminator(channels, 32, 64)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = images * 2 - 1
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < minutes * 60:
        real = data[torch.randint(len(data), (batch_size,))]
        fake = G(torch.randn(batch_size, 100))
        loss_d = F.binary_cross_entropy_with_logits(
            D(real), torch.ones(batch_size)
        ) + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(batch_size))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(D(fake), torch.ones(batch_size))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        steps += 1
    seconds = time.perf_counter() - start
    return G.eval(), steps, steps * batch_size / seconds


def darkroom_run(model: str, spec: str, minutes: float, out: Path, config_file=None):
    start = time.perf_counter()
    info = run_training(
        model,
        spec,
        out,
        {"checkpoint_every": "100000", "sample_every": "100000"},
        config_file,
        flags={"steps": 10**7, "minutes": minutes, "seed": 0},
        progress=False,
        print_fn=lambda *a: None,
    )
    seconds = time.perf_counter() - start
    generator, _ = load_run(out)
    batch = info["train_config"]["batch_size"]
    return generator, info["step"], info["step"] * batch / seconds


@torch.no_grad()
def test_elbo(vae, images: torch.Tensor) -> float:
    """Mean ELBO (nats per image, beta 1) of a VAE on held-out images."""
    vae.eval()
    return -float(torch.cat([vae.loss({"image": b})["nelbo_nats"][None] for b in images.split(250)]).mean())


def notmnist(folder: Path, tmp: Path, extractor: str | None):
    """notMNIST's 10,000 glyphs: the first 8,000 to train on, the last 2,000 as FID's reference, and the
    feature space of a classifier trained on the 8,000 (darkroom's digits extractor has never seen letters)."""
    import numpy as np

    from darkroom.data.sources import _read_idx

    images = _read_idx(next(folder.glob("*-images-idx3-ubyte*")))
    labels = _read_idx(next(folder.glob("*-labels-idx1-ubyte*"))).astype(np.int64)
    np.savez(tmp / "train.npz", images=images[:8000], labels=labels[:8000])
    np.savez(tmp / "reference.npz", images=images[8000:], labels=labels[8000:])
    spec = f"npz:{tmp / 'train.npz'},split=all,size=32"
    if extractor is None:
        extractor = tmp / "features"
        run_training(
            "classifier",
            spec,
            extractor,
            {"width": "32", "log_every": "100"},
            flags={"steps": 800, "seed": 0},
            progress=False,
            print_fn=lambda *a: None,
        )
    net, card = load_run(extractor)
    card = {**card, "name": f"classifier trained on the 8,000 training glyphs ({card['step']} steps)"}

    def stacked(data_spec: str) -> torch.Tensor:  # read at 32 px by the data layer, as the runs read them
        data = load_dataset(data_spec)
        return torch.stack([data[i]["image"] for i in range(len(data))])

    return spec, stacked(spec), stacked(f"npz:{tmp / 'reference.npz'},split=all,size=32"), net, card


def photos(folder: Path, tmp: Path, extractor: str | None):
    """32 px crops of the colour photographs of ../shared/photos' train split (each photo scaled to a short
    side of 40 px, the grid's centre crop; 890 images), the same crops as FID's reference, and the feature
    space of a SimCLR encoder trained in the run on them (the photos have no labels to classify)."""
    from darkroom.ops.evaluate import EXTRACTOR_STEPS, SIMCLR_EXTRACTOR

    spec = f"photos:{folder},resize=40,patch=32,colour=1"
    if extractor is None:
        extractor = tmp / "features"
        run_training(
            "simclr",
            spec,
            extractor,
            {**SIMCLR_EXTRACTOR, "log_every": "100"},
            flags={"steps": EXTRACTOR_STEPS["simclr"], "seed": 0},
            progress=False,
            print_fn=lambda *a: None,
        )
    net, card = load_run(extractor)
    card = {**card, "name": f"SimCLR encoder trained on the same crops ({card['step']} steps)"}
    data = load_dataset(f"{spec},split=train")
    return spec, torch.stack([data[i]["image"] for i in range(len(data))]), net, card


def figure(value: float) -> str:
    """Two decimals, or three significant digits below 1 (a SimCLR space's unit vectors give small FIDs)."""
    return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


RUNS = ("reference", "dcgan", "gan", "cgan", "vae")  # cgan and vae on notmnist only (they need labels)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 minutes per run instead of 20")
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", choices=("digits", "scenes", "notmnist", "photos"), default="digits")
    parser.add_argument("--notmnist", default="../shared/notmnist", help="folder of notMNIST's IDX files")
    parser.add_argument("--photos", default="../shared/photos", help="folder of the photographs and their CSV")
    parser.add_argument(
        "--extractor",
        help="notmnist, photos: the run of the feature space (default: trained in this run, a classifier on "
        "the 8,000 training glyphs, a SimCLR encoder on the photo crops)",
    )
    parser.add_argument("--grids", help="folder for a sample grid of each run")
    parser.add_argument("--gan-config", help="a TOML config for the stable run (its settings; the budget stays)")
    parser.add_argument(
        "--runs",
        default=",".join(RUNS),
        help=f"comma-separated rows to run, of {', '.join(RUNS)} (default: all the data allow; reference is "
        "the textbook loop)",
    )
    args = parser.parse_args()
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = sorted(set(args.runs) - set(RUNS))
    if unknown or not args.runs:
        parser.error(f"--runs: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(RUNS)}")
    if args.data != "notmnist":  # the conditional GAN and the VAE rows need labelled real data
        args.runs = [r for r in args.runs if r not in ("cgan", "vae")]
    return args


def load_suite(args, tmp: Path):
    """(training spec, training images, reference images, extractor, its card, what the reference is)."""
    if args.data == "notmnist":
        spec, train, real, extractor, card = notmnist(Path(args.notmnist), tmp, args.extractor)
        return spec, train, real, extractor, card, "the last 2,000 glyphs (never trained on)"
    if args.data == "photos":
        spec, real, extractor, card = photos(Path(args.photos), tmp, args.extractor)
        return spec, real, real, extractor, card, "the 32 px crops trained on"
    extractor, card = load_run(f"features-{args.data}")
    spec = f"{args.data}:size=32"
    data = load_dataset(f"{spec},split=train")
    real = torch.stack([data[i]["image"] for i in range(min(len(data), 10_000))])
    return spec, real, real, extractor, card, "train split"


def run_rows(args, minutes: float, tmp: Path, spec: str, train, real, extractor, n_fake: int) -> list:
    """Each asked-for run for ``minutes``: (label, steps, images/s, samples, extra figures)."""
    rows = []
    if "reference" in args.runs:
        G, steps, rate = reference_dcgan(minutes, train)
        fake = torch.cat(
            [
                (G(torch.randn(250, 100, generator=torch.Generator().manual_seed(k))) + 1) / 2
                for k in range(-(-n_fake // 250))
            ]
        ).detach()[:n_fake]
        rows.append(("reference DCGAN loop (textbook, in the benchmark)", steps, rate, fake, {}))
    stable = f"darkroom train gan --config {args.gan_config}" if args.gan_config else "darkroom train gan (stable)"
    runs = [
        ("dcgan", "darkroom train dcgan (same recipe)", None),
        ("gan", stable, args.gan_config),
        ("cgan", "darkroom train cgan (defaults)", None),
        ("vae", "darkroom train vae (defaults)", None),
    ]
    for model, label, config_file in (run for run in runs if run[0] in args.runs):
        generator, steps, rate = darkroom_run(model, spec, minutes, tmp / model, config_file)
        asked = torch.arange(n_fake) % 10 if model == "cgan" else None
        fake = torch.cat(
            [
                generator.sample(
                    min(500, n_fake - i),
                    None if asked is None else asked[i : i + 500],
                    generator=torch.Generator().manual_seed(i),
                )
                for i in range(0, n_fake, 500)
            ]
        )
        extra = {}
        if asked is not None:
            extra["label accuracy"] = float((gm.predicted_labels(fake, extractor) == asked).float().mean())
        if model == "vae":
            extra["test ELBO"] = test_elbo(generator, real)
        rows.append((label, steps, rate, fake, extra))
    return rows


def print_table(args, rows: list, real, extractor) -> None:
    print(
        "| run | steps | train images/s | FID | KID x1000 | precision | recall | label TV |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    notes = []
    for label, steps, rate, fake, extra in rows:
        name = label.split()[2] if label.startswith("darkroom train") else "reference"
        if args.grids:
            write_image(
                Path(args.grids) / f"generation-{args.data}-{name}.png",
                grid(fake[:64]),
                provenance={"benchmark": "generation", "run": label, "minutes": args.minutes},
            )
        fid = gm.fid(real, fake, extractor)
        kid_mean, kid_std = gm.kid(real, fake, extractor)
        precision, recall = gm.precision_recall(real, fake, extractor)
        coverage = "–"  # label TV needs a classifier; the photos' SimCLR space has no labels
        if hasattr(extractor.config, "num_classes"):
            tv, _, _ = gm.label_total_variation(real, fake, extractor, extractor.config.num_classes)
            coverage = f"{tv:.3f}"
        print(
            f"| {label} | {steps} | {rate:.0f} | {figure(fid)} | {figure(kid_mean * 1000)} +- "
            f"{figure(kid_std * 1000)} | "
            f"{precision:.2f} | {recall:.2f} | {coverage} |"
        )
        if "label accuracy" in extra:
            notes.append(f"{label}: {extra['label accuracy']:.1%} of samples read as the letter asked for")
        if "test ELBO" in extra:
            notes.append(f"{label}: test ELBO {extra['test ELBO']:.1f} nats per 32 px glyph (the 2,000 held out)")
    if notes:
        print("\n" + "\n".join(f"- {n}" for n in notes))


def main() -> None:
    args = parse_args()
    args.minutes = minutes = args.minutes or (2.0 if args.quick else 20.0)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        spec, train, real, extractor, card, reference = load_suite(args, Path(tmp))
        n_fake = len(real) if args.data == "notmnist" else 1000
        rows = run_rows(args, minutes, Path(tmp), spec, train, real, extractor, n_fake)
    print(f"## Generation on {args.data}, 32 px, {minutes:g} min per run, {args.threads} thread(s)\n")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}; torch {torch.__version__}; "
        f"features: {card['name']} (sha256 {str(card.get('sha256'))[:12]}), {len(real)} real ({reference}), "
        f"{n_fake} samples\n"
    )
    print_table(args, rows, real, extractor)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {time.time() - t0:.0f} s, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
