"""The Denoiser contract (DESIGN.md, "The one interface") checked for every registered method.

Every test is parametrised over ``methods.registry.METHODS``, so a method added to the registry later is
covered without editing this file. Networks are tiny and trained for a few steps: these tests check the
contract (shapes, dtypes, blindness, save/load, determinism), not denoising quality.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import methods.bm3d as bm3d_module
import methods.gan2gan.gan as gan_module
from methods.base import Denoiser, Method, Requirements, TrainingData, build_training_data
from methods.batches import ImageBank
from methods.gan2gan.method import GAN2GAN
from methods.registry import METHODS, UnknownMethodError, find_method, load_method, make_method
from methods.training import use_precision
from noise import NoiseModel, parse_noise
from noise.estimate import estimate_noise_std

KEYS = sorted(METHODS)
#: The keys of the fit tests; a method that runs in an environment of its own (the official n2v) only
#: under its marker, which ``tox -e n2v`` selects.
FIT_KEYS = [
    pytest.param(key, marks=pytest.mark.n2v_official)
    if METHODS[key].unavailable_reason.__func__ is not Method.unavailable_reason.__func__
    else key
    for key in KEYS
]
TINY = {"depth": 3, "features": 8, "steps": 3, "batch_size": 2, "patch_size": 16}
#: GAN2GAN in miniature: its generator keeps the authors' 64x64 output, everything else is tiny.
TINY_GAN2GAN = {
    "window": 64,
    "stride": 4,
    "lam": None,
    "count": 4,
    "gan_steps": 2,
    "gan_batch_size": 2,
    "n_critic": 1,
    "features": 8,
    "g2_depth": 3,
    "g3_depth": 3,
    "critic_features": 8,
    "denoiser_depth": 3,
    "iterations": 2,
    "g2g_steps": 2,
    "g2g_batch_size": 2,
    "g2g_patch_size": 16,
    "g2g_milestones": (),
}
#: The official n2v's U-Net in miniature (its steps must be a multiple of its epochs).
TINY_N2V_OFFICIAL = {
    "steps": 2,
    "epochs": 1,
    "batch_size": 2,
    "patch_size": 16,
    "percent": 1.5,
    "features": 4,
    "residual": False,
}
#: Training images of the fit tests: large enough for a 64x64 extraction window, and nearly flat so
#: that GCBD's rule (3) finds smooth windows.
FIT_SHAPE = (72, 72)
FIT_AMPLITUDE = 0.03
NOISE_SPEC = "gaussian:25"
SEED = 0


def tiny_params(key: str) -> dict[str, Any]:
    """Hyper-parameters that make a method cheap: {} for BM3D, a tiny short-trained net otherwise."""
    if key == "bm3d":
        return {}
    if key == "gan2gan":
        return dict(TINY_GAN2GAN)
    if key == "n2v-official":
        return dict(TINY_N2V_OFFICIAL)
    parameters = inspect.signature(METHODS[key]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(TINY)
    return {name: value for name, value in TINY.items() if name in parameters}


def clean_images(
    count: int = 2, shape: tuple[int, int] = (24, 24), seed: int = 0, amplitude: float = 0.3
) -> list[np.ndarray]:
    """Smooth random float32 images in [0.15, 0.85]."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    images = []
    for _ in range(count):
        fy, fx, phase = rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.4), rng.uniform(0, 6)
        img = 0.5 + amplitude * np.sin(fy * yy + phase) * np.cos(fx * xx) + 0.02 * rng.standard_normal(shape)
        images.append(np.clip(img, 0.15, 0.85).astype(np.float32))
    return images


def noisy_test_image(shape: tuple[int, int] = (20, 28), seed: int = 5) -> np.ndarray:
    clean = clean_images(1, shape, seed=seed)[0]
    noise = parse_noise(NOISE_SPEC).sample(shape, rng=np.random.default_rng(seed + 1))
    return (clean + noise).astype(np.float32)


def training_data(
    key: str, spec: str = NOISE_SPEC, upstream: Mapping[str, Denoiser] | None = None
) -> TrainingData:
    """The data the runner would hand this method: only what its ``requires`` allows."""
    return build_training_data(
        METHODS[key].requires,
        clean=clean_images(shape=FIT_SHAPE, amplitude=FIT_AMPLITUDE),
        noise_model=parse_noise(spec),
        rng=np.random.default_rng(1),
        upstream=upstream,
    )


