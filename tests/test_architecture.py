"""The package's shape: data flows one way, and each layer imports only from layers below it.

config -> validated scenario -> units -> SimPy processes -> model (one replication, an event log)
-> metrics -> runner / store / outputs -> experiments and calibration -> the faces (plots,
report, app, cli). ``LAYERS`` places every module; a module may import from its own layer or
any lower one, never from a later one (that is how cycles and tangles start). A new module must be
placed here: the test fails until it is. docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "simulation"

# Lowest first. A name covers the module and, if it is a package, everything inside it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # 0. Vocabulary and tools that know nothing of a scenario.
    (
        "errors",
        "atomic",
        "calendar",
        "distributions",
        "streams",
        "events",
        "kinds",
        "stats",
        "pool",
        "queueing",
        "variance",
    ),
    # 1. The validated scenario (the config's schema and rules).
    ("scenario", "scenario_cache", "schema_doc", "uncertain"),
    # 2. The scenario's units: kinds made concrete, bed schedules, per-unit draws, admission rules.
    ("units", "matching"),
    # 3. The SimPy processes: the cascade core and each flow.
    ("processes",),
    # 4. One replication: the model assembled and run, its event log.
    ("model",),
    # 5. Metrics derived from the event log.
    ("metrics",),
    # 6. Monte Carlo runs, comparisons, result files and the experiment store.
    ("runner", "compare", "observed", "outputs", "store", "precision", "findings"),
    # 7. Experiments and calibration, built on runs.
    ("experiments", "calibration"),
    # 8. The faces: how numbers read (display), figures, the report, the app, the command line,
    # the package's public API.
    ("display", "plots", "report", "app", "cli", "__init__", "__main__"),
)


def _layer_of(module: str) -> int:
    """Layer of ``simulation.a.b`` (``""`` is the package's own ``__init__``)."""
    top = module.split(".")[0] if module else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(module)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            out.append(("", path))
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, module inside the package) of every import, at any depth, relative or absolute."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join(["simulation", *base, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
            # ``from simulation.x import y`` where y is a submodule imports simulation.x.y.
            names = [
                f"{names[0]}.{a.name}" if _is_module(f"{names[0]}.{a.name}") else names[0]
                for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "simulation" or name.startswith("simulation."):
                found.append((node.lineno, name.removeprefix("simulation").lstrip(".")))
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module, _ in _modules():
        try:
            _layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"


def test_no_module_imports_from_a_later_layer() -> None:
    wrong = []
    for module, path in _modules():
        mine = _layer_of(module)
        for line, target in _imports(module, path):
            if _layer_of(target) > mine:
                rel = path.relative_to(ROOT)
                wrong.append(f"{rel}:{line} imports simulation.{target or '__init__'}")
    assert not wrong, "imports up the chain:\n" + "\n".join(wrong)


def test_no_private_simpy_api() -> None:
    """SimPy's underscore attributes (``env._queue`` and the like) are not its API."""
    offenders = []
    for _, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {
                "_queue",
                "_now",
                "_eid",
                "_active_proc",
            }:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not offenders, offenders


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule above can fail: a units module importing the model is caught."""
    bad = tmp_path / "units.py"
    bad.write_text("from simulation.model import simulate\n")
    [(line, target)] = _imports("units", bad)
    assert (line, target) == (1, "model")
    assert _layer_of(target) > _layer_of("units")


@pytest.mark.parametrize(
    ("module", "limit"),
    [("processes.placement", 300)],
)
def test_cascade_core_stays_small(module: str, limit: int) -> None:
    """The cascade core keeps to seek, free unit, place and vacate; flows live elsewhere."""
    path = PACKAGE.joinpath(*module.split(".")).with_suffix(".py")
    classes = [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]
    core = next(c for c in classes if c.name == "Placements")
    assert core.end_lineno is not None
    assert core.end_lineno - core.lineno + 1 <= limit


# Long functions outside the layers where a long, linear procedure reads best (parsing an
# extract, a command's options) are a sign that a concept wants a home of its own.
FUNCTION_LINES_MAX = 120
LONG_FUNCTIONS_ALLOWED = ("calibration", "cli")


def test_functions_stay_short() -> None:
    long = []
    for module, path in _modules():
        if module.split(".")[0] in LONG_FUNCTIONS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LINES_MAX:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long
