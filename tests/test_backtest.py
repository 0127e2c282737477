"""T2/T3: ``forecast backtest`` — resume state, history rows, range errors, and Dask = local.

The T2 tests replace the fit (``forecast.backtest._fit``) by a fake that returns numbers derived
from the quarter's seed, so they check planning, saving, resuming and printing in seconds; the T3
test fits two quarters for real, on a Dask cluster on loopback and in this process.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from forecast import backtest as bt
from forecast.cli import main
from forecast.io.atomic import LOCK_NAME
from forecast.io.reports import read_history
from forecast.quarters import Quarter

SMALL = ["--draws", "100", "--tune", "100", "--chains", "2"]


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the fit by a fast fake; returns the list of quarters fitted, in order."""
    fitted: list[str] = []

    def fit(spec, quarter: Quarter, task: bt.BacktestTask) -> dict[str, Any]:
        if os.environ.get("FAKE_CRASH_AT") == str(quarter):
            raise RuntimeError(f"worker died at {quarter}")
        fitted.append(str(quarter))
        share = (task.seed % 1000) / 4000
        ids = spec.scenario_ids
        means = [0.25 + share, *[(0.75 - share) / (len(ids) - 1)] * (len(ids) - 1)]
        passed = os.environ.get("FAKE_FAIL_AT") != str(quarter)
        return {
            "passed": passed,
            "interval_mass": 0.8,
            "scenarios": {
                k: {
                    "mean": m,
                    "lower": m / 2,
                    "upper": min(1.0, m * 1.5),
                    "mcse": 0.01,
                    "digits": 2,
                }
                for k, m in zip(ids, means, strict=True)
            },
            "drivers": {},
            "diagnostics": {"passed": passed},
            "failed_checks": [] if passed else ["rhat"],
            "items_known": 1,
            "sampling_time_s": 0.0,
        }

    monkeypatch.setattr(bt, "_fit", fit)
    return fitted


def backtest(project: Path, *args: str):
    return CliRunner().invoke(main, ["backtest", "--project", str(project), *SMALL, *args])


def backtest_rows(project: Path) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for r in read_history(project):
        if r["kind"] == "backtest":
            rows.setdefault(r["quarter"], []).append(r)
    return rows


def test_quarter_seeds_are_fixed_and_distinct() -> None:
    seeds = [bt.quarter_seed(20200401, Quarter.parse(q)) for q in ("2016Q1", "2016Q2", "2017Q1")]
    assert seeds == [bt.quarter_seed(20200401, q) for q in ("2016Q1", "2016Q2", "2017Q1")]
    assert len(set(seeds)) == 3
    assert all(0 <= s < 2**31 for s in seeds)
    assert bt.quarter_seed(1, "2016Q1") != seeds[0]


def test_saves_each_quarter_and_adds_backtest_rows(project: Path, fake_fit: list[str]) -> None:
    result = backtest(project, "--from", "2016Q1", "--to", "2016Q3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fitted"] == ["2016Q1", "2016Q2", "2016Q3"] == fake_fit
    assert data["skipped"] == [] and data["failed"] == []
    assert [q["quarter"] for q in data["quarters"]] == ["2016Q1", "2016Q2", "2016Q3"]
    assert all(q["leading"] == "entente" for q in data["quarters"])
    for q in ("2016Q1", "2016Q2", "2016Q3"):
        saved = json.loads((project / "reports/backtest" / f"{q}.json").read_text())
        assert saved["seed"] == bt.quarter_seed(20200401, q)
        assert saved["settings"]["draws"] == 100
    rows = backtest_rows(project)
    assert sorted(rows) == ["2016Q1", "2016Q2", "2016Q3"]
    assert {r["scenario"] for r in rows["2016Q1"]} == {
        "entente",
        "us_rapprochement",
        "regime_divergence",
        "china_hubris",
    }
    first = data["quarters"][0]["scenarios"]["entente"]
    row = next(r for r in rows["2016Q1"] if r["scenario"] == "entente")
    assert row["mean"] == pytest.approx(first["mean"], rel=1e-5)
    assert row["run"].startswith("backtest-s") and row["interval_mass"] == 0.8
    assert not (project / LOCK_NAME).exists()


def test_resumes_only_missing_quarters(project: Path, fake_fit: list[str]) -> None:
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q3").exit_code == 0
    fake_fit.clear()
    again = backtest(project, "--from", "2016Q1", "--to", "2016Q3", "--json")
    assert again.exit_code == 0 and fake_fit == []
    assert json.loads(again.stdout)["skipped"] == ["2016Q1", "2016Q2", "2016Q3"]
    (project / "reports/backtest/2016Q2.json").unlink()
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q3").exit_code == 0
    assert fake_fit == ["2016Q2"]
    fake_fit.clear()
    # A later range reuses what overlaps; --force refits everything.
    assert backtest(project, "--from", "2016Q2", "--to", "2016Q4").exit_code == 0
    assert fake_fit == ["2016Q4"]
    fake_fit.clear()
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q2", "--force").exit_code == 0
    assert fake_fit == ["2016Q1", "2016Q2"]


def test_changed_inputs_redo_only_the_quarters_that_read_them(
    project: Path, fake_fit: list[str]
) -> None:
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q2").exit_code == 0
    fake_fit.clear()
    # An item published in 2026 is not known in 2016: those quarters stay done.
    late = project / "evidence/2026/e128.yaml"
    late.write_text(late.read_text() + "# re-read\n")
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q2").exit_code == 0
    assert fake_fit == []
    # Other sampler settings, or a changed prior, redo them.
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q2", "--seed", "3").exit_code == 0
    assert fake_fit == ["2016Q1", "2016Q2"]
    fake_fit.clear()
    drivers = project / "priors/drivers.yaml"
    drivers.write_text(drivers.read_text() + "# edited\n")
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q1", "--seed", "3").exit_code == 0
    assert fake_fit == ["2016Q1"]


