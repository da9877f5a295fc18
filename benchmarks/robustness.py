"""Every batch command against bad and odd input files: what each one does with each file.

    python benchmarks/robustness.py [--quick]      (or: darkroom bench robustness)

One folder holds a good photo, damaged files (truncated, not an image, empty, bit-flipped, a header that
claims a huge size) and odd but valid ones (16-bit, palette with transparency, CMYK JPEG, EXIF-rotated,
animated GIF, 1x1, 1x10,000). Each command runs once over the whole folder, as a user would run it, in its
own process; the table says, per file, whether it was done (``ok``), named and skipped with a one-line
reason (``skipped: ...``), or whether the command died (``TRACEBACK``, a defect). The last rows give each
command's exit code (1 when any file failed, as documented), time and peak memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _photo() -> np.ndarray:
    from darkroom.data.photos import skimage_photo

    return skimage_photo("chelsea")[:256, :256]


def _png_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def make_inputs(folder: Path) -> dict[str, str]:
    """Write the test files; returns {file name: what it is}."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    Image.fromarray(photo).save(folder / "good.png")
    good = (folder / "good.png").read_bytes()
    jpeg = io.BytesIO()
    Image.fromarray(photo).save(jpeg, "JPEG", quality=90)
    flipped = bytearray(jpeg.getvalue())
    for position in np.random.default_rng(0).integers(600, len(flipped), 12):
        flipped[position] ^= 0xFF
    files = {
        "truncated.png": (good[: len(good) // 2], "PNG cut in half"),
        "text.png": (b"this is not an image\n", "a text file named .png"),
        "empty.jpg": (b"", "zero bytes"),
        "flipped.jpg": (bytes(flipped), "JPEG with 12 bytes flipped"),
        "bomb.png": (_png_claiming(60_000, 60_000), "PNG header claiming 60,000 x 60,000"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    ys, xs = np.mgrid[0:256, 0:256]
    Image.fromarray(photo[..., 1].astype(np.uint16) * 257).save(folder / "gray16.png")
    Image.fromarray(photo).convert("P", palette=Image.ADAPTIVE, colors=32).save(
        folder / "palette-alpha.png", transparency=0
    )
    Image.fromarray(photo).convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    rotated = Image.fromarray(photo[:, :192])
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(folder / "exif-rotated.jpg", exif=exif, quality=90)
    frames = [Image.fromarray(np.roll(photo, 16 * k, axis=1)) for k in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(photo[:1, :1]).save(folder / "1x1.png")
    Image.fromarray(np.ascontiguousarray(np.tile(photo[:1], (1, 40, 1))[:, :10_000])).save(folder / "1x10000.png")
    return {
        "good.png": "a photo (256 px)",
        **{n: what for n, (_, what) in files.items()},
        "gray16.png": "16-bit grayscale PNG",
        "palette-alpha.png": "palette PNG with transparency",
        "cmyk.jpg": "CMYK JPEG",
        "exif-rotated.jpg": "JPEG rotated by EXIF",
        "animated.gif": "animated GIF, 3 frames",
        "1x1.png": "1 x 1 px",
        "1x10000.png": "1 x 10,000 px",
    }


def commands(inputs: Path, work: Path, quick: bool) -> dict[str, list[str]]:
    index = work / "index"
    found = {
        "data info": ["data", "info", f"folder:{inputs},split=all", "--json"],
        "data export": ["data", "export", f"folder:{inputs},split=all,size=64", "--out", str(work / "export")],
        "train": [
            "train",
            "autoencoder",
            "--data",
            f"folder:{inputs},split=all,size=32",
            "--out",
            str(work / "run"),
            "--steps",
            "3",
            "--quiet",
            "--set",
            "batch_size=4",
            "--set",
            "width=8",
        ],
        "restore denoise": ["restore", "denoise", str(inputs), "--out", str(work / "denoise")],
        "restore sr": ["restore", "sr", str(inputs), "--out", str(work / "sr")],
        "restore inpaint": ["restore", "inpaint", str(inputs), "--out", str(work / "inpaint")],
        "restore colorize": ["restore", "colorize", str(inputs), "--out", str(work / "colorize")],
        "inspect": ["inspect", str(inputs), "--json"],
        "index build": ["index", "build", str(inputs), "--out", str(index), "--quiet"],
        "trace": ["trace", str(inputs), "--index", str(index), "--json"],
        "edit local": ["edit", "local", str(inputs), "--out", str(work / "edits"), "--edit", "blur"],
        "eval psnr": ["eval", "psnr", "--real", str(inputs), "--fake", str(inputs), "--json"],
    }
    if quick:
        for name in ("restore sr", "restore inpaint", "restore colorize", "edit local"):
            found.pop(name)
    return found


def run(args: list[str]) -> dict:
    script = (
        "import resource, runpy, sys; sys.argv = ['darkroom'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('darkroom.cli', run_name='__main__')\n"
        "finally:\n    print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    rss = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("maxrss_kb")]
    return {
        "code": done.returncode,
        "out": done.stdout,
        "err": done.stderr,
        "seconds": time.time() - start,
        "peak_mb": int(rss[-1]) / 1024 if rss else float("nan"),
    }


def outcome(name: str, result: dict, inputs: Path) -> str:
    """What the command did with the file ``name``: from its --json output where it has one, else from the
    lines it printed (``failed: PATH: why``, ``warning: skipped PATH: why``)."""
    if "Traceback (most recent call last)" in result["err"]:
        return "TRACEBACK"
    path = str(inputs / name)
    errors = {}
    try:
        parsed = json.loads(result["out"])
    except ValueError:
        parsed = None
    framed = set()
    if isinstance(parsed, list):  # inspect, trace
        errors = {r.get("path", r.get("query")): r["error"] for r in parsed if "error" in r}
        framed = {r.get("path") for r in parsed if r.get("frames", 1) > 1}
    elif isinstance(parsed, dict):  # data info, eval
        errors = {f["path"]: f["error"] for f in parsed.get("unreadable_files", parsed.get("failures", []))}
    for line in (result["out"] + "\n" + result["err"]).splitlines():
        for marker in ("failed: ", "warning: skipped "):
            if line.startswith(marker + path + ": "):
                errors.setdefault(path, line[len(marker) + len(path) + 2 :])
    if path in errors:
        return "skipped: " + _short(errors[path])
    said = path in framed or any(path in line and "frames" in line for line in result["err"].splitlines())
    return "ok, first frame (said)" if said else "ok"


REASONS = (
    ("truncated", "truncated"),
    ("not an image", "not an image"),
    ("empty", "empty file"),
    ("exceeds the limit", "over the pixel limit"),
    ("too many pixels", "over the pixel limit"),
    ("too small", "too small"),
    ("corrupt", "corrupt"),
)


def _short(reason: str) -> str:
    """The gist of a one-line reason, so that the table stays narrow (the full line is what the user sees)."""
    return next((short for key, short in REASONS if key in reason), reason[:30])


def large_photo(side: int = 12_000) -> None:
    """A 144-megapixel JPEG (scikit-image's astronaut enlarged) through ``restore denoise``: tiled, the
    memory it takes is a few full-size copies of the image, not the network's activations over it."""
    from darkroom.data.photos import skimage_photo

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"photo-{side}.jpg"
        Image.fromarray(skimage_photo("astronaut")).resize((side, side), Image.BICUBIC).save(path, quality=90)
        result = run(["restore", "denoise", str(path), "--out", str(Path(tmp) / "out"), "--sigma", "10"])
        done = (Path(tmp) / "out" / f"{path.stem}.png").is_file()
        print(
            f"| {side} x {side} JPEG ({path.stat().st_size / 1e6:.1f} MB) | restore denoise --sigma 10 | "
            f"{'written' if done else 'FAILED'} | exit {result['code']} | {result['seconds']:.0f} s | "
            f"peak {result['peak_mb'] / 1024:.1f} GB |\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer commands")
    parser.add_argument("--large", action="store_true", help="also denoise a 12,000 x 12,000 photo (minutes)")
    args = parser.parse_args()
    if args.large:
        large_photo()
    with tempfile.TemporaryDirectory() as tmp:
        inputs, work = Path(tmp) / "inputs", Path(tmp) / "work"
        described = make_inputs(inputs)
        results = {}
        for label, argv in commands(inputs, work, args.quick).items():
            results[label] = run(argv)
            print(f"ran {label}: exit {results[label]['code']}, {results[label]['seconds']:.1f} s", file=sys.stderr)
        labels = list(results)
        print("| file | what it is | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for name, what in described.items():
            print(f"| {name} | {what} | " + " | ".join(outcome(name, results[k], inputs) for k in labels) + " |")
        print("| exit code | | " + " | ".join(str(results[k]["code"]) for k in labels) + " |")
        print("| seconds | | " + " | ".join(f"{results[k]['seconds']:.1f}" for k in labels) + " |")
        print("| peak MB | | " + " | ".join(f"{results[k]['peak_mb']:.0f}" for k in labels) + " |")
        tracebacks = [k for k in labels if "Traceback (most recent call last)" in results[k]["err"]]
        print(f"\ncommands that died with a traceback: {', '.join(tracebacks) or 'none'}")


if __name__ == "__main__":
    main()
