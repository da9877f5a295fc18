import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def rgb_array():
    """A smooth 40x60 RGB test picture, uint8."""
    ys, xs = np.mgrid[0:40, 0:60]
    return np.stack([xs * 4, ys * 6, (xs + ys) * 2], -1).clip(0, 255).astype(np.uint8)


@pytest.fixture
def photo():
    """A real photograph patch (3, 64, 64) from scikit-image."""
    from darkroom.data.base import to_tensor
    from darkroom.data.photos import skimage_photo

    return to_tensor(skimage_photo("astronaut")[100:164, 200:264])


@pytest.fixture
def load_script(monkeypatch):
    """load_script(name, folder="experiments"): a module of experiments/ or benchmarks/ (which import their
    siblings), loaded by path."""

    def load(name: str, folder: str = "experiments"):
        root = Path(__file__).parents[1] / folder
        monkeypatch.syspath_prepend(str(root))
        spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        return script

    return load