def fit_method(key: str, seed: int = SEED, spec: str = NOISE_SPEC) -> Denoiser:
    """Fit ``key`` with tiny settings, after the methods it builds on (as the cell runner does)."""
    upstream = {}
    for role, (up_key, overrides) in getattr(METHODS[key], "upstream", {}).items():
        up = make_method(up_key, params={**tiny_params(up_key), **overrides}, device="cpu")
        up.fit(training_data(up_key, spec), seed=seed, progress=False)
        upstream[role] = up
    method = make_method(key, params=tiny_params(key), device="cpu")
    method.fit(training_data(key, spec, upstream), seed=seed, progress=False)
    return method


@pytest.fixture(scope="module")
def fitted() -> dict[str, Denoiser]:
    """One fitted instance per method, shared by the read-only tests (built lazily)."""

    class Cache(dict):
        def __missing__(self, key: str) -> Denoiser:
            self[key] = fit_method(key)
            return self[key]

    return Cache()


def keys_where(predicate, keys=KEYS) -> list:
    return [key for key in keys if predicate(METHODS[getattr(key, "values", [key])[0]].requires)]


# Class attributes and the protocol ----------------------------------------------------------------


def test_registry_is_not_empty_and_keys_are_lower_case() -> None:
    assert {"bm3d", "dncnn-b", "n2c-oracle"} <= set(METHODS)
    for key in METHODS:
        assert key == key.strip().lower()


def test_display_names_are_unique_and_do_not_shadow_other_keys() -> None:
    names = [cls.name.lower() for cls in METHODS.values()]
    assert len(set(names)) == len(names)
    for key, cls in METHODS.items():
        assert cls.name.lower() not in set(METHODS) - {key}


@pytest.mark.parametrize("key", KEYS)
def test_class_declares_name_and_requirements(key: str) -> None:
    cls = METHODS[key]
    assert isinstance(cls.name, str) and cls.name.strip() == cls.name and cls.name
    assert isinstance(cls.requires, Requirements)
    assert not cls.requires.pairs or not cls.requires.blind


@pytest.mark.parametrize("key", KEYS)
def test_instance_satisfies_denoiser_protocol(key: str) -> None:
    method = make_method(key, params=tiny_params(key), device="cpu")
    assert isinstance(method, Denoiser)
    assert method.name == METHODS[key].name
    assert method.requires == METHODS[key].requires
    assert callable(METHODS[key].load)


def test_tiny_params_only_uses_accepted_arguments() -> None:
    assert tiny_params("bm3d") == {}
    for key in KEYS:
        accepted = set()
        for cls in METHODS[key].__mro__:  # keyword arguments forwarded through **kwargs count too
            if "__init__" in vars(cls):
                accepted |= set(inspect.signature(cls.__init__).parameters)
        for name in tiny_params(key):
            assert name in accepted, (key, name)
    assert tiny_params("n2c-oracle") == TINY


# Blindness by construction: build_training_data ---------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_training_data_holds_only_what_the_method_requires(key: str) -> None:
    requires = METHODS[key].requires
    clean = clean_images()
    model = parse_noise(NOISE_SPEC)
    data = build_training_data(requires, clean=clean, noise_model=model, rng=np.random.default_rng(0))
    assert isinstance(data, TrainingData)
    if requires.clean:
        assert data.clean is not None and len(data.clean) == len(clean)
        for got, want in zip(data.clean, clean, strict=True):
            np.testing.assert_array_equal(got, want)
    else:
        assert data.clean is None
    if requires.noise_model:
        assert data.noise_model == model
    else:
        assert data.noise_model is None
    if requires.noisy_images:
        assert len(data.noisy) == len(clean)
    else:
        assert data.noisy == ()


