"""``darkroom inspect``: how an image was made."""

from __future__ import annotations

import json
import sys

from darkroom.cli.common import add_parallel_options, failure_json, report


def _cmd_inspect(args) -> int:
    from darkroom.ops.inspect import inspect, summary

    results, failures = inspect(
        args.images,
        report=args.report,
        heatmap=args.heatmap,
        progress=not args.json,
        workers=args.workers,
        ray_address=args.ray,
        jsonl=args.jsonl,
    )
    if args.json:
        print(json.dumps(results + [failure_json(f) for f in failures], indent=1))
    else:
        for result in results:
            print(f"{result['path']}:")
            for line in summary(result):
                print(f"    {line}")
    if args.report:
        print(f"report: {args.report}", file=sys.stderr if args.json else sys.stdout)
    return report(failures)


def register(sub) -> None:
    p = sub.add_parser(
        "inspect", help="how was this image made: processing chain, scene parameters, declared provenance"
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="files, folders or globs")
    p.add_argument("--json", action="store_true", help="one object per image, in DESIGN.md's shape")
    p.add_argument("--report", metavar="HTML", help="also write an HTML report with the images and findings")
    p.add_argument("--heatmap", metavar="DIR", help="write a tamper-probability overlay PNG per image into DIR")
    p.add_argument(
        "--jsonl", metavar="FILE", help="also append one JSON line per image; images it already holds are skipped"
    )
    add_parallel_options(p)
    p.set_defaults(func=_cmd_inspect)
