"""``forecast evidence add | list | show | import | export``."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.options import (
    ForecastClickError,
    handles_errors,
    interactive,
    json_option,
    print_json,
    project_option,
)
from forecast.cli.render import console, evidence_table, item_detail
from forecast.io.project import load_project
from forecast.quarters import PartialDate


@click.group()
def evidence() -> None:
    """Add, list, show, import and export coded evidence items."""


def item_options(f):
    """The options that describe one evidence item (shared with ``forecast preview``)."""
    options = [
        click.option("--title", help="One-line factual headline."),
        click.option("--date", help="Event date: YYYY-MM-DD, YYYY-MM or YYYY."),
        click.option("--published", help="When it became known (default: the date)."),
        click.option("--source", help="Publisher, title and date of the record."),
        click.option("--url", help="Link to the record."),
        click.option(
            "--reliability",
            type=click.Choice(list("ABCDEF"), case_sensitive=False),
            help="Admiralty source reliability A–F.",
        ),
        click.option(
            "--credibility",
            type=click.IntRange(1, 6),
            help="Admiralty information credibility 1–6.",
        ),
        click.option(
            "--driver",
            "drivers",
            multiple=True,
            metavar="DRIVER=SCORE",
            help="Driver coding, score -2..+2 (repeatable).",
        ),
        click.option(
            "--scenario",
            "scenarios",
            multiple=True,
            metavar="SCENARIO=RATING",
            help="Scenario rating CC, C, N, I or II (repeatable).",
        ),
        click.option("--cluster", help="Cluster id shared by items reporting one event."),
        click.option("--coder", help="Who coded the item."),
        click.option("--notes", help="Why this coding."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


REQUIRED = ("title", "date", "source", "reliability", "credibility", "coder")


def collect_item_fields(values: dict, spec) -> dict:
    """Turn item options into item fields, prompting for missing ones at a terminal."""
    from forecast.io.evidence_files import FIELD_ORDER, parse_codings

    fields = {
        k: values.get(k)
        for k in FIELD_ORDER
        if k not in ("schema_version", "id", "drivers", "scenarios")
    }
    missing = [k for k in REQUIRED if not fields.get(k)]
    drivers, scenarios = values.get("drivers") or (), values.get("scenarios") or ()
    if missing and interactive():
        for key in missing:
            fields[key] = click.prompt(key.capitalize(), type=int if key == "credibility" else str)
        if not drivers and not scenarios:
            known = ", ".join(spec.driver_ids)
            text = click.prompt(
                f"Driver codings DRIVER=SCORE, comma-separated ({known}); "
                "empty for scenario ratings",
                default="",
                show_default=False,
            )
            drivers = (text,) if text.strip() else ()
            if not drivers:
                text = click.prompt(
                    f"Scenario ratings SCENARIO=RATING ({', '.join(spec.scenario_ids)})"
                )
                scenarios = (text,)
        missing = []
    if missing:
        raise ForecastClickError(
            "missing " + ", ".join(f"--{k}" for k in missing) + "; nothing was written"
        )
    if fields.get("reliability"):
        fields["reliability"] = fields["reliability"].upper()
    try:
        if drivers:
            fields["drivers"] = parse_codings(";".join(drivers), "driver")
        if scenarios:
            fields["scenarios"] = parse_codings(";".join(scenarios), "scenario")
    except ValueError as exc:
        raise ForecastClickError(f"{exc}; nothing was written") from None
    return fields


@evidence.command("add")
@project_option
@item_options
@click.option("--id", "item_id", help="Item id (default: a fresh one).")
@json_option
@handles_errors(" (nothing was written)")
def add(project_dir: Path, item_id: str | None, as_json: bool, **values: object) -> None:
    """Add one evidence item as a new file evidence/<year>/<id>.yaml.

    Prompts for missing fields when run at a terminal; otherwise missing required options are an
    error. An invalid item writes nothing.

    \b
    Examples:
      forecast evidence add --title "Joint bomber patrol near Alaska" --date 2024-07-24 \\
        --source "NORAD, 'NORAD detects, tracks...', 2024-07-24" --reliability A \\
        --credibility 1 --coder "J. Analyst" --driver us_threat=+2
      forecast evidence add ... --scenario entente=C --scenario us_rapprochement=I
    """
    from forecast.io.evidence_files import add_item

    spec = load_project(project_dir)
    fields = collect_item_fields(values, spec)
    if item_id:
        fields["id"] = item_id
    item, path = add_item(spec, fields)
    if as_json:
        print_json({"id": item.id, "path": str(path), **item.model_dump(exclude_none=True)})
    else:
        console().print(f"Added {item.id}: {path}")


@evidence.command("list")
@project_option
@click.option("--driver", help="Only items coded on this driver.")
@click.option("--scenario", help="Only items rated against this scenario.")
@click.option("--since", help="Only items dated on or after this date (YYYY-MM-DD, YYYY-MM, YYYY).")
@json_option
@handles_errors()
def list_(
    project_dir: Path, driver: str | None, scenario: str | None, since: str | None, as_json: bool
) -> None:
    """List evidence items, oldest first.

    \b
    Examples:
      forecast evidence list --driver leader_affinity
      forecast evidence list --since 2022 --json
    """
    from forecast.io.messages import unknown_name

    spec = load_project(project_dir)
    items = sorted(spec.items, key=lambda li: (li.item.event_date.earliest, li.item.id))
    if driver:
        if driver not in spec.driver_ids:
            raise ForecastClickError(unknown_name("driver", driver, spec.driver_ids))
        items = [li for li in items if driver in (li.item.drivers or {})]
    if scenario:
        if scenario not in spec.scenario_ids:
            raise ForecastClickError(unknown_name("scenario", scenario, spec.scenario_ids))
        items = [li for li in items if (li.item.scenarios or {}).get(scenario, "N") != "N"]
    if since:
        try:
            cut = PartialDate.parse(since).earliest
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
        items = [li for li in items if li.item.event_date.latest >= cut]
    if as_json:
        print_json([{"path": li.path, **li.item.model_dump(exclude_none=True)} for li in items])
        return
    evidence_table(items)


@evidence.command("show")
@project_option
@click.argument("item_id")
@json_option
@handles_errors()
def show_item(project_dir: Path, item_id: str, as_json: bool) -> None:
    """Show every field of one item, with its weight.

    \b
    Example:
      forecast evidence show e017
    """
    from collections import Counter

    from forecast.evidence import item_weight
    from forecast.io.messages import unknown_name

    spec = load_project(project_dir)
    try:
        li = spec.item(item_id)
    except KeyError:
        raise ForecastClickError(
            unknown_name("item", item_id, [x.item.id for x in spec.items][-8:])
        ) from None
    clusters = Counter(x.item.cluster for x in spec.items if x.item.cluster)
    weight = item_weight(li.item, spec, clusters)
    if as_json:
        print_json({"path": li.path, "weight": weight, **li.item.model_dump(exclude_none=True)})
        return
    item_detail(li, weight)


@evidence.command("import")
@project_option
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@handles_errors(" (nothing was written)")
def import_(project_dir: Path, csv_file: Path, as_json: bool) -> None:
    """Import items from a CSV file, all or nothing.

    Columns: id, date, published, title, source, url, reliability, credibility, cluster, coder,
    notes, drivers ("us_threat=+1; leader_affinity=-1"), scenarios ("entente=C; china_hubris=I").
    A blank id gets a fresh one. Any bad row means nothing is written; errors name the CSV line.

    \b
    Example:
      forecast evidence import new-items.csv
    """
    from forecast.io.evidence_files import import_csv

    spec = load_project(project_dir)
    written = import_csv(spec, csv_file)
    if as_json:
        print_json([{"id": item.id, "path": str(path)} for item, path in written])
        return
    console().print(f"Imported {len(written)} item{'s' * (len(written) != 1)}.")


@evidence.command("export")
@project_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
@handles_errors()
def export(project_dir: Path, output: Path | None) -> None:
    """Export all items as CSV (the columns of ``forecast evidence import``).

    \b
    Examples:
      forecast evidence export > items.csv
      forecast evidence export -o items.csv
    """
    from forecast.io.atomic import atomic_write_text
    from forecast.io.evidence_files import export_csv

    spec = load_project(project_dir)
    text = export_csv(spec)
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text, overwrite=True)
        console().print(f"Wrote {len(spec.items)} items to {output}")
