"""The cache's records on a folder that several processes, perhaps on several hosts, write at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cells.store import make_temp_path, write_atomic


def test_temp_names_are_unique_hidden_and_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "fit.json"
    names = {make_temp_path(target) for _ in range(100)}
    assert len(names) == 100  # no pid in them: two hosts' processes may share one
    assert all(p.parent == tmp_path and p.name.startswith(".fit.json.") and p.suffix == ".tmp" for p in names)


def test_a_failed_write_leaves_neither_target_nor_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "fit.json"

    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail)
    assert list(tmp_path.iterdir()) == []
    write_atomic(target, lambda path: path.write_text("whole"))
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]
