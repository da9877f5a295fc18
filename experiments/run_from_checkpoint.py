"""Make a finished run folder from one checkpoint, with its raw or EMA weights.

    python experiments/run_from_checkpoint.py RUN/checkpoints/step_N OUT [--ema]

For when a run was stopped early, or its raw weights measure better than its EMA ones; run.json says
which weights these are.
"""

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import save_model

from darkroom.models import load_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--ema", action="store_true", help="take the EMA weights instead of the raw ones")
    args = parser.parse_args()
    checkpoint, out = Path(args.checkpoint), Path(args.out)
    info = json.loads((checkpoint / "run.json").read_text())
    for key in ("optimizer", "rng", "scaler"):
        info.pop(key, None)
    info["weights"] = f"{'EMA' if args.ema else 'raw'} weights of checkpoint step {info['step']}"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint / ("ema.safetensors" if args.ema else "model.safetensors"), out / "model.safetensors")
    (out / "run.json").write_text(json.dumps(info, indent=1))
    model, _ = load_run(out)
    if args.ema and hasattr(model, "calibrate"):  # as the trainer does for its final EMA model
        model.calibrate()
        save_model(model, str(out / "model.safetensors"))
        info["weights"] += ", BatchNorm statistics recomputed"
        (out / "run.json").write_text(json.dumps(info, indent=1))
    print(f"{out}: {info['weights']}")


if __name__ == "__main__":
    main()
