"""Loading and validation: the shipped project loads; bad input gets a located error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, tree_digest

from forecast.cli import main
from forecast.errors import EvidenceError, SpecError
from forecast.io.project import load_project
from forecast.io.yamlfile import MAX_FILE_BYTES

WRONG = sorted((FIXTURES / "wrong").glob("wrong_*.yaml"))


def _header(path: Path) -> tuple[str, str]:
    lines = path.read_text().splitlines()
    target = lines[0].removeprefix("# target: ").strip()
    expect = lines[1].removeprefix("# expect: ").strip()
    return target, expect


def test_shipped_project_loads(shipped: Path) -> None:
    spec = load_project(shipped)
    assert spec.scenario_ids == ["entente", "us_rapprochement", "regime_divergence", "china_hubris"]
    assert spec.driver_ids == [
        "us_threat",
        "regime_similarity",
        "leader_affinity",
        "power_asymmetry",
    ]
    assert str(spec.start) == "2012Q1" and str(spec.horizon) == "2030Q4"
    assert str(spec.as_of) == "2026Q4"
    # every shipped data file was read and hashed
    shipped_files = {
        p.relative_to(shipped).as_posix()
        for folder in ("priors", "evidence")
        for p in (shipped / folder).rglob("*.yaml")
    }
    assert shipped_files == set(spec.file_hashes)


def test_shipped_project_meets_content_targets(shipped: Path) -> None:
    spec = load_project(shipped)
    items = [li.item for li in spec.items]
    article = [i for i in items if i.event_date.year <= 2020 and int(i.id[1:]) < 100]
    recent = [i for i in items if i.event_date.earliest.isoformat() >= "2020-07-01"]
    assert len(article) >= 40
    assert len(recent) >= 15
    assert sum(i.kind == "scenarios" for i in items) * 3 >= len(items)
    assert len(spec.indicators) >= 1


@pytest.mark.parametrize("fixture", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_fixture_is_reported_with_path_and_line(project: Path, fixture: Path) -> None:
    target, expect = _header(fixture)
    dest = project / target
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(fixture.read_bytes())
    before = tree_digest(project)
    result = CliRunner().invoke(main, ["validate", "--project", str(project)])
    assert result.exit_code == 1, result.output
    assert expect in result.output
    assert "Traceback" not in result.output
    assert tree_digest(project) == before


def test_problems_are_collected_not_first_only(project: Path) -> None:
    for n, name in enumerate(("wrong_unknown_driver", "wrong_future_date")):
        fixture = FIXTURES / "wrong" / f"{name}.yaml"
        target, _ = _header(fixture)
        dest = project / target.replace("e901", f"e95{n}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(fixture.read_text().replace("e901", dest.stem))
    with pytest.raises(EvidenceError) as info:
        load_project(project)
    messages = str(info.value)
    assert "unknown driver 'leader_afinity'" in messages
    assert "lies in the future" in messages


def test_validate_json_lists_problems(project: Path) -> None:
    fixture = FIXTURES / "wrong" / "wrong_unknown_driver.yaml"
    target, _ = _header(fixture)
    (project / target).parent.mkdir(parents=True, exist_ok=True)
    (project / target).write_bytes(fixture.read_bytes())
    result = CliRunner().invoke(main, ["validate", "--project", str(project), "--json"])
    assert result.exit_code == 1
    import json

    data = json.loads(result.output)
    assert data["valid"] is False
    assert data["problems"][0]["path"] == target and data["problems"][0]["line"] == 13


def test_validate_json_on_valid_project(shipped: Path) -> None:
    import json

    result = CliRunner().invoke(main, ["validate", "--project", str(shipped), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True and data["counts"]["items"] >= 55


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_baselines_must_sum_to_one(project: Path) -> None:
    _edit(project / "priors/scenarios.yaml", "baseline: 0.40", "baseline: 0.50")
    with pytest.raises(
        SpecError, match=r"priors/scenarios.yaml:2: baseline probabilities sum to 1.1"
    ):
        load_project(project)


def test_unknown_driver_in_theory(project: Path) -> None:
    _edit(project / "priors/theory.yaml", "driver: us_threat", "driver: us_thread")
    with pytest.raises(
        SpecError,
        match=r"priors/theory.yaml:\d+: unknown driver 'us_thread'.*"
        r"Did you mean 'us_threat'\?",
    ):
        load_project(project)


def test_nan_in_priors(project: Path) -> None:
    _edit(project / "priors/drivers.yaml", "sigma: 0.12", "sigma: .nan")
    with pytest.raises(SpecError, match=r"priors/drivers.yaml:\d+: .*not a finite number"):
        load_project(project)


def test_interval_prior_is_converted_by_maximum_entropy() -> None:
    from scipy.stats import halfnorm, norm

    from forecast.io.schema import HalfNormalPrior, NormalPrior

    mu, sigma = NormalPrior(between=(0.3, 1.2), mass=0.9, rationale="r").params()
    assert norm(mu, sigma).cdf(1.2) - norm(mu, sigma).cdf(0.3) == pytest.approx(0.9)
    assert mu == pytest.approx(0.75)
    s = HalfNormalPrior(below=0.3, mass=0.9, rationale="r").params()
    assert halfnorm(scale=s).cdf(0.3) == pytest.approx(0.9)


def test_non_utf8_file(project: Path) -> None:
    bad = project / "evidence/2019/e901.yaml"
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(b"schema_version: 1\nid: e901\ntitle: caf\xe9\n")
    with pytest.raises(EvidenceError, match=r"evidence/2019/e901.yaml:3: file is not valid UTF-8"):
        load_project(project)


def test_huge_file_is_refused(project: Path) -> None:
    big = project / "evidence/2019/e901.yaml"
    big.parent.mkdir(exist_ok=True)
    big.write_text("notes: " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(
        EvidenceError, match=r"evidence/2019/e901.yaml: file is .* bytes; the limit"
    ):
        load_project(project)


def test_alias_bomb_is_refused(project: Path) -> None:
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        bomb.append(
            f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, "
            f"*{prev}, *{prev}, *{prev}, *{prev}]"
        )
    path = project / "evidence/2019/e901.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(bomb) + "\n")
    with pytest.raises(EvidenceError, match="expands to more than"):
        load_project(project)


def test_symlink_leaving_the_project(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("schema_version: 1\n")
    link = project / "evidence/2019/e901.yaml"
    link.parent.mkdir(exist_ok=True)
    os.symlink(outside, link)
    with pytest.raises(EvidenceError, match="symlink points outside the project"):
        load_project(project)


def test_missing_priors_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a forecast project: no priors/ folder" in result.output


def test_as_of_quarter_filters_later_evidence(project: Path) -> None:
    from forecast.evidence import evidence_arrays, known_items
    from forecast.quarters import Quarter

    spec = load_project(project)
    early = spec.with_as_of(Quarter(2016, 4))
    kept = known_items(early)
    assert kept and all(li.item.published_date.quarter <= Quarter(2016, 4) for li in kept)
    arrays = evidence_arrays(early)
    assert arrays.n_codings + arrays.n_rated < len(spec.items)


def test_year_dated_item_published_early_stays_out_until_its_quarter(project: Path) -> None:
    from forecast.evidence import evidence_arrays
    from forecast.quarters import Quarter

    path = project / "evidence/2019/e901.yaml"
    path.write_text(
        "schema_version: 1\nid: e901\ndate: 2019\npublished: 2019-06-15\ntitle: Yearly figure\n"
        "source: test\nreliability: B\ncredibility: 2\ncoder: test\ndrivers: {us_threat: 1}\n"
    )
    spec = load_project(project)
    mid = evidence_arrays(spec.with_as_of(Quarter(2019, 2)))
    assert "e901:us_threat" not in mid.coding_labels
    assert mid.coding_quarter.max() <= Quarter(2019, 2) - spec.start
    end = evidence_arrays(spec.with_as_of(Quarter(2019, 4)))
    assert "e901:us_threat" in end.coding_labels
