"""The kinds table is the one home of the unit kinds: adding one is a row plus what is truly new.

The worked example adds a toy placement kind, "supported" (supported accommodation for 16-17
year olds, as a market a search goes to before spot), in a fresh interpreter. It makes exactly
the edits a developer would make:

1. a row in ``simulation/kinds.py``'s table;
2. its config section, ``provision.supported``, in ``simulation/scenario.py``.

A real kind would also draw its own per-child attributes (new columns of uniforms in
``processes/arrivals.py``); the toy reuses the framework's, so the config keeps a framework
that the policy does not use. Everything else — building its unit, the cascade, market searches,
the event log, metrics by kind and costs — must follow from the table, unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulation.kinds import BED_KINDS, KIND, KINDS, LAST_RESORT, MARKET_KINDS, check_table

ROOT = Path(__file__).resolve().parent.parent

TOY_ROW = """    UnitKind(
        name="supported",
        code=5,
        label="Supported accommodation",
        has_beds=False,
        in_policy=True,
        in_city="placement",
        paid="per_placement",
        price_attr="fw_price",
        in_city_attr="fw_in_city",
        search_attr="fw_search",
        offer_attr="fw_offer",
    ),
"""
TOY_SECTION = (
    '    supported: FrameworkMarket | None = Field(None, description="Supported accommodation.")\n'
)

SCRIPT = r"""
import importlib.util, json, sys, types
from pathlib import Path

root = Path(sys.argv[1])
toy_row, toy_section = sys.argv[2], sys.argv[3]
package = types.ModuleType("simulation")  # the package, without its __init__ (it imports all)
package.__path__ = [str(root / "simulation")]
sys.modules["simulation"] = package


def load(name, edit):
    path = root / "simulation" / f"{name}.py"
    text = path.read_text()
    source = edit(text)
    assert source != text, f"the edit to {name}.py did not apply"
    module = types.ModuleType(f"simulation.{name}")
    module.__file__ = str(path)
    sys.modules[f"simulation.{name}"] = module
    exec(compile(source, str(path), "exec"), module.__dict__)


end_of_table = ")\n\nKIND: MappingProxyType"
load("kinds", lambda s: s.replace(end_of_table, toy_row + end_of_table, 1))
def add_section(text):  # after the spot market's field in Provision
    start = text.index("\n    spot: SpotMarket") + 1
    end = text.index("\n", start) + 1
    return text[:end] + toy_section + text[end:]


load("scenario", add_section)

import yaml
from simulation.scenario import parse_scenario
from simulation.model import simulate
from simulation.metrics import compute_metrics
from simulation.events import EventKind

data = yaml.safe_load((root / "configs" / "minimal.yaml").read_text())
market = data["provision"].get("framework") or {
    "search_days": {"dist": "fixed", "value": 14},
    "offer_probability": 0.6,
    "in_city_share": 0.5,
    "weekly_price_gbp": {"dist": "fixed", "value": 4000},
}
data["provision"]["framework"] = market
data["provision"]["supported"] = dict(market, offer_probability=0.8)
policy = data.setdefault("placement_policy", {})
beds = [k for k in policy.get("order", ["internal"]) if k in ("internal", "block")]
policy["order"] = [*beds, "supported", "spot"]
scenario = parse_scenario(data)
PLACE, SEARCH = int(EventKind.PLACE), int(EventKind.SEARCH)
out = []
for r in range(3):
    rep = simulate(scenario, r)
    unit = next(u.index for u in rep.units if u.kind == "supported")
    log = rep.log
    placed = int(((log.kind == PLACE) & (log.unit == unit)).sum())
    m = compute_metrics(scenario, rep)
    s = m.summary
    out.append({
        "placed_in_supported": placed,
        "searches_of_supported": int(((log.kind == SEARCH) & (log.unit == unit)).sum()),
        "supported_bed_days": float(s["supported_bed_days"]),
        "cost_supported_gbp": float(s["cost_supported_gbp"]),
        "cost_total_gbp": float(s["cost_total_gbp"]),
        "finance_has_supported": "supported_gbp" in m.finance.columns,
        "weekly_children_supported": float(m.weekly["children_supported"].sum()),
        "arrivals": float(s["arrivals"]), "children_initial": float(s["children_initial"]),
        "exits": float(s["exits"]), "children_end": float(s["children_end"]),
        "unit_kinds": sorted({u.kind for u in rep.units}),
    })
print(json.dumps(out))
"""


def test_table_is_consistent() -> None:
    check_table()
    assert [k.code for k in KINDS] == list(range(len(KINDS)))
    assert set(BED_KINDS) | set(MARKET_KINDS) == set(KIND)
    assert not set(BED_KINDS) & set(MARKET_KINDS)
    assert KIND[LAST_RESORT].is_market


def test_adding_a_kind_is_a_table_row_and_its_config_section() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), TOY_ROW, TOY_SECTION],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reps = json.loads(done.stdout)
    for rep in reps:
        assert "supported" in rep["unit_kinds"]
        assert rep["searches_of_supported"] > 0
        # Children are placed in the new kind, and every child is accounted for.
        assert rep["placed_in_supported"] > 0
        assert rep["arrivals"] + rep["children_initial"] >= rep["exits"]
        # Metrics by kind and costs follow from the table.
        assert rep["supported_bed_days"] > 0
        assert rep["weekly_children_supported"] > 0
        assert rep["finance_has_supported"]
        assert 0 < rep["cost_supported_gbp"] < rep["cost_total_gbp"]
