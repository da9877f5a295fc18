import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.data import collate, load_dataset, parse_spec, sources


def test_parse_spec_options_and_errors():
    spec = parse_spec("scenes:size=64,objects=2,grayscale=true")
    assert spec.source == "scenes" and spec.options == {"size": 64, "objects": 2, "grayscale": True}
    assert str(spec) == "scenes:size=64,objects=2,grayscale=1"
    assert parse_spec("folder:/some/where,size=32").path == "/some/where"
    for bad, message in [
        ("", "empty"),
        ("nope", "unknown dataset"),
        ("scenes:colour=1", "unknown option"),
        ("scenes:size=big", "not a valid int"),
        ("scenes:split=dev", "split must be"),
        ("folder", "needs a path"),
        ("digits:/x", "takes no path"),
        ("scenes:size=0", "must be positive"),
        ("folder:a,b", "two paths"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)


def test_digits_splits_are_fixed_and_disjoint():
    splits = {s: load_dataset(f"digits:split={s}") for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == 1797
    index_sets = [set(d.indices.tolist()) for d in splits.values()]
    assert not (index_sets[0] & index_sets[1]) and not (index_sets[0] & index_sets[2])
    again = load_dataset("digits:split=val")
    assert np.array_equal(again.indices, splits["val"].indices)
    sample = splits["train"][0]
    assert sample["image"].shape == (1, 32, 32) and 0 <= sample["label"] <= 9
    assert load_dataset("digits:size=16,limit=5")[4]["image"].shape == (1, 16, 16)
    assert len(load_dataset("digits:limit=5")) == 5


def test_scenes_dataset_is_deterministic_with_captions():
    data = load_dataset("scenes:size=32,objects=2,split=val")
    a, b = data[7], load_dataset("scenes:size=32,objects=2,split=val")[7]
    assert torch.equal(a["image"], b["image"]) and a["caption"] == b["caption"]
    assert not torch.equal(a["image"], load_dataset("scenes:size=32,objects=2,split=test")[7]["image"])
    assert len(a["params"]["objects"]) == 2 and a["label"] == sources.SHAPES.index(a["params"]["objects"][0]["shape"])
    assert load_dataset("scenes:grayscale=1")[0]["image"].shape == (1, 32, 32)
    assert len(load_dataset("scenes:n=100")) == 100
    batch = collate([data[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 32, 32) and batch["label"].shape == (4,) and len(batch["caption"]) == 4


def test_photos_split_by_photo(tmp_path, rgb_array):
    for i in range(30):
        Image.fromarray(np.roll(rgb_array, i, 1)).resize((200, 130)).save(tmp_path / f"p{i}.jpg", quality=92)
    by_split = {s: load_dataset(f"photos:{tmp_path},patch=32,split={s}") for s in ("train", "val", "test")}
    photo_sets = [set(d.photos) for d in by_split.values()]
    assert not (photo_sets[0] & photo_sets[1]) and not (photo_sets[1] & photo_sets[2])
    assert any(p.startswith("skimage:") for p in photo_sets[0]) and any(p.endswith(".jpg") for p in photo_sets[0])
    sample = by_split["train"][len(by_split["train"]) - 1]
    assert sample["image"].shape == (3, 32, 32)
    assert load_dataset(f"photos:{tmp_path},patch=64,size=32")[0]["image"].shape == (3, 32, 32)


def test_photo_variants_share_the_earliest_split():
    from darkroom.data.base import split_of
    from darkroom.data.photos import photo_splits, variant_key

    assert variant_key(Path("Elephants_5640x3172.jpg")) == variant_key(Path("Elephants.jpg")) == "Elephants"
    assert variant_key(Path("a/wood-d.webp")) == variant_key(Path("a/wood-L.png")) == "a/wood"
    names = [f"pic{i}{suffix}.jpg" for i in range(40) for suffix in ("", "_800x600", "-Dark")]
    splits = photo_splits([Path(n) for n in names], Path("."))
    by_picture = [set(splits[i : i + 3]) for i in range(0, len(names), 3)]
    assert all(len(s) == 1 for s in by_picture)  # no picture in two splits
    assert "val" in splits
    singles = [Path(f"photo{i}.jpg") for i in range(50)]  # pictures without variants keep their own split
    assert photo_splits(singles, Path(".")) == [split_of(p.as_posix()) for p in singles]


def test_folder_classes_and_laziness(tmp_path, rgb_array, monkeypatch):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(20):
            Image.fromarray(rgb_array).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    calls = []
    real = sources.read_image
    monkeypatch.setattr(sources, "read_image", lambda p, **k: calls.append(p) or real(p, **k))
    data = load_dataset(f"folder:{tmp_path},size=16,split=all")
    assert len(data) == 40 and calls == []  # listing reads no pixels
    assert data.class_names == ["cats", "dogs"]
    sample = data[25]
    assert sample["image"].shape == (3, 16, 16) and sample["label"] == 1 and len(calls) == 1
    sizes = [len(load_dataset(f"folder:{tmp_path},split={s}")) for s in ("train", "val", "test")]
    assert sum(sizes) == 40 and sizes[0] > sizes[1]


def test_folder_bad_file_is_named_and_left_out(tmp_path, rgb_array):
    Image.fromarray(rgb_array).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    data = load_dataset(f"folder:{tmp_path},split=all")
    assert len(data) == 1 and data[0]["path"].endswith("good.png")
    assert [f.path.endswith("bad.png") for f in data.bad_files] == [True]


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx(tmp_path, compress):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 10)):
        for kind, array in (("images-idx3", rng.integers(0, 255, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            name = tmp_path / f"{prefix}-{kind}-ubyte"
            if compress:
                (tmp_path / f"{name.name}.gz").write_bytes(gzip.compress(_idx(np.asarray(array))))
            else:
                name.write_bytes(_idx(np.asarray(array)))
    train, val, test = (load_dataset(f"mnist:{tmp_path},split={s}") for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (45, 5, 10)
    assert test[3]["label"] == 3 and test[0]["image"].shape == (1, 28, 28)
    assert load_dataset(f"mnist:{tmp_path},size=32")[0]["image"].shape == (1, 32, 32)


def test_mnist_truncated_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((5, 28, 28)))[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset(f"mnist:{tmp_path}")


def test_mnist_wrong_magic_and_label_count_are_one_line_errors(tmp_path, capsys):
    from darkroom.cli import main

    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + bytes(12))
    assert main(["data", "info", f"mnist:{tmp_path}"]) == 2
    assert "not an unsigned-byte IDX file" in capsys.readouterr().err
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((5, 28, 28))))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.arange(7) % 10))
    assert main(["train", "gan", "--data", f"mnist:{tmp_path}", "--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "5 images but 7 labels" in err and "Traceback" not in err


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 40), ("data_batch_2", 40), ("test_batch", 20)):
        batch = {b"data": rng.integers(0, 255, (n, 3072)).astype(np.uint8), b"labels": list(np.arange(n) % 10)}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    train, val, test = (load_dataset(f"cifar10:{tmp_path},split={s}") for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (72, 8, 20)
    sample = test[5]
    assert sample["image"].shape == (3, 32, 32) and sample["label"] == 5 and test.class_names[5] == "dog"


def test_cifar10_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing"):
        load_dataset(f"cifar10:{tmp_path}")


def test_npz(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (30, 12, 12, 3)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(30) % 3)
    data = load_dataset(f"npz:{tmp_path / 'd.npz'},split=all")
    assert len(data) == 30 and data[4]["label"] == 1
    assert torch.allclose(data[4]["image"], torch.from_numpy(images[4]).permute(2, 0, 1).float() / 255)
    np.savez(tmp_path / "bad.npz", images=images.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    np.savez(tmp_path / "none.npz", pictures=images)
    with pytest.raises(ValueError, match="no array 'images'"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")


def test_npz_class_names(tmp_path):
    images = np.zeros((6, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(6) % 3, class_names=np.array(["real", "a", "b"]))
    assert load_dataset(f"npz:{tmp_path / 'd.npz'},split=all").class_names == ["real", "a", "b"]
    np.savez(tmp_path / "short.npz", images=images, labels=np.arange(6) % 3, class_names=np.array(["real", "a"]))
    with pytest.raises(ValueError, match="2 class_names for labels up to 2"):
        load_dataset(f"npz:{tmp_path / 'short.npz'}")


def test_collate_refuses_mixed_sizes():
    with pytest.raises(ValueError, match="size=N"):
        collate([{"image": torch.zeros(3, 4, 4)}, {"image": torch.zeros(3, 5, 5)}])


def test_photos_folder_with_split_subfolders(tmp_path):
    from PIL import Image

    for split, n in (("train", 3), ("val", 1)):
        (tmp_path / split / "sub").mkdir(parents=True)
        for k in range(n):
            Image.fromarray(np.full((40, 40, 3), 40 * k, np.uint8)).save(tmp_path / split / "sub" / f"{k}.png")
    train = load_dataset(f"photos:{tmp_path},patch=16")
    val = load_dataset(f"photos:{tmp_path},patch=16,split=val")
    ours = lambda data: [k for k in data.photos if not k.startswith("skimage:")]  # noqa: E731
    assert len(ours(train)) == 3 and all("/train/" in k for k in ours(train))
    assert len(ours(val)) == 1 and "/val/" in ours(val)[0]


def test_photos_jitter_takes_train_patches_anywhere_and_keeps_the_val_grid(tmp_path):
    from PIL import Image

    ramp = np.add.outer(np.arange(64), 64 * np.arange(64)) % 251  # every 16 px window differs
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        Image.fromarray(np.repeat(ramp[..., None], 3, 2).astype(np.uint8)).save(tmp_path / split / "a.png")
    grid = load_dataset(f"photos:{tmp_path},patch=16")
    jittered = load_dataset(f"photos:{tmp_path},patch=16,jitter=1")
    assert len(jittered) == len(grid)  # as many patches per photo as the grid cuts
    index = grid.photos.index(next(k for k in grid.photos if k.endswith("a.png")))
    ours = [i for i, (photo, _, _) in enumerate(grid.patches) if photo == index]
    torch.manual_seed(0)
    draws = {tuple(jittered[ours[0]]["image"][0, :2, :2].flatten().tolist()) for _ in range(20)}
    assert len(draws) > 10  # the same index gives new crops
    assert torch.equal(grid[ours[0]]["image"], grid[ours[0]]["image"])
    val = load_dataset(f"photos:{tmp_path},patch=16,split=val,jitter=1")
    first = next(i for i, (photo, _, _) in enumerate(val.patches) if "/val/" in val.photos[photo])
    assert torch.equal(val[first]["image"], val[first]["image"])  # val keeps its grid


def test_photos_take_their_split_from_a_csv_and_colour_leaves_out_gray(tmp_path):
    import hashlib

    (tmp_path / "set").mkdir()
    rng = np.random.default_rng(0)
    names = [f"p{k}.png" for k in range(60)]
    rows = ["file,label,split,mode"]
    for k, name in enumerate(names):
        gray = k % 10 == 3
        pixels = rng.integers(0, 255, (40, 48) if gray else (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "set" / name)
        rows.append(f"{name},x,{'test' if k % 5 == 0 else 'train'},{'L' if gray else 'RGB'}")
    (tmp_path / "set.csv").write_text("\n".join(rows) + "\n")
    ours = lambda data: {Path(k).name for k in data.photos if not k.startswith("skimage:")}  # noqa: E731
    test = load_dataset(f"photos:{tmp_path},patch=16", split="test")
    assert ours(test) == {n for k, n in enumerate(names) if k % 5 == 0}
    val = ours(load_dataset(f"photos:{tmp_path},patch=16", split="val"))
    train = ours(load_dataset(f"photos:{tmp_path},patch=16"))
    by_hash = {n for k, n in enumerate(names) if k % 5 and int(hashlib.sha1(n.encode()).hexdigest()[:8], 16) % 20 == 0}
    assert val == by_hash and not val & train and len(train | val) == 48
    colour = ours(load_dataset(f"photos:{tmp_path},patch=16,colour=1"))
    assert colour == {n for n in train if int(n[1:-4]) % 10 != 3}
    (tmp_path / "plain").mkdir()  # no CSV: the file itself says it is gray
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "plain" / "g.png")
    Image.fromarray(np.repeat(rng.integers(0, 255, (20, 20, 1), dtype=np.uint8), 3, 2)).save(
        tmp_path / "plain" / "h.png"
    )
    plain = load_dataset(f"photos:{tmp_path / 'plain'},patch=8,colour=1,split=all")
    assert not [k for k in plain.photos if not k.startswith("skimage:")]


def test_photos_resize_and_zoom(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    ramp = np.add.outer(np.arange(120), 2 * np.arange(200)) % 251
    for split in ("train", "val"):
        Image.fromarray(np.repeat(ramp[..., None], 3, 2).astype(np.uint8)).save(tmp_path / split / "a.png")
    data = load_dataset(f"photos:{tmp_path},patch=30,resize=60,zoom=1")
    key = next(k for k in data.photos if k.endswith("a.png"))
    assert data._photo(key).shape == (60, 100, 3)  # short side 60
    index = next(i for i, (p, _, _) in enumerate(data.patches) if data.photos[p] == key)
    torch.manual_seed(0)
    crops = [data[index]["image"] for _ in range(12)]
    assert all(c.shape == (3, 30, 30) for c in crops)
    steps = {round(float((c[0, 0, 1] - c[0, 0, 0]) * 255)) for c in crops}  # the ramp's slope: the zoom
    assert len(steps) > 2
    val = load_dataset(f"photos:{tmp_path},patch=30,resize=60,zoom=1,split=val")
    first = next(i for i, (p, _, _) in enumerate(val.patches) if "/val/" in val.photos[p])
    assert torch.equal(val[first]["image"], val[first]["image"])  # val keeps its grid, unzoomed
    with pytest.raises(ValueError, match="resize"):
        load_dataset(f"photos:{tmp_path},resize=-1")


@pytest.mark.skipif(not Path("../shared/photos/imagenet-samples.csv").exists(), reason="../shared/photos is absent")
def test_shared_photos_keep_the_fixed_test_split():
    import csv

    rows = list(csv.DictReader(open("../shared/photos/imagenet-samples.csv")))
    test = load_dataset("photos:../shared/photos,patch=64", split="test")
    ours = {Path(k).name for k in test.photos if not k.startswith("skimage:")}
    assert ours == {r["file"] for r in rows if r["split"] == "test"} and len(ours) == 100
    train = load_dataset("photos:../shared/photos,patch=64,colour=1")
    assert not ours & {Path(k).name for k in train.photos}
    assert not {r["file"] for r in rows if r["mode"] == "L"} & {Path(k).name for k in train.photos}
