"""English captions for ``scenes``, made from the render parameters with varied wording.

    "a small crimson star near the top left on a striped blue background"

Every word that carries meaning comes from the vocabularies below, so :func:`parse_caption` can read a
caption back into coarse parameters (tests use it to check that captions and parameters agree; the
text-conditioning work uses it to score generated images against their prompt).
"""
from __future__ import annotations

import numpy as np

from darkroom.data.scenes import ObjectParams, SceneParams

SHAPE_WORDS = {
    "circle": ("circle", "disk", "round dot"), "square": ("square", "block"), "triangle": ("triangle",),
    "star": ("star", "five-pointed star"), "heart": ("heart",), "cross": ("cross", "plus sign"),
    "diamond": ("diamond", "rhombus"), "hexagon": ("hexagon",),
}
COLOR_WORDS = {
    "red": ("red", "crimson", "scarlet"), "orange": ("orange", "amber"), "yellow": ("yellow", "golden"),
    "green": ("green", "emerald"), "cyan": ("cyan", "turquoise", "aqua"), "blue": ("blue", "cobalt"),
    "purple": ("purple", "violet"), "pink": ("pink", "rose"), "brown": ("brown", "chocolate"),
    "white": ("white", "ivory"), "black": ("black", "jet-black"), "gray": ("gray", "grey", "silver"),
}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "medium": ("medium-sized", "mid-sized", "modest"),
              "large": ("large", "big", "huge")}
SIZE_BINS = (0.19, 0.25)  # size < 0.19 small, < 0.25 medium, else large
POSITION_WORDS = {
    ("top", "left"): ("near the top left", "in the upper left", "at the top left corner"),
    ("top", "centre"): ("near the top", "at the top", "in the upper middle"),
    ("top", "right"): ("near the top right", "in the upper right", "at the top right corner"),
    ("middle", "left"): ("at the left", "near the left edge", "to the left"),
    ("middle", "centre"): ("in the centre", "in the middle", "at the center"),
    ("middle", "right"): ("at the right", "near the right edge", "to the right"),
    ("bottom", "left"): ("near the bottom left", "in the lower left", "at the bottom left corner"),
    ("bottom", "centre"): ("near the bottom", "at the bottom", "in the lower middle"),
    ("bottom", "right"): ("near the bottom right", "in the lower right", "at the bottom right corner"),
}
POSITION_BINS = (0.4, 0.6)  # thirds, with a wider centre
BACKGROUND_WORDS = {
    "plain": ("on a plain {c} background", "against a solid {c} backdrop", "on a flat {c} background"),
    "stripes": ("on a striped {c} background", "over {c} stripes", "against a {c} striped backdrop"),
    "checker": ("on a {c} checkerboard", "on a checkered {c} background", "over a {c} chequered pattern"),
    "noise": ("on a noisy {c} background", "on a grainy {c} backdrop", "against a speckled {c} texture"),
    "gradient": ("on a {c} gradient", "on a fading {c} background", "against a smooth {c} gradient"),
}
OPENINGS = ("", "", "", "an image of ", "a picture of ", "a render of ")


def size_bin(size: float) -> str:
    return "small" if size < SIZE_BINS[0] else ("medium" if size < SIZE_BINS[1] else "large")


def position_cell(x: float, y: float) -> tuple[str, str]:
    row = "top" if y < POSITION_BINS[0] else ("middle" if y <= POSITION_BINS[1] else "bottom")
    col = "left" if x < POSITION_BINS[0] else ("centre" if x <= POSITION_BINS[1] else "right")
    return row, col


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe_object(obj: ObjectParams, rng: np.random.Generator) -> str:
    size = _pick(rng, SIZE_WORDS[size_bin(obj.size)])
    color = _pick(rng, COLOR_WORDS[obj.color_name])
    shape = _pick(rng, SHAPE_WORDS[obj.shape])
    where = _pick(rng, POSITION_WORDS[position_cell(obj.x, obj.y)])
    if rng.random() < 0.5:
        return f"{_article(size)} {size} {color} {shape} {where}"
    return f"{_article(color)} {color} {shape}, {size}, {where}"


def caption(params: SceneParams, rng: np.random.Generator) -> str:
    """One English sentence describing the scene; wording varies with ``rng``."""
    things = " and ".join(describe_object(obj, rng) for obj in params.objects)
    background = _pick(rng, BACKGROUND_WORDS[params.background]).format(
        c=_pick(rng, COLOR_WORDS[params.bg_color_name]))
    return f"{_pick(rng, OPENINGS)}{things} {background}"


def _find(text: str, vocabulary: dict) -> list:
    """Keys of ``vocabulary`` whose words occur in ``text``, in order of appearance, longest match first."""
    hits = []
    for key, words in vocabulary.items():
        for word in words:
            for pattern in (f" {word} ", f" {word},"):
                start = f" {text} ".find(pattern)
                if start >= 0:
                    hits.append((start, -len(word), key))
    hits.sort()
    found, taken = [], []
    for start, neg_len, key in hits:
        end = start - neg_len
        if any(s < end and start < e for s, e in taken):
            continue  # "jet-black" must not also count as "black"
        taken.append((start, end))
        found.append(key)
    return found


def parse_caption(text: str) -> dict:
    """Read a caption back into coarse parameters: per object shape, colour, size bin, position cell;
    and the background kind and colour."""
    text = text.lower().strip()
    cut = min((text.find(w) for w in (" on a ", " against a ", " over ") if w in text), default=len(text))
    scene, background = text[:cut], text[cut:]
    objects = []
    for part in scene.split(" and "):
        shapes, colors = _find(part, SHAPE_WORDS), _find(part, COLOR_WORDS)
        sizes, cells = _find(part, SIZE_WORDS), _find(part, POSITION_WORDS)
        objects.append({"shape": shapes[0] if shapes else None, "color_name": colors[0] if colors else None,
                        "size": sizes[0] if sizes else None, "position": cells[0] if cells else None})
    kinds = [k for k, phrases in BACKGROUND_WORDS.items()
             if any(_matches(background, p) for p in phrases)]
    bg_colors = _find(background, COLOR_WORDS)
    return {"objects": objects, "background": kinds[0] if kinds else None,
            "bg_color_name": bg_colors[0] if bg_colors else None}


