"""The scenario: a council's strategy as a validated, frozen configuration.

A scenario is loaded from YAML, checked field by field by pydantic (unknown keys rejected), then
checked across fields (names that must refer to each other, dates inside the horizon). Every
problem becomes an :class:`Issue` naming the field path, so the CLI can print one clear line.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from simulation.calendar import end_date, horizon_days
from simulation.distributions import (
    DAYS_LIMIT,
    WEEKLY_PRICE_LIMIT_GBP,
    AgeYears,
    Duration,
    Fixed,
    SignedDuration,
    Triangular,
    UpliftFraction,
    WeeklyPrice,
    lower_bound,
)
from simulation.errors import (
    HugeInteger,
    Issue,
    ScenarioError,
    format_path,
    issues_from_validation_error,
    shorten,
)
from simulation.kinds import BED_KINDS, KIND, KIND_NAMES, LAST_RESORT, MARKET_KINDS, POLICY_KINDS
from simulation.uncertain import UncertainValue, extract_uncertain, restore_uncertain

# The kinds a placement policy (and a cohort entry) may name, from the kinds table. The
# schema needs them as a Literal; type checkers see plain strings.
if TYPE_CHECKING:
    ProvisionType = str
    MarketName = str
else:
    ProvisionType = Literal[POLICY_KINDS]
    MarketName = Literal[MARKET_KINDS]
PROVISION_TYPES: tuple[str, ...] = POLICY_KINDS
DEFAULT_ORDER: tuple[str, ...] = POLICY_KINDS
# Markets a config describes under provision.<name> (an interim kind is set on the market it
# bridges instead).
_CONFIGURED_MARKETS = tuple(k for k in POLICY_KINDS if not KIND[k].has_beds)
RouteName = Literal["foster", "home", "supported", "other"]
ROUTE_NAMES: tuple[str, ...] = ("foster", "home", "supported", "other")
MonthName = Literal[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
]
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _number_as_fixed(value: Any) -> Any:
    """Let a plain number stand for a fixed distribution (an explicit child's known value)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


FixedDuration = Annotated[Duration, BeforeValidator(_number_as_fixed)]
FixedAge = Annotated[AgeYears, BeforeValidator(_number_as_fixed)]

# Validation limits (documented in README.md and the config reference). A number outside them
# is refused by `validate`, so whatever validates also runs.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
SEED_LIMIT = 2**63  # seeds are in [0, 2**63)
MAX_ARRIVALS_PER_YEAR = 10_000.0
MAX_CHILDREN_PER_REPLICATION = 50_000  # the work budget: cohort plus expected arrivals
MAX_COUNT = 10_000  # children in one cohort entry, carers, spot stock thresholds
MAX_MONEY_GBP = 1e9  # a capital cost or grant
MAX_LIST = 1_000  # entries in a list of homes, contracts, tranches, dates...


def _iso_date(value: Any) -> Any:
    """Dates are ISO strings or YAML dates, never numbers (a lax date reads 1700000000)."""
    if isinstance(value, dt.date | str):
        return value
    raise ValueError(f"must be an ISO date such as 2024-04-01 (got {type(value).__name__})")


Date = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    Field(strict=False, ge=EARLIEST_DATE, le=LATEST_DATE),
]
"""A calendar day from 2000-01-01 to 2100-12-31."""
Price = Annotated[float, Field(ge=0, le=WEEKLY_PRICE_LIMIT_GBP)]


