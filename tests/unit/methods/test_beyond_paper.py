"""The blind methods beyond the paper (issue 24) against their papers' definitions: Noise2Self's grid masks,
Neighbor2Neighbor's sub-sampler and loss, R2R's recorrupted pairs and test-time average, ZS-N2N's
downsampler, loss and per-image training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from methods.base import TrainingData
from methods.neighbor2neighbor import (
    NEIGHBOUR_PAIRS,
    Neighbor2Neighbor,
    draw_neighbour_pairs,
    neighbor2neighbor_loss,
    subsample,
)
from methods.noise2self import Noise2Self, mask_grid, mask_phase
from methods.r2r import Recorrupted2Recorrupted
from methods.zs_n2n import ZeroShotN2N, downsample_pair, zs_n2n_loss
from noise import parse_noise

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


# Noise2Self ---------------------------------------------------------------------------------------


def test_grid_masks_one_phase_per_patch_uniformly() -> None:
    _, mask = mask_grid(torch.zeros(4000, 16, 16), width=4)
    assert (mask.sum(dim=(1, 2)) == 16).all()  # one pixel in every 4x4 cell
    phases = []
    for m in mask:
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert len(set((ys % 4).tolist())) == 1 and len(set((xs % 4).tolist())) == 1
        phases.append(int(ys[0] % 4 * 4 + xs[0] % 4))
    counts = np.bincount(phases, minlength=16)
    assert counts.min() > 0.75 * counts.mean() and counts.max() < 1.25 * counts.mean()


def test_grid_inputs_interpolate_neighbours_and_are_j_invariant() -> None:
    patches = torch.rand(8, 12, 12)
    inputs, mask = mask_grid(patches, width=4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(inputs[mask == 0], patches[mask == 0])  # only J changes
    b, y, x = (int(v) for v in torch.nonzero(mask[:, 1:-1, 1:-1] == 1)[0])
    y, x = y + 1, x + 1
    window = patches[b, y - 1 : y + 2, x - 1 : x + 2]
    weights = torch.tensor([[0.5, 1, 0.5], [1, 0, 1], [0.5, 1, 0.5]])
    assert float(inputs[b, y, x]) == pytest.approx(float((window * weights).sum() / 6), rel=1e-6)
    # J-invariance: what the network sees on J does not depend on the values on J
    changed = patches + 10 * mask
    again, _ = mask_grid(changed, width=4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(again[mask == 1], inputs[mask == 1])
    with pytest.raises(ValueError, match="width"):
        mask_grid(patches, width=1)


def test_phase_masks_cover_every_pixel_once() -> None:
    patches = torch.rand(2, 9, 10)
    masks = torch.stack([mask_phase(patches, width=3, phase=k)[1] for k in range(9)])
    torch.testing.assert_close(masks.sum(dim=0), torch.ones_like(patches))


def test_j_invariant_inference_ignores_each_pixels_own_value() -> None:
    method = Noise2Self(depth=3, features=4, device="cpu")  # a random net: far from the identity
    image = np.random.default_rng(0).random((16, 18), dtype=np.float32)
    changed = image.copy()
    changed[5, 7] += 1.0
    before, after = method.denoise(image), method.denoise(changed)
    assert after[5, 7] == pytest.approx(before[5, 7], abs=1e-5)  # its own value is never seen
    assert np.abs(after - before).max() > 1e-3  # the neighbours' outputs see it
    single = Noise2Self(depth=3, features=4, inference="single", device="cpu")
    single.net.load_state_dict(method.net.state_dict())
    assert abs(single.denoise(changed)[5, 7] - single.denoise(image)[5, 7]) > 1e-3
    stack = method.denoise(np.stack([image, changed]))
    np.testing.assert_allclose(stack, np.stack([before, after]), atol=1e-6)
    with pytest.raises(ValueError, match="inference"):
        Noise2Self(inference="masked")


# Neighbor2Neighbor --------------------------------------------------------------------------------


def test_subsampler_takes_two_neighbours_of_each_cell() -> None:
    size = 16
    image = torch.arange(size * size, dtype=torch.float32).view(1, 1, size, size).repeat(500, 1, 1, 1)
    first, second = draw_neighbour_pairs((500, size, size), device=CPU)
    g1, g2 = subsample(image, first), subsample(image, second)
    assert g1.shape == (500, 1, size // 2, size // 2)
    y1, x1 = np.divmod(g1.numpy().astype(int), size)
    y2, x2 = np.divmod(g2.numpy().astype(int), size)
    cell = np.arange(size // 2)
    assert (y1 // 2 == cell[:, None]).all() and (x1 // 2 == cell[None, :]).all()  # inside its own cell
    assert (y2 // 2 == y1 // 2).all() and (x2 // 2 == x1 // 2).all()
    assert (np.abs(y1 - y2) + np.abs(x1 - x2) == 1).all()  # 4-neighbours, never the same pixel
    pairs = (first * 4 + second).flatten().numpy()
    counts = np.bincount(pairs, minlength=16)[[a * 4 + b for a, b in NEIGHBOUR_PAIRS]]
    assert counts.min() > 0.9 * counts.mean() and counts.sum() == len(pairs)


def test_neighbor2neighbor_loss_on_hand_made_networks() -> None:
    noisy = torch.rand(6, 1, 8, 8)
    generator_state = torch.get_rng_state()
    # identity: f(g1 y) - g2 y equals the gap g1 f(y) - g2 f(y), so the regulariser vanishes
    loss = neighbor2neighbor_loss(nn.Identity(), noisy, gamma=2.0)
    torch.set_rng_state(generator_state)
    first, second = draw_neighbour_pairs((6, 8, 8), device=CPU)
    expected = (subsample(noisy, first) - subsample(noisy, second)).square().mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)

    class Zero(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0 * x

    # zero map: residual -g2 y, gap 0: (1 + gamma) ||g2 y||^2
    torch.set_rng_state(generator_state)
    loss = neighbor2neighbor_loss(Zero(), noisy, gamma=2.0)
    assert float(loss) == pytest.approx(3 * float(subsample(noisy, second).square().mean()), rel=1e-6)


def test_neighbor2neighbor_needs_even_patches_and_noisy_images() -> None:
    with pytest.raises(ValueError, match="even"):
        Neighbor2Neighbor(patch_size=33, device="cpu")
    method = Neighbor2Neighbor(depth=3, features=8, batch_size=4, patch_size=16, device="cpu")
    with pytest.raises(ValueError, match="noisy images"):
        method.batch_sampler(TrainingData())
    noisy = tuple(np.random.default_rng(0).random((40, 40), dtype=np.float32) for _ in range(2))
    (patches,) = method.batch_sampler(TrainingData(noisy=noisy))()
    assert patches.shape == (4, 16, 16)


# R2R ----------------------------------------------------------------------------------------------


def r2r_data(sigma: float = 25.0) -> TrainingData:
    rng = np.random.default_rng(0)
    noisy = tuple((0.5 + sigma / 255 * rng.standard_normal((64, 64))).astype(np.float32) for _ in range(3))
    return TrainingData(noisy=noisy, noise_model=parse_noise(f"gaussian:{sigma:g}"))


def test_r2r_pairs_recorrupt_one_noisy_patch_with_one_draw() -> None:
    alpha = 0.5
    method = Recorrupted2Recorrupted(
        alpha=alpha, depth=3, features=8, batch_size=256, patch_size=32, device="cpu"
    )
    inputs, targets = method.batch_sampler(r2r_data())()
    noisy = (inputs + alpha**2 * targets) / (1 + alpha**2)  # the patch y the pair was made from
    z = (inputs - noisy) / alpha
    torch.testing.assert_close(targets, noisy - z / alpha)
    assert float(z.std()) == pytest.approx(25 / 255, rel=0.02)
    assert abs(float(torch.corrcoef(torch.stack([z.flatten(), noisy.flatten()]))[0, 1])) < 0.02


def test_r2r_averages_its_recorruptions_at_test_time() -> None:
    image = np.full((64, 64), 0.5, np.float32)
    spreads = {}
    for samples in (1, 4):
        method = Recorrupted2Recorrupted(eval_samples=samples, depth=3, features=8, device="cpu")
        with pytest.raises(RuntimeError, match="after fit"):
            method.denoise(image)
        method.params.update(noise="gaussian:25", eval_seed=7)
        method.net = nn.Sequential()  # identity: the output is the mean of the recorrupted copies
        out = method.denoise(image)
        np.testing.assert_array_equal(out, method.denoise(image))  # seeded: the same every call
        spreads[samples] = float((out - image).std())
    assert spreads[1] == pytest.approx(0.5 * 25 / 255, rel=0.05)
    assert spreads[1] / spreads[4] == pytest.approx(2.0, rel=0.1)


def test_r2r_needs_the_noise_model() -> None:
    assert Recorrupted2Recorrupted.requires.noise_model and not Recorrupted2Recorrupted.requires.blind


# ZS-N2N -------------------------------------------------------------------------------------------


def test_downsampler_means_the_diagonals_of_each_cell() -> None:
    image = torch.tensor([[1.0, 2.0, 5.0], [3.0, 4.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)
    d1, d2 = downsample_pair(image)
    assert d1.shape == d2.shape == (1, 1, 1, 1)  # the odd last row and column are dropped
    assert float(d1) == 2.5 and float(d2) == 2.5  # (2 + 3) / 2 and (1 + 4) / 2


def test_zs_n2n_loss_of_the_zero_network_is_the_halves_difference() -> None:
    noisy = torch.rand(2, 1, 10, 10)

    class Zero(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0 * x

    d1, d2 = downsample_pair(noisy)
    assert float(zs_n2n_loss(Zero(), noisy)) == pytest.approx(float((d1 - d2).square().mean()), rel=1e-6)


def test_zs_n2n_trains_on_the_test_image_and_denoises_it() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    clean = (0.5 + 0.3 * np.sin(xx / 9) * np.cos(yy / 13)).astype(np.float32)
    noisy = (clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32)
    method = ZeroShotN2N(steps=150, step_size=100, channels=16, device="cpu")
    method.fit(TrainingData(), seed=3)
    out = method.denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, method.denoise(noisy))  # a fresh, seeded network every call
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)
