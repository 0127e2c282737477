"""T0 and T2: the quarterly report — ICD 203 words, structure, safety, refusals and two quarters.

The pipeline tests use PyMC's mock sampler (prior draws instead of NUTS, see
test_cli_update.py): they check the report's wiring, not the statistics.
"""

from __future__ import annotations

import csv
import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import tree_digest
from test_cli_update import _loosen_gate, mock_nuts, update  # noqa: F401

from forecast.cli import main
from forecast.report.bands import fmt_delta, fmt_prob, icd_word, interval_words

HOSTILE_TITLE = "<script>alert('x')</script> Moscow & Beijing | talks"
HOSTILE_SOURCE = '<img src=x onerror="alert(1)">'
SECTIONS = ("headline", "figures", "changes", "diagnostics", "methods")


def test_icd203_words_and_formatting() -> None:
    assert icd_word(0.01) == "almost no chance"
    assert icd_word(0.05) == "very unlikely"
    assert icd_word(0.3) == "unlikely"
    assert icd_word(0.5) == "roughly even chance"
    assert icd_word(0.7) == "likely"
    assert icd_word(0.9) == "very likely"
    assert icd_word(0.97) == "almost certain"
    assert interval_words(0.6, 0.75) == ("likely", False)
    assert interval_words(0.3, 0.7) == ("unlikely to likely", True)
    assert fmt_prob(0.0001, 3) == "<0.001" and fmt_prob(0.9999, 2) == ">0.99"
    assert fmt_prob(0.25, 2) == "0.25"
    assert fmt_delta(0.031, 2) == "+0.03" and fmt_delta(-0.1, 2) == "\u22120.10"
    assert fmt_delta(0.001, 2) == "0.00"


def report(project: Path, *args: str):
    return CliRunner().invoke(main, ["report", "--project", str(project), "--no-refit", *args])


def _set_as_of(project: Path, value: str) -> None:
    path = project / "priors/project.yaml"
    text = path.read_text()
    start = text.index("as_of:")
    nxt = text.index("value:", start)
    end = text.index("\n", nxt)
    path.write_text(text[:nxt] + f"value: {value}" + text[end:])


def _add_items(project: Path) -> list[str]:
    (project / "evidence/2026").mkdir(parents=True, exist_ok=True)
    (project / "evidence/2026/e901.yaml").write_text(
        "schema_version: 1\nid: e901\ndate: 2026-10-15\n"
        f"title: {json.dumps(HOSTILE_TITLE)}\nsource: {json.dumps(HOSTILE_SOURCE)}\n"
        'url: "https://example.org/a\\"onmouseover=\\"alert(1)"\n'
        "reliability: A\ncredibility: 1\ncoder: test\ndrivers:\n  us_threat: -2\n"
    )
    (project / "evidence/2026/e902.yaml").write_text(
        "schema_version: 1\nid: e902\ndate: 2026-10-20\ntitle: A treaty\nsource: Reuters\n"
        "reliability: A\ncredibility: 1\ncoder: test\n"
        "scenarios:\n  entente: CC\n  us_rapprochement: II\n"
    )
    return ["e901", "e902"]


def _sections_in_order(html: str) -> None:
    positions = [html.index(f'<section id="{s}">') for s in SECTIONS]
    assert positions == sorted(positions)


