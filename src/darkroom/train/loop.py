"""The one training loop. A model is an ``nn.Module`` with ``loss(batch) -> dict`` (key ``loss`` is
optimized) and, optionally, ``preview(batch) -> images`` for the sample grids.

A model that alternates updates (a GAN: discriminator, then generator) declares ``phases()``:
``{name: (parameters, optimizer overrides)}``; each step then calls ``loss(batch, phase=name)`` and
steps that phase's own optimizer, in order. Nothing else is assumed.

The batch at step ``t`` depends only on (seed, t), and every RNG state is checkpointed, so a run
killed at any point and resumed with ``resume=True`` continues exactly as if it had never stopped.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.config import config_to_dict
from darkroom.data import collate, load_dataset
from darkroom.data.base import SkipUnreadable, Transformed, warn_unreadable
from darkroom.io import grid, write_image, write_text_atomic
from darkroom.train.batches import make_loader
from darkroom.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_rank_rng,
    save_checkpoint,
    save_final,
    save_rank_rng,
)
from darkroom.train.distributed import (
    any_rank,
    average_gradients,
    barrier,
    broadcast_module,
    finish,
    init_world,
    mean_scalars,
)
from darkroom.train.ema import EMA


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    minutes: float = 0.0  # wall-clock budget for this invocation; 0 = none
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    schedule: str = "constant"  # learning rate: constant, or cosine (to 0 at the end of steps or minutes)
    warmup: int = 0  # steps of linear learning-rate warm-up
    ema: float = 0.0  # EMA decay, e.g. 0.999; 0 = off
    amp: bool = False  # mixed precision, CUDA only
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    val_batches: int = 4
    keep_checkpoints: int = 2
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    workers: int = 0
    seed: int = 0
    init: str = ""  # start from the weights of this run folder or shipped model (fine-tuning); "" = fresh

    def check(self):
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.minutes < 0 or self.lr <= 0 or self.grad_clip < 0 or not 0 <= self.ema < 1:
            raise ValueError("minutes and grad_clip must be >= 0, lr > 0 and ema in [0, 1)")
        if self.schedule not in SCHEDULES or self.warmup < 0:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)} and warmup >= 0")


SCHEDULES = ("constant", "cosine")


def lr_factor(config: TrainConfig, step: int, progress: float) -> float:
    """Learning-rate multiplier at ``step``; ``progress`` in [0, 1] is how far the run is (by steps or
    by its time budget, whichever is further), so a run cut short by ``minutes`` still ends decayed."""
    factor = min(1.0, (step + 1) / config.warmup) if config.warmup else 1.0
    if config.schedule == "cosine":
        factor *= 0.5 * (1 + np.cos(np.pi * min(max(progress, 0.0), 1.0)))
    return float(factor)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for but CUDA is not available")
    return torch.device(name)


COLLAPSE_DIVERSITY = 0.1  # a model reporting "diversity" (samples' spread / data's) below this has collapsed


def make_optimizers(model: torch.nn.Module, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One AdamW per phase; a phase's overrides (lr, beta1, beta2) replace the run's values."""
    phases = model.phases() if hasattr(model, "phases") else {"main": (list(model.parameters()), {})}
    optimizers = {}
    for name, (params, overrides) in phases.items():
        unknown = set(overrides) - {"lr", "beta1", "beta2"}
        if unknown:
            raise ValueError(f"phase {name}: unknown optimizer override(s) {', '.join(sorted(unknown))}")
        optimizers[name] = torch.optim.AdamW(
            params,
            lr=overrides.get("lr", config.lr),
            weight_decay=config.weight_decay,
            betas=(overrides.get("beta1", config.beta1), overrides.get("beta2", config.beta2)),
        )
    return optimizers


