"""``darkroom demo``: every capability on built-in data, as one HTML page with its pictures.

Each capability adds a section function to ``SECTIONS``; a section returns HTML and writes its images
under ``OUT/img``. The page is rewritten after every section, so a crash keeps what was done.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from darkroom.data import degrade, load_dataset
from darkroom.data.base import to_tensor
from darkroom.data.photos import skimage_photo
from darkroom.io import grid, write_image, write_text_atomic
from darkroom.models import load_run
from darkroom.ops.generate import class_labels

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
img.px{image-rendering:pixelated} figure{display:inline-block;margin:6px;vertical-align:top;width:150px}
figure img{width:150px} figcaption{font-size:12px;color:#444} h2{border-bottom:1px solid #ccc}
table{border-collapse:collapse} td,th{padding:2px 8px;border-bottom:1px solid #eee;font-size:13px}"""


class Page:
    def __init__(self, out: Path, seed: int):
        self.out, self.seed = out, seed
        (out / "img").mkdir(parents=True, exist_ok=True)
        self.sections: list[str] = []

    def image(self, name: str, tensor: torch.Tensor, **provenance) -> str:
        write_image(self.out / "img" / name, tensor, provenance={"operation": "demo", **provenance})
        return f"img/{name}"

    def save(self) -> Path:
        body = "\n".join(self.sections)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>darkroom demo</title>"
            f"<style>{STYLE}</style></head><body><h1>darkroom demo</h1>{body}</body></html>"
        )
        path = self.out / "index.html"
        write_text_atomic(path, page)
        return path


def _figure(src: str, caption: str, pixelated: bool = True) -> str:
    cls = " class='px'" if pixelated else ""
    return f"<figure><img{cls} src='{src}'><figcaption>{html.escape(caption)}</figcaption></figure>"


def section_scenes(page: Page, quick: bool) -> str:
    data = load_dataset("scenes:size=64,split=val,objects=1")
    data2 = load_dataset("scenes:size=64,split=val,objects=2")
    figs = []
    for i in range(12):
        sample = (data if i % 3 else data2)[i]
        figs.append(_figure(page.image(f"scene_{i}.png", sample["image"], data="scenes", index=i), sample["caption"]))
    params = json.dumps(data[1]["params"]["objects"][0], indent=None)
    return (
        "<h2>Data: scenes</h2><p>Procedural scenes with their ground-truth render parameters and "
        f"captions made from them. Parameters of the 2nd image: <code>{html.escape(params)}</code></p>" + "".join(figs)
    )


def section_datasets(page: Page, quick: bool) -> str:
    parts = ["<h2>Data: digits and photos</h2>"]
    for name, spec, ncol in (("digits", "digits:split=val", 8), ("photos", "photos:split=train", 8)):
        data = load_dataset(spec)
        step = max(1, len(data) // 32)
        images = torch.stack([data[i]["image"] for i in range(0, step * 32, step)][:32])
        src = page.image(f"{name}.png", grid(images, ncol=ncol), data=spec)
        parts.append(
            f"<p><b>{name}</b> ({html.escape(spec)}, {len(data)} images in this split)</p>"
            f"<img class='px' src='{src}' style='width:560px'>"
        )
    return "".join(parts)


def section_degradations(page: Page, quick: bool) -> str:
    photo = to_tensor(skimage_photo("astronaut")[20:148, 170:298])  # the face
    g = torch.Generator().manual_seed(page.seed)
    steps = [
        ("original", lambda x: (x, {})),
        ("gaussian noise", lambda x: degrade.gaussian_noise(x, 25, g)),
        ("poisson noise", lambda x: degrade.poisson_noise(x, 25, g)),
        ("gaussian blur", lambda x: degrade.gaussian_blur(x, 2.0)),
        ("motion blur", lambda x: degrade.motion_blur(x, 9, 30.0)),
        ("downscale x4", lambda x: degrade.downscale(x, 4)),
        ("JPEG", lambda x: degrade.jpeg(x, 15)),
        ("tone", lambda x: degrade.tone(x, gamma=1.8, brightness=0.05, contrast=1.2)),
        ("grayscale", lambda x: degrade.grayscale(x)),
    ]
    figs = []
    for i, (name, fn) in enumerate(steps):
        image, applied = fn(photo)
        figs.append(
            _figure(page.image(f"degrade_{i}.png", image, degradation=name, **applied), f"{name} {json.dumps(applied)}")
        )
    for family in ("thin", "medium", "thick"):
        mask, applied = degrade.inpainting_mask(128, 128, family, seed=page.seed)
        holed = photo * (1 - mask) + mask
        figs.append(
            _figure(
                page.image(f"mask_{family}.png", holed, **applied),
                f"{family} mask, {applied['hole_fraction']:.0%} of the area",
            )
        )
    return "<h2>Degradations</h2><p>Each degradation reports what it applied.</p>" + "".join(figs)


def _svg_curve(points: list[tuple[float, float]], label: str, width=420, height=180) -> str:
    if len(points) < 2:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = lambda x: 40 + (x - x0) / max(x1 - x0, 1e-9) * (width - 50)
    sy = lambda y: 10 + (1 - (y - y0) / max(y1 - y0, 1e-9)) * (height - 30)
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(points))
    return (
        f"<svg width='{width}' height='{height}' style='border:1px solid #ddd'>"
        f"<path d='{path}' fill='none' stroke='#c33' stroke-width='1.5'/>"
        f"<text x='42' y='{height - 5}' font-size='11'>step {x0:.0f} .. {x1:.0f}</text>"
        f"<text x='42' y='20' font-size='11'>{html.escape(label)}: {y0:.4g} .. {y1:.4g}</text></svg>"
    )


