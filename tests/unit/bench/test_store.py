"""The cache's records on a folder that several processes, perhaps on several hosts, write at once."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from bench.cells.store import check_locking, make_temp_path, write_atomic
from bench.config.options import parse_options
from bench.experiments.driver import make_runner
from bench.run import build_parser


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


def test_a_cache_with_flock_is_safe_and_one_without_is_named(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    assert check_locking(cache) is None and cache.is_dir()

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    why = check_locking(cache)
    assert why is not None and str(cache) in why and "without flock (Function not implemented)" in why
    assert "marker files" in why and "-o flock" in why


def test_the_command_warns_once_when_its_cache_has_no_flock(tmp_path: Path, monkeypatch, capsys) -> None:
    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    argv = ["table2", "--profile", "smoke", "--out", str(tmp_path), "--quiet"]
    options = parse_options(build_parser().parse_args(argv), command="table2")
    make_runner(options)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: the cache {tmp_path / '.cache'} is on a")