class Strict(BaseModel):
    """Base for every config section: immutable, unknown keys rejected, strict finite numbers
    (no booleans or numeric strings; an integer field refuses 4.5)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class RunSettings(Strict):
    """When the run starts, how long it lasts and how it is replicated."""

    start_date: Date = Field(
        description="First day of the simulation (ISO date, 2000-01-01 to 2100-12-31)."
    )
    horizon_years: float = Field(gt=0, le=50, description="Length of the run in years.")
    replications: int = Field(100, ge=1, le=1_000_000, description="Monte Carlo replications.")
    seed: int = Field(
        0, ge=0, lt=SEED_LIMIT, description="Root seed of the run's SeedSequence (below 2**63)."
    )
    replications_per_draw: int | None = Field(
        None,
        ge=1,
        le=1_000,
        description="With uncertain values: consecutive replications sharing one draw of them "
        "(so the variance splits into inputs and chance). Omitted = 2.",
    )


class NeedDemand(Strict):
    """Arrivals into residential care for one need category."""

    label: str | None = Field(
        None,
        min_length=1,
        max_length=60,
        description="Display name of the need in tables, charts and the app "
        "(default: the key, e.g. 'ebd').",
    )
    arrivals_per_year: float = Field(
        ge=0, le=MAX_ARRIVALS_PER_YEAR, description="Mean new residential entries per year."
    )
    trend_per_year: float = Field(
        0.0,
        ge=-0.9,
        le=1.0,
        description="Yearly growth of the arrival rate (0.05 = +5% a year, compounded).",
    )
    seasonality: dict[MonthName, Annotated[float, Field(gt=0, le=100)]] = Field(
        default_factory=dict,
        description="Relative arrival rate by month (each above 0, at most 100; others 1.0); "
        "rescaled to average 1 over a year so arrivals_per_year stays the yearly mean.",
    )
    length_of_stay_days: Duration = Field(
        description="Planned length of the residential stay, from first placement, in days."
    )
    age_at_entry_years: AgeYears = Field(
        default_factory=lambda: Triangular(dist="triangular", min=11, mode=14, max=17),
        description="Age when the child needs a residential placement, in years.",
    )
    scheduled_arrivals: list[Date] = Field(
        default_factory=list,
        max_length=MAX_COUNT,
        description="Known arrivals on given dates, in addition to the random ones.",
    )
    female_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the need's children who are girls (for homes that admit one sex).",
    )
    flags: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Prevalence of each risk or vulnerability flag (named in matching.flags) "
        "among the need's children, drawn independently per child.",
    )
    emergency_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of arrivals that are emergencies: placed the same day in a bed that "
        "takes emergencies, else through the market at once.",
    )
    planning_window_days: float = Field(
        0.0,
        ge=0,
        le=365,
        description="A planned (non-emergency) arrival waits up to this many days for a council "
        "or block bed it fits before the market search starts.",
    )


class CohortEntry(Strict):
    """Children already in residential care on the start date."""

    need: str
    provision: ProvisionType
    unit: str | None = Field(
        None, description="Internal home or block contract name; omitted = first with room."
    )
    count: int = Field(1, ge=1, le=MAX_COUNT)
    elapsed_days: FixedDuration = Field(
        default_factory=lambda: Fixed(dist="fixed", value=0.0),
        description="Days already spent in residential care at the start date.",
    )
    age_years: FixedAge | None = Field(
        None, description="Age at the start date; default: age at entry plus elapsed time."
    )
    in_city: bool | None = Field(
        None, description="Framework/spot only; default drawn from the market's in-city share."
    )
    weekly_price_gbp: Price | None = Field(
        None, description="Framework/spot only; default drawn from the market's prices."
    )


class Prevention(Strict):
    """A service that diverts a share of would-be arrivals back home (e.g. edge of care)."""

    name: str = Field(min_length=1, max_length=200)
    needs: list[str] = Field(min_length=1)
    share: float = Field(ge=0, le=1, description="Share of arrivals diverted while it runs.")
    start: Date | None = Field(None, description="First day; omitted = from the start.")
    end: Date | None = Field(None, description="Last day (exclusive); omitted = never.")
    home: str | None = Field(
        None, description="Runs only while this internal home is open (e.g. a short-stay home)."
    )


class Demand(Strict):
    """Who needs a residential placement, and who is already in one."""

    needs: dict[str, NeedDemand] = Field(
        min_length=1,
        description="Need categories by name (lower-case, e.g. ebd, disability, short_stay).",
    )
    initial_cohort: list[CohortEntry] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Children in residential care on the start date.",
    )
    prevention: list[Prevention] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Services that keep some children out of care.",
    )


class PhasedFill(Strict):
    """Children move in gradually after opening, so each can settle."""

    admissions_per_month: int = Field(
        ge=1, le=MAX_COUNT, description="At most this many new children a month."
    )
    months: int = Field(ge=1, le=1200, description="For this many months after opening.")


SexName = Literal["female", "male"]
MAX_FLAGS = 6  # a child's flags use spare columns of its row of uniforms


def _both_sexes() -> list[SexName]:
    return ["female", "male"]


class Admission(Strict):
    """Who a home (or contract) admits, from its statement of purpose, and the group it keeps.

    A child is admitted only if these rules hold for the child and for the group it would join;
    the registered manager's remaining judgement is ``match_probability`` on the unit.
    """

    age_min_years: float = Field(0.0, ge=0, le=25, description="Youngest age admitted, in years.")
    age_max_years: float = Field(
        25.0,
        gt=0,
        le=25,
        description="Admitted while younger than this, in years (ages 11-17 is 11 to 18).",
    )
    max_age_gap_years: float | None = Field(
        None, ge=0, le=25, description="Largest age gap within the group. Omitted = any."
    )
    sexes: list[SexName] = Field(
        default_factory=_both_sexes, min_length=1, description="Sexes admitted."
    )
    max_with_flag: dict[str, Annotated[int, Field(ge=0, le=50)]] = Field(
        default_factory=dict,
        description="Most residents at once carrying each flag (0 = none admitted).",
    )
    incompatible: bool = Field(
        True,
        description="Apply matching.incompatible: no child placed with a child the pair rules out.",
    )
    takes_emergencies: bool = Field(True, description="Admits emergencies (same-day placements).")


class BedRules(Strict):
    """How a home or contract admits children (shared by homes, block contracts and DPS)."""

    turnaround_days: Duration | None = Field(
        None,
        description="Days a bed stays empty after a child leaves, before the next child can "
        "move in, as one lump. Omitted = none. Prefer the split: repair_probability and "
        "repair_days, transition_days, and admission rules (matching then emerges).",
    )
    repair_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance a bed needs repair or redecoration after a child leaves.",
    )
    repair_days: Duration | None = Field(
        None, description="Days a bed needing repair is out of use."
    )
    transition_days: Duration | None = Field(
        None,
        description="Days from matching a planned (non-emergency) child to their move-in "
        "(notice, introductory visits); the bed is kept for them meanwhile. Omitted = none.",
    )
    admission: Admission | None = Field(
        None,
        description="Admission rules (age range and gap, sexes, flag limits, emergencies). "
        "Omitted = matching.default_admission, else everyone.",
    )
    match_probability: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Chance that a child who fits the admission rules is accepted into the "
        "group already living there (the rest of the manager's impact risk assessment); a "
        "child who is not tries the next option. An empty unit always accepts.",
    )
    solo_needs: list[str] = Field(
        default_factory=list,
        description="Needs whose child lives alone: admitted only to an empty unit, and no one "
        "else is admitted while the child is there (solo / 'hard to place' homes).",
    )
    max_stay_days: float | None = Field(
        None,
        gt=0,
        le=DAYS_LIMIT,
        description="Longest stay here (a short-stay home); then the child moves on.",
    )
    return_home_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="With max_stay_days: share of children reaching it who return home rather "
        "than move on to another placement.",
    )
    phased_fill: PhasedFill | None = Field(
        None, description="Admissions capped per month after opening. Omitted = fill at once."
    )


class Stage(Strict):
    """One step of getting a new home open (purchase or build, works, registration, staff)."""

    name: str = Field(min_length=1, max_length=200)
    planned_days: float = Field(
        ge=0, le=DAYS_LIMIT, description="The plan's duration of this stage."
    )
    slippage_days: SignedDuration = Field(
        default_factory=lambda: Fixed(dist="fixed", value=0.0),
        description="Days added to the plan (a negative draw finishes early).",
    )


class Lifecycle(Strict):
    """Stages in sequence; the home opens when the last ends. The project starts on open_date
    minus the stages' planned days, so with no slippage the home opens on open_date."""

    stages: list[Stage] = Field(min_length=1, max_length=MAX_LIST)


class Capital(Strict):
    """Capital cost, borrowed and repaid as an annuity."""

    capital_cost_gbp: float = Field(ge=0, le=MAX_MONEY_GBP)
    grant_gbp: float = Field(
        0.0, ge=0, le=MAX_MONEY_GBP, description="Grant funding, not borrowed (at most the cost)."
    )
    borrowing_rate: float = Field(0.045, ge=0, le=0.5, description="Yearly interest rate.")
    years: int = Field(30, ge=1, le=100, description="Repayment term.")


