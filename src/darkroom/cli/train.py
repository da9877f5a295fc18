"""``darkroom train``: a model into a run folder."""

from __future__ import annotations

import json


def _cmd_train(args) -> int:
    from darkroom.config import parse_assignments
    from darkroom.ops.training import run_training
    from darkroom.train.distributed import env_rank

    flags = {"steps": args.steps, "minutes": args.minutes, "seed": args.seed, "device": args.device}
    if args.strict and args.data:
        from darkroom.data.spec import with_option

        args.data = with_option(args.data, "strict", True)
    info = run_training(
        args.model,
        args.data,
        args.out,
        parse_assignments(args.set),
        args.config,
        flags,
        resume=args.resume,
        progress=not args.quiet,
    )
    metrics = info.get("metrics", {})
    if info.get("world_size", 1) > 1 and env_rank() != 0:
        return 0  # under torchrun, rank 0 reports for the job
    print(f"finished step {info['step']} in {info['elapsed_s']:.1f}s -> {args.out}")
    print("metrics: " + json.dumps(metrics))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model into a run folder")
    p.add_argument("model")
    p.add_argument("--data", help="dataset spec, e.g. scenes:size=64")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--steps", type=int)
    p.add_argument("--minutes", type=float)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config value (repeatable)")
    p.add_argument("--config", help="TOML file with [model] and [train] tables and optional data = SPEC")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="stop on an unreadable data file (default: warn, skip)")
    p.set_defaults(func=_cmd_train)
