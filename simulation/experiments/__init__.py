"""Experiments at scale: specs of strategies as overrides, paired comparisons on common random
numbers, a resumable results store, local or Dask execution, sensitivity analysis.

    from simulation.experiments import load_experiment, run_experiment
    from simulation.store import ResultsStore
    exp = load_experiment("experiments/opening-delays.yaml")
    result = run_experiment(exp, ResultsStore("results/sufficiency.duckdb"))
    result.paired()      # mean difference from the baseline, 95% CI, P(cheaper)
"""

from simulation.experiments.driver import ExperimentResult, run_experiment, run_in_memory
from simulation.experiments.paired import paired_differences
from simulation.experiments.spec import (
    Experiment,
    Strategy,
    experiment_from_configs,
    load_experiment,
    parse_experiment,
)

__all__ = [
    "Experiment",
    "ExperimentResult",
    "Strategy",
    "experiment_from_configs",
    "load_experiment",
    "paired_differences",
    "parse_experiment",
    "run_experiment",
    "run_in_memory",
]
