"""The report's data, built from a run and its project (pure: nothing here writes).

``build_context`` gathers the headline numbers with ICD 203 words, the move since the previous
report and how much of it came from ratings, the effect of new and re-rated items, the ten most
influential items, the diagnostics gate and the methods appendix. Templates only format it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from forecast.evidence import EvidenceArrays, evidence_arrays, known_items
from forecast.influence import Draws, each_item
from forecast.io.project import ProjectSpec
from forecast.priors import PriorArrays, prior_arrays
from forecast.report import prose
from forecast.report.bands import fmt_prob, interval_words
from forecast.report.changes import Refit, change_effects, item_signature, ratings_contribution

if TYPE_CHECKING:  # pragma: no cover
    from forecast.api import ForecastRun

#: How many items the influence table lists.
TOP_ITEMS = 10


def headline(summary: dict[str, Any], spec: ProjectSpec) -> list[dict[str, Any]]:
    """One row per scenario: E[q], interval, supported digits and the ICD 203 word(s)."""
    names = {s.id: s.name for s in spec.scenarios.scenarios}
    rows = []
    for sid, s in summary["scenarios"].items():
        d = max(int(s["digits"]), 1)
        words, spans = interval_words(s["lower"], s["upper"])
        rows.append(
            {
                "id": sid,
                "name": names.get(sid, sid),
                "mean": s["mean"],
                "lower": s["lower"],
                "upper": s["upper"],
                "digits": d,
                "mean_text": fmt_prob(s["mean"], d),
                "interval_text": f"{s['lower']:.{d}f}–{s['upper']:.{d}f}",
                "words": words,
                "spans": spans,
            }
        )
    return sorted(rows, key=lambda r: -r["mean"])


def item_row(spec: ProjectSpec, item_id: str) -> dict[str, Any]:
    """Display fields of one item: title, source, url, date, Admiralty grade and codings."""
    item = spec.item(item_id).item
    if item.drivers is not None:
        codings = ", ".join(f"{d} {s:+d}" for d, s in item.drivers.items())
    else:
        codings = ", ".join(f"{k} {r}" for k, r in (item.scenarios or {}).items() if r != "N")
    return {
        "id": item.id,
        "title": item.title,
        "source": item.source,
        "url": item.url,
        "date": item.date,
        "grade": f"{item.reliability}{item.credibility}",
        "codings": codings,
    }


def evidence_counts(spec: ProjectSpec) -> dict[str, Any]:
    """Items in the fit by Admiralty grade, and codings by driver / ratings by scenario."""
    items = [li.item for li in known_items(spec)]
    grades = Counter((i.reliability, str(i.credibility)) for i in items)
    letters = sorted({g[0] for g in grades})
    numbers = sorted({g[1] for g in grades})
    by_driver = Counter(d for i in items if i.drivers for d in i.drivers)
    by_scenario = Counter(
        k for i in items if i.scenarios for k, r in i.scenarios.items() if r != "N"
    )
    return {
        "n_items": len(items),
        "grade_columns": numbers,
        "grade_rows": [
            {"reliability": r, "counts": [grades.get((r, c), 0) for c in numbers]} for r in letters
        ],
        "drivers": [{"id": d, "count": by_driver.get(d, 0)} for d in spec.driver_ids],
        "scenarios": [{"id": s, "count": by_scenario.get(s, 0)} for s in spec.scenario_ids],
        "n_series": len(spec.indicators),
    }


def priors_table(spec: ProjectSpec) -> dict[str, list[dict[str, Any]]]:
    """The priors with their rationales, as analysts wrote them."""
    scen = [
        {"id": s.id, "name": s.name, "baseline": s.baseline, "rationale": s.rationale}
        for s in spec.scenarios.scenarios
    ]
    drivers = []
    for d in spec.drivers.drivers:
        m0, s0 = d.initial.params()
        m1, s1 = d.trend.params()
        drivers.append(
            {
                "id": d.id,
                "name": d.name,
                "initial": f"Normal({m0:.2f}, {s0:.2f})",
                "initial_rationale": d.initial.rationale,
                "trend": f"Normal({m1:.3f}, {s1:.3f})",
                "trend_rationale": d.trend.rationale,
                "volatility": f"HalfNormal({d.volatility.params():.3f})",
                "volatility_rationale": d.volatility.rationale,
            }
        )
    return {"scenarios": scen, "drivers": drivers}


def top_items(
    spec: ProjectSpec,
    draws: Draws,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    scenarios: list[str],
) -> list[dict[str, Any]]:
    """The ten items whose removal would move some scenario most (PSIS, k shown)."""
    rows = []
    for effect in each_item(draws, priors, evidence)[:TOP_ITEMS]:
        (item_id,) = effect.items
        rows.append(
            {
                **item_row(spec, item_id),
                "delta": {s: float(d) for s, d in zip(scenarios, effect.delta, strict=True)},
                "effects": prose.effect_list(dict(zip(scenarios, effect.delta, strict=True))),
                "pareto_k": float(effect.pareto_k),
                "reliable": bool(effect.reliable),
            }
        )
    return rows


def build_context(
    run: ForecastRun,
    spec: ProjectSpec,
    quarter: str,
    *,
    previous: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    refit: Refit | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain data (figures are made in :mod:`.render`).

    Parameters
    ----------
    run
        The fitted run.
    spec
        The project the run was fitted to, read at its as_of.
    quarter
        The report's quarter label, e.g. ``"2026Q4"``.
    previous
        The previous report's ``summary.json`` (None for the first report).
    history
        Rows of ``reports/history.csv`` (published and backtest forecasts).
    refit
        Called with a modified spec when PSIS is unreliable (Pareto k too high); None to skip
        refits and mark such rows approximate.
    now
        The publication time (default: now, UTC).
    """
    now = now or dt.datetime.now(dt.UTC)
    summary = run.summary_data
    scenarios = spec.scenario_ids
    priors = prior_arrays(spec)
    evidence = evidence_arrays(spec)
    draws = Draws.from_posterior(run.idata.posterior)
    rows = headline(summary, spec)
    ratings = ratings_contribution(spec, draws, priors, evidence, refit=refit)
    changes = (
        change_effects(spec, previous, draws, priors, evidence, refit=refit) if previous else None
    )
    if changes is not None:
        changes["items"] = {i: item_row(spec, i) for i in [*changes["new"], *changes["rerated"]]}
        by_type = [e for e in (changes.get("by_type") or {}).values() if e]
        for row in [*changes["rows"], *([changes["joint"]] if changes["joint"] else []), *by_type]:
            row["effects"] = prose.effect_list(row["delta"])
    move = prose.move_table(rows, previous, changes)
    names = {r["id"]: r["name"] for r in rows}
    checks = run.manifest.get("gate", {}).get("checks", [])
    ctx: dict[str, Any] = {
        "project": {"name": spec.project.name, "description": spec.project.description},
        "quarter": quarter,
        "as_of": summary["as_of"],
        "horizon": summary["horizon"],
        "run": run.path.name if run.path else None,
        "generated": now.isoformat(timespec="seconds"),
        "interval_mass": run.interval_mass,
        "passed": run.passed,
        "headline": rows,
        "headline_text": prose.headline_sentences(rows, run.interval_mass, summary["horizon"]),
        "ratings": ratings,
        "move": move,
        "move_text": prose.move_paragraph(move, previous, ratings, names),
        "changes": changes,
        "changes_text": prose.changes_paragraph(changes) if changes else None,
        "top_items": top_items(spec, draws, priors, evidence, scenarios),
        "scenarios": scenarios,
        "diagnostics": {"passed": run.passed, "checks": checks},
        "counts": evidence_counts(spec),
        "priors": priors_table(spec),
        "manifest": manifest_rows(run.manifest),
        "history": history or [],
    }
    ctx["summary"] = report_summary(ctx, summary, spec, now)
    return ctx


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's manifest as (field, value) rows for the appendix."""
    sampler = manifest.get("sampler", {})
    versions = manifest.get("versions", {})
    inputs = manifest.get("inputs", {})
    return [
        ("run", str(manifest.get("run", "(not saved)"))),
        ("created", str(manifest.get("created", ""))),
        ("as of / horizon", f"{manifest.get('as_of')} / {manifest.get('horizon')}"),
        ("seed", str(manifest.get("seed"))),
        ("sampler", ", ".join(f"{k} {v}" for k, v in sampler.items() if k != "seed")),
        (
            "gate thresholds",
            ", ".join(f"{k} {v}" for k, v in manifest.get("thresholds", {}).items()),
        ),
        ("counts", ", ".join(f"{k} {v}" for k, v in manifest.get("counts", {}).items())),
        ("input files", f"{len(inputs)} (SHA-256 of each in manifest.json)"),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]


