"""The built-in ``scenes`` renderer: small images drawn from explicit generation parameters.

Each scene is one or two filled shapes on a textured background. Every number that decided a pixel
is in :class:`SceneParams`, so the image is ground truth for parameter inference and conditioning.
Anti-aliasing is analytic: a signed distance to the shape's outline gives each pixel its coverage.

Coordinates: ``x``, ``y`` are the object's centre as fractions of the image width and height
(0, 0 = top left), ``size`` is the radius of its circumscribed circle as a fraction of the width,
``rotation`` is in degrees, counter-clockwise as seen on screen.

    >>> params = sample_params(np.random.default_rng(0), image_size=32)
    >>> image = render(params)          # float32 (32, 32, 3) in [0, 1]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "heart", "cross", "diamond", "hexagon")
COLORS = {  # name -> RGB 0-255
    "red": (220, 30, 35), "orange": (245, 140, 20), "yellow": (240, 215, 35), "green": (40, 165, 60),
    "cyan": (35, 200, 210), "blue": (35, 70, 215), "purple": (130, 50, 185), "pink": (245, 125, 180),
    "brown": (125, 78, 40), "white": (245, 245, 240), "black": (22, 22, 26), "gray": (128, 128, 128),
}
BACKGROUNDS = ("plain", "stripes", "checker", "noise", "gradient")
SIZE_RANGE = (0.12, 0.32)
COLOR_JITTER = 12  # fill colour = named colour +- this many 0-255 levels per channel


@dataclass(frozen=True)
class ObjectParams:
    shape: str
    color_name: str
    color: tuple[float, float, float]  # RGB in [0, 1], what was painted
    size: float
    x: float
    y: float
    rotation: float


@dataclass(frozen=True)
class SceneParams:
    image_size: int
    objects: tuple[ObjectParams, ...]
    background: str
    bg_color_name: str
    bg_color: tuple[float, float, float]
    bg_tone: tuple[float, float, float]  # second colour of stripes, checker, noise and gradient
    bg_angle: float = 0.0  # degrees, stripes and gradient
    bg_period: float = 8.0  # pixels, stripes and checker
    noise_seed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def main(self) -> ObjectParams:
        return self.objects[0]

    @property
    def label(self) -> int:
        return SHAPES.index(self.objects[0].shape)

    def to_dict(self) -> dict:
        # Shallow and explicit: dataclasses.asdict deep-copies and costs more than rendering.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data["objects"] = [{f.name: getattr(o, f.name) for f in fields(o)} for o in self.objects]
        return data

    @staticmethod
    def from_dict(data: dict) -> "SceneParams":
        objects = tuple(ObjectParams(**{**o, "color": tuple(o["color"])}) for o in data["objects"])
        rest = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k != "objects"}
        return SceneParams(objects=objects, **rest)


def _regular(n: int, start_deg: float = 90.0, inner: float | None = None) -> np.ndarray:
    """Vertices of a regular polygon (or star with ``inner`` radius), circumradius 1, y up."""
    count = n * 2 if inner else n
    angles = np.deg2rad(start_deg) + np.arange(count) * 2 * np.pi / count
    radii = np.where(np.arange(count) % 2 == 1, inner, 1.0) if inner else np.ones(count)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def _heart(n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    pts = np.stack([x, y + 2.5], 1)
    return pts / np.linalg.norm(pts, axis=1).max()


def _cross(arm: float = 0.36) -> np.ndarray:
    a, b = arm, math.sqrt(1 - arm * arm)  # corners of the arms lie on the unit circle
    return np.array([(a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a), (-a, -b), (a, -b),
                     (a, -a), (b, -a), (b, a), (a, a)])


POLYGONS = {  # unit circumradius, y up
    "square": _regular(4, 45.0),
    "triangle": _regular(3, 90.0),
    "star": _regular(5, 90.0, inner=0.45),
    "heart": _heart(),
    "cross": _cross(),
    "diamond": _regular(4, 90.0) * np.array([0.62, 1.0]),
    "hexagon": _regular(6, 0.0),
}


def polygon_sdf(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from points (P, 2) to a closed polygon (E, 2)."""
    edges = np.roll(vertices, 1, axis=0) - vertices  # (E, 2): v[i-1] - v[i]
    w = points[None, :, :] - vertices[:, None, :]  # (E, P, 2)
    t = np.clip((w * edges[:, None]).sum(-1) / (edges ** 2).sum(-1)[:, None], 0.0, 1.0)
    b = w - edges[:, None] * t[..., None]
    dist = np.sqrt((b ** 2).sum(-1).min(0))
    py = points[None, :, 1]
    c1 = py >= vertices[:, None, 1]
    c2 = py < np.roll(vertices, 1, axis=0)[:, None, 1]
    c3 = edges[:, None, 0] * w[..., 1] > edges[:, None, 1] * w[..., 0]
    crossings = ((c1 & c2 & c3) | (~c1 & ~c2 & ~c3)).sum(0)
    return np.where(crossings % 2 == 1, -dist, dist)


