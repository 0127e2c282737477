"""The Python API for notebooks and scripts: ``Project.load(...).update()`` and ``load_run``.

This module wires the pipeline together: io (load) -> priors/evidence (arrays) -> model ->
sampling -> diagnostics -> results -> io (save). Heavy imports happen inside methods.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.io.project import ProjectSpec, load_project
from forecast.io.runs import SavedRun, find_run, list_runs, package_versions, read_run

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import pandas as pd
    import xarray as xr


@dataclass(frozen=True)
class SamplerSettings:
    """The sampler settings of one update (defaults from priors/sampling.yaml)."""

    backend: str
    draws: int
    tune: int
    chains: int
    target_accept: float
    seed: int

    @classmethod
    def from_spec(cls, spec: ProjectSpec, **overrides: Any) -> SamplerSettings:
        """priors/sampling.yaml's values, with any non-None override applied."""
        s = spec.sampling.sampler
        values = {
            "backend": s.backend.value,
            "draws": s.draws.value,
            "tune": s.tune.value,
            "chains": s.chains.value,
            "target_accept": s.target_accept.value,
            "seed": s.seed.value,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def gate_thresholds(spec: ProjectSpec) -> dict[str, float]:
    """The diagnostics-gate thresholds of the project, as plain numbers."""
    g = spec.sampling.gate
    return {name: getattr(g, name).value for name in type(g).model_fields}


GATE_FIGURES = (
    "passed",
    "rhat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "ebfmi_min",
    "mcse_max",
)


def gate_summary(gate: dict[str, Any]) -> dict[str, Any]:
    """The gate's headline figures, as in ``forecast update --json``."""
    return {k: gate[k] for k in GATE_FIGURES}


@dataclass
class ForecastRun:
    """One fitted forecast: the InferenceData, its summary and its diagnostics.

    Attributes
    ----------
    idata
        The ArviZ InferenceData (posterior, prior, log_likelihood, sample_stats).
    summary_data
        The forecast as in ``forecast update --json`` (scenarios, drivers, diagnostics).
    manifest
        Inputs' SHA-256, seed, versions, sampler settings and thresholds.
    path
        The run folder, when the run was saved.
    """

    idata: az.InferenceData
    summary_data: dict[str, Any]
    manifest: dict[str, Any]
    path: Path | None = None
    _spec: ProjectSpec | None = field(default=None, repr=False)

    @property
    def probabilities(self) -> xr.DataArray:
        """Draws of q(scenario): the forecast, P(scenario at the horizon | evidence)."""
        return self.idata.posterior["q"]

    @property
    def drivers(self) -> xr.DataArray:
        """Draws of x(driver, quarter): the drivers' trajectories from the start to as_of."""
        return self.idata.posterior["x"]

    @property
    def passed(self) -> bool:
        """Whether the run passed the diagnostics gate."""
        return bool(self.summary_data["diagnostics"]["passed"])

    @property
    def interval_mass(self) -> float:
        """The equal-tailed interval mass the summary uses."""
        return float(self.manifest["interval_mass"])

    @property
    def diagnostics(self) -> pd.DataFrame:
        """The gate's checks as a table: value, threshold and verdict of each."""
        import pandas as pd

        checks = self.manifest["gate"]["checks"]
        return pd.DataFrame(checks).set_index("name")

    def summary(self) -> pd.DataFrame:
        """Scenario probabilities: mean, interval, MCSE and supported digits per scenario."""
        from forecast.results import scenario_frame

        return scenario_frame(self.idata.posterior, self.interval_mass)

    def to_json(self) -> dict[str, Any]:
        """The run as printed by ``forecast update --json``."""
        return {"run": str(self.path) if self.path else None, **self.summary_data}

    def plot_probabilities(self):
        """Scenario probabilities with their intervals (a matplotlib Figure)."""
        from forecast.plots import plot_probabilities

        return plot_probabilities(self.idata, self.interval_mass)

    def plot_drivers(self):
        """Fan charts of the drivers from the start quarter to as_of and on to the horizon."""
        from forecast.plots import plot_drivers

        return plot_drivers(self.idata, self.interval_mass)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v['mean']:.{v['digits']}f}</td>"
            f"<td>{v['lower']:.{v['digits']}f}–{v['upper']:.{v['digits']}f}</td></tr>"
            for k, v in self.summary_data["scenarios"].items()
        )
        verdict = "passed" if self.passed else "FAILED — not for distribution"
        return (
            f"<div><b>Forecast at {html.escape(self.summary_data['horizon'])}</b> "
            f"(as of {html.escape(self.summary_data['as_of'])}; gate {verdict})"
            f"<table><tr><th>scenario</th><th>mean</th>"
            f"<th>{self.interval_mass:.0%} interval</th></tr>{rows}</table></div>"
        )


