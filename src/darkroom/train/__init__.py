"""The one training loop, checkpoints and EMA."""

from darkroom.train.loop import TrainConfig, pick_device, train

__all__ = ["TrainConfig", "pick_device", "train"]
