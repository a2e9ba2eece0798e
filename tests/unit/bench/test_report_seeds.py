"""Tests of the multi-seed reports: mean ± std over seeds in bench.reporting.report and error bars in
bench.reporting.figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

import bench.reporting.figures
from bench.datasets.catalog import DatasetSpec, parse_dataset
from bench.reporting.figures import plot_psnr_against_level
from bench.reporting.published import TableSpec, get_table
from bench.reporting.report import (
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    describe_test_set,
    format_comparison,
    format_seed_count,
    summarise_results,
    write_latex,
    write_markdown,
    write_summary_csv,
)

METHODS = ("BM3D", "N2N")
LEVELS = (15.0, 25.0)


def tidy_frame(seeds: dict[str, tuple[int, ...]], *, seed: int = 0) -> pd.DataFrame:
    """A tidy results frame of Table 2's Gaussian rows: per method the given seeds, random PSNR/SSIM."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "table": "table2",
            "profile": "test",
            "noise": "gaussian",
            "level": level,
            "method": method,
            "seed": s,
            "psnr": 30.0 - level / 10 + rng.normal(0, 0.3),
            "ssim": 0.85 - level / 500 + rng.normal(0, 0.01),
            "ssim_authors": 0.8,
            "n_images": 4,
            "fit_seconds": 1.0,
            "denoise_seconds": 0.5,
            "device": "cpu",
        }
        for method in METHODS
        for level in LEVELS
        for s in seeds[method]
    ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def cell_values(frame: pd.DataFrame, method: str, level: float, metric: str) -> np.ndarray:
    part = frame[(frame["method"] == method) & (frame["level"] == level)]
    return part[metric].to_numpy()


def published(table: TableSpec, method: str, level: float, metric: str) -> float:
    paper = table.load_paper()
    hit = paper[(paper["noise"] == "gaussian") & (paper["level"] == level) & (paper["method"] == method)]
    return float(hit[metric].iloc[0])


@pytest.fixture
def table() -> TableSpec:
    return get_table("table2")


@pytest.fixture
def three_seeds() -> pd.DataFrame:
    return tidy_frame({"BM3D": (0, 1, 2), "N2N": (0, 1, 2)})


def test_summary_has_mean_sample_std_and_seed_count(three_seeds: pd.DataFrame) -> None:
    summary = summarise_results(three_seeds)
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == len(METHODS) * len(LEVELS)
    for row in summary.itertuples(index=False):
        for metric in ("psnr", "ssim"):
            values = cell_values(three_seeds, row.method, row.level, metric)
            assert getattr(row, metric) == pytest.approx(np.mean(values), rel=1e-12)
            assert getattr(row, f"{metric}_std") == pytest.approx(np.std(values, ddof=1), rel=1e-9)
            assert getattr(row, f"{metric}_std") != pytest.approx(np.std(values, ddof=0), rel=1e-6)
        assert row.seeds == 3


def test_summary_std_is_nan_with_one_seed_and_seeds_counts_distinct_seeds() -> None:
    frame = tidy_frame({"BM3D": (7,), "N2N": (0, 1)})
    summary = summarise_results(frame).set_index(["method", "level"])
    assert math.isnan(summary.loc[("BM3D", 15.0), "psnr_std"])
    assert math.isnan(summary.loc[("BM3D", 15.0), "ssim_std"])
    assert summary.loc[("BM3D", 15.0), "psnr"] == cell_values(frame, "BM3D", 15.0, "psnr")[0]
    assert summary.loc[("BM3D", 25.0), "seeds"] == 1
    assert summary.loc[("N2N", 25.0), "seeds"] == 2
    assert format_seed_count(summarise_results(frame)) == "1-2 seeds"


def test_summary_of_no_results_is_empty_with_the_summary_columns() -> None:
    summary = summarise_results(pd.DataFrame(columns=list(RESULT_COLUMNS)))
    assert summary.empty
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert format_seed_count(summary) == ""


