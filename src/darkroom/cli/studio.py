"""``darkroom studio``: the local web app and HTTP API."""

from __future__ import annotations


def _cmd_studio(args) -> int:
    from darkroom.studio import serve

    serve(args.host, args.port, args.index, args.token)
    return 0


def register(sub) -> None:
    p = sub.add_parser("studio", help="a local web app and JSON API over restore, inspect, trace and sample")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs a token)"
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--index", help="copy-detection index that /api/trace searches (darkroom index build)")
    p.add_argument(
        "--token",
        help="every API call must send it (Authorization: Bearer T); made and printed "
        "when another host than localhost is given without one",
    )
    p.set_defaults(func=_cmd_studio)
