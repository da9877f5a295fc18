"""Checkpoints: safetensors for every tensor, ``run.json`` for everything else. Never pickle.

    RUN/checkpoints/step_00000500/  model.safetensors  ema.safetensors  optim.safetensors
                                    rng.safetensors    run.json
    RUN/model.safetensors  RUN/run.json       the finished model (EMA weights when EMA is on)

A checkpoint folder is written under a temporary name and renamed when complete, so a run killed
mid-write still has its previous checkpoint.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from darkroom.io import atomic_path, first_line, write_text_atomic

STEP_DIR = re.compile(r"^step_(\d{8})$")


def _optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state() -> tuple[dict, dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    np_state = np.random.get_state()
    meta = {"python": _jsonable(random.getstate()), "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    return tensors, meta


def _set_rng_state(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    random.setstate(_tupled(meta["python"]))
    kind, keys, *rest = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def save_checkpoint(
    run_dir, step: int, model, optimizers: dict, info: dict, ema=None, scaler=None, keep: int = 2
) -> Path:
    """Write a complete checkpoint folder for ``step`` (``optimizers``: phase -> optimizer) and keep
    only the newest ``keep``."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    if ema is not None:
        save_model(ema.shadow, str(tmp / "ema.safetensors"))
    optim_tensors, optim_meta = {}, {}
    for phase, opt in optimizers.items():
        tensors, optim_meta[phase] = _optimizer_to_tensors(opt)
        optim_tensors.update({f"{phase}/{k}": v for k, v in tensors.items()})
    save_file(optim_tensors, str(tmp / "optim.safetensors"))
    rng_tensors, rng_meta = _rng_state()
    save_file(rng_tensors, str(tmp / "rng.safetensors"))
    state = {
        **info,
        "step": step,
        "optimizer": optim_meta,
        "rng": rng_meta,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
    }
    (tmp / "run.json").write_text(json.dumps(state, indent=1, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_rank_rng(folder, rank: int) -> None:
    """Another process's random state, beside rank 0's in a checkpoint (distributed training)."""
    tensors, meta = _rng_state()
    save_file(tensors, str(Path(folder) / f"rng-rank{rank}.safetensors"))
    (Path(folder) / f"rng-rank{rank}.json").write_text(json.dumps(meta))


def load_rank_rng(folder, rank: int) -> None:
    path = Path(folder) / f"rng-rank{rank}.safetensors"
    if path.is_file():  # a checkpoint from a run with fewer processes: this rank keeps its fresh seed
        _set_rng_state(load_file(str(path)), json.loads((Path(folder) / f"rng-rank{rank}.json").read_text()))


def list_checkpoints(run_dir) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if STEP_DIR.match(p.name) and (p / "run.json").is_file()]
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


def load_checkpoint(path, model, optimizers: dict, ema=None, scaler=None, device="cpu") -> dict:
    """Restore model, optimizer, EMA, AMP scaler and RNG states; returns the checkpoint's run.json.
    A damaged checkpoint (or a pickle in its place, which is never unpickled) is a one-line ValueError."""
    try:
        return _load_checkpoint(Path(path), model, optimizers, ema, scaler, device)
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError, RuntimeError) as err:
        raise ValueError(
            f"{path}: damaged checkpoint ({first_line(err)}); delete it to resume from the one before"
        ) from None


def _load_checkpoint(path: Path, model, optimizers: dict, ema, scaler, device) -> dict:
    info = json.loads((path / "run.json").read_text())
    load_model(model, str(path / "model.safetensors"), device=str(device))
    if ema is not None and (path / "ema.safetensors").is_file():
        load_model(ema.shadow, str(path / "ema.safetensors"), device=str(device))
    tensors = load_file(str(path / "optim.safetensors"), device=str(device))
    if set(info["optimizer"]) != set(optimizers):
        raise ValueError(
            f"{path}: checkpoint has optimizer phases {sorted(info['optimizer'])}, the model {sorted(optimizers)}"
        )
    for phase, opt in optimizers.items():
        prefix = f"{phase}/"
        _optimizer_from_tensors(
            opt, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, info["optimizer"][phase]
        )
    if scaler is not None and info.get("scaler"):
        scaler.load_state_dict(info["scaler"])
    _set_rng_state(load_file(str(path / "rng.safetensors")), info["rng"])
    return info


def save_final(run_dir, model, info: dict) -> None:
    """The finished model for inference: RUN/model.safetensors and RUN/run.json."""
    run_dir = Path(run_dir)
    with atomic_path(run_dir / "model.safetensors") as tmp:
        save_model(model, str(tmp))
    write_text_atomic(run_dir / "run.json", json.dumps(info, indent=1, default=str))