def section_training(page: Page, quick: bool) -> str:
    from darkroom.ops.training import run_training

    steps = 40 if quick else 400
    run = page.out / "run_autoencoder"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    t0 = time.time()
    info = run_training(
        "autoencoder",
        "scenes:size=32",
        run,
        {"width": "16", "latent_dim": "48", "batch_size": "32", "lr": "2e-3"},
        flags={"steps": steps, "seed": page.seed, "checkpoint_every": steps, "sample_every": steps, "log_every": 10},
        progress=False,
        print_fn=lambda *a: None,
    )
    seconds = time.time() - t0
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["loss"]) for r in log if "split" not in r]
    samples = sorted((run / "samples").glob("*.png"))
    val = info["metrics"]["val"]
    return (
        f"<h2>Training: autoencoder on scenes</h2><p>{steps} steps in {seconds:.0f} s on "
        f"{html.escape(info['device'])}; validation PSNR {val.get('psnr', float('nan')):.2f} dB "
        f"(MSE {val.get('loss', float('nan')):.4f}). Trained with <code>darkroom train autoencoder "
        f"--data scenes:size=32</code>; the run folder is <code>run_autoencoder/</code>.</p>"
        + _svg_curve(curve, "train loss")
        + (
            f"<p>Inputs and reconstructions:</p><img class='px' src='{samples[-1].relative_to(page.out)}'"
            " style='width:420px'>"
            if samples
            else ""
        )
    )


def section_generation(page: Page, quick: bool) -> str:
    from darkroom.ops import edit
    from darkroom.weights import shipped_weights

    shipped = {card["name"]: card for card in shipped_weights()}
    if "cgan-digits" not in shipped:
        return "<h2>Generation</h2><p>No shipped generator in this version.</p>"
    model, info = load_run("cgan-digits")
    g = torch.Generator().manual_seed(page.seed)
    labels = class_labels(model, 8)
    grid_src = page.image(
        "cgan_digits.png",
        grid(model.sample(len(labels), labels, generator=g), ncol=8),
        model="cgan-digits",
        seed=page.seed,
    )
    strip = edit.interpolate("cgan-digits", page.out / "img" / "cgan_interp.png", steps=8, seed=page.seed, label=3)
    sefa = edit.directions("cgan-digits", page.out / "img" / "cgan_sefa.png", count=4, seed=page.seed, label=7)
    card = shipped["cgan-digits"]
    return (
        f"<h2>Generation: class-conditional GAN on digits</h2><p>Shipped weights <code>cgan-digits</code>: "
        f"{card['step']} steps, {card['elapsed_s'] / 60:.0f} min on CPU. {html.escape(_measured(card))}. "
        "Rows are the labels 0-9 (<code>darkroom sample cgan-digits -n 8 --label 3 --out x.png</code>).</p>"
        f"<img class='px' src='{grid_src}' style='width:300px'>"
        f"<p>Slerp interpolation between two latents (label 3) and SeFa directions (label 7, one per row):</p>"
        f"<img class='px' src='img/{strip[0].name}' style='width:420px'> "
        f"<img src='img/{strip[1].name}' style='width:64px'><br>"
        f"<img class='px' src='img/{sefa.name}' style='width:300px'>"
        + _inversion(page, quick)
        + _scenes_generation(page, shipped)
        + _letters_generation(page, shipped)
        + _text_generation(page, shipped)
    )


