"""The one way a seed becomes random streams, for every random draw of the suite.

A stream is named by a seed and labels: numpy's ``default_rng`` seeded with the ``SeedSequence`` of
``[seed, *codes]``, where a string label becomes its CRC-32 and a non-negative integer label is used as
it is. So ``derive_rng(0, "test-noise", "gaussian:25")`` is the test noise of seed 0 at sigma 25, and
``derive_rng(seed)`` is ``default_rng(seed)``. :func:`derive_seed` gives an integer of the same sequence,
for what takes an integer seed (torch's generator).

Examples
--------
>>> a = derive_rng(0, "test-noise", "gaussian:25").random()
>>> b = derive_rng(0, "test-noise", "gaussian:25").random()
>>> a == b, a == derive_rng(1, "test-noise", "gaussian:25").random()
(True, False)
>>> derive_seed(3, 1) == derive_seed(3, 1) != derive_seed(3, 2)
True
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["SEED_SCHEME", "Label", "derive_rng", "derive_seed"]

#: A label of a stream: a purpose (``"test-noise"``), a noise spec, or a small integer (a stage index).
Label = str | int

#: The scheme in words (each report's manifest records it).
SEED_SCHEME = (
    "every random stream is numpy default_rng(SeedSequence([seed, *labels])), a string label entering as "
    "its CRC-32 and an integer label as it is (noise.seeds.derive_rng); test noise: labels 'test-noise' "
    "and the noise spec, drawn over the test images sorted by name; training noise: 'train-noise' and "
    "the noise spec; integer seeds (torch) are the first word of the same sequence (noise.seeds.derive_seed)"
)


def _encode(labels: tuple[Label, ...]) -> list[int]:
    codes = []
    for label in labels:
        if isinstance(label, str):
            codes.append(zlib.crc32(label.encode()))
        elif isinstance(label, (int, np.integer)) and not isinstance(label, bool) and label >= 0:
            codes.append(int(label))
        else:
            raise TypeError(f"a stream label is a string or a non-negative integer, got {label!r}")
    return codes


def derive_rng(seed: int, *labels: Label) -> np.random.Generator:
    """The generator of one purpose of one seed.

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    *labels : str or int
        What the stream is for, e.g. ``"train-noise", "gaussian:25"``.

    Returns
    -------
    numpy.random.Generator
        Seeded with ``SeedSequence([seed, *codes])``.
    """
    return np.random.default_rng([int(seed), *_encode(labels)])


def derive_seed(seed: int, *labels: Label) -> int:
    """An integer seed of one purpose of one seed: the first 32-bit word of the stream's
    ``SeedSequence`` (see :func:`derive_rng`)."""
    return int(np.random.SeedSequence([int(seed), *_encode(labels)]).generate_state(1)[0])
