"""What an evaluation keeps to be looked at: the same centre crop of its first test images, noisy, clean
and denoised by every stage, as 8-bit pixels (what a figure shows), so a report can draw the visual
comparison without denoising again."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

#: Test images (the first, in the test set's sorted order) whose crops an evaluation keeps.
VISUAL_IMAGES = 2
#: Side of the centre crop (smaller images are kept whole).
VISUAL_CROP = 128


def encode_crop(image: np.ndarray) -> dict[str, Any]:
    """The centre ``VISUAL_CROP`` square of ``image``, clipped to [0, 1] and rounded to 8 bits, as a
    JSON-ready record (shape and base64 bytes)."""
    height, width = image.shape
    side_y, side_x = min(VISUAL_CROP, height), min(VISUAL_CROP, width)
    top, left = (height - side_y) // 2, (width - side_x) // 2
    crop = np.clip(image[top : top + side_y, left : left + side_x], 0.0, 1.0)
    pixels = np.round(crop * 255.0).astype(np.uint8)
    return {"shape": list(pixels.shape), "uint8": base64.b64encode(pixels.tobytes()).decode("ascii")}


def decode_crop(record: dict[str, Any]) -> np.ndarray:
    """The float32 crop in [0, 1] that :func:`encode_crop` kept."""
    pixels = np.frombuffer(base64.b64decode(record["uint8"]), dtype=np.uint8)
    return pixels.reshape(record["shape"]).astype(np.float32) / 255.0
