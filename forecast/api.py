"""The Python API for notebooks and scripts: ``Project.load(...).update()`` and ``load_run``.

This module wires the pipeline together: io (load) -> priors/evidence (arrays) -> model ->
sampling -> diagnostics -> results -> io (save). Heavy imports happen inside methods.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.io.project import ProjectSpec, load_project
from forecast.io.runs import SavedRun, find_run, list_runs, package_versions, read_run

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import pandas as pd
    import xarray as xr

    from forecast.io.schema import EvidenceItem
    from forecast.sampling import FitGroups


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
    fit
        The fit's groups (posterior, prior, log_likelihood, sample_stats): an ArviZ
        InferenceData, or a :class:`forecast.sampling.FitGroups` until :attr:`idata` is first
        read (so a command that only saves and prints never imports ArviZ).
    summary_data
        The forecast as in ``forecast update --json`` (scenarios, drivers, diagnostics).
    manifest
        Inputs' SHA-256, seed, versions, sampler settings and thresholds.
    path
        The run folder, when the run was saved.
    """

    fit: az.InferenceData | FitGroups
    summary_data: dict[str, Any]
    manifest: dict[str, Any]
    path: Path | None = None
    _spec: ProjectSpec | None = field(default=None, repr=False)

    @property
    def idata(self) -> az.InferenceData:
        """The ArviZ InferenceData (posterior, prior, log_likelihood, sample_stats)."""
        if hasattr(self.fit, "to_inference_data"):  # a FitGroups
            self.fit = self.fit.to_inference_data()
        return self.fit

    @property
    def probabilities(self) -> xr.DataArray:
        """Draws of q(scenario): the forecast, P(scenario at the horizon | evidence)."""
        return self.fit.posterior["q"]

    @property
    def drivers(self) -> xr.DataArray:
        """Draws of x(driver, quarter): the drivers' trajectories from the start to as_of."""
        return self.fit.posterior["x"]

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

        return scenario_frame(self.fit.posterior, self.interval_mass)

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

    @property
    def ratings_block(self):
        """A[k] of the evidence this run was fitted to, (scenario,) ndarray."""
        from forecast.analysis import _at_run
        from forecast.evidence import evidence_arrays

        if self._spec is None:
            from forecast.io.runs import load_draws

            return load_draws(self.path)[1]["ratings_block"]
        return evidence_arrays(_at_run(self._spec, self.manifest)).ratings_block

    # The analyst tools (MODEL.md §7); forecast.analysis holds the wiring.

    def draws(self):
        """The posterior draws as plain arrays (``forecast.influence.Draws``), from the idata."""
        from forecast.influence import Draws

        return Draws.from_posterior(self.fit.posterior)

    def preview(self, item_fields: dict[str, Any], *, refit: bool = True, **settings: Any):
        """How a new item would move the forecast: a :class:`forecast.preview.Preview`.

        ``item_fields`` are ``forecast evidence add``'s fields (title, date, source, reliability,
        credibility, coder, drivers={...} or scenarios={...}); nothing is written. When the
        Pareto k is above the threshold and ``refit`` is true, the model is refitted with the
        item (``settings`` override priors/sampling.yaml for that fit).
        """
        from forecast.analysis import context_of

        return context_of(self).preview(item_fields, refit=refit, **settings)

    def whatif(self, set: tuple[str, ...] = (), shift: tuple[str, ...] = ()):
        """The forecast under ``DRIVER=VALUE[@QUARTER]`` interventions (a ``WhatIf``)."""
        from forecast.analysis import context_of

        ctx = context_of(self)
        return ctx.whatif(ctx.parse_interventions(tuple(set), tuple(shift)))

    def influence(self, items: list[str] | None = None):
        """Each item's effect on the forecast (``forecast.influence.Effect``), largest first."""
        from forecast.analysis import context_of

        return context_of(self).influence(items)

    def signposts(self):
        """Drivers and scenarios ranked by the expected change one more strong item would make."""
        from forecast.analysis import context_of

        return context_of(self).signposts()

    def sensitivity(self):
        """Power-scaling prior and likelihood sensitivity (a ``Sensitivity``)."""
        from forecast.analysis import context_of

        return context_of(self).sensitivity()

    # The quarterly report (forecast.report): the same tables and figures as `forecast report`.

    def _project_spec(self) -> ProjectSpec:
        if self._spec is not None:
            return self._spec
        if self.path is None:
            raise ValueError("an unsaved run without its project; use Project.fit(...)")
        return load_project(self.path.parent.parent)

    def report_context(self, quarter: str | None = None, *, refit: bool = False) -> dict[str, Any]:
        """The report's data (headline, move, changes, top items, diagnostics, methods).

        Earlier reports are read from the project's ``reports/``; nothing is written. With
        ``refit`` the model is refitted where Pareto k is too high (slow).
        """
        from forecast.report.publish import build

        ctx, _figures = build(self, self._project_spec(), quarter, refit=refit)
        return ctx

    def report_figures(self, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The report's figures (matplotlib Figures by name) for a :meth:`report_context`."""
        from forecast.report.publish import run_spec
        from forecast.report.render import report_figures

        ctx = context if context is not None else self.report_context()
        return report_figures(self, run_spec(self, self._project_spec()), ctx)

    def plot_history(self, rows: list[dict[str, Any]] | None = None):
        """Trend of published forecasts (``reports/history.csv``) with this run's forecast."""
        from forecast.plots import plot_history

        if rows is None:
            from forecast.report.render import trend_rows

            rows = trend_rows(self.report_context())
        return plot_history(rows, list(self.summary_data["scenarios"]))

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
        extra_items: Sequence[EvidenceItem] = (),
        **settings: Any,
    ) -> ForecastRun:
        """Sample the posterior and check the gate, without saving (see :meth:`update`).

        ``extra_items`` are added to the evidence in memory (a preview's refit); nothing is
        written.
        """
        if extra_items:
            from forecast.preview import with_items

            project = Project(with_items(self.spec, list(extra_items)))
            return project.fit(progressbar=progressbar, on_stage=on_stage, **settings)
        stage = on_stage or (lambda _name: None)
        stage("compiling and sampling")
        from forecast.diagnostics import check_gate
        from forecast.evidence import evidence_arrays
        from forecast.priors import prior_arrays
        from forecast.results import forecast_summary
        from forecast.sampling import sample_groups

        gate_overrides = settings.pop("gate", None) or {}
        sampler = SamplerSettings.from_spec(self.spec, **settings)
        priors = prior_arrays(self.spec)
        evidence = evidence_arrays(self.spec)
        fit = sample_groups(
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
        gate = check_gate(fit, thresholds)
        mass = priors.interval_mass
        summary = {
            "as_of": str(self.spec.as_of),
            "horizon": str(self.spec.horizon),
            **forecast_summary(fit.posterior, mass),
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
        return ForecastRun(fit, summary, manifest, None, self.spec)

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
                run.fit,
                run.manifest,
                run.summary_data,
                ratings_block=run.ratings_block,
                nodes=_nodes(self.spec),
            )
        run.path = saved.path
        run.manifest = saved.manifest
        return run

    def report(
        self,
        run: ForecastRun | str | Path | None = None,
        quarter: str | None = None,
        *,
        force: bool = False,
        allow_failed: bool = False,
        refit: bool = True,
    ):
        """Write ``reports/<quarter>/`` as ``forecast report`` does (a ``Published``).

        ``run`` is a ForecastRun, a run folder name, or None for the latest saved run.
        """
        from forecast.report.publish import publish

        if not isinstance(run, ForecastRun):
            run = self.load_run(run)
        return publish(run, self.spec, quarter, force=force, allow_failed=allow_failed, refit=refit)

    def runs(self) -> list[SavedRun]:
        """The project's saved runs, oldest first."""
        return list_runs(self.root)

    def load_run(self, run: str | Path | None = None) -> ForecastRun:
        """A saved run of this project (the latest by default)."""
        return _from_saved(find_run(self.root, run), self.spec)


def _nodes(spec: ProjectSpec):
    from forecast.priors import prior_arrays

    return prior_arrays(spec).nodes


def _from_saved(saved: SavedRun, spec: ProjectSpec | None) -> ForecastRun:
    summary = {k: v for k, v in saved.summary.items() if k != "run"}
    return ForecastRun(saved.load_idata(), summary, saved.manifest, saved.path, spec)


def load_run(path: str | Path) -> ForecastRun:
    """Load a run folder written by ``forecast update``."""
    return _from_saved(read_run(Path(path)), None)
