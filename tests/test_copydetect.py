import json

import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.cli import main
from darkroom.data import copyaug
from darkroom.models import build_model, resolve_config
from darkroom.ops.copydetect import add_background, build_index, embed, remove_from_index, trace
from darkroom.ops.training import run_training


@pytest.mark.parametrize("family", list(copyaug.FAMILIES))
def test_every_copy_transformation_returns_an_image(family, photo):
    rng = np.random.default_rng(0)
    out, applied = copyaug.apply(family, photo, rng, torch.rand(3, 50, 70))
    assert out.ndim == 3 and out.shape[0] == 3 and applied
    assert float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6


def test_copy_augment_is_seeded(photo):
    a, info_a = copyaug.copy_augment(photo, np.random.default_rng(5))
    b, info_b = copyaug.copy_augment(photo, np.random.default_rng(5))
    assert torch.equal(a, b) and info_a == info_b
    assert not set(info_a["transforms"]) & set(copyaug.HELD_OUT)


def test_descriptor_is_unit_length_for_any_size():
    net = build_model(
        "copydesc", resolve_config("copydesc", {"width": "8", "dim": "64"}, {"channels": 3, "image_size": [48, 48]})
    )
    net.eval()
    feats = net.features(torch.rand(3, 3, 70, 41))
    assert feats.shape == (3, 64) and torch.allclose(feats.norm(dim=1), torch.ones(3), atol=1e-5)
    out = net.loss({"image": torch.rand(6, 3, 48, 48)})
    assert torch.isfinite(out["loss"])


def test_descriptor_concatenates_its_views():
    net = build_model(
        "copydesc",
        resolve_config(
            "copydesc", {"width": "8", "dim": "64", "views": "colour,gray"}, {"channels": 3, "image_size": [48, 48]}
        ),
    ).eval()
    image = torch.rand(2, 3, 48, 48)
    gray = (0.299 * image[:, :1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:]).expand_as(image)  # BT.601 luma
    with torch.no_grad():
        d, g = net.descriptor(image), net.descriptor(gray)
    assert d.shape == (2, 128) and torch.allclose(d.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(d[:, 64:], g[:, 64:], atol=1e-5)  # a grayscale copy keeps the gray half exactly
    assert torch.allclose(g[:, :64], g[:, 64:], atol=1e-5)
    for views, dim in (("colour", 64), ("colour,gray,equalized", 192)):
        net = build_model(
            "copydesc",
            resolve_config(
                "copydesc", {"width": "8", "dim": "64", "views": views}, {"channels": 3, "image_size": [48, 48]}
            ),
        ).eval()
        assert net.descriptor(image).shape == (2, dim) and net.descriptor_dim == dim
    equalized = build_model(
        "copydesc",
        resolve_config(
            "copydesc", {"width": "8", "dim": "64", "views": "equalized"}, {"channels": 3, "image_size": [48, 48]}
        ),
    ).eval()
    darker = gray * 0.7 + 0.1  # a brightness and contrast change keeps the equalised luma (up to rounding)
    with torch.no_grad():
        assert (equalized.descriptor(gray) * equalized.descriptor(darker)).sum(1).min() > 0.95
    with pytest.raises(ValueError, match="views"):
        resolve_config("copydesc", {"views": "colour,sepia"}, {"channels": 3, "image_size": [48, 48]})


@pytest.fixture(scope="module")
def descriptor(tmp_path_factory):
    root = tmp_path_factory.mktemp("copy")
    run_training(
        "copydesc",
        "photos:patch=64,size=48",
        root / "run",
        {"width": "8", "dim": "64", "batch_size": "8"},
        flags={"steps": 2},
        progress=False,
        print_fn=lambda *a: None,
    )
    return root / "run"


def _photos(folder, n=4):
    folder.mkdir()
    rng = np.random.default_rng(1)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (40 + k, 50, 3)).astype(np.uint8)).save(folder / f"ref{k}.png")