DEMO_PROMPTS = (
    "a small red star near the top left on a striped blue background",
    "a large green circle in the centre on a plain white background",
    "a yellow square near the bottom right on a plain black background",
    "up in the left corner, a tiny crimson star",
)


def _text_generation(page: Page, shipped: dict) -> str:
    from darkroom.models.text import INSTALL, available
    from darkroom.ops.promptjudge import FIELDS, judge_images
    from darkroom.ops.textedit import text_inpaint
    from darkroom.ops.textgen import text_to_image

    if "textgan-scenes" not in shipped:
        return ""
    if not available():
        return f"<h2>Text-to-image</h2><p>Needs the sentence encoder: <code>{html.escape(INSTALL)}</code>.</p>"
    images = text_to_image("textgan-scenes", list(DEMO_PROMPTS), 8, seed=page.seed, warn=lambda *a: None)
    src = page.image("textgan.png", grid(images, ncol=8), model="textgan-scenes", prompts=list(DEMO_PROMPTS))
    test = load_dataset("scenes:size=32,objects=1", split="test")
    prompts = [test.caption_of(i) for i in range(128)]
    scores = judge_images(
        text_to_image("textgan-scenes", prompts, 1, seed=page.seed, warn=lambda *a: None),
        prompts,
        list(range(len(prompts))),
        page.seed,
    )
    rows = "".join(
        f"<tr><td>{f}</td><td>{scores['fake'][f]:.0%}</td><td>{scores['real'][f]:.0%}</td></tr>"
        for f in (*FIELDS, "all")
    )
    base = test[5]["image"]
    mask = torch.zeros(1, *base.shape[-2:])
    mask[:, 2:14, 18:30] = 1
    edited, details = text_inpaint("textgan-scenes", base, mask, "a blue heart", seed=page.seed, warn=lambda *a: None)
    edit_src = page.image(
        "textgan_inpaint.png",
        grid(torch.stack([base, mask.expand(3, -1, -1), edited]), ncol=3),
        model="textgan-scenes",
        prompt=details["prompt_used"],
    )
    card = shipped["textgan-scenes"]
    return (
        f"<h2>Text-to-image</h2><p>Shipped weights <code>textgan-scenes</code> ({card['step']} steps, "
        f"{card['elapsed_s'] / 60:.0f} min on CPU): {html.escape(card['summary'])}. Rows are the prompts: "
        + "; ".join(f"<i>{html.escape(p)}</i>" for p in DEMO_PROMPTS)
        + " (the last in wording the caption generator never uses; "
        "<code>darkroom sample textgan-scenes --prompt TEXT -n 8 --out grid.png</code>).</p>"
        f"<img class='px' src='{src}' style='width:300px'>"
        "<p>Read back by <code>sceneparams</code> (<code>darkroom eval prompt</code>), 128 captions of test scenes: "
        "how often a sample shows what its prompt names, beside real renders of the same prompts:</p>"
        f"<table><tr><th>attribute</th><th>generated</th><th>real renders</th></tr>{rows}</table>"
        "<p>Text-guided inpainting (<code>darkroom edit text IMAGE --mask MASK --prompt 'a blue heart'</code>): "
        "image, mask, result; outside the mask every pixel is the input's.</p>"
        f"<img class='px' src='{edit_src}' style='width:300px'>"
    )