def test_crash_loses_only_the_quarter_in_flight(
    project: Path, fake_fit: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CRASH_AT", "2016Q2")
    crashed = backtest(project, "--from", "2016Q1", "--to", "2016Q3")
    assert crashed.exit_code != 0
    assert isinstance(crashed.exception, RuntimeError)
    saved = sorted(p.stem for p in (project / "reports/backtest").glob("*.json"))
    assert saved == ["2016Q1", "2016Q3"]
    assert sorted(backtest_rows(project)) == ["2016Q1", "2016Q3"]
    assert not (project / LOCK_NAME).exists()
    monkeypatch.delenv("FAKE_CRASH_AT")
    fake_fit.clear()
    assert backtest(project, "--from", "2016Q1", "--to", "2016Q3").exit_code == 0
    assert fake_fit == ["2016Q2"]


def test_failed_gate_is_saved_reported_and_kept_out_of_history(
    project: Path, fake_fit: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL_AT", "2016Q2")
    result = backtest(project, "--from", "2016Q1", "--to", "2016Q2")
    assert result.exit_code == 3, result.output
    assert "2016Q2" in result.output and "FAIL (rhat)" in result.output
    assert "1 quarter(s) failed the diagnostics gate (2016Q2)" in result.output
    assert sorted(backtest_rows(project)) == ["2016Q1"]
    assert json.loads((project / "reports/backtest/2016Q2.json").read_text())["passed"] is False
    # Skipped on the next run, still reported as failed.
    fake_fit.clear()
    again = backtest(project, "--from", "2016Q1", "--to", "2016Q2", "--json")
    assert again.exit_code == 3 and fake_fit == []
    assert json.loads(again.stdout)["failed"] == ["2016Q2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2014Q5"], "'2014Q5' is not a quarter; write it as YYYYQn"),
        (["--from", "2010Q1"], "2010Q1 is outside the project's quarters 2012Q1–2026Q4"),
        (["--to", "2027Q1"], "a backtest cannot use evidence not yet known"),
        (["--from", "2018Q1", "--to", "2017Q4"], "2017Q4 comes before --from 2018Q1"),
        (["--executor", "local", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs"),
    ],
)
def test_bad_range_is_a_usage_error(
    project: Path, fake_fit: list[str], args: list[str], message: str
) -> None:
    result = backtest(project, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert fake_fit == [] and not (project / "reports").exists()


@pytest.mark.parametrize("args", [["--executor", "dask"], ["--scheduler", "tcp://127.0.0.1:1"]])
def test_dask_without_dask_installed_is_a_usage_error(
    project: Path, fake_fit: list[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Dask is an optional dependency: asking for it without it says how to install it."""
    from forecast import executor

    monkeypatch.setattr(executor, "available", lambda name: name == "local")
    result = backtest(project, "--from", "2016Q1", "--to", "2016Q1", *args)
    assert result.exit_code == 2, result.output
    assert "pip install 'forecast[dask]'" in " ".join(result.output.split())
    assert fake_fit == [] and not (project / "reports").exists()


def test_default_range_and_lock(project: Path, fake_fit: list[str]) -> None:
    from forecast.io.project import load_project

    spec = load_project(project)
    first, last = bt.default_range(spec)
    assert (str(first), str(last)) == ("2014Q1", "2026Q4")
    (project / LOCK_NAME).write_text(f"{os.getpid()} {socket.gethostname()} now report\n")
    result = backtest(project, "--from", "2016Q1", "--to", "2016Q1")
    assert result.exit_code == 4 and "another forecast process" in result.output
    assert fake_fit == []


def test_trend_chart_draws_backtests_dashed() -> None:
    from forecast.plots import plot_history

    rows = [
        {"quarter": q, "scenario": "a", "mean": 0.5, "lower": 0.4, "upper": 0.6, "kind": kind}
        for q, kind in (("2016Q1", "backtest"), ("2016Q2", "backtest"), ("2016Q2", "published"))
    ]
    fig = plot_history(rows, ["a"])
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert styles["backtest"] == "--" and styles["published"] == "-"


@pytest.mark.sampling
def test_dask_and_local_give_identical_results(tmp_path: Path) -> None:
    """T3: two real quarters on a Dask cluster on loopback equal the in-process fits exactly."""
    from distributed import LocalCluster

    from tests.conftest import copy_project

    local = copy_project(tmp_path / "local")
    remote = copy_project(tmp_path / "dask")
    span = ["--from", "2016Q3", "--to", "2016Q4", "--json"]
    on_local = backtest(local, *span)
    assert on_local.exit_code in (0, 3), on_local.output
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        processes=True,
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        on_dask = backtest(remote, *span, "--executor", "dask", "--scheduler", address)
    assert on_dask.exit_code in (0, 3), on_dask.output
    for q in ("2016Q3", "2016Q4"):
        a = json.loads((local / f"reports/backtest/{q}.json").read_text())
        b = json.loads((remote / f"reports/backtest/{q}.json").read_text())
        assert bt.comparable(a) == bt.comparable(b)
        assert a["scenarios"]["entente"]["mean"] == b["scenarios"]["entente"]["mean"]

    def rows(root: Path) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "published_at"} for r in read_history(root)]

    assert rows(local) == rows(remote)
