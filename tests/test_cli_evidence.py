"""The evidence workflow on the CLI: add, list, show, import, export, init, and the project lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner
from conftest import copy_project, tree_digest

from forecast.cli import main
from forecast.io.atomic import LOCK_NAME
from forecast.io.project import load_project

ADD = [
    "evidence",
    "add",
    "--title",
    "Joint bomber patrol near Alaska",
    "--date",
    "2024-07-24",
    "--source",
    "NORAD, 'NORAD detects Russian and PRC aircraft', 2024-07-24",
    "--reliability",
    "A",
    "--credibility",
    "1",
    "--coder",
    "tester",
]


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_add_writes_one_valid_file(project: Path) -> None:
    result = run(*ADD, "--driver", "us_threat=+2", "--project", str(project), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["id"] == "e129"
    path = project / "evidence/2024/e129.yaml"
    assert Path(data["path"]) == path
    item = yaml.safe_load(path.read_text())
    assert item["drivers"] == {"us_threat": 2} and item["date"] == "2024-07-24"
    spec = load_project(project)
    assert spec.item("e129").item.title == "Joint bomber patrol near Alaska"


def test_add_scenario_ratings(project: Path) -> None:
    result = run(
        *ADD,
        "--scenario",
        "entente=cc",
        "--scenario",
        "us_rapprochement=I",
        "--project",
        str(project),
    )
    assert result.exit_code == 0, result.output
    assert load_project(project).item("e129").item.scenarios == {
        "entente": "CC",
        "us_rapprochement": "I",
    }


def test_add_invalid_item_writes_nothing(project: Path) -> None:
    before = tree_digest(project)
    result = run(*ADD, "--driver", "leader_afinity=1", "--project", str(project))
    assert result.exit_code == 1
    assert "unknown driver 'leader_afinity'" in result.output
    assert "Did you mean 'leader_affinity'?" in result.output
    assert "nothing was written" in result.output
    assert tree_digest(project) == before


def test_add_both_kinds_writes_nothing(project: Path) -> None:
    before = tree_digest(project)
    result = run(
        *ADD, "--driver", "us_threat=1", "--scenario", "entente=C", "--project", str(project)
    )
    assert result.exit_code == 1 and "never both" in result.output
    assert tree_digest(project) == before


def test_add_bad_score_and_future_date(project: Path) -> None:
    result = run(*ADD, "--driver", "us_threat=5", "--project", str(project))
    assert result.exit_code == 1
    assert "5 is not allowed; expected -2, -1, 0, 1 or 2" in result.output
    args = [a if a != "2024-07-24" else "2027-02-01" for a in ADD]
    result = run(*args, "--driver", "us_threat=1", "--project", str(project))
    assert result.exit_code == 1
    assert "date 2027-02-01 lies in the future (today is 2026-11-30)" in result.output


def test_add_missing_options_without_terminal(project: Path) -> None:
    before = tree_digest(project)
    result = run("evidence", "add", "--title", "x", "--project", str(project))
    assert result.exit_code == 1
    assert "missing --date, --source, --reliability, --credibility, --coder" in result.output
    assert tree_digest(project) == before


def test_add_refused_while_locked(project: Path) -> None:
    (project / LOCK_NAME).write_text("1 otherhost 2026-11-30T10:00:00Z update\n")
    result = run(*ADD, "--driver", "us_threat=1", "--project", str(project))
    assert result.exit_code == 4
    assert "another forecast process is writing to this project" in result.output


def test_stale_lock_is_taken_over(project: Path) -> None:
    import socket

    (project / LOCK_NAME).write_text(f"999999999 {socket.gethostname()} 2026-01-01T00:00:00Z x\n")
    result = run(*ADD, "--driver", "us_threat=1", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert not (project / LOCK_NAME).exists()


def test_list_filters_and_json(shipped: Path) -> None:
    result = run(
        "evidence", "list", "--project", str(shipped), "--driver", "leader_affinity", "--json"
    )
    assert result.exit_code == 0
    items = json.loads(result.output)
    assert items and all("leader_affinity" in i["drivers"] for i in items)
    assert {"id", "date", "title", "source", "reliability", "credibility", "path"} <= set(items[0])
    since = json.loads(
        run("evidence", "list", "--project", str(shipped), "--since", "2025", "--json").output
    )
    assert since and all(str(i["date"])[:4] >= "2025" for i in since)


def test_list_unknown_driver(shipped: Path) -> None:
    result = run("evidence", "list", "--project", str(shipped), "--driver", "us_thret")
    assert result.exit_code == 1 and "Did you mean 'us_threat'?" in result.output


def test_show_item(shipped: Path) -> None:
    result = run("evidence", "show", "e101", "--project", str(shipped), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["id"] == "e101" and 0 < data["weight"] <= 1
    missing = run("evidence", "show", "e999", "--project", str(shipped))
    assert missing.exit_code == 1 and "unknown item 'e999'" in missing.output


def test_export_import_round_trip(project: Path, tmp_path: Path) -> None:
    csv_text = run("evidence", "export", "--project", str(project)).output
    fresh = copy_project(tmp_path / "fresh", evidence=False)
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(csv_text)
    result = run("evidence", "import", str(csv_file), "--project", str(fresh))
    assert result.exit_code == 0, result.output
    original = {li.item.id: li.item for li in load_project(project).items}
    imported = {li.item.id: li.item for li in load_project(fresh).items}
    assert original == imported


def test_import_bad_row_names_line_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(
        "date,title,source,reliability,credibility,coder,drivers,scenarios\n"
        "2024-07-24,Patrol,NORAD,A,1,me,us_threat=+2,\n"
        "2024-08-01,Bad one,Reuters,B,9,me,us_threat=+1,\n"
        "2024-09-01,Worse one,Reuters,B,2,me,,entente=X\n"
    )
    before = tree_digest(project)
    result = run("evidence", "import", str(csv_file), "--project", str(project))
    assert result.exit_code == 1
    assert f"{csv_file}:3: credibility: 9 is not allowed" in result.output
    assert f"{csv_file}:4: scenarios.entente: 'X' is not allowed" in result.output
    assert tree_digest(project) == before


def test_import_unknown_column(project: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("date,titel,source\n2024-07-24,x,y\n")
    result = run("evidence", "import", str(csv_file), "--project", str(project))
    assert result.exit_code == 1
    assert f"{csv_file}:1: unknown column 'titel'" in result.output


def test_init_shipped_and_blank(tmp_path: Path) -> None:
    for flag, items in (([], 90), (["--blank"], 0)):
        dest = tmp_path / ("blank" if flag else "shipped")
        result = run("init", str(dest), *flag)
        assert result.exit_code == 0, result.output
        spec = load_project(dest)
        assert len(spec.items) >= items
        assert (dest / ".gitignore").read_text().startswith("runs/")
    again = run("init", str(tmp_path / "blank"))
    assert again.exit_code == 1 and "exists and is not empty" in again.output


def test_cli_import_does_not_load_pymc() -> None:
    code = (
        "import sys, forecast.cli; from click.testing import CliRunner; "
        "CliRunner().invoke(forecast.cli.main, ['validate']); "
        "bad = [m for m in ('pymc', 'pytensor', 'arviz', 'jax') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_has_examples_and_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "Exit codes" in result.output
    for command in ("validate", "update", "show", "evidence", "init", "priors"):
        assert command in result.output
