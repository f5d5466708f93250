"""Config validation: every bad input is one clear issue naming the field path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from simulation import ScenarioError, load_scenario, parse_scenario
from simulation.distributions import (
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    Lognormal,
    Triangular,
    Uniform,
    Weibull,
)

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

BASE: dict[str, Any] = {
    "name": "t",
    "run": {"start_date": "2024-04-01", "horizon_years": 3},
    "demand": {
        "needs": {
            "ebd": {
                "arrivals_per_year": 10,
                "length_of_stay_days": {"dist": "lognormal", "mean": 300, "cv": 0.8},
            }
        }
    },
    "provision": {
        "homes": [{"name": "A", "beds": 4, "needs": ["ebd"], "weekly_running_cost_gbp": 20000}],
        "spot": {"weekly_price_gbp": {"dist": "fixed", "value": 6000}, "in_city_share": 0.2},
    },
    "placement_policy": {"order": ["internal", "spot"]},
    "step_down": {"routes": {"ebd": {"foster": 0.3, "home": 0.3, "supported": 0.4}}},
}


def issue_of(mutate: Any) -> str:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "x.yaml")
    return str(info.value.issues[0])


def test_base_is_valid() -> None:
    s = parse_scenario(BASE)
    assert s.horizon_days == 1095
    assert parse_scenario(s.to_dict()) == s  # round trip


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (
            lambda d: d["demand"]["needs"]["ebd"].update(arivals_per_year=3),
            "demand.needs.ebd.arivals_per_year",
            "did you mean 'arrivals_per_year'",
        ),
        (
            lambda d: d["demand"]["needs"]["ebd"].update(arrivals_per_year=-3),
            "demand.needs.ebd.arrivals_per_year",
            "greater than or equal to 0",
        ),
        (
            lambda d: d["provision"]["homes"][0].update(open_date="2040-01-01"),
            "provision.homes[0].open_date",
            "after the end of the run",
        ),
        (
            lambda d: d["demand"]["needs"]["ebd"]["length_of_stay_days"].update(cvv=1),
            "demand.needs.ebd.length_of_stay_days.cvv",
            "allowed: mean, cv",
        ),
        (
            lambda d: d["demand"]["needs"]["ebd"]["length_of_stay_days"].update(dist="lognorm"),
            "demand.needs.ebd.length_of_stay_days",
            "'lognormal'",
        ),
        (
            lambda d: d["provision"]["homes"][0].update(needs=["edb"]),
            "provision.homes[0].needs[0]",
            "allowed: ebd",
        ),
        (
            lambda d: d["placement_policy"].update(order=["spot", "internal"]),
            "placement_policy.order",
            "must end with spot",
        ),
        (
            lambda d: d["placement_policy"].update(order=["internal", "spott"]),
            "placement_policy.order[1]",
            "'spot'",
        ),
        (
            lambda d: d["step_down"]["routes"]["ebd"].update(foster=0.5),
            "step_down.routes.ebd",
            "sum to 1",
        ),
        (lambda d: d.update(extra=1), "extra", "allowed: name, description, run"),
        (
            lambda d: d["demand"].update(
                initial_cohort=[{"need": "ebd", "provision": "internal", "count": 5}]
            ),
            "demand.initial_cohort[0].count",
            "do not fit",
        ),
        (
            lambda d: d["demand"]["needs"]["ebd"].update(seasonality={"june": 1.2}),
            "demand.needs.ebd.seasonality.june",
            "'jun'",
        ),
        (
            lambda d: d["demand"].update(
                initial_cohort=[{"need": "ebd", "provision": "block", "unit": "A"}]
            ),
            "demand.initial_cohort[0].unit",
            "no block unit 'A'",
        ),
        (
            lambda d: d["provision"]["homes"][0].update(
                open_date="2025-01-01", close_date="2024-06-01"
            ),
            "provision.homes[0].close_date",
            "not after opening",
        ),
        (
            lambda d: d["provision"]["homes"].append(dict(d["provision"]["homes"][0])),
            "provision.homes[1].name",
            "used twice",
        ),
        (lambda d: d["run"].update(horizon_years=0), "run.horizon_years", "greater than 0"),
        (
            lambda d: d.update(
                staffing={"homes": [{"home": "A", "establishment_fte": 12.4, "initial_fte": 13}]}
            ),
            "staffing.homes[0].initial_fte",
            "exceeds the establishment of 12 posts",
        ),
        (lambda d: d["run"].update(start_date="2024-13-01"), "run.start_date", "month"),
    ],
)
def test_bad_config_names_field(mutate: Any, path: str, words: str) -> None:
    message = issue_of(mutate)
    assert message.startswith(path + ":"), message
    assert words in message, message
    assert "\n" not in message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="line 2"):
        load_scenario(bad)


@pytest.mark.parametrize(
    "dist",
    [
        Exponential(dist="exponential", mean=50),
        Lognormal(dist="lognormal", mean=50, cv=0.8),
        Gamma(dist="gamma", mean=50, cv=0.5),
        Weibull(dist="weibull", shape=1.5, scale=50),
        Triangular(dist="triangular", min=10, mode=20, max=60),
        Uniform(dist="uniform", min=10, max=60),
        Fixed(dist="fixed", value=42),
        Empirical(dist="empirical", values=[10, 20, 90], weights=[1, 2, 1]),
    ],
    ids=lambda d: d.dist,
)
def test_distribution_mean_and_cdf(dist: Any) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    x = dist.sample(rng, 200_000)
    se = max(x.std() / np.sqrt(len(x)), 1e-9)
    assert abs(x.mean() - dist.mean) < 5 * se + 1e-9
    # ppf and cdf are inverses in distribution: F(X) is uniform for continuous laws.
    if dist.dist not in ("fixed", "empirical"):
        u = dist.cdf(x)
        assert abs(u.mean() - 0.5) < 0.01
        # residual draws conditioned on exceeding a threshold stay above it
        lower = np.full(1000, float(np.median(x)))
        assert np.all(dist.ppf_above(rng.random(1000), lower) >= lower)


def test_distribution_parameters_validated() -> None:
    with pytest.raises(ValueError):
        Triangular(dist="triangular", min=10, mode=5, max=20)
    with pytest.raises(ValueError):
        Empirical(dist="empirical", values=[1, 2], weights=[1])
    with pytest.raises(ValueError):
        Lognormal(dist="lognormal", mean=-1, cv=1)


def test_config_reference_is_current() -> None:
    from simulation.schema_doc import config_reference

    doc = Path(__file__).resolve().parent.parent / "docs" / "config-reference.md"
    assert doc.read_text() == config_reference() + "\n", (
        "docs/config-reference.md is stale: run `sufficiency schema --markdown -o "
        "docs/config-reference.md`"
    )
