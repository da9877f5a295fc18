"""``darkroom bench SUITE``: run ``benchmarks/SUITE.py`` from the source checkout."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

SUITES = {
    "data": "data_throughput.py",
    "generation": "generation.py",
    "restore": "restore.py",
    "memory": "restore_memory.py",
    "copydetect": "copydetect.py",
    "copyscale": "copy_scale.py",
    "contrastive": "contrastive.py",
    "reverse": "reverse.py",
    "parsing": "parsing.py",
    "lossprobe": "loss_probe.py",
    "generated": "generated.py",
    "edits": "edits.py",
    "forensics": "forensics.py",
    "robustness": "robustness.py",
    "text": "text.py",
    "sources": "sources.py",
    "shapes": "shapes.py",
    "studio": "studio.py",
}


def benchmarks_dir() -> Path | None:
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (root / "benchmarks").is_dir():
            return root / "benchmarks"
    return None


def run_bench(suite: str, quick: bool = False, extra: list[str] | None = None) -> int:
    """Run one suite's script; ``extra``: its own command-line options."""
    if suite not in SUITES:
        raise ValueError(f"unknown benchmark suite {suite!r}; known: {', '.join(SUITES)}")
    folder = benchmarks_dir()
    if folder is None:
        raise ValueError("benchmarks/ not found: run `darkroom bench` from a darkroom source checkout")
    argv = sys.argv
    sys.argv = [str(folder / SUITES[suite])] + (["--quick"] if quick else []) + list(extra or [])
    try:
        runpy.run_path(str(folder / SUITES[suite]), run_name="__main__")
    finally:
        sys.argv = argv
    return 0
