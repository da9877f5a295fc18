"""Read and write images.

Every image enters darkroom as a float32 tensor (C, H, W) in [0, 1], RGB unless asked for gray,
and leaves it as an atomically written PNG or JPEG that says where it came from.

Alpha: by default transparent pixels are composited onto white (what a viewer shows);
``alpha="drop"`` discards the alpha channel and keeps the stored colour.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

PathLike = str | os.PathLike  # what every path argument takes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")
DEFAULT_MAX_PIXELS = 150_000_000  # a 12k x 12k photo; above that is almost surely a decompression bomb


def max_pixels_default() -> int:
    return int(os.environ.get("DARKROOM_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def read_image(
    path: PathLike, *, grayscale: bool = False, alpha: str = "composite", max_pixels: int | None = None
) -> torch.Tensor:
    """Read an image file into a float32 tensor (3, H, W) in [0, 1], or (1, H, W) with ``grayscale``.

    EXIF orientation is applied; palette, CMYK, LA, 16-bit and float images are converted.
    Raises ValueError naming the file when it is missing, empty, truncated, not an image or too large.
    """
    array = read_array(path, grayscale=grayscale, alpha=alpha, max_pixels=max_pixels)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def read_array(
    path: PathLike, *, grayscale: bool = False, alpha: str = "composite", max_pixels: int | None = None
) -> np.ndarray:
    """Like :func:`read_image` but returns a float32 array (H, W, C)."""
    if alpha not in ("composite", "drop"):
        raise ValueError(f"alpha must be 'composite' or 'drop', got {alpha!r}")
    with open_image(path, max_pixels) as img:
        array = _decoded(path, lambda: _to_float(ImageOps.exif_transpose(_loaded(img)), alpha))
    if grayscale:
        array = rgb_to_gray(array)[..., None]
    return array


def check_image(path: PathLike, max_pixels: int | None = None) -> None:
    """Raise ValueError naming the file and why when :func:`read_image` would fail on it; cheaper than
    reading it (a JPEG is decoded at an eighth of its size, which still reads every byte of it)."""
    with open_image(path, max_pixels) as img:

        def decode():
            if img.format == "JPEG" and min(img.size) >= 64:
                img.draft("RGB", (img.size[0] // 8, img.size[1] // 8))
            _check_mode(_loaded(img))

        _decoded(path, decode)


def frame_count(path) -> int:
    """How many frames the file holds (an animated GIF, WebP or multi-page TIFF: darkroom reads the first)."""
    try:
        with Image.open(path) as img:
            return int(getattr(img, "n_frames", 1))
    except Exception:  # unreadable: read_image says why
        return 1


class open_image:
    """``with open_image(path) as img``: a PIL image whose file exists, is not empty, is an image and is
    within the pixel limit; any failure, then or inside the block, is a one-line ValueError naming it."""

    def __init__(self, path, max_pixels: int | None = None):
        self.path, self.limit = Path(path), max_pixels or max_pixels_default()

    def __enter__(self) -> Image.Image:
        path = self.path
        if not path.exists():
            raise ValueError(f"{path}: no such file")
        if path.is_dir():
            raise ValueError(f"{path}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: empty file (zero bytes)")
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        # Pillow's own bomb check gives way to the one below, which says how large the image is and what
        # the limit is (nothing is decoded before it)
        self._pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # "Corrupt EXIF data"...
        try:
            self.img = _decoded(path, lambda: Image.open(path))
            width, height = self.img.size
            if width == 0 or height == 0:
                raise ValueError(f"{path}: zero-sized image")
            if width * height > self.limit:
                raise ValueError(
                    f"{path}: {width}x{height} pixels exceeds the limit of {self.limit} "
                    "(decompression bomb? set DARKROOM_MAX_PIXELS to raise it)"
                )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.img

    def __exit__(self, *exc):
        if getattr(self, "img", None) is not None:
            self.img.close()
        Image.MAX_IMAGE_PIXELS = self._pillow_limit
        self._warnings.__exit__(None, None, None)
        return False


READABLE_MODES = {
    "1",
    "L",
    "P",
    "RGB",
    "RGBA",
    "RGBX",
    "RGBa",
    "LA",
    "La",
    "PA",
    "CMYK",
    "YCbCr",
    "I",
    "F",
    "I;16",
    "I;16B",
    "I;16L",
    "I;16N",
}


def _check_mode(img: Image.Image) -> Image.Image:
    if img.mode not in READABLE_MODES:
        raise ValueError(f"unsupported image mode {img.mode}")
    return img


def _loaded(img: Image.Image) -> Image.Image:
    img.seek(0)  # first frame of an animation
    img.load()
    return _check_mode(img)


def _decoded(path, decode):
    """Run ``decode()``; whatever a corrupt file makes PIL raise becomes a one-line ValueError naming it."""
    try:
        return decode()
    except ValueError as err:
        text = str(err)
        raise ValueError(text if text.startswith(f"{path}:") else f"{path}: {text}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path}: too many pixels (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file") from None
    except MemoryError:
        raise ValueError(f"{path}: too large to decode in memory") from None
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"{path}: corrupt or truncated image ({first_line(err)})") from None
    except Exception as err:  # a damaged file can make a PIL plugin raise anything (struct.error, IndexError...)
        raise ValueError(f"{path}: corrupt image ({type(err).__name__}: {first_line(err)})") from None


def first_line(err: BaseException) -> str:
    """An exception's message, one line of it (its type's name when it has none), for one-line errors."""
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _to_float(img: Image.Image, alpha: str) -> np.ndarray:
    """PIL image of any mode -> float32 (H, W, 3) in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        gray = np.asarray(img, dtype=np.uint16).astype(np.float32) / 65535.0
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("I", "F"):
        gray = np.asarray(img, dtype=np.float32)
        scale = 65535.0 if mode == "I" and gray.max() > 255 else (255.0 if mode == "I" else 1.0)
        gray = np.clip(gray / scale, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "1":
        img = img.convert("L")
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        rgb, a = rgba[..., :3], rgba[..., 3:]
        if alpha == "drop":
            return np.ascontiguousarray(rgb)
        return rgb * a + (1.0 - a)  # composite onto white
    array = np.asarray(img.convert("RGB"), dtype=np.float32)  # L, P, CMYK, YCbCr, RGB
    array /= 255.0
    return array


def rgb_to_gray(array: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W) luma with ITU-R BT.601 weights."""
    return (array[..., 0] * 0.299 + array[..., 1] * 0.587 + array[..., 2] * 0.114).astype(np.float32)


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) tensor or (H, W[, C]) array in [0, 1] -> uint8 (H, W, C) with C in {1, 3}; a batch
    (N, C, H, W) tensor -> (N, H, W, C), as a PNG or an npz of samples stores them."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float()
        if image.ndim in (3, 4):
            image = image.movedim(-3, -1)
        image = image.numpy()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim not in (3, 4) or image.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image (C, H, W) with 1 or 3 channels, got shape {tuple(image.shape)}")
    scaled = np.clip(image, 0.0, 1.0)  # one temporary, not three: large photos go through here
    scaled *= 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)


def to_pil(image: torch.Tensor | np.ndarray) -> Image.Image:
    array = to_uint8(image)
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def write_image(
    path: PathLike, image: torch.Tensor | np.ndarray, *, provenance: dict | None = None, quality: int = 95
) -> Path:
    """Write (C, H, W) in [0, 1] to PNG or JPEG (by suffix), atomically, with provenance.

    Provenance (operation, model, parameters, seed, ...) goes into a PNG text chunk ``darkroom``
    as JSON, or into the JPEG comment.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"{path}: can only write .png or .jpg, not {suffix or 'no suffix'}")
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    text = json.dumps({"software": "darkroom", **(provenance or {})}, sort_keys=True, default=str)
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_text("darkroom", text)
        kwargs = {"format": "PNG", "pnginfo": info}
    else:
        kwargs = {"format": "JPEG", "quality": int(quality), "comment": text.encode()}
    with atomic_path(path) as tmp:
        pil.save(tmp, **kwargs)
    return path


