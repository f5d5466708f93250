"""Read and validate the SSDA903 Episodes and Header tables (CSV).

Every problem is a :class:`DataIssue` naming the file, the row (the line of the CSV file as a
spreadsheet shows it: the header is row 1) and the column, so a data officer can go straight to
the cell. Problems that make the data unusable (a missing column, a date that is not a date, an
unknown code) are errors; problems the cleaning repairs the way the public demand models do (a
row without a child or a start date, an overlap trimmed) are warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from simulation.calibration.codes import (
    CIN_CODES,
    LS_CODES,
    PROVIDER_CODES,
    REC_CODES,
    RNE_CODES,
    place_code_problem,
    return_year,
)

EPISODE_COLUMNS = (
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
)
# Older returns have no URN or REASON_PLACE_CHANGE; postcodes are often withheld from analysts.
EPISODE_REQUIRED = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC")
HEADER_COLUMNS = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")
HEADER_REQUIRED = ("CHILD", "SEX", "DOB")

MAX_ISSUES = 200  # enough to fix a file with; a broken export would otherwise print thousands


@dataclass(frozen=True)
class DataIssue:
    """One problem in a data file: where (file, row, column) and what."""

    file: str
    row: int | None
    column: str | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


class ExtractError(ValueError):
    """An extract that cannot be used, with every problem found (errors first)."""

    def __init__(self, issues: list[DataIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: i.severity != "error")
        super().__init__(self.one_line())

    def one_line(self) -> str:
        first = str(self.issues[0]) if self.issues else "invalid extract"
        more = len(self.issues) - 1
        return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")

    def lines(self, limit: int = 50) -> list[str]:
        out = [str(i) for i in self.issues[:limit]]
        if len(self.issues) > limit:
            out.append(f"... and {len(self.issues) - limit} more problems")
        return out


@dataclass
class Extract:
    """A validated 903 extract: episodes and header, with the warnings found on the way."""

    episodes: pd.DataFrame
    header: pd.DataFrame
    episodes_file: str
    header_file: str
    warnings: list[DataIssue] = field(default_factory=list)


def read_table(
    path: str | Path, required: Iterable[str], optional: Iterable[str], table: str
) -> pd.DataFrame:
    """Read a CSV as text, with a ``row`` column giving each record's row in the file.

    Column names are matched without regard to case or surrounding spaces. Missing optional
    columns are added empty.
    """
    p = Path(path)
    name = str(path)
    frame: pd.DataFrame | None = None
    last_exc: Exception | None = None
    for encoding in ("utf-8-sig", "cp1252"):  # Excel exports are often Windows-1252
        try:
            frame = pd.read_csv(
                p, dtype=str, keep_default_na=False, na_values=[], encoding=encoding
            )
            break
        except UnicodeDecodeError as exc:
            last_exc = exc
        except FileNotFoundError:
            raise ExtractError([DataIssue(name, None, None, "no such file")]) from None
        except (IsADirectoryError, PermissionError) as exc:
            raise ExtractError([DataIssue(name, None, None, f"cannot read: {exc}")]) from None
        except pd.errors.EmptyDataError:
            raise ExtractError([DataIssue(name, None, None, "the file is empty")]) from None
        except pd.errors.ParserError as exc:
            raise ExtractError([DataIssue(name, None, None, f"not a valid CSV: {exc}")]) from None
    if frame is None:
        raise ExtractError([DataIssue(name, None, None, f"cannot decode: {last_exc}")])
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns) or "(none)"
        raise ExtractError(
            [
                DataIssue(
                    name, 1, c, f"required column of the {table} table is missing (found: {found})"
                )
                for c in missing
            ]
        )
    for c in optional:
        if c not in frame.columns:
            frame[c] = ""
    for c in frame.columns:
        frame[c] = frame[c].astype(str).str.strip()
    frame["row"] = np.arange(len(frame), dtype=np.int64) + 2  # row 1 is the header
    return frame.reset_index(drop=True)


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates written DD/MM/YYYY (the 903's own format) or YYYY-MM-DD; NaT where not a date.

    A midnight time that spreadsheets append (``01/04/2023 00:00``) is ignored.
    """
    text = values.str.replace(r"\s+00:00(:00)?$", "", regex=True)
    dmy = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return dmy.fillna(iso)


