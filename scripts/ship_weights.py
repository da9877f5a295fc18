"""Copy a finished run's weights into the package with a model card.

    python scripts/ship_weights.py RUN NAME --summary "one line" [--metrics '{"fid": 12.3}'] [--half]

The card is the run's run.json (config, data spec, steps, time, git hash, validation metrics) plus
the summary, extra measured metrics and the weights' sha256, which `load_run` verifies.
"""
import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from darkroom.models import load_run, sha256
from darkroom.weights import WEIGHTS_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--metrics", default="{}", help="JSON of figures measured on the finished model")
    parser.add_argument("--half", action="store_true", help="store float tensors as float16 (half the size; "
                        "loaded back into float32 models)")
    args = parser.parse_args()
    run = Path(args.run)
    load_run(run)  # refuses anything that is not a loadable finished run
    info = json.loads((run / "run.json").read_text())
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    if args.half:
        tensors = load_file(str(run / "model.safetensors"))
        save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(target))
    else:
        shutil.copyfile(run / "model.safetensors", target)
    card = {"name": args.name, "summary": args.summary, **info, "measured": json.loads(args.metrics),
            "sha256": sha256(target), "size_bytes": target.stat().st_size,
            "stored_dtype": "float16" if args.half else "as trained"}
    (WEIGHTS_DIR / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"shipped {target} ({card['size_bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
