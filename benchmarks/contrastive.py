"""Contrastive features at a fixed CPU budget: kNN accuracy of a SimCLR encoder versus the same encoder
randomly initialised and versus raw pixels.

    python benchmarks/contrastive.py [--quick]          (or: darkroom bench contrastive)

For `digits` and `scenes` (32 px; scenes labelled by shape): train `simclr` (small ResNet) for a fixed
number of minutes with `darkroom train`, then classify the test split by its 20 nearest neighbours
(cosine) in the train split, with the trained features, the untrained encoder's, and the pixels.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from darkroom.data import collate, load_dataset
from darkroom.models import build_model, load_run, resolve_config
from darkroom.ops.training import run_training


def stack(spec: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset(spec)
    batch = collate([data[i] for i in range(min(limit, len(data)))])
    return batch["image"], batch["label"]


@torch.no_grad()
def knn(train_x, train_y, test_x, test_y, k: int = 20) -> float:
    sims = F.normalize(test_x, dim=1) @ F.normalize(train_x, dim=1).T
    neighbours = train_y[sims.topk(k, dim=1).indices]
    votes = F.one_hot(neighbours, int(train_y.max()) + 1).sum(1)
    return float((votes.argmax(1) == test_y).float().mean())


@torch.no_grad()
def features(model, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model.features(images[i : i + 256]) for i in range(0, len(images), 256)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 minute of training, digits only")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minutes = 1.0 if args.quick else 4.0
    datasets = {"digits": "digits:size=32", "scenes": "scenes:size=32,n=6000"}
    if args.quick:
        datasets.pop("scenes")
    print(f"## kNN accuracy (k=20, cosine) on the test split; SimCLR trained {minutes:g} CPU-minutes\n")
    print("| data | raw pixels | random encoder | SimCLR encoder | SimCLR steps |\n|---|---:|---:|---:|---:|")
    for name, spec in datasets.items():
        train_x, train_y = stack(spec, 4000)
        test_x, test_y = stack(spec + ",split=test", 1000)
        pixels = knn(train_x.flatten(1), train_y, test_x.flatten(1), test_y)
        model_values = {"width": "16", "levels": "3"}
        values = {
            **model_values,
            "batch_size": "128",
            "schedule": "cosine",
            "warmup": "20",
            "checkpoint_every": "100000",
            "sample_every": "100000",
        }
        torch.manual_seed(0)
        random = build_model("simclr", resolve_config("simclr", model_values, load_dataset(spec).info()))
        untrained = knn(features(random, train_x), train_y, features(random, test_x), test_y)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.time()
            info = run_training(
                "simclr",
                spec,
                f"{tmp}/run",
                values,
                flags={"steps": 100000, "minutes": minutes},
                progress=False,
                print_fn=lambda *a: None,
            )
            model, _ = load_run(f"{tmp}/run")
            trained = knn(features(model, train_x), train_y, features(model, test_x), test_y)
        print(
            f"| {name} | {pixels:.3f} | {untrained:.3f} | {trained:.3f} | {info['step']} "
            f"({time.time() - start:.0f} s) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
