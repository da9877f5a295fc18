"""Copy a finished run's weights into the package with a model card.

    python scripts/ship_weights.py RUN NAME --summary "one line" [--metrics '{"fid": 12.3}']

The card is the run's run.json (config, data spec, steps, time, git hash, validation metrics) plus
the summary, extra measured metrics and the weights' sha256, which `load_run` verifies.
"""
import argparse
import json
import shutil
from pathlib import Path

from darkroom.models import load_run, sha256
from darkroom.weights import WEIGHTS_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--metrics", default="{}", help="JSON of figures measured on the finished model")
    args = parser.parse_args()
    run = Path(args.run)
    load_run(run)  # refuses anything that is not a loadable finished run
    info = json.loads((run / "run.json").read_text())
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    shutil.copyfile(run / "model.safetensors", target)
    card = {"name": args.name, "summary": args.summary, **info, "measured": json.loads(args.metrics),
            "sha256": sha256(target), "size_bytes": target.stat().st_size}
    (WEIGHTS_DIR / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"shipped {target} ({card['size_bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
