"""``sufficiency occupancy``: can each council home run at its business case's occupancy?

Prints, per council home, the distribution of its occupancy over the run and the probability of
reaching the business case's assumption (and 75%, 87.5%, 92%); then, for a new home of 1-6 beds
for one need, its occupancy and what it changes for the children (new spot placements and the
out-of-city share, paired on common random numbers). See README "How full can a home run?".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from simulation import display
from simulation.atomic import atomic_dir
from simulation.cli.common import (
    check_output_folder,
    console,
    fail,
    fail_write,
    interrupted,
    load_config,
    progress_bar,
)
from simulation.experiments.occupancy import (
    SIZES,
    THRESHOLDS_PCT,
    Z95,
    OccupancyAnswer,
    OccupancyError,
    answer,
    fit_match_probability,
    with_match_probability,
)
from simulation.scenario import Scenario

MAX_REPLICATIONS = 100_000
DEFAULT_SIZES = ",".join(str(b) for b in SIZES)


def _pct(x: float, digits: int = 1) -> str:
    return display.percent(x, digits)


def _range(low: float, high: float) -> str:
    return f"{display.number(low)}-{display.percent(high, 0)}"


def _signed(x: float, half: float) -> str:
    """A paired change ± its 95% CI half-width, one decimal, no "-0"."""
    text = display.number(x, 1, signed=True)
    return text if text == display.DASH else f"{text} ± {display.number(half, 1)}"


def _homes_table(a: OccupancyAnswer) -> Table:
    t = Table(title="Council homes: occupancy over the run", title_justify="left")
    for name, justify in (
        ("home", "left"),
        ("beds", "right"),
        ("assumed", "right"),
        ("mean", "right"),
        ("P5-P95", "right"),
        ("P(reach)", "right"),
        ("weeks full", "right"),
    ):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in a.homes.to_dict("records"):
        t.add_row(
            str(r["home"]),
            str(r["beds"]),
            _pct(r["assumed_occupancy_pct"]),
            _pct(r["occupancy_mean_pct"]),
            _range(r["occupancy_p5_pct"], r["occupancy_p95_pct"]),
            display.probability(r["p_at_or_above_assumed"]),
            _pct(r["weeks_full_pct"], 0),
        )
    return t


def _sizes_table(a: OccupancyAnswer, label: str) -> Table:
    t = Table(
        title=f"A new home for {label} (rules of {a.template}), against none",
        title_justify="left",
    )
    for name in ("beds", "mean", "P5-P95", *(f">={x:g}%" for x in THRESHOLDS_PCT)):
        t.add_column(name, justify="right")
    t.add_column("spot placements", justify="right")
    t.add_column("out of city", justify="right")
    for r in a.sizes.to_dict("records"):
        t.add_row(
            str(r["beds"]),
            _pct(r["occupancy_mean_pct"]),
            _range(r["occupancy_p5_pct"], r["occupancy_p95_pct"]),
            *(display.probability(r[f"p_at_or_above_{x:g}"]) for x in THRESHOLDS_PCT),
            _signed(r["spot_placements_change"], r["spot_placements_change_ci_half"]),
            _signed(
                100 * r["out_of_city_share_change"], 100 * r["out_of_city_share_change_ci_half"]
            ),
        )
    return t


def _write(a: OccupancyAnswer, out: Path) -> None:
    try:
        with atomic_dir(out, overwrite=False) as tmp:
            a.homes.to_csv(tmp / "homes.csv", index=False)
            a.sizes.to_csv(tmp / "sizes.csv", index=False)
            a.weekly.to_parquet(tmp / "homes_weekly.parquet", index=False)
    except OSError as exc:
        fail_write("--out", out, exc)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"--sizes: '{text[:40]}' is not a list of whole numbers such as 1,2,3,4,5,6")
    if not sizes or any(not 1 <= b <= 50 for b in sizes) or len(set(sizes)) != len(sizes):
        fail(f"--sizes: '{text[:40]}': give distinct bed counts from 1 to 50, e.g. 1,2,3,4,5,6")
    return sizes


def occupancy_command(
    config: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    replications: Annotated[
        int,
        typer.Option(
            "--replications",
            "-n",
            min=10,
            max=MAX_REPLICATIONS,
            help="Replications of the scenario and of each new-home size.",
        ),
    ] = 200,
    seed: Annotated[
        int | None, typer.Option(help="Root seed (default: the config's run.seed).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=0, max=256, help="Processes to use; 0 = one per core.")
    ] = 0,
    need: Annotated[
        str | None,
        typer.Option(help="Need of the new home (default: the need most council homes serve)."),
    ] = None,
    sizes: Annotated[
        str, typer.Option(help="Bed counts of the new home to try, comma-separated.")
    ] = DEFAULT_SIZES,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also write homes.csv, sizes.csv and homes_weekly.parquet (each home's weekly "
            "occupancy in each replication) to this new folder."
        ),
    ] = None,
    fit_home: Annotated[
        list[str] | None,
        typer.Option(
            help="An existing home whose observed occupancy --observed gives (repeat for "
            "several, pooled): its match_probability is fitted to it first, then used."
        ),
    ] = None,
    observed: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            max=100.0,
            help="Observed occupancy (%) of the --fit-home homes, e.g. from the council's own "
            "records or `sufficiency calibrate`.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """How full can each council home run, and how full would a new one of 1-6 beds be?

    Occupancy is not an input: it comes from the council's demand, stays, the homes' admission
    rules and vacancy mechanics. The business case's assumed occupancy is compared, never used.
    """
    scenario = load_config(config)
    bed_sizes = _sizes(sizes)
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            fail(f"--out: {out} already exists; give a new folder")
        check_output_folder(out)
    if bool(fit_home) != (observed is not None):
        fail("--fit-home and --observed go together: the homes, and their observed occupancy (%)")
    root_seed = scenario.run.seed if seed is None else seed
    n_workers = (os.cpu_count() or 1) if workers == 0 else workers
    if fit_home and observed is not None:
        scenario = _fit(scenario, fit_home, observed, replications, root_seed, n_workers, quiet)
    try:
        with progress_bar("Simulating", replications, quiet) as (advance, set_total):
            result = answer(
                scenario,
                replications,
                root_seed,
                workers=n_workers,
                need=need,
                sizes=bed_sizes,
                progress=advance,
                on_total=set_total,
            )
    except OccupancyError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
    label = scenario.need_label(result.need)
    console.print(_homes_table(result))
    console.print(_sizes_table(result, label))
    console.print(
        f"{replications} replications, seed {root_seed}; occupancy = occupied / usable "
        f"bed-days, {display.run_period(scenario)}. P(reach): share of replications at or "
        "above the assumed occupancy. Weeks full: share of a home's open weeks at 100%. Spot "
        "placements and out of city (percentage points): change with the new home against "
        "none, mean ± 95% CI half-width (paired).",
        soft_wrap=False,
    )
    if out is not None:
        _write(result, out)
        console.print(f"written to {out}")


def _fit(
    scenario: Scenario,
    homes: list[str],
    observed: float,
    replications: int,
    seed: int,
    workers: int,
    quiet: bool,
) -> Scenario:
    """Fit the homes' match_probability to ``observed``, say so, and return the scenario
    with the fitted value."""
    try:
        with progress_bar("Fitting", replications * 15, quiet) as (advance, _):
            fit = fit_match_probability(
                scenario, homes, observed, replications, seed, workers, progress=advance
            )
    except OccupancyError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
    console.print(
        f"Fitted match_probability {fit.match_probability:.3f} so that "
        f"{', '.join(fit.homes)} run at {fit.target_pct:g}% (simulated "
        f"{fit.simulated_pct:.1f}% ± {fit.simulated_half_width_pct:.1f}, 95% CI of the mean; "
        f"{fit.evaluations} evaluations of {fit.replications} replications). One run's "
        f"occupancy varies by ±{Z95 * fit.replication_sd_pct:.1f} points (95%), so the "
        f"observation fits any value from {fit.low:.3f} to {fit.high:.3f}.",
        soft_wrap=False,
    )
    return with_match_probability(scenario, fit.homes, fit.match_probability)


def register(app: typer.Typer) -> None:
    """Add ``occupancy`` to the ``sufficiency`` app."""
    app.command("occupancy")(occupancy_command)


__all__ = ["occupancy_command", "register"]