def _date_issues(
    frame: pd.DataFrame, column: str, parsed: pd.Series, name: str, required: bool
) -> list[DataIssue]:
    raw = frame[column]
    bad = parsed.isna() & (raw != "")
    issues = [
        DataIssue(
            name,
            int(r),
            column,
            f"'{v}' is not a date (write DD/MM/YYYY, as the 903 does, or YYYY-MM-DD)",
        )
        for r, v in zip(frame.loc[bad, "row"], raw[bad], strict=True)
    ]
    if required:
        empty = raw == ""
        issues += [
            DataIssue(name, int(r), column, "date is missing") for r in frame.loc[empty, "row"]
        ]
    return issues


def _code_issues(
    frame: pd.DataFrame, column: str, allowed: Iterable[str], name: str, what: str
) -> list[DataIssue]:
    allowed_set = set(allowed)
    values = frame[column].str.upper()
    bad = (values != "") & ~values.isin(allowed_set)
    listing = ", ".join(sorted(allowed_set))
    return [
        DataIssue(name, int(r), column, f"unknown {what} code '{v}' (allowed: {listing})")
        for r, v in zip(frame.loc[bad, "row"], frame.loc[bad, column], strict=True)
    ]


def read_episodes(path: str | Path) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Read the Episodes table: typed columns plus every problem found.

    Returns the rows that have a child and a start date (others are dropped with a warning), with
    ``DECOM``/``DEC`` as timestamps (``DEC`` NaT for an open episode) and codes upper-cased.
    """
    name = str(path)
    frame = read_table(
        path,
        EPISODE_REQUIRED,
        [c for c in EPISODE_COLUMNS if c not in EPISODE_REQUIRED],
        "Episodes",
    )
    issues: list[DataIssue] = []
    no_key = (frame["CHILD"] == "") | (frame["DECOM"] == "")
    issues += [
        DataIssue(
            name,
            int(r),
            "CHILD" if c == "" else "DECOM",
            "row without a child or a start date: dropped",
            "warning",
        )
        for r, c in zip(frame.loc[no_key, "row"], frame.loc[no_key, "CHILD"], strict=True)
    ]
    frame = frame[~no_key].reset_index(drop=True)
    for c in ("RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC"):
        frame[c] = frame[c].str.upper()
    decom = parse_dates(frame["DECOM"])
    dec = parse_dates(frame["DEC"])
    issues += _date_issues(frame, "DECOM", decom, name, required=True)
    issues += _date_issues(frame, "DEC", dec, name, required=False)
    issues += _code_issues(frame, "RNE", RNE_CODES, name, "reason for new episode (RNE)")
    issues += _code_issues(frame, "LS", LS_CODES, name, "legal status (LS)")
    issues += _code_issues(frame, "CIN", CIN_CODES, name, "category of need (CIN)")
    issues += _code_issues(frame, "PLACE_PROVIDER", PROVIDER_CODES, name, "placement provider")
    issues += _code_issues(frame, "REC", REC_CODES, name, "reason episode ceased (REC)")

    backwards = dec.notna() & decom.notna() & (dec < decom)
    issues += [
        DataIssue(
            name,
            int(r),
            "DEC",
            f"episode ends ({e:%d/%m/%Y}) before it starts ({s:%d/%m/%Y})",
        )
        for r, s, e in zip(
            frame.loc[backwards, "row"], decom[backwards], dec[backwards], strict=True
        )
    ]
    ended_no_reason = dec.notna() & (frame["REC"] == "")
    issues += [
        DataIssue(
            name, int(r), "REC", "episode has an end date but no reason: route 'other'", "warning"
        )
        for r in frame.loc[ended_no_reason, "row"]
    ]
    # Placement codes are checked against the return years the episode was open in.
    today = pd.Timestamp(dt.date.today())
    ok_dates = decom.notna()
    place_problems: list[DataIssue] = []
    for r, code, s, e in zip(
        frame.loc[ok_dates, "row"],
        frame.loc[ok_dates, "PLACE"],
        decom[ok_dates],
        dec[ok_dates],
        strict=True,
    ):
        if code == "":
            place_problems.append(DataIssue(name, int(r), "PLACE", "placement code is missing"))
            continue
        end = e if not pd.isna(e) else max(s, today)
        problem = place_code_problem(code, return_year(s.date()), return_year(end.date()))
        if problem is not None:
            place_problems.append(DataIssue(name, int(r), "PLACE", problem))
    issues += place_problems
    frame["DECOM"] = decom
    frame["DEC"] = dec
    return frame, issues


def read_header(path: str | Path) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Read the Header table: one row per child with ``DOB`` as a timestamp.

    The same child may appear once per return year; identical dates of birth are merged, a child
    with two different dates of birth is an error.
    """
    name = str(path)
    frame = read_table(
        path, HEADER_REQUIRED, [c for c in HEADER_COLUMNS if c not in HEADER_REQUIRED], "Header"
    )
    issues: list[DataIssue] = []
    no_child = frame["CHILD"] == ""
    issues += [
        DataIssue(name, int(r), "CHILD", "row without a child: dropped", "warning")
        for r in frame.loc[no_child, "row"]
    ]
    frame = frame[~no_child].reset_index(drop=True)
    dob = parse_dates(frame["DOB"])
    issues += _date_issues(frame, "DOB", dob, name, required=True)
    frame["DOB"] = dob
    ok = frame[dob.notna()]
    first_dob = ok.groupby("CHILD")["DOB"].transform("first")
    clash = ok["DOB"] != first_dob
    issues += [
        DataIssue(
            name,
            int(r),
            "DOB",
            f"child '{c}' has two dates of birth ({d0:%d/%m/%Y} and {d1:%d/%m/%Y})",
        )
        for r, c, d0, d1 in zip(
            ok.loc[clash, "row"],
            ok.loc[clash, "CHILD"],
            first_dob[clash],
            ok.loc[clash, "DOB"],
            strict=True,
        )
    ]
    frame = frame.drop_duplicates("CHILD", keep="first").reset_index(drop=True)
    return frame, issues