def _letters_generation(page: Page, shipped: dict) -> str:
    if "gan-notmnist" not in shipped:
        return ""
    model, _ = load_run("gan-notmnist")
    src = page.image(
        "gan_notmnist.png",
        grid(model.sample(64, generator=torch.Generator().manual_seed(page.seed)), ncol=8),
        model="gan-notmnist",
        seed=page.seed,
    )
    card = shipped["gan-notmnist"]
    return (
        f"<h2>Generation: real 28 px glyphs</h2><p>Shipped weights <code>gan-notmnist</code>, darkroom's GAN "
        f"with its defaults for small gray images: {card['step']} steps, {card['elapsed_s'] / 60:.0f} min on CPU: "
        f"{html.escape(card['summary'])} (<code>darkroom sample gan-notmnist -n 64 --out letters.png</code>).</p>"
        f"<img class='px' src='{src}' style='width:300px'>"
    )


def _measured(card: dict) -> str:
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in card.get("measured", {}).items()
    )


def _scenes_generation(page: Page, shipped: dict) -> str:
    from darkroom.data.scenes import SHAPES
    from darkroom.ops import edit

    if "cgan-scenes" not in shipped:
        return ""
    model, _ = load_run("cgan-scenes")
    g = torch.Generator().manual_seed(page.seed)
    labels = class_labels(model, 8)
    src = page.image(
        "cgan_scenes.png",
        grid(model.sample(len(labels), labels, generator=g), ncol=8),
        model="cgan-scenes",
        seed=page.seed,
    )
    right = edit.directions(
        "cgan-scenes", page.out / "img" / "cgan_scenes_x.png", seed=page.seed, label=0, method="svm", target="scene:x"
    )
    card = shipped["cgan-scenes"]
    return (
        f"<h2>Generation: shape-conditioned GAN on scenes</h2><p>Shipped weights <code>cgan-scenes</code>: "
        f"{card['step']} steps, {card['elapsed_s'] / 60:.0f} min on CPU: {html.escape(card['summary'])}. "
        f"{html.escape(_measured(card))}. Rows ask for the shapes {', '.join(SHAPES)}.</p>"
        f"<img class='px' src='{src}' style='width:300px'>"
        '<p>"Move it right": the InterFaceGAN direction for x (a linear SVM on 2,000 latents labelled '
        "by <code>sceneparams</code>), from left to right "
        "(<code>darkroom edit directions cgan-scenes --method svm --target scene:x --label 0</code>):</p>"
        f"<img class='px' src='img/{right.name}' style='width:420px'>"
    )


def _inversion(page: Page, quick: bool) -> str:
    from darkroom.data import load_dataset
    from darkroom.ops.invert import invert
    from darkroom.weights import shipped_weights

    if "latentenc-digits" not in {card["name"] for card in shipped_weights()}:
        return ""
    data = load_dataset("digits:size=32,split=test")
    steps = 30 if quick else 100
    found = [
        (data[i]["image"], invert("cgan-digits", data[i]["image"], steps=steps, encoder="latentenc-digits"))
        for i in range(0, 4 * 17, 17)
    ]
    tiles = torch.stack([t for image, f in found for t in (image, f.start, f.result)])
    src = page.image("cgan_invert.png", grid(tiles, ncol=3), model="cgan-digits", encoder="latentenc-digits")
    figures = ", ".join(f"{f.psnr_start:.1f} -> {f.psnr:.1f} dB" for _, f in found)
    return (
        f"<p>Inversion of held-out test digits (never seen in training) into the GAN: the image, the "
        f"encoder's guess <code>latentenc-digits</code>, and after {steps} optimisation steps "
        f"(<code>darkroom edit invert cgan-digits --image X --encoder latentenc-digits --out x.png</code>). "
        f"PSNR {figures}.</p><img class='px' src='{src}' style='width:200px'>"
    )


