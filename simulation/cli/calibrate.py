"""Command line for SSDA903 calibration: ``calibrate``, ``backtest`` and ``synth-903``.

Registered on the main ``sufficiency`` app by :func:`register`. Bad input ends with ``error:``
lines naming the file, row and column (or the flag), exit code 2, and nothing written: outputs go
to temporary paths and are moved into place only when complete.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from simulation.atomic import atomic_dir, write_text_atomic
from simulation.calibration.codes import DEFAULT_RESIDENTIAL
from simulation.calibration.estimate import CalibrationError
from simulation.calibration.mapping import Rules, check_residential_codes, read_providers
from simulation.calibration.readers import DataIssue, Extract, ExtractError, read_extract
from simulation.cli.common import (
    check_output_file,
    check_output_folder,
    console,
    err_console,
    fail,
    fail_lines,
    fail_write,
    interrupted,
    load_config,
    progress_bar,
)
from simulation.errors import ScenarioError
from simulation.outputs import MARKER, code_version

if TYPE_CHECKING:
    from simulation.calibration.pipeline import Calibration
    from simulation.experiments.vacancy_fit import VacancyFit
    from simulation.scenario import Scenario

MAX_WARNINGS_SHOWN = 10
# What backtest and synth-903 write into their folders (beside the results marker).
BACKTEST_FILES = {"backtest.csv", "backtest.png", "scenario.yaml"}
SYNTH_FILES = {"episodes.csv", "header.csv", "providers.csv", "truth.yaml"}
DEFAULT_CODES = ",".join(DEFAULT_RESIDENTIAL)


def _warn(warnings: list[DataIssue]) -> None:
    for w in warnings[:MAX_WARNINGS_SHOWN]:
        err_console.print(f"warning: {w}", markup=False)
    if len(warnings) > MAX_WARNINGS_SHOWN:
        err_console.print(
            f"warning: ... and {len(warnings) - MAX_WARNINGS_SHOWN} more (see the report)",
            markup=False,
        )


def _overlaps(value: str) -> Literal["trim", "error"]:
    if value == "trim":
        return "trim"
    if value == "error":
        return "error"
    fail(f"--overlaps: '{value}' is not allowed (allowed: trim, error)")


def _date(value: dt.datetime | None) -> dt.date | None:
    return None if value is None else value.date()


def _rules(providers: Path | None, residential_codes: str, city_postcodes: str | None) -> Rules:
    try:
        codes = check_residential_codes(residential_codes.split(","))
    except ValueError as exc:
        fail(f"--residential-codes: {exc}")
    areas = tuple(a.strip().upper() for a in (city_postcodes or "").split(",") if a.strip())
    try:
        provs = read_providers(providers) if providers is not None else {}
    except ExtractError as exc:
        fail_lines(exc.lines())
    return Rules(residential_codes=codes, providers=provs, city_postcode_areas=areas)


def _extract(
    episodes: list[Path], header: list[Path] | None, strict: bool, la: str | None
) -> Extract:
    try:
        return read_extract(episodes, header or [], strict=strict, la=la)
    except ExtractError as exc:
        fail_lines(exc.lines())


def _check_out_folder(out: Path, overwrite: bool, ours: set[str]) -> None:
    """Before any work: ``out`` can take a new folder, and ``--overwrite`` replaces only a folder
    this command wrote (its marker, and nothing but the files in ``ours``), as ``run`` does."""
    check_output_folder(out)
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        fail(f"--out: {out} is the current folder or one of its parents (give a new folder)")
    if not out.is_dir():
        return
    names = [p.name for p in out.iterdir()]
    if not names:
        return
    if not overwrite:
        fail(f"--out: {out} already exists and is not empty (use --overwrite to replace it)")
    if MARKER not in names:
        fail(
            f"--out: {out} was not written by sufficiency (no {MARKER} marker): --overwrite only "
            "replaces folders it wrote, so choose another --out or empty it yourself"
        )
    foreign = sorted(set(names) - ours - {MARKER})
    if foreign:
        fail(
            f"--out: {out} holds files sufficiency did not write ({', '.join(foreign[:3])}): "
            "move them out first, or choose another --out"
        )


def _mark(folder: Path) -> None:
    (folder / MARKER).write_text(f"sufficiency {code_version()}\n", encoding="utf-8")


EpisodesOpt = Annotated[
    list[Path],
    typer.Option(
        "--episodes",
        "-e",
        help="903 Episodes table: a CSV, a DfE XML return or a folder of yearly returns "
        "(repeat for several).",
    ),
]
HeaderOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--header",
        help="903 Header table (CSV; repeat for several). Not needed when --episodes is an XML "
        "return or a folder holding the Header.",
    ),
]
LaOpt = Annotated[
    str | None,
    typer.Option("--la", help="The council to use when the data's LA column holds several."),
]
OverlapsOpt = Annotated[
    str,
    typer.Option(
        "--overlaps",
        help="trim: an episode ends when the child's next one starts (a warning each); "
        "error: refuse overlapping episodes.",
    ),
]
AsOfOpt = Annotated[
    dt.datetime,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date the cohort is taken (YYYY-MM-DD)."),
]
ProvidersOpt = Annotated[
    Path | None,
    typer.Option(
        "--providers",
        "-p",
        help="Council file: URN,provision,need,name,beds,in_city,weekly_cost_gbp.",
    ),
]
CodesOpt = Annotated[
    str,
    typer.Option("--residential-codes", help="Placement codes counted as residential care."),
]
CityOpt = Annotated[
    str | None,
    typer.Option(
        "--city-postcodes",
        help="The council's postcode areas, e.g. CV (default: the commonest home postcode area).",
    ),
]
SinceOpt = Annotated[
    dt.datetime | None,
    typer.Option(
        "--since",
        formats=["%Y-%m-%d"],
        help="Start of the observation window (default: 1 April of the first return year).",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Treat data warnings (trimmed overlaps, ...) as errors.")
]


def calibrate_command(
    episodes: EpisodesOpt,
    as_of: AsOfOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Scenario YAML to write.")],
    header: HeaderOpt = None,
    providers: ProvidersOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Scenario name (default: the file's stem).")
    ] = None,
    horizon_years: Annotated[
        float, typer.Option("--horizon-years", min=0.1, max=50, help="Run length to write.")
    ] = 5.0,
    residential_codes: CodesOpt = DEFAULT_CODES,
    city_postcodes: CityOpt = None,
    since: SinceOpt = None,
    strict: StrictOpt = False,
    la: LaOpt = None,
    overlaps: OverlapsOpt = "trim",
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write the calibration report folder.")
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing scenario and report.")
    ] = False,
    fit_vacancies: Annotated[
        bool,
        typer.Option(
            "--fit-vacancies",
            help="Give the council homes (--providers) repairs and move-in transitions, and fit "
            "their acceptance (match_probability) and repair chance to the homes' observed "
            "occupancy and vacancy gaps by simulation (docs/model.md).",
        ),
    ] = False,
    fit_replications: Annotated[
        int,
        typer.Option(min=10, max=10_000, help="Replications at each point of the fit's grid."),
    ] = 40,
    workers: Annotated[
        int, typer.Option(min=0, max=256, help="Processes for the fit; 0 = one per core.")
    ] = 0,
    point_estimates: Annotated[
        bool,
        typer.Option(
            "--point-estimates",
            help="Write arrival rates and mean stays as numbers, not as uncertain values "
            "matching their 95% intervals.",
        ),
    ] = False,
) -> None:
    """Calibrate a scenario from a council's SSDA903 extract.

    Writes the scenario YAML (every estimate commented with its n and 95% interval) and, beside
    it, a report folder <name>-calibration/ with fitted vs empirical curves.
    """
    from simulation.calibration.pipeline import calibrate
    from simulation.calibration.writer import VacancySettings, render

    if out.exists() and not overwrite:
        fail(f"--out: {out} already exists (use --overwrite to replace it)")
    check_output_file(out)  # before reading and fitting the extract, not after
    mode = _overlaps(overlaps)
    rules = _rules(providers, residential_codes, city_postcodes)
    extract = _extract(episodes, header, strict, la)
    try:
        cal = calibrate(
            extract,
            as_of.date(),
            rules,
            window_start=_date(since),
            strict=strict,
            overlaps=mode,
        )
    except ExtractError as exc:
        fail_lines(exc.lines())
    except CalibrationError as exc:
        fail(str(exc))
    _warn(cal.warnings)
    scenario_name = name or out.stem
    report_dir = out.with_name(f"{out.stem}-calibration")
    vacancies = None
    if fit_vacancies:
        homes = tuple(u.name for u in cal.units if u.kind == "internal" and u.occupancy_pct)
        if not homes:
            fail(
                "--fit-vacancies: no council home with an observed occupancy: give --providers "
                "naming the council's own homes (provision 'internal')"
            )
        vacancies = VacancySettings(homes)
    try:
        write = functools.partial(
            render,
            cal,
            scenario_name,
            horizon_years=horizon_years,
            report_dir=report_dir.name if report else None,
            point_estimates=point_estimates,
        )
        text, scenario = write(vacancies=vacancies)
        if vacancies is not None:
            fit = _fit_vacancies(cal, scenario, vacancies.homes, fit_replications, workers)
            vacancies = VacancySettings(
                vacancies.homes, (fit.match_probability, fit.repair_probability, fit.note())
            )
            text, _ = write(vacancies=vacancies)
    except ScenarioError as exc:
        fail(exc.one_line())
    try:
        if report:
            from simulation.calibration.report import write_report

            with atomic_dir(report_dir, overwrite=True) as tmp:
                write_report(cal, tmp, scenario_name)
        write_text_atomic(out, text)
    except OSError as exc:
        fail_write("--out", out, exc)
    for need in cal.needs:
        a, los = cal.arrivals[need], cal.los[need]
        console.print(
            f"{need}: {a.rate.value:.2f} entries/year (95% CI {a.rate.low:.2f}-{a.rate.high:.2f}, "
            f"n={a.n}); stay {los.best.family} mean {los.best.mean.value:.0f} days "
            f"(95% CI {los.best.mean.low:.0f}-{los.best.mean.high:.0f}, n={los.n})",
            markup=False,
        )
    console.print(
        f"{len(cal.cohort)} children in residential care on {cal.as_of}; scenario written to "
        f"{out}" + (f", report in {report_dir}/" if report else ""),
        markup=False,
    )


def _fit_vacancies(
    cal: Calibration, scenario: Scenario, homes: tuple[str, ...], replications: int, workers: int
) -> VacancyFit:
    """Fit the homes' acceptance and repair chance to their pooled 903 record; say so."""
    from simulation.experiments.occupancy import OccupancyError
    from simulation.experiments.vacancy_fit import (
        MATCH_GRID,
        REPAIR_GRID,
        fit_vacancies,
        pooled_record,
    )

    record = pooled_record([u for u in cal.units if u.name in homes], cal.window_start, cal.as_of)
    n_workers = (os.cpu_count() or 1) if workers == 0 else workers
    points = len(MATCH_GRID) * len(REPAIR_GRID)
    try:
        with progress_bar("Fitting vacancies", replications * points, False) as (advance, _):
            fit = fit_vacancies(
                scenario,
                homes,
                record,
                replications,
                scenario.run.seed,
                n_workers,
                progress=advance,
            )
    except OccupancyError as exc:
        fail(f"--fit-vacancies: {exc}")
    except KeyboardInterrupt:
        interrupted()
    console.print(
        f"Fitted {', '.join(homes)}: match_probability {fit.match_probability:.2f} (plausible "
        f"{fit.match_range[0]:.2f}-{fit.match_range[1]:.2f}), repair_probability "
        f"{fit.repair_probability:.2f} (plausible {fit.repair_range[0]:.2f}-"
        f"{fit.repair_range[1]:.2f}); occupancy {fit.observed[0]:.1f}% observed, "
        f"{fit.simulated[0]:.1f}% simulated.",
        markup=False,
    )
    return fit


