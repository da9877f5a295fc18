"""``darkroom demo`` (the report of every capability) and ``darkroom bench`` (the README's tables)."""

from __future__ import annotations

import argparse


def _cmd_demo(args) -> int:
    from darkroom.ops.demo import run_demo

    path = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"demo report: {path}")
    return 0


def _cmd_bench(args) -> int:
    from darkroom.ops.bench import run_bench

    return run_bench(args.suite, quick=args.quick, extra=args.options)


def register(sub) -> None:
    p = sub.add_parser("demo", help="HTML report of every capability on built-in data")
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="fewer training steps (for tests)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("bench", help="regenerate a README table")
    p.add_argument("suite", help="benchmark suite, e.g. data")
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="the suite's own options, e.g. `darkroom bench generation --threads 1`",
    )
    p.set_defaults(func=_cmd_bench)