def section_restoration(page: Page, quick: bool) -> str:
    from darkroom.metrics.image import psnr
    from darkroom.ops.restore import load_restorer, restore_image
    from darkroom.weights import shipped_weights

    names = {card["name"] for card in shipped_weights()}
    clean = to_tensor(skimage_photo("coffee")[100:292, 200:392])  # a test-split photo, never trained on
    figs = []
    if "denoise" in names:
        net, _ = load_restorer("denoise", None, None)
        noisy, _ = degrade.gaussian_noise(clean, 25, generator=page.seed)
        restored, applied = restore_image("denoise", noisy, net, "auto")
        figs += [
            _figure(page.image("den_noisy.png", noisy), f"noisy, sigma 25: {psnr(noisy, clean):.2f} dB", False),
            _figure(
                page.image("den_out.png", restored, model="denoise", **applied),
                f"darkroom denoise (sigma auto = {applied['noise_sigma']:.1f}): {psnr(restored, clean):.2f} dB",
                False,
            ),
        ]
    if "sr-x4-large" in names or "sr-x4" in names:
        model = "sr-x4-large" if "sr-x4-large" in names else "sr-x4"
        net, _ = load_restorer("sr", model, 4)
        small, _ = degrade.downscale(clean, 4)
        bicubic = torch.nn.functional.interpolate(small[None], scale_factor=4, mode="bicubic")[0].clamp(0, 1)
        sharp, _ = restore_image("sr", small, net)
        figs += [
            _figure(
                page.image("sr_bicubic.png", bicubic), f"bicubic x4: {psnr(bicubic, clean, 4, True):.2f} dB (Y)", False
            ),
            _figure(
                page.image("sr_out.png", sharp, model=model),
                f"darkroom {model}: {psnr(sharp, clean, 4, True):.2f} dB (Y)",
                False,
            ),
        ]
    if "inpaint" in names:
        from darkroom.metrics.image import masked_psnr

        net, _ = load_restorer("inpaint", None, None)
        mask, _ = degrade.inpainting_mask(*clean.shape[1:], "medium", seed=page.seed)
        filled, _ = restore_image("inpaint", clean, net, mask=mask)
        figs += [
            _figure(page.image("inp_holes.png", clean * (1 - mask) + mask), "medium mask (white = hole)", False),
            _figure(
                page.image("inp_out.png", filled, model="inpaint"),
                f"darkroom inpaint: {masked_psnr(filled, clean, mask):.2f} dB in the hole",
                False,
            ),
        ]
    if "colorize" in names:
        net, _ = load_restorer("colorize", None, None)
        gray, _ = degrade.grayscale(clean)
        colour, _ = restore_image("colorize", gray, net)
        figs += [
            _figure(page.image("col_gray.png", gray), f"grayscale: {psnr(gray, clean):.2f} dB", False),
            _figure(
                page.image("col_out.png", colour, model="colorize"),
                f"darkroom colorize: {psnr(colour, clean):.2f} dB",
                False,
            ),
        ]
    figs.append(_figure(page.image("restore_clean.png", clean), "original (scikit-image coffee, held out)", False))
    if len(figs) == 1:
        return "<h2>Restoration</h2><p>No shipped restoration weights in this version.</p>"
    return (
        "<h2>Restoration</h2><p><code>darkroom restore denoise|sr|inpaint|colorize INPUT... --out DIR</code> on a photo the models "
        "never saw in training.</p>" + "".join(figs)
    )


SHARED_PHOTOS = Path("../shared/photos")  # the project's real photographs, where they are (never copied)


def section_colorization(page: Page, quick: bool) -> str:
    """The real grayscale photographs of ../shared/photos (23 ImageNet samples), colorized."""
    import csv

    from darkroom.io import read_image
    from darkroom.ops.restore import load_restorer, restore_image
    from darkroom.weights import shipped_weights

    table = SHARED_PHOTOS / "imagenet-samples.csv"
    if not table.is_file() or "colorize" not in {card["name"] for card in shipped_weights()}:
        return ""
    with open(table, newline="") as handle:
        grays = [row["file"] for row in csv.DictReader(handle) if row["mode"] == "L"]
    net, _ = load_restorer("colorize", None, None)
    figs = []
    for name in grays[:4] if quick else grays:
        gray = read_image(SHARED_PHOTOS / "imagenet-samples" / name)
        scale = 256 / min(gray.shape[1:])
        if scale < 1:
            size = (round(gray.shape[1] * scale), round(gray.shape[2] * scale))
            gray = torch.nn.functional.interpolate(gray[None], size=size, mode="area")[0]
        colour, _ = restore_image("colorize", gray, net)
        stem = Path(name).stem
        figs.append(
            _figure(page.image(f"bw_{stem}.png", colour, model="colorize", source=name), stem.split("_", 1)[-1], False)
        )
    return (
        f"<h2>Colorization of real black-and-white photographs</h2><p>The {len(figs)} grayscale photographs among "
        "the ImageNet samples of <code>../shared/photos</code> (none in the colorizer's training data: it trains "
        "on colour photos only), through <code>darkroom restore colorize</code>.</p>" + "".join(figs)
    )