def backtest_command(
    episodes: EpisodesOpt,
    as_of: AsOfOpt,
    header: HeaderOpt = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(
            "--until",
            formats=["%Y-%m-%d"],
            help="End of the comparison (default: the last date in the data).",
        ),
    ] = None,
    providers: ProvidersOpt = None,
    replications: Annotated[
        int, typer.Option("--replications", "-n", min=10, help="Simulated futures.")
    ] = 200,
    draws: Annotated[
        int,
        typer.Option("--draws", min=1, help="Parameter draws (1 = point estimates only)."),
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0)] = 0,
    residential_codes: CodesOpt = DEFAULT_CODES,
    city_postcodes: CityOpt = None,
    since: SinceOpt = None,
    la: LaOpt = None,
    overlaps: OverlapsOpt = "trim",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for backtest.csv, backtest.png, scenario.yaml."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a folder an earlier backtest wrote.")
    ] = False,
) -> None:
    """Calibrate on data up to --as-of, simulate forward, score against the later data.

    Prints, month by month, the observed children in residential care against the simulated
    P5-P95 band, and the share of months inside it (coverage).
    """
    from simulation.calibration.backtest import backtest
    from simulation.calibration.report import backtest_figure

    if out is not None:
        _check_out_folder(out, overwrite, BACKTEST_FILES)  # before the simulations, not after
    mode = _overlaps(overlaps)
    rules = _rules(providers, residential_codes, city_postcodes)
    extract = _extract(episodes, header, strict=False, la=la)
    try:
        result = backtest(
            extract,
            as_of.date(),
            until=_date(until),
            rules=rules,
            replications=replications,
            parameter_draws=draws,
            seed=seed,
            window_start=_date(since),
            overlaps=mode,
        )
    except ExtractError as exc:
        fail_lines(exc.lines())
    except (CalibrationError, ValueError) as exc:
        fail(str(exc))
    m = result.months
    for rec in m.itertuples(index=False):
        flag = "" if rec.covered else "  <- outside"
        console.print(
            f"{str(rec.month)[:7]}  observed {rec.observed:6.1f}   P5-P95 {rec.p5:6.1f} - "
            f"{rec.p95:6.1f}   P50 {rec.p50:6.1f}{flag}",
            markup=False,
        )
    console.print(
        f"coverage of the P5-P95 band: {result.coverage:.0%} of {len(m)} months "
        f"({result.replications} replications over {result.parameter_draws} parameter draws; "
        f"calibrated on data to {result.as_of})",
        markup=False,
    )
    if out is not None:
        try:
            with atomic_dir(out, overwrite=True) as tmp:
                _mark(tmp)
                m.to_csv(tmp / "backtest.csv", index=False)
                backtest_figure(
                    m,
                    tmp / "backtest.png",
                    f"Back-test from {result.as_of}: coverage {result.coverage:.0%}",
                )
                (tmp / "scenario.yaml").write_text(result.scenario_text, encoding="utf-8")
        except OSError as exc:
            fail_write("--out", out, exc)
        console.print(f"written to {out}/", markup=False)