class Home(BedRules):
    """A council-run (internal) children's home."""

    name: str = Field(min_length=1, max_length=200)
    beds: int = Field(ge=1, le=50)
    needs: list[str] = Field(min_length=1, description="Need categories the home accepts.")
    in_city: bool = True
    open_date: Date | None = Field(
        None, description="First day children can live there (the planned day, with lifecycle)."
    )
    close_date: Date | None = Field(None, description="Day the home closes (children move).")
    weekly_running_cost_gbp: float = Field(
        ge=0,
        le=WEEKLY_PRICE_LIMIT_GBP,
        description="Running cost per week while open, full or empty (mostly staff).",
    )
    assumed_occupancy: float | None = Field(
        None, gt=0, le=1, description="Occupancy the business case assumes (for comparison)."
    )
    lifecycle: Lifecycle | None = Field(
        None, description="Stages to opening, each with slippage. Omitted = opens on open_date."
    )
    capital: Capital | None = Field(
        None, description="Capital cost and its financing, paid from the project start."
    )


class BlockContract(BedRules):
    """Beds bought in advance from a provider, paid for whether filled or not."""

    name: str = Field(min_length=1, max_length=200)
    beds: int = Field(ge=1, le=200)
    needs: list[str] = Field(min_length=1)
    in_city: bool = True
    start: Date | None = Field(None, description="Contract start; omitted = before the run.")
    end: Date | None = Field(None, description="Contract end (exclusive); omitted = never.")
    weekly_price_per_bed_gbp: Price
    assumed_occupancy: float | None = Field(None, gt=0, le=1)
    extension_years: float = Field(
        0.0, ge=0, le=10, description="Optional extension after end (e.g. 3 years + up to 2)."
    )
    extension_probability: float = Field(
        0.0, ge=0, le=1, description="Chance the extension is taken up."
    )


class DpsTranche(Strict):
    date: Date
    beds: int = Field(ge=1, le=50)


class DpsTrigger(Strict):
    """Procure another tranche when too many children are in spot placements."""

    spot_stock_above: int = Field(
        ge=0, le=MAX_COUNT, description="Children in spot that triggers a tranche."
    )
    beds: int = Field(ge=1, le=50, description="Beds per triggered tranche.")
    lead_time_days: Duration = Field(description="Procurement to beds in use, in days.")
    max_tranches: int = Field(ge=1, le=50)
    check_every_days: float = Field(
        7.0, ge=1, le=365, description="How often spot stock is reviewed (1 to 365 days)."
    )


class DpsProcurement(BedRules):
    """A Dynamic Purchasing System: block beds bought in tranches over time."""

    name: str = Field(min_length=1, max_length=200)
    needs: list[str] = Field(min_length=1)
    in_city: bool = True
    weekly_price_per_bed_gbp: Price
    end: Date | None = Field(None, description="All tranches end here; omitted = never.")
    tranches: list[DpsTranche] = Field(
        default_factory=list, max_length=MAX_LIST, description="Tranches by date."
    )
    trigger: DpsTrigger | None = Field(None, description="Tranches triggered by spot demand.")


class Market(Strict):
    """Beds bought one child at a time."""

    search_days: Duration = Field(
        default_factory=lambda: Fixed(dist="fixed", value=0.0),
        description="Days from starting a search to the child moving in.",
    )
    weekly_price_gbp: WeeklyPrice = Field(description="Weekly price at start-date prices.")
    weekly_price_gbp_by_need: dict[str, WeeklyPrice] = Field(
        default_factory=dict, description="Weekly price for particular needs, overriding the above."
    )
    in_city_share: float = Field(ge=0, le=1, description="Share of placements inside the city.")
    high_cost_share: float = Field(
        0.0, ge=0, le=1, description="Share of placements priced from the high-cost tail."
    )
    high_cost_weekly_price_gbp: WeeklyPrice | None = Field(
        None, description="Weekly price of a high-cost placement (e.g. £10k-£60k), start prices."
    )
    uplift_probability_per_year: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance, each 1 April, that a running placement's provider gets an uplift.",
    )
    uplift: UpliftFraction | None = Field(
        None,
        description="Size of an uplift as a fraction of the price (0.1 = +10%; -1 to 10).",
    )
    retainer_probability: float = Field(
        0.0, ge=0, le=1, description="Chance a placement needs a retainer to hold the bed."
    )
    retainer_days: Duration | None = Field(
        None, description="Days of retainer paid (at the placement's price) before moving in."
    )

    def _check_pairs(self, path: str) -> list[Issue]:
        issues = []
        for share, dist in (
            ("high_cost_share", "high_cost_weekly_price_gbp"),
            ("uplift_probability_per_year", "uplift"),
            ("retainer_probability", "retainer_days"),
        ):
            if getattr(self, share) > 0 and getattr(self, dist) is None:
                issues.append(Issue(f"{path}.{dist}", f"required when {share} > 0"))
        return issues


class SpotMarket(Market):
    unregistered_after_days: float | None = Field(
        None,
        gt=0,
        le=DAYS_LIMIT,
        description="A search longer than this puts the child in an unregistered / emergency "
        "placement at a premium until a registered bed is found. Omitted = never.",
    )
    unregistered_weekly_price_gbp: WeeklyPrice | None = Field(
        None, description="Weekly price of an unregistered placement, start-date prices."
    )


class FrameworkMarket(Market):
    offer_probability: float = Field(
        ge=0, le=1, description="Chance a framework provider offers a bed within the search time."
    )
    end: Date | None = Field(
        None,
        description="The framework ends: no search starts on or after this day (children placed "
        "through it stay). Omitted = it runs all the run.",
    )


class Provision(Strict):
    """Where children can live."""

    homes: list[Home] = Field(
        default_factory=list, max_length=MAX_LIST, description="Council-run homes."
    )
    block_contracts: list[BlockContract] = Field(default_factory=list, max_length=MAX_LIST)
    dps: list[DpsProcurement] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Block beds procured in tranches (DPS).",
    )
    framework: FrameworkMarket | None = Field(
        None, description="Framework market; omit if the council has none."
    )
    spot: SpotMarket = Field(description="Spot market, the placement of last resort.")


REPATRIATE_FROM: tuple[MarketName, ...] = ("unregistered", "spot", "framework")


