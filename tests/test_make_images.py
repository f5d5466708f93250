"""docs/make_images.py, which regenerates the pictures in docs/, still runs (its figures part,
with few replications, into a temporary folder)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_figures_script_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_images", ROOT / "docs" / "make_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.figures(tmp_path, replications=3)
    assert sorted(p.name for p in written) == ["cost-by-year.png", "fan-occupancy.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    # The images the README shows exist and are the same kind of file.
    for name in ("app.png", "fan-occupancy.png", "cost-by-year.png"):
        assert (ROOT / "docs" / name).read_bytes()[:4] == b"\x89PNG"
