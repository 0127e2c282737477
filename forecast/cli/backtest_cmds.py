"""``forecast backtest``: the as-of forecast of every quarter, with the evidence known then."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forecast.cli.options import (
    EXIT_GATE,
    ForecastClickError,
    handles_errors,
    json_option,
    print_json,
    project_option,
)
from forecast.cli.render import console
from forecast.io.project import load_project
from forecast.quarters import Quarter


class QuarterType(click.ParamType):
    """A quarter such as ``2014Q1``."""

    name = "QUARTER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        """Parse ``value`` as a quarter (usage error otherwise)."""
        if isinstance(value, Quarter):
            return value
        try:
            return Quarter.parse(value)
        except ValueError:
            self.fail(f"{value!r} is not a quarter; write it as YYYYQn, e.g. 2014Q1", param, ctx)


@click.command()
@project_option
@click.option(
    "--from",
    "first",
    type=QuarterType(),
    help="First quarter (default: the first with evidence, at least start + 8 quarters).",
)
@click.option("--to", "last", type=QuarterType(), help="Last quarter (default: as_of).")
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="Where the fits run: local processes (default) or a Dask cluster (needs the optional "
    "Dask packages: pip install 'forecast[dask]').",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786); implies --executor dask.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes (local, or the local Dask cluster when no --scheduler is given).",
)
@click.option("--seed", type=int, help="Base seed (default: priors/sampling.yaml).")
@click.option("--draws", type=click.IntRange(10), help="Draws per chain of each fit.")
@click.option("--tune", type=click.IntRange(0), help="Tuning steps per chain of each fit.")
@click.option("--chains", type=click.IntRange(1, 64), help="Chains per fit.")
@click.option(
    "--target-accept",
    type=click.FloatRange(0.5, 1.0, min_open=True, max_open=True),
    help="NUTS target acceptance rate.",
)
@click.option(
    "--sampler",
    "backend",
    type=click.Choice(["numpyro", "pymc", "nutpie"]),
    help="NUTS implementation.",
)
@click.option("--force", is_flag=True, help="Refit quarters already done with the same inputs.")
@json_option
@handles_errors()
def backtest(
    project_dir: Path,
    first: Quarter | None,
    last: Quarter | None,
    executor: str | None,
    scheduler: str | None,
    workers: int,
    seed: int | None,
    draws: int | None,
    tune: int | None,
    chains: int | None,
    target_accept: float | None,
    backend: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Fit each quarter with only the evidence published by then; add it to the history.

    Every quarter from --from to --to is fitted to the evidence known at its end (one compiled
    model for all quarters) and saved at once to reports/backtest/<quarter>.json. Quarters already
    done with the same inputs and settings are skipped, so an interrupted backtest resumes where
    it stopped; --force refits them. Quarters that pass the diagnostics gate are added to
    reports/history.csv as kind "backtest" (dashed in the report's trend chart). Each quarter's
    seed is derived from the base seed and the quarter, so every executor gives the same numbers.

    With --executor dask the fits run on a Dask cluster: a local one of --workers processes, or
    the one at --scheduler (its workers must see the project folder at the same path and have
    FORECAST_CACHE_DIR, PYTENSOR_FLAGS and FORECAST_TODAY set as here).

    Exits 3 when a quarter failed the gate (it is saved and reported, not added to the history).

    \b
    Examples:
      forecast backtest                                  every quarter with evidence
      forecast backtest --from 2018Q1 --to 2020Q4 --workers 2
      forecast backtest --executor dask --workers 4      a local Dask cluster
      forecast backtest --scheduler tcp://10.0.0.5:8786  a running Dask cluster
      forecast backtest --draws 500 --tune 500 --force --json
    """
    from forecast.backtest import QuarterRangeError, check_range, run_backtest
    from forecast.executor import DASK_MISSING, available

    if scheduler is not None:
        if executor == "local":
            raise click.UsageError("--scheduler needs --executor dask (or no --executor)")
        executor = "dask"
    executor = executor or "local"
    if not available(executor):
        raise click.UsageError(DASK_MISSING)
    spec = load_project(project_dir)
    try:
        check_range(spec, first, last)
    except QuarterRangeError as exc:
        raise click.BadParameter(exc.detail, param_hint=exc.option) from None
    settings = {
        "seed": seed,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "backend": backend,
    }
    with progress_bar(enabled=sys.stderr.isatty() and not as_json) as (on_plan, on_quarter):
        result = run_backtest(
            spec,
            first,
            last,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            force=force,
            on_plan=on_plan,
            on_quarter=on_quarter,
            **settings,
        )
    if as_json:
        print_json({"executor": executor, "workers": workers, **result.to_json()})
    else:
        backtest_table(result.to_json())
    if result.failed:
        raise ForecastClickError(
            f"{len(result.failed)} quarter(s) failed the diagnostics gate "
            f"({', '.join(result.failed)}); they are saved in reports/backtest/ but left out of "
            "the history. Try more --draws/--tune and --force.",
            EXIT_GATE,
        )


@contextlib.contextmanager
def progress_bar(
    enabled: bool,
) -> Iterator[tuple[Callable[..., None] | None, Callable[..., None] | None]]:
    """A bar on stderr that advances as quarters finish (nothing when disabled)."""
    if not enabled:
        yield None, None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task("Backtest", total=None)

        def on_plan(tasks: list[Any], done: dict[str, Any]) -> None:
            progress.update(bar, total=len(tasks), description=f"Fitting ({len(done)} done before)")

        def on_quarter(record: dict[str, Any]) -> None:
            verdict = "passed" if record["passed"] else "[red]failed the gate[/red]"
            progress.console.print(
                f"[dim]✓ {record['quarter']} ({record['wall_time_s']:.0f} s, {verdict})[/dim]"
            )
            progress.advance(bar)

        yield on_plan, on_quarter


def backtest_table(data: dict[str, Any]) -> None:
    """Print one row per quarter: leading scenario, probabilities, gate verdict, time."""
    out = console()
    records = data["quarters"]
    scenarios = list(records[0]["scenarios"]) if records else []
    table = Table(title=f"Backtest {data['from']}–{data['to']}", header_style="bold")
    table.add_column("quarter")
    table.add_column("leading")
    for s in scenarios:
        table.add_column(s, justify="right")
    table.add_column("gate")
    table.add_column("time", justify="right")
    for r in records:
        probs = []
        for s in scenarios:
            stats = r["scenarios"][s]
            d = max(int(stats["digits"]), 1)
            probs.append(f"{stats['mean']:.{d}f}")
        gate = "pass" if r["passed"] else f"[red]FAIL[/red] ({', '.join(r['failed_checks'])})"
        when = "saved" if r["skipped"] else f"{r['wall_time_s']:.0f} s"
        table.add_row(r["quarter"], r["leading"], *probs, gate, when)
    out.print(table)
    out.print(
        f"{len(data['fitted'])} quarter(s) fitted, {len(data['skipped'])} already done, "
        f"{len(data['failed'])} failed the gate; {data['wall_time_s']:.1f} s. "
        "Results in reports/backtest/; passed quarters added to reports/history.csv."
    )
