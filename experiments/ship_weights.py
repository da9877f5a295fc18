"""Copy a finished run's weights into the package with a model card.

    python experiments/ship_weights.py RUN NAME --summary "one line" [--metrics '{"fid": 12.3}'] [--half] [--drop D.]
        [--extra '{"data_source": "..."}'] [--model-config temperature=0.5]

The card is the run's run.json (config, data spec, steps, time, git hash, validation metrics) plus
the summary, extra measured metrics and the weights' sha256, which `load_run` verifies. ``--extra`` adds
fields to the card (a data source and its terms); ``--model-config KEY=VALUE`` changes an inference-time
setting chosen after training (on validation data), listed in the card as ``model_config_changed``. ``--drop D.``
leaves out the tensors under a prefix that inference never uses (a GAN's discriminator); the card lists
them and `load_run` leaves those parts as initialised.
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
    parser.add_argument(
        "--half",
        action="store_true",
        help="store float tensors as float16 (half the size; loaded back into float32 models)",
    )
    parser.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="PREFIX",
        help="leave out tensors whose name starts with PREFIX (e.g. D. for a GAN's discriminator)",
    )
    parser.add_argument("--extra", default="{}", help="JSON of fields added to the card")
    parser.add_argument(
        "--model-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an inference setting chosen after training (JSON value), e.g. temperature=0.5",
    )
    args = parser.parse_args()
    run = Path(args.run)
    load_run(run)  # refuses anything that is not a loadable finished run
    info = json.loads((run / "run.json").read_text())
    changed = {}
    for item in args.model_config:
        key, _, value = item.partition("=")
        if key not in info["model_config"]:
            raise SystemExit(f"--model-config {key}: the run's model config has no such key")
        changed[key] = {"trained_with": info["model_config"][key], "shipped": json.loads(value)}
        info["model_config"][key] = json.loads(value)
    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    if args.half or args.drop:
        tensors = {
            k: v for k, v in load_file(str(run / "model.safetensors")).items() if not k.startswith(tuple(args.drop))
        }
        save_file({k: v.half() if args.half and v.is_floating_point() else v for k, v in tensors.items()}, str(target))
    else:
        shutil.copyfile(run / "model.safetensors", target)
    card = {
        "name": args.name,
        "summary": args.summary,
        **info,
        "measured": json.loads(args.metrics),
        "sha256": sha256(target),
        "size_bytes": target.stat().st_size,
        "stored_dtype": "float16" if args.half else "as trained",
        **({"dropped": args.drop} if args.drop else {}),
        **({"model_config_changed": changed} if changed else {}),
        **json.loads(args.extra),
    }
    (WEIGHTS_DIR / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"shipped {target} ({card['size_bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