def git_hash() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _scalars(out: dict) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in out.items() if torch.is_tensor(v) and v.numel() == 1}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint we resume from), and a line a kill cut short."""
    if path.is_file():
        kept = [line for line in path.read_text().splitlines() if _logged_step(line) <= step]
        write_text_atomic(path, "".join(line + "\n" for line in kept))


def _logged_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")


def train(
    model_name: str,
    model: torch.nn.Module,
    model_config,
    config: TrainConfig,
    data_spec: str,
    out,
    resume: bool = False,
    progress: bool = True,
    print_fn=print,
) -> dict:
    """Train ``model`` on ``data_spec`` into the run folder ``out``; returns the final run.json dict."""
    device = pick_device(config.device)
    world = init_world(device)
    run_dir, checkpoints = _run_folder(out, resume, world)
    _seed(config.seed + world.rank)  # each process its own noise (a GAN's latents); the data is sliced apart
    dataset, val_set = _datasets(model, data_spec, print_fn if world.main else _silent)
    model.to(device).train()
    optimizers = make_optimizers(model, config)
    base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in optimizers.items()}
    ema = EMA(model, config.ema) if config.ema else None
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    info = _run_info(model_name, model_config, config, data_spec, dataset, device, world)
    log_path = run_dir / "metrics.jsonl"
    if checkpoints:
        start, elapsed_before, progress_before = _resume(
            checkpoints[-1], model, optimizers, ema, scaler, config, device, log_path, world
        )
        if world.main:
            print_fn(f"resuming {run_dir} from step {start}")
    else:
        start, elapsed_before, progress_before = 0, 0.0, 0.0
        _start_fresh(model, model_name, config, log_path, device, world)
    for module in [model] + ([ema.shadow] if ema else []):
        broadcast_module(module, world)  # every process starts from rank 0's weights
    loader = make_loader(dataset, config, start, device, world)
    kill_after = int(os.environ.get("DARKROOM_KILL_AFTER_STEP", "0"))  # for the resume test only
    t0 = time.time()
    window, last, last_val, step = {"t": t0, "images": 0, "data_s": 0.0}, {}, {}, start
    bar = _progress_bar(config, start, progress and world.main)
    with bar, open(log_path if world.main else os.devnull, "a") as log:
        t_data = time.time()
        for batch in loader:
            batch = _to_device(batch, device)
            window["data_s"] += time.time() - t_data
            fraction = _progress(config, step, progress_before, t0)
            factor = _set_lr(optimizers, base_lrs, lr_factor(config, step, fraction))
            last = _optimize(model, batch, optimizers, scaler, config.grad_clip, device.type, use_amp, world)
            if ema is not None:
                ema.update(model, step)
            step += 1
            window["images"] += batch["image"].shape[0] * world.size
            if step % config.log_every == 0 or step == config.steps:
                _log_step(log, bar, step, last, factor, window)
                window = {"t": time.time(), "images": 0, "data_s": 0.0}
            bar.update(1)
            out_of_time = any_rank(bool(config.minutes and time.time() - t0 > config.minutes * 60), world)
            done = step == config.steps or out_of_time
            if (step % config.sample_every == 0 or done) and world.main:
                _write_samples(run_dir, step, _calibrated(ema.shadow) if ema else model, batch, model_name)
            if step % config.checkpoint_every == 0 or done:
                info.update(step=step, elapsed_s=elapsed_before + time.time() - t0, progress=fraction)
                last_val = (
                    _checkpoint(run_dir, step, model, optimizers, info, ema, scaler, config, val_set, log, world)
                    or last_val
                )
            if kill_after == step:
                os.kill(os.getpid(), signal.SIGKILL)
            if done:
                break
            t_data = time.time()
    info.update(step=step, elapsed_s=elapsed_before + time.time() - t0, metrics={"train": last, "val": last_val})
    info["finished"] = step == config.steps
    if world.main:
        save_final(run_dir, _calibrated(ema.shadow) if ema else model, info)
    finish(world)
    return info


def _silent(*args, **kwargs) -> None:
    pass


def _set_lr(optimizers: dict, base_lrs: dict, factor: float) -> float:
    for name, optimizer in optimizers.items():
        for group, base in zip(optimizer.param_groups, base_lrs[name]):
            group["lr"] = base * factor
    return factor


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _run_info(model_name, model_config, config: TrainConfig, data_spec: str, dataset, device, world) -> dict:
    from darkroom import __version__

    return {
        "model": model_name,
        "model_config": config_to_dict(model_config),
        "train_config": config_to_dict(config),
        "data": data_spec,
        "data_info": dataset.info(),
        "darkroom_version": __version__,
        "git": git_hash(),
        "device": str(device),
        "world_size": world.size,
    }


def _progress(config: TrainConfig, step: int, progress_before: float, t0: float) -> float:
    """How far the run is: by steps, or by this invocation's time budget applied to what was left at its
    start, whichever is further."""
    fraction = step / config.steps
    if config.minutes:
        fraction = max(fraction, progress_before + (1 - progress_before) * (time.time() - t0) / (config.minutes * 60))
    return fraction


def _progress_bar(config: TrainConfig, start: int, show: bool):
    by_time = config.minutes and config.steps >= 10**9  # `--minutes` alone: no step count to show
    return tqdm(
        total=None if by_time else config.steps, initial=start, disable=not show, unit="step", dynamic_ncols=True
    )


def _checkpoint(run_dir, step, model, optimizers, info, ema, scaler, config, val_set, log, world) -> dict:
    """Rank 0 validates and writes the checkpoint; then every other rank adds its random state to it."""
    val = {}
    if world.main:
        device = next(model.parameters()).device
        val = _validate(ema.shadow if ema else model, val_set, config, device) if len(optimizers) == 1 else {}
        _log_val(log, step, val)
        save_checkpoint(run_dir, step, model, optimizers, info, ema, scaler, config.keep_checkpoints)
    barrier(world)
    if not world.main:
        save_rank_rng(Path(run_dir) / "checkpoints" / f"step_{step:08d}", world.rank)
    barrier(world)
    return val


def _run_folder(out, resume: bool, world) -> tuple[Path, list]:
    """The run folder (made) and its checkpoints; a finished or existing run without ``resume`` is an error."""
    run_dir = Path(out)
    checkpoints = list_checkpoints(run_dir)
    if checkpoints and not resume:
        raise ValueError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out")
    if resume and not checkpoints and (run_dir / "run.json").is_file():
        raise ValueError(f"{run_dir}: run already finished and has no checkpoint to resume from")
    run_dir.mkdir(parents=True, exist_ok=True)
    barrier(world)  # no rank looks for checkpoints after rank 0 starts writing them
    return run_dir, checkpoints


def _datasets(model, data_spec: str, print_fn):
    """The train split (not empty) and the val split (None where there is none), unreadable files named
    and skipped, the model's ``prepare_data`` and ``sample_transform`` hooks applied."""
    dataset = load_dataset(data_spec)
    if len(dataset) == 0:
        raise ValueError(f"{data_spec}: the training split is empty")
    try:
        val_set = load_dataset(data_spec, split="val")
    except ValueError:
        val_set = None
    for part in (dataset, val_set):
        if part is not None:
            warn_unreadable(part, print_fn)
            if hasattr(model, "prepare_data"):  # e.g. encode every caption once
                model.prepare_data(part, print_fn)
    dataset = SkipUnreadable(dataset, tqdm.write)
    val_set = SkipUnreadable(val_set, tqdm.write) if val_set is not None else None
    transform = getattr(model, "sample_transform", None)  # per-sample work for the loader's workers
    if transform is not None:
        dataset = Transformed(dataset, transform)
        val_set = Transformed(val_set, transform, fixed=True) if val_set is not None else None
    return dataset, val_set


