"""SSDA903 extracts in the forms councils export, calibrated with no hand edits.

The fixtures in tests/data/ssda903/ (made-up children, written by make_fixtures.py) carry the
same episodes as yearly CSV returns, a DfE XML return and a file mixing three councils; the
estimates must not depend on the format. Plus the 2025-26 codes, the observation window and
the refusals (one line naming file, row and column; exit code 2).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from simulation.calibration import calibrate, read_extract
from simulation.calibration.pipeline import Calibration, observation_start
from simulation.calibration.readers import EPISODE_COLUMNS, ExtractError, collection_year
from simulation.cli import main

DATA = Path(__file__).parent / "data" / "ssda903"
YEARLY = DATA / "yearly"
AS_OF = dt.date(2025, 3, 31)


def _summary(cal: Calibration) -> dict[str, object]:
    return {
        "window": cal.window_start,
        "needs": cal.needs,
        "rates": {n: round(cal.arrivals[n].rate.value, 9) for n in cal.needs},
        "stays": {n: round(cal.los[n].best.mean.value, 6) for n in cal.needs},
        "stays_n": {n: cal.los[n].n for n in cal.needs},
        "cohort": sorted((c.need, round(c.elapsed_days, 3)) for c in cal.cohort),
    }


@pytest.fixture(scope="module")
def by_format() -> dict[str, Calibration]:
    files = sorted(YEARLY.iterdir())
    extracts = {
        "yearly folder": read_extract(YEARLY),
        "yearly files": read_extract(
            [f for f in files if f.name.startswith("episodes")],
            [f for f in files if f.name.startswith("header")],
        ),
        "xml return": read_extract(DATA / "return.xml"),
        "mixed councils": read_extract(
            DATA / "mixed_la_episodes.csv", DATA / "mixed_la_header.csv", la="e08000026"
        ),
    }
    return {name: calibrate(x, AS_OF) for name, x in extracts.items()}


def test_every_format_gives_the_same_estimates(by_format: dict[str, Calibration]) -> None:
    reference = _summary(by_format["yearly folder"])
    assert reference["window"] == dt.date(2023, 4, 1)
    assert reference["needs"] == ["disability", "ebd"]
    for name, cal in by_format.items():
        assert _summary(cal) == reference, name


def test_yearly_returns_are_stacked_and_cleaned_out_loud(
    by_format: dict[str, Calibration],
) -> None:
    cal = by_format["yearly folder"]
    text = [str(w) for w in cal.warnings]
    # The same episode in both yearly returns counts once.
    assert cal.cleaning["duplicates_dropped"] > 0
    # Nested and overlapping episodes: trimmed, one warning each naming file, row and column.
    trimmed = [t for t in text if "overlap trimmed" in t]
    assert len(trimmed) == cal.cleaning["overlaps_trimmed"] + cal.cleaning["nested_trimmed"] == 3
    assert all(", row " in t and ", column DEC: " in t and "episodes_20" in t for t in trimmed)
    # Children missing from the Header: dropped, with a count.
    (gap,) = [t for t in text if "not in the Header" in t]
    assert "2 children (3 episodes)" in gap and ", column CHILD: " in gap
    assert cal.cleaning["children_not_in_header"] == 2


def test_the_2025_26_codes_calibrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Z11-Z14, K3, sex M/F and an H5 episode begun in 2024-25, all in one 2025-26 return."""
    episodes = pd.read_csv(DATA / "episodes_2025-26.csv", dtype=str, keep_default_na=False)
    assert {"Z11", "Z12", "Z13", "Z14", "K3", "H5"} <= set(episodes["PLACE"])
    out = tmp_path / "new.yaml"
    args = ["calibrate", "--episodes", str(DATA / "episodes_2025-26.csv"), "--header"]
    args += [str(DATA / "header_2025-26.csv"), "--as-of", "2026-03-31", "-o", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    assert out.exists() and "entries/year" in capsys.readouterr().out


def test_cli_reads_a_folder_and_an_xml_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = []
    for name, source in (("folder", YEARLY), ("xml", DATA / "return.xml")):
        out = tmp_path / f"{name}.yaml"
        args = ["calibrate", "--episodes", str(source), "--as-of", str(AS_OF), "-o", str(out)]
        assert main([*args, "--no-report"]) == 0
        printed.append(capsys.readouterr().out.splitlines()[:2])  # the estimates
    assert printed[0] == printed[1]
    assert (tmp_path / "folder.yaml").exists()


def test_several_councils_without_la_are_refused_naming_the_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.yaml"
    args = ["calibrate", "--episodes", str(DATA / "mixed_la_episodes.csv"), "--header"]
    args += [str(DATA / "mixed_la_header.csv"), "--as-of", str(AS_OF), "-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "column LA: the extract holds 3 councils (E06000001, E08000025, E08000026)" in err
    assert "--la" in err and err.count("\n") == 1
    assert main([*args, "--la", "E09000001"]) == 2
    assert "--la E09000001: no rows of that council (found: E06000001" in capsys.readouterr().err
    assert not out.exists()


def test_overlaps_error_refuses_the_nested_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.yaml"
    args = ["calibrate", "--episodes", str(YEARLY), "--as-of", str(AS_OF), "-o", str(out)]
    assert main([*args, "--overlaps", "error"]) == 2
    err = capsys.readouterr().err
    assert "episodes_2024-25.csv, row " in err and "column DEC: episode" in err
    assert "overlapping episodes" in err and not out.exists()
    assert main([*args, "--overlaps", "sometimes"]) == 2
    assert "--overlaps: 'sometimes' is not allowed (allowed: trim, error)" in (
        capsys.readouterr().err
    )


def _write(path: Path, rows: list[list[str]], columns: list[str]) -> Path:
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def _episode(child: str, start: str, end: str, place: str, rec: str, rne: str = "S") -> list[str]:
    urn = "" if place == "R1" else "SC1"
    return [child, start, rne, "C2", "N1", place, "PR4", end, rec, "", "CV1 1AB", "B1 1AB", urn]


def test_trimmed_overlaps_do_not_move_the_window_start(tmp_path: Path) -> None:
    """Returns from 2017-18: the oldest episode (2014-2019) contains the child's next one (to
    25/06/2017). Trimmed, it ends 19/02/2017, in 2016-17; the window must still start on
    1 April 2017, where the data do, not a year early."""
    rows = [
        _episode("1", "26/02/2014", "22/07/2019", "U4", "E4A"),
        _episode("1", "19/02/2017", "25/06/2017", "K2", "E4A", "P"),
    ]
    for c in range(2, 9):  # seven stays of 100 days spread over both years
        start = dt.date(2017 + c % 2, c + 3, 10)
        end = start + dt.timedelta(days=100)
        rows.append(_episode(str(c), f"{start:%d/%m/%Y}", f"{end:%d/%m/%Y}", "K2", "E4A"))
    eps = _write(tmp_path / "e.csv", rows, list(EPISODE_COLUMNS))
    header = [[str(c), "1", "01/01/2004"] for c in range(1, 9)]
    hd = _write(tmp_path / "h.csv", header, ["CHILD", "SEX", "DOB"])
    extract = read_extract(eps, hd)
    assert observation_start(extract) == dt.date(2017, 4, 1)
    cal = calibrate(extract, dt.date(2019, 3, 31))
    assert cal.window_start == dt.date(2017, 4, 1)
    assert cal.cleaning["nested_trimmed"] == 1
    # The stay that began in February 2017 began before the data: not an arrival in the window.
    assert cal.arrivals["ebd"].n == 7
    assert cal.arrivals["ebd"].years == pytest.approx(2.0, abs=0.01)
    # A YEAR column names the collections outright; --since still overrides.
    with_year = pd.read_csv(eps, dtype=str, keep_default_na=False)
    with_year["YEAR"] = ["2018", "2018"] + ["2019"] * 7
    with_year.to_csv(eps, index=False)
    assert read_extract(eps, hd).years == [2017, 2018]
    assert observation_start(read_extract(eps, hd)) == dt.date(2017, 4, 1)
    since = calibrate(read_extract(eps, hd), dt.date(2019, 3, 31), window_start=dt.date(2017, 6, 1))
    assert since.window_start == dt.date(2017, 6, 1)


def test_unknown_code_names_the_years_allowed_list(tmp_path: Path) -> None:
    rows = [_episode("1", "01/05/2023", "01/06/2023", "Z11", "E4A")]
    eps = _write(tmp_path / "e.csv", rows, list(EPISODE_COLUMNS))
    hd = _write(tmp_path / "h.csv", [["1", "1", "01/01/2008"]], ["CHILD", "SEX", "DOB"])
    with pytest.raises(ExtractError) as info:
        read_extract(eps, hd)
    line = info.value.one_line()
    assert line.startswith(f"{eps}, row 2, column PLACE: placement 'Z11'")
    assert "is valid from the 2025-26 return" in line
    assert "allowed in the 2023-24 return: K2, R1," in line and "Z1)" in line


def test_a_broken_xml_return_is_one_line_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "return.xml"
    bad.write_text("<EXPSSDA903>\n<CHILD>\n<EPISODE>\n</CHILD>\n", encoding="utf-8")
    with pytest.raises(ExtractError) as info:
        read_extract(bad)
    assert info.value.one_line().startswith(f"{bad}, row 4: not a valid XML file")


@pytest.mark.parametrize(
    ("text", "year"),
    [("2024", 2023), ("2023-24", 2023), ("2023/24", 2023), ("2023-2024", 2023), ("2023-25", None)],
)
def test_year_column_values(text: str, year: int | None) -> None:
    assert collection_year(text) == year