def _leaks(value: Any, clean: list[np.ndarray], model: NoiseModel, path: str) -> list[str]:
    """Every place inside ``value`` that exposes a clean image, the noise model or its level."""
    found: list[str] = []
    if value is None or isinstance(value, (str, bytes, bool)):
        return found
    if isinstance(value, NoiseModel) or value is model:
        found.append(f"{path}: noise model {value!r}")
    elif isinstance(value, np.ndarray):
        for img in clean:
            if value.shape == img.shape and np.allclose(value, img, atol=1e-3):
                found.append(f"{path}: a clean image")
            elif value.shape == img.shape and np.std(value - img) < 0.5 * model.std:
                found.append(f"{path}: an image much closer to clean than the noise allows")
    elif isinstance(value, (int, float, np.number)):
        secrets = (model.std, model.level, model.std**2)
        if any(np.isclose(float(value), s) for s in secrets if s != 0):
            found.append(f"{path}: the noise level {value!r}")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            found += _leaks(v, clean, model, f"{path}[{k!r}]")
    elif isinstance(value, (tuple, list, set, frozenset)):
        for i, v in enumerate(value):
            found += _leaks(v, clean, model, f"{path}[{i}]")
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            found += _leaks(getattr(value, f.name), clean, model, f"{path}.{f.name}")
    return found


def _bank_images(bank: ImageBank) -> list[np.ndarray]:
    """The images an :class:`methods.batches.ImageBank` holds, as arrays."""
    pixels = bank.pixels.cpu().numpy()
    return [
        pixels[offset : offset + h * w].reshape(h, w)
        for offset, (h, w) in zip(bank.offsets.tolist(), bank.shapes.tolist(), strict=True)
    ]


@pytest.mark.parametrize("spec", ["gaussian:25", "correlated:25"])
def test_blind_requirements_expose_neither_clean_images_nor_noise_model(spec: str) -> None:
    blind = Requirements()
    assert blind.blind and blind.noisy_images
    clean = clean_images(3, (32, 32))
    model = parse_noise(spec)
    data = build_training_data(blind, clean=clean, noise_model=model, rng=np.random.default_rng(0))
    fields = dataclasses.fields(TrainingData)
    assert {f.name for f in fields} >= {"noisy", "clean", "noise_model"}
    leaks = []
    for f in fields:
        leaks += _leaks(getattr(data, f.name), clean, model, f.name)
    assert leaks == []
    assert len(data.noisy) == len(clean)


def test_leak_detector_detects_leaks() -> None:
    """The detector used above must flag what a leaking TrainingData would carry."""
    clean = clean_images(2, (32, 32))
    model = parse_noise(NOISE_SPEC)
    full = build_training_data(
        Requirements(clean=True, noise_model=True),
        clean=clean,
        noise_model=model,
        rng=np.random.default_rng(0),
    )
    found = [
        leak for f in dataclasses.fields(full) for leak in _leaks(getattr(full, f.name), clean, model, f.name)
    ]
    assert any(s.startswith("clean[0]") for s in found) and any(s.startswith("noise_model") for s in found)
    assert _leaks({"sigma": model.std}, clean, model, "x") != []
    assert _leaks([clean[1] + 0.001], clean, model, "x") != []


def test_gan2gan_checkpoint_choice_reads_no_clean_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """GAN2GAN's clean-free checkpoint choice (``gan_selection="noise-match"``) sees only what the blind
    training data holds: the leak detector finds nothing in what its monitor is built from."""
    clean = clean_images(3, (96, 96))
    model = parse_noise(NOISE_SPEC)
    data = build_training_data(GAN2GAN.requires, clean=clean, noise_model=model, rng=np.random.default_rng(0))
    seen: list[dict[str, Any]] = []
    original = gan_module.make_monitor

    def spy(generative_model, **kwargs):
        seen.append(kwargs)
        return original(generative_model, **kwargs)

    monkeypatch.setattr(gan_module, "make_monitor", spy)
    method = GAN2GAN(
        window=64,
        stride=8,
        lam=None,
        count=16,
        gan_steps=4,
        gan_batch_size=2,
        n_critic=1,
        features=8,
        g2_depth=3,
        g3_depth=3,
        critic_features=8,
        iterations=0,
        gan_selection="noise-match",
        gan_monitor_every=1,
        device="cpu",
    )
    method.fit(data, seed=0, progress=False)
    assert len(seen) == 1 and method.report["gan"]["selection"] == "noise-match"
    assert 0 <= method.report["gan"]["chosen_step"] <= 4
    inputs = {key: _bank_images(seen[0][key]) for key in ("noisy", "noise")}
    assert len(inputs["noisy"]) == len(clean) and len(inputs["noise"]) > 0
    assert _leaks(inputs, clean, model, "monitor") == []
    assert _leaks({"images": list(clean)}, clean, model, "x") != []  # the detector would see them


