"""The ``darkroom`` command: parses arguments, calls ``darkroom.ops``, prints. One module per verb group
(each with a ``register(sub)`` that adds its subcommands); this one only wires them.

Exit codes: 0 success, 1 some input files failed (the rest was done), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

from darkroom.cli import bench, data, edit, inspect, restore, sample, studio, trace, train, zoo

GROUPS = (bench, data, train, sample, edit, restore, trace, inspect, zoo, studio)  # in --help's order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="darkroom", description="Generate, edit, restore and reverse-engineer images, offline."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def commands(parser: argparse.ArgumentParser | None = None, prefix: tuple = ()):
    """(path, parser) of every command and subcommand: ((), root), (("restore",), ...), (("index", "build"), ...)."""
    parser = parser or build_parser()
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*prefix, name))


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
