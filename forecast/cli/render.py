"""Human-readable output: rich tables and summaries. No computation happens here."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from forecast.io.project import LocatedItem, ProjectSpec


@cache
def console() -> Console:
    """The shared stdout console (plain text when not at a terminal)."""
    probe = Console()
    # Piped output has no terminal width; use a readable fixed width instead of 80 columns.
    return Console(highlight=False, soft_wrap=False, width=None if probe.is_terminal else 120)


def counts_of(spec: ProjectSpec) -> dict[str, int]:
    """Counts of the project's parts, for summaries and JSON."""
    rated = sum(li.item.kind == "scenarios" for li in spec.items)
    return {
        "scenarios": len(spec.scenario_ids),
        "drivers": len(spec.driver_ids),
        "items": len(spec.items),
        "rated_items": rated,
        "driver_coded_items": len(spec.items) - rated,
        "indicator_series": len(spec.indicators),
        "indicator_observations": sum(len(s.observations) for s, _ in spec.indicators),
    }


def validation_summary(spec: ProjectSpec) -> None:
    """Print the one-paragraph verdict of ``forecast validate``."""
    c = counts_of(spec)
    console().print(
        f"[green]✓[/green] {spec.project.name}: valid. {c['scenarios']} scenarios, "
        f"{c['drivers']} drivers, {c['items']} evidence items ({c['rated_items']} scenario-rated, "
        f"{c['driver_coded_items']} driver-coded), {c['indicator_series']} indicator series "
        f"({c['indicator_observations']} observations). Quarters {spec.start}–{spec.as_of}, "
        f"horizon {spec.horizon}."
    )


def _codings(li: LocatedItem) -> str:
    item = li.item
    if item.drivers is not None:
        return ", ".join(f"{k} {v:+d}" for k, v in item.drivers.items())
    return ", ".join(f"{k} {v}" for k, v in (item.scenarios or {}).items() if v != "N")


def evidence_table(items: list[LocatedItem]) -> None:
    """Print a table of items: id, date, grade, codings, title."""
    table = Table(show_lines=False, header_style="bold")
    for col in ("id", "date", "grade", "codings", "title"):
        table.add_column(col, overflow="fold")
    for li in items:
        item = li.item
        table.add_row(
            item.id,
            str(item.event_date),
            f"{item.reliability}{item.credibility}",
            _codings(li),
            item.title,
        )
    console().print(table)
    console().print(f"{len(items)} item{'s' * (len(items) != 1)}")


def item_detail(li: LocatedItem, weight: float) -> None:
    """Print every field of one item."""
    item = li.item
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("id", item.id),
        ("file", li.path),
        ("date", item.event_date),
        ("published", item.published_date),
        ("title", item.title),
        ("source", item.source),
        ("url", item.url or ""),
        ("grade", f"{item.reliability}{item.credibility}"),
        ("weight", f"{weight:.3g}"),
        ("cluster", item.cluster or ""),
        ("coder", item.coder),
        ("codings", _codings(li)),
        ("notes", item.notes.strip()),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console().print(table)


def priors_tables(report: dict[str, Any]) -> None:
    """Print the prior parameters and the implied prior forecast of ``forecast priors``."""
    drivers = Table(title="Driver priors (after interval conversion)", header_style="bold")
    for col in ("driver", "initial", "trend / quarter", "volatility", "innovations"):
        drivers.add_column(col)
    for d in report["drivers"]:
        drivers.add_row(
            d["id"],
            f"N({d['initial']['mu']:.3g}, {d['initial']['sigma']:.3g})",
            f"N({d['trend']['mu']:.3g}, {d['trend']['sigma']:.3g})",
            f"HalfN({d['volatility']['sigma']:.3g})",
            d["innovations"],
        )
    console().print(drivers)
    theory = Table(title="Theory matrix beta (mean ± sd)", header_style="bold")
    theory.add_column("scenario")
    driver_ids = [d["id"] for d in report["drivers"]]
    for d in driver_ids:
        theory.add_column(d, justify="right")
    for s in report["scenarios"]:
        row = report["theory"][s["id"]]
        theory.add_row(
            s["id"], *[f"{row[d]['mu']:+.2g} ± {row[d]['sigma']:.2g}" for d in driver_ids]
        )
    console().print(theory)
    scen = Table(
        title=f"Implied prior forecast at {report['horizon']} "
        f"({report['draws']} prior draws, no evidence)",
        header_style="bold",
    )
    for col in ("scenario", "baseline", "prior mean", f"{report['interval_mass']:.0%} interval"):
        scen.add_column(col, justify="right" if col != "scenario" else "left")
    for s in report["scenarios"]:
        scen.add_row(
            s["id"],
            f"{s['baseline']:.2f}",
            f"{s['mean']:.2f}",
            f"{s['lower']:.2f}–{s['upper']:.2f}",
        )
    console().print(scen)


