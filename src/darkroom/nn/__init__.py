"""Reusable network blocks."""

from darkroom.nn.blocks import ConvBlock, DownBlock, UpBlock

__all__ = ["ConvBlock", "DownBlock", "UpBlock"]
