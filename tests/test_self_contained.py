"""The repository stands on its own: no references to notes outside it, and a licence.

Configs, code, tests and docs cite published sources (``docs/sources.md``) and the model's own
description (``docs/model.md``); a citation of a document that only exists outside the repository
cannot be followed by a reader of it. The forbidden strings are built by concatenation so that
this file does not match itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("simulation", "configs", "docs", "tests", "experiments", "README.md")
FORBIDDEN = ("DESIGN" + ".md", "shared" + "/seeds")
# Numbered copies of source documents (a "seeds" folder, files 000, 001, ...) are as unreachable.
SEED_COPY = re.compile("seeds" + r"/\d{3}")
BINARY = {".png", ".npz", ".parquet", ".duckdb", ".pyc", ".pdf", ".jpg", ".gif", ".ico"}


def _files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix not in BINARY and "__pycache__" not in p.parts
            )
    return files


def test_scanned_tree_is_not_empty() -> None:
    assert len(_files()) > 20


@pytest.mark.parametrize("needle", [*FORBIDDEN, SEED_COPY.pattern])
def test_no_reference_to_documents_outside_the_repository(needle: str) -> None:
    offenders = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), start=1):
            hit = SEED_COPY.search(line) if needle == SEED_COPY.pattern else needle in line
            if hit:
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, f"{needle!r} found (cite docs/sources.md instead): {offenders}"


def test_licence_is_mit() -> None:
    licence = ROOT / "LICENSE"
    assert licence.is_file(), "LICENSE is missing"
    text = licence.read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert re.search(r"Copyright \(c\) \d{4} ", text)


def test_sources_and_model_docs_exist() -> None:
    for doc in ("sources.md", "model.md"):
        assert (ROOT / "docs" / doc).is_file(), f"docs/{doc} is missing"
