"""Model registry: a plain dict filled by explicit imports. ``darkroom models`` prints it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model

from darkroom.config import build_config
from darkroom.io import first_line
from darkroom.models.autoencoder import Autoencoder
from darkroom.models.burst import BurstRestorer
from darkroom.models.chain import ChainEstimator
from darkroom.models.classifier import Classifier
from darkroom.models.colorize import Colorizer
from darkroom.models.contrastive import SimCLR
from darkroom.models.copydesc import CopyDescriptor
from darkroom.models.gan import DCGAN, GAN, ConditionalGAN
from darkroom.models.gendetect import DetectorPair, GeneratedDetector
from darkroom.models.inpaint import Inpainter
from darkroom.models.latentenc import LatentEncoder
from darkroom.models.modelparse import ModelParser
from darkroom.models.photoae import PhotoAutoencoder
from darkroom.models.restore import Denoiser, SuperResolution
from darkroom.models.sceneparams import SceneParams
from darkroom.models.sprites import Sprites, TextSprites
from darkroom.models.tamper import TamperLocalizer
from darkroom.models.textgan import TextGAN
from darkroom.models.vae import VAE, ConditionalVAE

MODELS = {
    "autoencoder": Autoencoder,
    "vae": VAE,
    "cvae": ConditionalVAE,
    "dcgan": DCGAN,
    "gan": GAN,
    "cgan": ConditionalGAN,
    "textgan": TextGAN,
    "sprites": Sprites,
    "textsprites": TextSprites,
    "classifier": Classifier,
    "denoise": Denoiser,
    "burst": BurstRestorer,
    "sr": SuperResolution,
    "inpaint": Inpainter,
    "colorize": Colorizer,
    "simclr": SimCLR,
    "copydesc": CopyDescriptor,
    "chain": ChainEstimator,
    "sceneparams": SceneParams,
    "tamper": TamperLocalizer,
    "modelparse": ModelParser,
    "gendetect": GeneratedDetector,
    "gendetect-pair": DetectorPair,
    "latentenc": LatentEncoder,
    "photoae": PhotoAutoencoder,
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
                if field == "num_classes" and not getattr(cls, "conditional", False):
                    continue  # an unconditional GAN's config has the field for its conditional subclass
                hint = "add size=N" if field == "image_size" else "use labelled data"
                raise ValueError(f"{name} needs {field} from the data, which does not say ({hint})")
            fills[field] = value
    return build_config(cls.Config, fills, base=config) if fills else config


def build_model(name: str, config) -> torch.nn.Module:
    return get_model_class(name)(config)


def _locate(run) -> tuple[Path, Path]:
    """(card or run.json, weights) for a run folder or the name of shipped weights."""
    from darkroom.weights import WEIGHTS_DIR, shipped_weights

    path = Path(run)
    if path.is_dir():
        info_path, weights = path / "run.json", path / "model.safetensors"
        if not info_path.is_file() or not weights.is_file():
            raise ValueError(f"{run}: not a finished darkroom run (needs run.json and model.safetensors)")
        return info_path, weights
    if (WEIGHTS_DIR / f"{run}.json").is_file() and (WEIGHTS_DIR / f"{run}.safetensors").is_file():
        return WEIGHTS_DIR / f"{run}.json", WEIGHTS_DIR / f"{run}.safetensors"
    names = ", ".join(card["name"] for card in shipped_weights()) or "none shipped"
    raise ValueError(f"{run}: no such run folder or shipped weights (shipped: {names})")


def weights_path(run) -> Path:
    """The safetensors file of a run folder or of shipped weights."""
    return _locate(run)[1]


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_run(run, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """A trained model, in eval mode, from a run folder (``model.safetensors`` + ``run.json``) or the
    name of shipped weights (``darkroom models --pretrained``; their checksum is verified)."""
    info_path, weights = _locate(run)
    try:
        info = json.loads(info_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{info_path}: not a darkroom run.json ({first_line(err)})") from None
    if not isinstance(info, dict) or "model" not in info or "model_config" not in info:
        raise ValueError(f"{info_path}: not a darkroom run.json (no model or model_config)")
    if info.get("sha256") and sha256(weights) != info["sha256"]:
        raise ValueError(f"{weights}: checksum mismatch; the shipped weights are damaged, reinstall darkroom")
    cls = get_model_class(info["model"])
    config = build_config(cls.Config, info["model_config"])
    model = cls(config)
    dropped = tuple(info.get("dropped", ()))  # parts shipped without weights (a GAN's discriminator)
    try:
        missing, unexpected = load_model(model, str(weights), strict=not dropped, device=str(device))
        if unexpected or any(not key.startswith(dropped) for key in missing):
            raise RuntimeError(f"missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    except SafetensorError as err:  # a pickle renamed .safetensors lands here: it is never unpickled
        raise ValueError(
            f"{weights}: not a safetensors file ({first_line(err)}); darkroom loads no pickled weights"
        ) from None
    except (RuntimeError, OSError) as err:
        first = first_line(err)
        raise ValueError(
            f"{run}: weights do not fit a {info['model']} of this darkroom version "
            f"(saved by {info.get('darkroom_version', '?')}): {first}"
        ) from None
    return model.to(device).eval(), info


def describe(name: str) -> str:
    cls = get_model_class(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    fields = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls.Config))
    return f"{name:14s} {doc[0] if doc else ''}  [{fields}]"
