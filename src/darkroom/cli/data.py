"""``darkroom models`` and ``darkroom data``: what can be trained, what ships, what a dataset holds."""

from __future__ import annotations

import json

from darkroom.cli.common import report


def _cmd_models(args) -> int:
    from darkroom.models import MODELS, describe
    from darkroom.weights import shipped_weights

    if args.pretrained:
        cards = shipped_weights()
        if not cards:
            print("no shipped weights in this version")
        for card in cards:
            print(
                f"{card['name']:16s} {card['model']:11s} {card['size_bytes'] / 1e6:5.1f} MB  {card.get('summary', '')}"
            )
        return 0
    for name in MODELS:
        print(describe(name))
    return 0


def _cmd_data(args) -> int:
    from darkroom.data.spec import with_option
    from darkroom.ops import datatools

    spec = with_option(args.spec, "strict", True) if args.strict else args.spec
    if args.data_command == "info":
        info = datatools.data_info(spec)
        if args.json:
            print(json.dumps(info, indent=1))
            return 0
        for key, value in info.items():
            if key != "unreadable_files":
                print(f"{key:16s} {value}")
        for failure in info["unreadable_files"]:
            print(f"unreadable       {failure['path']}: {failure['error']}")
        return 0
    if args.data_command == "preview":
        out, failures = datatools.data_preview(spec, args.out, args.n)
        print(f"wrote {out}")
    else:
        written, failures = datatools.data_export(spec, args.out, args.n, args.format)
        what = "labels.jsonl" if args.format == "png" else "labels as MNIST IDX files"
        print(f"wrote {written} images and {what} to {args.out}")
    return report(failures)


def register(sub) -> None:
    p = sub.add_parser("models", help="trainable models, or shipped weights with --pretrained")
    p.add_argument("--pretrained", action="store_true")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("data", help="inspect, preview and export datasets")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = data_sub.add_parser("info", help="count, shape, labels, splits")
    q.add_argument("spec")
    q.add_argument("--json", action="store_true")
    q = data_sub.add_parser("preview", help="a grid PNG")
    q.add_argument("spec")
    q.add_argument("--out", required=True, help="PNG file")
    q.add_argument("-n", type=int, default=64)
    q = data_sub.add_parser("export", help="PNG files + labels/params as JSONL")
    q.add_argument("spec")
    q.add_argument("--out", required=True, help="folder")
    q.add_argument("-n", type=int, default=None, help="at most N images (default: the whole split)")
    q.add_argument(
        "--format",
        default="png",
        choices=["png", "idx"],
        help="png (default) or idx: MNIST's IDX files, which mnist:OUT reads",
    )
    for q in data_sub.choices.values():
        q.add_argument(
            "--strict", action="store_true", help="any unreadable file is an error (default: named and left out)"
        )
    p.set_defaults(func=_cmd_data)
