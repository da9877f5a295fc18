import dataclasses

import numpy as np

from darkroom.data.captions import caption, expected_parse, parse_caption, position_cell, size_bin
from darkroom.data.scenes import BACKGROUNDS, COLORS, SHAPES, ObjectParams, SceneParams, render, sample_params


def _plain(obj: ObjectParams, size=32) -> SceneParams:
    return SceneParams(
        image_size=size,
        objects=(obj,),
        background="plain",
        bg_color_name="black",
        bg_color=(0.0, 0.0, 0.0),
        bg_tone=(0.0, 0.0, 0.0),
    )


def test_vocabulary_is_as_promised():
    assert len(SHAPES) >= 6 and len(COLORS) >= 10
    assert set(BACKGROUNDS) == {"plain", "stripes", "checker", "noise", "gradient"}


def test_render_is_deterministic_from_seed():
    a = sample_params(np.random.default_rng(5), 64, 2)
    b = sample_params(np.random.default_rng(5), 64, 2)
    assert a == b and np.array_equal(render(a), render(b))
    assert render(a).shape == (64, 64, 3) and render(a).dtype == np.float32
    assert SceneParams.from_dict(a.to_dict()) == a


def test_every_shape_and_background_renders_in_range():
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        for background in BACKGROUNDS:
            params = dataclasses.replace(sample_params(rng, 32), background=background)
            params = dataclasses.replace(params, objects=(dataclasses.replace(params.main, shape=shape),))
            image = render(params)
            assert 0 <= image.min() and image.max() <= 1


def test_geometry_matches_parameters():
    """A white circle on black: its area and centroid are what the parameters say."""
    obj = ObjectParams("circle", "white", (1.0, 1.0, 1.0), size=0.25, x=0.4, y=0.6, rotation=0.0)
    image = render(_plain(obj, 64))[..., 0]
    radius = 0.25 * 64
    assert abs(image.sum() - np.pi * radius**2) < 0.01 * np.pi * radius**2
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    assert abs((image * xs).sum() / image.sum() - 0.4 * 64) < 0.05
    assert abs((image * ys).sum() / image.sum() - 0.6 * 64) < 0.05


def test_edges_are_antialiased_and_rotation_turns_the_shape():
    obj = ObjectParams("square", "white", (1.0, 1.0, 1.0), size=0.3, x=0.5, y=0.5, rotation=10.0)
    image = render(_plain(obj))[..., 0]
    partial = ((image > 0.05) & (image < 0.95)).sum()
    assert partial > 10  # intermediate coverage along the edges
    turned = render(_plain(dataclasses.replace(obj, shape="triangle", rotation=180.0)))[..., 0]
    upright = render(_plain(dataclasses.replace(obj, shape="triangle", rotation=0.0)))[..., 0]
    assert np.allclose(turned, upright[::-1, ::-1], atol=0.02)  # 180 degrees = flipped both ways


def test_objects_stay_inside_and_are_visible():
    rng = np.random.default_rng(1)
    for _ in range(200):
        params = sample_params(rng, 32, 2)
        for obj in params.objects:
            assert obj.size <= obj.x <= 1 - obj.size and obj.size <= obj.y <= 1 - obj.size
            assert obj.color_name != params.bg_color_name


def test_captions_agree_with_parameters():
    rng = np.random.default_rng(2)
    texts = set()
    for i in range(500):
        params = sample_params(rng, 32, 1 + i % 2)
        text = caption(params, rng)
        texts.add(text)
        assert parse_caption(text) == expected_parse(params), text
    assert len(texts) == 500  # varied wording


def test_caption_example_and_bins():
    obj = ObjectParams("star", "red", (0.86, 0.12, 0.14), size=0.14, x=0.15, y=0.12, rotation=0.0)
    params = dataclasses.replace(_plain(obj), background="stripes", bg_color_name="blue")
    parsed = parse_caption("a small crimson star near the top left on a striped blue background")
    assert parsed == expected_parse(params)
    assert size_bin(0.1) == "small" and size_bin(0.3) == "large" and position_cell(0.5, 0.5) == ("middle", "centre")