def section_tracing(page: Page, quick: bool) -> str:
    """Index scikit-image's photos, then trace edited copies of some (and one unrelated image) back."""
    import numpy as np

    from darkroom.data import copyaug
    from darkroom.ops.copydetect import build_index, trace
    from darkroom.weights import shipped_weights

    if "copydesc" not in {card["name"] for card in shipped_weights()}:
        return "<h2>Copy tracing</h2><p>No shipped copy descriptor in this version.</p>"
    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"]
    refs = page.out / "trace" / "references"
    for name in names:
        write_image(refs / f"{name}.png", to_tensor(skimage_photo(name)), provenance={"operation": "demo"})
    build_index([refs], page.out / "trace" / "index", progress=False)
    rng = np.random.default_rng(page.seed)
    other = to_tensor(skimage_photo("rocket"))
    queries = {
        "chelsea_text_crop": copyaug.text(copyaug.crop(to_tensor(skimage_photo("chelsea")), rng)[0], rng)[0],
        "coffee_flip_gray": copyaug.gray(copyaug.flip(to_tensor(skimage_photo("coffee")), rng)[0], rng)[0],
        "astronaut_banner_jpeg": copyaug.jpeg(copyaug.banner(to_tensor(skimage_photo("astronaut")), rng)[0], rng)[0],
        "astronaut_in_rocket": copyaug.mix(to_tensor(skimage_photo("astronaut")), rng, other)[0],
        "scene_not_a_copy": load_dataset("scenes:size=128")[0]["image"],
    }
    for name, image in queries.items():
        write_image(page.out / "trace" / "queries" / f"{name}.png", image, provenance={"operation": "demo"})
    results, _ = trace([page.out / "trace" / "queries"], page.out / "trace" / "index", top=1, progress=False)
    figs = []
    for result in results:
        best = result["matches"][0]
        stem, ref = Path(result["query"]).stem, Path(best["path"]).stem
        verdict = f"copy of {ref}" if best["is_copy"] else f"no copy (nearest {ref})"
        figs.append(_figure(f"trace/queries/{stem}.png", f"{stem}: {verdict}, score {best['score']:.2f}", False))
    return (
        "<h2>Copy tracing</h2><p><code>darkroom index build REFS --out INDEX</code> on five scikit-image photos, "
        "then <code>darkroom trace QUERIES --index INDEX</code> on edited copies and an unrelated image.</p>"
        + "".join(figs)
    )


