"""The crops an evaluation keeps for the visual comparison: the centre square, 8-bit, decoded back."""

from __future__ import annotations

import numpy as np

from bench.cells.crops import VISUAL_CROP, decode_crop, encode_crop


def test_crop_is_the_centre_square_to_half_a_grey_level() -> None:
    image = np.random.default_rng(0).random((300, 200)).astype(np.float32)
    crop = decode_crop(encode_crop(image))
    top, left = (300 - VISUAL_CROP) // 2, (200 - VISUAL_CROP) // 2
    centre = image[top : top + VISUAL_CROP, left : left + VISUAL_CROP]
    assert crop.shape == (VISUAL_CROP, VISUAL_CROP) and crop.dtype == np.float32
    assert np.abs(crop - centre).max() <= 0.5 / 255 + 1e-7


def test_small_images_are_kept_whole_and_clipped() -> None:
    image = np.array([[-0.2, 0.5], [1.3, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(decode_crop(encode_crop(image)), [[0.0, 128 / 255], [1.0, 1.0]])
