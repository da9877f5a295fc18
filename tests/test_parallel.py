"""Batch jobs on several processes (--workers) and on a local Ray cluster (--ray): the same files out."""

import numpy as np
import pytest
from PIL import Image

from darkroom.cli import main


def _photos(folder, n=4):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        base = np.linspace(0, 255, 48 * 48 * 3).reshape(48, 48, 3)
        noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"p{i}.png")
    return folder


def _same_outputs(a, b):
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and names
    for name in names:
        assert np.array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(b / name))), name


def test_restore_with_workers_writes_what_one_process_writes_and_skips_done_files(tmp_path, capsys):
    photos = _photos(tmp_path / "in")
    assert main(["restore", "denoise", str(photos), "--out", str(tmp_path / "one"), "--sigma", "25"]) == 0
    assert (
        main(["restore", "denoise", str(photos), "--out", str(tmp_path / "two"), "--sigma", "25", "--workers", "2"])
        == 0
    )
    _same_outputs(tmp_path / "one", tmp_path / "two")
    (tmp_path / "two" / "p1.png").unlink()
    capsys.readouterr()
    assert (
        main(["restore", "denoise", str(photos), "--out", str(tmp_path / "two"), "--sigma", "25", "--workers", "2"])
        == 0
    )
    out = capsys.readouterr()
    assert "3 output(s) already written: skipped" in out.err + out.out and "wrote 4 image(s)" in out.out
    _same_outputs(tmp_path / "one", tmp_path / "two")


def test_bad_parallel_options_are_one_line_errors(tmp_path, capsys):
    photos = _photos(tmp_path / "in", n=1)
    assert main(["restore", "denoise", str(photos), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_restore_on_a_local_ray_cluster_writes_what_one_process_writes(tmp_path):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    photos = _photos(tmp_path / "in", n=3)
    assert main(["restore", "denoise", str(photos), "--out", str(tmp_path / "one"), "--sigma", "25"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert (
            main(["restore", "denoise", str(photos), "--out", str(tmp_path / "ray"), "--sigma", "25", "--ray", "auto"])
            == 0
        )
    finally:
        ray.shutdown()
    _same_outputs(tmp_path / "one", tmp_path / "ray")


def test_inspect_with_workers_gives_the_one_process_results_and_resumes_from_its_jsonl(tmp_path, capsys):
    import json

    photos = _photos(tmp_path / "in", n=3)
    assert main(["inspect", str(photos), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    jsonl = tmp_path / "found.jsonl"
    assert main(["inspect", str(photos), "--json", "--workers", "2", "--jsonl", str(jsonl)]) == 0
    two = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in one] == [r["path"] for r in two]
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # a kill cut the last line short
    assert main(["inspect", str(photos), "--json", "--jsonl", str(jsonl)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert json.dumps(again, sort_keys=True) == json.dumps(one, sort_keys=True)

    def parsed(line):
        try:
            return json.loads(line)
        except ValueError:
            return None

    rows = [parsed(line) for line in jsonl.read_text().splitlines()]
    assert sorted(r["path"] for r in rows if r) == sorted(r["path"] for r in one)


def test_index_build_with_workers_holds_the_one_process_descriptors(tmp_path):
    import json

    photos = _photos(tmp_path / "in", n=3)
    assert main(["index", "build", str(photos), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert main(["index", "build", str(photos), "--out", str(tmp_path / "two"), "--quiet", "--workers", "2"]) == 0
    metas = [json.loads((tmp_path / k / "index.json").read_text()) for k in ("one", "two")]
    assert metas[0]["paths"] == metas[1]["paths"]
    a, b = (np.load(tmp_path / k / "embeddings.npy") for k in ("one", "two"))
    assert np.allclose(a, b, atol=1e-4)  # one image per call against batches of 64: the same to float error
