"""``forecast update`` and ``forecast show``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from forecast.cli.options import (
    EXIT_GATE,
    ForecastClickError,
    handles_errors,
    json_option,
    print_json,
    project_option,
)
from forecast.cli.render import console, forecast_tables, stage_progress
from forecast.io.project import load_project


@click.command()
@project_option
@click.option("--seed", type=int, help="Random seed (default: priors/sampling.yaml).")
@click.option("--draws", type=click.IntRange(10), help="Draws per chain.")
@click.option("--tune", type=click.IntRange(0), help="Tuning steps per chain.")
@click.option("--chains", type=click.IntRange(1, 64), help="Number of chains.")
@click.option(
    "--target-accept",
    type=click.FloatRange(0.5, 1.0, min_open=True, max_open=True),
    help="NUTS target acceptance rate (raise it, e.g. to 0.95, after divergences).",
)
@click.option(
    "--sampler",
    "backend",
    type=click.Choice(["numpyro", "pymc", "nutpie"]),
    help="NUTS implementation (pymc = PyMC's own NUTS, the baseline).",
)
@json_option
@handles_errors()
def update(
    project_dir: Path,
    seed: int | None,
    draws: int | None,
    tune: int | None,
    chains: int | None,
    target_accept: float | None,
    backend: str | None,
    as_json: bool,
) -> None:
    """Fit the model to priors/ and evidence/, save a run and print the forecast.

    The run is written to runs/<stamp>-s<seed>/ (posterior.nc, manifest.json, summary.json).
    A run that fails the diagnostics gate is saved, marked failed, and the command exits 3.

    \b
    Examples:
      forecast update
      forecast update --seed 7 --draws 2000
      forecast update --sampler pymc --json
      forecast update --target-accept 0.95     after divergences
    """
    from forecast.api import Project

    project = Project(load_project(project_dir))
    settings = {
        "seed": seed,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "backend": backend,
    }
    with stage_progress(enabled=sys.stderr.isatty()) as on_stage:
        run = project.update(on_stage=on_stage, **settings)
    if as_json:
        print_json(run.to_json())
    else:
        forecast_tables(run.summary_data, run.interval_mass, run.manifest, str(run.path))
    if not run.passed:
        raise ForecastClickError(
            f"the run failed the diagnostics gate; saved as {run.path}, marked failed (not for "
            "distribution). Try more --draws/--tune, or see the checks above.",
            EXIT_GATE,
        )


@click.command()
@project_option
@click.argument("run", required=False)
@json_option
@handles_errors()
def show(project_dir: Path, run: str | None, as_json: bool) -> None:
    """Print a saved run (the latest by default) as ``forecast update`` did.

    \b
    Examples:
      forecast show
      forecast show 20261130T101500Z-s20200401 --json
    """
    from forecast.errors import InputError
    from forecast.io.runs import find_run

    saved = find_run(project_dir, run)
    try:
        changed = saved.changed_inputs(load_project(project_dir).file_hashes)
    except InputError:
        changed = ["(the project does not validate now)"]
    if as_json:
        print_json({**saved.summary, "run": str(saved.path), "inputs_changed": changed})
        return
    forecast_tables(
        saved.summary, float(saved.manifest["interval_mass"]), saved.manifest, str(saved.path)
    )
    if changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        console().print(
            f"[yellow]Note:[/yellow] the inputs changed since this run: {shown}. "
            "Run 'forecast update' for a current forecast."
        )