class Project:
    """A forecast project folder: priors/, evidence/, and the runs made from them."""

    def __init__(self, spec: ProjectSpec):
        self.spec = spec

    @classmethod
    def load(cls, path: str | Path = ".", today: dt.date | None = None) -> Project:
        """Load and validate the project at ``path`` (raises SpecError/EvidenceError)."""
        return cls(load_project(path, today=today))

    @property
    def root(self) -> Path:
        """The project folder."""
        return self.spec.root

    def __repr__(self) -> str:
        return (
            f"Project({self.spec.project.name!r}, {len(self.spec.items)} items, "
            f"as_of={self.spec.as_of}, horizon={self.spec.horizon})"
        )

    def fit(
        self,
        *,
        progressbar: bool = False,
        on_stage: Callable[[str], None] | None = None,
        **settings: Any,
    ) -> ForecastRun:
        """Sample the posterior and check the gate, without saving (see :meth:`update`)."""
        stage = on_stage or (lambda _name: None)
        stage("compiling and sampling")
        from forecast.diagnostics import check_gate
        from forecast.evidence import evidence_arrays
        from forecast.priors import prior_arrays
        from forecast.results import forecast_summary
        from forecast.sampling import sample

        gate_overrides = settings.pop("gate", None) or {}
        sampler = SamplerSettings.from_spec(self.spec, **settings)
        priors = prior_arrays(self.spec)
        evidence = evidence_arrays(self.spec)
        idata = sample(
            priors,
            evidence,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            target_accept=sampler.target_accept,
            seed=sampler.seed,
            backend=sampler.backend,
            progressbar=progressbar,
        )
        stage("checking diagnostics")
        thresholds = {**gate_thresholds(self.spec), **gate_overrides}
        gate = check_gate(idata, thresholds)
        mass = priors.interval_mass
        summary = {
            "as_of": str(self.spec.as_of),
            "horizon": str(self.spec.horizon),
            **forecast_summary(idata.posterior, mass),
            "diagnostics": gate_summary(gate.as_dict()),
        }
        manifest = {
            "project": self.spec.project.name,
            "as_of": str(self.spec.as_of),
            "horizon": str(self.spec.horizon),
            "today": str(self.spec.today),
            "interval_mass": mass,
            "seed": sampler.seed,
            "sampler": sampler.__dict__,
            "thresholds": thresholds,
            "gate": gate.as_dict(),
            "versions": package_versions(),
            "inputs": self.spec.file_hashes,
            "counts": {
                "items": len(self.spec.items),
                "codings": evidence.n_codings,
                "rated_items": evidence.n_rated,
                "indicator_obs": evidence.n_obs,
            },
        }
        return ForecastRun(idata, summary, manifest, None, self.spec)

    def update(
        self,
        *,
        save: bool = True,
        progressbar: bool = False,
        on_stage: Callable[[str], None] | None = None,
        **settings: Any,
    ) -> ForecastRun:
        """Fit the model to the project's evidence and save the run (unless ``save=False``).

        Parameters
        ----------
        save
            Write a run folder under ``runs/`` (the project is locked meanwhile).
        progressbar
            Show the sampler's progress bar.
        on_stage
            Called with the name of each stage as it starts (for progress displays).
        **settings
            Overrides of priors/sampling.yaml: ``seed``, ``draws``, ``tune``, ``chains``,
            ``target_accept``, ``backend``; ``gate`` maps threshold names to new values.

        Returns
        -------
        ForecastRun
            Check ``.passed``: a run that fails the gate is still returned (and saved, marked
            failed).
        """
        if not save:
            return self.fit(progressbar=progressbar, on_stage=on_stage, **settings)
        from forecast.io.atomic import project_lock
        from forecast.io.runs import save_run

        with project_lock(self.root, "update"):
            run = self.fit(progressbar=progressbar, on_stage=on_stage, **settings)
            if on_stage:
                on_stage("saving the run")
            saved = save_run(
                self.root,
                run.idata,
                run.manifest,
                run.summary_data,
                ratings_block=run.ratings_block,
            )
        run.path = saved.path
        run.manifest = saved.manifest
        return run

    def runs(self) -> list[SavedRun]:
        """The project's saved runs, oldest first."""
        return list_runs(self.root)

    def load_run(self, run: str | Path | None = None) -> ForecastRun:
        """A saved run of this project (the latest by default)."""
        return _from_saved(find_run(self.root, run), self.spec)


def _from_saved(saved: SavedRun, spec: ProjectSpec | None) -> ForecastRun:
    summary = {k: v for k, v in saved.summary.items() if k != "run"}
    return ForecastRun(saved.load_idata(), summary, saved.manifest, saved.path, spec)


def load_run(path: str | Path) -> ForecastRun:
    """Load a run folder written by ``forecast update``."""
    return _from_saved(read_run(Path(path)), None)
