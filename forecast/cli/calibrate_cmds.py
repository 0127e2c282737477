"""``forecast calibrate``: simulation-based calibration on the project's structure."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from forecast.cli.options import (
    ForecastClickError,
    handles_errors,
    json_option,
    print_json,
    project_option,
)
from forecast.cli.render import console
from forecast.errors import ForecastError
from forecast.io.project import load_project

#: Files written to --out.
OUTPUTS = ("summary.json", "summary.md", "sbc_ecdf.png", "sims.jsonl")


@click.command()
@project_option
@click.option(
    "--sims",
    type=click.IntRange(2),
    default=100,
    show_default=True,
    help="Number of simulated evidence sets.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulations.")
@click.option(
    "--draws",
    type=click.IntRange(10),
    default=500,
    show_default=True,
    help="Draws per chain of each fit.",
)
@click.option(
    "--tune",
    type=click.IntRange(0),
    default=500,
    show_default=True,
    help="Tuning steps per chain of each fit.",
)
@click.option(
    "--chains", type=click.IntRange(1, 64), default=2, show_default=True, help="Chains per fit."
)
@click.option(
    "--target-accept",
    type=click.FloatRange(0.5, 1.0, min_open=True, max_open=True),
    help="NUTS target acceptance rate (default: priors/sampling.yaml).",
)
@click.option(
    "--rank-draws",
    type=click.IntRange(9),
    default=99,
    show_default=True,
    help="Posterior draws (thinned) each true value is ranked among.",
)
@click.option(
    "--sampler",
    "backend",
    type=click.Choice(["numpyro", "pymc", "nutpie"]),
    default="numpyro",
    show_default=True,
    help="NUTS implementation.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where the fits run: local processes, or a Dask cluster (pip install 'forecast[dask]').",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address (with --executor dask; default: a local cluster).",
)
@click.option(
    "--workers", type=click.IntRange(1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for summary.json, summary.md, sbc_ecdf.png and sims.jsonl "
    "[default: <project>/reports/calibration].",
)
@click.option("--force", is_flag=True, help="Replace the files of an earlier run in --out.")
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the simulations an interrupted run recorded in --out (sims.jsonl); run the rest.",
)
@json_option
@handles_errors()
def calibrate(
    project_dir: Path,
    sims: int,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float | None,
    rank_draws: int,
    backend: str,
    executor: str,
    scheduler: str | None,
    workers: int,
    out_dir: Path | None,
    force: bool,
    resume: bool,
    as_json: bool,
) -> None:
    """Simulation-based calibration (MODEL.md §6.3) on this project's structure.

    Draws true drivers and parameters from the priors, simulates evidence sets with the
    project's codings (same drivers and quarters, weight 1) and indicator observations, fits
    each, and checks that the ranks of x at as_of, mu, sigma and p among the posterior draws are
    uniform: each quantity's ECDF must stay inside its simultaneous band (95% family-wise over
    all quantities). Writes summary.json, summary.md, the ECDF plot sbc_ecdf.png and each
    simulation's ranks as it finishes (sims.jsonl); exits 1 when calibration fails.

    \b
    Examples:
      forecast calibrate
      forecast calibrate --sims 200 --workers 2
      forecast calibrate --executor dask --scheduler tcp://10.0.0.5:8786 --json
      forecast calibrate --sims 20 --draws 200 --tune 200 --out /tmp/sbc
      forecast calibrate --resume              finish an interrupted run
    """
    from forecast.calibration import FitSettings
    from forecast.calibration import calibrate as run_calibration
    from forecast.evidence import evidence_arrays
    from forecast.executor import DASK_MISSING, available
    from forecast.priors import prior_arrays

    if not available(executor):
        raise click.UsageError(DASK_MISSING)
    spec = load_project(project_dir)
    out_dir = out_dir or project_dir / "reports" / "calibration"
    existing = [name for name in OUTPUTS if (out_dir / name).exists()]
    if existing and not (force or resume):
        raise ForecastClickError(
            f"{out_dir} already holds {', '.join(existing)}; use --force to replace them, or "
            "choose another --out"
        )
    priors = prior_arrays(spec)
    settings = FitSettings(
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept or float(spec.sampling.sampler.target_accept.value),
        backend=backend,
        rank_draws=rank_draws,
    )
    tty = sys.stderr.isatty()
    log = out_dir / "sims.jsonl"
    header = {"seed": seed, "settings": dataclasses.asdict(settings)}
    done = _finished(log, header) if resume else []
    try:
        with _progress(
            sims, log, header, done, bar=tty and not as_json, lines=not tty
        ) as on_result:
            cal = run_calibration(
                priors,
                evidence_arrays(spec),
                n_sims=sims,
                seed=seed,
                settings=settings,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                on_result=on_result,
                done=done,
            )
    except ForecastError:
        raise
    except Exception as exc:
        # A worker died or a fit failed: the finished simulations are in sims.jsonl.
        finished = len(log.read_text(encoding="utf-8").splitlines()) - 1 if log.exists() else 0
        notes = " ".join(getattr(exc, "__notes__", []))
        raise ForecastClickError(
            f"a simulation failed ({type(exc).__name__}: {exc} {notes}); {finished} finished "
            f"simulations are kept in {log}: run the command again with --resume"
        ) from None
    command = "forecast " + shlex.join(sys.argv[1:]) if sys.argv[1:] else ""
    _write(out_dir, cal, command)
    if as_json:
        print_json({**cal.to_json(), "out": str(out_dir)})
    else:
        _table(cal, out_dir)
    if not cal.passed:
        failed = [n for n, ok in zip(cal.names, cal.passed_each, strict=True) if not ok]
        raise ForecastClickError(f"calibration failed for {', '.join(failed)}; see {out_dir}")


def _finished(log: Path, header: dict[str, Any]) -> list[Any]:
    """Simulations recorded in ``log`` by an earlier run with the same seed and settings."""
    from forecast.calibration import result_from_record

    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    if not lines or lines[0] != header:
        raise ForecastClickError(
            f"{log} was written with other settings ({lines[0] if lines else 'empty'}); resume "
            "with the same --seed and sampler options, or use --force to start again"
        )
    return [result_from_record(r) for r in lines[1:]]


def _write(out_dir: Path, cal: Any, command: str) -> None:
    from forecast.calibration import plot_ecdf_difference, summary_markdown
    from forecast.io.atomic import atomic_write_bytes, atomic_write_text

    buf = io.BytesIO()
    plot_ecdf_difference(cal).savefig(buf, format="png", dpi=110)
    atomic_write_bytes(out_dir / "sbc_ecdf.png", buf.getvalue(), overwrite=True)
    data = {**cal.to_json(), "command": command}
    atomic_write_text(out_dir / "summary.json", json.dumps(data, indent=2) + "\n", overwrite=True)
    atomic_write_text(out_dir / "summary.md", summary_markdown(cal, command), overwrite=True)


def _table(cal: Any, out_dir: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from forecast.calibration import summary_rows

    out = console()
    m = cal.meta
    table = Table(
        title=f"Simulation-based calibration: {cal.n_sims} simulations", header_style="bold"
    )
    for col in ("quantity", "max |ECDF − U|", "inside 95% band", "result"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    for name, dev, inside, ok in summary_rows(cal):
        table.add_row(
            escape(name),
            f"{dev:.3f}",
            "yes" if inside else "[yellow]no[/yellow]",
            "[green]pass[/green]" if ok else "[red]FAIL[/red]",
        )
    out.print(table)
    out.print(
        f"Divergent transitions: {cal.divergences}. Wall time {m['wall_seconds']:.0f} s "
        f"({m['executor']}, {m['workers']} worker(s)). Files in {out_dir}."
    )
    if cal.passed:
        out.print("[green]✓ Calibration passed[/green] (95% family-wise band).")
    else:
        out.print("[red]✗ Calibration FAILED.[/red]")


@contextlib.contextmanager
def _progress(
    total: int, log: Path, header: dict[str, Any], done: list[Any], bar: bool, lines: bool
) -> Iterator[Callable[..., None]]:
    """Per finished simulation: a line in ``log`` (JSON), and a progress bar or a plain line.

    ``log`` (sims.jsonl: a header with the settings, then one line per simulation) keeps every
    finished simulation, so an interrupted run loses only the fits in flight; ``done`` are
    written first (a resumed run).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from forecast.calibration import result_record

    log.parent.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True, highlight=False)
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=err, transient=True, disable=not bar)
    state = {"done": len(done), "divergences": sum(r.divergences for r in done)}
    with log.open("w", encoding="utf-8") as fh, progress:
        fh.write(json.dumps(header) + "\n")
        for result in done:
            fh.write(json.dumps(result_record(result)) + "\n")
        fh.flush()
        task_id = progress.add_task("Simulations", total=total, completed=len(done))

        def on_result(task: Any, result: Any) -> None:
            state["done"] += 1
            state["divergences"] += result.divergences
            fh.write(json.dumps(result_record(result)) + "\n")
            fh.flush()
            note = f"{state['divergences']} divergences, last fit {result.seconds:.0f} s"
            progress.update(task_id, advance=1, description=f"Simulations ({note})")
            if lines:
                err.print(f"simulation {state['done']}/{total} done ({note})")

        yield on_result
