"""Every experiment of the suite, one module each, registered here by the name its command takes.

Adding one is one new module with an :class:`~bench.experiments.base.Experiment` subclass and one line
in :data:`EXPERIMENTS` (``python -m bench.run NAME``) or :data:`ABLATIONS` (``python -m bench.ablation
NAME``); the driver (:mod:`bench.experiments.driver`) gives it seeds, executors, ``--collect``, the
report folder and the manifest.
"""

from __future__ import annotations

from bench.experiments.ablation_extraction import ExtractionAblation
from bench.experiments.ablation_generator import GeneratorAblation
from bench.experiments.ablation_init import InitAblation
from bench.experiments.base import Experiment
from bench.experiments.convergence import Convergence
from bench.experiments.fig1 import Figure1
from bench.experiments.fig4 import Figure4
from bench.experiments.perf import Perf
from bench.experiments.tables import Table
from bench.experiments.theorem1 import Theorem1
from bench.experiments.timing import Timing
from bench.reporting.published import TABLES

#: The experiments of ``python -m bench.run``, by command name.
EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        *(Table(spec) for spec in TABLES.values()),
        Theorem1(),
        Figure1(),
        Figure4(),
        Timing(),
        Perf(),
    )
}
#: The ablations of ``python -m bench.ablation``, by name.
ABLATIONS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (ExtractionAblation(), GeneratorAblation(), InitAblation(), Convergence())
}
#: What ``python -m bench.run all`` runs, in order (Figure 4 needs its own data, perf a quiet machine).
ALL: tuple[str, ...] = ("table2", "table3", "n2v-check", "theorem1", "fig1", "timing", *ABLATIONS)
