"""``forecast preview | whatif | influence | signposts | sensitivity``: the analyst tools.

Each command reads the latest run (or ``--run``) through :class:`forecast.analysis.RunContext`;
only ``sensitivity`` and a preview that needs a refit import ArviZ or PyMC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from forecast.cli.evidence_cmds import collect_item_fields, item_options
from forecast.cli.options import handles_errors, json_option, print_json, project_option


def run_option(f):
    """``--run NAME``: a run folder name or path (default: the latest run)."""
    return click.option("--run", "run", help="Run folder name or path (default: the latest).")(f)


def _context(project_dir: Path, run: str | None):
    from forecast.analysis import RunContext

    return RunContext.from_project(project_dir, run)


def _note_changed(ctx: Any) -> None:
    from forecast.cli.render import console

    if ctx.inputs_changed:
        console().print(
            "[yellow]Note:[/yellow] the inputs changed since this run "
            f"({', '.join(ctx.inputs_changed[:3])}); 'forecast update' refreshes it."
        )


def analysis_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print one rich table (first column left-aligned, the rest right-aligned)."""
    from rich.table import Table

    from forecast.cli.render import console

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@click.command()
@project_option
@item_options
@click.option(
    "--file",
    "item_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the item from a YAML file (the format of evidence/**/*.yaml).",
)
@click.option("--no-refit", is_flag=True, help="Never refit, even when Pareto k is too high.")
@run_option
@json_option
@handles_errors(" (nothing was written)")
def preview(
    project_dir: Path,
    item_file: Path | None,
    no_refit: bool,
    run: str | None,
    as_json: bool,
    **values: Any,
) -> None:
    """Show how a new item would move the forecast, without writing it.

    Takes the options of 'forecast evidence add' (or --file). The latest run's draws are
    reweighted by the item's likelihood (PSIS); when the Pareto k is above the threshold the
    model is refitted with the item (unless --no-refit).

    \b
    Examples:
      forecast preview --title "Summit cancelled" --date 2026-10-01 --source "TASS" \\
        --reliability B --credibility 2 --coder me --driver leader_affinity=-2
      forecast preview --file draft/e120.yaml --json
    """
    from forecast.preview import item_fields_from_file

    ctx = _context(project_dir, run)
    if item_file is not None:
        fields = item_fields_from_file(item_file)
    else:
        fields = collect_item_fields(values, ctx.spec)
    result = ctx.preview(fields, refit=not no_refit)
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    from forecast.cli.render import console

    e = result.effect
    k_text = f"Pareto k {e.pareto_k:.2f} (threshold {result.threshold:.2f})"
    if result.refit:
        console().print(f"{k_text}: too high to reweight; refitted with the item.")
    elif not e.reliable:
        console().print(f"[yellow]{k_text}: too high; the figures below are unreliable.[/]")
    else:
        console().print(f"{k_text}: reweighting the stored draws.")
    analysis_table(
        "Scenarios",
        ["scenario", "now", "with the item", "change", "dB"],
        [
            [
                s,
                _pct(v["before"]),
                _pct(v["mean"]),
                f"{100 * v['delta']:+.1f} pts",
                f"{v['db']:+.1f}",
            ]
            for s, v in data["scenarios"].items()
        ],
    )
    analysis_table(
        "Drivers",
        ["driver", "as_of now", "with", "horizon now", "with"],
        [
            [
                d,
                f"{v['now']['before']:+.2f}",
                f"{v['now']['mean']:+.2f}",
                f"{v['horizon']['before']:+.2f}",
                f"{v['horizon']['mean']:+.2f}",
            ]
            for d, v in data["drivers"].items()
        ],
    )
    _note_changed(ctx)


@click.command()
@project_option
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="DRIVER=VALUE[@QUARTER]",
    help="Fix a driver at VALUE from QUARTER to the horizon (default: at the horizon).",
)
@click.option(
    "--shift",
    "shifts",
    multiple=True,
    metavar="DRIVER=DELTA[@QUARTER]",
    help="Add DELTA to a driver from QUARTER on (default: at the horizon).",
)
@run_option
@json_option
@handles_errors()
def whatif(
    project_dir: Path,
    sets: tuple[str, ...],
    shifts: tuple[str, ...],
    run: str | None,
    as_json: bool,
) -> None:
    """Intervene on drivers in the stored draws (no refit) and show the scenarios' response.

    --set fixes the driver at VALUE from QUARTER to the horizon; --shift adds DELTA from QUARTER
    on. A quarter up to as_of changes the path from then on (and so x at as_of); the forecast
    depends on the drivers at the horizon. Values are in driver units (+1 = one strong step).

    \b
    Examples:
      forecast whatif --set leader_affinity=-1
      forecast whatif --shift us_threat=-0.5@2027Q1 --json
    """
    if not sets and not shifts:
        raise click.UsageError("give at least one --set or --shift")
    ctx = _context(project_dir, run)
    result = ctx.whatif(ctx.parse_interventions(sets, shifts))
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    analysis_table(
        "What if " + "; ".join(result.interventions),
        ["scenario", "now", "what-if", f"{result.mass:.0%} interval", "change"],
        [
            [
                s,
                _pct(v["before"]),
                _pct(v["mean"]),
                f"{_pct(v['lower'])}–{_pct(v['upper'])}",
                f"{100 * v['delta']:+.1f} pts",
            ]
            for s, v in data["scenarios"].items()
        ],
    )
    _note_changed(ctx)


