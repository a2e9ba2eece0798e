import zlib

import numpy as np
import pytest

from noise import derive_rng, derive_seed


def test_streams_are_repeatable_and_differ_by_seed_and_label():
    a = derive_rng(3, "test-noise", "gaussian:25").standard_normal(5)
    assert np.array_equal(a, derive_rng(3, "test-noise", "gaussian:25").standard_normal(5))
    assert not np.array_equal(a, derive_rng(4, "test-noise", "gaussian:25").standard_normal(5))
    assert not np.array_equal(a, derive_rng(3, "train-noise", "gaussian:25").standard_normal(5))
    assert not np.array_equal(a, derive_rng(3, "test-noise", "gaussian:50").standard_normal(5))


def test_scheme_is_the_seed_sequence_of_seed_and_label_codes():
    # The scheme that earlier reports used, written out: strings enter as CRC-32, integers as they are.
    expected = np.random.default_rng([7, zlib.crc32(b"train-noise"), 0x6A2]).random(3)
    assert np.array_equal(derive_rng(7, "train-noise", 0x6A2).random(3), expected)
    assert np.array_equal(derive_rng(7).random(3), np.random.default_rng(7).random(3))
    assert derive_seed(7, 2) == int(np.random.SeedSequence([7, 2]).generate_state(1)[0])


@pytest.mark.parametrize("label", [-1, 1.5, True, None])
def test_bad_label_is_refused(label):
    with pytest.raises(TypeError, match="label"):
        derive_rng(0, label)
