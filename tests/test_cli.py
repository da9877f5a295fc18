import json

import numpy as np
import pytest
from PIL import Image

from darkroom.cli import main
from darkroom.io import read_image, read_provenance


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    assert "autoencoder" in capsys.readouterr().out
    assert main(["models", "--pretrained"]) == 0


def test_data_info_json(capsys):
    assert main(["data", "info", "digits", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"] == {"train": 1439, "val": 179, "test": 179} and info["channels"] == 1
    assert sum(info["label_counts"].values()) == 1439


def test_data_preview_and_export(tmp_path, capsys):
    assert main(["data", "preview", "scenes:size=32", "--out", str(tmp_path / "grid.png"), "-n", "16"]) == 0
    grid = read_image(tmp_path / "grid.png")
    assert grid.shape[1] > 64 and read_provenance(tmp_path / "grid.png")["operation"] == "data-preview"
    assert main(["data", "export", "scenes:size=32,objects=2", "--out", str(tmp_path / "ex"), "-n", "5"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "ex" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and len(rows[0]["params"]["objects"]) == 2 and rows[0]["caption"]
    assert rows[0]["class"] == rows[0]["params"]["objects"][0]["shape"]
    assert read_image(tmp_path / "ex" / rows[4]["file"]).shape == (3, 32, 32)


def test_export_skips_bad_file_and_exits_1(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(src / f"{i}.png")
    (src / "1.png").write_bytes(b"garbage")
    assert main(["data", "export", f"folder:{src},split=all", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "1.png" in err and "1 file(s) failed" in err
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["data", "info", "nosuch"], "unknown dataset"),
        (["data", "info", "folder:/definitely/missing"], "not a folder"),
        (["data", "preview", "digits", "--out", "x.jpg"], ".png"),
        (["train", "autoencoder", "--data", "digits", "--out", "R", "--set", "nonsense=1"], "unknown config key"),
        (["train", "nomodel", "--data", "digits", "--out", "R"], "unknown model"),
        (["train", "autoencoder", "--data", "folder:/missing", "--out", "R"], "not a folder"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "preview", "digits", "--out", "g.png", "-n", "0"])
    assert info.value.code == 2


def test_train_end_to_end(tmp_path, capsys):
    config = tmp_path / "ae.toml"
    config.write_text('data = "digits:size=16"\n[model]\nwidth = 4\ndownsamples = 2\n[train]\nbatch_size = 8\n')
    assert (
        main(
            [
                "train",
                "autoencoder",
                "--config",
                str(config),
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "3",
                "--quiet",
                "--set",
                "latent_dim=8",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert '"width": 4' in out and '"latent_dim": 8' in out and "finished step 3" in out
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["data"] == "digits:size=16" and saved["model_config"]["channels"] == 1


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quick"]) == 0
    page = (tmp_path / "demo" / "index.html").read_text()
    for heading in ("Data: scenes", "Degradations", "Training: autoencoder", "scenes laid out, then drawn"):
        assert heading in page
    for src in page.split("src='")[1:]:
        assert (tmp_path / "demo" / src.split("'")[0]).is_file()


def test_bench_passes_the_suites_own_options(tmp_path, monkeypatch):
    import darkroom.ops.bench as bench

    (tmp_path / "echo.py").write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[0]).with_suffix('.args').write_text(' '.join(sys.argv[1:]))\n"
    )
    monkeypatch.setattr(bench, "benchmarks_dir", lambda: tmp_path)
    monkeypatch.setitem(bench.SUITES, "echo", "echo.py")
    assert main(["bench", "echo", "--threads", "1", "--minutes", "3"]) == 0
    assert (tmp_path / "echo.args").read_text() == "--threads 1 --minutes 3"
    assert main(["bench", "nope"]) == 2


def test_every_command_has_help(capsys):
    from darkroom.cli import commands as every_command

    commands = [path for path, _ in every_command() if path]
    assert {("restore",), ("index", "build"), ("edit", "text"), ("data", "info")} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
        assert f"usage: darkroom {' '.join(command)}" in capsys.readouterr().out.replace("\n", " ")


def test_data_export_idx_reads_back_as_mnist(tmp_path, capsys):
    from darkroom.data import load_dataset

    assert main(["data", "export", "digits:size=28", "--format", "idx", "--out", str(tmp_path), "-n", "50"]) == 0
    assert "50 images" in capsys.readouterr().out
    source, back = load_dataset("digits:size=28"), load_dataset(f"mnist:{tmp_path},split=all")
    assert len(back) == 50 and back.image_size == (28, 28)
    assert float((back[7]["image"] - source[7]["image"]).abs().max()) < 1 / 255 + 1e-6
    assert back[7]["label"] == source[7]["label"]
    assert main(["data", "export", "scenes:size=32", "--format", "idx", "--out", str(tmp_path / "rgb")]) == 2
    assert "grayscale=1" in capsys.readouterr().err
