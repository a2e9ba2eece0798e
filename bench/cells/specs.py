"""Cells: frozen specs whose hash names a cached result, so a rerun skips finished work.

An experiment expands into :class:`EvalSpec` cells (test data, noise, method, profile, seed) and
:class:`ComputeSpec` cells (a function of the runner, its parameters and a seed). An evaluation needs a
fitted method, itself a :class:`FitSpec` cell cached separately: a method that never sees the cell's
noise (DnCNN-B, BM3D's empty fit) gets ``noise=None`` and is fitted once for a whole table.

A key hashes the spec (each noise and dataset as its name, :func:`describe_cell`), the code that can
change a number (:data:`bench.cells.provenance.CODE_FILES`: packages ``noise``, ``methods`` and
``bench.datasets``, the modules ``bench.cells.crops``, ``bench.cells.metrics``, ``bench.cells.runner``
and this one; a computation adds its own module) and the versions of numpy, torch, bm3d and
scikit-image. Editing a report or the command line keeps every cached result.
:mod:`bench.cells.runner` computes the cells.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from bench.cells.provenance import compute_code_digest
from bench.cells.store import Kind, hash_file
from bench.datasets.base import DatasetSpec
from methods.registry import METHODS
from noise import NoiseModel, NoiseSpec, RealNoise


@dataclass(frozen=True)
class FitSpec:
    """One fitted method.

    ``noise`` is None when the method's training never sees the cell's noise; ``upstream`` holds the
    fit cells of the methods it builds on, by role (N2C(Eq.4): the GAN2GAN whose g_theta1 it uses).
    ``device`` (``cpu`` or ``cuda``) and ``precision`` (``fp32``, ``bf16``) say where and how its network
    trains, so CPU and GPU results never share a cell; a method that trains no network (BM3D) has
    ``cpu`` and ``fp32`` wherever it runs.
    """

    method: str
    params: tuple[tuple[str, Any], ...]
    train_data: DatasetSpec
    train_limit: int | None
    noise: NoiseSpec | None
    seed: int
    upstream: tuple[tuple[str, FitSpec], ...] = ()
    device: str = "cpu"
    precision: str = "fp32"

    @property
    def key(self) -> str:
        """Hash of the spec and the code digest; names the cache folder."""
        return _hash_spec(self)


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation of a fitted method on one noisy test set."""

    fit: FitSpec
    test_data: DatasetSpec
    test_limit: int | None
    test_crop: int | None
    noise: NoiseSpec
    seed: int

    @property
    def key(self) -> str:
        """Hash of the spec and the code digest; names the result file."""
        return _hash_spec(self)


def make_fit_spec(
    method: str,
    *,
    params: dict[str, Any],
    train_data: DatasetSpec,
    train_limit: int | None,
    noise: NoiseSpec,
    seed: int,
    params_of: Callable[[str], dict[str, Any]] | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> FitSpec:
    """The fit cell of ``method`` and of the methods it builds on; drops the noise when none sees it.

    ``params_of(key)`` gives the hyper-parameters of an upstream method (the profile's), before the
    overrides the downstream method declares; ``device`` (``cpu``, ``cuda``) and ``precision`` are where
    and how the networks train (kept only for methods that train one).
    """
    cls = METHODS[method]
    upstream = tuple(
        (
            role,
            make_fit_spec(
                key,
                params={**(params_of(key) if params_of else {}), **overrides},
                train_data=train_data,
                train_limit=train_limit,
                noise=noise,
                seed=seed,
                params_of=params_of,
                device=device,
                precision=precision,
            ),
        )
        for role, (key, overrides) in sorted(cls.upstream.items())
    )
    requires = cls.requires
    own_pair_noise = requires.pairs and cls.pair_noise is not None
    sees_noise = (
        requires.noisy_images
        or requires.noise_model
        or (requires.pairs and not own_pair_noise)
        or any(up.noise for _, up in upstream)
    )
    runs_network = cls.trains_network or cls.trains_on_test_image  # its numbers depend on the device
    return FitSpec(
        method=method,
        params=tuple(sorted(params.items())),
        train_data=train_data,
        train_limit=train_limit,
        noise=noise if sees_noise else None,
        seed=seed,
        upstream=upstream,
        device=device if runs_network else "cpu",
        precision=precision if runs_network else "fp32",
    )


@dataclass(frozen=True)
class ComputeSpec:
    """One computation that is neither a fit nor an evaluation: a Monte Carlo check, the statistics of
    extracted patches, a timing.

    ``function`` names a module-level function ``f(runner, spec) -> dict`` as ``module:name``; its result
    (JSON-able) is cached under ``computed/<key>.json``. ``fits`` are the fits it reads (finished before it
    starts); ``label`` names it in status lines.
    """

    function: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    fits: tuple[FitSpec, ...] = ()
    label: str = ""

    @property
    def key(self) -> str:
        """Hash of the spec, the code digest and the function's module; names the result file."""
        return _hash_spec(self, extra=hash_file(Path(find_function(self.function).__code__.co_filename)))

    @property
    def noise(self) -> NoiseSpec | None:
        """The noise among the parameters, if any (for status lines)."""
        return dict(self.params).get("noise")

    def param(self, name: str) -> Any:
        """The parameter ``name``."""
        return dict(self.params)[name]


def make_compute_spec(
    function: Callable[..., dict[str, Any]],
    *,
    seed: int,
    label: str,
    fits: tuple[FitSpec, ...] = (),
    **params: Any,
) -> ComputeSpec:
    """The computation cell of ``function`` (a module-level function) with keyword ``params``."""
    return ComputeSpec(
        function=f"{function.__module__}:{function.__qualname__}",
        params=tuple(sorted(params.items())),
        seed=seed,
        fits=fits,
        label=label,
    )


def find_function(name: str) -> Callable[..., dict[str, Any]]:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


Cell = EvalSpec | ComputeSpec


def describe_cell(spec: FitSpec | EvalSpec | ComputeSpec) -> dict[str, Any]:
    """A cell as plain JSON-able data, each noise and dataset as its name (what its key hashes and its
    record holds)."""
    return _to_plain(spec)


def _to_plain(value: Any) -> Any:
    if isinstance(value, (RealNoise, NoiseModel)):
        return value.spec
    if isinstance(value, DatasetSpec):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    return value


def _hash_spec(spec: FitSpec | EvalSpec | ComputeSpec, *, extra: str | None = None) -> str:
    plain = json.dumps(describe_cell(spec), sort_keys=True, default=str)
    text = plain + compute_code_digest() + (extra or "")
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def walk_fits(fit: FitSpec) -> Iterator[FitSpec]:
    """``fit`` and every fit it builds on, recursively."""
    yield fit
    for _, up in fit.upstream:
        yield from walk_fits(up)


def kind_of(spec: FitSpec | EvalSpec | ComputeSpec) -> Kind:
    """The kind of a cell (:data:`bench.cells.store.Kind`)."""
    if isinstance(spec, FitSpec):
        return "fit"
    return "compute" if isinstance(spec, ComputeSpec) else "eval"


def list_fits(cell: FitSpec | EvalSpec | ComputeSpec) -> list[FitSpec]:
    """The fits a cell is, evaluates or reads (not those they build on)."""
    if isinstance(cell, FitSpec):
        return [cell]
    return [cell.fit] if isinstance(cell, EvalSpec) else list(cell.fits)
