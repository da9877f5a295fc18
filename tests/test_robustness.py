"""Bad input never stops a batch: loaders name the bad file and go on; fuzzed image bytes never raise
anything but a one-line ValueError."""

import io
import json
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from darkroom.cli import main
from darkroom.data import load_dataset
from darkroom.data.checking import check_files
from darkroom.io import Failure, check_image, read_image

FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "tif": "TIFF", "webp": "WEBP", "bmp": "BMP"}


def _picture(seed: int = 0, size=(24, 16)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]]
    smooth = np.stack([xs * 9, ys * 13, (xs + ys) * 5], -1)
    return (smooth + rng.integers(0, 40, smooth.shape)).clip(0, 255).astype(np.uint8)


def encoded(fmt: str, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_picture(seed)).save(buffer, FORMATS[fmt])
    return buffer.getvalue()


def bad_folder(root, good: int = 3):
    """``good`` readable PNGs, a truncated PNG, a text file named .png and an empty file."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        Image.fromarray(_picture(i)).save(root / f"good{i}.png")
    data = encoded("png")
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "text.png").write_text("not an image at all")
    (root / "empty.png").write_bytes(b"")
    return root


# --- loaders -------------------------------------------------------------------------------------------


def test_check_files_names_each_bad_file_and_why(tmp_path):
    root = bad_folder(tmp_path / "d")
    good, bad = check_files(sorted(root.iterdir()))
    assert sorted(p.name for p in good) == ["good0.png", "good1.png", "good2.png"]
    reasons = {Failure(f.path, f.error).path.rsplit("/", 1)[-1]: f.error for f in bad}
    assert reasons["empty.png"] == "empty file (zero bytes)"
    assert reasons["text.png"] == "not an image file"
    assert "truncated" in reasons["truncated.png"]


def test_folder_dataset_leaves_bad_files_out(tmp_path):
    root = bad_folder(tmp_path / "d")
    dataset = load_dataset(f"folder:{root},split=all,size=16")
    assert len(dataset) == 3 and len(dataset.bad_files) == 3
    assert all(dataset[i]["image"].shape == (3, 16, 16) for i in range(3))
    with pytest.raises(ValueError, match=r"3 of 6 image file\(s\) cannot be read"):
        load_dataset(f"folder:{root},split=all,strict=1")


def test_folder_of_only_bad_files_is_a_one_line_error(tmp_path):
    root = bad_folder(tmp_path / "d", good=0)
    with pytest.raises(ValueError, match=r"3 of 3 image file\(s\) cannot be read") as err:
        load_dataset(f"folder:{root},split=all")
    assert "\n" not in str(err.value)


def test_photos_dataset_leaves_bad_files_out(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    Image.fromarray(np.tile(_picture(1), (8, 8, 1))).save(root / "wide.png")  # 192 x 128
    (root / "broken.jpg").write_bytes(encoded("jpg")[:60])
    dataset = load_dataset(f"photos:{root},split=all,patch=32")
    assert [f.path.endswith("broken.jpg") for f in dataset.bad_files] == [True]
    assert any(str(root / "wide.png") == key for key in dataset.photos)


def test_cli_data_info_lists_unreadable_files_and_strict_fails(tmp_path, capsys):
    root = bad_folder(tmp_path / "d")
    assert main(["data", "info", f"folder:{root}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unreadable"] == 3
    assert {f["path"].rsplit("/", 1)[-1] for f in info["unreadable_files"]} == {
        "empty.png",
        "text.png",
        "truncated.png",
    }
    assert main(["data", "info", f"folder:{root}", "--strict"]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_training_skips_bad_files_with_a_warning_each(tmp_path, capsys):
    root = bad_folder(tmp_path / "d")
    code = main(
        [
            "train",
            "autoencoder",
            "--data",
            f"folder:{root},split=all,size=16",
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--quiet",
            "--set",
            "batch_size=4",
            "--set",
            "width=8",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("warning: skipped") == 3 and "3 unreadable file(s) left out" in out
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_training_survives_a_file_damaged_after_the_check(tmp_path, capsys):
    from darkroom.data.base import SkipUnreadable

    root = bad_folder(tmp_path / "d", good=4)
    dataset = load_dataset(f"folder:{root},split=all,size=16")
    (root / "good1.png").write_bytes(b"damaged later")  # after the check
    warnings = []
    wrapped = SkipUnreadable(dataset, warnings.append)
    samples = [wrapped[i] for i in range(len(wrapped))]
    assert len(samples) == 4 and len(warnings) == 1 and "good1.png" in warnings[0]


# --- batch commands: bad file named, the rest done, exit 1, failures in --json ----------------------------


def test_inspect_json_lists_failures_and_exits_1(tmp_path, capsys):
    root = bad_folder(tmp_path / "d", good=1)
    assert main(["inspect", str(root), "--json"]) == 1
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    failed = [r for r in results if "error" in r]
    assert len(results) == 4 and len(failed) == 3
    assert all(set(r) == {"path", "error"} for r in failed)
    assert "Traceback" not in captured.err


def test_restore_names_the_bad_files_and_does_the_rest(tmp_path, capsys):
    root = bad_folder(tmp_path / "d", good=2)
    assert main(["restore", "denoise", str(root), "--out", str(tmp_path / "out"), "--sigma", "10"]) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good0.png", "good1.png"]
    assert err.count("failed: ") == 3 and "Traceback" not in err


# --- fuzzing --------------------------------------------------------------------------------------------


def _png_with_size(width: int, height: int) -> bytes:
    """A valid PNG whose header (with a correct CRC) claims ``width`` x ``height``."""
    data = bytearray(encoded("png"))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _with_huge_size(fmt: str, data: bytes, side: int) -> bytes:
    data = bytearray(data)
    if fmt == "png":
        return _png_with_size(side, side)
    if fmt == "bmp":
        data[18:26] = struct.pack("<ii", side, side)
    elif fmt == "gif":
        data[6:10] = struct.pack("<HH", min(side, 65535), min(side, 65535))
    elif fmt == "jpg":
        sof = data.find(b"\xff\xc0")
        if sof > 0:
            data[sof + 5 : sof + 9] = struct.pack(">HH", min(side, 65535), min(side, 65535))
    else:
        data[4:12] = struct.pack("<II", side, side)
    return bytes(data)


@st.composite
def mutated_image(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    data = encoded(fmt, draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(["truncate", "flip", "header", "huge"]))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        flipped = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) - 1))
            flipped[position] ^= 1 << draw(st.integers(0, 7))
        data = bytes(flipped)
    elif kind == "header":
        start = draw(st.integers(0, min(64, len(data) - 1)))
        data = data[:start] + draw(st.binary(min_size=1, max_size=16)) + data[start + 16 :]
    else:
        data = _with_huge_size(fmt, data, draw(st.sampled_from([40_000, 65_535, 1 << 20, 1 << 30])))
    return fmt, kind, data


def check_mutated(tmp_path, fmt: str, data: bytes) -> None:
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(data)
    start = time.time()
    try:
        check_image(path)
        checked = True
    except ValueError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        checked = False
    try:
        image = read_image(path)
        assert image.ndim == 3 and image.shape[0] == 3 and 0 <= float(image.min()) <= float(image.max()) <= 1
    except ValueError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        assert not checked or "corrupt" in str(err), "check_image passed a file read_image refuses"
    assert time.time() - start < 10


FUZZ_SETTINGS = dict(
    deadline=10_000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], derandomize=True
)


@settings(max_examples=150, **FUZZ_SETTINGS)
@given(mutated_image())
def test_fuzzed_bytes_read_or_raise_one_line(tmp_path, case):
    fmt, _, data = case
    check_mutated(tmp_path, fmt, data)


@pytest.mark.fuzz
@settings(max_examples=3000, **FUZZ_SETTINGS)
@given(mutated_image())
def test_fuzzed_bytes_read_or_raise_one_line_long(tmp_path, case):
    fmt, _, data = case
    check_mutated(tmp_path, fmt, data)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_huge_dimensions_in_the_header_are_refused_before_decoding(tmp_path, fmt):
    path = tmp_path / f"huge.{fmt}"
    path.write_bytes(_with_huge_size(fmt, encoded(fmt), 1 << 20 if fmt in ("png", "bmp") else 65_535))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError) as err:
        read_image(path)
    assert str(path) in str(err.value)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 2e9


def test_fuzzed_files_through_the_folder_loader_and_inspect(tmp_path, capsys):
    """A folder of damaged files of every format: the loader keeps what reads, inspect reports the rest."""
    root = tmp_path / "fuzz"
    root.mkdir()
    rng = np.random.default_rng(0)
    for fmt in FORMATS:
        data = encoded(fmt)
        (root / f"trunc.{fmt}").write_bytes(data[: int(rng.integers(1, len(data)))])
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), 4):
            flipped[position] ^= 0xFF
        (root / f"flip.{fmt}").write_bytes(bytes(flipped))
        (root / f"huge.{fmt}").write_bytes(_with_huge_size(fmt, data, 1 << 20))
    good, bad = check_files(sorted(root.iterdir()))
    try:
        dataset = load_dataset(f"folder:{root},split=all,size=16")
        assert len(dataset) == len(good) and all(dataset[i]["image"].shape == (3, 16, 16) for i in range(len(dataset)))
    except ValueError as err:
        assert not good and "cannot be read" in str(err)
    capsys.readouterr()
    code = main(["inspect", str(root), "--json"])
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert len(results) == 18 and code == (1 if any("error" in r for r in results) else 0)
    assert "Traceback" not in captured.err


# --- untrusted files: safetensors only, never a pickle ------------------------------------------------------


def test_a_pickle_in_place_of_weights_is_refused_not_unpickled(tmp_path):
    import pickle

    from darkroom.models import load_run
    from darkroom.weights import WEIGHTS_DIR

    run = tmp_path / "run"
    run.mkdir()
    card = json.loads((WEIGHTS_DIR / "denoise.json").read_text())
    (run / "run.json").write_text(json.dumps({k: v for k, v in card.items() if k != "sha256"}))
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("unpickled",))

    (run / "model.safetensors").write_bytes(pickle.dumps({"weight": Payload()}))
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_run(run)
    assert not marker.exists()
    assert main(["restore", "denoise", str(tmp_path), "--model", str(run), "--out", str(tmp_path / "o")]) == 2


def test_npz_with_object_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "data.npz", images=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="data.npz"):
        load_dataset(f"npz:{tmp_path / 'data.npz'}")


def test_no_pickle_loading_anywhere_in_the_package():
    """torch.load, pickle.load(s) and allow_pickle=True unpickle code; only CIFAR's restricted unpickler may."""
    import re
    from pathlib import Path

    import darkroom

    pattern = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle\s*=\s*True|joblib\.load\(")
    root = Path(darkroom.__file__).parent
    hits = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


# --- odd but valid images: restore, inspect and trace each do them, or say in one line why not ---------------


def odd_images(root):
    root.mkdir(parents=True, exist_ok=True)
    photo = np.tile(_picture(5, (40, 36)), (2, 2, 1))  # 80 x 72
    Image.fromarray(photo[..., 1].astype(np.uint16) * 257).save(root / "gray16.png")
    Image.fromarray(photo).convert("P", palette=Image.ADAPTIVE, colors=16).save(root / "palette.png", transparency=0)
    Image.fromarray(photo).convert("CMYK").save(root / "cmyk.jpg", quality=92)
    rotated = Image.fromarray(photo)
    exif = rotated.getexif()
    exif[0x0112] = 6  # stored 80 wide, shown 72 wide
    rotated.save(root / "rotated.jpg", exif=exif, quality=92)
    frames = [Image.fromarray(np.roll(photo, 8 * k, axis=1)) for k in range(3)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(photo[:1, :1]).save(root / "one.png")
    Image.fromarray(np.ascontiguousarray(np.tile(photo[:1], (1, 130, 1))[:, :10_000])).save(root / "strip.png")
    return root


def test_odd_images_through_restore_inspect_and_trace(tmp_path, capsys):
    root = odd_images(tmp_path / "odd")
    code = main(["restore", "denoise", str(root), "--out", str(tmp_path / "den"), "--sigma", "15"])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err
    written = {p.name: Image.open(p).size for p in (tmp_path / "den").iterdir()}
    assert written["rotated.png"] == (72, 80) and written["gray16.png"] == (80, 72)
    assert written["one.png"] == (1, 1) and written["strip.png"] == (10_000, 1)
    assert {"cmyk.png", "palette.png", "animated.png"} <= set(written)
    assert "animated.gif: 3 frames; only the first is restored" in captured.err
    assert main(["restore", "denoise", str(root / "one.png"), "--out", str(tmp_path / "auto")]) == 1
    assert "too small to estimate its noise level; give --sigma" in capsys.readouterr().err

    assert main(["inspect", str(root), "--json"]) == 1
    results = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert set(results) == {p.name for p in root.iterdir()}
    assert results["rotated.jpg"]["size"] == [72, 80] and results["animated.gif"]["frames"] == 3
    assert all("error" in r for n, r in results.items() if n in ("one.png", "strip.png"))
    assert all(0 <= r["generated"]["prob"] <= 1 for r in results.values() if "error" not in r)

    assert main(["index", "build", str(root), "--out", str(tmp_path / "idx"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["trace", str(root), "--index", str(tmp_path / "idx"), "--json", "--top", "1"]) == 0
    traced = json.loads(capsys.readouterr().out)
    assert all(Path(t["query"]).name == Path(t["matches"][0]["path"]).name for t in traced)