def _resume(checkpoint, model, optimizers, ema, scaler, config: TrainConfig, device, log_path: Path, world):
    """Load a checkpoint; returns its step, elapsed seconds and progress, the log cut back to its step."""
    saved = load_checkpoint(checkpoint, model, optimizers, ema, scaler, device)
    start = saved["step"]
    if not world.main:
        load_rank_rng(checkpoint, world.rank)
        return start, saved.get("elapsed_s", 0.0), saved.get("progress", start / config.steps)
    _truncate_log(log_path, start)
    return start, saved.get("elapsed_s", 0.0), saved.get("progress", start / config.steps)


def _start_fresh(model, model_name: str, config: TrainConfig, log_path: Path, device, world) -> None:
    """A new run: no old log, and the weights of ``init`` or of the model's own ``initialize``."""
    if world.main and log_path.exists():
        log_path.unlink()
    if config.init:
        _init_from(model, model_name, config.init, device)
    elif hasattr(model, "initialize"):  # e.g. start from a pretrained encoder
        model.initialize()


def _optimize(
    model, batch: dict, optimizers: dict, scaler, grad_clip: float, device_type: str, use_amp: bool, world
) -> dict:
    """One step of every optimizer (a GAN's phases in order); returns the step's scalars (means over the
    processes of a distributed run, whose gradients are averaged before the step)."""
    last = {}
    for phase, optimizer in optimizers.items():
        with torch.autocast(device_type, enabled=use_amp):
            out = model.loss(batch) if len(optimizers) == 1 else model.loss(batch, phase=phase)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out["loss"]).backward()
        average_gradients([p for group in optimizer.param_groups for p in group["params"]], world)
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], grad_clip)
        scaler.step(optimizer)
        # A multi-phase model names its losses itself (d_loss, g_loss); "loss" is only what it optimizes.
        last.update({k: v for k, v in _scalars(out).items() if len(optimizers) == 1 or k != "loss"})
    scaler.update()
    return mean_scalars(last, world)