def test_markdown_reads_mean_plus_minus_std_for_several_seeds(
    tmp_path: Path, table: TableSpec, three_seeds: pd.DataFrame
) -> None:
    path = tmp_path / "table2.md"
    write_markdown(path, table=table, results=three_seeds, methods=list(METHODS), header="header")
    text = path.read_text()
    for method in METHODS:
        for level in LEVELS:
            psnr = cell_values(three_seeds, method, level, "psnr")
            paper = published(table, method, level, "psnr")
            mean, std = np.mean(psnr), np.std(psnr, ddof=1)
            assert f"{mean:.2f} ± {std:.2f} / {paper:.2f} / {mean - paper:+.2f}" in text
            ssim = cell_values(three_seeds, method, level, "ssim")
            assert f"{np.mean(ssim):.4f} ± {np.std(ssim, ddof=1):.4f} / " in text
    assert "## PSNR (dB): ours (mean ± std) / paper / delta" in text
    assert "over 3 seeds (seeds 0, 1, 2)" in text
    assert "(n=" not in text


def test_markdown_of_one_seed_keeps_the_plain_cell(tmp_path: Path, table: TableSpec) -> None:
    frame = tidy_frame({"BM3D": (0,), "N2N": (0,)})
    path = tmp_path / "table2.md"
    write_markdown(path, table=table, results=frame, methods=list(METHODS), header="header")
    text = path.read_text()
    value = cell_values(frame, "N2N", 25.0, "psnr")[0]
    paper = published(table, "N2N", 25.0, "psnr")
    assert f"| {value:.2f} / {paper:.2f} / {value - paper:+.2f} |" in text
    assert "## PSNR (dB): ours / paper / delta" in text
    assert "±" not in text
    assert "seed" not in text


def test_report_on_another_test_set_names_it_and_leaves_the_paper_out(
    tmp_path: Path, table: TableSpec
) -> None:
    frame = tidy_frame({"BM3D": (0,), "N2N": (0,)})
    test_set = describe_test_set(parse_dataset("folder:/data/mine"), limit=None, crop=None)
    assert describe_test_set(DatasetSpec("bsd68"), limit=None, crop=None) is None
    assert (
        describe_test_set(DatasetSpec("bsd68"), limit=5, crop=None) == "`bsd68`, its first 5 images at most"
    )
    write_markdown(
        tmp_path / "t.md", table=table, results=frame, methods=list(METHODS), header="h", test_set=test_set
    )
    text = (tmp_path / "t.md").read_text()
    assert text.startswith("# Table 2 layout, on `folder:/data/mine`")
    value = cell_values(frame, "N2N", 25.0, "psnr")[0]
    assert f"| {value:.2f} |" in text
    assert f"/ {published(table, 'N2N', 25.0, 'psnr'):.2f}" not in text
    write_latex(tmp_path / "t.tex", table=table, results=frame, methods=list(METHODS), test_set=test_set)
    assert "paper / delta" not in (tmp_path / "t.tex").read_text()


def test_markdown_marks_cells_with_fewer_seeds(tmp_path: Path, table: TableSpec) -> None:
    frame = tidy_frame({"BM3D": (0, 1, 2), "N2N": (0, 1)})
    grid = format_comparison(table, frame, metric="psnr", digits=2, methods=list(METHODS))
    psnr = cell_values(frame, "N2N", 15.0, "psnr")
    mean, std = np.mean(psnr), np.std(psnr, ddof=1)
    assert grid.loc["gaussian 15", "N2N"].startswith(f"{mean:.2f} ± {std:.2f} (n=2) / ")
    assert "(n=" not in grid.loc["gaussian 15", "BM3D"]
    assert "±" in grid.loc["gaussian 15", "BM3D"]
    path = tmp_path / "table2.md"
    write_markdown(path, table=table, results=frame, methods=list(METHODS), header="header")
    assert "over 2-3 seeds" in path.read_text()