def report_summary(
    ctx: dict[str, Any], summary: dict[str, Any], spec: ProjectSpec, now: dt.datetime
) -> dict[str, Any]:
    """The report's ``summary.json``: numbers, ratings contribution and every item's hash."""
    return {
        "schema_version": 1,
        "quarter": ctx["quarter"],
        "run": ctx["run"],
        "as_of": ctx["as_of"],
        "horizon": ctx["horizon"],
        "published_at": now.isoformat(timespec="seconds"),
        "passed": ctx["passed"],
        "interval_mass": ctx["interval_mass"],
        "scenarios": {
            r["id"]: {k: r[k] for k in ("mean", "lower", "upper", "digits", "words", "spans")}
            for r in ctx["headline"]
        },
        "ratings_contribution": ctx["ratings"]["delta"],
        "changes": ctx["changes"],
        "items": {
            i: item_signature(li)
            for i, li in sorted({li.item.id: li for li in known_items(spec)}.items())
        },
        "top_items": [{k: r[k] for k in ("id", "delta", "pareto_k")} for r in ctx["top_items"]],
    }


def history_rows(ctx: dict[str, Any], kind: str = "published") -> list[dict[str, Any]]:
    """The rows this report adds to ``reports/history.csv`` (one per scenario)."""
    return [
        {
            "quarter": ctx["quarter"],
            "scenario": r["id"],
            "mean": r["mean"],
            "lower": r["lower"],
            "upper": r["upper"],
            "interval_mass": ctx["interval_mass"],
            "run": ctx["run"] or "",
            "published_at": ctx["summary"]["published_at"],
            "kind": kind,
        }
        for r in ctx["headline"]
    ]
