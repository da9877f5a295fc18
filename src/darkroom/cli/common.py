"""Output helpers shared by the ``darkroom`` command's modules: failure lines, their JSON, warnings, numbers."""

from __future__ import annotations

import sys


def warn_beside_progress(text: str) -> None:
    """A warning on its own line while a progress bar is drawn (a plain print would land inside the bar)."""
    from tqdm import tqdm

    tqdm.write(f"warning: {text}", file=sys.stderr)


def report(failures: list[str]) -> int:
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} file(s) failed", file=sys.stderr)
    return 1 if failures else 0


def failure_json(failure: str) -> dict:
    """``{"path", "error"}`` of a failure line (a :class:`darkroom.io.Failure`, or a plain ``"PATH: why"``)."""
    if hasattr(failure, "to_json"):
        return failure.to_json()
    path, _, error = str(failure).partition(": ")
    return {"path": path, "error": error}


def number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number or 'auto', got {text!r}") from None


def add_parallel_options(p) -> None:
    """``--workers N`` and ``--ray ADDRESS`` for a batch command over many files (darkroom.ops.parallel)."""
    p.add_argument(
        "--workers", type=int, default=1, help="processes sharing the files (each loads the models); skips done files"
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster (auto, ray://HOST:10001, or local); needs pip install 'ray[data]'",
    )
