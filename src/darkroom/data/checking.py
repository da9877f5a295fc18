"""Which image files of a dataset can be read, checked once when the dataset opens.

A folder of ten thousand photos with one truncated file should train on the other 9,999, not die at the
step that draws the bad one. Each file is decoded once (a JPEG at an eighth of its size, which still reads
every byte), in threads (Pillow decodes outside the GIL); the answer is remembered per process for as long
as the file keeps its size and modification time, so opening the train, val and test splits of one folder
checks each file once.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from darkroom.io import Failure, check_image

_checked: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime_ns) -> error or None
PARALLEL_FROM = 32  # files; fewer are checked in this thread
PROGRESS_FROM = 2000


def file_error(path) -> str | None:
    """Why ``path`` cannot be read as an image (one line, naming it), or None when it can."""
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}: no such file"
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _checked:
        try:
            check_image(path)
            _checked[key] = None
        except ValueError as err:
            _checked[key] = str(err)
    return _checked[key]


def check_files(paths, desc: str = "checking images") -> tuple[list[Path], list[Failure]]:
    """Split ``paths`` into (readable paths, :class:`Failure` per unreadable file), order kept."""
    paths = [Path(p) for p in paths]
    if len(paths) < PARALLEL_FROM:
        errors = [file_error(p) for p in paths]
    else:
        with ThreadPoolExecutor(min(8, 2 * (os.cpu_count() or 1))) as pool:
            errors = list(tqdm(pool.map(file_error, paths), total=len(paths), desc=desc, unit="file",
                               leave=False, file=sys.stderr, disable=len(paths) < PROGRESS_FROM))
    good = [p for p, e in zip(paths, errors) if e is None]
    bad = [Failure(p, e) for p, e in zip(paths, errors) if e is not None]
    return good, bad


def bad_files_error(bad: list[Failure], total: int, where: str) -> ValueError:
    """The one-line error for a dataset none (or, with ``strict``, one) of whose files can be read."""
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return ValueError(f"{where}: {len(bad)} of {total} image file(s) cannot be read; {bad[0]}{more}")