def test_index_build_resume_add_remove_and_trace(descriptor, tmp_path):
    _photos(tmp_path / "refs")
    count, failures = build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False)
    assert count == 4 and not failures
    again, _ = build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False)
    assert again == 4  # a second build resumes: nothing embedded twice
    (tmp_path / "more").mkdir()
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "more" / "black.png")
    count, _ = build_index([tmp_path / "more"], tmp_path / "idx", str(descriptor), add=True, progress=False)
    assert count == 5
    results, _ = trace([tmp_path / "refs" / "ref2.png"], tmp_path / "idx", top=3, threshold=0.5, progress=False)
    best = results[0]["matches"][0]
    assert best["path"].endswith("ref2.png") and best["score"] == pytest.approx(1.0, abs=1e-3) and best["is_copy"]
    scores = [m["score"] for m in results[0]["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert remove_from_index(tmp_path / "idx", [tmp_path / "more"]) == 1
    results, _ = trace([tmp_path / "more" / "black.png"], tmp_path / "idx", top=10, progress=False)
    assert len(results[0]["matches"]) == 4
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    (tmp_path / "idx" / "index.json").write_text(json.dumps({**meta, "weights": "0123"}))  # other weights made it
    with pytest.raises(ValueError, match="weights 0123.*index rebuild"):
        trace([tmp_path / "more" / "black.png"], tmp_path / "idx", progress=False)
    with pytest.raises(ValueError, match="weights 0123.*index rebuild"):
        build_index([tmp_path / "more"], tmp_path / "idx", str(descriptor), add=True, progress=False)
    (tmp_path / "idx" / "index.json").write_text(json.dumps({**meta, "dim": 64}))  # as an older descriptor made
    with pytest.raises(ValueError, match="index rebuild"):
        trace([tmp_path / "more" / "black.png"], tmp_path / "idx", progress=False)


def test_index_and_trace_cli(descriptor, tmp_path, capsys):
    _photos(tmp_path / "refs")
    assert (
        main(
            [
                "index",
                "build",
                str(tmp_path / "refs"),
                "--out",
                str(tmp_path / "idx"),
                "--model",
                str(descriptor),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["trace", str(tmp_path / "refs" / "ref1.png"), "--index", str(tmp_path / "idx"), "--json", "--top", "2"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out[0]["query"].endswith("ref1.png") and set(out[0]["matches"][0]) == {"path", "score", "is_copy"}
    assert main(["trace", "x.png", "--index", str(tmp_path / "nothing")]) == 2
    assert "not a darkroom index" in capsys.readouterr().err
    assert main(["index", "rebuild", "--index", str(tmp_path / "idx"), "--quiet"]) == 0


def test_a_background_lowers_the_scores_of_a_query_that_resembles_it(descriptor, tmp_path):
    from darkroom.io import read_image
    from darkroom.models import load_run, sha256, weights_path

    _photos(tmp_path / "refs")
    build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False)
    net, _ = load_run(descriptor)
    query = embed(net, [read_image(tmp_path / "refs" / "ref0.png")])[0]
    rng = np.random.default_rng(0)
    background = rng.standard_normal((20, len(query))).astype(np.float32)
    background[:3] = query + 0.02 * background[:3]  # three unrelated photos that look like the query
    background /= np.linalg.norm(background, axis=1, keepdims=True)
    run = add_background(descriptor, background, tmp_path / "with-bg", k=3, weight=0.5)
    plain, _ = trace([tmp_path / "refs" / "ref0.png"], tmp_path / "idx", top=2, progress=False)
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())  # the same descriptors, with a background
    meta.update(model=str(run), weights=sha256(weights_path(run))[:16])
    (tmp_path / "idx" / "index.json").write_text(json.dumps(meta))
    crowded, _ = trace([tmp_path / "refs" / "ref0.png"], tmp_path / "idx", top=2, progress=False)
    expected = 0.5 * np.sort(background @ query)[::-1][:3].mean()
    assert expected > 0.45
    for a, b in zip(plain[0]["matches"], crowded[0]["matches"]):
        assert a["path"] == b["path"] and b["score"] == pytest.approx(a["score"] - expected, abs=2e-3)
    assert load_run(run)[0].config.background == 20  # kept with the weights, reloaded


def test_large_indexes_search_an_inverted_file_with_the_exact_scores(descriptor, tmp_path, monkeypatch):
    import faiss

    from darkroom.ops import copysearch

    monkeypatch.setattr(copysearch, "IVF_MIN", 20)
    _photos(tmp_path / "refs", n=24)
    build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False)
    index = faiss.read_index(str(tmp_path / "idx" / "faiss.index"))
    assert isinstance(index, faiss.IndexIVFFlat) and index.nlist == int(4 * 24**0.5) and index.ntotal == 24
    embeddings = np.load(tmp_path / "idx" / "embeddings.npy")
    results, _ = trace([tmp_path / "refs" / "ref7.png"], tmp_path / "idx", top=3, progress=False)
    row = [p.endswith("ref7.png") for p in json.loads((tmp_path / "idx" / "index.json").read_text())["paths"]]
    exact = np.sort(embeddings @ embeddings[row.index(True)])[::-1][:3]  # NPROBE >= nlist: every cell visited
    assert results[0]["matches"][0]["path"].endswith("ref7.png")
    assert [m["score"] for m in results[0]["matches"]] == pytest.approx(exact, abs=1e-3)


def test_search_index_finds_near_copies_among_clustered_references():
    from darkroom.ops.copysearch import NPROBE, search_index

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 32)).astype(np.float32)
    refs = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 32)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs[:200] + 0.05 * rng.standard_normal((200, 32)).astype(np.float32)
    index = search_index(refs, 32, nlist=128)
    assert index.nprobe == NPROBE < index.nlist
    _, rows = index.search(np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True)), 1)
    assert (rows[:, 0] == np.arange(200)).mean() > 0.95


