"""The report's section on the occupancy answer (``sufficiency report --occupancy``)."""

from __future__ import annotations

from simulation import display
from simulation.experiments.occupancy import THRESHOLDS_PCT, OccupancyAnswer
from simulation.report.html import esc as _e


def occupancy_section(a: OccupancyAnswer | None) -> str | None:
    """The occupancy answer (``sufficiency occupancy``), when the report was asked for it."""
    if a is None:
        return None
    home_rows = [
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                _e(r["home"]),
                _e(r["beds"]),
                display.percent(r["assumed_occupancy_pct"]),
                display.percent(r["occupancy_mean_pct"]),
                f"{display.percent(r['occupancy_p5_pct'])} to "
                f"{display.percent(r['occupancy_p95_pct'])}",
                display.probability(r["p_at_or_above_assumed"]),
                display.percent(r["weeks_full_pct"], 0),
            )
        )
        + "</tr>"
        for r in a.homes.to_dict("records")
    ]
    size_rows = [
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                _e(r["beds"]),
                display.percent(r["occupancy_mean_pct"]),
                *(display.probability(r[f"p_at_or_above_{t:g}"]) for t in THRESHOLDS_PCT),
                f"{display.number(r['spot_placements_change'], 1, signed=True)} ± "
                f"{display.number(r['spot_placements_change_ci_half'], 1)}",
                f"{display.number(100 * r['out_of_city_share_change'], 1, signed=True)} pts",
            )
        )
        + "</tr>"
        for r in a.sizes.to_dict("records")
    ]
    thresholds = "".join(f"<th>P(at or above {t:g}%)</th>" for t in THRESHOLDS_PCT)
    return (
        "<p>Occupancy here is not an input: it comes from the council's demand, each home's "
        "admission rules (a child joins only a group it fits) and how vacancies happen "
        f"(repairs, move-in transitions, emergencies). {a.replications} replications, seed "
        f"{a.seed}.</p>"
        "<table><caption>Council homes: occupancy over the run</caption><tr><th>Home</th>"
        "<th>Beds</th><th>Business case</th><th>Mean</th><th>P5 to P95</th>"
        "<th>Replications reaching the business case</th><th>Weeks full</th></tr>"
        f"{''.join(home_rows)}</table>"
        f"<table><caption>A new home for {_e(a.need)} (rules of {_e(a.template)}), against "
        "none</caption><tr><th>Beds</th><th>Mean occupancy</th>"
        f"{thresholds}<th>New spot placements (change, 95% CI)</th>"
        f"<th>Out-of-city share (change)</th></tr>{''.join(size_rows)}</table>"
        "<p class='note'>Read the second table as a trade-off: a smaller home runs fuller, a "
        "bigger one runs emptier but keeps more children out of spot placements and in the "
        "city. The new home is offered children after the existing homes.</p>"
    )
