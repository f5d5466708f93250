"""The HTML report: every section, figures embedded, nothing loaded from a network."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from simulation import display, findings, load_scenario, run
from simulation import report as report_mod
from simulation.cli import main
from simulation.outputs import write_outputs
from simulation.report import pdf as report_pdf

ROOT = Path(__file__).resolve().parents[1]
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run(load_scenario(COVENTRY), replications=4, seed=11, workers=1)
    return write_outputs(result, tmp_path_factory.mktemp("res") / "coventry")


class ResourceCollector(HTMLParser):
    """Every URL the document would load or link to, and the section ids."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.sections: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href", "srcset", "data", "poster", "action"):
            if a.get(key):
                self.urls.append(str(a[key]))
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        if tag == "img":
            self.images += 1
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.urls.append(f"<{tag}>")


def test_report_of_a_results_folder(
    results_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(results_dir), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    parser = ResourceCollector()
    parser.feed(text)
    # The summary first, the evidence, the appendix, provenance last (the occupancy answer only
    # with --occupancy, published outcomes only with observed points).
    expected = [s for s in report_mod.SECTIONS if s not in ("occupancy", "observed")]
    assert parser.sections == expected
    assert parser.sections[0] == "summary" and parser.sections[-2:] == ["appendix", "provenance"]
    for sid in expected:
        assert f">{report_mod.SECTIONS[sid]}</h2>" in text
    # Figures embedded as data URIs, each in a <figure> with its caption as text; nothing
    # fetched from anywhere.
    assert parser.images == 5 and text.count("<figcaption>") == 5
    assert parser.urls, "expected the embedded images"
    assert all(u.startswith("data:image/png;base64,") for u in parser.urls), parser.urls
    assert not re.search(r"https?://|url\(|@import", text)
    # Headline numbers with intervals, config, seed and code version.
    for metric in display.HEADLINE_METRICS:
        assert html.escape(display.metric_label(metric)) in text
    assert "95% CI of the mean" in text and "P5 to P95" in text
    # Totals in £m beside their period and price basis; shares as percentages; no "-0".
    assert re.search(
        r"<td>Total cost</td><td data-key='headline.cost_total_gbp.mean'>£\d+\.\dm<", text
    )
    assert "Totals over 1 Apr 2023 to 31 Mar 2033 (10 years); nominal prices" in text
    assert re.search(r"<td>Child-days out of city</td><td[^>]*>\d+\.\d%</td>", text)
    assert ">-0<" not in text and " -0 " not in text and "-0.0%" not in text
    needs = text.split("Demand by need")[1].split("</table>")[0]
    assert "<td>Emotional and behavioural (EBD)</td>" in needs and "<td>ebd</td>" not in needs
    assert "seed 11" in text and "<dt>Code version</dt>" in text
    # The config in a collapsed appendix, after the evidence.
    appendix = text[text.index("<section id='appendix'>") :]
    assert "<details><summary>The full configuration" in appendix
    assert "start_date: &#x27;2023-04-01&#x27;" in appendix
    assert "start_date: &#x27;2023-04-01&#x27;" not in text[: text.index("<section id='appendix'>")]
    # The captions are text beside the images, not drawn into them.
    assert "Bands: P5-P95 and P25-P75 across 4 replications" in text


class KeyedText(HTMLParser):
    """The text of every element with a ``data-key``, and whether it is in the summary."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.open: list[str] = []  # keys of the keyed elements being read
        self.text: dict[str, str] = {}
        self.summary: dict[str, str] = {}
        self.evidence: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.section = str(a.get("id"))
        if a.get("data-key"):
            key = str(a["data-key"])
            self.open.append(key)
            self.text[key] = ""

    def handle_data(self, data: str) -> None:
        for key in self.open:
            self.text[key] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "td", "dd") and self.open:
            key = self.open.pop()
            if self.section == "summary":
                self.summary[key] = self.text[key]
            else:
                self.evidence.setdefault(key, []).append(self.text[key])


def keyed(text: str) -> KeyedText:
    parser = KeyedText()
    parser.feed(text)
    return parser


def test_every_summary_number_is_a_table_cell(results_dir: Path) -> None:
    """Each number the summary quotes is marked with its source and reads exactly as the table
    cell it comes from; and the cells hold the run's numbers."""
    data = report_mod.load_results(results_dir)
    page = keyed(report_mod.render_html(data))
    assert len(page.summary) >= 30, page.summary
    for key, value in page.summary.items():
        assert key in page.evidence, f"the summary's {key} is in no table"
        assert value in page.evidence[key], (key, value, page.evidence[key])
    # What the brief asks for, all there: occupancy per home against its business case, spot,
    # out of city, total cost with its range, cost by financial year, the main driver of the
    # risk, the precision of the mean, the run period and price basis.
    wanted = [
        "headline.internal_occupancy_pct.mean",
        "home.0.mean",
        "home.0.range",
        "home.0.reach",
        "home.0.case",
        "headline.spot_stock_mean.mean",
        "headline.out_of_city_share.mean",
        "headline.cost_total_gbp.mean",
        "headline.cost_total_gbp.range",
        "headline.cost_total_gbp.half",
        "plan.period",
        "plan.prices",
    ]
    assert set(wanted) <= set(page.summary)
    assert any(k.startswith("year.") for k in page.summary)
    assert any(k.startswith("risk.") for k in page.summary)
    # The cells are the run's numbers, formatted by display.
    cost = data.summary["cost_total_gbp"]
    assert page.summary["headline.cost_total_gbp.mean"] == display.money(cost.mean())
    assert page.summary["headline.cost_total_gbp.range"] == (
        f"{display.money(cost.quantile(0.05), like=cost.mean())} to "
        f"{display.money(cost.quantile(0.95), like=cost.mean())}"
    )
    gravel = data.units[data.units["unit"] == "Gravel Hill"]["occupancy_pct"]
    assert page.summary["home.0.mean"] == display.percent(gravel.mean())
    assert page.summary["plan.period"] == "1 Apr 2023 to 31 Mar 2033 (10 years)"
    # The largest share of the spread: the risk sentence names the first row of the table.
    drivers = findings.cost_risk_drivers(data.summary)
    top = f"risk.{drivers['part'].iloc[0]}.share"
    assert page.summary[top] == display.share(drivers["share_of_variance"].iloc[0], 0)


def test_report_runs_a_config_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(COVENTRY), "-n", "3", "-w", "1"]) == 0
    written = tmp_path / "coventry-2023-report.html"
    text = written.read_text(encoding="utf-8")
    assert "3 simulated futures, seed 20231123" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "no/such/thing"], "no such results folder or config file"),
        (["report", "{tmp}"], "not a results folder"),
        (["report", str(ROOT / "README.md")], "YAML syntax"),
        (["report", "{res}", "-o", "{tmp}/r.txt"], "should end in .html"),
        (["report", "{res}", "-n", "5"], "apply to a config"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str],
    message: str,
    results_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)).replace("{res}", str(results_dir)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert "Traceback" not in err


def test_pdf_without_an_engine_says_so(
    results_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_pdf, "find_pdf_engine", lambda: None)
    assert main(["report", str(results_dir), "--pdf"]) == 1
    err = capsys.readouterr().err
    assert "no PDF engine found" in err and "print it to PDF" in err
    # The HTML is still written, by default into the results folder.
    out = results_dir / "report.html"
    assert out.stat().st_size > 50_000 and not out.with_suffix(".pdf").exists()
    out.unlink()


def test_the_pdf_prints_collapsed_sections_open() -> None:
    text = "<details><summary>Config</summary>a</details><details open>b</details>"
    text += '<details class="x">c</details><detailsx>'
    assert report_pdf.printable_html(text) == (
        "<details open><summary>Config</summary>a</details><details open>b</details>"
        '<details open class="x">c</details><detailsx>'
    )


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


@pytest.mark.skipif(report_mod.find_pdf_engine() is None, reason="no PDF engine installed")
def test_pdf_with_an_engine(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(results_dir), "-o", str(out), "--pdf"]) == 0
    pdf = out.with_suffix(".pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and len(pdf) > 50_000
    # The config appendix (~470 lines) is printed, not left collapsed: the same report with
    # nothing to open prints fewer pages.
    shut = tmp_path / "shut.html"
    shut.write_text(
        out.read_text("utf-8").replace("<details", "<div").replace("</details", "</div")
    )
    shut.write_text(re.sub(r"<pre[^>]*>.*?</pre>", "", shut.read_text("utf-8"), flags=re.S))
    report_pdf.html_to_pdf(shut, tmp_path / "shut.pdf")
    assert _pages(pdf) >= _pages((tmp_path / "shut.pdf").read_bytes()) + 5


def test_load_results_names_missing_files(results_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing replications table, weekly table"):
        report_mod.load_results(tmp_path)
    data = report_mod.load_results(results_dir)
    assert data.meta["seed"] == 11 and data.config["name"] == "coventry-2023"


def test_report_adds_the_occupancy_answer_when_asked(tmp_path: Path) -> None:
    """`report --occupancy N` adds the section (each home against its business case, the new
    home sizes), with the numbers of the occupancy answer; without it, no section."""
    config = str(Path(__file__).resolve().parent.parent / "configs" / "minimal.yaml")
    with_section, without = tmp_path / "with.html", tmp_path / "without.html"
    assert main(["report", config, "-n", "10", "-w", "1", "-o", str(without)]) == 0
    assert (
        main(
            ["report", config, "-n", "10", "-w", "1", "--occupancy", "10", "-o", str(with_section)]
        )
        == 0
    )
    assert "How full can a home run?" not in without.read_text()
    html = with_section.read_text()
    section = html[html.index("id='occupancy'") :]
    section = section[: section.index("</section>")]
    assert "Elm House" in section and "A new home for" in section
    # Six new-home sizes, 1 to 6 beds, one row each after the header.
    sizes = section[section.index("A new home for") :]
    assert len(re.findall(r"<tr><td>\d</td>", sizes)) == 6


STRATEGY_SPEC = ROOT / "experiments" / "coventry-2023-strategy.yaml"


def test_report_of_an_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`experiment SPEC --report FILE`: the summary first, every number in it a table cell; one
    table of every strategy against the baseline; the forest plot; the spec in the appendix."""
    out = tmp_path / "exp.html"
    db = tmp_path / "results.duckdb"
    args = ["experiment", str(STRATEGY_SPEC), "-n", "2", "-w", "1", "--db", str(db), "-q"]
    assert main([*args, "--report", str(out)]) == 0
    assert str(out) in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    parser = ResourceCollector()
    parser.feed(text)
    assert parser.sections == [
        "summary",
        "paired",
        "reduced",
        "costs",
        "forest",
        "appendix",
        "provenance",
    ]
    assert parser.images == 1 and all(u.startswith("data:image/png") for u in parser.urls)
    page = keyed(text)
    for key, value in page.summary.items():
        assert value in page.evidence.get(key, []), (key, value)
    # Each of the three strategies against the baseline: cost difference, its CI, P(cheaper).
    for i in (1, 2, 3):
        for part in ("diff", "ci", "better"):
            assert f"paired.{i}.cost_total_gbp.{part}" in page.summary
        assert f"paired.{i}.spot_placements.diff" in page.summary
        assert f"paired.{i}.out_of_city_share.diff" in page.summary
    # The reduced-variance difference, as `sufficiency experiment` prints it, in a table.
    for i in (1, 2, 3):
        assert f"reduced.{i}.diff" in page.evidence
    # Building none of the new homes costs more in every future (the spec's measured +£22m).
    assert page.summary["paired.1.cost_total_gbp.diff"].startswith("+£")
    assert page.summary["paired.1.cost_total_gbp.better"] == "0%"
    # Each future has exactly one cheapest strategy.
    cheapest = [int(page.evidence[f"cost.{i}.cheapest"][0].rstrip("%")) for i in range(4)]
    assert sum(cheapest) == 100
    assert "<details><summary>The experiment spec (YAML)" in text
    assert "name: coventry-2023-strategy" in text


def _many_strategies_report(tmp_path: Path, **extra: Any) -> tuple[str, KeyedText]:
    """An experiment report of eight strategies (arrivals scaled) on the minimal config."""
    spec = tmp_path / "many.yaml"
    doc = {
        "name": "many",
        "base": str(ROOT / "configs" / "minimal.yaml"),
        "metrics": ["cost_total_gbp"],
        "sweep": [
            {
                "name": "arrivals",
                "path": "demand.needs.ebd.arrivals_per_year",
                "scale": [0.6, 0.8, 0.9, 1.1, 1.2, 1.4, 1.6, 2.0],
            }
        ],
        **extra,
    }
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = tmp_path / "many.html"
    args = ["experiment", str(spec), "-w", "1", "--db", str(tmp_path / "m.duckdb"), "-q"]
    assert main([*args, "--no-weekly", "--report", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    page = keyed(text)
    for key, value in page.summary.items():
        assert value in page.evidence.get(key, []), (key, value)
    summary = text[text.index("<section id='summary'>") : text.index("</section>")]
    return html.unescape(re.sub(r"<[^>]+>", "", summary)), page


def _counts(summary: str) -> tuple[int, int, int, int]:
    found = re.search(
        r"of the (\d+) strategies, (\d+) cost more .*?, (\d+) cost less, and for (\d+) the",
        summary,
    )
    assert found is not None, summary
    total, more, less, unclear = map(int, found.groups())
    return total, more, less, unclear


def _pounds(text: str) -> float:
    body = text.lstrip("±").replace("£", "").replace(",", "")
    return float(body.rstrip("m")) * (1e6 if body.endswith("m") else 1.0)


def test_report_of_many_strategies_counts_them_and_lists_the_largest(tmp_path: Path) -> None:
    """Eight strategies: the summary counts those that cost more, less or no clear difference
    (the counts add up to eight), then describes only the six whose total cost differs most;
    every number it quotes is still a table cell."""
    summary, page = _many_strategies_report(tmp_path, replications=6)
    total, more, less, unclear = _counts(summary)
    assert total == 8 and more + less + unclear == 8 and more >= 3  # busier costs more
    assert "in 6 paired futures." in " ".join(summary.split())
    described = {k.split(".")[1] for k in page.summary if k.endswith("cost_total_gbp.diff")}
    assert len(described) == 6
    # The two left out are the two smallest differences (in absolute value) of the table's.
    diffs = {i: _pounds(page.evidence[f"paired.{i}.cost_total_gbp.diff"][0]) for i in range(1, 9)}
    left_out = set(map(str, diffs)) - described
    assert max(abs(diffs[int(i)]) for i in left_out) <= min(abs(diffs[int(i)]) for i in described)


def test_report_of_a_precision_run_quotes_what_it_was_judged_on(tmp_path: Path) -> None:
    """Run to a precision target, the summary leads each strategy with the reduced-variance
    difference the run was judged on (a cell of the precision table), counts by those
    intervals, and says how many futures each strategy took."""
    rule = {"half_width": "3%", "min": 10, "step": 10, "max": 30}
    summary, page = _many_strategies_report(tmp_path, precision=rule)
    flat = " ".join(summary.split())
    assert re.search(r"in (\d+|\d+ to \d+) paired futures a strategy \(each ran until", flat)
    reduced = {
        i: (
            _pounds(page.evidence[f"reduced.{i}.diff"][0]),
            _pounds(page.evidence[f"reduced.{i}.half"][0]),
        )
        for i in range(1, 9)
    }
    total, more, less, _ = _counts(summary)
    assert total == 8
    # The table's cells are rounded (to £0.1m at most): an interval that close to 0 could
    # count either way.
    tol = 50_000.0
    ends = [(d - h, d + h) for d, h in reduced.values()]
    assert sum(lo > tol for lo, _ in ends) <= more <= sum(lo > -tol for lo, _ in ends)
    assert sum(hi < -tol for _, hi in ends) <= less <= sum(hi < tol for _, hi in ends)
    assert flat.count("(95% CI, reduced variance; plain:") == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiment", str(STRATEGY_SPEC), "--report", "{tmp}/r.txt"], "should end in .html"),
        (["experiment", str(STRATEGY_SPEC), "--report", "/proc/r.html"], "cannot write"),
        (["report", str(STRATEGY_SPEC), "--occupancy", "10"], "not to an experiment spec"),
        (["report", str(STRATEGY_SPEC), "-o", "{tmp}/r.pdf"], "should end in .html"),
        (
            ["report", str(ROOT / "experiments" / "optimise-coventry.yaml")],
            "an optimiser spec: run 'sufficiency optimise",
        ),
    ],
)
def test_experiment_report_bad_input_before_any_run(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert (
        main([*args, "--db", str(tmp_path / "db.duckdb")] if args[0] == "experiment" else args) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "db.duckdb").exists()  # nothing simulated, nothing stored


def _minimal_uncertain(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "minimal.yaml").read_text(encoding="utf-8"))
    data["run"].update(replications=12, horizon_years=1, replications_per_draw=3)
    data["demand"]["needs"]["ebd"]["arrivals_per_year"] = {"dist": "gamma", "mean": 6, "cv": 0.3}
    path = tmp_path / "uncertain.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", ["uncertain", "hindcast"])
def test_summary_of_uncertain_inputs_fostering_and_published_points(
    case: str, tmp_path: Path
) -> None:
    """With uncertain inputs the summary splits the spread of total cost into inputs against
    chance; with a fostering section it counts children in residential care for want of a
    foster placement; with observed points it says how many the simulated range covers. Each
    number as its table cell says it."""
    if case == "uncertain":
        scenario = load_scenario(_minimal_uncertain(tmp_path))
        result = run(scenario, workers=1)
        wanted = ["split.cost_total_gbp.share", "split.cost_total_gbp.ci"]
    else:
        scenario = load_scenario(ROOT / "configs" / "coventry-2017-hindcast.yaml")
        result = run(scenario, replications=2, workers=1)
        wanted = ["headline.want_of_foster_children.mean", "observed.coverage"]
    page = keyed(report_mod.render_html(report_mod.from_result(result)))
    assert set(wanted) <= set(page.summary)
    for key, value in page.summary.items():
        assert value in page.evidence.get(key, []), (key, value)
    if case == "uncertain":
        assert "draw" in result.summary.columns
        share = page.summary["split.cost_total_gbp.share"]
        assert share.endswith("%") and 0 <= int(share.rstrip("%")) <= 100
    else:
        assert re.fullmatch(
            r"\d of 5 published points inside the simulated P5-P95",
            page.summary["observed.coverage"],
        )


def test_p_better_counts_no_tie_and_p_lowest_one_strategy_per_future() -> None:
    """P(better) of a metric where higher is better is the share of pairs strictly higher (a
    tie is not better); each future has exactly one cheapest strategy."""
    from simulation.experiments.driver import ExperimentResult
    from simulation.experiments.spec import load_experiment
    from simulation.report.experiment import ExperimentData, p_higher, p_lowest

    exp = load_experiment(STRATEGY_SPEC)
    names = [s.name for s in exp.strategies]
    rows = []
    for r in range(4):
        for k, name in enumerate(names):
            occupancy = 80.0 if name == exp.baseline or r < 2 else 80.0 + r  # ties in r = 0, 1
            rows.append(
                {
                    "strategy": name,
                    "replication": r,
                    "cost_total_gbp": 1e6 * (10 + ((k + r) % len(names))),
                    "spot_placements": 5.0,
                    "out_of_city_share": 0.3,
                    "internal_occupancy_pct": occupancy,
                    "children_waiting_mean": 1.0,
                }
            )
    result = ExperimentResult(exp, 4, pd.DataFrame(rows), {})
    higher = p_higher(ExperimentData(result))
    assert higher[(names[1], "internal_occupancy_pct")] == 0.5  # 2 higher, 2 ties, of 4
    assert higher[(names[1], "spot_placements")] == 0.0  # all ties
    lowest = p_lowest(result.summary)
    assert lowest.sum() == pytest.approx(1.0) and list(lowest.index) == names
    assert lowest.tolist() == [0.25] * 4  # the cheapest rotates through the four
