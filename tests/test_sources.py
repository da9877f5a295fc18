"""sources-scenes: the reading that names darkroom's own scene generators in inspect."""

import json

import numpy as np
import pytest
import torch

from darkroom.data import load_dataset
from darkroom.models.classifier import Classifier, ClassifierConfig
from darkroom.ops.parsing import own_source, read_generator
from darkroom.ops.sources import CLASS_NAMES, write_sources


def _reader(bias) -> Classifier:
    model = Classifier(ClassifierConfig(channels=3, image_size=64, num_classes=3, width=4, feature_dim=8))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(bias))
    return model.eval()


def test_own_source_names_the_generator_it_reads():
    image = torch.rand(3, 64, 64)
    found = own_source(image, _reader([0.0, 6.0, 0.0]), list(CLASS_NAMES))
    assert found["source"] == "textsprites-scenes" and found["prob"] > 0.99 and found["detector"] == "sources-scenes"
    real = own_source(image, _reader([6.0, 0.0, 0.5]), list(CLASS_NAMES))
    assert real["source"] is None and real["prob"] < 0.01 and real["nearest"] == "sprites-scenes"
    undecided = own_source(image, _reader([0.0, 3.0, 3.0]), list(CLASS_NAMES), threshold=0.6)
    assert undecided["source"] is None and undecided["prob"] > 0.9  # generated, but by which is unclear
    assert undecided["family"] == list(CLASS_NAMES[1:]) and "family" not in found and "family" not in real
    assert own_source(torch.rand(3, 32, 32), _reader([0.0, 6.0, 0.0]), list(CLASS_NAMES)) is None


def test_read_generator_reads_its_own_size_and_leaves_others_to_modelparse():
    image = torch.rand(3, 64, 64)
    generated, parsing = read_generator(image, None, (_reader([0.0, 0.0, 6.0]), list(CLASS_NAMES)))
    assert generated["source"] == "sprites-scenes" and parsing is None
    generated, _ = read_generator(image, None, (_reader([0.0, 3.0, 3.0]), list(CLASS_NAMES)))
    assert generated["source"] is None and generated["family"] == list(CLASS_NAMES[1:])
    real, _ = read_generator(image, None, (_reader([6.0, 0.0, 0.0]), list(CLASS_NAMES)))
    assert real["prob"] < 0.01 and real["source"] is None and real["detector"] == "sources-scenes"
    assert read_generator(torch.rand(3, 32, 32), None, (_reader([0.0, 6.0, 0.0]), list(CLASS_NAMES))) == (None, None)


def test_sources_set_is_labelled_and_seeded(tmp_path):
    from darkroom.models import text

    if not text.available():
        pytest.skip("the text extra (sentence encoder) is not installed")
    write_sources(tmp_path / "a.npz", 3, seed=0)
    write_sources(tmp_path / "b.npz", 3, seed=1)
    data = load_dataset(f"npz:{tmp_path / 'a.npz'},split=all")
    assert data.class_names == list(CLASS_NAMES) and data.image_size == (64, 64)
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert np.bincount(a["labels"]).tolist() == [3, 3, 3]
        assert a["images"].shape == (9, 64, 64, 3) and not np.array_equal(a["images"], b["images"])


def test_inspect_calls_a_textsprites_sample_the_work_of_darkroom(tmp_path, capsys):
    from darkroom.cli import main
    from darkroom.models import text

    if not text.available():
        pytest.skip("the text extra (sentence encoder) is not installed")
    (tmp_path / "prompts.txt").write_text("a large blue heart at the bottom right on a plain yellow background\n")
    assert (
        main(
            [
                "sample",
                "textsprites-scenes",
                "--prompts",
                str(tmp_path / "prompts.txt"),
                "-n",
                "2",
                "--out",
                str(tmp_path / "s"),
                "--seed",
                "4",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "s"), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 2
    for result in results:
        generated = result["generated"]
        assert generated["detector"] == "sources-scenes" and generated["prob"] > 0.5
        assert "textsprites-scenes" in [generated["source"], *generated.get("family", [])]
        assert result["model_parsing"] is None
