"""Join two trained ``gendetect`` networks (run folders or shipped names) into one ``gendetect-pair`` run, which
scores a crop by the mean of their calibrated logits. Calibrate each first (experiments/calibrate_gendetect.py),
then the pair itself:

    python experiments/pair_gendetect.py gendetect runs/t2-gg1-all --out runs/pair-all
    python experiments/calibrate_gendetect.py runs/pair-all/run.json --model runs/pair-all --tta

Both must have left out the same family (``holdout``), so that leave-one-family-out runs pair by family.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import save_model

from darkroom.config import config_to_dict
from darkroom.models import load_run
from darkroom.models.gendetect import DetectorPair, DetectorPairConfig


def pair(first: str, second: str, out: Path) -> DetectorPair:
    """The two runs' networks as one DetectorPair, saved as a run folder ``out`` -> the pair."""
    (a, info_a), (b, info_b) = load_run(first), load_run(second)
    if info_a["model"] != "gendetect" or info_b["model"] != "gendetect":
        raise SystemExit(f"pair_gendetect: both must be gendetect models, got {info_a['model']} and {info_b['model']}")
    if a.config.holdout != b.config.holdout:
        raise SystemExit(f"pair_gendetect: {first} left out family {a.config.holdout}, {second} {b.config.holdout}")
    config = DetectorPairConfig(
        first=json.dumps(config_to_dict(a.config)),
        second=json.dumps(config_to_dict(b.config)),
        crop=a.config.crop,
        holdout=a.config.holdout,
    )
    model = DetectorPair(config)
    for member, source in zip(model.members, (a, b)):
        member.load_state_dict(source.state_dict())
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, str(out / "model.safetensors"))
    members = [
        {"run": str(run), **{k: info.get(k) for k in ("summary", "data", "step", "git") if k in info}}
        for run, info in ((first, info_a), (second, info_b))
    ]
    (out / "run.json").write_text(
        json.dumps(
            {
                "model": "gendetect-pair",
                "model_config": config_to_dict(config),
                "data": info_a.get("data"),
                "members": members,
            },
            indent=1,
        )
        + "\n"
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="run folder or shipped name")
    parser.add_argument("second")
    parser.add_argument("--out", required=True, help="the pair's run folder")
    args = parser.parse_args()
    pair(args.first, args.second, Path(args.out))
    print(f"{args.first} + {args.second} -> {args.out}")


if __name__ == "__main__":
    main()
