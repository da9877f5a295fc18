"""Write scikit-learn's 1,797 digits as MNIST's four IDX files, laid out as MNIST is (each 8x8 digit
enlarged to 20x20 and centred in a 28x28 frame; 1,500 train, 297 t10k), so `mnist:DIR` can be tried offline:

    python scripts/digits_as_mnist.py /tmp/mnist-like
    darkroom train gan --data mnist:/tmp/mnist-like --out runs/mnist-like-gan
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def idx(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, 8, ndim), big-endian sizes, then the bytes."""
    return bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


def main(out: Path) -> None:
    digits = load_digits()
    frames = np.zeros((len(digits.images), 28, 28), np.uint8)
    for frame, image in zip(frames, digits.images):
        small = Image.fromarray((image / 16 * 255).astype(np.uint8))
        frame[4:24, 4:24] = np.asarray(small.resize((20, 20), Image.BICUBIC))
    labels = digits.target.astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, part in (("train", slice(0, 1500)), ("t10k", slice(1500, None))):
        (out / f"{prefix}-images-idx3-ubyte").write_bytes(idx(frames[part]))
        (out / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels[part]))
    print(f"wrote {len(frames)} digits as MNIST IDX files in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/digits_as_mnist.py OUT_DIR")
    main(Path(sys.argv[1]))
