"""``forecast validate``, ``forecast init`` and ``forecast priors``."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.options import (
    ForecastClickError,
    handles_errors,
    json_option,
    print_json,
    project_option,
)
from forecast.cli.render import console, counts_of, validation_summary
from forecast.errors import InputError
from forecast.io.project import load_project


@click.command()
@project_option
@json_option
def validate(project_dir: Path, as_json: bool) -> None:
    """Check every file in priors/ and evidence/; report all problems at once.

    \b
    Examples:
      forecast validate
      forecast validate --project ~/russia-china --json

    Exits 0 when the project is valid, 1 when it is not (each problem as path:line: message).
    """
    try:
        spec = load_project(project_dir)
    except InputError as exc:
        if as_json:
            print_json({"valid": False, "problems": [p.as_dict() for p in exc.problems]})
            raise SystemExit(1) from None
        count = len(exc.problems)
        raise ForecastClickError(f"{count} problem{'s' * (count != 1)} found:\n{exc}") from None
    if as_json:
        print_json(
            {
                "valid": True,
                "project": spec.project.name,
                "as_of": str(spec.as_of),
                "horizon": str(spec.horizon),
                "counts": counts_of(spec),
                "problems": [],
            }
        )
        return
    validation_summary(spec)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--blank",
    is_flag=True,
    help="A minimal two-scenario project instead of the shipped Russia–China project.",
)
@handles_errors()
def init(directory: Path, blank: bool) -> None:
    """Create a new project in DIRECTORY (which must not exist or be empty).

    \b
    Examples:
      forecast init ~/russia-china          copy the shipped Russia–China project
      forecast init ~/my-question --blank   a minimal template to fill in
    """
    from forecast.io.scaffold import write_project

    written = write_project(directory, blank=blank)
    console().print(
        f"Created {directory} with {written} files. Next: cd {directory} && forecast validate"
    )


@click.command()
@project_option
@json_option
@click.option(
    "--draws", default=4000, show_default=True, help="Prior draws for the implied forecast."
)
@handles_errors()
def priors(project_dir: Path, as_json: bool, draws: int) -> None:
    """Print the prior parameters (intervals converted) and the implied prior forecast.

    \b
    Examples:
      forecast priors
      forecast priors --json
    """
    from forecast.cli.render import priors_tables
    from forecast.prior_forecast import prior_report

    spec = load_project(project_dir)
    report = prior_report(spec, draws=draws)
    if as_json:
        print_json(report)
        return
    priors_tables(report)
