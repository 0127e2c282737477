"""The ``forecast`` command line: a thin layer of click commands over the library.

Importing this package must not import pymc, ArviZ or JAX: ``forecast --help`` and
``forecast validate`` stay well under a second. Commands that sample import lazily.

Exit codes: 0 success; 1 invalid input or a failed operation (the message says which); 2 usage
error (unknown option, bad value); 3 the run failed the diagnostics gate (it was saved, marked
failed); 4 the project is locked by another forecast process.
"""

from __future__ import annotations

import click

from forecast import __version__
from forecast.cli.analysis_cmds import influence, preview, sensitivity, signposts, whatif
from forecast.cli.backtest_cmds import backtest
from forecast.cli.calibrate_cmds import calibrate
from forecast.cli.evidence_cmds import evidence
from forecast.cli.project_cmds import init, priors, validate
from forecast.cli.report_cmds import report
from forecast.cli.run_cmds import show, update

EPILOG = """\b
Examples:
  forecast validate                       check priors/ and evidence/ in this folder
  forecast evidence add --title "..." --date 2026-10-01 --source "..." \\
      --reliability B --credibility 2 --driver us_threat=+1
  forecast update --seed 1                fit the model, print the forecast and the gate
  forecast show --json                    the latest run, for scripts
  forecast preview ... --driver us_threat=-1   how a new item would move the forecast
  forecast whatif --set leader_affinity=-1     the forecast if a driver were fixed
  forecast report                         write reports/<quarter>/ from the latest run
  forecast backtest --workers 2           as-of forecasts of past quarters, into the history
  forecast --project ~/russia-china validate

Exit codes: 0 ok, 1 invalid input or failure, 2 usage error, 3 diagnostics gate failed,
4 project locked by another forecast process.
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forecast")
def main() -> None:
    """Bayesian scenario forecasts from priors/ and coded evidence/."""


main.add_command(validate)
main.add_command(init)
main.add_command(priors)
main.add_command(evidence)
main.add_command(update)
main.add_command(show)
main.add_command(report)
main.add_command(preview)
main.add_command(whatif)
main.add_command(influence)
main.add_command(signposts)
main.add_command(sensitivity)
main.add_command(backtest)
main.add_command(calibrate)
