"""Command line: reproduce a table, a figure or a claim of the paper.

Examples
--------
::

    python -m bench.run table1                          # which method needs what (from the registry)
    python -m bench.run table2 --profile smoke          # the whole table in minutes, no download
    python -m bench.run table2 --profile cpu --data-root ../shared/data --methods bm3d --noise gaussian:25
    python -m bench.run table3 --correlated paper       # mixture and correlated noise (paper's formula)
    python -m bench.run n2v-check                       # our N2V against the official n2v package
    python -m bench.run blind --seeds 3                 # blind denoisers beyond the paper, one protocol
    python -m bench.run theorem1 | fig1 | timing        # Theorem 1, Figure 1, inference time
    python -m bench.run fig4 --dataset fmd --data-root DIR   # Figure 4: real noise (FMD WF or CT)
    python -m bench.run all                             # all of the above and the ablations
    python -m bench.run table2 --seeds 3 --executor joblib --jobs 2   # 3 seeds, 2 worker processes
    python -m bench.run table2 --executor slurm --slurm-partition gpu --slurm-gpus 1 --device cuda

    python -m bench.run perf --profile smoke            # speed ratios, small, in seconds

Reports land in ``<out>/<table>/<profile>/`` (``--out`` defaults to ``reports``) for a table's full run,
and beside it, in a folder named for what they hold (``<profile>_methods-bm3d_noise-gaussian25``, with
``_test-...``, ``_train-...``, ``_seeds-...``), for any other: a run never writes over another kind's
report, and a failed one leaves the earlier report whole. Finished cells are cached in ``<out>/.cache``
(``--cache``) and skipped when the command is run again (``--force`` recomputes). Every experiment runs
its cells through ``--executor`` (:mod:`bench.cells.executors`) for every seed of ``--seeds``, and
``--collect`` gathers them; the experiments themselves live in :mod:`bench.experiments`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from bench.config.options import UsageError, add_run_options, call_command, format_examples, parse_options
from bench.datasets.realnoise import LEVELS as REAL_NOISE_LEVELS
from bench.experiments import ABLATIONS, ALL, EXPERIMENTS
from bench.experiments.driver import run_experiment
from bench.experiments.tables import format_table1


def list_commands() -> dict[str, str]:
    """Every command of ``python -m bench.run`` and what it makes (the experiments as registered now)."""
    return {
        "table1": "Table 1: which method needs what (from the registry)",
        **{name: experiment.title for name, experiment in EXPERIMENTS.items()},
        "all": "every table, figure and ablation, sharing one cache",
    }


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench.run`` argument parser; ``--help`` ends with the module's examples."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__.split("\n")[0],
        epilog=format_examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table", nargs="?", help="the command: " + ", ".join(list_commands()))
    parser.add_argument(
        "--dataset",
        choices=tuple(REAL_NOISE_LEVELS),
        help="fig4: the real-noise data under --data-root, FMD wide field (fmd) or CT (ct)",
    )
    parser.add_argument("--methods", help="comma-separated method keys or names (default: the table's)")
    parser.add_argument(
        "--noise", help="comma-separated noise specs, e.g. gaussian:25 (default: the table's)"
    )
    parser.add_argument(
        "--correlated",
        choices=("code", "paper"),
        default="code",
        help="correlated noise as the authors' code made it (default) or by the paper's formula",
    )
    add_run_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    if args.table is None:
        print(format_commands())
        return 0
    return call_command(lambda: run_command(args))


def run_command(args: argparse.Namespace) -> int:
    """Dispatch the parsed command line to its experiment (``all``: every one in :data:`ALL`)."""
    if args.table not in list_commands():
        raise UsageError(f"unknown command {args.table!r}; valid: {', '.join(list_commands())}")
    if args.table == "table1":
        print(format_table1())
        return 0
    options = parse_options(args, command=args.table)
    if args.table != "all":
        return run_experiment(EXPERIMENTS[args.table], options)
    print(format_table1())
    # what every experiment takes; --methods, --noise, --correlated and --dataset are one experiment's
    options = replace(options, methods=None, noises=None, correlated="code", dataset=None)
    status = 0
    for name in ALL:
        experiment = EXPERIMENTS.get(name) or ABLATIONS[name]
        print(f"[all] {name}", file=sys.stderr)
        status |= call_command(lambda experiment=experiment: run_experiment(experiment, options))
    return status


def format_commands() -> str:
    """What ``python -m bench.run`` alone prints: every command, one line each, and where to read more."""
    commands = list_commands()
    width = max(map(len, commands))
    lines = [f"  {name:<{width}}  {about}" for name, about in commands.items()]
    return "\n".join(
        [
            "usage: python -m bench.run COMMAND [options]   (python -m bench.run --help for the options)",
            "",
            "commands:",
            *lines,
            "",
            f"ablations: python -m bench.ablation {{{','.join(ABLATIONS)}}}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
