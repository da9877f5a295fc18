"""MkDocs hooks: the CLI reference (cli.md) is generated from darkroom's own parser and the model cards
page (models.md) from the shipped cards, at build time, so neither can fall behind the code."""

from __future__ import annotations

import argparse
import json
import re


def cli_reference() -> str:
    from darkroom.cli import commands

    parts = []
    for path, parser in commands():
        title = " ".join(("darkroom", *path))
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
        parts.append(f"## `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def _value(value) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def model_cards() -> str:
    from darkroom.weights import shipped_weights

    parts = []
    for card in shipped_weights():
        rows = "\n".join(
            f"| {key} | {_value(card[key])} |" for key in ("model", "data", "step", "device") if key in card
        )
        measured = card.get("measured", {})
        figures = "\n".join(f"| {key} | {_value(value)} |" for key, value in measured.items())
        size = f"{card['size_bytes'] / 1e6:.1f} MB, {card.get('stored_dtype', 'float32')}"
        parts.append(
            f"## {card['name']}\n\n{card.get('summary', '')}\n\n| | |\n|---|---|\n| size | {size} |\n"
            f"{rows}\n" + (f"\n| measured | |\n|---|---|\n{figures}\n" if figures else "")
        )
    return "\n".join(parts)


def home() -> str:
    """The README, its links made relative to docs/ (files outside docs/ named as code)."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    text = re.sub(r"\[([^\]]+)\]\((CONTRIBUTING\.md|experiments/)\)", r"`\2`", text)
    text = text.replace("](docs/)", "](index.md)")
    return text.replace("](docs/", "](")


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- readme -->" in markdown:
        markdown = markdown.replace("<!-- readme -->", home())
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- model-cards -->" in markdown:
        markdown = markdown.replace("<!-- model-cards -->", model_cards())
    return markdown
