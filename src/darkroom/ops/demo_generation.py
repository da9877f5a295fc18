"""The demo's generation section: class-conditioned digits and scenes, notMNIST letters, text prompts
when a text-conditioned model ships, and GAN inversion."""

from __future__ import annotations

import html

import torch

from darkroom.data import load_dataset
from darkroom.io import grid
from darkroom.models import load_run
from darkroom.ops.demo_page import Page
from darkroom.ops.generate import class_labels


def section_generation(page: Page, quick: bool) -> str:
    from darkroom.ops import edit
    from darkroom.weights import shipped_weights

    shipped = {card["name"]: card for card in shipped_weights()}
    if "cgan-digits" not in shipped:
        return "<h2>Generation</h2><p>No shipped generator in this version.</p>"
    grid_src = _class_grid(page, "cgan-digits", "cgan_digits.png")
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
        + _sprites_generation(page, shipped)
        + _letters_generation(page, shipped)
        + _text_generation(page, shipped)
    )


TEXT_MODEL = "textsprites-scenes"
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

    if TEXT_MODEL not in shipped:
        return ""
    if not available():
        return f"<h2>Text-to-image</h2><p>Needs the sentence encoder: <code>{html.escape(INSTALL)}</code>.</p>"
    images = text_to_image(TEXT_MODEL, list(DEMO_PROMPTS), 8, seed=page.seed, warn=lambda *a: None)
    src = page.image("text_to_image.png", grid(images, ncol=8), model=TEXT_MODEL, prompts=list(DEMO_PROMPTS))
    test = load_dataset("scenes:size=32,objects=1", split="test")
    prompts = [test.caption_of(i) for i in range(128)]
    scores = judge_images(
        text_to_image(TEXT_MODEL, prompts, 1, seed=page.seed, warn=lambda *a: None),
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
    edited, details = text_inpaint(TEXT_MODEL, base, mask, "a blue heart", seed=page.seed, warn=lambda *a: None)
    edit_src = page.image(
        "text_inpaint.png",
        grid(torch.stack([base, mask.expand(3, -1, -1), edited]), ncol=3),
        model=TEXT_MODEL,
        prompt=details["prompt_used"],
    )
    card = shipped[TEXT_MODEL]
    return (
        f"<h2>Text-to-image</h2><p>Shipped weights <code>{TEXT_MODEL}</code> ({card['step']} steps, "
        f"{card['elapsed_s'] / 60:.0f} min on CPU): {html.escape(card['summary'])}. Rows are the prompts: "
        + "; ".join(f"<i>{html.escape(p)}</i>" for p in DEMO_PROMPTS)
        + " (the last in wording the caption generator never uses; "
        f"<code>darkroom sample {TEXT_MODEL} --prompt TEXT -n 8 --out grid.png</code>).</p>"
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


def _class_grid(page: Page, name: str, filename: str) -> str:
    """8 samples of every class of a shipped class-conditional generator, one row per class."""
    model, _ = load_run(name)
    labels = class_labels(model, 8)
    images = model.sample(len(labels), labels, generator=torch.Generator().manual_seed(page.seed))
    return page.image(filename, grid(images, ncol=8), model=name, seed=page.seed)


def _measured(card: dict) -> str:
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in card.get("measured", {}).items()
    )


def _scenes_generation(page: Page, shipped: dict) -> str:
    from darkroom.data.scenes import SHAPES
    from darkroom.ops import edit

    if "cgan-scenes" not in shipped:
        return ""
    src = _class_grid(page, "cgan-scenes", "cgan_scenes.png")
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


def _sprites_generation(page: Page, shipped: dict) -> str:
    from darkroom.data.scenes import SHAPES

    if "sprites-scenes" not in shipped:
        return ""
    src = _class_grid(page, "sprites-scenes", "sprites_scenes.png")
    card = shipped["sprites-scenes"]
    return (
        f"<h2>Generation: scenes laid out, then drawn</h2><p>Shipped weights <code>sprites-scenes</code>: "
        f"{card['step']} steps, {card['elapsed_s'] / 60:.0f} min on CPU: {html.escape(card['summary'])}. "
        f"{html.escape(_measured(card))}. Rows ask for the shapes {', '.join(SHAPES)} "
        "(<code>darkroom sample sprites-scenes --label all -n 8 --out grid.png</code>).</p>"
        f"<img class='px' src='{src}' style='width:300px'>"
    )


def _inversion(page: Page, quick: bool) -> str:
    from darkroom.data import load_dataset
    from darkroom.ops.invert import invert
    from darkroom.weights import is_shipped

    if not is_shipped("latentenc-digits"):
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
