"""Read and validate the SSDA903 Episodes and Header tables, in the forms councils export them.

Accepted: CSV files (one, several, or a folder of yearly returns, stacked) and the DfE's 903 XML
return (a ``CHILD`` element per child, its ``HEADER`` fields and ``EPISODE`` elements). Column
names and codes are read without regard to case; dates may be DD/MM/YYYY (the 903's own format)
or YYYY-MM-DD. An ``LA`` column holding several councils must be narrowed to one (``la``); a
``YEAR`` column names each row's collection year.

Every problem is a :class:`DataIssue` naming the file, the row (the line of the CSV file as a
spreadsheet shows it, the header being row 1; the line of the element in an XML file) and the
column, so a data officer can go straight to the cell. Problems that make the data unusable (a
missing column, a date that is not a date, a code not valid in the episode's years) are errors;
what the public demand models repair without fuss (a row without a child or a start date,
children missing from the Header, overlaps) are warnings.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.sax
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import Locator

import numpy as np
import pandas as pd

from simulation.calibration.codes import (
    FIRST_YEAR,
    LAST_YEAR,
    any_year_codes,
    code_problem,
    return_year,
    return_year_label,
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
# Columns a multi-council or multi-year extract adds: the council's code and the collection.
EXTRA_COLUMNS = ("LA", "YEAR")
# The XML return's own names for two columns.
XML_NAMES = {"CHILDID": "CHILD", "PL": "PLACE"}
# Episode codes checked against the collection years the episode was open in.
EPISODE_CODE_FIELDS = ("RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC")

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
    """A validated 903 extract: episodes and header, with the warnings found on the way.

    ``years`` are the collection years the extract says it holds (its ``YEAR`` column), empty
    when it does not say; ``first_end`` is the earliest end date as written, before any
    cleaning (the window is inferred from these, never from repaired dates).
    """

    episodes: pd.DataFrame
    header: pd.DataFrame
    episodes_file: str
    header_file: str
    warnings: list[DataIssue] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    first_end: dt.date | None = None
    first_start: dt.date | None = None
    la: str | None = None
    stats: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Files


def _frame_of(frame: pd.DataFrame, name: str, first_row: int = 2) -> pd.DataFrame:
    """Upper-case, stripped column names and values; ``row`` and ``file`` columns added."""
    frame.columns = [
        c if c == "row" else XML_NAMES.get(c, c)
        for c in (str(c) if c == "row" else str(c).strip().upper() for c in frame.columns)
    ]
    frame = frame.loc[:, ~pd.Index(frame.columns).duplicated()]
    for c in frame.columns:
        frame[c] = frame[c].astype(str).str.strip()
    if "row" not in frame.columns:
        frame["row"] = np.arange(len(frame), dtype=np.int64) + first_row
    frame["file"] = name
    return frame.reset_index(drop=True)


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """A CSV as text with ``row`` (as a spreadsheet shows it) and ``file`` columns."""
    p = Path(path)
    name = str(path)
    last_exc: Exception | None = None
    for encoding in ("utf-8-sig", "cp1252"):  # Excel exports are often Windows-1252
        try:
            frame = pd.read_csv(
                p, dtype=str, keep_default_na=False, na_values=[], encoding=encoding
            )
            return _frame_of(frame, name)
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
    raise ExtractError([DataIssue(name, None, None, f"cannot decode: {last_exc}")])


def require_columns(
    frame: pd.DataFrame, required: Iterable[str], optional: Iterable[str], table: str, name: str
) -> pd.DataFrame:
    """Refuse a table without its required columns; add the missing optional ones empty."""
    cols = [c for c in frame.columns if c not in ("row", "file")]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(cols) or "(none)"
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
    return frame


def read_table(
    path: str | Path, required: Iterable[str], optional: Iterable[str], table: str
) -> pd.DataFrame:
    """Read a CSV as text, with a ``row`` column giving each record's row in the file.

    Column names are matched without regard to case or surrounding spaces. Missing optional
    columns are added empty.
    """
    return require_columns(read_csv_text(path), required, optional, table, str(path))


class _Xml903(ContentHandler):
    """The 903 XML return, element by element: a header row per CHILD, a row per EPISODE.

    Leaf elements directly under ``CHILD`` or its ``HEADER`` are the child's Header fields;
    those under ``EPISODE`` the episode's. Sub-tables (reviews, missing spells, ...) are skipped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.locator: Locator | None = None
        self.path: list[str] = []
        self.text: list[str] = []
        self.child: dict[str, str] | None = None
        self.episode: dict[str, str] | None = None
        self.children: list[dict[str, str]] = []
        self.episodes: list[tuple[dict[str, str], dict[str, str]]] = []
        self.top: dict[str, str] = {}  # leaves outside any child (the return's LA, year)

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def _line(self) -> str:
        return str(self.locator.getLineNumber()) if self.locator is not None else ""

    def startElement(self, name: str, attrs: object) -> None:
        tag = name.upper()
        self.path.append(tag)
        self.text = []
        if tag == "CHILD" and self.child is None:
            self.child = {"row": self._line()}
        elif tag == "EPISODE" and self.child is not None:
            self.episode = {"row": self._line()}

    def characters(self, content: str) -> None:
        self.text.append(content)

    def endElement(self, name: str) -> None:
        tag = self.path.pop()
        value = "".join(self.text).strip()
        self.text = []
        parent = self.path[-1] if self.path else ""
        if tag == "EPISODE" and self.episode is not None and self.child is not None:
            self.episodes.append((self.child, self.episode))
            self.episode = None
        elif tag == "CHILD" and self.child is not None and parent != "CHILD":
            self.children.append(self.child)
            self.child = None
        elif self.episode is not None and parent == "EPISODE":
            self.episode[tag] = value
        elif self.child is not None and parent in ("CHILD", "HEADER"):
            self.child.setdefault(tag, value)
        elif self.child is None and tag in EXTRA_COLUMNS:
            self.top[tag] = value


