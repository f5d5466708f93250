"""Write the hand-made SSDA903 fixtures of tests/test_ssda903_formats.py (no real child data).

One council's made-up children (two collection years, 2023-24 and 2024-25) written in the forms
councils export: a folder of yearly CSV returns (with nested episodes and a child missing from
the Header), the DfE XML return, and one file mixing three councils (lower-case column names and
codes, ISO dates); and a small 2025-26 return with that year's new codes. Run it from the
repository root to write them again: ``python tests/data/ssda903/make_fixtures.py``.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
COLUMNS = [
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
]
AS_OF = dt.date(2025, 3, 31)
YEARS = (2023, 2024)  # 2023-24 and 2024-25
HEADER_GAP = ("1033", "1034")  # children the Header tables leave out
NESTED = ("1005", "1012", "1020")  # a foster episode that contains the residential one


def _d(day: dt.date | None) -> str:
    return "" if day is None else day.strftime("%d/%m/%Y")


def council(seed: int, first_id: int, n: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Episodes (true end dates as of AS_OF) and Header rows of ``n`` made-up children."""
    rng = np.random.default_rng(seed)
    episodes, header = [], []
    for k in range(n):
        child = str(first_id + k)
        dob = dt.date(2006, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
        start = dt.date(2022, 4, 1) + dt.timedelta(days=int(rng.integers(0, 1000)))
        stay = int(rng.exponential(320)) + 7
        end: dt.date | None = start + dt.timedelta(days=stay)
        if end is not None and end > AS_OF:
            end = None
        cin = "N2" if k % 5 == 0 else "N1"
        home = f"CV{1 + k % 6} {1 + k % 9}AB"
        common = {"CIN": cin, "HOME_POST": home, "LS": "C2"}
        rows = []
        fostered_from = start - dt.timedelta(days=int(rng.integers(60, 400)))
        if child in NESTED:
            # The foster episode was never closed when the child moved: it runs on past the
            # residential one (as councils' systems leave them).
            rows.append(
                {
                    **common,
                    "DECOM": _d(fostered_from),
                    "RNE": "S",
                    "PLACE": "U4",
                    "PLACE_PROVIDER": "PR1",
                    "DEC": _d(AS_OF - dt.timedelta(days=3)),
                    "REC": "E4A",
                    "REASON_PLACE_CHANGE": "",
                    "PL_POST": "CV2 3XY",
                    "URN": "SC900001",
                }
            )
            rne = "P"
        elif k % 2 == 0:
            rows.append(
                {
                    **common,
                    "DECOM": _d(fostered_from),
                    "RNE": "S",
                    "PLACE": "U4",
                    "PLACE_PROVIDER": "PR1",
                    "DEC": _d(start),
                    "REC": "X1",
                    "REASON_PLACE_CHANGE": "CARPL",
                    "PL_POST": "CV2 3XY",
                    "URN": "SC900001",
                }
            )
            rne = "P"
        else:
            rne = "S"
        rec = "" if end is None else ("E4A", "E13", "E8", "E41")[k % 4]
        rows.append(
            {
                **common,
                "DECOM": _d(start),
                "RNE": rne,
                "PLACE": "K2" if k % 7 else "R1",
                "PLACE_PROVIDER": "PR4",
                "DEC": _d(end),
                "REC": rec,
                "REASON_PLACE_CHANGE": "",
                "PL_POST": f"B{1 + k % 9} 4QT",
                "URN": f"SC91{k:04d}" if k % 7 else "",
            }
        )
        for r in rows:
            episodes.append({"CHILD": child, **{c: r.get(c, "") for c in COLUMNS[1:]}})
        header.append(
            {
                "CHILD": child,
                "SEX": "1" if k % 2 else "2",
                "DOB": _d(dob),
                "ETHNIC": "WBRI",
                "UPN": "UN2",
                "MOTHER": "" if k % 2 else "0",
                "MC_DOB": "",
            }
        )
    return episodes, header


def collection(episodes: pd.DataFrame, year: int) -> pd.DataFrame:
    """One year's return: episodes open in it, end dates after it blank."""
    decom = pd.to_datetime(episodes["DECOM"], format="%d/%m/%Y")
    dec = pd.to_datetime(episodes["DEC"], format="%d/%m/%Y")
    lo, hi = pd.Timestamp(year, 4, 1), pd.Timestamp(year + 1, 3, 31)
    out = episodes[(decom <= hi) & (dec.isna() | (dec >= lo))].copy()
    later = (dec > hi)[out.index]
    out.loc[later, ["DEC", "REC", "REASON_PLACE_CHANGE"]] = ""
    return out


def write_xml(episodes: pd.DataFrame, header: pd.DataFrame, path: Path) -> None:
    root = ET.Element("EXPSSDA903")
    for h in header.to_dict("records"):
        child = ET.SubElement(root, "CHILD")
        head = ET.SubElement(child, "HEADER")
        for col in ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"):
            ET.SubElement(head, "CHILDID" if col == "CHILD" else col).text = h[col] or None
        for e in episodes[episodes["CHILD"] == h["CHILD"]].to_dict("records"):
            node = ET.SubElement(child, "EPISODE")
            for col in COLUMNS[1:]:
                ET.SubElement(node, "PL" if col == "PLACE" else col).text = e[col] or None
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main() -> None:
    ep_rows, hd_rows = council(15, 1001, 36)
    episodes = pd.DataFrame(ep_rows, columns=COLUMNS)
    header = pd.DataFrame(hd_rows)
    yearly = HERE / "yearly"
    yearly.mkdir(exist_ok=True)
    for year in YEARS:
        ret = collection(episodes, year)
        ret.to_csv(yearly / f"episodes_{year}-{(year + 1) % 100}.csv", index=False)
        kids = set(ret["CHILD"]) - set(HEADER_GAP)
        header[header["CHILD"].isin(kids)].to_csv(
            yearly / f"header_{year}-{(year + 1) % 100}.csv", index=False
        )
    # The same episodes, seen on AS_OF, as one XML return (without the Header gap's children).
    seen = pd.concat([collection(episodes, y) for y in YEARS])
    seen = seen.sort_values(["CHILD", "DECOM", "DEC"], na_position="first")
    seen = seen.drop_duplicates(["CHILD", "DECOM"], keep="last")
    known = ~seen["CHILD"].isin(HEADER_GAP)
    write_xml(seen[known], header[~header["CHILD"].isin(HEADER_GAP)], HERE / "return.xml")
    # Three councils in one file: lower-case names and codes, ISO dates, colliding child ids.
    mixed_e, mixed_h = [seen[known].assign(LA="E08000026")], [header.assign(LA="E08000026")]
    for la, seed in (("E08000025", 7), ("E06000001", 8)):
        e, h = council(seed, 1001, 12)
        mixed_e.append(pd.DataFrame(e, columns=COLUMNS).assign(LA=la))
        mixed_h.append(pd.DataFrame(h).assign(LA=la))
    me = pd.concat(mixed_e, ignore_index=True)
    for col in ("DECOM", "DEC"):
        me[col] = pd.to_datetime(me[col], format="%d/%m/%Y").dt.strftime("%Y-%m-%d").fillna("")
    for col in ("PLACE", "REC", "RNE"):
        me[col] = me[col].str.lower()
    me.columns = [c.lower() for c in me.columns]
    me.to_csv(HERE / "mixed_la_episodes.csv", index=False)
    mh = pd.concat(mixed_h, ignore_index=True)
    mh.columns = [c.lower() for c in mh.columns]
    mh.to_csv(HERE / "mixed_la_header.csv", index=False)
    new_codes()


def new_codes() -> None:
    """A 2025-26 return: sex M/F, K3 and Z11-Z14, and an H5 episode begun in 2024-25."""
    rng = np.random.default_rng(26)
    episodes, header = [], []
    for k in range(24):
        child = str(2001 + k)
        dob = dt.date(2008, 6, 1) + dt.timedelta(days=int(rng.integers(0, 3 * 365)))
        start = dt.date(2025, 4, 1) + dt.timedelta(days=int(rng.integers(0, 200)))
        end = start + dt.timedelta(days=int(rng.integers(20, 150)))
        common = {"CHILD": child, "LS": "C2", "CIN": "N1", "HOME_POST": "CV3 1AB"}
        rows = [
            {
                **common,
                "DECOM": _d(start),
                "RNE": "S",
                "PLACE": "K2",
                "PLACE_PROVIDER": "PR4",
                "DEC": _d(end),
                "REC": "X1",
                "REASON_PLACE_CHANGE": "CARPL",
                "PL_POST": "B5 4QT",
                "URN": f"SC92{k:04d}",
            },
            {
                **common,
                "DECOM": _d(end),
                "RNE": "P",
                "PLACE": ("Z11", "Z12", "Z13", "Z14")[k % 4],
                "PLACE_PROVIDER": "",
                "DEC": "",
                "REC": "",
                "REASON_PLACE_CHANGE": "",
                "PL_POST": "B5 4QT",
                "URN": "",
            },
        ]
        if k % 6 == 0:  # in supported accommodation since 2024-25 (H5 then), K3 in 2025-26
            rows.insert(
                0,
                {
                    **common,
                    "DECOM": "01/02/2025",
                    "RNE": "S",
                    "PLACE": "H5",
                    "PLACE_PROVIDER": "PR4",
                    "DEC": _d(start),
                    "REC": "X1",
                    "REASON_PLACE_CHANGE": "CHILD",
                    "PL_POST": "CV4 2ZZ",
                    "URN": "SC930001",
                },
            )
            rows[1]["RNE"] = "P"
            rows[-1].update(PLACE="K3", PLACE_PROVIDER="PR4", URN="SC930002")
        episodes += rows
        header.append(
            {
                "CHILD": child,
                "SEX": "MF"[k % 2],
                "DOB": _d(dob),
                "ETHNIC": "WBRI",
                "UPN": "UN2",
                "MOTHER": "" if k % 2 == 0 else "0",
                "MC_DOB": "",
            }
        )
    pd.DataFrame(episodes, columns=COLUMNS).to_csv(HERE / "episodes_2025-26.csv", index=False)
    pd.DataFrame(header).to_csv(HERE / "header_2025-26.csv", index=False)


if __name__ == "__main__":
    main()