def test_latex_uses_pm_for_several_seeds(tmp_path: Path, table: TableSpec, three_seeds: pd.DataFrame) -> None:
    path = tmp_path / "table2.tex"
    write_latex(path, table=table, results=three_seeds, methods=list(METHODS))
    text = path.read_text()
    psnr = cell_values(three_seeds, "BM3D", 15.0, "psnr")
    mean, std = np.mean(psnr), np.std(psnr, ddof=1)
    paper = published(table, "BM3D", 15.0, "psnr")
    assert f"{mean:.2f} $\\pm$ {std:.2f} / {paper:.2f} / {mean - paper:+.2f}" in text
    assert "±" not in text


def test_latex_of_one_seed_has_no_pm(tmp_path: Path, table: TableSpec) -> None:
    path = tmp_path / "table2.tex"
    write_latex(path, table=table, results=tidy_frame({"BM3D": (0,), "N2N": (0,)}), methods=list(METHODS))
    assert r"\pm" not in path.read_text()


def test_summary_csv_round_trips(tmp_path: Path) -> None:
    frame = tidy_frame({"BM3D": (0, 1, 2), "N2N": (4,)})
    path = tmp_path / "table2_summary.csv"
    write_summary_csv(path, frame)
    back = pd.read_csv(path)
    expected = summarise_results(frame)
    assert tuple(back.columns) == SUMMARY_COLUMNS
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, rtol=1e-12)
    assert back["psnr_std"].isna().sum() == len(LEVELS)  # N2N's single seed
    assert set(back["seeds"]) == {1, 3}


def test_figure_draws_error_bars_for_several_seeds(
    tmp_path: Path, table: TableSpec, three_seeds: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = plot_psnr_against_level(
        tmp_path / "table2", table=table, results=three_seeds, methods=list(METHODS), title="Table 2"
    )
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    assert paths[1].read_bytes().startswith(b"%PDF")

    figures: list = []
    monkeypatch.setattr(bench.reporting.figures, "save_figure", lambda fig, stem: figures.append(fig) or [])
    plot_psnr_against_level(
        tmp_path / "x", table=table, results=three_seeds, methods=list(METHODS), title="T"
    )
    (ax,) = figures[0].axes
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer) and len(c.lines[0].get_xdata())]
    assert len(bars) == len(METHODS)
    expected = summarise_results(three_seeds)
    half_heights = sorted(
        float(segment[1, 1] - segment[0, 1]) / 2 for c in bars for segment in c.lines[2][0].get_segments()
    )
    assert half_heights == pytest.approx(sorted(expected["psnr_std"]))
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("± 1 std over 3 seeds" in label for label in labels)


def test_figure_of_one_seed_has_no_error_bars(
    tmp_path: Path, table: TableSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures: list = []
    monkeypatch.setattr(bench.reporting.figures, "save_figure", lambda fig, stem: figures.append(fig) or [])
    frame = tidy_frame({"BM3D": (0,), "N2N": (0,)})
    plot_psnr_against_level(tmp_path / "x", table=table, results=frame, methods=list(METHODS), title="T")
    (ax,) = figures[0].axes
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert "ours (solid)" in [text.get_text() for text in ax.get_legend().get_texts()]
    assert not any("std" in text.get_text() for text in ax.get_legend().get_texts())


def test_paper_grid_flags_typos_and_files_the_paper_formula_under_correlated() -> None:
    table3 = get_table("table3")
    rows = [
        {
            **{c: None for c in RESULT_COLUMNS},
            "noise": noise,
            "level": level,
            "method": method,
            "seed": 0,
            "psnr": 30.0,
            "ssim": 0.8,
        }
        for noise, level, method in (("mixture-B", 50.0, "DnCNN-B"), ("correlated-paper", 25.0, "BM3D"))
    ]
    frame = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    grid = format_comparison(table3, frame, metric="psnr", digits=2, methods=["BM3D", "DnCNN-B"])
    assert grid.loc["mixture-B 50", "DnCNN-B"] == "30.00 / 30.20* / -0.20"  # the flagged typo
    assert grid.loc["correlated-paper 25", "BM3D"] == "30.00 / 26.69 / +3.31"  # the paper's correlated row
