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
from darkroom.io import grid, write_image
from darkroom.ops.demo_generation import section_generation
from darkroom.ops.demo_page import Page, _figure


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
    from darkroom.weights import is_shipped

    table = SHARED_PHOTOS / "imagenet-samples.csv"
    if not table.is_file() or not is_shipped("colorize"):
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
    from darkroom.weights import is_shipped

    if not is_shipped("copydesc"):
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