class Repatriation(Strict):
    """Moving children from market placements into freed in-city beds nobody is waiting for."""

    from_provisions: list[MarketName] = Field(
        default_factory=lambda: list(REPATRIATE_FROM),
        description="Placements a child may be brought back from.",
    )
    out_of_city_only: bool = Field(True, description="Only children placed out of the city.")
    min_remaining_days: float = Field(
        90,
        ge=0,
        le=DAYS_LIMIT,
        description="Move only a child with at least this long left to stay.",
    )
    max_moves_per_month: int = Field(
        2, ge=0, le=MAX_COUNT, description="Cap on moves per calendar month."
    )
    priority: Literal["longest_remaining", "most_expensive", "longest_placed"] = Field(
        "longest_remaining", description="Which eligible child moves first."
    )


class PlacementPolicy(Strict):
    """How a bed is sought for a child, and when children move."""

    order: list[ProvisionType] = Field(
        default_factory=lambda: list(DEFAULT_ORDER),
        description="Where a child is sought a bed, in turn; spot must come last.",
    )
    repatriation: Repatriation | None = Field(
        None, description="Bring children back into freed in-city beds. Omitted = never."
    )
    breakdown_rate_per_year: dict[ProvisionType, Annotated[float, Field(ge=0, le=20)]] = Field(
        default_factory=dict,
        description="Placement breakdowns per placement-year, by provision: a breakdown sends "
        "the child back through the cascade. Omitted = none.",
    )


class FosterCarers(Strict):
    """ "Next step" foster carers: a child stepping down to foster care needs a free carer."""

    initial: int = Field(ge=0, le=MAX_COUNT, description="Carers free on the start date.")
    added_per_year: float = Field(
        0.0,
        ge=0,
        le=1_000,
        description="Carers recruited per year, spread evenly through the year.",
    )
    recruit_until: Date | None = Field(
        None, description="Recruitment stops on this day; omitted = it goes on all run."
    )
    placement_days: Duration = Field(
        description="How long a child stays with the carer, who takes nobody else meanwhile."
    )
    needs: list[str] | None = Field(
        None, description="Needs whose foster step-down uses these carers; omitted = all."
    )


class StepDown(Strict):
    """Where children go when their residential stay ends."""

    routes: dict[str, dict[RouteName, Annotated[float, Field(ge=0, le=1)]]] = Field(
        description="Per need, probability of each exit route at the end of a planned stay."
    )
    age_out_years: float = Field(
        18.0, gt=0, le=25, description="Age at which a child leaves residential care regardless."
    )
    foster_carers: FosterCarers | None = Field(
        None,
        description="A limited pool of step-down foster carers: a child ready to step down with "
        "no free carer stays in the residential bed. Omitted = carers are always found.",
    )


class HomeStaffing(Strict):
    """One home's staff: its establishment and the rota it must cover."""

    home: str = Field(description="An internal home's name.")
    establishment_fte: float = Field(gt=0, le=100, description="Funded posts (FTE).")
    initial_fte: int | None = Field(
        None, ge=0, le=100, description="Staff in post when it opens; omitted = establishment."
    )
    min_on_shift: int = Field(3, ge=1, le=20, description="Staff needed on each day shift.")
    waking_night: int = Field(1, ge=0, le=10, description="Waking night staff needed.")
    close_beds_when_short: int = Field(
        0,
        ge=0,
        le=50,
        description="Beds taken out of use while short-staffed; 0 = the home closes to "
        "admissions altogether.",
    )


class Staffing(Strict):
    """Care staff as processes: turnover, recruitment, absence, relief pool and agency cover.

    A home's rota needs (min_on_shift x 16 h + waking_night x 8 h) x 7 days of cover a week,
    grossed up for absence. Staff leave at the turnover rate and each vacancy is recruited after
    a lead time. A shortfall is covered first from the city-wide relief pool, then by agency or
    overtime up to a cap; beyond that the home closes to admissions (or closes beds).
    """

    homes: list[HomeStaffing] = Field(min_length=1, max_length=MAX_LIST)
    contract_hours_per_week: float = Field(37.5, gt=0, le=60)
    absence_rate: float = Field(
        0.15,
        ge=0,
        lt=0.9,
        description="Share of contracted hours lost to sickness, training and leave.",
    )
    turnover_per_year: float = Field(
        0.33, ge=0, le=5, description="Leavers per post per year (Ofsted: 30-35%)."
    )
    recruitment_days: Duration = Field(
        default_factory=lambda: Fixed(dist="fixed", value=90.0),
        description="Days from a post falling vacant to the new starter (DfE: ~3 months).",
    )
    relief_pool_fte: float = Field(
        0.0, ge=0, le=1_000, description="City-wide relief staff who can cover any home (FTE)."
    )
    agency_cap_fte: float = Field(
        2.0, ge=0, le=100, description="Most agency / overtime cover a home can use (FTE)."
    )
    staff_cost_per_fte_year_gbp: float = Field(35000, ge=0, le=1_000_000)
    agency_premium: float = Field(
        0.6, ge=0, le=10, description="Agency / overtime cost above a post's own cost (0.6 = +60%)."
    )


class Matching(Strict):
    """Children's risk and vulnerability flags, and which flags must not share a home."""

    flags: list[str] = Field(
        default_factory=list,
        max_length=MAX_FLAGS,
        description="Flag names (lower-case), e.g. harm_to_others, vulnerable_to_harm.",
    )
    incompatible: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Pairs [a, b]: a child with flag a is not placed with a child with flag b "
        "(whoever arrived first).",
    )
    default_admission: Admission | None = Field(
        None, description="Admission rules of every home and contract without its own."
    )


class Costs(Strict):
    """Prices move with one index from the start date."""

    inflation_per_year: float = Field(
        0.0, ge=-0.5, le=1.0, description="Yearly rise of all prices and running costs."
    )


class Observed(Strict):
    """A published figure, set beside the simulated weekly series it names in its week.

    The simulated side is the series (a column of the run's weekly table) in the week holding
    ``date``: its mean and P5-P95 across replications."""

    date: Date = Field(description="The day the figure describes (inside the run).")
    metric: str = Field(
        min_length=1,
        description="A weekly series of the run (docs/outputs.md, weekly table): e.g. "
        "children_placed, children_in_city, in_city_share.",
    )
    value: float = Field(ge=0, le=1e12, description="The published value, in the series' unit.")
    source: str = Field(
        min_length=1,
        max_length=500,
        description="Where it is published: document title, body, date and section.",
    )


