"""The examples in the docstrings of the modules that have them run as written."""

import doctest
import importlib

import pytest

MODULES = [
    "noise.seeds",
    "bench.datasets.base",
    "bench.datasets.catalog",
    "bench.datasets.demo",
    "bench.datasets.realnoise",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
