"""One variant's lever widgets (Streamlit), drawn where the caller puts them (a sidebar tab).

Widget keys carry the variant's prefix, so each variant keeps its own values, and switching
base starts every variant from the new base's values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from simulation import display
from simulation.app.levers import Edits, current_levers
from simulation.scenario import Scenario


def _home_widgets(scenario: Scenario, cfg: dict[str, Any], base: Edits, prefix: str) -> list[Any]:
    start, end = scenario.run.start_date, scenario.end_date - dt.timedelta(days=1)
    homes: list[dict[str, Any]] = []
    with st.expander("Council homes: opening dates and beds", expanded=True):
        st.caption(
            f"A home opening on or before the start ({display.uk_date(start)}) is open from "
            "the start. A new home's date is its planned opening: its project stages, and "
            "their slippage, move with it."
        )
        for i, (home, lever) in enumerate(
            zip(cfg["provision"].get("homes", []), base["homes"], strict=True)
        ):
            served = ", ".join(scenario.need_label(n) for n in home["needs"])
            c1, c2 = st.columns([3, 1])
            opens = c1.date_input(
                f"{home['name']} ({served}): opens",
                value=lever["open_date"] or start,
                min_value=start,
                max_value=end,
                format="DD/MM/YYYY",
                key=f"{prefix}:home:{i}:open",
            )
            beds = c2.number_input(
                "Beds",
                min_value=1,
                max_value=50,
                value=lever["beds"],
                key=f"{prefix}:home:{i}:beds",
            )
            homes.append({"open_date": opens if isinstance(opens, dt.date) else None, "beds": beds})
    return homes


def _need_widgets(scenario: Scenario, base: Edits, prefix: str) -> dict[str, Any]:
    needs: dict[str, Any] = {}
    with st.expander("Demand: arrivals and length of stay"):
        for name, need in base["needs"].items():
            label = scenario.need_label(name)
            arrivals = st.number_input(
                f"{label}: new children per year",
                min_value=0.0,
                max_value=10_000.0,
                value=float(need["arrivals_per_year"]),
                step=1.0,
                key=f"{prefix}:need:{name}:arrivals",
            )
            los = st.number_input(
                f"{label}: mean length of stay (days)",
                min_value=1.0,
                max_value=20_000.0,
                value=float(round(need["los_mean_days"], 1)),
                step=10.0,
                key=f"{prefix}:need:{name}:los",
                help="Scales the whole length-of-stay distribution; its shape is kept.",
            )
            needs[name] = {"arrivals_per_year": float(arrivals), "los_mean_days": float(los)}
    return needs


def lever_widgets(scenario: Scenario, prefix: str) -> Edits:
    """The lever widgets of one variant of ``scenario`` (keys start with ``prefix``), starting
    from the scenario's values; returns the edits they hold."""
    cfg = scenario.to_dict()
    base = current_levers(cfg)
    homes = _home_widgets(scenario, cfg, base, prefix)
    block_beds: list[int] = []
    blocks = cfg["provision"].get("block_contracts", [])
    if blocks:
        with st.expander("Block contracts: beds"):
            for i, (block, beds) in enumerate(zip(blocks, base["block_beds"], strict=True)):
                block_beds.append(
                    int(
                        st.number_input(
                            block["name"],
                            min_value=1,
                            max_value=200,
                            value=beds,
                            key=f"{prefix}:block:{i}:beds",
                        )
                    )
                )
    needs = _need_widgets(scenario, base, prefix)
    edits: Edits = {
        "homes": [{"open_date": h["open_date"], "beds": int(h["beds"])} for h in homes],
        "block_beds": block_beds,
        "needs": needs,
    }
    if "staff_turnover_per_year" in base:
        with st.expander("Staff: turnover"):
            turnover = st.number_input(
                "Care staff leaving per post per year",
                min_value=0.0,
                max_value=5.0,
                value=float(base["staff_turnover_per_year"]),
                step=0.05,
                key=f"{prefix}:staff:turnover",
                help="0.33 = a third of posts turn over each year; leavers are replaced after "
                "the recruitment lead time, and a home short of cover stops admitting.",
            )
        edits["staff_turnover_per_year"] = float(turnover)
    else:
        st.caption("Staff turnover: this config does not model staffing.")
    return edits