def read_provenance(path) -> dict | None:
    """The provenance a file written by darkroom declares, or None."""
    try:
        with Image.open(path) as img:
            text = img.info.get("darkroom") or img.info.get("comment")
    except (OSError, UnidentifiedImageError):
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        data = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; renamed onto it on success. The file gets
    the permissions a plain ``open`` would give it (``mkstemp``'s are owner-only)."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def write_text_atomic(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npz_atomic(path: PathLike, compress: bool = False, **arrays) -> Path:
    """``np.savez`` (or ``savez_compressed``) of ``arrays`` to ``path``, whole or not at all."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file object: savez adds no suffix
        (np.savez_compressed if compress else np.savez)(handle, **arrays)
    return Path(path)


class Failure(str):
    """One file a batch command could not do: reads as the line ``"PATH: why"``, and keeps ``path`` and
    ``error`` apart for ``--json`` (``{"path": ..., "error": ...}``)."""

    path: str
    error: str

    def __new__(cls, path, error) -> Failure:
        path, error = str(path), str(error)
        if error.startswith(f"{path}: "):
            error = error[len(path) + 2 :]
        line = super().__new__(cls, f"{path}: {error}")
        line.path, line.error = path, error
        return line

    def to_json(self) -> dict:
        return {"path": self.path, "error": self.error}


def list_images(inputs: PathLike | list[PathLike], *, recursive: bool = True) -> tuple[list[Path], list[str]]:
    """Expand files, folders and globs into image paths (sorted, unique).

    Returns (paths, problems): a problem is a :class:`Failure` for an input that matched nothing.
    """
    paths, problems = [], []
    for item in inputs:
        item = str(item)
        if any(ch in item for ch in "*?["):
            found = [Path(p) for p in sorted(glob.glob(item, recursive=True)) if Path(p).is_file()]
            if not found:
                problems.append(Failure(item, "no file matches"))
            paths.extend(found)
        elif Path(item).is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in Path(item).glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(Failure(item, "folder holds no images"))
            paths.extend(found)
        elif Path(item).is_file():
            paths.append(Path(item))
        else:
            problems.append(Failure(item, "no such file or folder"))
    seen, unique = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique, problems


def output_names(paths: list[Path], suffix: str = ".png") -> list[str]:
    """One file name per input path, ``<stem><suffix>``, made distinct where stems repeat (``a/x.jpg`` and
    ``b/x.png`` give ``x.png`` and ``x-2.png``), so that no output overwrites another."""
    names, used = [], set()
    for path in paths:
        stem, k = Path(path).stem, 1
        name = f"{stem}{suffix}"
        while name.lower() in used:
            k += 1
            name = f"{stem}-{k}{suffix}"
        used.add(name.lower())
        names.append(name)
    return names


def grid(images: torch.Tensor, ncol: int = 8, pad: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) -> one (C, H', W') image with ``ncol`` columns and ``pad`` pixels between tiles."""
    if images.ndim != 4:
        raise ValueError(f"grid expects (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = max(1, min(ncol, n))
    nrow = (n + ncol - 1) // ncol
    canvas = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=images.dtype)
    for i, image in enumerate(images):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[:, top : top + h, left : left + w] = image
    return canvas