SDF_EXTENT, SDF_RES = 1.6, 192  # the field covers [-1.6, 1.6]^2 of the unit-radius frame


def _sdf_table(vertices: np.ndarray) -> np.ndarray:
    axis = np.linspace(-SDF_EXTENT, SDF_EXTENT, SDF_RES)
    gx, gy = np.meshgrid(axis, axis)
    points = np.stack([gx.ravel(), gy.ravel()], 1)
    return polygon_sdf(points, vertices).reshape(SDF_RES, SDF_RES).astype(np.float32)


# Distance fields are almost linear near an outline, so bilinear lookups in a precomputed field are
# as good as the exact polygon distance where it matters (the anti-aliased edge) and far cheaper.
SDF_TABLES = {name: _sdf_table(vertices) for name, vertices in POLYGONS.items()}
_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pixel_grid(y0, y1, x0, x1, size):
    """Pixel-centre coordinates (ys, xs) of a window of a size x size image (cached views)."""
    if size not in _GRIDS:
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        _GRIDS[size] = (ys, xs)
    ys, xs = _GRIDS[size]
    return ys[y0:y1, x0:x1], xs[y0:y1, x0:x1]


def _lookup(table: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear sample of a distance field at unit-frame coordinates (u right, v up)."""
    scale = (SDF_RES - 1) / (2 * SDF_EXTENT)
    top_index = SDF_RES - 1.001
    fx = np.minimum(np.maximum((u + SDF_EXTENT) * scale, 0.0), top_index)
    fy = np.minimum(np.maximum((v + SDF_EXTENT) * scale, 0.0), top_index)
    ix, iy = fx.astype(np.intp), fy.astype(np.intp)
    ax, ay = fx - ix, fy - iy
    flat = table.ravel()
    i00 = iy * SDF_RES + ix
    top = flat[i00] * (1 - ax) + flat[i00 + 1] * ax
    bottom = flat[i00 + SDF_RES] * (1 - ax) + flat[i00 + SDF_RES + 1] * ax
    return top * (1 - ay) + bottom * ay


def _coverage(obj: ObjectParams, size: int) -> tuple[np.ndarray, slice, slice]:
    """Anti-aliased coverage of one object inside its bounding box, and the box."""
    cx, cy, radius = obj.x * size, obj.y * size, obj.size * size
    y0, y1 = max(0, int(cy - radius - 1)), min(size, int(math.ceil(cy + radius + 1)))
    x0, x1 = max(0, int(cx - radius - 1)), min(size, int(math.ceil(cx + radius + 1)))
    ys, xs = _pixel_grid(y0, y1, x0, x1, size)
    dx, dy = xs - cx, cy - ys  # screen y points down, the shape frame's y up
    if obj.shape == "circle":
        sdf = np.sqrt(dx * dx + dy * dy) - radius
    else:
        theta = math.radians(obj.rotation)
        c, s = math.cos(theta) / radius, math.sin(theta) / radius
        sdf = _lookup(SDF_TABLES[obj.shape], c * dx + s * dy, c * dy - s * dx) * radius
    return np.minimum(np.maximum(0.5 - sdf, 0.0), 1.0), slice(y0, y1), slice(x0, x1)


def _square_wave(t: np.ndarray, period: float) -> np.ndarray:
    """Anti-aliased 0/1 stripes along ``t`` (pixels) with the given period."""
    phase = np.abs((t / period) % 1.0 - 0.5)  # 0 at stripe centre of "1", 0.5 at centre of "0"
    return np.clip(0.5 + (0.25 - phase) * period, 0.0, 1.0)


def render_background(params: SceneParams) -> np.ndarray:
    size = params.image_size
    base = np.asarray(params.bg_color, np.float32)
    tone = np.asarray(params.bg_tone, np.float32)
    if params.background == "plain":
        return np.broadcast_to(base, (size, size, 3)).copy()
    ys, xs = _pixel_grid(0, size, 0, size, size)
    angle = math.radians(params.bg_angle)
    along = xs * math.cos(angle) + ys * math.sin(angle)
    if params.background == "stripes":
        mix = _square_wave(along, params.bg_period)
    elif params.background == "checker":
        a, b = _square_wave(xs, params.bg_period), _square_wave(ys, params.bg_period)
        mix = a * (1 - b) + b * (1 - a)
    elif params.background == "gradient":
        lo, hi = along.min(), along.max()
        mix = (along - lo) / max(hi - lo, 1e-6)
    elif params.background == "noise":
        mix = np.random.default_rng(params.noise_seed).random((size, size), dtype=np.float32) * 0.8
    else:
        raise ValueError(f"unknown background {params.background!r}; choose from {', '.join(BACKGROUNDS)}")
    mix = mix[..., None]
    return base * (1 - mix) + tone * mix


def render(params: SceneParams) -> np.ndarray:
    """Draw a scene: float32 (size, size, 3) in [0, 1]."""
    image = render_background(params)
    for obj in params.objects:
        cover, rows, cols = _coverage(obj, params.image_size)
        cover = cover[..., None]
        patch = image[rows, cols]
        image[rows, cols] = patch * (1 - cover) + np.asarray(obj.color, np.float32) * cover
    return image


def _rgb(name: str, jitter: np.ndarray | None = None) -> tuple[float, float, float]:
    rgb = np.asarray(COLORS[name], np.float64)
    if jitter is not None:  # jitter: 3 uniforms in [0, 1)
        rgb = np.clip(rgb + (jitter * 2 - 1) * COLOR_JITTER, 0, 255)
    return tuple(float(v) / 255.0 for v in rgb)


def _distinct(a: str, b: str) -> bool:
    """Colours far enough apart to keep a shape visible on a background."""
    return float(np.abs(np.subtract(COLORS[a], COLORS[b])).sum()) > 150


COLOR_NAMES = tuple(COLORS)
_VISIBLE_ON = {bg: tuple(n for n in COLORS if _distinct(n, bg)) for bg in COLORS}


def sample_object(rng: np.random.Generator, avoid_color: str, others=()) -> ObjectParams:
    u = rng.random(8)
    shape = SHAPES[int(u[0] * len(SHAPES))]
    names = _VISIBLE_ON[avoid_color]
    color_name = names[int(u[1] * len(names))]
    size = SIZE_RANGE[0] + u[2] * (SIZE_RANGE[1] - SIZE_RANGE[0])
    x, y = size + u[3:5] * (1 - 2 * size)
    for _ in range(8 if others else 0):  # keep a second object from hiding the first
        if all(math.hypot(x - o.x, y - o.y) > 0.8 * (size + o.size) for o in others):
            break
        x, y = size + rng.random(2) * (1 - 2 * size)
    rotation = 0.0 if shape == "circle" else float(u[5] * 360)
    return ObjectParams(shape, color_name, _rgb(color_name, rng.random(3)), float(size),
                        float(x), float(y), rotation)


def sample_params(rng: np.random.Generator, image_size: int = 32, objects: int = 1) -> SceneParams:
    u = rng.random(5)
    bg_name = COLOR_NAMES[int(u[0] * len(COLOR_NAMES))]
    background = BACKGROUNDS[int(u[1] * len(BACKGROUNDS))]
    bg_color = _rgb(bg_name)
    # The second tone is the background colour pushed towards white or black: still "that colour".
    towards = 1.0 if sum(bg_color) < 1.5 else 0.0
    tone = tuple(c + (towards - c) * 0.4 for c in bg_color)
    placed: list[ObjectParams] = []
    for _ in range(objects):
        placed.append(sample_object(rng, bg_name, placed))
    return SceneParams(
        image_size=image_size, objects=tuple(placed), background=background, bg_color_name=bg_name,
        bg_color=bg_color, bg_tone=tone, bg_angle=float(u[2] * 180),
        bg_period=float((4 + u[3] * 6) * image_size / 32), noise_seed=int(u[4] * 2 ** 31))
