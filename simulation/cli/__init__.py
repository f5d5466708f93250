"""The ``sufficiency`` command line (entry point ``simulation.cli:main``).

:mod:`~simulation.cli.run` builds the typer ``app`` with ``run``, ``validate``, ``schema`` and
``outputs`` and adds the groups of :mod:`~simulation.cli.experiments` (experiment, compare,
sensitivity, optimise, results), :mod:`~simulation.cli.report` (report, app) and
:mod:`~simulation.cli.calibrate` (calibrate, backtest, synth-903); :mod:`~simulation.cli.common`
holds what they share (consoles, one-line errors, loading a config, the progress bar).
"""

from simulation.cli.run import app, main

__all__ = ["app", "main"]