def observable_series() -> tuple[str, ...]:
    """The weekly series an observed point may name: the value columns of a run's weekly table,
    from the kinds table (``tests/test_observed.py`` pins them to what the metrics compute)."""
    return (
        *(f"children_{k}" for k in KIND_NAMES),
        "children_placed",
        "children_in_city",
        "children_out_of_city",
        "in_city_share",
        "children_waiting",
        "children_awaiting_carer",
        *(f"beds_{k}" for k in BED_KINDS),
        *(f"{k}_occupancy_pct" for k in BED_KINDS),
        "spot_new_placements",
        "cost_gbp",
    )


def _check_observed(s: Scenario) -> list[Issue]:
    """Each observed point names a weekly series and a day inside the run."""
    issues: list[Issue] = []
    allowed = observable_series()
    last = s.end_date - dt.timedelta(days=1)
    seen: dict[tuple[dt.date, str], int] = {}
    for i, point in enumerate(s.observed):
        key = (point.date, point.metric)
        if key in seen:
            issues.append(
                Issue(f"observed[{i}]", f"repeats observed[{seen[key]}] (same date and metric)")
            )
        seen.setdefault(key, i)
        if point.metric not in allowed:
            issues.append(
                Issue(
                    f"observed[{i}].metric",
                    f"'{point.metric}' is not a weekly series (allowed: {_allowed(list(allowed))})",
                )
            )
        if not s.run.start_date <= point.date <= last:
            issues.append(
                Issue(
                    f"observed[{i}].date",
                    f"{point.date} is outside the run (allowed: {s.run.start_date} to {last})",
                )
            )
    return issues


