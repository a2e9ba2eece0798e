"""The git state a manifest records: the code's, not that of the reports a run writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from methods import provenance


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_dirty_counts_code_not_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    git(tmp_path, "init", "-q")
    for path in ("bench/code.py", "reports/table2/cpu/table2.csv"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("committed\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    monkeypatch.setattr(provenance, "_ROOT", tmp_path)
    describe = provenance.describe_git.__wrapped__

    (tmp_path / "reports/table2/cpu/table2.csv").write_text("rewritten by a run\n")
    state = describe()
    assert len(state["revision"]) == 40
    assert state["dirty"] is False

    (tmp_path / "bench/code.py").write_text("edited\n")
    assert describe()["dirty"] is True
