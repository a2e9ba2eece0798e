"""Command line: the paper's ablations (section 5.3), each a CSV, a Markdown table and a figure.

Examples
--------
::

    python -m bench.ablation extraction --profile smoke   # Figures 2 and 5: rule (3) against rule (4)
    python -m bench.ablation generator                    # Figure 6(a): g_theta2 without L_Z, L_cyc, sigmoid
    python -m bench.ablation init                         # Figure 6(b): G2G_j from g_theta2 or from Z
    python -m bench.ablation convergence --profile cpu    # GAN2GAN's GAN: the authors' critics and ours

Fits and evaluations are cells of the same cache as ``python -m bench.run`` (``<out>/.cache``), so the
GAN2GAN and N2C(Eq.4) fits of Tables 2 and 3 are reused. Reports land in
``<out>/ablation-<name>/<profile>/`` (the convergence study in ``<out>/gan2gan-convergence/<profile>/``;
with another test or training set or seed, beside it in a folder named for them, as ``bench.run`` does).
"""

from __future__ import annotations

import argparse
import sys

from bench.config.options import add_run_options, call_command, format_examples, parse_options
from bench.experiments import ABLATIONS
from bench.experiments.driver import run_experiment


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench.ablation`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ablation",
        description=__doc__.split("\n")[0],
        epilog=format_examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ablation", choices=tuple(ABLATIONS))
    add_run_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ablation; a user error prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    return call_command(
        lambda: run_experiment(ABLATIONS[args.ablation], parse_options(args, command=args.ablation))
    )


if __name__ == "__main__":
    sys.exit(main())
