"""Session fixtures for the analyst-tool tests: one small real fit of the shipped project.

The shipped project takes ~25 s for a full fit; the tools only need a run with draws, so one fit
with small settings is shared by every test of the session (tests must not write to it, except
through throw-away copies made with :func:`copy_run_project`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TODAY, copy_project

#: Settings of the shared fit: enough draws for PSIS and for differences of a few points.
FIT_SETTINGS = {"draws": 500, "tune": 500, "chains": 2, "seed": 11}
_FIT: dict[str, Path] = {}


def strong_item(**drivers: int) -> dict:
    """Fields of an A1 item dated in the as_of quarter, coding ``drivers``."""
    return {
        "title": "Test item",
        "date": "2026-10-15",
        "source": "Test source, 2026-10-15",
        "reliability": "A",
        "credibility": 1,
        "coder": "test",
        "drivers": drivers,
    }


def rated_item(ratings: dict[str, str], reliability: str = "A", credibility: int = 1) -> dict:
    """Fields of an item rated against scenarios, dated in the as_of quarter."""
    return {
        **strong_item(),
        "drivers": None,
        "scenarios": ratings,
        "reliability": reliability,
        "credibility": credibility,
    }


@pytest.fixture(scope="session")
def fitted_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped project with one saved small run (read-only for tests)."""
    from forecast.api import Project

    # Each test module that imports this fixture gets its own copy of it; fit once per process.
    if "root" not in _FIT:
        root = copy_project(tmp_path_factory.mktemp("analysis") / "project")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FORECAST_TODAY", TODAY)
            Project.load(root).update(**FIT_SETTINGS)
        _FIT["root"] = root
    return _FIT["root"]


@pytest.fixture
def run_copy(fitted_project: Path, tmp_path: Path) -> Path:
    """A writable copy of the fitted project, run included."""
    dest = tmp_path / "project"
    shutil.copytree(fitted_project, dest)
    return dest


@pytest.fixture(scope="session")
def context(fitted_project: Path):
    """The :class:`forecast.analysis.RunContext` of the shared run."""
    from forecast.analysis import RunContext

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_TODAY", TODAY)
        return RunContext.from_project(fitted_project)
