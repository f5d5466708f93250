"""Write tests/expected/golden_logs.npz: the complete event logs of every shipped config.

Run only when a change to the model's behaviour is intended, and say why in the commit:
``python tests/make_golden_logs.py``. ``tests/test_golden_logs.py`` compares against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulation import load_scenario
from simulation.model import simulate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "expected" / "golden_logs.npz"
COLUMNS = ("time", "kind", "child", "unit", "need", "value", "in_city", "route")
REPLICATIONS = (0, 3)


def shipped_configs() -> list[Path]:
    return sorted((ROOT / "configs").glob("*.yaml"))


def golden_arrays() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for path in shipped_configs():
        scenario = load_scenario(path)
        for r in REPLICATIONS:
            log = simulate(scenario, r).log
            for col in COLUMNS:
                arrays[f"{path.stem}/{r}/{col}"] = np.asarray(getattr(log, col))
    return arrays


if __name__ == "__main__":
    np.savez_compressed(OUT, **golden_arrays())
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")
