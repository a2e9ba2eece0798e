"""Synthetic noise models of the GAN2GAN paper (BSD68 test sets and blind training).

Every model is a frozen dataclass implementing :class:`NoiseModel`. Noise levels are given in
[0, 255] units, as in the paper's tables; :meth:`NoiseModel.sample` returns float32 noise in
*image* units (already divided by 255), neither clipped nor quantised, to be added to a clean
image in [0, 1]. All randomness comes from the explicit ``rng`` argument.

Examples
--------
>>> import numpy as np
>>> model = parse_noise("correlated:25")
>>> str(model), model.family, model.level
('correlated:25', 'correlated', 25.0)
>>> n = model.sample((2, 64, 64), rng=np.random.default_rng(0))
>>> n.dtype, n.shape
(dtype('float32'), (2, 64, 64))
>>> round(model.std * 255 / 25, 4)
0.7787
>>> parse_noise("mixture-B:50") == Mixture("B", 50)
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "VALID_SPECS",
    "Correlated",
    "Mixture",
    "NoiseModel",
    "NoiseSpec",
    "NoiseSpecError",
    "RealNoise",
    "UniformSigmaGaussian",
    "WhiteGaussian",
    "parse_noise",
    "parse_noise_spec",
]

VALID_SPECS: tuple[str, ...] = (
    "gaussian:SIGMA",
    "mixture-A:S",
    "mixture-B:S",
    "correlated:SIGMA",
    "correlated-paper:SIGMA",
    "uniform-gaussian:MIN-MAX",
)


class NoiseSpecError(ValueError):
    """An unknown or malformed noise spec string (or an invalid noise parameter)."""


@runtime_checkable
class NoiseModel(Protocol):
    """Additive noise model.

    Attributes
    ----------
    spec : str
        Canonical spec string, e.g. ``"gaussian:25"``; ``parse_noise(spec) == model``.
    family : str
        Table row family (``"gaussian"``, ``"mixture-A"``, ``"mixture-B"``, ``"correlated"``,
        ``"correlated-paper"``, ``"uniform-gaussian"``).
    level : float
        Level as in the paper's tables (sigma, s, or sigma_max), in [0, 255] units.
    """

    spec: str
    family: str
    level: float

    @property
    def std(self) -> float:
        """Analytic marginal standard deviation in image units."""
        ...

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Draw float32 noise of ``shape`` in image units."""
        ...

    def psd(self, shape: tuple[int, int]) -> np.ndarray:
        """Power spectral density (``bm3d`` convention) in image units."""
        ...


def _format_level(x: float) -> str:
    """Shortest text for ``x`` that parses back to the same float (``25.0`` -> ``"25"``)."""
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def _check_level(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)):
        raise NoiseSpecError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise NoiseSpecError(f"{name} must be non-negative, got {value!r}")