def _no_remote_resources(html: str) -> None:
    (csp,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert "default-src 'none'" in unescape(csp) and "img-src data:" in unescape(csp)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "<iframe" not in html.lower() and "@import" not in html and "url(" not in html
    for src in re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", html):
        assert src.startswith("data:image/png;base64,")
    for tag in re.findall(r"<(\w+)[^>]*\s(?:src|href)=\"https?:", html):
        assert tag == "a"


@pytest.mark.usefixtures("mock_nuts")
def test_two_quarters_trend_and_changes(project: Path) -> None:
    _loosen_gate(project)
    _set_as_of(project, "2026Q3")
    assert update(project).exit_code == 0
    first = report(project)
    assert first.exit_code == 0, first.output
    q3 = project / "reports/2026Q3"
    assert {p.name for p in q3.iterdir()} >= {"report.html", "report.md", "summary.json"}
    assert "first published report" in (q3 / "report.md").read_text()

    _set_as_of(project, "today")
    new = _add_items(project)
    assert update(project).exit_code == 0
    second = report(project)
    assert second.exit_code == 0, second.output
    q4 = project / "reports/2026Q4"
    summary = json.loads((q4 / "summary.json").read_text())
    assert set(new) <= set(summary["changes"]["new"])
    assert summary["changes"]["joint"] is not None
    rows = {r["id"]: r for r in summary["changes"]["rows"]}
    assert rows["e901"]["kind"] == "new" and "pareto_k" in rows["e901"]
    by_type = summary["changes"]["by_type"]
    assert by_type["ratings"]["items"] == ["e902"] and by_type["codings"]["items"] == ["e901"]
    with (project / "reports/history.csv").open() as fh:
        history = list(csv.DictReader(fh))
    assert sorted({r["quarter"] for r in history}) == ["2026Q3", "2026Q4"]
    assert {r["kind"] for r in history} == {"published"} and len(history) == 8

    html = (q4 / "report.html").read_text()
    md = (q4 / "report.md").read_text()
    _sections_in_order(html)
    _no_remote_resources(html)
    assert "Since the previous report (2026Q3)" in html
    assert "the new and re-rated items together account for" in html
    assert "the changed scenario ratings alone (e902)" in html
    assert 'id="fig-history"' in html and (q4 / "history.png").stat().st_size > 1000
    # the change table names the new items, hostile text stays text
    change_table = html[html.index('<section id="changes">') : html.index("ten most influential")]
    assert "e901" in change_table and "e902" in change_table
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in change_table
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in change_table
    assert 'href="https://example.org/a&#34;onmouseover=&#34;alert(1)"' in change_table
    assert "<script>" not in md and "&lt;script&gt;alert('x')&lt;/script&gt;" in md
    assert "Moscow &amp; Beijing \\| talks" in md
    for name in ("probabilities", "history", "drivers", "p_now"):
        assert f"]({name}.png)" in md and (q4 / f"{name}.png").exists()


@pytest.mark.usefixtures("mock_nuts")
def test_refuses_overwrite_without_force(project: Path) -> None:
    _loosen_gate(project)
    assert update(project).exit_code == 0
    assert report(project).exit_code == 0
    before = tree_digest(project / "reports")
    again = report(project)
    assert again.exit_code == 1
    assert "reports/2026Q4 already exists; pass --force to replace" in again.output
    assert tree_digest(project / "reports") == before
    forced = report(project, "--force")
    assert forced.exit_code == 0, forced.output
    with (project / "reports/history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 4  # replaced, not appended twice
    assert not list((project / "reports").glob(".*"))


@pytest.mark.usefixtures("mock_nuts")
def test_failed_gate_exits_3_or_stamps(project: Path) -> None:
    assert update(project).exit_code == 3
    refused = report(project)
    assert refused.exit_code == 3
    assert "failed the diagnostics gate; no report written" in refused.output
    assert not (project / "reports").exists()
    stamped = report(project, "--allow-failed")
    assert stamped.exit_code == 0, stamped.output
    html = (project / "reports/2026Q4/report.html").read_text()
    assert html.count("Not for distribution") >= len(SECTIONS) + 1
    md = (project / "reports/2026Q4/report.md").read_text()
    assert md.count("NOT FOR DISTRIBUTION") >= len(SECTIONS) + 1
    assert not (project / "reports/history.csv").exists()


@pytest.mark.usefixtures("mock_nuts")
def test_report_refuses_changed_inputs_and_missing_run(project: Path) -> None:
    result = report(project)
    assert result.exit_code == 1 and "no runs in" in result.output
    _loosen_gate(project)
    assert update(project).exit_code == 0
    (project / "evidence/2019/e060.yaml").unlink()
    result = report(project)
    assert result.exit_code == 1
    assert "the inputs changed since run" in result.output and "e060.yaml" in result.output


@pytest.mark.usefixtures("mock_nuts")
def test_refit_marks_rows_when_k_is_high(project: Path) -> None:
    import forecast
    from forecast.evidence import evidence_arrays
    from forecast.influence import Draws
    from forecast.priors import prior_arrays
    from forecast.report.changes import change_effects, fit_items, item_signature

    _loosen_gate(project)
    new = _add_items(project)
    proj = forecast.Project.load(project)
    run = proj.update(backend="pymc", draws=60, tune=0, chains=2)
    spec = proj.spec
    previous = {
        "items": {i: item_signature(li) for i, li in fit_items(spec).items() if i not in new}
    }
    calls = []

    def fake_refit(modified):
        calls.append({li.item.id for li in modified.items})
        return np.full(len(spec.scenario_ids), 0.25)

    out = change_effects(
        spec,
        previous,
        Draws.from_posterior(run.idata.posterior),
        prior_arrays(spec),
        evidence_arrays(spec),
        refit=fake_refit,
        max_refits=99,
    )
    assert out["new"] == new
    for row in [*out["rows"], out["joint"]]:
        assert row["method"] == ("PSIS" if row["reliable"] else "refit")
    assert all(not (set(new) <= ids) for ids in calls)


@pytest.mark.usefixtures("mock_nuts")
def test_api_report_context_and_figures(project: Path) -> None:
    from matplotlib.figure import Figure

    import forecast

    _loosen_gate(project)
    proj = forecast.Project.load(project)
    run = proj.update(backend="pymc", draws=60, tune=0, chains=2)
    ctx = run.report_context(refit=False)
    assert [r["id"] for r in ctx["headline"]] and len(ctx["top_items"]) == 10
    assert ctx["changes"] is None and ctx["quarter"] == "2026Q4"
    figures = run.report_figures(ctx)
    assert set(figures) >= {"probabilities", "history", "drivers", "p_now"}
    assert all(isinstance(f, Figure) for f in figures.values())
    assert isinstance(run.plot_history(), Figure)
    out = proj.report(run)
    assert out.path == project / "reports/2026Q4" and (out.path / "report.html").exists()
