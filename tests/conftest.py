"""Shared fixtures: the shipped project, throw-away copies of it, and a fixed clock."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: The date every test runs at, so that 'as_of: today' and future-date checks are stable.
TODAY = "2026-11-30"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TODAY", TODAY)


@pytest.fixture
def shipped() -> Path:
    return REPO


def copy_project(dest: Path, evidence: bool = True) -> Path:
    shutil.copytree(REPO / "priors", dest / "priors")
    if evidence:
        shutil.copytree(REPO / "evidence", dest / "evidence")
    else:
        (dest / "evidence").mkdir()
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A writable copy of the shipped project."""
    return copy_project(tmp_path / "project")


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file below ``root``: proves that a command wrote nothing."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
