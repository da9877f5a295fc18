"""``darkroom inspect``: everything darkroom can say about how an image was made, one JSON object per image
in the shape of DESIGN.md: the processing chain (``chain``), the render parameters when the image looks
like a ``scenes`` render (``sceneparams``), where it was edited (``tamper``: an image score and, with
``heatmap``, an overlay PNG the size of the image), and what the file itself declares (PNG text chunks),
with a flag for every declared value the estimates contradict. For small images (scenes and digits, up
to 64 px) ``generated`` and ``model_parsing`` come from ``modelparse`` (trained on the generator zoo);
for 64 px images it comes from ``sources-scenes`` (real render, or darkroom's own scene generators
``textsprites-scenes`` and ``sprites-scenes``: it names the generator where it can tell them apart and
otherwise gives the ``family`` it may come from), and ``model_parsing`` is null;
for photographs ``generated`` comes from ``gendetect`` (restoration-network output or camera photo), or,
when the image is a JPEG (its file, or its pixels as ``chain`` reads them), from ``gendetect-jpeg``, the
same detector trained on recompressed crops only; ``model_parsing`` is null.
"""

from __future__ import annotations

import base64
import functools
import html
import io as _io
import json
from contextlib import nullcontext
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from darkroom.forensics.processing import estimate_processing
from darkroom.forensics.tampermap import localize
from darkroom.io import (
    Failure,
    frame_count,
    list_images,
    output_names,
    read_image,
    to_pil,
    write_image,
    write_text_atomic,
)
from darkroom.models import load_run
from darkroom.ops.parsing import read_generator

TAMPER_MIN_SIDE = 64  # below this the tamper map says nothing useful
SCENE_MAX_SIDE = 128  # scenes are rendered at 32 or 64 px: larger images are not read as scenes
TOLERANCE = {"noise_sigma": 5.0, "jpeg_quality": 5, "blur_sigma": 0.5}
RELATIVE = {"resize_factor": 0.25, "gamma": 0.25}
JPEG_DETECTOR = "gendetect-jpeg"  # gendetect trained on recompressed crops: read JPEGs with it
SOURCES = "sources-scenes"  # real 64 px scene renders against darkroom's own scene generators


def declared(path) -> dict | None:
    """What the file declares: darkroom's provenance chunk (parsed; ``malformed`` when it is not JSON)
    and any other text chunks (other tools' parameters, Software, ...)."""
    try:
        with Image.open(path) as img:
            chunks = {k: v for k, v in img.info.items() if isinstance(v, (str, bytes))}
    except (OSError, UnidentifiedImageError):
        return None
    chunks = {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in chunks.items()}
    chunks.pop("icc_profile", None)
    chunks.pop("exif", None)
    result: dict = {}
    own = chunks.pop("darkroom", None)
    if own is not None:
        try:
            parsed = json.loads(own)
            result.update(parsed if isinstance(parsed, dict) else {"malformed": True, "raw": own[:200]})
        except json.JSONDecodeError:
            result.update({"malformed": True, "raw": own[:200]})
    if chunks:
        result["other_text"] = {k: v[:500] for k, v in chunks.items()}
    return result or None


def contradictions(provenance: dict | None, processing: dict, scene: dict | None) -> list[str]:
    """Declared values the estimates disagree with, one line each."""
    if not provenance:
        return []
    flags = []
    for field, tol in TOLERANCE.items():
        value = provenance.get(field)
        if (
            isinstance(value, (int, float))
            and processing.get(field) is not None
            and abs(processing[field] - value) > tol
        ):
            flags.append(f"declares {field} {value}, estimated {processing[field]}")
    for field, tol in RELATIVE.items():
        value = provenance.get(field)
        if isinstance(value, (int, float)) and value > 0 and abs(processing[field] / value - 1) > tol:
            flags.append(f"declares {field} {value}, estimated {processing[field]}")
    if str(provenance.get("operation", "")).startswith("restore-denoise") and processing["noise_sigma"] > 10:
        flags.append(f"declares a denoised image, estimated noise sigma {processing['noise_sigma']}")
    params = provenance.get("params")
    if scene and isinstance(params, dict) and isinstance(params.get("objects"), list) and params["objects"]:
        shapes = sorted(o.get("shape", "?") for o in params["objects"] if isinstance(o, dict))
        found = sorted(o["shape"] for o in scene["objects"])
        if shapes != found:
            flags.append(f"declares shapes {shapes}, the scene reads as {found}")
    return flags


