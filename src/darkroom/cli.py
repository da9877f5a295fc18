"""The ``darkroom`` command: parses arguments, calls ``darkroom.ops``, prints.

Exit codes: 0 success, 1 some input files failed (the rest was done), 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import sys

from darkroom.cli_common import failure_json, report, warn_beside_progress
from darkroom.cli_generation import add_edit_parser, add_eval_parser, add_sample_parser


def _cmd_models(args) -> int:
    from darkroom.models import MODELS, describe
    from darkroom.weights import shipped_weights

    if args.pretrained:
        cards = shipped_weights()
        if not cards:
            print("no shipped weights in this version")
        for card in cards:
            print(f"{card['name']:16s} {card['model']:11s} {card['size_bytes'] / 1e6:5.1f} MB  {card.get('summary', '')}")
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
        written, failures = datatools.data_export(spec, args.out, args.n)
        print(f"wrote {written} images and labels.jsonl to {args.out}")
    return report(failures)


def _cmd_train(args) -> int:
    from darkroom.config import parse_assignments
    from darkroom.ops.training import run_training

    flags = {"steps": args.steps, "minutes": args.minutes, "seed": args.seed, "device": args.device}
    if args.strict and args.data:
        from darkroom.data.spec import with_option

        args.data = with_option(args.data, "strict", True)
    info = run_training(args.model, args.data, args.out, parse_assignments(args.set), args.config, flags,
                        resume=args.resume, progress=not args.quiet)
    metrics = info.get("metrics", {})
    print(f"finished step {info['step']} in {info['elapsed_s']:.1f}s -> {args.out}")
    print("metrics: " + json.dumps(metrics))
    return 0


def _cmd_restore(args) -> int:
    from darkroom.ops.restore import restore_files

    sigma = args.sigma if args.sigma in (None, "auto") else _number(args.sigma, "--sigma")
    written, failures = restore_files(args.task, args.inputs, args.out, model=args.model, sigma=sigma,
                                      scale=args.scale, device=args.device, tile=args.tile, mask=args.mask,
                                      half=args.half, ensemble=args.ensemble, warn=warn_beside_progress)
    print(f"wrote {len(written)} image(s) to {args.out}")
    return report(failures)


def _cmd_index(args) -> int:
    from darkroom.ops import copydetect

    if args.index_command == "remove":
        removed = copydetect.remove_from_index(args.index, args.paths)
        print(f"removed {removed} image(s) from {args.index}")
        return 0
    if args.index_command == "rebuild":
        count, failures = copydetect.rebuild_index(args.index, args.model, progress=not args.quiet)
    else:
        target = args.out if args.index_command == "build" else args.index
        count, failures = copydetect.build_index(args.inputs, target, args.model, add=args.index_command == "add",
                                                 progress=not args.quiet)
    print(f"{args.out if args.index_command == 'build' else args.index}: {count} reference image(s) indexed")
    return report(failures)


def _cmd_trace(args) -> int:
    from darkroom.ops.copydetect import trace

    results, failures = trace(args.queries, args.index, args.top, args.threshold, progress=not args.json)
    if args.json:
        print(json.dumps(results + [{"query": j["path"], "matches": [], **j} for j in map(failure_json, failures)],
                         indent=1))
    else:
        for result in results:
            best = result["matches"][0] if result["matches"] else None
            verdict = "COPY of" if best and best["is_copy"] else "no copy; nearest"
            print(f"{result['query']}: {verdict} {best['path']} (score {best['score']:.3f})" if best else
                  f"{result['query']}: no match")
            for match in result["matches"][1:]:
                print(f"    {match['score']:.3f}  {match['path']}")
    return report(failures)


def _cmd_inspect(args) -> int:
    from darkroom.ops.inspect import inspect, summary

    results, failures = inspect(args.images, report=args.report, heatmap=args.heatmap, progress=not args.json)
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


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number or 'auto', got {text!r}") from None


def _cmd_demo(args) -> int:
    from darkroom.ops.demo import run_demo

    path = run_demo(args.out, seed=args.seed, quick=args.quick)
    print(f"demo report: {path}")
    return 0


def _cmd_zoo(args) -> int:
    from darkroom.data.zoo import MEMBERS
    from darkroom.ops.zoo import build_zoo

    if args.action == "list":
        for m in MEMBERS:
            hp = ", ".join(f"{k}={m[k]}" for k in ("model", "upsample", "loss", "norm", "activation",
                                                   "latent_dim", "width", "data", "seed"))
            kind = "held-out" if m["heldout"] else "shipped " if m.get("shipped") else "known   "
            print(f"{m['name']}  {kind}  {hp}")
        return 0
    if not args.out:
        raise ValueError("zoo build needs --out DIR")
    names = args.members.split(",") if args.members else None
    result = build_zoo(args.out, steps=args.steps, samples=args.samples, jobs=args.jobs, names=names)
    print(f"zoo: built {len(result['built'])}, already there {len(result['skipped'])} -> {args.out}")
    return 0


def _cmd_bench(args) -> int:
    from darkroom.ops.bench import run_bench

    return run_bench(args.suite, quick=args.quick, extra=args.options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="darkroom", description="Generate, edit, restore and "
                                     "reverse-engineer images, offline.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="HTML report of every capability on built-in data")
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="fewer training steps (for tests)")
    p.set_defaults(func=_cmd_demo)

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
    for q in data_sub.choices.values():
        q.add_argument("--strict", action="store_true", help="any unreadable file is an error (default: "
                       "named and left out)")
    p.set_defaults(func=_cmd_data)

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

    add_sample_parser(sub)
    add_edit_parser(sub)

    p = sub.add_parser("restore", help="denoise, super-resolve, inpaint or colorize image files")
    p.add_argument("task", choices=["denoise", "sr", "inpaint", "colorize"])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("--out", required=True, help="output folder (files keep their stem)")
    p.add_argument("--model", help="shipped weights name or run folder (default: the shipped model)")
    p.add_argument("--sigma", help="noise level on the 0-255 scale, or auto (default) to estimate it")
    p.add_argument("--scale", type=int, help="super-resolution factor, 2 (default) or 4; sr-x2-large and "
                   "sr-x4-large (--model) are slower and sharper")
    p.add_argument("--mask", help="inpaint: mask image (white = fill), a folder of masks named like the inputs, "
                   "or auto (default: fill pure-white scribbles) / auto-black")
    p.add_argument("--tile", type=int, default=256, help="tile size in pixels (memory bound)")
    p.add_argument("--half", action="store_true", help="float16 on a CUDA GPU (CPU runs float32)")
    p.add_argument("--ensemble", action="store_true", help="average the 8 flips/transposes: 8x slower, a little "
                   "better (see darkroom bench restore)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser("index", help="copy-detection index of reference images (build, add, remove, rebuild)")
    index_sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    q = index_sub.add_parser("build", help="embed reference images into a new index (resumes if interrupted)")
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    q.add_argument("--out", required=True, help="index folder")
    q = index_sub.add_parser("add", help="add reference images to an index")
    q.add_argument("inputs", nargs="+", metavar="INPUT")
    q.add_argument("--index", required=True)
    q = index_sub.add_parser("remove", help="drop images (or whole folders) from an index")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.add_argument("--index", required=True)
    q = index_sub.add_parser("rebuild", help="re-embed every indexed file that still exists")
    q.add_argument("--index", required=True)
    for q in index_sub.choices.values():
        if q.prog.split()[-1] != "remove":
            q.add_argument("--model", help="copy descriptor: shipped name or run folder (default: copydesc)")
            q.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("trace", help="find the reference images a query was copied from")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="files, folders or globs")
    p.add_argument("--index", required=True)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--threshold", type=float, help="is_copy above this score (default: the calibrated one)")
    p.add_argument("--json", action="store_true", help='[{"query", "matches": [{"path", "score", "is_copy"}]}]')
    p.set_defaults(func=_cmd_trace)

    p = sub.add_parser("inspect", help="how was this image made: processing chain, scene parameters, declared provenance")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="files, folders or globs")
    p.add_argument("--json", action="store_true", help="one object per image, in DESIGN.md's shape")
    p.add_argument("--report", metavar="HTML", help="also write an HTML report with the images and findings")
    p.add_argument("--heatmap", metavar="DIR", help="write a tamper-probability overlay PNG per image into DIR")
    p.set_defaults(func=_cmd_inspect)

    add_eval_parser(sub)

    p = sub.add_parser("zoo", help="the generator zoo for model parsing and attribution: list or build")
    p.add_argument("action", choices=["build", "list"])
    p.add_argument("--out", metavar="DIR", help="build: zoo folder (resumes an interrupted build)")
    p.add_argument("--steps", type=int, default=600, help="training steps per member (default 600)")
    p.add_argument("--samples", type=int, default=2000, help="samples drawn per member (default 2000)")
    p.add_argument("--jobs", type=int, default=2, help="members trained in parallel, one thread each")
    p.add_argument("--members", help="comma-separated member names (default: all)")
    p.set_defaults(func=_cmd_zoo)

    p = sub.add_parser("bench", help="regenerate a README table")
    p.add_argument("suite", help="benchmark suite, e.g. data")
    p.add_argument("--quick", action="store_true")
    p.add_argument("options", nargs=argparse.REMAINDER,
                   help="the suite's own options, e.g. `darkroom bench generation --threads 1`")
    p.set_defaults(func=_cmd_bench)
    return parser


def _version() -> str:
    from darkroom import __version__

    return f"darkroom {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("n", "steps"):
        if getattr(args, name, None) is not None and getattr(args, name) < 1:
            parser.error(f"-{'-' if len(name) > 1 else ''}{name} must be >= 1")
    try:
        return args.func(args)
    except ValueError as err:
        print(f"darkroom: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("darkroom: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output was piped into a reader that stopped (| head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
