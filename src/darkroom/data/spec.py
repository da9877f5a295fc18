"""Dataset specs: one string, understood by every command.

    scenes                      scenes:size=64,objects=2 (objects=0: one or two at random)
    digits                      photos  /  photos:DIR
    folder:PATH                 mnist:PATH     cifar10:PATH     npz:PATH

Options after the colon are ``key=value`` pairs separated by commas; a bare item is the path.
Files that cannot be read are left out (``dataset.bad_files`` names each and says why); ``strict=1``
makes any of them an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from darkroom.data.base import SPLITS, ImageDataset

COMMON_OPTIONS = {"size": int, "split": str, "limit": int, "grayscale": bool, "strict": bool}


@dataclass(frozen=True)
class Spec:
    source: str
    path: str | None = None
    options: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = ([self.path] if self.path else []) + [f"{k}={_fmt(v)}" for k, v in self.options.items()]
        return self.source + (":" + ",".join(parts) if parts else "")


def _fmt(value) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def _convert(source: str, key: str, text: str, kind: type):
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(text)
    except ValueError:
        raise ValueError(f"{source}: option {key}={text!r} is not a valid {kind.__name__}") from None


def parse_spec(text: str) -> Spec:
    """Parse and validate a spec string; raises ValueError with a one-line message."""
    from darkroom.data.sources import SOURCES

    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty dataset spec; try 'scenes', 'digits', 'photos' or 'folder:PATH'")
    source, _, rest = text.strip().partition(":")
    if source not in SOURCES:
        raise ValueError(f"unknown dataset {source!r} in spec {text!r}; known: {', '.join(SOURCES)}")
    cls = SOURCES[source]
    allowed = {**COMMON_OPTIONS, **cls.OPTIONS}
    path, options = None, {}
    for item in (rest.split(",") if rest else []):
        if "=" not in item:
            if path is not None:
                raise ValueError(f"{source}: two paths in spec {text!r} (options are key=value)")
            path = item
            continue
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in allowed:
            raise ValueError(f"{source}: unknown option {key!r}; allowed: {', '.join(sorted(allowed))}")
        options[key] = _convert(source, key, value.strip(), allowed[key])
    if cls.NEEDS_PATH and not path:
        raise ValueError(f"{source} needs a path: {source}:PATH")
    if path and not cls.NEEDS_PATH and not cls.TAKES_PATH:
        raise ValueError(f"{source} takes no path, got {path!r}")
    split = options.get("split", "train")
    if split not in SPLITS:
        raise ValueError(f"{source}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    for key in ("size", "limit", "patch", "n"):
        if key in options and options[key] <= 0:
            raise ValueError(f"{source}: option {key} must be positive, got {options[key]}")
    return Spec(source, path, options)


def load_dataset(spec: str | Spec, **overrides) -> ImageDataset:
    """Build the dataset a spec names. ``overrides`` replace options (e.g. ``split="val"``)."""
    from darkroom.data.sources import SOURCES

    spec = spec if isinstance(spec, Spec) else parse_spec(spec)
    options = {**spec.options, **{k: v for k, v in overrides.items() if v is not None}}
    spec = Spec(spec.source, spec.path, options)
    strict = options.pop("strict", False)
    dataset = SOURCES[spec.source](spec.path, **options)
    dataset.spec = str(spec)
    if strict and dataset.bad_files:  # strict: any unreadable file is an error, not a file left out
        from darkroom.data.checking import bad_files_error

        raise bad_files_error(dataset.bad_files, len(dataset) + len(dataset.bad_files), f"{spec} (strict)")
    return dataset


def with_option(spec: str, key: str, value) -> str:
    """``spec`` with one option set, e.g. ``with_option("folder:DIR", "strict", True)``."""
    parsed = parse_spec(spec)
    return str(Spec(parsed.source, parsed.path, {**parsed.options, key: value}))
