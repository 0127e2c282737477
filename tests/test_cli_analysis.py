"""T2/T3: ``forecast preview | whatif | influence | signposts | sensitivity`` with CliRunner.

Success paths read the session's small real fit (tests/analysis_fixtures.py); failure paths
check exit codes and message text, and that nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.io.runs import DRAWS_FILE, find_run
from tests import analysis_fixtures as af
from tests.conftest import tree_digest

fitted_project = af.fitted_project
run_copy = af.run_copy

ITEM = [
    "--title",
    "Summit cancelled",
    "--date",
    "2026-10-15",
    "--source",
    "Test source",
    "--reliability",
    "A",
    "--credibility",
    "1",
    "--coder",
    "test",
]


def invoke(project: Path, *args: str):
    return CliRunner().invoke(main, [args[0], "--project", str(project), *args[1:]])


@pytest.mark.sampling
def test_preview_json_and_nothing_written(fitted_project: Path) -> None:
    before = tree_digest(fitted_project)
    result = invoke(fitted_project, "preview", *ITEM, "--driver", "us_threat=+1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == "reweighting"
    assert {"mean", "before", "delta", "db"} <= set(data["scenarios"]["entente"])
    assert set(data["drivers"]) >= {"us_threat", "leader_affinity"}
    assert tree_digest(fitted_project) == before


@pytest.mark.sampling
def test_preview_table_and_file(fitted_project: Path, tmp_path: Path) -> None:
    result = invoke(fitted_project, "preview", *ITEM, "--scenario", "china_hubris=CC", "--no-refit")
    assert result.exit_code == 0, result.output
    assert "Pareto k" in result.output and "china_hubris" in result.output
    item = tmp_path / "draft.yaml"
    item.write_text(
        "schema_version: 1\ntitle: Draft\ndate: 2026-10-15\nsource: Test\nreliability: B\n"
        "credibility: 2\ncoder: test\ndrivers:\n  power_asymmetry: 2\n"
    )
    result = invoke(fitted_project, "preview", "--file", str(item), "--json", "--no-refit")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["items"]


@pytest.mark.sampling
def test_preview_bad_item(fitted_project: Path) -> None:
    result = invoke(fitted_project, "preview", *ITEM, "--driver", "leader_afinity=+1")
    assert result.exit_code == 1
    assert "Did you mean 'leader_affinity'?" in result.output
    assert "nothing was written" in result.output


@pytest.mark.sampling
def test_whatif(fitted_project: Path) -> None:
    result = invoke(
        fitted_project, "whatif", "--set", "leader_affinity=-1@2026Q1", "--shift", "us_threat=-0.5"
    )
    assert result.exit_code == 0, result.output
    assert "china_hubris" in result.output
    result = invoke(fitted_project, "whatif", "--shift", "leader_affinity=-1", "--json")
    data = json.loads(result.output)
    assert data["scenarios"]["china_hubris"]["delta"] > 0
    assert {"mean", "lower", "upper"} <= set(data["scenarios"]["entente"])


@pytest.mark.sampling
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--set", "leader_afinity=-1"], 1, "Did you mean 'leader_affinity'?"),
        (["--set", "leader_affinity"], 1, "is not DRIVER=VALUE"),
        (["--shift", "us_threat=+1@soon"], 1, "is not a quarter"),
        ([], 2, "at least one --set or --shift"),
    ],
)
def test_whatif_errors(fitted_project: Path, args: list[str], code: int, message: str) -> None:
    result = invoke(fitted_project, "whatif", *args)
    assert result.exit_code == code
    assert message in result.output


@pytest.mark.sampling
def test_influence_signposts_sensitivity(fitted_project: Path) -> None:
    for command in ("influence", "signposts", "sensitivity"):
        result = invoke(fitted_project, command, "--json")
        assert result.exit_code == 0, (command, result.output)
        data = json.loads(result.output)
        assert "mean" in data["scenarios"]["entente"], command
        result = invoke(fitted_project, command)
        assert result.exit_code == 0, (command, result.output)
    result = invoke(fitted_project, "influence", "e999")
    assert result.exit_code == 1 and "e999" in result.output


@pytest.mark.sampling
def test_run_without_draws_cache(run_copy: Path) -> None:
    (find_run(run_copy).path / DRAWS_FILE).unlink()
    result = invoke(run_copy, "signposts")
    assert result.exit_code == 1
    assert "forecast update" in result.output


@pytest.mark.parametrize("command", ["preview", "whatif", "influence", "signposts", "sensitivity"])
def test_no_runs_yet(project: Path, command: str) -> None:
    extra = {"preview": [*ITEM, "--driver", "us_threat=+1"], "whatif": ["--set", "us_threat=0"]}
    result = invoke(project, command, *extra.get(command, []))
    assert result.exit_code == 1
    assert "no runs" in result.output and "forecast update" in result.output


@pytest.mark.parametrize("command", ["preview", "whatif", "influence", "signposts", "sensitivity"])
def test_help_has_examples(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output
