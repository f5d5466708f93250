"""Capacity simulation of a council's children's homes and placements.

The public API::

    from simulation import load_scenario, run
    scenario = load_scenario("configs/coventry-2023.yaml")
    result = run(scenario, replications=200, seed=1)
    result.stats()      # mean, P5-P95 and 95% CI of every summary metric
    result.weekly       # weekly series per replication
"""

from simulation.errors import Issue, ScenarioError
from simulation.runner import RunResult, run, summarise, weekly_fans
from simulation.scenario import Scenario, load_scenario, parse_scenario

__version__ = "0.1.0"

__all__ = [
    "Issue",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "run",
    "summarise",
    "weekly_fans",
]