def _log_step(log, bar, step: int, last: dict, factor: float, window: dict) -> None:
    """One line of metrics.jsonl (and the progress bar's figures); warns of a mode collapse."""
    span = max(time.time() - window["t"], 1e-9)
    record = {
        "step": step,
        **last,
        "lr_factor": round(factor, 5),
        "images_per_s": window["images"] / span,
        "data_fraction": window["data_s"] / span,
    }
    if last.get("diversity", 1.0) < COLLAPSE_DIVERSITY:
        record["warning"] = f"mode collapse: samples nearly identical (diversity {last['diversity']:.3f} of the data's)"
        bar.write(f"step {step}: {record['warning']}")
    log.write(json.dumps(record) + "\n")
    log.flush()
    bar.set_postfix({k: f"{v:.4g}" for k, v in list(last.items())[:3]} | {"img/s": f"{record['images_per_s']:.0f}"})


def _log_val(log, step: int, val: dict) -> dict:
    """The val figures as a line of metrics.jsonl (none when the run has no val split); returns them."""
    if val:
        log.write(json.dumps({"step": step, "split": "val", **val}) + "\n")
        log.flush()
    return val


def _calibrated(shadow):
    """The EMA model with statistics recomputed for its own weights, where it has any (GANs' BatchNorm)."""
    if hasattr(shadow, "calibrate"):
        shadow.calibrate()
    return shadow


def _init_from(model, model_name: str, run: str, device) -> None:
    from darkroom.models import load_run

    source, info = load_run(run)
    if info["model"] != model_name and info["model"] not in getattr(type(model), "init_from", ()):
        raise ValueError(f"init: {run} is a {info['model']} model, not {model_name}")
    try:
        model.load_state_dict(source.state_dict())
    except RuntimeError as err:
        raise ValueError(f"init: {run} does not fit this {model_name} config: {str(err).splitlines()[0]}") from None
    model.to(device)


@torch.no_grad()
def _validate(model, val_set, config: TrainConfig, device) -> dict:
    if val_set is None or len(val_set) == 0 or not config.val_batches:
        return {}
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    size = min(config.batch_size, len(val_set))
    for b in range(config.val_batches):
        indices = [(b * size + i) % len(val_set) for i in range(size)]
        batch = _to_device(collate([val_set[i] for i in indices]), device)
        for k, v in _scalars(model.loss(batch)).items():
            totals[k] = totals.get(k, 0.0) + v
        count += 1
    model.train(was_training)
    return {k: v / count for k, v in totals.items()}


@torch.no_grad()
def _write_samples(run_dir: Path, step: int, model, batch: dict, model_name: str) -> None:
    preview = getattr(model, "preview", None)
    if preview is None:
        return
    was_training = model.training
    model.eval()
    images = preview(batch).float().cpu()
    model.train(was_training)
    write_image(
        run_dir / "samples" / f"step_{step:08d}.png",
        grid(images, ncol=4),
        provenance={"operation": "train-preview", "model": model_name, "step": step},
    )
