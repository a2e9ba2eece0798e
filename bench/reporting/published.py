"""Each table of the paper as data: its rows (noises), its columns (methods) and its published numbers."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

from noise import NoiseModel, parse_noise

#: The paper's column order in Tables 2 and 3 (names exactly as in bench/reporting/paper/*.csv).
PAPER_METHODS: tuple[str, ...] = (
    "BM3D",
    "DnCNN-B",
    "N2N",
    "N2V",
    "g_theta2",
    "G2G_1",
    "G2G_2",
    "G2G_3",
    "N2C(Eq.4)",
)

#: Published numbers that are almost certainly typos: kept as published, flagged in reports.
PAPER_NOTES: dict[tuple[str, float, str], str] = {
    ("gaussian", 15.0, "G2G_2"): "published 32.51 exceeds G2G_3 and the upper bound: almost certainly a typo",
    ("mixture-B", 50.0, "DnCNN-B"): "published DnCNN-B and N2N numbers are identical",
    ("mixture-B", 50.0, "N2N"): "published DnCNN-B and N2N numbers are identical",
}


#: Our noise families whose published numbers the paper files under another name: the paper's
#: correlated-noise formula is what the paper says it used, so its numbers are the paper's "correlated" ones.
PAPER_FAMILIES: dict[str, str] = {"correlated-paper": "correlated"}


#: Registry keys of Table 2's columns (Table 3 adds two BM3D variants; the timing adds the blind one).
TABLE2_METHODS: tuple[str, ...] = ("bm3d", "dncnn-b", "n2n", "n2v", "gan2gan", "n2c-eq4", "n2c-oracle")


#: Registry keys of the blind benchmark's methods (``python -m bench.run blind``): those that need
#: nothing but the noisy images, then the informed references (the noise model, clean images or pairs).
BLIND_METHODS: tuple[str, ...] = ("bm3d-blind", "n2v", "n2s", "ne2ne", "zs-n2n", "gan2gan")
INFORMED_METHODS: tuple[str, ...] = ("bm3d", "r2r", "n2n", "n2c-oracle")


class UnknownTableError(ValueError):
    """A table name that the suite does not define."""


@dataclass(frozen=True)
class TableSpec:
    """One table: which noises form its rows and where its published numbers are.

    Parameters
    ----------
    name : str
        Command-line name, e.g. 'table2'.
    title : str
        Caption used in reports.
    noises : tuple of NoiseModel
        The noise of each row.
    paper_csv : str
        File in ``bench/paper`` with columns noise, level, method, psnr, ssim.
    methods : tuple of str
        Registry keys of the methods run by default (the paper's columns we implement).
    columns : tuple of str
        Method names of the published columns, in order (every report keeps them, filled or not).
    sources : str
        Where the published numbers come from, when not (only) the paper's table.
    shown_params : tuple of str
        Hyper-parameters the report lists for each method (those a reader must see are matched).
    metrics : tuple of (column, digits, heading)
        The grids of the report, in order.
    benchmark : bool
        A comparison beyond the paper: the report adds what each method was given (the protocol table)
        and a ranking figure.
    """

    name: str
    title: str
    noises: tuple[NoiseModel, ...]
    paper_csv: str
    methods: tuple[str, ...] = ()
    columns: tuple[str, ...] = PAPER_METHODS
    sources: str = ""
    shown_params: tuple[str, ...] = ()
    metrics: tuple[tuple[str, int, str], ...] = (("psnr", 2, "PSNR (dB)"), ("ssim", 4, "SSIM"))
    benchmark: bool = False

    def load_paper(self) -> pd.DataFrame:
        """The published numbers of this table."""
        with resources.files("bench.reporting.paper").joinpath(self.paper_csv).open() as f:
            return pd.read_csv(f)


def _parse_noises(*specs: str) -> tuple[NoiseModel, ...]:
    return tuple(parse_noise(spec) for spec in specs)


TABLES: dict[str, TableSpec] = {
    "table2": TableSpec(
        name="table2",
        title="Table 2: BSD68, white Gaussian noise (PSNR dB / SSIM)",
        noises=_parse_noises("gaussian:15", "gaussian:25", "gaussian:30", "gaussian:50"),
        paper_csv="table2.csv",
        methods=TABLE2_METHODS,
    ),
    "table3": TableSpec(
        name="table3",
        title="Table 3: BSD68, mixture and correlated noise (PSNR dB / SSIM)",
        noises=_parse_noises(
            "mixture-A:15",
            "mixture-A:25",
            "mixture-B:30",
            "mixture-B:50",
            "correlated:15",
            "correlated:25",
        ),
        paper_csv="table3.csv",
        columns=(PAPER_METHODS[0], "BM3D(PSD)", "BM3D(blind)", *PAPER_METHODS[1:]),
        methods=("bm3d", "bm3d-psd", "bm3d-blind", *TABLE2_METHODS[1:]),
        sources="the paper's Table 3. BM3D(PSD) (told the noise PSD) and BM3D(blind) (sigma estimated from "
        "each image by Chen et al. 2015) are ours; DnCNN-B and N2N are trained on white Gaussian noise "
        "(sigma in [0, 55]) as in the paper, so they are mismatched here.",
    ),
    "blind": TableSpec(
        name="blind",
        title="Blind benchmark: BSD68, white, correlated and mixture noise, one protocol (PSNR dB / SSIM)",
        noises=_parse_noises("gaussian:25", "gaussian:50", "correlated:25", "mixture-B:30"),
        paper_csv="blind.csv",
        methods=BLIND_METHODS + INFORMED_METHODS,
        columns=(
            "noisy input",
            "BM3D(blind)",
            "N2V",
            "N2S",
            "Ne2Ne",
            "ZS-N2N",
            *PAPER_METHODS[4:8],
            "BM3D",
            "R2R",
            "N2N",
            "N2C(oracle)",
        ),
        sources="the GAN2GAN paper's Tables 2 and 3 (the same BSD68 protocol; its N2N is trained on "
        "white Gaussian pairs, sigma in [0, 55], as ours). The Noise2Self, Neighbor2Neighbor, ZS-N2N and "
        "R2R papers report no grayscale BSD68 number under this protocol, so their columns have none.",
        metrics=(
            ("psnr", 2, "PSNR (dB)"),
            ("psnr_8bit", 2, "PSNR (dB) of the outputs quantised to 8 bits"),
            ("ssim", 4, "SSIM"),
        ),
        shown_params=("steps", "batch_size", "patch_size", "gan_steps", "iterations", "g2g_steps"),
        benchmark=True,
    ),
    "n2v-check": TableSpec(
        name="n2v-check",
        title="N2V check: our Noise2Void and the n2v package on the same noisy images (PSNR dB / SSIM)",
        noises=_parse_noises("gaussian:25"),
        paper_csv="n2v_check.csv",
        methods=("n2v", "n2v-official"),
        columns=("N2V", "N2V (official)"),
        sources="N2V: the paper's Table 2 (DnCNN-17, trained as the paper did); N2V (official): the n2v "
        "package's BSD68 reproducibility notebook, last weights, no test-time augmentation (U-Net; PSNR "
        "only). Both are full-length GPU trainings; the profile's masking is the same for both methods.",
        shown_params=("percent", "radius", "replacement", "patch_size", "batch_size", "steps", "lr"),
    ),
}


def get_table(name: str) -> TableSpec:
    """Return the table called ``name``."""
    if name not in TABLES:
        raise UnknownTableError(f"unknown table {name!r}; valid: table1, {', '.join(TABLES)}")
    return TABLES[name]
