"""The app's About page: what the tool models and leaves out, how to read its numbers, and
where they come from. A summary that points to the full documents in ``docs/``."""

from __future__ import annotations

ABOUT_MARKDOWN = """
### What the simulation does

Each **replication** plays out one possible future of a plan, day by day from the config's
start date to its horizon: the children already in residential care on the start date, new
children arriving at random by need category, each child looking for a bed through the council's
homes, then block contracts, then the regional framework, then the spot market, staying for a
random length of time and leaving. Meanwhile new homes open late when their project stages slip,
placements break down, staff leave and are replaced, and prices rise. Every result (occupancy,
void beds, spot placements, children placed out of the city, waiting, cost by financial year)
is counted from the log of those events. A run repeats this many times and reports the spread.

### What it leaves out

Kinship care, supported accommodation and secure homes appear only as the routes children leave
by, not as places with beds. Short-breaks homes for disabled children are outside the model.
Providers do not choose which children to take or set prices in response to demand; other
councils do not compete for the same beds; overspending does not change the plan during a run.
Arrivals are independent of each other (no sibling groups or sudden surges), and a child's length
of stay is drawn when it arrives, whatever happens to it afterwards. The full list, with the
assumptions a reviewer should weigh, is in the model description (`docs/model.md`, sections
*Key assumptions* and *What the model does not do*).

### Strategies and the baseline

The **baseline** is the config as it is. Each **variant** is the same config with some levers
changed (or, for an experiment from `experiments/`, with the experiment's overrides). All of them
run with the same seed and number of replications: replication *r* of every strategy sees the
same children, with the same needs, stays and ages (**common random numbers**). The difference
between a variant and the baseline, replication by replication, is then due to the changes alone,
and much of the chance variation cancels out.

### How to read the numbers

- **Difference (95% CI)**: the variant's mean minus the baseline's, with a 95% confidence
  interval from the paired differences (Student t). The interval says how precisely the runs
  pin down the *average* difference; it narrows as replications grow (four times as many
  replications halve it). An interval that excludes zero means the runs resolve a difference;
  one that straddles zero means they cannot tell the plans apart at this number of
  replications. It is not the range of outcomes one year might bring: that is the fan.
- **P(better)**: the share of paired replications in which the variant did better than the
  baseline, read the metric's way (lower cost, fewer spot placements, higher occupancy; a dash
  where neither direction is better, as for flows of children). 90% means the variant came out
  ahead in nine futures out of ten, a statement about risk rather than about the average.
- **Fans**: week by week, the median (line) and the band from the 5th to the 95th percentile
  across replications: nine futures in ten fall inside the band. A wide band is real
  uncertainty about the future, not imprecision of the simulation.
- **Cost by financial year**: the mean cost of each UK financial year (April to March) and its
  5th to 95th percentile. A part year at either end holds only the days simulated. Costs are in
  the price basis the run period caption states (nominal prices unless the config says
  otherwise).
- Differences of a percentage are in **percentage points**.

### Where the numbers come from

Every number in a shipped config cites its source (document, body, date and section) or says
*assumption* and what it rests on. The published sources behind the defaults (council reports,
national statistics and cost studies) are listed, with their titles, publishers, dates and the
sections used, in `docs/sources.md`, which also lists the figures no published source gives.
How the model works, rule by rule, is in `docs/model.md`; how the means, intervals and the
reduced-variance estimates are computed is in `docs/statistics.md`. An uploaded config is only
as good as its own numbers.
"""


def about_markdown() -> str:
    """The About page's text (Markdown)."""
    return ABOUT_MARKDOWN.strip()