def read_xml(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Episodes and Header tables of a 903 XML return (``row`` = the element's line)."""
    name = str(path)
    handler = _Xml903()
    parser = xml.sax.make_parser()
    parser.setFeature(xml.sax.handler.feature_external_ges, False)  # no external entities
    parser.setContentHandler(handler)
    try:
        parser.parse(str(path))
    except FileNotFoundError:
        raise ExtractError([DataIssue(name, None, None, "no such file")]) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ExtractError([DataIssue(name, None, None, f"cannot read: {exc}")]) from None
    except xml.sax.SAXParseException as exc:
        raise ExtractError(
            [
                DataIssue(
                    name, exc.getLineNumber(), None, f"not a valid XML file: {exc.getMessage()}"
                )
            ]
        ) from None
    if not handler.children:
        raise ExtractError([DataIssue(name, None, None, "no CHILD elements: not a 903 XML return")])
    header_rows = [{**handler.top, **c} for c in handler.children]
    keys = ("CHILD", "CHILDID", *EXTRA_COLUMNS)
    episode_rows = [
        {**handler.top, **{k: v for k, v in c.items() if k in keys}, **e}
        for c, e in handler.episodes
    ]
    header = _frame_of(pd.DataFrame(header_rows).fillna(""), name)
    episodes = _frame_of(
        pd.DataFrame(episode_rows, columns=list({k for r in episode_rows for k in r})).fillna(""),
        name,
    )
    for frame in (header, episodes):
        frame["row"] = frame["row"].astype(np.int64)
    return episodes, header


def _expand(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read: a folder gives its CSV and XML files (sorted); (path, came from a folder)."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.suffix.lower() in (".csv", ".xml")
            )
            if not found:
                raise ExtractError([DataIssue(str(p), None, None, "no CSV or XML files in folder")])
            out += [(f, True) for f in found]
        else:
            out.append((p, False))
    return out


def _table_kind(frame: pd.DataFrame) -> str:
    cols = set(frame.columns)
    if "DECOM" in cols:
        return "episodes"
    if {"CHILD", "DOB", "SEX"} <= cols:
        return "header"
    return "other"


@dataclass
class _Gathered:
    episodes: list[pd.DataFrame] = field(default_factory=list)
    header: list[pd.DataFrame] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    episode_files: list[str] = field(default_factory=list)
    header_files: list[str] = field(default_factory=list)


def gather(episodes: Iterable[str | Path], header: Iterable[str | Path]) -> _Gathered:
    """Every file named (or in a folder named), sorted into Episodes and Header tables.

    A file given as episodes is an Episodes table and one given as header a Header table; a
    folder's CSV files are told apart by their columns; an XML return gives both.
    """
    out = _Gathered()
    for given, role in ((episodes, "episodes"), (header, "header")):
        for path, from_folder in _expand(given):
            name = str(path)
            if path.suffix.lower() == ".xml":
                ep, hd = read_xml(path)
                out.episodes.append(ep)
                out.header.append(hd)
                out.episode_files.append(name)
                out.header_files.append(name)
                continue
            frame = read_csv_text(path)
            kind = _table_kind(frame) if from_folder else role
            if kind == "episodes":
                out.episodes.append(frame)
                out.episode_files.append(name)
            elif kind == "header":
                out.header.append(frame)
                out.header_files.append(name)
            else:
                out.issues.append(
                    DataIssue(
                        name,
                        None,
                        None,
                        "neither an Episodes table (no DECOM column) nor a Header table "
                        "(CHILD, SEX, DOB): ignored",
                        "warning",
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------
# Values


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates written DD/MM/YYYY (the 903's own format) or YYYY-MM-DD; NaT where not a date.

    A midnight time that spreadsheets append (``01/04/2023 00:00``) is ignored.
    """
    text = values.str.replace(r"[\sT]+00:00(:00)?(\.0+)?$", "", regex=True)
    dmy = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return dmy.fillna(iso)


_YEAR_RE = re.compile(r"^(\d{4})(?:\s*[-/]\s*(\d{2}|\d{4}))?$")


def collection_year(text: str) -> int | None:
    """The collection year (its first April's year) a ``YEAR`` value names, or None.

    ``2024`` names the collection ending in 2024 (2023-24), as the DfE's own tools write it;
    ``2023-24`` and ``2023/24`` name it in full.
    """
    m = _YEAR_RE.match(text.strip())
    if not m:
        return None
    first = int(m.group(1))
    if m.group(2) is None:
        return first - 1
    second = int(m.group(2))
    return first if second % 100 == (first + 1) % 100 else None


def _issues_for(frame: pd.DataFrame, mask: pd.Series, column: str, message: str) -> list[DataIssue]:
    return [
        DataIssue(str(f), int(r), column, message)
        for f, r in zip(frame.loc[mask, "file"], frame.loc[mask, "row"], strict=True)
    ]


def _date_issues(
    frame: pd.DataFrame, column: str, parsed: pd.Series, required: bool
) -> list[DataIssue]:
    raw = frame[column]
    bad = parsed.isna() & (raw != "")
    issues = [
        DataIssue(
            str(f),
            int(r),
            column,
            f"'{v}' is not a date (write DD/MM/YYYY, as the 903 does, or YYYY-MM-DD)",
        )
        for f, r, v in zip(frame.loc[bad, "file"], frame.loc[bad, "row"], raw[bad], strict=True)
    ]
    if required:
        issues += _issues_for(frame, raw == "", column, "date is missing")
    return issues


def _episode_code_issues(frame: pd.DataFrame, decom: pd.Series, dec: pd.Series) -> list[DataIssue]:
    """Codes checked against the collection years each episode was open in."""
    today = pd.Timestamp(dt.date.today())
    ok = decom.notna()
    first = decom[ok].map(lambda d: return_year(d.date()))
    # An open episode is open today, or at its start if that is later.
    end = dec[ok].where(dec[ok].notna(), decom[ok].where(decom[ok] > today, today))
    last = end.map(lambda d: return_year(d.date()))
    issues: list[DataIssue] = []
    for column in EPISODE_CODE_FIELDS:
        codes = frame.loc[ok, column]
        if column == "PLACE":
            issues += _issues_for(
                frame, ok & (frame["PLACE"] == ""), "PLACE", "placement code is missing"
            )
        filled = codes != ""
        combos = pd.DataFrame({"code": codes[filled], "y0": first[filled], "y1": last[filled]})
        for key, idx in combos.groupby(["code", "y0", "y1"]).groups.items():
            parts: tuple[object, ...] = tuple(key)  # type: ignore[arg-type]  # three columns
            code, y0, y1 = str(parts[0]), int(str(parts[1])), int(str(parts[2]))
            problem = code_problem(column, str(code), int(y0), int(y1))
            if problem is not None:
                where = pd.Series(frame.index.isin(idx), index=frame.index)
                issues += _issues_for(frame, where, column, problem)
    return issues


# ---------------------------------------------------------------------------------------------
# Tables


def type_episodes(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Typed episodes from text: the rows with a child and a start date, ``DECOM``/``DEC`` as
    timestamps (``DEC`` NaT for an open episode), codes upper-cased; every problem found."""
    issues: list[DataIssue] = []
    no_key = (frame["CHILD"] == "") | (frame["DECOM"] == "")
    issues += [
        DataIssue(
            str(f),
            int(r),
            "CHILD" if c == "" else "DECOM",
            "row without a child or a start date: dropped",
            "warning",
        )
        for f, r, c in zip(
            frame.loc[no_key, "file"],
            frame.loc[no_key, "row"],
            frame.loc[no_key, "CHILD"],
            strict=True,
        )
    ]
    frame = frame[~no_key].reset_index(drop=True)
    for c in (*EPISODE_CODE_FIELDS, "URN"):
        frame[c] = frame[c].str.upper()
    decom = parse_dates(frame["DECOM"])
    dec = parse_dates(frame["DEC"])
    issues += _date_issues(frame, "DECOM", decom, required=True)
    issues += _date_issues(frame, "DEC", dec, required=False)
    backwards = dec.notna() & decom.notna() & (dec < decom)
    issues += [
        DataIssue(
            str(f),
            int(r),
            "DEC",
            f"episode ends ({e:%d/%m/%Y}) before it starts ({s:%d/%m/%Y})",
        )
        for f, r, s, e in zip(
            frame.loc[backwards, "file"],
            frame.loc[backwards, "row"],
            decom[backwards],
            dec[backwards],
            strict=True,
        )
    ]
    ended_no_reason = dec.notna() & (frame["REC"] == "")
    issues += [
        DataIssue(
            str(f), int(r), "REC", "episode has an end date but no reason: route 'other'", "warning"
        )
        for f, r in zip(
            frame.loc[ended_no_reason, "file"], frame.loc[ended_no_reason, "row"], strict=True
        )
    ]
    issues += _episode_code_issues(frame, decom, dec)
    frame["DECOM"] = decom
    frame["DEC"] = dec
    return frame, issues


def read_episodes(path: str | Path) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Read one Episodes CSV: typed columns plus every problem found (see :func:`type_episodes`)."""
    frame = read_table(
        path,
        EPISODE_REQUIRED,
        [c for c in (*EPISODE_COLUMNS, *EXTRA_COLUMNS) if c not in EPISODE_REQUIRED],
        "Episodes",
    )
    return type_episodes(frame)


def type_header(frame: pd.DataFrame, years: Sequence[int]) -> tuple[pd.DataFrame, list[DataIssue]]:
    """One row per child with ``DOB`` as a timestamp; sex checked against ``years``' codes.

    The same child may appear once per return year; identical dates of birth are merged, a
    child with two different dates of birth is an error.
    """
    issues: list[DataIssue] = []
    no_child = frame["CHILD"] == ""
    issues += [
        DataIssue(str(f), int(r), "CHILD", "row without a child: dropped", "warning")
        for f, r in zip(frame.loc[no_child, "file"], frame.loc[no_child, "row"], strict=True)
    ]
    frame = frame[~no_child].reset_index(drop=True)
    frame["SEX"] = frame["SEX"].str.upper()
    sexes = any_year_codes("SEX", years)
    bad_sex = (frame["SEX"] != "") & ~frame["SEX"].isin(sexes)
    span = f"{return_year_label(min(years))} to {return_year_label(max(years))}"
    issues += [
        DataIssue(
            str(f),
            int(r),
            "SEX",
            f"sex '{v}' is not a code of the {span} returns (allowed: {', '.join(sorted(sexes))})",
        )
        for f, r, v in zip(
            frame.loc[bad_sex, "file"],
            frame.loc[bad_sex, "row"],
            frame.loc[bad_sex, "SEX"],
            strict=True,
        )
    ]
    dob = parse_dates(frame["DOB"])
    issues += _date_issues(frame, "DOB", dob, required=True)
    frame["DOB"] = dob
    ok = frame[dob.notna()]
    first_dob = ok.groupby("CHILD")["DOB"].transform("first")
    clash = ok["DOB"] != first_dob
    issues += [
        DataIssue(
            str(f),
            int(r),
            "DOB",
            f"child '{c}' has two dates of birth ({d0:%d/%m/%Y} and {d1:%d/%m/%Y})",
        )
        for f, r, c, d0, d1 in zip(
            ok.loc[clash, "file"],
            ok.loc[clash, "row"],
            ok.loc[clash, "CHILD"],
            first_dob[clash],
            ok.loc[clash, "DOB"],
            strict=True,
        )
    ]
    frame = frame.drop_duplicates("CHILD", keep="first").reset_index(drop=True)
    return frame, issues


def read_header(path: str | Path) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Read one Header CSV (see :func:`type_header`), sex checked against every covered year."""
    frame = read_table(
        path,
        HEADER_REQUIRED,
        [c for c in (*HEADER_COLUMNS, *EXTRA_COLUMNS) if c not in HEADER_REQUIRED],
        "Header",
    )
    return type_header(frame, range(FIRST_YEAR, LAST_YEAR + 1))


def _select_la(
    episodes: pd.DataFrame, header: pd.DataFrame, la: str | None, files: str
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Keep one council's rows of an extract with an ``LA`` column, or refuse naming the codes."""
    found = sorted({*episodes["LA"], *header["LA"]} - {""})
    if la is None:
        if len(found) > 1:
            raise ExtractError(
                [
                    DataIssue(
                        files,
                        None,
                        "LA",
                        f"the extract holds {len(found)} councils ({', '.join(found)}): "
                        "choose one with --la",
                    )
                ]
            )
        return episodes, header, found[0] if found else None
    want = la.strip().upper()
    if want not in {f.upper() for f in found}:
        listing = ", ".join(found) if found else "none: there is no LA column"
        raise ExtractError(
            [DataIssue(files, None, "LA", f"--la {la}: no rows of that council (found: {listing})")]
        )

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        keep = (frame["LA"].str.upper() == want) | (frame["LA"] == "")
        return frame[keep].reset_index(drop=True)

    return mine(episodes), mine(header), want


def _years(episodes: pd.DataFrame, header: pd.DataFrame) -> tuple[list[int], list[DataIssue]]:
    issues: list[DataIssue] = []
    years: set[int] = set()
    for frame in (episodes, header):
        values = frame["YEAR"]
        for text in values[values != ""].unique():
            y = collection_year(str(text))
            if y is None:
                bad = values == text
                issues += _issues_for(
                    frame,
                    bad,
                    "YEAR",
                    f"'{text}' is not a collection year (write 2024 for 2023-24, or 2023-24)",
                )
            else:
                years.add(y)
    return sorted(years), issues


def read_extract(
    episodes_path: str | Path | Sequence[str | Path],
    header_path: str | Path | Sequence[str | Path] | None = None,
    strict: bool = False,
    la: str | None = None,
) -> Extract:
    """Read and validate an extract; raise :class:`ExtractError` if any error is found.

    ``episodes_path`` and ``header_path`` are each a file, a folder or a list of them; a folder
    or an XML return may hold both tables (then ``header_path`` may be left out). Tables from
    several files are stacked (the cleaning drops the copies of an episode that several yearly
    returns hold). Episodes of children missing from the Header are dropped with one warning
    (the child's age is needed for ageing out at 18). With ``strict``, warnings are errors.
    """

    def listed(p: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
        if p is None:
            return []
        return [p] if isinstance(p, str | Path) else list(p)

    got = gather(listed(episodes_path), listed(header_path))
    ep_files = ", ".join(got.episode_files) or "(no Episodes table)"
    hd_files = ", ".join(got.header_files) or "(no Header table)"
    for frames, kind in ((got.episodes, "Episodes"), (got.header, "Header")):
        if not frames:
            raise ExtractError(
                [
                    DataIssue(
                        ", ".join(map(str, listed(episodes_path) + listed(header_path))),
                        None,
                        None,
                        f"no {kind} table found (give --header, or a folder or XML return "
                        "holding it)",
                    )
                ]
            )
    req_e = [c for c in (*EPISODE_COLUMNS, *EXTRA_COLUMNS) if c not in EPISODE_REQUIRED]
    req_h = [c for c in (*HEADER_COLUMNS, *EXTRA_COLUMNS) if c not in HEADER_REQUIRED]
    episodes = pd.concat(
        [
            require_columns(f, EPISODE_REQUIRED, req_e, "Episodes", str(f["file"].iat[0]))
            for f in got.episodes
            if len(f)
        ]
        or [require_columns(got.episodes[0], EPISODE_REQUIRED, req_e, "Episodes", ep_files)],
        ignore_index=True,
    )
    header = pd.concat(
        [
            require_columns(f, HEADER_REQUIRED, req_h, "Header", str(f["file"].iat[0]))
            for f in got.header
            if len(f)
        ]
        or [require_columns(got.header[0], HEADER_REQUIRED, req_h, "Header", hd_files)],
        ignore_index=True,
    )
    episodes, header, council = _select_la(episodes, header, la, ep_files)
    years, issues = _years(episodes, header)
    issues = got.issues + issues
    episodes, ep_issues = type_episodes(episodes)
    raw_years = sorted(
        {
            return_year(d.date())
            for d in (episodes["DECOM"].min(), episodes["DEC"].max())
            if not pd.isna(d)
        }
    )
    span = years or (list(range(raw_years[0], raw_years[-1] + 1)) if raw_years else [2025])
    header, hd_issues = type_header(header, span)
    issues += ep_issues + hd_issues
    known = set(header["CHILD"])
    unknown = ~episodes["CHILD"].isin(known)
    stats = {"files": len(got.episode_files) + len(got.header_files)}
    if unknown.any():
        gone = episodes[unknown]
        first = gone.iloc[0]
        n_children = gone["CHILD"].nunique()
        issues.append(
            DataIssue(
                str(first["file"]),
                int(first["row"]),
                "CHILD",
                f"{n_children} children ({len(gone)} episodes) are not in the Header table, "
                f"the first '{first['CHILD']}' here: dropped, as their ages are unknown",
                "warning",
            )
        )
        stats["children_not_in_header"] = int(n_children)
        episodes = episodes[~unknown].reset_index(drop=True)
    check(issues, strict)
    ends = episodes["DEC"].dropna()
    return Extract(
        episodes=episodes,
        header=header,
        episodes_file=ep_files,
        header_file=hd_files,
        warnings=[i for i in issues if i.severity == "warning"],
        years=years,
        first_end=ends.min().date() if len(ends) else None,
        first_start=episodes["DECOM"].min().date() if len(episodes) else None,
        la=council,
        stats=stats,
    )


def check(issues: list[DataIssue], strict: bool) -> None:
    """Raise :class:`ExtractError` if there are errors (or, when ``strict``, warnings)."""
    fatal = [i for i in issues if i.severity == "error" or strict]
    if fatal:
        raise ExtractError(fatal[:MAX_ISSUES])
