"""Publish a quarter's report: check the run, build, render and write ``reports/<quarter>/``.

The one place where the report pipeline meets the disk (through :mod:`forecast.io.reports`),
shared by ``forecast report`` and :meth:`forecast.api.Project.report`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecast.errors import ConvergenceError, RunMismatchError
from forecast.io import reports
from forecast.io.project import ProjectSpec
from forecast.quarters import Quarter

if TYPE_CHECKING:  # pragma: no cover
    from forecast.api import ForecastRun


@dataclass(frozen=True)
class Published:
    """The outcome of :func:`publish`: the folder written and the report's context."""

    path: Path
    context: dict[str, Any]
    passed: bool


def run_spec(run: ForecastRun, spec: ProjectSpec) -> ProjectSpec:
    """The project as the run saw it: same inputs (else RunMismatchError), at the run's as_of."""
    saved: dict[str, str] = run.manifest.get("inputs", {})
    changed = sorted(
        n for n in set(saved) | set(spec.file_hashes) if saved.get(n) != spec.file_hashes.get(n)
    )
    if saved and changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        raise RunMismatchError(
            f"the inputs changed since run {run.path.name if run.path else '(unsaved)'}: {shown}. "
            "Run 'forecast update' first, so that the report describes the current evidence"
        )
    as_of = Quarter.parse(run.summary_data["as_of"])
    return spec if as_of == spec.as_of else spec.with_as_of(as_of)


def refitter(run: ForecastRun):
    """A refit callback for the report: the run's sampler settings on a modified spec -> E[q]."""
    from forecast.api import Project

    sampler = dict(run.manifest.get("sampler", {}))

    def refit(spec: ProjectSpec) -> np.ndarray:
        fitted = Project(spec).fit(**sampler)
        return fitted.probabilities.mean(("chain", "draw")).values

    return refit


def build(
    run: ForecastRun,
    spec: ProjectSpec,
    quarter: str | None = None,
    *,
    refit: bool = True,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's context and its figures (matplotlib) for ``run``, reading earlier reports."""
    from forecast.report.context import build_context
    from forecast.report.render import report_figures

    spec = run_spec(run, spec)
    quarter = str(Quarter.parse(quarter or run.summary_data["as_of"]))
    ctx = build_context(
        run,
        spec,
        quarter,
        previous=reports.previous_summary(spec.root, quarter),
        history=reports.read_history(spec.root),
        refit=refitter(run) if refit else None,
        now=now,
    )
    return ctx, report_figures(run, spec, ctx)


def publish(
    run: ForecastRun,
    spec: ProjectSpec,
    quarter: str | None = None,
    *,
    force: bool = False,
    allow_failed: bool = False,
    refit: bool = True,
) -> Published:
    """Write ``reports/<quarter>/`` and, for a run that passed the gate, add it to the history.

    Raises
    ------
    ConvergenceError
        The run failed the diagnostics gate and ``allow_failed`` is not set (nothing written).
    ForecastError
        The quarter's report exists and ``force`` is not set.
    """
    from forecast.io.atomic import project_lock
    from forecast.report.context import history_rows
    from forecast.report.render import encode_figures, render_html, render_markdown

    quarter = str(Quarter.parse(quarter or run.summary_data["as_of"]))
    if not run.passed and not allow_failed:
        raise ConvergenceError(
            f"run {run.path.name if run.path else '(unsaved)'} failed the diagnostics gate; no "
            "report written. Make a passing run with 'forecast update' (more --draws/--tune), or "
            "pass --allow-failed to write a report stamped 'not for distribution'"
        )
    with project_lock(spec.root, "report"):
        reports.check_free(spec.root, quarter, force=force)
        ctx, figures = build(run, spec, quarter, refit=refit)
        encoded = encode_figures(figures, ctx)
        files = {f.name: f.png for f in encoded}
        files["report.html"] = render_html(ctx, encoded).encode("utf-8")
        files["report.md"] = render_markdown(ctx, encoded).encode("utf-8")
        files["summary.json"] = reports.summary_bytes(ctx["summary"])
        path = reports.write_report(spec.root, quarter, files, force=force)
        if run.passed:
            reports.write_history(spec.root, history_rows(ctx))
    return Published(path, ctx, run.passed)
