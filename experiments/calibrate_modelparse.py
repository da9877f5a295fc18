"""Set the open-set threshold of a ``modelparse`` model on the zoo's validation split and write it into its card.

    python experiments/calibrate_modelparse.py src/darkroom/weights/modelparse.json [--zoo runs/zoo] [--named 0.99]

`darkroom inspect` names the generator of a small image only when the top attribution probability among
generators reaches ``open_set_threshold``; below it the answer is "unknown generator". The softmax of a
network trained on its own members is close to 1 on them, so 0.5 named almost every image of a generator
outside the zoo after some member. Here the threshold is the score that a share ``--named`` of the known
members' validation samples (never trained on, never tested on) reaches: a known generator is named 99 %
of the time, and whatever scores lower than that is called unknown. `darkroom bench parsing` reports what
it names on the test samples of known and held-out members.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from calibration import open_card, save_card

from darkroom.data import load_dataset
from darkroom.data.zoo import ATTRIBUTION, REAL
from darkroom.ops.parsing import generator_choice


@torch.no_grad()
def main() -> None:
    args, card_path, card, model = open_card(
        __doc__.splitlines()[0],
        "src/darkroom/weights/modelparse.json",
        {
            "--zoo": {"default": "runs/zoo", "help": "the zoo the model was trained on"},
            "--named": {"type": float, "default": 0.99, "help": "share of known members' samples to name"},
        },
    )
    data = load_dataset(f"zoo:{args.zoo},split=val")
    generated = [i for i in range(len(data)) if data[i]["label"] != ATTRIBUTION.index(REAL)]
    scores, right = [], []
    for start in range(0, len(generated), 256):
        batch = [data[i] for i in generated[start : start + 256]]
        top, score, _ = generator_choice(model.predict(torch.stack([b["image"] for b in batch]))["attribution"])
        scores.append(score.numpy())
        right.append((top == torch.tensor([b["label"] for b in batch])).numpy())
    scores, right = np.concatenate(scores), np.concatenate(right)
    threshold = math.floor(float(np.quantile(scores, 1 - args.named)) * 1e4) / 1e4  # the card keeps 4 decimals
    summary = {
        "data": f"zoo:{args.zoo},split=val",
        "generated": len(scores),
        "named": args.named,
        "named_right": round(float((right & (scores >= threshold)).mean()), 4),
    }
    save_card(card_path, card, {"open_set_threshold": threshold}, summary)


if __name__ == "__main__":
    main()
