from dataclasses import dataclass

import pytest

from darkroom.config import build_config, parse_assignments, split_sections
from darkroom.models import resolve_config
from darkroom.train import TrainConfig


@dataclass(frozen=True)
class Demo:
    width: int = 8
    rate: float = 0.1
    name: str = "x"
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    maybe: int | None = None


def test_build_config_parses_strings():
    config = build_config(Demo, {"width": "16", "rate": "1e-3", "flag": "true", "sizes": "3,4", "maybe": "none"})
    assert config == Demo(width=16, rate=1e-3, flag=True, sizes=(3, 4), maybe=None)
    assert build_config(Demo, {"width": "1e3"}).width == 1000


@pytest.mark.parametrize(
    "values,message",
    [
        ({"depth": "3"}, "unknown Demo key"),
        ({"width": "wide"}, "integer"),
        ({"width": "1.5"}, "integer"),
        ({"flag": "maybe"}, "true or false"),
        ({"rate": "fast"}, "number"),
    ],
)
def test_build_config_rejects_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        build_config(Demo, values)


def test_sections_route_keys():
    sections = {"model": Demo, "train": TrainConfig}
    routed = split_sections({"width": 4, "train.lr": 0.1, "model": {"rate": 0.5}, "steps": 9}, sections)
    assert routed == {"model": {"width": 4, "rate": 0.5}, "train": {"lr": 0.1, "steps": 9}}
    with pytest.raises(ValueError, match="unknown config key"):
        split_sections({"nothing": 1}, sections)
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["lr"])


def test_train_config_checks():
    with pytest.raises(ValueError, match="steps"):
        build_config(TrainConfig, {"steps": "0"})


def test_model_config_takes_shape_from_data():
    config = resolve_config("autoencoder", {"width": "4"}, {"channels": 1, "image_size": [16, 16]})
    assert (config.channels, config.image_size, config.width) == (1, 16, 4)
    with pytest.raises(ValueError, match="square"):
        resolve_config("autoencoder", {}, {"channels": 3, "image_size": [16, 32]})
    with pytest.raises(ValueError, match="size=N"):
        resolve_config("autoencoder", {}, {"channels": 3, "image_size": None})
    with pytest.raises(ValueError, match="divisible"):
        resolve_config("autoencoder", {"downsamples": "3"}, {"channels": 3, "image_size": [20, 20]})
