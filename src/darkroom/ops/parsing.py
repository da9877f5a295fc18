"""Which generator made a small image, and how was it built: the ``generated`` and ``model_parsing`` fields
of ``darkroom inspect`` from the shipped ``modelparse`` network (trained on the generator zoo, 32 px).

Images up to ``MAX_SIDE`` px are resized to the network's 32 px; larger ones are photographs, outside the
zoo's domain, and get null here. ``source`` is null ("unknown generator") when the top attribution
probability among generators is below the model's ``open_set_threshold``, calibrated so that 99 % of the
known members' validation samples are named (experiments/calibrate_modelparse.py; `darkroom bench parsing`
measures the AUROC of this score and what the threshold names on test samples). ``nearest`` always names
the most likely known generator, and ``source_prob`` is its probability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from darkroom.data.zoo import ATTRIBUTION, HYPERPARAMS, REAL

MAX_SIDE = 64


def generator_choice(attribution: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attribution probabilities (N, K) -> (the most likely generator's index, its probability among
    generators only, the probability of "real"), each (N,): the open-set score is the middle one."""
    real = attribution[:, ATTRIBUTION.index(REAL)]
    generators = attribution.clone()
    generators[:, ATTRIBUTION.index(REAL)] = 0
    top_prob, top = generators.max(1)
    return top, top_prob / (1 - real).clamp_min(1e-8), real


def reading(real: float, nearest: str, source_prob: float, named: bool, detector: str) -> dict:
    """The ``generated`` object of DESIGN.md: ``source`` is ``nearest`` where ``named``, else null."""
    return {
        "prob": round(1 - real, 4),
        "source": nearest if named else None,
        "source_prob": round(source_prob, 4),
        "nearest": nearest,
        "detector": detector,
    }


@torch.no_grad()
def parse_generator(image: torch.Tensor, model) -> tuple[dict | None, dict | None]:
    """(3|1, H, W) in [0, 1] -> (generated, model_parsing) in DESIGN.md's shape, or (None, None)."""
    h, w = image.shape[-2:]
    if max(h, w) > MAX_SIDE:
        return None, None
    size = model.config.image_size
    x = image[None].float()
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    probs = {k: v[0] for k, v in model.predict(x.to(next(model.parameters()).device)).items()}
    top, top_prob, real = (v.item() for v in generator_choice(probs["attribution"][None].cpu()))
    named = top_prob >= model.config.open_set_threshold
    generated = reading(real, ATTRIBUTION[top], top_prob, named, "modelparse")
    if (h, w) != (size, size):
        generated["note"] = f"{w}x{h} image resized to the model's {size}x{size}"
    if real >= 0.5:
        return generated, None
    parsing = {}
    for name, values in HYPERPARAMS.items():
        p = probs[name].cpu()
        parsing[name] = {"value": values[int(p.argmax())], "prob": round(float(p.max()), 4)}
    return generated, parsing


# sources-scenes tells real renders from darkroom's sprite generators (97 % on its val split), but hardly one
# sprite generator from the other (they share the renderer): among generators a probability of 0.8 named
# 0.8 % of the val samples, all right; 0.7 named 7 %, 88 % right. Below it the answer is the family.
OWN_SOURCE_THRESHOLD = 0.8


@torch.no_grad()
def own_source(image: torch.Tensor, model, class_names: list[str], threshold: float = OWN_SOURCE_THRESHOLD):
    """Which of darkroom's own scene generators made a (3, H, W) image of the size ``model`` was trained
    at (``sources-scenes``: real renders against each shipped generator), in the shape of ``generated``;
    None for other sizes. ``source`` is null unless the image is more likely generated than real and the
    top generator's probability among generators reaches ``threshold``; a generated image whose generator
    is unclear gets ``family``, the generators it may come from."""
    size = model.config.image_size
    if tuple(image.shape[-2:]) != (size, size) or image.shape[0] != 3:
        return None
    probs = model(image[None].float().to(next(model.parameters()).device)).softmax(1)[0].cpu()
    real = float(probs[0])
    top = int(probs[1:].argmax()) + 1
    top_prob = float(probs[top]) / max(1 - real, 1e-8)
    named = real < 0.5 and top_prob >= threshold
    found = reading(real, class_names[top], top_prob, named, "sources-scenes")
    if real < 0.5 and not named:
        found["family"] = list(class_names[1:])
    return found


def read_generator(image: torch.Tensor, parser, sources=None) -> tuple[dict | None, dict | None]:
    """inspect's (generated, model_parsing) of a small image: at the size of ``sources`` ((``sources-scenes``,
    its class names): 64 px) its reading, real render or darkroom's own scene generators; otherwise
    ``modelparse``'s. ``modelparse`` knows 32 px zoo members: on 64 px real renders, shrunk to its size, it
    called about half generated and named a zoo member for a third (``darkroom bench sources``)."""
    own = own_source(image, *sources) if sources is not None else None
    if own is not None:
        return own, None
    return parse_generator(image, parser) if parser is not None else (None, None)