def read_extract(
    episodes_path: str | Path, header_path: str | Path, strict: bool = False
) -> Extract:
    """Read and validate both tables; raise :class:`ExtractError` if any error is found.

    With ``strict``, warnings are errors too. Episodes whose child is not in the Header are
    errors (the child's age is needed for ageing out at 18).
    """
    episodes, ep_issues = read_episodes(episodes_path)
    header, hd_issues = read_header(header_path)
    issues = ep_issues + hd_issues
    known = set(header["CHILD"])
    unknown = episodes[~episodes["CHILD"].isin(known)].drop_duplicates("CHILD")
    issues += [
        DataIssue(
            str(episodes_path),
            int(r),
            "CHILD",
            f"child '{c}' is not in the Header table {header_path}",
        )
        for r, c in zip(unknown["row"], unknown["CHILD"], strict=True)
    ]
    check(issues, strict)
    return Extract(
        episodes=episodes,
        header=header,
        episodes_file=str(episodes_path),
        header_file=str(header_path),
        warnings=[i for i in issues if i.severity == "warning"],
    )


def check(issues: list[DataIssue], strict: bool) -> None:
    """Raise :class:`ExtractError` if there are errors (or, when ``strict``, warnings)."""
    fatal = [i for i in issues if i.severity == "error" or strict]
    if fatal:
        raise ExtractError(fatal[:MAX_ISSUES])
