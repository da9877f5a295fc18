"""Model registry: a plain dict filled by explicit imports. ``darkroom models`` prints it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_model

from darkroom.config import build_config
from darkroom.models.autoencoder import Autoencoder
from darkroom.models.gan import DCGAN, GAN, ConditionalGAN
from darkroom.models.vae import VAE, ConditionalVAE

MODELS = {
    "autoencoder": Autoencoder,
    "vae": VAE,
    "cvae": ConditionalVAE,
    "dcgan": DCGAN,
    "gan": GAN,
    "cgan": ConditionalGAN,
}
DATA_FIELDS = {"channels": "channels", "image_size": "image_size", "num_classes": "num_classes"}


def get_model_class(name: str):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)} (see `darkroom models`)")
    return MODELS[name]


def resolve_config(name: str, values: dict | None = None, data_info: dict | None = None):
    """The model's frozen config from ``values``, with data-dependent fields left at 0 filled from
    ``data_info`` (channels, image_size, num_classes)."""
    cls = get_model_class(name)
    config = build_config(cls.Config, values or {})
    fills = {}
    for field, key in DATA_FIELDS.items():
        if hasattr(config, field) and not getattr(config, field) and data_info:
            value = data_info.get(key)
            if key == "image_size" and value:
                if value[0] != value[1]:
                    raise ValueError(f"{name} needs square images, data gives {value[0]}x{value[1]}: add size=N")
                value = value[0]
            if not value:
                raise ValueError(f"{name} needs {field} from the data, which does not say (add size=N)")
            fills[field] = value
    return build_config(cls.Config, fills, base=config) if fills else config


def build_model(name: str, config) -> torch.nn.Module:
    return get_model_class(name)(config)


def load_run(run, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """A trained model from a run folder (``model.safetensors`` + ``run.json``), in eval mode."""
    run = Path(run)
    info_path, weights = run / "run.json", run / "model.safetensors"
    if not info_path.is_file() or not weights.is_file():
        raise ValueError(f"{run}: not a finished darkroom run (needs run.json and model.safetensors)")
    info = json.loads(info_path.read_text())
    cls = get_model_class(info["model"])
    config = build_config(cls.Config, info["model_config"])
    model = cls(config)
    try:
        load_model(model, str(weights), device=str(device))
    except (RuntimeError, OSError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"{run}: weights do not fit a {info['model']} of this darkroom version "
                         f"(saved by {info.get('darkroom_version', '?')}): {first}") from None
    return model.to(device).eval(), info


def describe(name: str) -> str:
    cls = get_model_class(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    fields = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls.Config))
    return f"{name:14s} {doc[0] if doc else ''}  [{fields}]"