def grade_counts(items: list[LocatedItem]) -> Counter[str]:
    """Items per Admiralty grade, e.g. {'B2': 12}."""
    return Counter(f"{li.item.reliability}{li.item.credibility}" for li in items)


def _cell(stats: dict[str, float]) -> tuple[str, str]:
    d = int(stats["digits"])
    return f"{stats['mean']:.{d}f}", f"{stats['lower']:.{d}f} – {stats['upper']:.{d}f}"


def forecast_tables(
    summary: dict[str, Any], mass: float, manifest: dict[str, Any], run: str
) -> None:
    """Print the scenario table, the drivers table and the gate verdict of a run."""
    out = console()
    scen = Table(
        title=f"Scenario probabilities at {summary['horizon']} (as of {summary['as_of']})",
        header_style="bold",
    )
    scen.add_column("scenario")
    scen.add_column("probability", justify="right")
    scen.add_column(f"{mass:.0%} interval", justify="right")
    for name, stats in sorted(summary["scenarios"].items(), key=lambda kv: -kv[1]["mean"]):
        scen.add_row(name, *_cell(stats))
    out.print(scen)
    drv = Table(title="Drivers (0 = post-1991 norm; ±1 = one strong step)", header_style="bold")
    drv.add_column("driver")
    drv.add_column(f"now ({summary['as_of']})", justify="right")
    drv.add_column("interval", justify="right")
    drv.add_column(f"at {summary['horizon']}", justify="right")
    drv.add_column("interval", justify="right")
    for name, stats in summary["drivers"].items():
        drv.add_row(name, *_cell(stats["now"]), *_cell(stats["horizon"]))
    out.print(drv)
    gate_table(manifest.get("gate", {}))
    out.print(f"Run: {run}")


#: Gate checks whose threshold is an upper limit (the others are lower limits).
UPPER_LIMITS = ("rhat", "divergences", "mcse_q")


def gate_table(gate: dict[str, Any]) -> None:
    """Print the diagnostics gate's checks and verdict."""
    out = console()
    table = Table(title="Diagnostics gate", header_style="bold")
    for col in ("check", "value", "threshold", "result"):
        table.add_column(col, justify="left" if col == "check" else "right")
    for check in gate.get("checks", []):
        ok = check["passed"]
        op = "≤" if check["name"] in UPPER_LIMITS else "≥"
        value = "n/a" if check["value"] is None else f"{check['value']:.4g}"
        where = f" ({check['detail']})" if check.get("detail") and not ok else ""
        table.add_row(
            check["name"] + where,
            value,
            f"{op} {check['threshold']:.4g}",
            "[green]pass[/green]" if ok else "[red]FAIL[/red]",
        )
    out.print(table)
    if gate.get("passed"):
        out.print("[green]✓ Gate passed.[/green]")
    else:
        failed = [c["name"] for c in gate.get("checks", []) if not c["passed"]]
        out.print(f"[red]✗ Gate FAILED ({', '.join(failed)}): not for distribution.[/red]")


@contextlib.contextmanager
def stage_progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A live spinner with the current stage and elapsed time, on stderr; silent when disabled."""
    if not enabled:
        yield lambda _stage: None
        return
    err = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        current: list[TaskID] = []

        def on_stage(name: str) -> None:
            if current:
                progress.update(current[-1], completed=1, total=1)
                progress.console.print(f"[dim]✓ {progress.tasks[current[-1]].description}[/dim]")
            current.append(progress.add_task(name.capitalize(), total=None))

        yield on_stage