def _white_psd(std: float, shape: tuple[int, int]) -> np.ndarray:
    h, w = (int(s) for s in shape)
    return np.full((h, w), std**2 * h * w, dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# White Gaussian
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhiteGaussian:
    """I.i.d. Gaussian noise N(0, sigma^2), sigma in [0, 255] units.

    Parameters
    ----------
    sigma : float
        Standard deviation in [0, 255] units.
    """

    sigma: float

    def __post_init__(self) -> None:
        _check_level("sigma", self.sigma)
        object.__setattr__(self, "sigma", float(self.sigma))

    family: ClassVar[str] = "gaussian"

    @property
    def level(self) -> float:
        """The table level: sigma."""
        return self.sigma

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``"gaussian:25"``."""
        return f"gaussian:{_format_level(self.sigma)}"

    def __str__(self) -> str:
        return self.spec

    @property
    def std(self) -> float:
        """Marginal std in image units: sigma / 255."""
        return self.sigma / 255.0

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Draw ``rng.standard_normal(shape) * sigma / 255`` as float32."""
        return (rng.standard_normal(shape) * self.sigma / 255.0).astype(np.float32)

    def psd(self, shape: tuple[int, int]) -> np.ndarray:
        """Constant PSD ``(sigma/255)^2 * H * W``."""
        return _white_psd(self.std, shape)


# --------------------------------------------------------------------------------------------------
# Uniform-sigma Gaussian (DnCNN-B blind training)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UniformSigmaGaussian:
    """Gaussian noise with sigma ~ U[sigma_min, sigma_max] (blind training, DnCNN-B).

    One sigma is drawn per 2-D slice: for shape ``(H, W)`` one sigma per call, for shape
    ``(N, H, W)`` (or more leading dims) one sigma per leading index, i.e. an array of shape
    ``shape[:-2]``. Draw order: the sigmas first, then ``rng.standard_normal(shape)``.

    Parameters
    ----------
    sigma_min, sigma_max : float
        Range of sigma in [0, 255] units.
    """

    sigma_min: float = 0.0
    sigma_max: float = 55.0

    family: ClassVar[str] = "uniform-gaussian"

    def __post_init__(self) -> None:
        _check_level("sigma_min", self.sigma_min)
        _check_level("sigma_max", self.sigma_max)
        if self.sigma_min > self.sigma_max:
            raise NoiseSpecError(f"sigma_min ({self.sigma_min}) must be <= sigma_max ({self.sigma_max})")
        object.__setattr__(self, "sigma_min", float(self.sigma_min))
        object.__setattr__(self, "sigma_max", float(self.sigma_max))

    @property
    def level(self) -> float:
        """The table level: sigma_max."""
        return self.sigma_max

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``"uniform-gaussian:0-55"``."""
        return f"uniform-gaussian:{_format_level(self.sigma_min)}-{_format_level(self.sigma_max)}"

    def __str__(self) -> str:
        return self.spec

    @property
    def std(self) -> float:
        """Marginal std in image units: ``sqrt(E[sigma^2]) / 255``."""
        lo, hi = self.sigma_min, self.sigma_max
        if hi == lo:
            return hi / 255.0
        return math.sqrt((hi**3 - lo**3) / (3.0 * (hi - lo))) / 255.0

    def _draw_sigmas(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """One sigma (0-255 units) per 2-D slice of ``shape``, shaped to broadcast against it."""
        lead = shape[:-2]
        sigmas = np.asarray(rng.uniform(self.sigma_min, self.sigma_max, size=lead), dtype=np.float64)
        return sigmas.reshape(lead + (1,) * (len(shape) - len(lead)))

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Draw float32 noise; one sigma per 2-D slice (see class docstring)."""
        shape = tuple(int(s) for s in shape)
        sigmas = self._draw_sigmas(shape, rng)
        return (rng.standard_normal(shape) * sigmas / 255.0).astype(np.float32)

    def psd(self, shape: tuple[int, int]) -> np.ndarray:
        """Constant PSD ``std^2 * H * W`` (the ensemble average over sigma)."""
        return _white_psd(self.std, shape)


# --------------------------------------------------------------------------------------------------
# Mixture
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mixture:
    """Per-pixel mixture: 10% U[-s, s], 20% N(0, std1^2), 70% N(0, std2^2) ([0, 255] units).

    One ``u ~ U[0, 1)`` per pixel picks the component: ``u < 0.1`` uniform, ``0.1 <= u < 0.3``
    the first Gaussian, ``u >= 0.3`` the second. Case A: std1 = 1, std2 = 0.1 (paper: s = 15, 25);
    case B: std1 = 25, std2 = 15 (paper: s = 30, 50).

    Parameters
    ----------
    case : {"A", "B"}
        Which pair of Gaussian stds.
    s : float
        Half-width of the uniform component in [0, 255] units.
    """

    case: Literal["A", "B"]
    s: float

    #: Component proportions (uniform, Gaussian 1, Gaussian 2).
    PROPORTIONS: ClassVar[tuple[float, float, float]] = (0.1, 0.2, 0.7)
    #: (std1, std2) in [0, 255] units per case.
    COMPONENT_STDS: ClassVar[dict[str, tuple[float, float]]] = {"A": (1.0, 0.1), "B": (25.0, 15.0)}

    def __post_init__(self) -> None:
        if self.case not in self.COMPONENT_STDS:
            raise NoiseSpecError(f"mixture case must be 'A' or 'B', got {self.case!r}")
        _check_level("s", self.s)
        object.__setattr__(self, "s", float(self.s))

    @property
    def family(self) -> str:
        """``"mixture-A"`` or ``"mixture-B"``."""
        return f"mixture-{self.case}"

    @property
    def level(self) -> float:
        """The table level: s."""
        return self.s

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``"mixture-A:15"``."""
        return f"{self.family}:{_format_level(self.s)}"

    def __str__(self) -> str:
        return self.spec

    @property
    def std(self) -> float:
        """Marginal std in image units: ``sqrt(0.1 s^2/3 + 0.2 std1^2 + 0.7 std2^2) / 255``."""
        p_u, p_1, p_2 = self.PROPORTIONS
        std1, std2 = self.COMPONENT_STDS[self.case]
        return math.sqrt(p_u * self.s**2 / 3.0 + p_1 * std1**2 + p_2 * std2**2) / 255.0

    def sample_labeled(
        self, shape: tuple[int, ...], *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw noise and the per-pixel component labels (0 uniform, 1 Gaussian 1, 2 Gaussian 2).

        Draw order: ``u = rng.random(shape)``, then the uniform values, then the Gaussian-1 and
        Gaussian-2 values (only as many as there are pixels in each component, in C order).
        """
        p_u, p_1, _ = self.PROPORTIONS
        std1, std2 = self.COMPONENT_STDS[self.case]
        u = rng.random(shape)
        labels = np.full(u.shape, 2, dtype=np.int8)
        labels[u < p_u + p_1] = 1
        labels[u < p_u] = 0
        out = np.empty(u.shape, dtype=np.float64)
        m0, m1, m2 = labels == 0, labels == 1, labels == 2
        out[m0] = rng.uniform(-self.s, self.s, size=int(m0.sum()))
        out[m1] = rng.standard_normal(int(m1.sum())) * std1
        out[m2] = rng.standard_normal(int(m2.sum())) * std2
        return (out / 255.0).astype(np.float32), labels

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Draw float32 mixture noise in image units."""
        return self.sample_labeled(shape, rng=rng)[0]

    def psd(self, shape: tuple[int, int]) -> np.ndarray:
        """Constant PSD ``std^2 * H * W`` (the noise is i.i.d.)."""
        return _white_psd(self.std, shape)


# --------------------------------------------------------------------------------------------------
# Correlated
# --------------------------------------------------------------------------------------------------


def _window_sum(m: np.ndarray, lo: int, hi: int, axis: int, wrap: bool) -> np.ndarray:
    """``out[i] = sum_{d=lo..hi} m[i + d]`` along ``axis``, zero-filled or periodic outside."""
    m = np.moveaxis(m, axis, 0)
    n = m.shape[0]
    before, after = max(0, -lo), max(0, hi)
    pad = [(before, after)] + [(0, 0)] * (m.ndim - 1)
    p = np.pad(m, pad, mode="wrap" if wrap else "constant")
    cs = np.zeros((p.shape[0] + 1, *p.shape[1:]), dtype=np.float64)
    np.cumsum(p, axis=0, out=cs[1:])
    start_top, start_bottom = before + hi + 1, before + lo
    out = cs[start_top : start_top + n] - cs[start_bottom : start_bottom + n]
    return np.moveaxis(out, 0, axis)


def _shift(m: np.ndarray, offset: tuple[int, int], wrap: bool) -> np.ndarray:
    """``out[..., i, j] = m[..., i + dy, j + dx]`` on the last two axes (zero-filled or periodic)."""
    dy, dx = offset
    if wrap:
        return np.roll(m, (-dy, -dx), axis=(-2, -1))
    out = np.zeros_like(m)
    h, w = m.shape[-2:]
    src_y, dst_y = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    src_x, dst_x = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., dst_y, dst_x] = m[..., src_y, src_x]
    return out


@dataclass(frozen=True)
class Correlated:
    """Spatially correlated Gaussian noise of the paper's Table 2 (k x k neighbourhood mixing).

    With ``M ~ N(0, sigma^2)`` i.i.d.:

    * ``mode="code"`` (the authors' notebook, used to make the test sets):
      ``N = 0.7 M + 0.3 C / sqrt(k^2 - 1)`` with
      ``C = scipy.signal.convolve2d(M, K, mode="same", boundary="fill", fillvalue=0)``,
      ``K = ones((k, k))``, ``K[k//2, k//2] = 0``. For even k the flipped kernel makes output
      (i, j) sum M over rows i-k/2..i+k/2-1 and cols j-k/2..j+k/2-1, *including* (i, j) and
      *excluding* (i-1, j-1). Borders are zero-filled, so the variance drops near the borders;
      :attr:`std` is the interior value, ``~0.7787 sigma / 255`` for k = 16.
    * ``mode="paper"`` (the paper's formula): ``N_l = eta M_l + (1 - eta) / sqrt(k^2 - 1) *
      sum_{m in NB_l} M_m`` with ``eta = 1/sqrt(2)`` and ``NB_l`` the k x k window around l
      (offsets ``-(k//2) .. (k-1)//2`` per axis) without l itself. Boundaries are periodic, so the
      noise is exactly stationary everywhere and :meth:`psd` is exact rather than an interior
      approximation. The paper claims the marginal is N(0, sigma^2); that is false for its own
      formula: the std is ``sigma sqrt(eta^2 + (1 - eta)^2) ~ 0.7654 sigma``.

    Parameters
    ----------
    sigma : float
        Std of the white field M in [0, 255] units (the table level).
    k : int
        Window size (16 in the paper).
    mode : {"code", "paper"}
        Which construction (see above).
    """

    sigma: float
    k: int = 16
    mode: Literal["code", "paper"] = "code"

    #: Mixing weights (weight of M_l, weight of the normalised neighbourhood sum) per mode.
    WEIGHTS: ClassVar[dict[str, tuple[float, float]]] = {
        "code": (0.7, 0.3),
        "paper": (1.0 / math.sqrt(2.0), 1.0 - 1.0 / math.sqrt(2.0)),
    }

    def __post_init__(self) -> None:
        _check_level("sigma", self.sigma)
        if self.mode not in self.WEIGHTS:
            raise NoiseSpecError(f"correlated mode must be 'code' or 'paper', got {self.mode!r}")
        if int(self.k) != self.k or self.k < 2:
            raise NoiseSpecError(f"window size k must be an integer >= 2, got {self.k!r}")
        object.__setattr__(self, "sigma", float(self.sigma))
        object.__setattr__(self, "k", int(self.k))

    @property
    def family(self) -> str:
        """``"correlated"`` (code mode) or ``"correlated-paper"``."""
        return "correlated" if self.mode == "code" else "correlated-paper"

    @property
    def level(self) -> float:
        """The table level: sigma."""
        return self.sigma

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``"correlated:25"`` or ``"correlated-paper:25"``."""
        return f"{self.family}:{_format_level(self.sigma)}"

    def __str__(self) -> str:
        return self.spec

    def window(self) -> tuple[int, int, tuple[int, int]]:
        """Window offsets ``lo..hi`` (per axis) and the excluded offset."""
        k = self.k
        if self.mode == "code":
            # convolve2d 'same' with a k x k kernel: out[i] = sum_a K[a] M[i + (k-1)//2 - a].
            lo, hi = (k - 1) // 2 - (k - 1), (k - 1) // 2
            excluded = (k - 1) // 2 - k // 2
        else:
            lo, hi = -(k // 2), (k - 1) // 2
            excluded = 0
        return lo, hi, (excluded, excluded)

    def build_kernel(self) -> tuple[np.ndarray, np.ndarray]:
        """Taps of the linear map from unit white noise to this noise (interior, image units).

        Returns
        -------
        offsets : ndarray of int, shape (n, 2)
            ``(dy, dx)`` offsets.
        weights : ndarray of float, shape (n,)
            ``N[i, j] = sum_t weights[t] * W[i + dy_t, j + dx_t]`` for unit white W (away from
            borders in code mode); weights include ``sigma / 255``.
        """
        lo, hi, excluded = self.window()
        a, b = self.WEIGHTS[self.mode]
        c = b / math.sqrt(self.k**2 - 1)
        taps: dict[tuple[int, int], float] = {(0, 0): a}
        for dy in range(lo, hi + 1):
            for dx in range(lo, hi + 1):
                if (dy, dx) != excluded:
                    taps[(dy, dx)] = taps.get((dy, dx), 0.0) + c
        offsets = np.array(list(taps.keys()), dtype=np.int64)
        weights = np.array(list(taps.values()), dtype=np.float64) * self.sigma / 255.0
        return offsets, weights

    @property
    def std(self) -> float:
        """Marginal std in image units (interior value in code mode)."""
        return float(np.sqrt(np.sum(self.build_kernel()[1] ** 2)))

    def correlate_white(self, m: np.ndarray) -> np.ndarray:
        """Apply the mixing map to a white field ``m`` (last two axes), without sigma scaling.

        In code mode this equals ``0.7 m + 0.3 convolve2d(m, K, "same") / sqrt(k^2 - 1)`` per 2-D
        slice (computed with running sums, so it costs O(H W) per slice); in paper mode the
        window wraps around periodically.
        """
        m = np.asarray(m, dtype=np.float64)
        if m.ndim < 2:
            raise ValueError(f"correlated noise needs at least 2 dims, got shape {m.shape}")
        lo, hi, excluded = self.window()
        wrap = self.mode == "paper"
        box = _window_sum(_window_sum(m, lo, hi, -2, wrap), lo, hi, -1, wrap)
        neighbours = box - _shift(m, excluded, wrap)
        a, b = self.WEIGHTS[self.mode]
        return a * m + (b / math.sqrt(self.k**2 - 1)) * neighbours

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Draw float32 noise; ``M = rng.standard_normal(shape)``, mixed per 2-D slice."""
        m = rng.standard_normal(shape)
        return (self.correlate_white(m) * (self.sigma / 255.0)).astype(np.float32)

    def psd(self, shape: tuple[int, int]) -> np.ndarray:
        """PSD ``|fft2(h)|^2 H W`` with the taps placed circularly (stationary approximation
        in code mode; exact in paper mode)."""
        h, w = (int(s) for s in shape)
        offsets, weights = self.build_kernel()
        kernel = np.zeros((h, w), dtype=np.float64)
        np.add.at(kernel, (offsets[:, 0] % h, offsets[:, 1] % w), weights)
        return np.abs(np.fft.fft2(kernel)) ** 2 * h * w


# --------------------------------------------------------------------------------------------------
# Noise that is in the data
# --------------------------------------------------------------------------------------------------

_REAL_LEVEL_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RealNoise:
    """Noise already in the images (FMD, CT): a level of a real-noise dataset, nothing to draw.

    A cell with this noise trains on the captured noisy images as they are and evaluates the dataset's
    given noisy/clean pairs.

    Parameters
    ----------
    level : str
        The dataset's level, e.g. ``"avg1"`` (FMD) or ``"dose25"`` (CT).

    Examples
    --------
    >>> RealNoise("avg1").spec, parse_noise_spec("real:avg1") == RealNoise("avg1")
    ('real:avg1', True)
    """

    level: str
    family: ClassVar[str] = "real"

    def __post_init__(self) -> None:
        if not (isinstance(self.level, str) and _REAL_LEVEL_RE.match(self.level)):
            raise NoiseSpecError(f"a real-noise level is a name such as 'avg1', got {self.level!r}")

    @property
    def spec(self) -> str:
        return f"real:{self.level}"

    def __str__(self) -> str:
        return self.spec


#: What a cell's noise is: a model to draw from, or the noise already in a real-noise dataset.
NoiseSpec = NoiseModel | RealNoise


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------

#: Largest noise level a spec may name (0-255 units: a std beyond the image range is not a test).
MAX_LEVEL = 255.0
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_SPEC_RE = re.compile(
    rf"^(?P<family>gaussian|mixture-A|mixture-B|correlated|correlated-paper|uniform-gaussian)"
    rf":(?P<a>-?{_NUM})(?:-(?P<b>{_NUM}))?$"
)


def parse_noise(spec: str) -> NoiseModel:
    """Parse a noise spec string into a model.

    Parameters
    ----------
    spec : str
        One of ``gaussian:SIGMA``, ``mixture-A:S``, ``mixture-B:S``, ``correlated:SIGMA``,
        ``correlated-paper:SIGMA``, ``uniform-gaussian:MIN-MAX`` (levels in [0, 255] units,
        int or float).

    Returns
    -------
    NoiseModel
        The model; ``str(model)`` is the canonical spec.

    Raises
    ------
    NoiseSpecError
        Unknown, malformed, or invalid (e.g. negative) spec.

    Examples
    --------
    >>> parse_noise("uniform-gaussian:0-55")
    UniformSigmaGaussian(sigma_min=0.0, sigma_max=55.0)
    """
    valid = ", ".join(VALID_SPECS)
    text = spec.strip() if isinstance(spec, str) else None
    match = _SPEC_RE.match(text) if text is not None else None
    if match is None and text is not None and text.startswith("real:"):
        raise NoiseSpecError(f"noise {spec!r} is the noise in a real-noise dataset, not a model to draw from")
    if match is None:
        raise NoiseSpecError(f"unknown noise spec {spec!r}; valid: {valid}")
    family, a, b = match["family"], float(match["a"]), match["b"]
    if (family == "uniform-gaussian") != (b is not None):
        raise NoiseSpecError(f"unknown noise spec {spec!r}; valid: {valid}")
    if max(a, float(b or 0)) > MAX_LEVEL:
        raise NoiseSpecError(
            f"noise spec {spec!r}: levels are in 0-255 units (the image range), so at most {MAX_LEVEL:g}"
        )
    try:
        if family == "gaussian":
            return WhiteGaussian(a)
        if family in ("mixture-A", "mixture-B"):
            return Mixture(family[-1], a)  # type: ignore[arg-type]
        if family == "correlated":
            return Correlated(a, mode="code")
        if family == "correlated-paper":
            return Correlated(a, mode="paper")
        return UniformSigmaGaussian(a, float(b))  # type: ignore[arg-type]
    except NoiseSpecError as err:
        raise NoiseSpecError(f"invalid noise spec {spec!r} ({err}); valid: {valid}") from None


def parse_noise_spec(spec: str) -> NoiseSpec:
    """Parse the noise of a benchmark cell: a model (:func:`parse_noise`) or ``real:LEVEL``
    (:class:`RealNoise`, the noise already in a real-noise dataset's images).

    Raises
    ------
    NoiseSpecError
        Unknown or malformed spec.

    Examples
    --------
    >>> parse_noise_spec("gaussian:25"), parse_noise_spec("real:avg2")
    (WhiteGaussian(sigma=25.0), RealNoise(level='avg2'))
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if text.startswith("real:"):
        return RealNoise(text[len("real:") :])
    try:
        return parse_noise(spec)
    except NoiseSpecError as error:
        raise NoiseSpecError(f"{error}, real:LEVEL") from None
