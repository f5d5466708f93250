"""The calibration report: fitted against empirical curves as figures, tables of every estimate.

Written into one folder next to the scenario: ``report.html`` (open it in a browser), a PNG per
figure, ``km-<need>.csv`` (the Kaplan-Meier curve, kept so the empirical stay distribution is
never lost to the parametric fit), ``estimates.json`` and ``warnings.txt``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt
import numpy as np

from simulation.calendar import MONTHS
from simulation.calibration.pipeline import Calibration


def _los_figure(cal: Calibration, need: str, path: Path) -> None:
    los = cal.los[need]
    km = los.km
    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = np.r_[0.0, km["days"].to_numpy()]
    s = np.r_[1.0, km["survival"].to_numpy()]
    ax.step(t, s, where="post", color="black", label=f"Kaplan-Meier (n={los.n})")
    ax.fill_between(
        t,
        np.r_[1.0, km["low"].to_numpy()],
        np.r_[1.0, km["high"].to_numpy()],
        step="post",
        color="grey",
        alpha=0.25,
        label="95% band",
    )
    grid = np.linspace(1.0, max(float(t[-1]) * 1.3, 30.0), 300)
    for fit in los.fits:
        best = fit is los.best
        ax.plot(
            grid,
            fit.survival(grid),
            lw=2.2 if best else 1.0,
            ls="-" if best else "--",
            label=f"{fit.family} (AIC {fit.aic:.1f}){' - used' if best else ''}",
        )
    ax.set_xlabel("days in residential care")
    ax.set_ylabel("still in residential care")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Length of stay: {need}" + (" (pooled over needs)" if los.pooled else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _arrivals_figure(cal: Calibration, need: str, path: Path) -> None:
    a = cal.arrivals[need]
    m = a.monthly
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 1.4]})
    ax.bar(m["month"], m["observed"], width=25, color="#8fb3d9", label="entries per month")
    ax.plot(
        m["month"],
        m["expected"],
        color="black",
        label="fitted (trend)" if a.trend_used else "mean rate",
    )
    ax.set_title(f"Residential entries: {need} (n={a.n})")
    ax.legend(fontsize=8)
    ax2.bar(range(12), [a.seasonality[mo] for mo in MONTHS], color="#c9a36b")
    ax2.axhline(1.0, color="black", lw=0.8)
    ax2.set_xticks(range(12), [mo[0].upper() for mo in MONTHS])
    ax2.set_title(
        f"Seasonality (p={a.seasonality_p:.2g}, {'used' if a.seasonality_used else 'not used'})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ages_figure(cal: Calibration, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = [float(b) for b in np.arange(0, 19, 0.5)]
    for need in cal.needs:
        ages = cal.stays.loc[cal.stays["need"] == need, "age_entry"].dropna()
        ax.hist(ages, bins=bins, alpha=0.5, label=f"{need} (n={len(ages)})")
    ax.set_xlabel("age at first residential placement (years)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def estimates_dict(cal: Calibration) -> dict[str, Any]:
    """Every estimate with n and 95% interval, JSON-friendly."""

    def iv(x: Any) -> Any:
        return None if x is None else {"value": x.value, "low": x.low, "high": x.high, "n": x.n}

    out: dict[str, Any] = {
        "as_of": cal.as_of.isoformat(),
        "window_start": cal.window_start.isoformat(),
        "cleaning": cal.cleaning,
        "needs": {},
        "cohort": len(cal.cohort),
        "in_city_share": {k: iv(v) for k, v in cal.in_city.items()},
        "framework_offer_probability": iv(cal.framework_offer),
        "warnings": len(cal.warnings),
    }
    for need in cal.needs:
        a, los, r = cal.arrivals[need], cal.los[need], cal.routes[need]
        out["needs"][need] = {
            "arrivals_per_year": iv(a.rate),
            "arrivals_mean_over_window": iv(a.mean_rate),
            "trend_per_year": iv(a.trend),
            "trend_p": a.trend_p,
            "trend_used": a.trend_used,
            "seasonality": a.seasonality,
            "seasonality_p": a.seasonality_p,
            "seasonality_used": a.seasonality_used,
            "length_of_stay": {
                "best": los.best.family,
                "dist": los.best.dist,
                "mean_days": iv(los.best.mean),
                "aic": {f.family: f.aic for f in los.fits},
                "n": los.n,
                "ended": los.events,
                "censored_as_of": los.censored_as_of,
                "censored_age_out": los.censored_age_out,
                "left_truncated": los.truncated,
                "km_restricted_mean_days": los.km_restricted_mean,
                "pooled": los.pooled,
            },
            "routes": {
                "probs": r.probs,
                "counts": r.counts,
                "n": r.n,
                "pooled": r.pooled,
                "age_outs": r.age_outs,
            },
        }
    return out


def write_report(cal: Calibration, folder: Path, scenario_name: str) -> list[Path]:
    """Write the figures, curves, estimates and ``report.html`` into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sections: list[str] = []
    for need in cal.needs:
        los_png = folder / f"los-{need}.png"
        arr_png = folder / f"arrivals-{need}.png"
        _los_figure(cal, need, los_png)
        _arrivals_figure(cal, need, arr_png)
        km_csv = folder / f"km-{need}.csv"
        cal.los[need].km.to_csv(km_csv, index=False)
        written += [los_png, arr_png, km_csv]
        a, los = cal.arrivals[need], cal.los[need]
        rows = [
            ("Arrivals per year", a.rate.text("{:.2f}"), a.n),
            ("Trend per year (fitted)", a.trend.text("{:+.3f}") if a.trend else "-", a.n),
            ("Mean length of stay (days)", los.best.mean.text("{:.0f}"), los.n),
            ("Stay distribution", f"{los.best.family} {json.dumps(los.best.dist)}", los.events),
            ("Kaplan-Meier restricted mean (days)", f"{los.km_restricted_mean:.0f}", los.n),
            ("Exit routes", json.dumps(cal.routes[need].probs), cal.routes[need].n),
        ]
        table = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td><td>{n}</td></tr>"
            for k, v, n in rows
        )
        sections.append(
            f"<h2>{html.escape(need)}</h2><table><tr><th>estimate</th><th>value (95% CI)</th>"
            f"<th>n</th></tr>{table}</table>"
            f"<p><img src='{arr_png.name}'></p><p><img src='{los_png.name}'></p>"
            f"<p>Kaplan-Meier curve: <a href='{km_csv.name}'>{km_csv.name}</a></p>"
        )
    ages_png = folder / "ages.png"
    _ages_figure(cal, ages_png)
    written.append(ages_png)
    est = folder / "estimates.json"
    est.write_text(json.dumps(estimates_dict(cal), indent=2, default=str) + "\n", encoding="utf-8")
    warn = folder / "warnings.txt"
    warn.write_text("".join(f"{w}\n" for w in cal.warnings), encoding="utf-8")
    written += [est, warn]
    cleaning = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in cal.cleaning.items())
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in cal.warnings[:200])
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Calibration: {html.escape(scenario_name)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>Calibration of {html.escape(scenario_name)} from SSDA903 data</h1>
<p>Episodes {html.escape(cal.episodes_file)}, header {html.escape(cal.header_file)};
window {cal.window_start} to {cal.as_of}; {len(cal.stays)} residential stays;
{len(cal.cohort)} children in residential care on {cal.as_of}.</p>
<h2>Cleaning</h2><ul>{cleaning}</ul>
{"".join(sections)}
<h2>Ages at entry</h2><p><img src='{ages_png.name}'></p>
<h2>Data warnings ({len(cal.warnings)})</h2><ul>{warnings}</ul>
</body></html>
"""
    page_path = folder / "report.html"
    page_path.write_text(page, encoding="utf-8")
    written.append(page_path)
    return written


def backtest_figure(months: Any, path: Path, title: str) -> None:
    """Observed children in residential care by month against the simulated P5-P95 band."""
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(months))
    ax.fill_between(x, months["p5"], months["p95"], color="#8fb3d9", alpha=0.6, label="P5-P95")
    ax.plot(x, months["p50"], color="#1f4e79", label="P50")
    ax.plot(x, months["observed"], "o-", color="black", ms=3, label="observed")
    step = max(1, len(months) // 8)
    ax.set_xticks(x[::step], [m[:7] for m in months["month"]][::step])
    ax.set_ylabel("children in residential care")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
