"""``forecast report``: the quarterly probability report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from forecast.cli.options import EXIT_GATE, ForecastClickError, handles_errors, project_option
from forecast.cli.render import console, stage_progress
from forecast.io.project import load_project


@click.command()
@project_option
@click.option("--quarter", help="Report quarter, e.g. 2026Q4 (default: the run's as_of quarter).")
@click.option("--run", "run_name", help="Run folder under runs/ (default: the latest run).")
@click.option("--force", is_flag=True, help="Replace an existing report of the quarter.")
@click.option(
    "--allow-failed",
    is_flag=True,
    help="Write a report of a run that failed the gate, stamped 'not for distribution'.",
)
@click.option(
    "--no-refit",
    is_flag=True,
    help="Never refit; mark effects with a high Pareto k as approximate instead.",
)
@handles_errors()
def report(
    project_dir: Path,
    quarter: str | None,
    run_name: str | None,
    force: bool,
    allow_failed: bool,
    no_refit: bool,
) -> None:
    """Write reports/<quarter>/ (report.html, report.md with figures, summary.json).

    The report shows each scenario's probability with its interval and ICD 203 words, what
    moved since the previous report and why, figures, the most influential items, the
    diagnostics gate and a methods appendix. Passed reports are added to reports/history.csv.
    An existing quarter is replaced only with --force. A run that failed the gate writes
    nothing and exits 3, unless --allow-failed (then every section is stamped 'not for
    distribution').

    \b
    Examples:
      forecast report
      forecast report --quarter 2026Q4 --force
      forecast report --run 20261130T101500Z-s20200401 --allow-failed
    """
    from forecast.api import Project
    from forecast.errors import ConvergenceError
    from forecast.report.publish import publish

    project = Project(load_project(project_dir))
    with stage_progress(enabled=sys.stderr.isatty()) as on_stage:
        on_stage("loading the run")
        run = project.load_run(run_name)
        on_stage("building the report")
        try:
            out = publish(
                run,
                project.spec,
                quarter,
                force=force,
                allow_failed=allow_failed,
                refit=not no_refit,
            )
        except ConvergenceError as exc:
            raise ForecastClickError(str(exc), EXIT_GATE) from None
    console().print(f"Report written to {out.path / 'report.html'} (and report.md, summary.json)")
    if not out.passed:
        console().print(
            "[yellow]Note:[/yellow] the run failed the diagnostics gate; every section of the "
            "report is stamped 'not for distribution' and it was not added to the history."
        )
