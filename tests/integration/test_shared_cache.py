"""Two processes running the same table against one cache at once: both finish, with identical numbers,
and the cache is left whole (every record parses, no temporary or partial files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.conftest import find_report

REPO = Path(__file__).resolve().parents[2]


def test_two_processes_share_one_cache(tmp_path: Path):
    cache = tmp_path / "cache"

    def command(out: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.run",
            "table2",
            "--profile",
            "smoke",
            "--methods",
            "bm3d,n2n",
            "--noise",
            "gaussian:25",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / out),
        ]

    processes = [
        subprocess.Popen(command(out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for out in ("a", "b")
    ]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    for process, err in zip(processes, errors, strict=True):
        assert process.returncode == 0, err
    # each fit ran in exactly one of the processes; the other waited and read its result
    fits_run = sum(err.count("[fit] N2N: fitting") for err in errors)
    assert fits_run == 1, errors

    a = pd.read_csv(find_report(tmp_path / "a", "table2") / "table2.csv")
    b = pd.read_csv(find_report(tmp_path / "b", "table2") / "table2.csv")
    pd.testing.assert_frame_equal(a[["method", "psnr", "ssim"]], b[["method", "psnr", "ssim"]])
    assert len(a) == 2

    records = [*cache.glob("fits/*/fit.json"), *cache.glob("evals/*.json")]
    assert len(records) == 4  # two fits (BM3D, N2N) and two evaluations
    for record in records:
        assert json.loads(record.read_text())["provenance"]["code_digest"]
    leftovers = [p.name for p in cache.rglob("*") if p.name.endswith((".tmp", ".partial.jsonl"))]
    assert leftovers == []
    assert not list(cache.glob("fits/*/checkpoint*"))
