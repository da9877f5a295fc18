import numpy as np
import pytest
import torch
from PIL import Image

from darkroom.io import list_images, output_names, read_image, read_provenance, to_uint8, write_image


@pytest.mark.parametrize(
    "suffix,fmt,lossless",
    [
        (".png", "PNG", True),
        (".jpg", "JPEG", False),
        (".tif", "TIFF", True),
        (".webp", "WEBP", False),
        (".bmp", "BMP", True),
    ],
)
def test_reads_common_formats(tmp_path, rgb_array, suffix, fmt, lossless):
    path = tmp_path / f"a{suffix}"
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(rgb_array).save(path, format=fmt, **kwargs)
    image = read_image(path)
    assert image.dtype == torch.float32 and image.shape == (3, 40, 60)
    assert 0 <= image.min() and image.max() <= 1
    err = np.abs(to_uint8(image).astype(int) - rgb_array).mean()
    assert err == 0 if lossless else err < 4


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    image = read_image(tmp_path / "a.gif")
    assert image[0].mean() > 0.9 and image[2].mean() < 0.1


def test_exif_orientation_is_applied(tmp_path, rgb_array):
    img = Image.fromarray(rgb_array)  # 60 wide, 40 high
    exif = img.getexif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "r.jpg")
    assert image.shape == (3, 60, 40)
    expected = np.rot90(rgb_array, k=-1)  # clockwise
    assert np.abs(to_uint8(image).astype(int) - expected).mean() < 4


def test_palette_cmyk_la_and_16bit(tmp_path, rgb_array):
    Image.fromarray(rgb_array).convert("P").save(tmp_path / "p.png")
    Image.fromarray(rgb_array).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert read_image(tmp_path / "p.png").shape == (3, 40, 60)
    cmyk = read_image(tmp_path / "c.jpg")
    assert np.abs(to_uint8(cmyk).astype(int) - rgb_array).mean() < 6
    gray16 = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    image16 = read_image(tmp_path / "g16.png")
    assert torch.allclose(image16[0], torch.from_numpy(gray16 / 65535.0).float(), atol=1e-6)
    la = Image.fromarray(np.stack([np.full((4, 4), 200), np.full((4, 4), 0)], -1).astype(np.uint8), "LA")
    la.save(tmp_path / "la.png")
    assert torch.allclose(read_image(tmp_path / "la.png"), torch.ones(3, 4, 4))  # fully transparent -> white


def test_alpha_composite_or_drop(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    composite = read_image(tmp_path / "a.png")
    dropped = read_image(tmp_path / "a.png", alpha="drop")
    assert torch.allclose(composite[1], torch.full((4, 4), 127 / 255), atol=0.01)  # half white over red
    assert torch.allclose(dropped[1], torch.zeros(4, 4)) and torch.allclose(dropped[0], torch.ones(4, 4))
    with pytest.raises(ValueError, match="alpha"):
        read_image(tmp_path / "a.png", alpha="keep")


def test_grayscale_read(tmp_path, rgb_array):
    Image.fromarray(rgb_array).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", grayscale=True).shape == (1, 40, 60)


def test_bad_files_raise_value_error_naming_file(tmp_path, rgb_array):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, not an image")
    Image.fromarray(rgb_array).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(rgb_array).save(tmp_path / "full.png")
    png = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    for name, message in [
        ("empty.png", "empty"),
        ("text.png", "not an image"),
        ("missing.png", "no such file"),
        ("cut.jpg", "truncated"),
        ("cut.png", "truncated"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            read_image(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="folder"):
        read_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="exceeds the limit"):
        read_image(tmp_path / "big.png", max_pixels=10_000)
    monkeypatch.setenv("DARKROOM_MAX_PIXELS", "1000")
    with pytest.raises(ValueError, match="big.png"):
        read_image(tmp_path / "big.png")


def test_write_png_and_jpeg_with_provenance(tmp_path):
    image = torch.rand(3, 16, 24)
    provenance = {"operation": "test", "model": "none", "parameters": {"sigma": 25}, "seed": 3}
    for name in ("out.png", "sub/out.jpg"):
        path = write_image(tmp_path / name, image, provenance=provenance)
        assert path.is_file()
        found = read_provenance(path)
        assert found["operation"] == "test" and found["seed"] == 3 and found["parameters"] == {"sigma": 25}
    back = read_image(tmp_path / "out.png")
    assert torch.allclose(back, (image * 255).round() / 255, atol=1 / 255)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic: no temp file left behind
    assert read_provenance(tmp_path / "nothing.png") is None
    with pytest.raises(ValueError, match="only write"):
        write_image(tmp_path / "x.gif", image)


def test_written_files_get_the_umask_permissions_not_owner_only(tmp_path):
    import os

    from darkroom.io import write_text_atomic

    old = os.umask(0o022)
    try:
        write_image(tmp_path / "a.png", torch.rand(3, 8, 8))
        write_text_atomic(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    for name in ("a.png", "b.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    path = write_image(tmp_path / "keep.png", torch.zeros(3, 4, 4))
    before = path.read_bytes()
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_image(path, torch.ones(3, 4, 4))
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


def test_list_images(tmp_path, rgb_array):
    for name in ("a.png", "sub/b.jpg", "sub/c.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            Image.fromarray(rgb_array).save(tmp_path / name)
    paths, problems = list_images([tmp_path, str(tmp_path / "*.png"), tmp_path / "nope.png"])
    assert [p.name for p in paths] == ["a.png", "b.jpg"]
    assert len(problems) == 1 and "nope.png" in problems[0]


def test_output_names_never_collide():
    assert output_names(["a/x.jpg", "b/x.png", "c/y.tif", "d/X.png", "x-2.png"]) == [
        "x.png",
        "x-2.png",
        "y.png",
        "X-3.png",
        "x-2-2.png",
    ]
