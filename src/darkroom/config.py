"""Frozen dataclass configs built from ``key=value`` strings, TOML files and JSON.

Unknown keys and values of the wrong type are errors, never silently ignored.

    >>> build_config(TrainConfig, {"lr": "3e-4", "steps": 200})
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _field_types(cls) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _parse_value(name: str, value, kind):
    """Convert ``value`` (a string from the command line, or a TOML/JSON value) to ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _parse_value(name, value, arg)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{name}: cannot be {value!r}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        item_kind = args[0] if args else str
        return tuple(
            _parse_value(name, item.strip() if isinstance(item, str) else item, item_kind)
            for item in items
            if not (isinstance(item, str) and not item.strip())
        )
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{name}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        try:
            number = float(value)  # accepts "1e3"
        except ValueError:
            raise ValueError(f"{name}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected text, got {value!r}")
        return value
    raise ValueError(f"{name}: unsupported config type {kind}")


def build_config(cls, values: dict | None = None, base=None):
    """Instance of dataclass ``cls`` from ``values`` (strings or typed), over ``base`` or the defaults."""
    kinds = _field_types(cls)
    values = values or {}
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}; known: {', '.join(kinds)}")
    parsed = {key: _parse_value(key, value, kinds[key]) for key, value in values.items()}
    config = dataclasses.replace(base, **parsed) if base is not None else cls(**parsed)
    check = getattr(config, "check", None)
    if check:
        check()
    return config


def config_to_dict(config) -> dict:
    return {
        f.name: (list(v) if isinstance(v := getattr(config, f.name), tuple) else v) for f in dataclasses.fields(config)
    }


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["lr=1e-3", "model.width=32"]`` -> ``{"lr": "1e-3", "model.width": "32"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def read_toml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such config file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None


def split_sections(values: dict, sections: dict[str, type]) -> dict[str, dict]:
    """Route keys to config classes: ``model.width`` or ``[model] width`` goes to ``sections['model']``;
    a bare key goes to the one section that has it (an error if none or several do)."""
    out = {name: {} for name in sections}
    for key, value in values.items():
        if key in sections and isinstance(value, dict):
            for sub, v in value.items():
                out[key][sub] = v
            continue
        head, dot, tail = key.partition(".")
        if dot and head in sections:
            out[head][tail] = value
            continue
        owners = [name for name, cls in sections.items() if key in _field_types(cls)]
        if not owners:
            known = ", ".join(f"{n}.{k}" for n, c in sections.items() for k in _field_types(c))
            raise ValueError(f"unknown config key {key!r}; known: {known}")
        if len(owners) > 1:
            raise ValueError(f"config key {key!r} is ambiguous: write {' or '.join(f'{o}.{key}' for o in owners)}")
        out[owners[0]][key] = value
    return out
