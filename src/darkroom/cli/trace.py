"""``darkroom index`` and ``darkroom trace``: copy detection against an index of reference images."""

from __future__ import annotations

import json

from darkroom.cli.common import add_parallel_options, failure_json, report


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
        count, failures = copydetect.build_index(
            args.inputs,
            target,
            args.model,
            add=args.index_command == "add",
            progress=not args.quiet,
            kind=getattr(args, "kind", None),
            workers=getattr(args, "workers", 1),
            ray_address=getattr(args, "ray", None),
        )
    print(f"{args.out if args.index_command == 'build' else args.index}: {count} reference image(s) indexed")
    return report(failures)


def _cmd_trace(args) -> int:
    from darkroom.ops.copydetect import trace

    results, failures = trace(args.queries, args.index, args.top, args.threshold, progress=not args.json)
    if args.json:
        print(
            json.dumps(
                results + [{"query": j["path"], "matches": [], **j} for j in map(failure_json, failures)], indent=1
            )
        )
    else:
        for result in results:
            best = result["matches"][0] if result["matches"] else None
            verdict = "COPY of" if best and best["is_copy"] else "no copy; nearest"
            print(
                f"{result['query']}: {verdict} {best['path']} (score {best['score']:.3f})"
                if best
                else f"{result['query']}: no match"
            )
            for match in result["matches"][1:]:
                print(f"    {match['score']:.3f}  {match['path']}")
    return report(failures)


def register(sub) -> None:
    p = sub.add_parser("index", help="copy-detection index of reference images (build, add, remove, rebuild)")
    index_sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    q = index_sub.add_parser("build", help="embed reference images into a new index (resumes if interrupted)")
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    q.add_argument("--out", required=True, help="index folder")
    q.add_argument(
        "--kind",
        choices=("auto", "flat", "ivf", "ivfpq"),
        default=None,
        help="search structure: flat (exact), ivf (inverted file), ivfpq (product-quantised, for millions); "
        "default auto: by the number of references",
    )
    add_parallel_options(q)
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