def _scene(image: torch.Tensor, model) -> dict | None:
    h, w = image.shape[-2:]
    if max(h, w) > SCENE_MAX_SIDE:
        return None
    scene = model.predict(image[None].to(next(model.parameters()).device))[0]
    size = model.config.image_size
    if (h, w) != (size, size):
        scene["note"] = f"{w}x{h} image resized to the model's {size}x{size}"
    return scene


def _tamper(image: torch.Tensor, model, path, heatmap) -> dict:
    if min(image.shape[-2:]) < TAMPER_MIN_SIDE:
        return {
            "score": None,
            "heatmap": None,
            "mask": None,
            "note": f"image smaller than {TAMPER_MIN_SIDE} px on a side: not analysed for tampering",
        }
    prob = localize(image, model)
    result = {
        "score": round(float(model.image_prob(prob[None])[0]), 4),
        "heatmap": None,
        "mask": None,
        "tampered_fraction": round(float((prob > 0.5).float().mean()), 4),
    }
    if heatmap:
        red = torch.tensor([1.0, 0.1, 0.1]).view(3, 1, 1)
        alpha = 0.7 * prob
        overlay = image * (1 - alpha) + red * alpha
        write_image(
            heatmap, overlay, provenance={"operation": "inspect-heatmap", "model": "tamper", "source": str(path)}
        )
        mask = Path(heatmap).with_suffix(".mask.png")  # the probability itself, 0-255, for other tools
        write_image(mask, prob, provenance={"operation": "inspect-mask", "model": "tamper", "source": str(path)})
        result.update(heatmap=str(heatmap), mask=str(mask))
    return result


def _generated_photo(image: torch.Tensor, detectors: dict, processing: dict) -> dict:
    """``gendetect``'s reading, or its JPEG expert's when the image is a JPEG."""
    name = JPEG_DETECTOR if processing.get("jpeg_quality") is not None else "gendetect"
    return {"prob": round(detectors[name].image_prob(image), 4), "source": None, "source_prob": None, "detector": name}


def detector_caveats(processing: dict, detector: str = "gendetect") -> list[str]:
    """When the photo detector's reading is known to be weak (README, darkroom bench generated): JPEG erases
    most of the pixel traces it reads (``gendetect`` is near chance after JPEG q90; its JPEG expert finds
    denoised and x4-enlarged images but few others), and blurred camera photos look like a network's output."""
    notes = []
    quality = processing.get("jpeg_quality")
    if quality is not None and detector == JPEG_DETECTOR:
        notes.append(
            f"JPEG-compressed (q{quality}): read by the JPEG expert, which after JPEG q90 finds most "
            "denoised and x4-enlarged images but few colorized, x2-enlarged or inpainted ones, and "
            "is weaker at lower qualities"
        )
    elif quality is not None:
        notes.append(
            f"JPEG-compressed (q{quality}): compression erases the traces the "
            "detector reads; after JPEG q90 it is near chance"
        )
    if processing.get("blur_sigma", 0) >= 0.7:
        notes.append(
            f"looks blurred (sigma {processing['blur_sigma']:.1f} px): the detector calls most blurred "
            "camera photos generated"
        )
    return notes


