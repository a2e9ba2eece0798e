"""Noise2Void: stratified blind-spot masks, neighbour replacement, and a loss that sees masked pixels only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from methods.base import TrainingData
from methods.n2v import Noise2Void, mask_blind_spots
from methods.training import TrainConfig, train_network

CPU = torch.device("cpu")


def draw_mask(shape: tuple[int, int, int], *, percent: float, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    _, mask = mask_blind_spots(torch.zeros(shape), percent=percent, radius=2, replacement="uniform_withCP")
    return mask.numpy().astype(bool)


@pytest.mark.parametrize(("percent", "size", "most"), [(0.198, 64, 9), (1.5, 64, 64), (1.5, 40, 25)])
def test_mask_has_one_pixel_per_box_and_never_more(percent: float, size: int, most: int) -> None:
    box = round(math.sqrt(100 / percent))
    per_side = math.ceil(size / box)
    assert per_side**2 == most
    mask = draw_mask((500, size, size), percent=percent, seed=0)
    counts = mask.sum(axis=(1, 2))
    assert counts.max() <= most
    box_index = (np.arange(size)[:, None] // box) * per_side + np.arange(size)[None, :] // box
    for sample in mask[:50]:
        assert np.bincount(box_index[sample], minlength=most).max() <= 1  # one pixel per box at most
    assert counts.mean() == pytest.approx((size / box) ** 2, rel=0.05)  # border boxes keep a fraction
    # every position is equally likely (1 / box^2), in the border boxes too
    half = size // 2
    assert mask[:, :half, :half].mean() == pytest.approx(1 / box**2, rel=0.15)
    assert mask[:, half:, half:].mean() == pytest.approx(1 / box**2, rel=0.15)


def test_bsd68_recipe_masks_about_eight_pixels_of_a_64_patch() -> None:
    mask = draw_mask((2000, 64, 64), percent=0.198, seed=1)
    assert mask.sum(axis=(1, 2)).mean() == pytest.approx((64 / 22) ** 2, abs=0.1)  # n2v: "8 blind-spots"


@pytest.mark.parametrize("replacement", ["uniform_withCP", "uniform_noCP"])
def test_replacement_is_uniform_over_the_neighbourhood(replacement: str) -> None:
    size, radius = 32, 2
    # each pixel's value encodes its position, so the source of a replacement can be read back
    patches = torch.arange(size * size, dtype=torch.float32).reshape(1, size, size).repeat(2000, 1, 1)
    torch.manual_seed(0)
    inputs, mask = mask_blind_spots(patches, percent=1.5, radius=radius, replacement=replacement)
    inputs, patches, mask = inputs.numpy(), patches.numpy(), mask.numpy().astype(bool)
    np.testing.assert_array_equal(inputs[~mask], patches[~mask])  # only masked pixels change
    b, y, x = np.nonzero(mask)
    src_y, src_x = np.divmod(inputs[b, y, x].astype(int), size)
    dy, dx = src_y - y, src_x - x
    assert np.abs(dy).max() <= radius and np.abs(dx).max() <= radius
    # away from the borders, every offset of the window is equally likely, the centre's too or never
    inner = (y >= radius) & (y < size - radius) & (x >= radius) & (x < size - radius)
    counts = np.bincount(((dy + radius) * (2 * radius + 1) + dx + radius)[inner], minlength=25)
    centre = counts[(2 * radius + 1) ** 2 // 2]
    others = np.delete(counts, (2 * radius + 1) ** 2 // 2)
    if replacement == "uniform_noCP":
        assert centre == 0
    else:
        assert centre == pytest.approx(others.mean(), rel=0.25)
    assert others.min() > 0.75 * others.mean() and others.max() < 1.25 * others.mean()
    # at a border the window is cropped: a pixel of row 0 draws from rows 0..radius only
    assert (y == 0).any() and (dy[y == 0] >= 0).all()


class Offset(nn.Module):
    """Prediction = scale * input + a fixed offset image: lets a test move single predictions."""

    def __init__(self, offset: np.ndarray) -> None:
        super().__init__()
        self.offset = torch.from_numpy(offset)[:, None]
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.offset


def test_loss_ignores_unmasked_pixels() -> None:
    """Changing predictions outside the mask leaves the loss unchanged; inside, it changes it."""
    rng = np.random.default_rng(0)
    inputs = rng.random((4, 16, 16), dtype=np.float32)
    targets = rng.random((4, 16, 16), dtype=np.float32)
    mask = draw_mask(inputs.shape, percent=5, seed=0).astype(np.float32)

    def first_loss(offset: np.ndarray) -> float:
        history = train_network(
            Offset(offset.astype(np.float32)),
            draw_batch=lambda: (inputs, targets, mask),
            config=TrainConfig(steps=1, batch_size=4, patch_size=16, lr=0.0),
            seed=0,
            device=CPU,
            progress=False,
        )
        return history.losses[0]

    base = first_loss(np.zeros_like(inputs))
    assert base == pytest.approx(float(((inputs - targets) ** 2 * mask).sum() / mask.sum()), rel=1e-5)
    assert first_loss(np.where(mask == 0, 5.0, 0.0)) == pytest.approx(base, rel=1e-6)
    assert first_loss(np.where(mask == 1, 0.5, 0.0)) != pytest.approx(base, rel=1e-3)


def test_n2v_batches_come_from_the_noisy_images_only() -> None:
    noisy = tuple(np.random.default_rng(0).random((48, 48), dtype=np.float32) for _ in range(2))
    method = Noise2Void(depth=3, features=8, steps=2, batch_size=4, patch_size=32, percent=1.5, device="cpu")
    inputs, targets, mask = method.batch_sampler(TrainingData(noisy=noisy))()
    assert inputs.shape == targets.shape == mask.shape == (4, 32, 32)
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0} and mask.sum() > 0
    torch.testing.assert_close(inputs[mask == 0], targets[mask == 0])
    # every target is a crop (rotated or flipped) of a training image
    for target in targets.numpy():
        assert any(
            np.array_equal(np.rot90(target, -k), image[y : y + 32, x : x + 32])
            or np.array_equal(np.rot90(target[:, ::-1], -k), image[y : y + 32, x : x + 32])
            for image in noisy
            for k in range(4)
            for y in range(17)
            for x in range(17)
        )
    with pytest.raises(ValueError, match="noisy images"):
        method.batch_sampler(TrainingData())


def test_n2v_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="replacement"):
        Noise2Void(replacement="median", device="cpu")
    with pytest.raises(ValueError, match="percent"):
        Noise2Void(percent=0, device="cpu")
