"""The demo report's page: its style, the ``Page`` that writes images and HTML, and figures."""

from __future__ import annotations

import html
from pathlib import Path

import torch

from darkroom.io import write_image, write_text_atomic

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
img.px{image-rendering:pixelated} figure{display:inline-block;margin:6px;vertical-align:top;width:150px}
figure img{width:150px} figcaption{font-size:12px;color:#444} h2{border-bottom:1px solid #ccc}
table{border-collapse:collapse} td,th{padding:2px 8px;border-bottom:1px solid #eee;font-size:13px}"""


class Page:
    def __init__(self, out: Path, seed: int):
        self.out, self.seed = out, seed
        (out / "img").mkdir(parents=True, exist_ok=True)
        self.sections: list[str] = []

    def image(self, name: str, tensor: torch.Tensor, **provenance) -> str:
        write_image(self.out / "img" / name, tensor, provenance={"operation": "demo", **provenance})
        return f"img/{name}"

    def save(self) -> Path:
        body = "\n".join(self.sections)
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>darkroom demo</title>"
            f"<style>{STYLE}</style></head><body><h1>darkroom demo</h1>{body}</body></html>"
        )
        path = self.out / "index.html"
        write_text_atomic(path, page)
        return path


def _figure(src: str, caption: str, pixelated: bool = True) -> str:
    cls = " class='px'" if pixelated else ""
    return f"<figure><img{cls} src='{src}'><figcaption>{html.escape(caption)}</figcaption></figure>"