def test_an_ivfpq_index_is_chosen_recorded_and_answers_exact_scores(descriptor, tmp_path):
    _photos(tmp_path / "refs", n=24)
    with pytest.raises(ValueError, match="--kind must be one of"):
        build_index([tmp_path / "refs"], tmp_path / "bad", str(descriptor), progress=False, kind="hnsw")
    build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False, kind="ivfpq")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta["kind"] == "ivfpq" and meta["search"] == "ivfpq"
    embeddings = np.load(tmp_path / "idx" / "embeddings.npy")
    results, _ = trace([tmp_path / "refs" / "ref7.png"], tmp_path / "idx", top=3, progress=False)
    row = meta["paths"].index(next(p for p in meta["paths"] if p.endswith("ref7.png")))
    exact = np.sort(embeddings @ embeddings[row])[::-1][:3]  # 24 references: all of them re-scored exactly
    assert results[0]["matches"][0]["path"].endswith("ref7.png")
    assert [m["score"] for m in results[0]["matches"]] == pytest.approx(exact, abs=1e-3)
    build_index([tmp_path / "refs"], tmp_path / "idx", str(descriptor), progress=False, add=True)  # keeps its kind
    assert json.loads((tmp_path / "idx" / "index.json").read_text())["search"] == "ivfpq"


def test_searcher_reranks_product_quantised_candidates_among_many_references():
    from darkroom.ops.copysearch import Searcher, search_index

    rng = np.random.default_rng(0)
    refs = rng.standard_normal((20_000, 64)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs[:100] + 0.02 * rng.standard_normal((100, 64)).astype(np.float32)
    searcher = Searcher(search_index(refs, 64, kind="ivfpq"), refs)
    scores, rows = searcher.search(queries, 5)
    assert searcher.kind == "ivfpq" and (rows[:, 0] == np.arange(100)).mean() > 0.95
    assert scores[0, 0] == pytest.approx(float(refs[rows[0, 0]] @ queries[0]), abs=1e-5)