class Scenario(Strict):
    """A complete strategy to simulate."""

    name: str = Field(min_length=1, max_length=200, description="Short name, used in result files.")
    description: str = Field("", description="What the scenario represents, and its source.")
    run: RunSettings
    demand: Demand
    provision: Provision
    placement_policy: PlacementPolicy = Field(default_factory=PlacementPolicy)
    step_down: StepDown
    staffing: Staffing | None = Field(
        None, description="Staff turnover, recruitment and cover. Omitted = always staffed."
    )
    matching: Matching | None = Field(
        None, description="Flags and group rules for matching. Omitted = no flags."
    )
    costs: Costs = Field(default_factory=Costs)
    observed: list[Observed] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Published outcomes to check the simulation against (none: no check).",
    )
    # Values given as distributions (simulation/uncertain.py), validated at their means.
    _uncertain: tuple[UncertainValue, ...] = PrivateAttr(default=())

    @property
    def uncertain(self) -> tuple[UncertainValue, ...]:
        """The uncertain values, drawn per parameter draw (``simulation.uncertain.realise``)."""
        return self._uncertain

    @property
    def horizon_days(self) -> float:
        return horizon_days(self.run.start_date, self.run.horizon_years)

    @property
    def end_date(self) -> dt.date:
        return end_date(self.run.start_date, self.run.horizon_years)

    @property
    def need_names(self) -> list[str]:
        return list(self.demand.needs)

    def need_label(self, need: str) -> str:
        """The need's display name: its `label`, else its key."""
        return self.demand.needs[need].label or need

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly dict that validates back to an equal scenario."""
        # (No observed points: no key, so a config without them dumps as it always has.)
        exclude = None if self.observed else {"observed"}
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=exclude)
        return restore_uncertain(data, self._uncertain)


# --------------------------------------------------------------------------------------------
# Cross-field checks


def _allowed(values: list[str]) -> str:
    return ", ".join(values) if values else "(none defined)"


def _check_names(path: str, names: list[str], allowed: list[str]) -> Iterator[Issue]:
    for i, name in enumerate(names):
        if name not in allowed:
            yield Issue(f"{path}[{i}]", f"unknown need '{name}' (allowed: {_allowed(allowed)})")


def cross_check(s: Scenario) -> list[Issue]:
    """Checks that span fields: references between sections and dates within the horizon."""
    return [
        *_check_demand(s),
        *_check_bed_units(s),
        *_check_markets_and_policy(s),
        *_check_routes(s),
        *_check_flows(s),
        *_check_cohort(s),
        *_check_matching(s),
        *_check_limits(s),
        *_check_observed(s),
    ]


def expected_children(s: Scenario) -> float:
    """Children a replication is expected to simulate: the initial cohort, the scheduled
    arrivals and, per need, arrivals_per_year integrated over the horizon with its trend."""
    years = s.run.horizon_years
    total = float(sum(entry.count for entry in s.demand.initial_cohort))
    for need in s.demand.needs.values():
        g = need.trend_per_year
        growth = years if g == 0 else ((1.0 + g) ** years - 1.0) / math.log1p(g)
        total += need.arrivals_per_year * growth + len(need.scheduled_arrivals)
    return total


def _check_limits(s: Scenario) -> list[Issue]:
    """Rules between numbers: ages below the age-out, beds closed within a home, grants within
    costs, DPS tranches before the DPS ends, one staffing entry per home, and the work budget."""
    issues: list[Issue] = []
    age_out = s.step_down.age_out_years
    # Some children may arrive on the brink of the age-out (they leave at once: the model
    # handles it); a need whose every child, or its typical child, arrives past it is an error.
    for name, need in s.demand.needs.items():
        age = need.age_at_entry_years
        low, mean = lower_bound(age), age.mean
        if low >= age_out or mean >= age_out:
            what = f"starts at {low:g}" if low >= age_out else f"has mean {mean:g}"
            issues.append(
                Issue(
                    f"demand.needs.{name}.age_at_entry_years",
                    f"this {age.dist} {what} years, not below step_down.age_out_years "
                    f"({age_out:g}) (allowed: entry ages mostly below the age-out)",
                )
            )
    beds = {h.name: h.beds for h in s.provision.homes}
    for i, home in enumerate(s.provision.homes):
        cap = home.capital
        if cap is not None and cap.grant_gbp > cap.capital_cost_gbp:
            issues.append(
                Issue(
                    f"provision.homes[{i}].capital.grant_gbp",
                    f"{cap.grant_gbp:g} is above capital_cost_gbp {cap.capital_cost_gbp:g} "
                    "(allowed: 0 to the capital cost)",
                )
            )
    for i, d in enumerate(s.provision.dps):
        if d.end is None:
            continue
        for j, t in enumerate(d.tranches):
            if t.date >= d.end:
                issues.append(
                    Issue(
                        f"provision.dps[{i}].tranches[{j}].date",
                        f"{t.date} is not before the DPS end {d.end}",
                    )
                )
    if s.staffing is not None:
        staffed: dict[str, int] = {}
        for i, hs in enumerate(s.staffing.homes):
            path = f"staffing.homes[{i}]"
            if hs.home in staffed:
                issues.append(
                    Issue(
                        f"{path}.home",
                        f"'{shorten(hs.home)}' already has staffing (staffing.homes"
                        f"[{staffed[hs.home]}]); give one entry per home",
                    )
                )
            staffed.setdefault(hs.home, i)
            if hs.home in beds and hs.close_beds_when_short > beds[hs.home]:
                issues.append(
                    Issue(
                        f"{path}.close_beds_when_short",
                        f"{hs.close_beds_when_short} is more than the home's {beds[hs.home]} "
                        "beds (allowed: 0 to the home's beds)",
                    )
                )
    children = expected_children(s)
    if children > MAX_CHILDREN_PER_REPLICATION:
        issues.append(
            Issue(
                "demand",
                f"about {children:,.0f} children per replication (initial cohort, scheduled and "
                f"expected arrivals over {s.run.horizon_years:g} years) is above the work budget "
                f"of {MAX_CHILDREN_PER_REPLICATION:,}; lower arrivals_per_year, trend_per_year "
                "or run.horizon_years",
            )
        )
    return issues


def _check_demand(s: Scenario) -> list[Issue]:
    issues: list[Issue] = []
    needs = s.need_names
    start, end = s.run.start_date, s.end_date
    for name in needs:
        if not _NAME_RE.match(name):
            issues.append(
                Issue(f"demand.needs.{name}", "need names are lower-case letters, digits and _")
            )
        for j, when in enumerate(s.demand.needs[name].scheduled_arrivals):
            if not start <= when < end:
                issues.append(
                    Issue(
                        f"demand.needs.{name}.scheduled_arrivals[{j}]",
                        f"{when} is outside the run ({start} to {end})",
                    )
                )
    return issues


def _check_bed_units(s: Scenario) -> list[Issue]:
    """Homes, block contracts and DPS tranches: needs, names unique, dates in order."""
    issues: list[Issue] = []
    needs = s.need_names
    start, end = s.run.start_date, s.end_date
    seen: dict[str, str] = {}
    for i, home in enumerate(s.provision.homes):
        path = f"provision.homes[{i}]"
        issues += _check_names(f"{path}.needs", home.needs, needs)
        if home.name in seen:
            issues.append(Issue(f"{path}.name", f"'{home.name}' is used twice ({seen[home.name]})"))
        seen[home.name] = path
        if home.open_date is not None and home.open_date >= end:
            issues.append(
                Issue(
                    f"{path}.open_date",
                    f"{home.open_date} is on or after the end of the run ({end}); "
                    f"lengthen run.horizon_years or remove the home",
                )
            )
        if home.lifecycle is not None and (home.open_date is None or home.open_date <= start):
            issues.append(
                Issue(
                    f"{path}.lifecycle",
                    f"needs an open_date after the start ({start}): the planned opening of a new "
                    "home; an open home has no stages left",
                )
            )
        if home.close_date is not None:
            opened = home.open_date or start
            if home.close_date <= opened:
                issues.append(
                    Issue(f"{path}.close_date", f"{home.close_date} is not after opening {opened}")
                )
    for i, block in enumerate(s.provision.block_contracts):
        path = f"provision.block_contracts[{i}]"
        issues += _check_names(f"{path}.needs", block.needs, needs)
        if block.name in seen:
            issues.append(
                Issue(f"{path}.name", f"'{block.name}' is used twice ({seen[block.name]})")
            )
        seen[block.name] = path
        if block.start is not None and block.start >= end:
            issues.append(
                Issue(f"{path}.start", f"{block.start} is on or after the end of the run ({end})")
            )
        if block.start is not None and block.end is not None and block.end <= block.start:
            issues.append(Issue(f"{path}.end", f"{block.end} is not after start {block.start}"))

    for path, rules in _bed_rule_owners(s):
        issues += _check_names(f"{path}.solo_needs", rules.solo_needs, needs)
        issues += _check_vacancies(path, rules)
    for i, d in enumerate(s.provision.dps):
        path = f"provision.dps[{i}]"
        issues += _check_names(f"{path}.needs", d.needs, needs)
        if d.name in seen:
            issues.append(Issue(f"{path}.name", f"'{d.name}' is used twice ({seen[d.name]})"))
        seen[d.name] = path
        if not d.tranches and d.trigger is None:
            issues.append(Issue(path, "give tranches by date, a trigger, or both"))
        for j, t in enumerate(d.tranches):
            if not start <= t.date < end:
                issues.append(Issue(f"{path}.tranches[{j}].date", f"{t.date} is outside the run"))
    return issues


def _check_vacancies(path: str, rules: BedRules) -> list[Issue]:
    """The lump turnaround or its split, not both; a repair chance with its duration."""
    issues: list[Issue] = []
    split = rules.repair_probability > 0 or rules.transition_days is not None
    if rules.turnaround_days is not None and split:
        issues.append(
            Issue(
                f"{path}.turnaround_days",
                "give turnaround_days (one lump) or repair_probability/repair_days and "
                "transition_days (the split), not both: they would count the same days twice",
            )
        )
    if rules.repair_probability > 0 and rules.repair_days is None:
        issues.append(
            Issue(f"{path}.repair_days", "needed when repair_probability is above 0 (in days)")
        )
    return issues


def _bed_rule_owners(s: Scenario) -> list[tuple[str, BedRules]]:
    """Every home, block contract and DPS (the units with bed rules), with its config path."""
    return [
        *((f"provision.homes[{i}]", h) for i, h in enumerate(s.provision.homes)),
        *(
            (f"provision.block_contracts[{i}]", b)
            for i, b in enumerate(s.provision.block_contracts)
        ),
        *((f"provision.dps[{i}]", d) for i, d in enumerate(s.provision.dps)),
    ]


def _unknown_flags(path: str, used: Iterable[str], flags: list[str]) -> list[Issue]:
    return [
        Issue(
            f"{path}.{shorten(flag)}",
            f"unknown flag (allowed: {_allowed(flags)}; define it in matching.flags)",
        )
        for flag in used
        if flag not in flags
    ]


def _check_admission(path: str, rules: Admission, flags: list[str]) -> list[Issue]:
    issues: list[Issue] = []
    if rules.age_min_years > rules.age_max_years:
        issues.append(
            Issue(
                f"{path}.age_min_years",
                f"{rules.age_min_years:g} is above age_max_years ({rules.age_max_years:g})",
            )
        )
    return issues + _unknown_flags(f"{path}.max_with_flag", rules.max_with_flag, flags)


def _check_matching(s: Scenario) -> list[Issue]:
    """Flags are named once, in matching.flags; every use refers to one of them."""
    issues: list[Issue] = []
    m = s.matching
    flags = list(m.flags) if m is not None else []
    for i, flag in enumerate(flags):
        if not _NAME_RE.match(flag):
            issues.append(
                Issue(f"matching.flags[{i}]", "lower-case letters, digits and _ (e.g. self_harm)")
            )
        elif flag in flags[:i]:
            issues.append(Issue(f"matching.flags[{i}]", f"'{flag}' is listed twice"))
    if m is not None:
        for i, pair in enumerate(m.incompatible):
            for j, flag in enumerate(pair):
                if flag not in flags:
                    issues.append(
                        Issue(
                            f"matching.incompatible[{i}][{j}]",
                            f"unknown flag '{shorten(flag)}' (allowed: {_allowed(flags)})",
                        )
                    )
        if m.default_admission is not None:
            issues += _check_admission("matching.default_admission", m.default_admission, flags)
    for name, need in s.demand.needs.items():
        issues += _unknown_flags(f"demand.needs.{name}.flags", need.flags, flags)
    for path, rules in _bed_rule_owners(s):
        if rules.admission is not None:
            issues += _check_admission(f"{path}.admission", rules.admission, flags)
    return issues


def _check_markets_and_policy(s: Scenario) -> list[Issue]:
    issues: list[Issue] = []
    needs = s.need_names
    for market_name in _CONFIGURED_MARKETS:
        market = getattr(s.provision, market_name)
        if market is None:
            continue
        issues += market._check_pairs(f"provision.{market_name}")
        for need in market.weekly_price_gbp_by_need:
            if need not in needs:
                issues.append(
                    Issue(
                        f"provision.{market_name}.weekly_price_gbp_by_need.{need}",
                        f"unknown need (allowed: {_allowed(needs)})",
                    )
                )

    order = s.placement_policy.order
    if len(set(order)) != len(order):
        issues.append(Issue("placement_policy.order", f"lists a provision twice: {order}"))
    if not order or order[-1] != LAST_RESORT:
        issues.append(
            Issue(
                "placement_policy.order",
                f"must end with {LAST_RESORT}, the market of last resort (got {order})",
            )
        )
    for market_name in _CONFIGURED_MARKETS:
        if market_name in order and getattr(s.provision, market_name) is None:
            issues.append(
                Issue(
                    "placement_policy.order",
                    f"includes {market_name} but provision.{market_name} is unset",
                )
            )
    return issues


def _check_routes(s: Scenario) -> list[Issue]:
    issues: list[Issue] = []
    needs = s.need_names
    for need in s.step_down.routes:
        if need not in needs:
            issues.append(
                Issue(f"step_down.routes.{need}", f"unknown need (allowed: {_allowed(needs)})")
            )
    for need in needs:
        routes = s.step_down.routes.get(need)
        if routes is None:
            issues.append(
                Issue(
                    f"step_down.routes.{need}",
                    f"missing: give the probability of each route ({', '.join(ROUTE_NAMES)})",
                )
            )
        elif abs(sum(routes.values()) - 1.0) > 1e-6:
            issues.append(
                Issue(
                    f"step_down.routes.{need}",
                    f"probabilities must sum to 1 (they sum to {sum(routes.values()):.4g})",
                )
            )
    return issues


def _check_flows(s: Scenario) -> list[Issue]:
    """Unregistered placements, step-down carers, prevention and staffing."""
    issues: list[Issue] = []
    needs = s.need_names
    spot = s.provision.spot
    if spot.unregistered_after_days is not None and spot.unregistered_weekly_price_gbp is None:
        issues.append(
            Issue(
                "provision.spot.unregistered_weekly_price_gbp",
                "required when unregistered_after_days is set",
            )
        )
    carers = s.step_down.foster_carers
    if carers is not None and carers.needs is not None:
        issues += _check_names("step_down.foster_carers.needs", carers.needs, needs)
    home_names = [h.name for h in s.provision.homes]
    for i, prev in enumerate(s.demand.prevention):
        path = f"demand.prevention[{i}]"
        issues += _check_names(f"{path}.needs", prev.needs, needs)
        if prev.home is not None and prev.home not in home_names:
            issues.append(
                Issue(f"{path}.home", f"no home '{prev.home}' (allowed: {_allowed(home_names)})")
            )
        if prev.start is not None and prev.end is not None and prev.end <= prev.start:
            issues.append(Issue(f"{path}.end", f"{prev.end} is not after start {prev.start}"))
    if s.staffing is not None:
        home_names_all = [h.name for h in s.provision.homes]
        for i, hs in enumerate(s.staffing.homes):
            if hs.home not in home_names_all:
                issues.append(
                    Issue(
                        f"staffing.homes[{i}].home",
                        f"no home '{hs.home}' (allowed: {_allowed(home_names_all)})",
                    )
                )
            posts = max(round(hs.establishment_fte), 0)
            if hs.initial_fte is not None and hs.initial_fte > posts:
                issues.append(
                    Issue(
                        f"staffing.homes[{i}].initial_fte",
                        f"{hs.initial_fte} staff in post exceeds the establishment of {posts} "
                        "posts (allowed: 0 to the establishment)",
                    )
                )
    return issues


def _check_cohort(s: Scenario) -> list[Issue]:
    issues: list[Issue] = []
    needs = s.need_names
    units = {h.name: ("internal", h.needs) for h in s.provision.homes}
    units |= {b.name: ("block", b.needs) for b in s.provision.block_contracts}
    for i, entry in enumerate(s.demand.initial_cohort):
        path = f"demand.initial_cohort[{i}]"
        if entry.need not in needs:
            issues.append(
                Issue(f"{path}.need", f"unknown need '{entry.need}' (allowed: {_allowed(needs)})")
            )
        market = entry.provision
        if market in _CONFIGURED_MARKETS and getattr(s.provision, market) is None:
            issues.append(Issue(f"{path}.provision", f"{market} but provision.{market} is unset"))
        if entry.unit is not None:
            same_kind = [n for n, (kind, _) in units.items() if kind == entry.provision]
            if entry.provision not in BED_KINDS:
                issues.append(
                    Issue(f"{path}.unit", f"only {' and '.join(BED_KINDS)} children name a unit")
                )
            elif entry.unit not in same_kind:
                issues.append(
                    Issue(
                        f"{path}.unit",
                        f"no {entry.provision} unit '{entry.unit}' "
                        f"(allowed: {_allowed(same_kind)})",
                    )
                )
            elif entry.need not in units[entry.unit][1]:
                issues.append(Issue(f"{path}.need", f"'{entry.unit}' does not accept {entry.need}"))
        if entry.provision in BED_KINDS and (
            entry.in_city is not None or entry.weekly_price_gbp is not None
        ):
            issues.append(
                Issue(f"{path}", "in_city and weekly_price_gbp apply to framework/spot only")
            )
    if issues:
        return issues
    try:
        assign_initial_units(s)
    except ScenarioError as exc:
        issues += exc.issues
    return issues


def assign_initial_units(s: Scenario) -> list[list[str | None]]:
    """Deterministically assign each internal/block cohort child to a unit open at the start.

    Returns, per cohort entry, the unit name of each of its ``count`` children (None for
    framework/spot). Raises :class:`ScenarioError` if the children do not fit.
    """
    start = s.run.start_date
    free: dict[str, int] = {}
    serves: dict[str, tuple[str, list[str]]] = {}
    for h in s.provision.homes:
        is_open = (h.open_date is None or h.open_date <= start) and (
            h.close_date is None or h.close_date > start
        )
        free[h.name] = h.beds if is_open else 0
        serves[h.name] = ("internal", h.needs)
    for b in s.provision.block_contracts:
        is_open = (b.start is None or b.start <= start) and (b.end is None or b.end > start)
        free[b.name] = b.beds if is_open else 0
        serves[b.name] = ("block", b.needs)

    result: list[list[str | None]] = [[] for _ in s.demand.initial_cohort]
    # Named units first so that unnamed children fill only what is left.
    ordered = sorted(enumerate(s.demand.initial_cohort), key=lambda p: p[1].unit is None)
    for i, entry in ordered:
        if entry.provision not in BED_KINDS:
            result[i] = [None] * entry.count
            continue
        for _ in range(entry.count):
            if entry.unit is not None:
                candidates = [entry.unit]
            else:
                candidates = [
                    n
                    for n, (kind, nd) in serves.items()
                    if kind == entry.provision and entry.need in nd
                ]
            unit = next((n for n in candidates if free[n] > 0), None)
            if unit is None:
                where = entry.unit or f"{entry.provision} units accepting {entry.need}"
                raise ScenarioError(
                    [
                        Issue(
                            f"demand.initial_cohort[{i}].count",
                            f"{entry.count} children do not fit: no free bed open on "
                            f"{start} in {where}",
                        )
                    ]
                )
            free[unit] -= 1
            result[i].append(unit)
    return result


# --------------------------------------------------------------------------------------------
# Loading


def parse_scenario(data: Any, source: str = "<config>") -> Scenario:
    """Validate a mapping into a :class:`Scenario`, raising :class:`ScenarioError` on problems."""
    if not isinstance(data, Mapping):
        raise ScenarioError(
            [Issue("(top level)", "a scenario must be a mapping of sections")], source
        )
    data, uncertain, issues = extract_uncertain(data, Scenario)
    if issues:
        raise ScenarioError(issues, source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(issues_from_validation_error(exc, Scenario), source) from None
    scenario._uncertain = uncertain
    issues = cross_check(scenario)
    if issues:
        raise ScenarioError(issues, source)
    return scenario


# YAML integers longer than this are read as a :class:`HugeInteger` that every numeric field
# refuses (no field needs them, and Python refuses to convert more than 4,300 digits).
_MAX_INT_DIGITS = 30
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice (PyYAML would silently keep the last)."""

    def __init__(self, path: tuple[str | int, ...], key: str, first: int, again: int) -> None:
        self.path, self.key, self.first, self.again = path, key, first, again
        super().__init__(f"duplicate key {key!r} on lines {first} and {again}")


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with integers of more than 30 digits left unconverted."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > _MAX_INT_DIGITS:
            return HugeInteger(digits)
        return super().construct_yaml_int(node)


ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)