def inspect_image(
    path, chain, scenes, tamper_model=None, heatmap=None, parser=None, detectors=None, sources=None
) -> dict:
    """Everything darkroom can say about one image; ``heatmap``: the PNG path for its tamper overlay;
    ``detectors``: ``gendetect`` and its JPEG expert, by name; ``sources``: (``sources-scenes``, its class
    names), which reads images of its size instead of ``modelparse``."""
    image = read_image(path)
    processing = estimate_processing(image, chain, path=path)
    generated, parsing = read_generator(image, parser, sources)
    if generated is None and detectors:
        generated = _generated_photo(image, detectors, processing)
    caveats = (
        detector_caveats(processing, generated["detector"])
        if generated and generated["detector"].startswith("gendetect")
        else []
    )
    if caveats:
        generated["notes"] = caveats
    scene = _scene(image, scenes)
    provenance = declared(path)
    tamper = _tamper(image, tamper_model, path, heatmap) if tamper_model is not None else None
    result = {
        "path": str(path),
        "generated": generated,
        "processing": processing,
        "tamper": tamper,
        "scene": scene,
        "model_parsing": parsing,
        "provenance": provenance,
        "size": [image.shape[-1], image.shape[-2]],
    }
    frames = frame_count(path)
    if frames > 1:
        result["frames"] = frames  # what is said above is said of the first
    flags = contradictions(provenance, processing, scene)
    if flags:
        result["contradictions"] = flags
    return result


def inspect(
    inputs, report=None, heatmap=None, progress: bool = True, workers: int = 1, ray_address=None, jsonl=None
) -> tuple[list[dict], list[str]]:
    """Inspect every image of ``inputs`` (files, folders, globs); returns (results, failures). A file that
    cannot be read is reported in ``failures`` and the batch goes on. ``jsonl``: also append one JSON line
    per image to this file as it is done; images it already holds are not inspected again (a stopped job
    resumes). ``workers`` > 1 or ``ray_address``: shared among processes or Ray actors (ops/parallel)."""
    from darkroom.ops.parallel import check_parallel, imap_items

    check_parallel(workers, ray_address)
    paths, failures = list_images(inputs)
    items = [
        {"path": str(path), "heatmap": str(Path(heatmap) / name) if heatmap else None}
        for path, name in zip(paths, output_names(paths))
    ]
    results, done = [], _done_lines(jsonl)
    results += [done[item["path"]] for item in items if item["path"] in done]
    todo = [item for item in items if item["path"] not in done]
    if jsonl and Path(jsonl).is_file() and not Path(jsonl).read_bytes().endswith(b"\n"):
        with open(jsonl, "a") as log:  # a line a kill cut short: the next result starts a line of its own
            log.write("\n")
    with open(jsonl, "a") if jsonl else nullcontext() as log:
        for result in imap_items(InspectWorker(), todo, workers, ray_address, "inspect", progress):
            if "error" in result and "processing" not in result:
                failures.append(Failure(result["path"], result["error"]))
                continue
            results.append(result)
            if log:
                log.write(json.dumps(result) + "\n")
                log.flush()
    order = {item["path"]: i for i, item in enumerate(items)}
    results.sort(key=lambda r: order.get(r["path"], len(order)))
    if report:
        write_report(report, results)
    return results, failures


def _done_lines(jsonl) -> dict[str, dict]:
    """Results already in a JSONL file, by path (a line cut short by a kill is dropped)."""
    done = {}
    if jsonl and Path(jsonl).is_file():
        for line in Path(jsonl).read_text().splitlines():
            try:
                row = json.loads(line)
                done[row["path"]] = row
            except (ValueError, KeyError, TypeError):
                continue
    return done


@functools.cache
def own_sources():
    """(``sources-scenes``, its class names) where it ships, else None (loaded once per process)."""
    from darkroom.weights import is_shipped

    if not is_shipped(SOURCES):
        return None
    model, info = load_run(SOURCES)
    return model, info["data_info"]["class_names"]


class InspectWorker:
    """The work of ``inspect`` on one file, for :func:`darkroom.ops.parallel.map_items`."""

    def __call__(self):
        chain, _ = load_run("chain")
        scenes, _ = load_run("sceneparams")
        tamper_model, _ = load_run("tamper")
        parser, _ = load_run("modelparse")
        detectors = {name: load_run(name)[0] for name in ("gendetect", JPEG_DETECTOR)}
        sources = own_sources()

        def one(item: dict) -> dict:
            heat = Path(item["heatmap"]) if item["heatmap"] else None
            try:
                return inspect_image(item["path"], chain, scenes, tamper_model, heat, parser, detectors, sources)
            except ValueError as err:
                return {"path": item["path"], "error": str(err)}

        return one