def test_training_data_arrays_are_read_only_float32_copies() -> None:
    clean = clean_images()
    model = parse_noise(NOISE_SPEC)
    requires = Requirements(clean=True, noise_model=True, noisy_images=True)
    data = build_training_data(requires, clean=clean, noise_model=model, rng=np.random.default_rng(0))
    assert data.clean is not None
    arrays = [*data.noisy, *data.clean]
    assert len(arrays) == 2 * len(clean)
    for arr in arrays:
        assert arr.dtype == np.float32
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0, 0] = 1.0
    snapshot = [a.copy() for a in arrays]
    for img in clean:  # the caller's arrays stay writable and are not shared
        assert img.flags.writeable
        img += 1.0
    for arr, before in zip(arrays, snapshot, strict=True):
        np.testing.assert_array_equal(arr, before)


def test_training_data_is_frozen() -> None:
    data = build_training_data(
        Requirements(),
        clean=clean_images(),
        noise_model=parse_noise(NOISE_SPEC),
        rng=np.random.default_rng(0),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.clean = tuple(clean_images())  # type: ignore[misc]


def test_noisy_realisation_is_reproducible_per_seed() -> None:
    clean = clean_images()
    model = parse_noise(NOISE_SPEC)

    def noisy(seed: int) -> tuple[np.ndarray, ...]:
        return build_training_data(
            Requirements(), clean=clean, noise_model=model, rng=np.random.default_rng(seed)
        ).noisy

    first, again, other = noisy(3), noisy(3), noisy(4)
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    # the two training images get different noise, not one realisation reused
    assert not np.allclose(first[0] - clean[0], first[1] - clean[1])


@pytest.mark.parametrize("spec", ["gaussian:25", "gaussian:50", "correlated:25"])
def test_noisy_realisation_is_clean_plus_noise_of_the_model_std(spec: str) -> None:
    clean = clean_images(2, (64, 64))
    model = parse_noise(spec)
    data = build_training_data(Requirements(), clean=clean, noise_model=model, rng=np.random.default_rng(0))
    residual = np.stack([n.astype(np.float64) - c for n, c in zip(data.noisy, clean, strict=True)])
    assert residual.shape == (2, 64, 64)
    assert abs(residual.mean()) < 0.2 * model.std
    # correlated noise has a lower variance near the borders: look at the interior
    interior = residual[:, 16:-16, 16:-16] if model.family == "correlated" else residual
    assert interior.std() == pytest.approx(model.std, rel=0.12)


# fit -> denoise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", FIT_KEYS)
def test_denoise_keeps_shape_and_float32(key: str, fitted: dict[str, Denoiser]) -> None:
    noisy = noisy_test_image()
    before = noisy.copy()
    out = fitted[key].denoise(noisy)
    assert isinstance(out, np.ndarray)
    assert out.shape == noisy.shape == (20, 28)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(noisy, before)  # the input is not modified


@pytest.mark.parametrize("key", FIT_KEYS)
def test_stages_are_a_nonempty_mapping_of_denoisers(key: str, fitted: dict[str, Denoiser]) -> None:
    method = fitted[key]
    stages = method.stages()
    assert isinstance(stages, Mapping) and len(stages) > 0
    noisy = noisy_test_image()
    for name, stage in stages.items():
        assert isinstance(name, str) and name
        out = stage.denoise(noisy)
        assert out.shape == noisy.shape and out.dtype == np.float32
    assert list(stages.values())[-1] is method  # "the method itself last"


@pytest.mark.parametrize("key", FIT_KEYS)
def test_save_then_load_gives_identical_output(key: str, fitted: dict[str, Denoiser], tmp_path: Path) -> None:
    method = fitted[key]
    path = tmp_path / f"{key}.ckpt"
    method.save(path)
    assert path.is_file() and path.stat().st_size > 0
    loaded = load_method(key, path, device="cpu")
    assert isinstance(loaded, METHODS[key])
    assert isinstance(loaded, Denoiser)
    noisy = noisy_test_image()
    np.testing.assert_array_equal(loaded.denoise(noisy), method.denoise(noisy))
    # loading through the display name works as well
    np.testing.assert_array_equal(
        load_method(METHODS[key].name, path, device="cpu").denoise(noisy), method.denoise(noisy)
    )


@pytest.mark.parametrize("key", FIT_KEYS)
def test_fit_is_deterministic_for_a_seed(key: str, fitted: dict[str, Denoiser]) -> None:
    noisy = noisy_test_image()
    again = fit_method(key, seed=SEED)
    np.testing.assert_array_equal(again.denoise(noisy), fitted[key].denoise(noisy))


@pytest.mark.parametrize("key", keys_where(lambda r: r.clean or r.noisy_images, FIT_KEYS))
def test_learned_methods_depend_on_the_seed(key: str, fitted: dict[str, Denoiser]) -> None:
    """Makes the determinism test meaningful: a learned method's output is not seed-independent."""
    noisy = noisy_test_image()
    other = fit_method(key, seed=SEED + 1)
    assert not np.array_equal(other.denoise(noisy), fitted[key].denoise(noisy))


@pytest.mark.parametrize("key", keys_where(lambda r: r.noise_model))
def test_fit_without_the_required_noise_model_raises(key: str) -> None:
    full = build_training_data(
        Requirements(clean=True, noise_model=True, noisy_images=True),
        clean=clean_images(),
        noise_model=parse_noise(NOISE_SPEC),
        rng=np.random.default_rng(0),
    )
    method = make_method(key, params=tiny_params(key), device="cpu")
    with pytest.raises(ValueError, match="noise model"):
        method.fit(dataclasses.replace(full, noise_model=None), seed=SEED, progress=False)


@pytest.mark.parametrize("key", keys_where(lambda r: r.clean))
def test_fit_without_the_required_clean_images_raises(key: str) -> None:
    full = build_training_data(
        Requirements(clean=True, noise_model=True, noisy_images=True),
        clean=clean_images(),
        noise_model=parse_noise(NOISE_SPEC),
        rng=np.random.default_rng(0),
    )
    method = make_method(key, params=tiny_params(key), device="cpu")
    with pytest.raises(ValueError, match="clean"):
        method.fit(dataclasses.replace(full, clean=None), seed=SEED, progress=False)


# find_method --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_find_method_accepts_keys_and_names_case_insensitively(key: str) -> None:
    name = METHODS[key].name
    for query in (key, key.upper(), f"  {key} ", name, name.upper(), name.lower(), name.swapcase()):
        assert find_method(query) == key


@pytest.mark.parametrize("query", ["gan2gan-nope", "", "bm3d2", "N2C"])
def test_find_method_unknown_raises_listing_valid_names(query: str) -> None:
    with pytest.raises(UnknownMethodError) as info:
        find_method(query)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert repr(query) in message
    for key, cls in METHODS.items():
        assert key in message and cls.name in message


def test_make_method_rejects_unknown_keys() -> None:
    with pytest.raises(UnknownMethodError):
        make_method("no-such-method", params={}, device="cpu")


# BM3D specifics -----------------------------------------------------------------------------------


def fitted_bm3d(spec: str, key: str = "bm3d", **params: Any) -> Denoiser:
    method = make_method(key, params=params, device="cpu")
    data = build_training_data(
        method.requires, clean=clean_images(), noise_model=parse_noise(spec), rng=np.random.default_rng(0)
    )
    method.fit(data, seed=SEED, progress=False)
    return method


def test_bm3d_improves_psnr_on_white_gaussian_noise() -> None:
    from bench.cells.metrics import compute_psnr

    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    clean = (0.2 + 0.3 * yy + 0.3 * xx).astype(np.float32)
    model = parse_noise("gaussian:25")
    noisy = clean + model.sample(clean.shape, rng=np.random.default_rng(0))
    out = fitted_bm3d("gaussian:25").denoise(noisy)
    before, after = compute_psnr(noisy, clean), compute_psnr(out, clean)
    assert after > before + 5.0, (before, after)


@pytest.mark.parametrize(
    ("key", "spec", "told"),
    [
        ("bm3d", "gaussian:25", "std"),
        ("bm3d", "correlated:25", "std"),
        ("bm3d-psd", "gaussian:10", "std"),
        ("bm3d-psd", "correlated:25", "psd"),
        ("bm3d-blind", "gaussian:25", "estimate"),
        ("bm3d-blind", "correlated:25", "estimate"),
    ],
)
def test_bm3d_variants_pass_what_they_know_of_the_noise(
    key: str, spec: str, told: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[np.ndarray, Any, Any]] = []

    def fake_bm3d(z, sigma_psd, *args, **kwargs):
        calls.append((z, sigma_psd, kwargs.get("profile", args[0] if args else None)))
        return np.asarray(z, dtype=np.float64) * 0 + 0.5

    monkeypatch.setattr(bm3d_module._bm3d, "bm3d", fake_bm3d)
    model = parse_noise(spec)
    noisy = noisy_test_image((24, 20))
    out = fitted_bm3d(spec, key).denoise(noisy)
    assert out.dtype == np.float32 and out.shape == noisy.shape and np.all(out == 0.5)
    assert len(calls) == 1
    z, sigma_psd, profile = calls[0]
    np.testing.assert_array_equal(z, noisy)
    if told == "std":
        assert isinstance(sigma_psd, float)
        assert sigma_psd == pytest.approx(model.std, rel=1e-12)
    elif told == "psd":
        assert isinstance(sigma_psd, np.ndarray)
        assert sigma_psd.shape == noisy.shape
        np.testing.assert_allclose(sigma_psd, model.psd(noisy.shape))
        assert np.ptp(sigma_psd) > 0
    else:
        assert sigma_psd == estimate_noise_std(noisy)
    assert getattr(profile, "num_threads", None) == 1


def test_bm3d_with_the_psd_beats_the_white_noise_assumption_on_correlated_noise() -> None:
    from bench.cells.metrics import compute_psnr

    clean = clean_images(1, (64, 64), seed=3)[0]
    model = parse_noise("correlated:25")
    noisy = clean + model.sample(clean.shape, rng=np.random.default_rng(0))
    white, psd = (fitted_bm3d("correlated:25", key).denoise(noisy) for key in ("bm3d", "bm3d-psd"))
    assert compute_psnr(psd, clean) > compute_psnr(white, clean)


def test_bm3d_runs_for_real_on_correlated_noise() -> None:
    clean = clean_images(1, (32, 32), seed=3)[0]
    model = parse_noise("correlated:25")
    noisy = clean + model.sample(clean.shape, rng=np.random.default_rng(0))
    out = fitted_bm3d("correlated:25").denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.array_equal(out, noisy)
    assert np.mean((out - clean) ** 2) < np.mean((noisy - clean) ** 2)


def test_bm3d_save_load_keeps_noise_and_profile(tmp_path: Path) -> None:
    method = fitted_bm3d("correlated:25", profile="high")
    path = tmp_path / "bm3d.json"
    method.save(path)
    loaded = load_method("bm3d", path, device="cpu")
    assert loaded.profile == "high"
    assert loaded._noise == parse_noise("correlated:25")


def test_bm3d_denoise_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        make_method("bm3d", params={}, device="cpu").denoise(noisy_test_image())


@pytest.mark.parametrize("profile", ["nope", "refilter", "NP", ""])
def test_bm3d_unknown_profile_raises(profile: str) -> None:
    with pytest.raises(ValueError, match="profile"):
        make_method("bm3d", params={"profile": profile}, device="cpu")


@pytest.mark.parametrize("key", [k for k in FIT_KEYS if isinstance(k, str) and METHODS[k].trains_network])
def test_bf16_autocast_trains_every_torch_method(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--precision bf16``: every torch method trains a few steps under bfloat16 autocast (on CPU here,
    as on a GPU), its convolutions really run in bf16, and the fitted method keeps float32 weights and
    denoises to finite float32."""
    dtypes: set[torch.dtype] = set()
    convolve = torch.nn.Conv2d._conv_forward  # (a global forward hook would slow bf16 down 10x)

    def record(self: torch.nn.Conv2d, *args: Any) -> torch.Tensor:
        out = convolve(self, *args)
        if torch.is_grad_enabled():
            dtypes.add(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward", record)
    with use_precision("bf16"):
        method = fit_method(key)
    assert torch.bfloat16 in dtypes
    out = method.denoise(noisy_test_image())
    assert out.dtype == np.float32 and np.isfinite(out).all()
    networks = [v for v in vars(method).values() if isinstance(v, torch.nn.Module)]
    assert all(p.dtype == torch.float32 for net in networks for p in net.parameters())
