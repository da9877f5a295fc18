"""The data layer: dataset specs, the ``scenes`` renderer, photos, degradations."""
from darkroom.data.base import ImageDataset, collate
from darkroom.data.spec import Spec, load_dataset, parse_spec

__all__ = ["ImageDataset", "Spec", "collate", "load_dataset", "parse_spec"]