def _thumbnail(path: str) -> str:
    image = to_pil(read_image(path))
    image.thumbnail((320, 320))
    if max(image.size) < 128:  # scenes: show the pixels
        image = image.resize((image.width * 4, image.height * 4), Image.NEAREST)
    buffer = _io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def summary(result: dict) -> list[str]:
    """Human-readable lines for one result (the CLI's text output and the report)."""
    p = result["processing"]
    jpeg = f"JPEG q{p['jpeg_quality']}" if p["jpeg_quality"] is not None else "not a JPEG"
    lines = [
        f"noise sigma {p['noise_sigma']:.1f}, {jpeg}, blur sigma {p['blur_sigma']:.2f} px, "
        f"resize x{p['resize_factor']:.2f}, gamma {p['gamma']:.2f}"
    ]
    lines += [f"note: {n}" for n in p.get("notes", [])]
    if result.get("frames", 1) > 1:
        lines.append(f"note: {result['frames']} frames; only the first was inspected")
    tamper = result.get("tamper")
    if tamper and tamper.get("score") is not None:
        lines.append(
            f"tamper score {tamper['score']:.2f} ({100 * tamper['tampered_fraction']:.1f} % of pixels "
            "above 0.5)" + (f", heatmap {tamper['heatmap']}" if tamper["heatmap"] else "")
        )
    elif tamper:
        lines.append(f"note: {tamper['note']}")
    generated, parsing = result.get("generated"), result.get("model_parsing")
    if generated:
        line = f"generated by a network: {generated['prob']:.2f} ({generated['detector']})"
        if generated["prob"] >= 0.5 and generated.get("family"):
            line += f", by one of darkroom's {' / '.join(generated['family'])} (nearest {generated['nearest']})"
        elif generated["prob"] >= 0.5 and generated["detector"] in ("modelparse", SOURCES):
            line += (
                f", by {generated['source']} ({generated['source_prob']:.2f})"
                if generated["source"]
                else f", by an unknown generator (nearest known: {generated['nearest']}, "
                f"{generated['source_prob']:.2f})"
            )
        lines.append(line)
        lines += [f"note: {n}" for n in generated.get("notes", [])]
    if parsing:
        lines.append("generator: " + ", ".join(f"{k} {v['value']} ({v['prob']:.2f})" for k, v in parsing.items()))
    scene = result.get("scene")
    if scene:
        things = "; ".join(
            f"{o['color_name']} {o['shape']} ({o['shape_confidence']:.2f}) at x {o['x']:.2f} "
            f"y {o['y']:.2f}, size {o['size']:.2f}, rotation {o['rotation']:.0f} deg"
            for o in scene["objects"]
        )
        lines.append(f"scene: {things}; {scene['bg_color_name']} {scene['background']} background")
    if result.get("provenance"):
        lines.append("declares: " + json.dumps(result["provenance"], sort_keys=True)[:300])
    lines += [f"CONTRADICTION: {c}" for c in result.get("contradictions", [])]
    return lines


def write_report(path, results: list[dict]) -> Path:
    rows = []
    for r in results:
        findings = "".join(f"<li>{html.escape(line)}</li>" for line in summary(r))
        heatmap = (r.get("tamper") or {}).get("heatmap")
        extra = f"<br><img src='data:image/png;base64,{_thumbnail(heatmap)}'>" if heatmap else ""
        rows.append(
            f"<tr><td><img src='data:image/png;base64,{_thumbnail(r['path'])}'>{extra}</td>"
            f"<td><b>{html.escape(r['path'])}</b> ({r['size'][0]}x{r['size'][1]})<ul>{findings}</ul>"
            f"<details><summary>JSON</summary><pre>{html.escape(json.dumps(r, indent=1))}</pre></details>"
            "</td></tr>"
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>darkroom inspect</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{vertical-align:top;padding:.5em}"
        "img{image-rendering:pixelated}</style><h1>darkroom inspect</h1>"
        f"<p>{len(results)} image(s). Processing: shipped <code>chain</code> model; scenes: "
        "<code>sceneparams</code>; generator: <code>modelparse</code>; tampering: <code>tamper</code>; declared: the file's text chunks.</p><table>"
        + "".join(rows)
        + "</table>"
    )
    write_text_atomic(path, page)
    return Path(path)
