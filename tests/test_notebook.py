"""The example notebook runs top to bottom against the public API at smoke settings (T2)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import REPO, copy_project
from nbclient import NotebookClient

pytestmark = pytest.mark.sampling


def test_example_notebook_runs(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    nb = nbformat.read(REPO / "docs" / "example.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = (
        f"PROJECT = {str(project)!r}\n"
        "SETTINGS = {'draws': 100, 'tune': 100, 'chains': 2, 'backend': 'numpyro'}\n"
        "SAVE = True\n"
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("scenario" in o.get("data", {}).get("text/html", "") for o in outputs)
    assert list((project / "runs").iterdir())