def _matches(text: str, phrase: str) -> bool:
    head, tail = phrase.split("{c}")
    return text.strip().startswith(head.strip()) and text.strip().endswith(tail.strip())


def expected_parse(params: SceneParams) -> dict:
    """What :func:`parse_caption` should return for any caption of ``params``."""
    return {"objects": [{"shape": o.shape, "color_name": o.color_name, "size": size_bin(o.size),
                         "position": position_cell(o.x, o.y)} for o in params.objects],
            "background": params.background, "bg_color_name": params.bg_color_name}


POSITION_CELLS = tuple(POSITION_WORDS)
ATTRIBUTES = {  # what a caption says about the main object and the background, as class lists
    "shape": tuple(SHAPE_WORDS), "color": tuple(COLOR_WORDS), "size": tuple(SIZE_WORDS),
    "position": POSITION_CELLS, "background": tuple(BACKGROUND_WORDS), "bg_color": tuple(COLOR_WORDS),
}


def attribute_indices(params: dict) -> list[int]:
    """The class index of each of :data:`ATTRIBUTES` for a scene's parameters (``SceneParams.to_dict()``),
    main object first."""
    main = params["objects"][0]
    values = (main["shape"], main["color_name"], size_bin(main["size"]), position_cell(main["x"], main["y"]),
              params["background"], params["bg_color_name"])
    return [options.index(v) for options, v in zip(ATTRIBUTES.values(), values)]


def parsed_indices(parsed: dict) -> list[int | None]:
    """:data:`ATTRIBUTES` indices of what :func:`parse_caption` read (None where the caption says nothing)."""
    main = parsed["objects"][0] if parsed["objects"] else {}
    values = (main.get("shape"), main.get("color_name"), main.get("size"), main.get("position"),
              parsed.get("background"), parsed.get("bg_color_name"))
    return [options.index(v) if v is not None else None for options, v in zip(ATTRIBUTES.values(), values)]


def params_for(parsed: dict, rng: np.random.Generator, image_size: int = 32) -> SceneParams:
    """A scene that a caption read by :func:`parse_caption` describes: what it names is fixed, within its
    bin; the rest (rotation, exact size and position, colour jitter, what the caption leaves out) is drawn
    as the renderer draws it. The ceiling of text-to-image judging: real renders of the same prompts."""
    from darkroom.data import scenes

    base = scenes.sample_params(rng, image_size, objects=max(1, len(parsed["objects"])))
    bg_name = parsed.get("bg_color_name") or base.bg_color_name
    named = [o.get("color_name") for o in parsed["objects"] if o.get("color_name")]
    if not parsed.get("bg_color_name") and any(not scenes._distinct(c, bg_name) for c in named):
        choices = [b for b in scenes.COLOR_NAMES if all(scenes._distinct(c, b) for c in named)]
        bg_name = choices[int(rng.integers(len(choices)))]  # the renderer keeps objects visible
    objects = []
    for obj, wanted in zip(base.objects, parsed["objects"] or [{}]):
        shape = wanted.get("shape") or obj.shape
        color = wanted.get("color_name") or obj.color_name
        if not wanted.get("color_name") and not scenes._distinct(color, bg_name):
            visible = scenes._VISIBLE_ON[bg_name]
            color = visible[int(rng.integers(len(visible)))]
        size = obj.size
        if wanted.get("size"):
            bounds = {"small": (scenes.SIZE_RANGE[0], SIZE_BINS[0]), "medium": SIZE_BINS,
                      "large": (SIZE_BINS[1], scenes.SIZE_RANGE[1])}[wanted["size"]]
            size = float(rng.uniform(*bounds))
        x, y = obj.x, obj.y
        if wanted.get("position"):
            row, col = wanted["position"]
            x, y = (_in_cell(col, ("left", "centre", "right"), size, rng),
                    _in_cell(row, ("top", "middle", "bottom"), size, rng))
        rgb = scenes._rgb(color, rng.random(3))
        rotation = 0.0 if shape == "circle" else obj.rotation
        objects.append(scenes.ObjectParams(shape, color, rgb, size, x, y, rotation))
    bg_color = scenes._rgb(bg_name)
    towards = 1.0 if sum(bg_color) < 1.5 else 0.0
    return SceneParams(image_size=image_size, objects=tuple(objects), background=parsed.get("background") or base.background,
                       bg_color_name=bg_name, bg_color=bg_color,
                       bg_tone=tuple(c + (towards - c) * 0.4 for c in bg_color), bg_angle=base.bg_angle,
                       bg_period=base.bg_period, noise_seed=base.noise_seed)


def _in_cell(which: str, names: tuple[str, str, str], size: float, rng: np.random.Generator) -> float:
    """A centre coordinate inside one third-like cell (POSITION_BINS), kept inside the image by ``size``."""
    lo, hi = {0: (0.0, POSITION_BINS[0]), 1: POSITION_BINS, 2: (POSITION_BINS[1], 1.0)}[names.index(which)]
    lo, hi = max(lo, size), min(hi, 1 - size)
    if lo >= hi:  # a large object cannot sit in this cell entirely inside the image: as close as it gets
        return float(np.clip((lo + hi) / 2, size, 1 - size))
    return float(rng.uniform(lo, hi))
