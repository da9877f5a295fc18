"""``darkroom zoo``: the generator zoo behind model parsing and attribution."""

from __future__ import annotations


def _cmd_zoo(args) -> int:
    from darkroom.data.zoo import MEMBERS
    from darkroom.ops.zoo import build_zoo

    if args.action == "list":
        for m in MEMBERS:
            hp = ", ".join(
                f"{k}={m[k]}"
                for k in ("model", "upsample", "loss", "norm", "activation", "latent_dim", "width", "data", "seed")
            )
            kind = "held-out" if m["heldout"] else "shipped " if m.get("shipped") else "known   "
            print(f"{m['name']}  {kind}  {hp}")
        return 0
    if not args.out:
        raise ValueError("zoo build needs --out DIR")
    names = args.members.split(",") if args.members else None
    result = build_zoo(args.out, steps=args.steps, samples=args.samples, jobs=args.jobs, names=names)
    print(f"zoo: built {len(result['built'])}, already there {len(result['skipped'])} -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("zoo", help="the generator zoo for model parsing and attribution: list or build")
    p.add_argument("action", choices=["build", "list"])
    p.add_argument("--out", metavar="DIR", help="build: zoo folder (resumes an interrupted build)")
    p.add_argument("--steps", type=int, default=600, help="training steps per member (default 600)")
    p.add_argument("--samples", type=int, default=2000, help="samples drawn per member (default 2000)")
    p.add_argument("--jobs", type=int, default=2, help="members trained in parallel, one thread each")
    p.add_argument("--members", help="comma-separated member names (default: all)")
    p.set_defaults(func=_cmd_zoo)
