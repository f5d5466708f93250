"""The DfE's SSDA903 validation rules that synth-903's yearly returns must meet.

Each test is one rule of the DfE's published validation rules for the 903 collection (its
number in the test's name), checked on the 2023-24, 2024-25 and 2025-26 returns that
``synth-903 --year`` writes from the Coventry 2023 scenario. Code lists come from the project's
own table (simulation/calibration/codes.py), which cites each year's guide.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from simulation import load_scenario
from simulation.calibration.codes import CODES, FIRST_YEAR, LAST_YEAR, allowed_in, return_year_label
from simulation.calibration.synth import Synthetic903, synth_903

YEARS = (2023, 2024, 2025)
TEMPORARY = {"T0", "T1", "T2", "T3", "T4"}
# Placement types that take no Ofsted URN (rules 218 and 222): parents, residential employment,
# care homes, health, custody, temporary moves, and "other" placements.
NO_URN = {"P1", "P3", "R1", "R2", "R5", *TEMPORARY, "Z1", "Z11", "Z12", "Z13", "Z14"}
POSTCODE = re.compile(r"^[A-Z]{1,2}\d{1,2}[A-Z]? \d[ABD-HJLNP-UW-Z]{2}$")


@pytest.fixture(scope="module")
def synth() -> Synthetic903:
    scenario = load_scenario("configs/coventry-2023.yaml")
    return synth_903(scenario, seed=1, as_of=dt.date(2029, 3, 31))


@pytest.fixture(scope="module", params=YEARS, ids=[return_year_label(y) for y in YEARS])
def year_return(
    request: pytest.FixtureRequest, synth: Synthetic903
) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    year = int(request.param)
    episodes, header = synth.collection(year)
    eps = episodes.copy()
    eps["start"] = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
    eps["end"] = pd.to_datetime(eps["DEC"], format="%d/%m/%Y")
    dob = pd.to_datetime(header.set_index("CHILD")["DOB"], format="%d/%m/%Y")
    eps["dob"] = eps["CHILD"].map(dob)
    eps = eps.sort_values(["CHILD", "start"], kind="stable").reset_index(drop=True)
    assert len(eps) > 100  # a return worth checking
    return year, eps, header


def _age(when: pd.Series, dob: pd.Series) -> pd.Series:
    """Whole years of age on ``when`` (a birthday counts from the day itself)."""
    years = when.dt.year - dob.dt.year
    before = (when.dt.month < dob.dt.month) | (
        (when.dt.month == dob.dt.month) & (when.dt.day < dob.dt.day)
    )
    return years - before.astype(int)


def _next(eps: pd.DataFrame, column: str) -> pd.Series:
    same = eps["CHILD"].shift(-1) == eps["CHILD"]
    return eps[column].shift(-1).where(same)


def test_the_return_holds_the_year_as_a_council_submits_it(year_return: tuple) -> None:
    year, eps, _ = year_return
    lo, hi = pd.Timestamp(year, 4, 1), pd.Timestamp(year + 1, 3, 31)
    assert (eps["start"] <= hi).all()
    assert (eps["end"].isna() | ((eps["end"] >= lo) & (eps["end"] <= hi))).all()
    open_ = eps["end"].isna()
    assert open_.any() and (eps.loc[open_, "REC"] == "").all()


def test_rule_101_sex_in_the_year_codes(year_return: tuple) -> None:
    year, _, header = year_return
    assert set(header["SEX"]) <= set(allowed_in("SEX", year))
    assert set(header["SEX"]) == ({"M", "F"} if year >= 2024 else {"1", "2"})


@pytest.mark.parametrize(
    "rule, column", [("143", "RNE"), ("144", "LS"), ("146", "PLACE"), ("149", "REC")]
)
def test_rules_143_144_146_149_codes_valid_in_the_year(
    year_return: tuple, rule: str, column: str
) -> None:
    year, eps, _ = year_return
    used = set(eps[column]) - {""}
    assert used <= set(allowed_in(column, year)), (rule, used - set(allowed_in(column, year)))


def test_rule_146_no_h5_after_its_withdrawal(year_return: tuple) -> None:
    year, eps, _ = year_return
    codes = set(eps["PLACE"])
    assert ("H5" in codes) is False or year <= 2024
    assert "K3" not in codes or year >= 2024


def test_rule_218_urn_where_required(year_return: tuple) -> None:
    _, eps, _ = year_return
    needs_urn = ~eps["PLACE"].isin(NO_URN)
    # The model's unregistered placements (a home without Ofsted registration, so without a
    # URN) are the one exception, written as K2 from private provision.
    unregistered = (eps["PLACE"] == "K2") & (eps["PLACE_PROVIDER"] == "PR4")
    missing = needs_urn & (eps["URN"].fillna("") == "") & ~unregistered
    assert not missing.any(), eps[missing].head()


def test_rule_222_no_urn_where_not_allowed(year_return: tuple) -> None:
    _, eps, _ = year_return
    assert (eps.loc[eps["PLACE"].isin(NO_URN), "URN"].fillna("") == "").all()


def test_rule_225_reason_for_a_move_on_the_episode_that_ends(year_return: tuple) -> None:
    _, eps, _ = year_return
    moves = (
        (eps["REC"] == "X1")
        & ~eps["PLACE"].isin(TEMPORARY)
        & _next(eps, "RNE").isin(["P", "B", "T", "U"])
        & ~_next(eps, "PLACE").isin(TEMPORARY)
    )
    assert moves.sum() > 5
    assert (eps.loc[moves, "REASON_PLACE_CHANGE"].fillna("") != "").all()
    # ... and nowhere else (rule 226): not on the new episode, nor on a status-only change.
    others = eps.loc[~moves & eps["end"].notna(), "REASON_PLACE_CHANGE"].fillna("")
    assert (others == "").all()


def test_rule_233_no_reason_for_a_move_on_an_open_episode(year_return: tuple) -> None:
    _, eps, _ = year_return
    assert (eps.loc[eps["end"].isna(), "REASON_PLACE_CHANGE"].fillna("") == "").all()


def test_rule_371_supported_accommodation_from_16(year_return: tuple) -> None:
    _, eps, _ = year_return
    sa = eps[eps["PLACE"].isin(["H5", "K3"])]
    assert (_age(sa["start"], sa["dob"]) >= 16).all()


def test_rule_371_has_supported_accommodation_to_check(synth: Synthetic903) -> None:
    """The rule above is not checked on nothing: the three returns hold such episodes (a single
    year may hold none: a few children a year step down to supported accommodation)."""
    counts = [int(synth.collection(y)[0]["PLACE"].isin(["H5", "K3"]).sum()) for y in YEARS]
    assert sum(counts) >= 5, counts


def test_rule_387_no_independent_living_exit_under_16(year_return: tuple) -> None:
    # The rule's floor is 14; since September 2021 no child under 16 may live there.
    _, eps, _ = year_return
    out = eps[eps["REC"].isin(["E5", "E6"])]
    assert len(out) > 0
    assert (_age(out["end"], out["dob"]) >= 16).all()


def test_rule_389_no_adult_social_care_exit_under_16(year_return: tuple) -> None:
    _, eps, _ = year_return
    out = eps[eps["REC"] == "E7"]
    assert (_age(out["end"], out["dob"]) >= 16).all()


def test_rule_460_staying_put_and_age_outs_on_the_18th_birthday(year_return: tuple) -> None:
    _, eps, _ = year_return
    staying = eps[eps["REC"] == "E17"]
    assert (_age(staying["end"], staying["dob"]) >= 18).all()
    # Leaving care at 18 happens on the birthday itself, never in the days before it.
    ended = eps[eps["end"].notna() & (eps["REC"] != "X1")]
    birthday = ended["dob"] + pd.DateOffset(years=18)
    days_short = (birthday - ended["end"]).dt.days
    assert (days_short == 0).sum() > 0
    assert not days_short.between(1, 7).any(), ended[days_short.between(1, 7)].head()


def test_staying_put_is_written(synth: Synthetic903) -> None:
    """Rule 460's code is used at all: some children stay with their carers at 18."""
    assert (synth.tidy["REC"] == "E17").sum() > 0