def _collection_year(text: str | None) -> int | None:
    """``--year 2024-25`` as the collection's first year (2024); written in full, as a bare
    ``2024`` could name either end of it."""
    if text is None:
        return None
    from simulation.calibration.readers import collection_year

    year = collection_year(text) if "-" in text or "/" in text else None
    if year is None:
        fail(f"--year: '{text}' is not a collection year (write it as 2024-25)")
    return year


def synth_command(
    config: Annotated[Path, typer.Argument(help="Scenario YAML: the 'true' demand.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the extract.")],
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="Seed (default: the config's).")
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Extract date (default: run end)."),
    ] = None,
    messiness: Annotated[
        float, typer.Option("--messiness", min=0.0, max=1.0, help="Untidiness to clean (0-1).")
    ] = 0.1,
    year: Annotated[
        str | None,
        typer.Option(
            "--year",
            help="Write one collection year's return as a council submits it (e.g. 2024-25): "
            "episodes open in the year, later end dates blank.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a folder an earlier synth-903 wrote.")
    ] = False,
) -> None:
    """Write a synthetic 903 extract (episodes, header, providers) simulated from a scenario."""
    from simulation.calibration.synth import synth_903

    collection = _collection_year(year)
    scenario = load_config(config)
    _check_out_folder(out, overwrite, SYNTH_FILES)  # before the simulation, not after
    s = synth_903(
        scenario,
        seed=scenario.run.seed if seed is None else seed,
        as_of=_date(as_of),
        messiness=messiness,
    )
    if collection is not None and collection not in s.collection_years():
        from simulation.calibration.codes import return_year_label

        inside = ", ".join(return_year_label(y) for y in s.collection_years()) or "none"
        fail(
            f"--year: {year} is not wholly inside the extract ({s.extract_start} to {s.as_of}; "
            f"whole collection years: {inside})"
        )
    try:
        with atomic_dir(out, overwrite=True) as tmp:
            _mark(tmp)
            s.write(str(tmp), year=collection)
            # The truth, to compare a calibration with.
            shutil.copyfile(config, tmp / "truth.yaml")
    except OSError as exc:
        fail_write("--out", out, exc)
    what = f"{s.extract_start} to {s.as_of}" if collection is None else f"the {year} return"
    console.print(
        f"synthetic 903 of {what}, written to {out}/ "
        "(episodes.csv, header.csv, providers.csv, truth.yaml)",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``calibrate``, ``backtest`` and ``synth-903`` to the ``sufficiency`` app."""
    app.command("calibrate")(calibrate_command)
    app.command("backtest")(backtest_command)
    app.command("synth-903")(synth_command)