@click.command()
@project_option
@click.argument("items", nargs=-1)
@run_option
@json_option
@handles_errors()
def influence(project_dir: Path, items: tuple[str, ...], run: str | None, as_json: bool) -> None:
    """Per-item influence: how much each item in the run moves each scenario.

    Δ is E[q] with the item minus without it (reweighting, PSIS); dB is the change of each
    scenario's odds; k above the threshold means: refit without the item to be sure.

    \b
    Examples:
      forecast influence
      forecast influence e017 e042 --json
    """
    ctx = _context(project_dir, run)
    effects = ctx.influence(list(items) or None)
    scenarios = ctx.priors.scenarios
    means = ctx.draws.q(ctx.block).mean(axis=0)
    if as_json:
        print_json(
            {
                "scenarios": {s: {"mean": float(m)} for s, m in zip(scenarios, means, strict=True)},
                "items": [e.as_dict() for e in effects],
            }
        )
        return
    analysis_table(
        "Influence of each item (Δ in points; dB)",
        ["item", *scenarios, "k"],
        [
            [
                ", ".join(e.items),
                *(f"{100 * d:+.1f} ({g:+.1f})" for d, g in zip(e.delta, e.db, strict=True)),
                f"{e.pareto_k:.2f}" + ("" if e.reliable else " !"),
            ]
            for e in effects
        ],
    )


@click.command()
@project_option
@run_option
@json_option
@handles_errors()
def signposts(project_dir: Path, run: str | None, as_json: bool) -> None:
    """Indicators to watch: which one more strong, reliable item would move the forecast most.

    For each driver (an A1 coding in the as_of quarter) and each scenario (an A1 item rated CC
    for it and II for the rest): the expected absolute change of the forecast (summed over
    scenarios), the expected KL divergence, and the observation that would change the leader.

    \b
    Examples:
      forecast signposts
      forecast signposts --json
    """
    ctx = _context(project_dir, run)
    ranked = ctx.signposts()
    scenarios = ctx.priors.scenarios
    means = ctx.draws.q(ctx.block).mean(axis=0)
    if as_json:
        print_json(
            {
                "scenarios": {s: {"mean": float(m)} for s, m in zip(scenarios, means, strict=True)},
                "signposts": [s.as_dict() for s in ranked],
            }
        )
        return

    def flip(s: Any) -> str:
        c = s.leader_change
        return (
            "—" if c is None else f"{c['outcome']} → {c['new_leader']} ({_pct(c['probability'])})"
        )

    analysis_table(
        "Signposts (one more A1 item in the as_of quarter)",
        ["rank", "signpost", "E|Δ| (pts)", "E[KL] (nats)", "changes the leader"],
        [
            [
                str(i + 1),
                f"{s.kind} {s.name}",
                f"{100 * s.expected_abs_change:.1f}",
                f"{s.expected_kl:.4f}",
                flip(s),
            ]
            for i, s in enumerate(ranked)
        ],
    )


@click.command()
@project_option
@run_option
@json_option
@handles_errors()
def sensitivity(project_dir: Path, run: str | None, as_json: bool) -> None:
    """Power-scaling sensitivity of each scenario and driver to the priors and the likelihood.

    Uses ArviZ's psens (0.05 marks high sensitivity); flags prior–data conflict (both high) and
    prior dominance (prior high, likelihood low), each with a one-line reading.

    \b
    Examples:
      forecast sensitivity
      forecast sensitivity --json
    """
    ctx = _context(project_dir, run)
    result = ctx.sensitivity()
    if as_json:
        print_json(result.as_dict())
        return
    analysis_table(
        "Power-scaling sensitivity",
        ["", "mean", "prior", "likelihood", "flag"],
        [
            [
                f"{r['kind']} {r['name']}",
                f"{r['mean']:.3f}",
                f"{r['prior']:.3f}",
                f"{r['likelihood']:.3f}",
                f"{r['flag']}: {r['reading']}" if r["flag"] else "",
            ]
            for r in result.rows
        ],
    )
