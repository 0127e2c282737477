"""Run folders: written whole or not at all, found again, and checked against the inputs.

A run folder ``runs/<stamp>-s<seed>/`` holds:

- ``posterior.nc``: the InferenceData (posterior, prior, log_likelihood, sample_stats), loadable
  with ``arviz.from_netcdf``;
- ``manifest.json``: SHA-256 of every input file, seed, package versions, sampler settings,
  gate thresholds and verdict;
- ``summary.json``: the forecast as printed by ``forecast update --json``;
- ``draws.npz``: the posterior draws the analyst tools need (``forecast.influence.DRAW_VARS``,
  flattened over chains), the run's ratings block ``ratings_block`` (scenario,) and future-drift
  ``nodes`` (node, driver), readable with numpy alone so that ``forecast preview`` never imports
  ArviZ or PyMC.

It is assembled in a hidden staging folder and renamed into place, so an interrupted update
leaves no half run behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from forecast.dims import SCENARIO
from forecast.errors import RunMismatchError

RUNS_DIR = "runs"
POSTERIOR_FILE = "posterior.nc"
MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
DRAWS_FILE = "draws.npz"
#: Arrays of draws.npz that are not draws.
BLOCK_KEY, NODES_KEY = "ratings_block", "nodes"
PACKAGES = ("forecast", "pymc", "pytensor", "arviz", "numpy", "xarray", "numpyro", "jax", "nutpie")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class SavedRun:
    """A run folder on disk, with its manifest and summary read."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]

    @property
    def name(self) -> str:
        """The folder name, e.g. 20261130T101500Z-s20200401."""
        return self.path.name

    @property
    def passed(self) -> bool:
        """Whether the run passed the diagnostics gate."""
        return bool(self.manifest.get("gate", {}).get("passed"))

    def load_idata(self):
        """The run's InferenceData (imports ArviZ)."""
        import arviz as az

        return az.from_netcdf(self.path / POSTERIOR_FILE)

    def changed_inputs(self, file_hashes: dict[str, str]) -> list[str]:
        """Input files that differ from those the run was made from (added, removed or edited)."""
        saved: dict[str, str] = self.manifest.get("inputs", {})
        names = sorted(set(saved) | set(file_hashes))
        return [n for n in names if saved.get(n) != file_hashes.get(n)]


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def save_run(
    project_root: Path,
    idata: Any,
    manifest: dict[str, Any],
    summary: dict[str, Any],
    *,
    now: dt.datetime | None = None,
    ratings_block: Any = None,
    nodes: Any = None,
) -> SavedRun:
    """Write a new run folder under ``project_root/runs`` and return it.

    ``ratings_block`` (A[k] of the fit's evidence) and ``nodes`` (the future-drift nodes of its
    prior arrays) are cached in ``draws.npz`` with the draws; without a block it is taken as zero
    (no rated items).
    """
    now = now or dt.datetime.now(dt.UTC)
    runs = Path(project_root) / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    base = f"{now:%Y%m%dT%H%M%SZ}-s{manifest.get('seed', 'x')}"
    name, n = base, 1
    while (runs / name).exists():
        n += 1
        name = f"{base}-{n}"
    staging = runs / f".staging-{name}-{os.getpid()}"
    staging.mkdir()
    try:
        write_idata(staging / POSTERIOR_FILE, idata)
        _write_draws(staging / DRAWS_FILE, idata.posterior, ratings_block, nodes)
        manifest = {**manifest, "run": name, "created": now.isoformat(timespec="seconds")}
        (staging / MANIFEST_FILE).write_text(_json(manifest), encoding="utf-8")
        (staging / SUMMARY_FILE).write_text(_json({"run": name, **summary}), encoding="utf-8")
        os.rename(staging, runs / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_run(runs / name)


def write_idata(path: Path, idata: Any) -> None:
    """Write an InferenceData (or :class:`forecast.sampling.FitGroups`) to netCDF in ArviZ's layout.

    One netCDF-4 group per InferenceData group (the InferenceData's attributes on the root), as
    ``InferenceData.to_netcdf`` lays it out, so ``arviz.from_netcdf`` reads back the same groups,
    variables, coordinates, dtypes, attributes and values. ArviZ compresses every variable with
    zlib by default, which costs most of the write (about 0.8 of 1.3 s for the shipped project)
    and saves about 5% of the file: MCMC draws of float64 hardly compress.
    """
    import xarray as xr

    mode = "w"
    attrs = getattr(idata, "attrs", None)
    if attrs:
        xr.Dataset(attrs=dict(attrs)).to_netcdf(path, mode=mode, engine="h5netcdf")
        mode = "a"
    for group in idata.groups():
        getattr(idata, group).to_netcdf(path, mode=mode, group=group, engine="h5netcdf")
        mode = "a"


def _write_draws(path: Path, posterior: Any, ratings_block: Any, nodes: Any) -> None:
    import numpy as np

    from forecast.influence import Draws

    arrays = dict(Draws.from_posterior(posterior).arrays)
    k = posterior.sizes.get(SCENARIO, 0)
    block = np.zeros(k) if ratings_block is None else np.asarray(ratings_block, dtype=float)
    if nodes is not None:
        arrays[NODES_KEY] = np.asarray(nodes, dtype=float)
    with open(path, "wb") as f:
        np.savez(f, **{BLOCK_KEY: block}, **arrays)


def load_draws(run: SavedRun | Path) -> tuple[Any, dict[str, Any]]:
    """The run's cached draws and fit arrays, read with numpy only.

    Returns
    -------
    draws : forecast.influence.Draws
        The posterior draws with one leading ``draw`` axis.
    extras : dict of str to ndarray
        ``ratings_block`` (scenario,), A[k] of the evidence the run was fitted to, and, for runs
        that cached them, ``nodes`` (node, driver), the future-drift nodes.

    Raises
    ------
    RunMismatchError
        The run has no ``draws.npz`` (made by an older version): refit with ``forecast update``.
    """
    import numpy as np

    from forecast.influence import Draws

    path = Path(run.path if isinstance(run, SavedRun) else run)
    file = path / DRAWS_FILE
    if not file.exists():
        raise RunMismatchError(
            f"{path} has no {DRAWS_FILE} (it was made by an older version of forecast); "
            "run 'forecast update' to make a run the analyst tools can read"
        )
    with np.load(file) as data:
        arrays = {name: data[name] for name in data.files}
    extras = {k: arrays.pop(k) for k in (BLOCK_KEY, NODES_KEY) if k in arrays}
    return Draws(arrays), extras


def read_run(path: Path) -> SavedRun:
    """Read a run folder's manifest and summary; RunMismatchError if it is not a run."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
        summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunMismatchError(f"{path} is not a readable run folder ({exc})") from None
    if not (path / POSTERIOR_FILE).exists():
        raise RunMismatchError(f"{path} has no {POSTERIOR_FILE}; it is not a complete run")
    return SavedRun(path, manifest, summary)


def list_runs(project_root: Path) -> list[SavedRun]:
    """Complete runs of the project, oldest first."""
    runs = Path(project_root) / RUNS_DIR
    if not runs.is_dir():
        return []
    out = []
    for path in sorted(runs.iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            try:
                out.append(read_run(path))
            except RunMismatchError:
                continue
    return sorted(out, key=lambda r: (r.manifest.get("created", ""), r.name))


def find_run(project_root: Path, run: str | Path | None = None) -> SavedRun:
    """The named run (a folder name under runs/ or a path), or the latest when ``run`` is None."""
    if run is None:
        runs = list_runs(project_root)
        if not runs:
            raise RunMismatchError(
                f"no runs in {Path(project_root) / RUNS_DIR}; make one with 'forecast update'"
            )
        return runs[-1]
    candidate = Path(run)
    if not candidate.is_dir():
        candidate = Path(project_root) / RUNS_DIR / str(run)
    if not candidate.is_dir():
        names = [r.name for r in list_runs(project_root)][-5:]
        raise RunMismatchError(f"no run '{run}'; recent runs: {', '.join(names) or 'none'}")
    return read_run(candidate)
