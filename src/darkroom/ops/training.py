"""``darkroom train``: resolve configs (TOML < --set < flags), build the model, run the loop."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from darkroom.config import build_config, config_to_dict, read_toml, split_sections
from darkroom.data import load_dataset, parse_spec
from darkroom.data.spec import Spec
from darkroom.io import write_text_atomic
from darkroom.models import build_model, get_model_class, resolve_config
from darkroom.train import TrainConfig, train
from darkroom.train.checkpoint import list_checkpoints
from darkroom.train.distributed import env_rank

STARTED = "started.json"  # the resolved settings, written before step 0
UNTIL_TIME_RUNS_OUT = 10**9  # the step budget of `--minutes M` without `--steps`


def resolve_run(
    model_name: str,
    data: str | None,
    assignments: dict,
    config_file=None,
    flags: dict | None = None,
    resume_from: Path | None = None,
    print_fn=print,
):
    """(model_config, train_config, data_spec) from a TOML file, ``--set`` pairs and explicit flags.

    When resuming, the saved run's configs are the base and only the budget may change.
    """
    cls = get_model_class(model_name)
    sections = {"model": cls.Config, "train": TrainConfig}
    values = read_toml(config_file) if config_file else {}
    file_data = values.pop("data", None)
    routed = split_sections(values, sections)
    for section, pairs in split_sections(assignments, sections).items():
        routed[section].update(pairs)
    routed["train"].update({k: v for k, v in (flags or {}).items() if v is not None})
    if flags and flags.get("minutes") is not None and flags["minutes"] <= 0:
        raise ValueError(f"--minutes must be > 0, got {flags['minutes']:g}")
    if routed["train"].get("minutes") and "steps" not in routed["train"] and resume_from is None:
        routed["train"]["steps"] = UNTIL_TIME_RUNS_OUT  # --minutes alone: a budget of time, not of steps
    if resume_from is not None:
        saved = json.loads((resume_from if resume_from.is_file() else resume_from / "run.json").read_text())
        if saved["model"] != model_name:
            raise ValueError(f"the run was trained as {saved['model']!r}, not {model_name!r}")
        changed = {k for k in routed["train"] if k not in ("steps", "minutes")} | set(routed["model"])
        if changed:
            raise ValueError(
                f"--resume keeps the run's config; only steps and minutes may change (got {', '.join(sorted(changed))})"
            )
        model_config = build_config(cls.Config, saved["model_config"])
        budget = {k: v for k, v in routed["train"].items()}
        train_config = build_config(TrainConfig, {**saved["train_config"], **budget})
        return model_config, train_config, saved["data"]
    spec = data or file_data
    if not spec:
        raise ValueError("no data: pass --data SPEC (e.g. --data scenes)")
    parse_spec(spec)
    data_info = load_dataset(spec).info()
    if (
        not data_info.get("image_size")
        and "image_size" not in routed["model"]
        and any(f.name == "image_size" for f in dataclasses.fields(cls.Config))
    ):
        spec, data_info = _one_size(spec, print_fn)
    if getattr(cls, "power_of_two_size", False) and "image_size" not in routed["model"]:
        spec, data_info = _power_of_two(spec, data_info, print_fn)
    chosen = cls.data_defaults(data_info) if hasattr(cls, "data_defaults") else {}
    chosen = {k: v for k, v in chosen.items() if k not in routed["model"] and k not in routed["train"]}
    if chosen:
        print_fn(
            f"note: defaults for this data ({_shape(data_info)}): "
            + ", ".join(f"{k}={v}" for k, v in chosen.items())
            + " (--set one to override it)"
        )
    model_fields = {f.name for f in dataclasses.fields(cls.Config)}
    model_config = resolve_config(
        model_name, {**{k: v for k, v in chosen.items() if k in model_fields}, **routed["model"]}, data_info
    )
    train_config = build_config(
        TrainConfig,
        {
            **getattr(cls, "train_defaults", {}),
            **{k: v for k, v in chosen.items() if k not in model_fields},
            **routed["train"],
        },
    )
    return model_config, train_config, spec


def _shape(data_info: dict) -> str:
    size = data_info.get("image_size")
    return (
        f"{'x'.join(map(str, size)) if size else 'mixed-size'} px, {data_info.get('channels')} channel(s), "
        f"{data_info.get('count')} images"
    )


MIXED_SIZE_DEFAULT = 64


def _one_size(spec: str, print_fn=print) -> tuple[str, dict]:
    """A folder of mixed image sizes: every image resized (shorter side) and centre-cropped to one size, said once."""
    parsed = parse_spec(spec)
    fitted = str(Spec(parsed.source, parsed.path, {**parsed.options, "size": MIXED_SIZE_DEFAULT}))
    print_fn(
        f"note: {spec} holds images of mixed sizes: each is resized and centre-cropped to "
        f"{MIXED_SIZE_DEFAULT} px ({fitted}); add size=N to the spec to choose"
    )
    return fitted, load_dataset(fitted).info()


def _power_of_two(spec: str, data_info: dict, print_fn=print) -> tuple[str, dict]:
    """A GAN trains at a power-of-two size: square images of another size (MNIST's 28 px) are resized
    to the next one, and the spec says so, unless it names a size itself."""
    parsed, size = parse_spec(spec), data_info.get("image_size")
    if "size" in parsed.options or not size or size[0] != size[1] or not size[0] & (size[0] - 1):
        return spec, data_info
    fitted = str(Spec(parsed.source, parsed.path, {**parsed.options, "size": 1 << (size[0] - 1).bit_length()}))
    print_fn(f"note: {spec} holds {size[0]} px images and GANs train at a power-of-two size: using {fitted}")
    return fitted, load_dataset(fitted).info()


def run_training(
    model_name: str,
    data: str | None,
    out,
    assignments: dict,
    config_file=None,
    flags: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    print_fn=print,
) -> dict:
    out = Path(out)
    main_process = env_rank() == 0  # under torchrun, rank 0 alone speaks and writes
    print_fn = print_fn if main_process else (lambda *a, **k: None)
    checkpoints = list_checkpoints(out) if resume else []
    # killed before its first checkpoint: resume restarts it with the settings it was started with
    started = out / STARTED if resume and not checkpoints and (out / STARTED).is_file() else None
    model_config, train_config, spec = resolve_run(
        model_name, data, assignments, config_file, flags, checkpoints[-1] if checkpoints else started, print_fn
    )
    print_fn(f"model {model_name}: " + json.dumps(config_to_dict(model_config)))
    print_fn("train: " + json.dumps(config_to_dict(train_config)))
    print_fn(f"data: {spec}")
    out.mkdir(parents=True, exist_ok=True)
    if main_process:
        write_text_atomic(
            out / STARTED,
            json.dumps(
                {
                    "model": model_name,
                    "model_config": config_to_dict(model_config),
                    "train_config": config_to_dict(train_config),
                    "data": spec,
                }
            ),
        )
    torch.manual_seed(train_config.seed)  # the initial weights are part of the run
    model = build_model(model_name, model_config)
    return train(
        model_name, model, model_config, train_config, spec, out, resume=resume, progress=progress, print_fn=print_fn
    )