def _refuse_duplicate_keys(node: yaml.Node, path: tuple[str | int, ...], seen: set[int]) -> None:
    """Raise :class:`DuplicateKeyError` for the first mapping that gives a key twice."""
    if id(node) in seen:  # an alias: already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            key = (key_node.tag, key_node.value)
            if key in lines:
                raise DuplicateKeyError(path, key_node.value, lines[key], line)
            lines[key] = line
            _refuse_duplicate_keys(value_node, (*path, key_node.value), seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*path, i), seen)


def safe_load_config(text: str) -> Any:
    """Parse config YAML as plain data (a safe loader), refusing a key given twice."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, (), set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning I/O and syntax problems into :class:`ScenarioError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Issue("(file)", "no such file")], str(p)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ScenarioError([Issue("(file)", f"cannot read: {exc}")], str(p)) from None
    return parse_yaml(text, str(p))


def parse_yaml(text: str, source: str) -> Any:
    """Config YAML text as plain data; a syntax error or a key given twice is a
    :class:`ScenarioError` naming where (``source``: the file or upload it came from)."""
    try:
        return safe_load_config(text)
    except DuplicateKeyError as exc:
        issue = Issue(
            format_path((*exc.path, exc.key)),
            f"given twice (lines {exc.first} and {exc.again}); give each key once",
        )
        raise ScenarioError([issue], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Issue(where, f"YAML syntax: {problem}")], source) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario YAML file.

    Raises
    ------
    ScenarioError
        With one :class:`Issue` per problem, each naming the field path.
    """
    return parse_scenario(read_yaml(path), str(path))
