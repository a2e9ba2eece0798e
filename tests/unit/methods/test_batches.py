"""Training batches on the device: patches cut by ImageBank, noise drawn in torch with the distributions of
noise/'s numpy models (which keep drawing the test sets)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.batches import ImageBank, correlate_white, draw_noise, draw_noise_pair, seeded_generator
from noise import Correlated, Mixture, UniformSigmaGaussian, WhiteGaussian, parse_noise

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


def test_bank_cuts_float32_copies_on_its_device() -> None:
    images = [np.full((30, 40), 0.25, dtype=np.float64), np.full((20, 20), 0.25)]
    bank = ImageBank(images, device=CPU)
    patches = bank.sample(size=16, count=50)
    assert patches.shape == (50, 16, 16) and patches.dtype == torch.float32 and patches.device == CPU
    assert torch.all(patches == 0.25)
    patches[:] = 1.0
    assert np.all(images[0] == 0.25) and torch.all(bank.sample(size=16, count=5) == 0.25)


def test_bank_crops_every_position_of_images_of_different_sizes() -> None:
    size, shapes = 8, [(10, 11), (9, 8), (12, 9)]
    images = [np.arange(h * w, dtype=np.float32).reshape(h, w) + 1000 * i for i, (h, w) in enumerate(shapes)]
    patches = ImageBank(images, device=CPU).sample(size=size, count=3000, augment="none").numpy()
    corners = set()
    for patch in patches:
        i, rest = divmod(int(patch[0, 0]), 1000)
        y, x = divmod(rest, shapes[i][1])
        np.testing.assert_array_equal(patch, images[i][y : y + size, x : x + size])
        corners.add((i, y, x))
    every = {
        (i, y, x) for i, (h, w) in enumerate(shapes) for y in range(h - size + 1) for x in range(w - size + 1)
    }
    assert corners == every


@pytest.mark.parametrize(
    ("augment", "transforms"),
    [
        ("dihedral", lambda a: [t for k in range(4) for t in (np.rot90(a, k), np.rot90(a, k)[:, ::-1])]),
        ("flips", lambda a: [a, a[::-1], a[:, ::-1], a[::-1, ::-1]]),
        ("none", lambda a: [a]),
    ],
)
def test_bank_applies_exactly_the_transforms_asked_for(augment, transforms) -> None:
    image = np.arange(9, dtype=np.float32).reshape(3, 3)  # no symmetry
    patches = ImageBank([image], device=CPU).sample(size=3, count=400, augment=augment).numpy()
    expected = {np.ascontiguousarray(t).tobytes() for t in transforms(image)}
    assert {p.tobytes() for p in patches} == expected


def test_bank_draws_from_torchs_seeded_rng() -> None:
    bank = ImageBank([np.random.default_rng(0).random((50, 60), dtype=np.float32)], device=CPU)
    torch.manual_seed(5)
    a = bank.sample(size=20, count=32)
    torch.manual_seed(5)
    b = bank.sample(size=20, count=32)
    assert torch.equal(a, b) and not torch.equal(a, bank.sample(size=20, count=32))


def test_a_seeded_generator_gives_fixed_crops_and_leaves_the_global_rng_alone() -> None:
    bank = ImageBank([np.random.default_rng(0).random((50, 60), dtype=np.float32)], device=CPU)
    state = torch.get_rng_state()
    a = bank.sample(size=20, count=8, generator=seeded_generator(3, 0x3017, device=CPU))
    b = bank.sample(size=20, count=8, generator=seeded_generator(3, 0x3017, device=CPU))
    c = bank.sample(size=20, count=8, generator=seeded_generator(4, 0x3017, device=CPU))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)


def test_bank_names_the_bad_image() -> None:
    with pytest.raises(ValueError, match=r"image 1 has shape \(40, 15\); patches need at least 16x16"):
        ImageBank([np.zeros((40, 40)), np.zeros((40, 15))], device=CPU).sample(size=16, count=4)
    with pytest.raises(ValueError, match=r"image 0 has shape \(4, 4, 3\); patches need 2-D images"):
        ImageBank([np.zeros((4, 4, 3))], device=CPU)


@pytest.mark.parametrize("model", [Correlated(25), Correlated(25, mode="paper"), Correlated(10, k=5)])
def test_correlation_is_noises_map_exactly(model: Correlated) -> None:
    white = np.random.default_rng(1).standard_normal((3, 37, 41))
    ours = correlate_white(model, torch.from_numpy(white)).numpy()
    np.testing.assert_allclose(ours, model.correlate_white(white), atol=1e-12)


@pytest.mark.parametrize(
    "spec", ["gaussian:25", "mixture-A:15", "mixture-B:50", "correlated:25", "correlated-paper:50"]
)
def test_torch_noise_has_the_models_std_and_psd(spec: str) -> None:
    model = parse_noise(spec)
    noise = draw_noise(model, (256, 32, 32), device=CPU)
    assert noise.dtype == torch.float32 and noise.shape == (256, 32, 32)
    assert float(noise.std()) == pytest.approx(
        model.std, rel=0.03 if spec.startswith("correlated:") else 0.01
    )
    reference = model.sample((256, 32, 32), rng=np.random.default_rng(2))
    psd = np.mean(np.abs(np.fft.fft2(noise.double().numpy())) ** 2, axis=0)
    expected = np.mean(np.abs(np.fft.fft2(reference)) ** 2, axis=0)
    assert np.median(np.abs(psd / expected - 1)) < 0.1


def test_torch_mixture_has_the_components_proportions() -> None:
    model = Mixture("A", 15)
    noise = draw_noise(model, (200_000, 1, 1), device=CPU).numpy().ravel() * 255
    uniform = np.abs(noise) > 4.5  # beyond 4.5 std of the N(0, 1) component: the U[-15, 15] one
    assert uniform.mean() == pytest.approx(0.1 * 10.5 / 15, abs=0.005)
    assert np.abs(noise).max() <= 15
    assert (np.abs(noise) < 0.3).mean() == pytest.approx(0.7 * 0.997 + 0.2 * 0.236 + 0.1 * 0.02, abs=0.01)


def test_uniform_sigma_is_drawn_per_patch_and_shared_by_a_pair() -> None:
    model = UniformSigmaGaussian(0, 55)
    single = draw_noise(model, (2000, 40, 40), device=CPU).numpy()
    sigmas = single.std(axis=(1, 2)) * 255
    assert sigmas.min() < 2 and sigmas.max() > 53
    assert np.quantile(sigmas, [0.25, 0.5, 0.75]) == pytest.approx([13.75, 27.5, 41.25], abs=2)
    first, second = (t.numpy() for t in draw_noise_pair(model, (300, 40, 40), device=CPU))
    np.testing.assert_allclose(first.std(axis=(1, 2)), second.std(axis=(1, 2)), rtol=0.15, atol=0.5 / 255)
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.02


def test_pairs_of_a_fixed_model_are_independent_draws() -> None:
    first, second = draw_noise_pair(WhiteGaussian(25), (100, 32, 32), device=CPU)
    assert float((first - second).std()) * 255 == pytest.approx(25 * np.sqrt(2), rel=0.02)


def test_a_model_without_a_torch_sampler_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="no torch sampler for noise 'plain'"):
        draw_noise("plain", (2, 4, 4), device=CPU)  # type: ignore[arg-type]