def section_inspection(page: Page, quick: bool) -> str:
    """Photos with a known history, an edited photo and a scene render, read back by ``darkroom inspect``."""
    import numpy as np

    from darkroom.data.chain import IDENTITY, apply_chain
    from darkroom.data.tamper import tamper
    from darkroom.ops.inspect import inspect
    from darkroom.ops.restore import restore
    from darkroom.weights import WEIGHTS_DIR

    folder = page.out / "inspect"
    photo = to_tensor(skimage_photo("coffee"))[:, :384, :512]
    truths = {"coffee_noise20_jpeg60": {"noise_sigma": 20.0, "jpeg_quality": 60}, "coffee_blur1.5": {"blur_sigma": 1.5}}
    for name, settings in truths.items():
        write_image(
            folder / f"{name}.png",
            apply_chain(photo, {**IDENTITY, **settings}, seed=page.seed),
            provenance={"operation": "demo", **settings},
        )
    edited, mask, params = tamper(
        photo,
        np.random.default_rng(page.seed + 1),
        "splice",
        donor=to_tensor(skimage_photo("astronaut"))[:, :384, :512],
    )
    write_image(folder / "coffee_spliced.png", edited, provenance={"operation": "demo", "edit": "splice"})
    write_image(folder / "coffee_spliced_truth.png", mask)
    scene = load_dataset("scenes:objects=2", split="test")[page.seed]
    write_image(folder / "scene.png", degrade.jpeg(scene["image"], 80)[0], provenance={"operation": "demo"})
    small = torch.nn.functional.interpolate(photo[None], scale_factor=0.25, mode="bicubic", antialias=True)[0]
    enlarged = restore("sr", small.clamp(0, 1), scale=4)[0]
    write_image(
        folder / "coffee_sr_x4.png",
        enlarged,
        provenance={"operation": "demo", "made_by": "darkroom restore sr --scale 4"},
    )
    write_image(
        folder / "coffee_sr_x4_q90.jpg",
        enlarged,
        quality=90,  # as it would be shared
        provenance={"operation": "demo", "made_by": "darkroom restore sr --scale 4, then JPEG q90"},
    )
    with np.load(WEIGHTS_DIR / "zoo-samples.npz", allow_pickle=False) as zoo:
        pick = int(np.flatnonzero(zoo["sources"] == "gan05")[0])
        write_image(folder / "zoo_gan05.png", to_tensor(zoo["images"][pick]), provenance={"operation": "demo"})
    files = [f"{n}.png" for n in [*truths, "coffee_spliced", "scene", "coffee_sr_x4"]]
    files += ["coffee_sr_x4_q90.jpg", "zoo_gan05.png"]
    results, _ = inspect([folder / f for f in files], heatmap=folder / "heatmaps", progress=False)
    figs = []
    for result in results:
        stem, file = Path(result["path"]).stem, Path(result["path"]).name
        p = result["processing"]
        jpeg = f"JPEG q{p['jpeg_quality']}" if p["jpeg_quality"] else "no JPEG"
        text = f"{stem}: noise {p['noise_sigma']:.1f}, {jpeg}, blur {p['blur_sigma']:.2f}"
        if stem == "zoo_gan05":
            text = "a sample of the zoo's gan05"
        elif result.get("scene"):
            read = ", ".join(f"{o['color_name']} {o['shape']}" for o in result["scene"]["objects"])
            truth = ", ".join(f"{o['color_name']} {o['shape']}" for o in scene["params"]["objects"])
            text = f"scene (JPEG q80) reads as: {read}; rendered: {truth}"
        generated = result.get("generated")
        if generated:
            text += f"; made by a network: {generated['prob']:.2f} ({generated['detector']})"
            if generated["detector"] == "modelparse" and generated["prob"] >= 0.5:
                hp = result.get("model_parsing") or {}
                text += (
                    f", by {generated['source'] or 'an unknown generator'}; upsampling "
                    f"{hp.get('upsample', {}).get('value')}, loss {hp.get('loss', {}).get('value')}"
                )
        figs.append(_figure(f"inspect/{file}", text, pixelated=max(result["size"]) <= 128))
        tamper_result = result.get("tamper") or {}
        if stem == "coffee_spliced" and tamper_result.get("heatmap"):
            figs.append(
                _figure(f"inspect/heatmaps/{stem}.png", f"tamper heatmap, score {tamper_result['score']:.2f}", False)
            )
            figs.append(_figure("inspect/coffee_spliced_truth.png", "where the splice really is", False))
    return (
        "<h2>Inspection</h2><p><code>darkroom inspect IMAGE... --heatmap DIR</code>: the processing chain "
        "(true: noise 20 + JPEG 60; blur 1.5), where a photo was edited, a scene's render parameters, whether "
        "a network made the image (the x4 super-resolved coffee was, and its JPEG q90 copy, read by the JPEG "
        "expert; the others are photos, and the blurred one shows the photo detector's known false alarm: it "
        "reads soft photos as a network's output, and inspect's notes say so) and, for a sample "
        "of the generator zoo's gan05 (nearest upsampling, hinge loss), which generator and how it was built, "
        "on images the models never saw.</p>" + "".join(figs)
    )


SECTIONS = [
    section_scenes,
    section_datasets,
    section_degradations,
    section_restoration,
    section_colorization,
    section_tracing,
    section_inspection,
    section_generation,
    section_training,
]


def run_demo(out="demo", seed: int = 0, quick: bool = False) -> Path:
    torch.manual_seed(seed)
    page = Page(Path(out), seed)
    for section in tqdm(SECTIONS, desc="demo", unit="section"):
        page.sections.append(section(page, quick))
        page.save()
    return page.save()
