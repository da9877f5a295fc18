"""``darkroom eval``: FID, KID, precision/recall and mode coverage in darkroom's own feature spaces."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from darkroom.data import load_dataset, parse_spec
from darkroom.data.base import fit_image
from darkroom.io import Failure, list_images, read_image
from darkroom.metrics import generation as gm
from darkroom.models import load_run, weights_path
from darkroom.ops.generate import resolve_label

EXTRACTORS = {"digits": "features-digits", "mnist": "features-digits", "scenes": "features-scenes"}
METRICS = ("fid", "kid", "pr", "coverage")
PAIRED = ("psnr", "ssim")


# Steps of the extractor trained for the user's data: a classifier (features-notmnist's recipe), or a SimCLR
# encoder where the data have no labels (below).
EXTRACTOR_STEPS = {"classifier": 800, "simclr": 400}


def _same_data(a, b) -> bool:
    """Two specs name the same images: same source, same folder (resolved) and size."""
    if a.source != b.source or a.options.get("size") != b.options.get("size"):
        return False
    return (a.path is None) == (b.path is None) and (a.path is None or Path(a.path).resolve() == Path(b.path).resolve())


def default_extractor(spec: str, print_fn=print) -> str:
    """The feature space for ``spec``: a shipped classifier trained on the same data; for the built-in
    digits and scenes the shipped one; otherwise one trained here on the data's train split, once, and
    cached (``~/.cache/darkroom/extractors``): a classifier, or a SimCLR encoder for data without labels."""
    from darkroom.weights import shipped_weights

    wanted = parse_spec(spec)
    wanted = type(wanted)(wanted.source, wanted.path, {k: v for k, v in wanted.options.items() if k == "size"})
    for card in shipped_weights():
        if (
            card.get("model") == "classifier"
            and card["name"].startswith("features-")
            and _same_data(parse_spec(card["data"]), wanted)
        ):
            return card["name"]
    if wanted.source in ("digits", "scenes"):
        return EXTRACTORS[wanted.source]
    return cached_extractor(str(wanted), print_fn)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _extractor_steps(model: str) -> int:
    return EXTRACTOR_STEPS[model]


# For data without labels (a folder of photos): a SimCLR encoder, trained by contrast between two augmented
# views of each image, no labels needed; narrow (width 16), which costs 0.7 s a step of 128 32 px images on
# one core where width 32 costs 2.3 s.
SIMCLR_EXTRACTOR = {"width": "16"}
FEATURE_MODELS = ("classifier", "simclr")


def _extractor_recipe(spec: str) -> tuple[str, dict, dict]:
    """(model, settings, flags) of the extractor trained for ``spec``: a classifier when the train split has
    labels enough, else a SimCLR encoder."""
    data = load_dataset(spec, split="train")
    classes = len(getattr(data, "class_names", None) or [])
    if classes >= 2 and len(data) >= 20 * classes:
        return "classifier", {"width": "32", "feature_dim": "128"}, {"batch_size": 128, "lr": 2e-3}
    if len(data) < 64:
        raise ValueError(
            f"{spec}: {len(data)} training images, too few to train a feature extractor on; pass --features RUN "
            "(a classifier or simclr run trained on data like these)"
        )
    return "simclr", dict(SIMCLR_EXTRACTOR), {"batch_size": 128, "lr": 1e-3}


def cached_extractor(spec: str, print_fn=print) -> str:
    import hashlib

    from darkroom.models.text import cache_dir
    from darkroom.ops.training import run_training

    def cached_run(model: str) -> Path:  # classifier runs keep the keys they were cached under
        suffix = "" if model == "classifier" else f"|{model}"
        return (
            cache_dir().parent
            / "extractors"
            / hashlib.sha1(f"{spec}|{_extractor_steps(model)}{suffix}".encode()).hexdigest()[:16]
        )

    for model in FEATURE_MODELS:  # a cached run answers before the data are read
        run = cached_run(model)
        if (run / "run.json").is_file() and (run / "model.safetensors").is_file():
            return str(run)
    model, settings, flags = _extractor_recipe(spec)
    run = cached_run(model)
    kind = "a classifier" if model == "classifier" else "a SimCLR encoder (the data have no labels)"
    print_fn(
        f"training a feature extractor for {spec}, {kind}, on its train split "
        f"({_extractor_steps(model)} steps, once; cached in {run})"
    )
    run_training(
        model,
        spec,
        run,
        settings,
        flags={"steps": _extractor_steps(model), "seed": 0, **flags},
        resume=run.exists(),
        print_fn=print_fn,
    )
    return str(run)


def real_images(spec: str, n: int) -> tuple[torch.Tensor, str]:
    data = load_dataset(spec)
    if len(data) < 2:
        raise ValueError(f"{spec}: fewer than 2 images to compare against")
    step = max(1, len(data) // n)
    images = torch.stack([data[i]["image"] for i in tqdm(range(0, len(data), step)[:n], desc="real", leave=False)])
    return images, data.split


def _is_generator(fake: str) -> bool:
    path = Path(fake)
    return (path / "run.json").is_file() or not path.exists()


def fake_images(fake: str, n: int, like: torch.Tensor, seed: int = 0, label=None) -> torch.Tensor:
    """``n`` images from a run / shipped generator, or read from files (resized to the real images' size)."""
    if _is_generator(fake):
        model, info = load_run(fake)
        if not hasattr(model, "sample"):
            raise ValueError(f"{fake}: a {info['model']} is not a generator")
        generator = torch.Generator().manual_seed(seed)
        index = resolve_label(label, info)
        if getattr(model, "conditional", False) and index is None:
            labels = torch.arange(n) % model.config.num_classes  # every class equally
            return torch.cat([model.sample(len(chunk), chunk, generator=generator) for chunk in labels.split(256)])
        return torch.cat([model.sample(min(256, n - s), index, generator=generator) for s in range(0, n, 256)])
    paths, problems = list_images([fake])
    if problems or not paths:
        raise ValueError(problems[0] if problems else f"{fake}: no images")
    size, gray = like.shape[-1], like.shape[1] == 1
    return torch.stack([fit_image(read_image(p), size, gray) for p in tqdm(paths[:n], desc="fake", leave=False)])


def evaluate(
    metric: str, real: str, fake: str, n: int = 1000, extractor: str | None = None, seed: int = 0, label=None
) -> dict:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose {', '.join(METRICS)}")
    if _is_generator(fake):
        weights_path(fake)  # a missing run fails here, before the real images are read
    extractor_name = extractor or default_extractor(real, print_fn=_to_stderr)  # stdout may be --json
    classifier, card = load_run(extractor_name)
    if card["model"] not in FEATURE_MODELS:
        raise ValueError(f"{extractor_name}: a {card['model']} is not a feature extractor (train a classifier)")
    if metric == "coverage" and card["model"] != "classifier":
        raise ValueError(f"{extractor_name}: coverage reads labels, and a {card['model']} has none (--features)")
    real_x, split = real_images(real, n)
    result = {
        "metric": metric,
        "real": real,
        "reference_split": split,
        "real_count": len(real_x),
        "fake": fake,
        "extractor": extractor_name,
        "extractor_sha256": card.get("sha256"),
        "note": f"features of darkroom's {extractor_name}, not Inception: compare only with the same extractor",
    }
    if metric == "coverage":  # draws its own samples, per label for conditional generators
        result.update(coverage(real_x, fake, classifier, card, seed))
        return result
    fake_x = fake_images(fake, n, real_x, seed, label)
    result["fake_count"] = len(fake_x)
    if metric == "fid":
        result["fid"] = gm.fid(real_x, fake_x, classifier)
    elif metric == "kid":
        result["kid"], result["kid_std"] = gm.kid(real_x, fake_x, classifier)
    else:
        result["precision"], result["recall"] = gm.precision_recall(real_x, fake_x, classifier)
    return result


def coverage(real_x: torch.Tensor, fake: str, classifier, card: dict, seed: int) -> dict:
    """Conditional generators: share of samples classified as the requested label, per label.
    Unconditional: predicted-label histogram of samples against the data's, and their total variation."""
    classes = classifier.config.num_classes
    names = card.get("data_info", {}).get("class_names") or [str(i) for i in range(classes)]
    if _is_generator(fake):
        model, _ = load_run(fake)
        if getattr(model, "conditional", False):
            generator, per_label = torch.Generator().manual_seed(seed), {}
            for label in range(model.config.num_classes):
                images = model.sample(100, label, generator=generator)
                per_label[names[label]] = float((gm.predicted_labels(images, classifier) == label).float().mean())
            return {"label_accuracy": sum(per_label.values()) / len(per_label), "per_label": per_label}
    fake_x = fake_images(fake, len(real_x), real_x, seed)
    distance, real_hist, fake_hist = gm.label_total_variation(real_x, fake_x, classifier, classes)
    return {
        "total_variation": distance,
        "histogram_fake": dict(zip(names, fake_hist.tolist())),
        "histogram_real": dict(zip(names, real_hist.tolist())),
    }


def evaluate_pairs(metric: str, real, fake, border: int = 0, y_only: bool = False) -> dict:
    """PSNR or SSIM of each fake image against the real image with the same stem; mean over pairs."""
    from darkroom.metrics.image import psnr, ssim

    if metric not in PAIRED:
        raise ValueError(f"unknown paired metric {metric!r}; choose {', '.join(PAIRED)}")
    reals, problems = list_images([real])
    fakes, more = list_images([fake])
    if problems or more:
        raise ValueError((problems + more)[0])
    by_stem = {p.stem: p for p in reals}
    pairs = [(by_stem[f.stem], f) for f in fakes if f.stem in by_stem]
    if not pairs:
        raise ValueError(f"no file in {fake} has a namesake in {real}")
    fn = psnr if metric == "psnr" else ssim
    scores, failures = {}, []
    for ref, est in pairs:
        try:
            a, b = read_image(est), read_image(ref)
            scores[ref.stem] = fn(a, b, border, y_only)
        except ValueError as err:
            failures.append(Failure(est, err))
    values = list(scores.values())
    return {
        "metric": metric,
        "mean": sum(values) / max(len(values), 1),
        "pairs": len(values),
        "unmatched": len(fakes) - len(pairs),
        "per_image": scores,
        "failures": failures,
        "y_only": y_only,
        "border": border,
    }