def test_rule_435_a_move_changes_the_placement(year_return: tuple) -> None:
    _, eps, _ = year_return
    same = eps["CHILD"] == eps["CHILD"].shift(1)
    moved = same & eps["RNE"].isin(["P", "T"])
    prev = eps.shift(1)
    same_ls = eps["LS"] == prev["LS"]
    same_place = (
        (eps["PLACE"] == prev["PLACE"])
        & (eps["PL_POST"] == prev["PL_POST"])
        & (eps["URN"] == prev["URN"])
        & (eps["PLACE_PROVIDER"] == prev["PLACE_PROVIDER"])
    )
    assert not (moved & (~same_ls | same_place)).any()


def test_rule_516_guardianship_to_former_foster_carers_only_from_foster_care(
    year_return: tuple,
) -> None:
    _, eps, _ = year_return
    sgo = eps[eps["REC"].isin(["E45", "E46"])]
    assert sgo["PLACE"].isin(["U1", "U2", "U3", "U4", "U5", "U6"]).all()


def test_rule_392c_postcodes_in_full_format(year_return: tuple) -> None:
    _, eps, _ = year_return
    posts = pd.concat([eps["HOME_POST"], eps["PL_POST"]])
    bad = [p for p in posts if not POSTCODE.match(str(p))]
    assert not bad, bad[:5]
    # In and out of the council's area.
    assert {str(p)[:2] for p in eps["PL_POST"]} > {"CV"}


def test_every_code_cites_the_guide_of_its_years() -> None:
    for code in CODES:
        assert f"1 April {code.first_year} to 31 March {code.first_year + 1}" in code.guide, code
        if code.last_year < LAST_YEAR:
            assert f"removed by Department for Education ({code.last_year + 1})" in code.guide
    # The changes the DfE made in the years covered (rules 101 and 146 of each year).
    assert allowed_in("SEX", 2023) == ["1", "2"] and allowed_in("SEX", 2024) == ["M", "F", "U"]
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        place = set(allowed_in("PLACE", year))
        assert ("H5" in place) == ("P2" in place) == ("Z1" in place) == (year <= 2024), year
        assert ("K3" in place) == (year >= 2024), year
        assert {"Z11", "Z12", "Z13", "Z14"} <= place or year < 2025, year
