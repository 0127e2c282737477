"""The analyst tools wired to a run: preview, what-if, influence, signposts, sensitivity.

:class:`RunContext` holds what every tool needs — the project, the prior arrays at the run's
as_of, the run's draws and ratings block — and calls the pure modules (:mod:`forecast.preview`,
:mod:`forecast.whatif`, :mod:`forecast.influence`, :mod:`forecast.signposts`,
:mod:`forecast.sensitivity`). Built from a saved run it reads ``draws.npz`` with numpy only, so
the preview path imports neither PyMC, ArviZ nor JAX unless a refit is needed.
``forecast.api.ForecastRun`` exposes the same tools as methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecast.errors import ForecastError, RunMismatchError
from forecast.influence import Draws, Effect, each_item
from forecast.io.project import ProjectSpec, load_project
from forecast.io.runs import SavedRun, find_run, load_draws
from forecast.preview import Preview, from_refit, item_arrays, new_item, preview
from forecast.priors import PriorArrays, prior_arrays
from forecast.quarters import Quarter
from forecast.signposts import Signpost, signposts
from forecast.whatif import Intervention, WhatIf, whatif


class InterventionError(ForecastError, ValueError):
    """A ``--set``/``--shift`` intervention that cannot be read (bad driver, value or quarter)."""


_SPEC_RE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*([^@]+?)\s*(?:@\s*(\S+))?\s*$")


def parse_intervention(kind: str, text: str, spec: ProjectSpec) -> Intervention:
    """Read ``DRIVER=VALUE[@QUARTER]`` into an :class:`Intervention` against ``spec``.

    The quarter may lie from the start quarter to the horizon; it is stored as a quarter index
    from the start (indices at or past as_of only change the projection).
    """
    from forecast.io.messages import unknown_name

    flag = f"--{kind}"
    m = _SPEC_RE.match(text)
    if not m:
        raise InterventionError(
            f"{flag} {text!r} is not DRIVER=VALUE or DRIVER=VALUE@QUARTER "
            f"(e.g. {flag} leader_affinity=-1@2027Q1)"
        )
    name, value_text, when = m.groups()
    if name not in spec.driver_ids:
        raise InterventionError(
            f"{flag} {text!r}: " + unknown_name("driver", name, spec.driver_ids)
        )
    try:
        value = float(value_text)
    except ValueError:
        raise InterventionError(
            f"{flag} {text!r}: value {value_text!r} is not a number (e.g. -1 or +0.5)"
        ) from None
    if not np.isfinite(value):
        raise InterventionError(f"{flag} {text!r}: the value must be finite")
    t = None
    if when is not None:
        try:
            quarter = Quarter.parse(when)
        except ValueError:
            raise InterventionError(
                f"{flag} {text!r}: {when!r} is not a quarter like 2027Q1"
            ) from None
        if not spec.start <= quarter <= spec.horizon:
            raise InterventionError(
                f"{flag} {text!r}: quarter {quarter} is outside {spec.start}..{spec.horizon}"
            )
        t = quarter - spec.start
    return Intervention(kind, spec.driver_ids.index(name), value, t)


@dataclass
class RunContext:
    """A run with its project and arrays, ready for the analyst tools."""

    spec: ProjectSpec
    priors: PriorArrays
    draws: Draws
    block: np.ndarray
    manifest: dict[str, Any]
    path: Path | None = None
    _idata: Any = field(default=None, repr=False)

    @classmethod
    def from_saved(cls, saved: SavedRun, spec: ProjectSpec) -> RunContext:
        """Read a saved run's ``draws.npz`` (numpy only) against its project."""
        draws, extras = load_draws(saved)
        spec = _at_run(spec, saved.manifest)
        priors = prior_arrays(spec, nodes=extras.get("nodes"))
        block = extras["ratings_block"]
        return cls(spec, priors, draws, block, saved.manifest, saved.path)

    @classmethod
    def from_project(cls, project_dir: Path, run: str | None = None) -> RunContext:
        """The project's named run, or its latest."""
        spec = load_project(project_dir)
        return cls.from_saved(find_run(spec.root, run), spec)

    def __post_init__(self) -> None:
        if self.priors is None:
            self.priors = prior_arrays(self.spec)

    @property
    def inputs_changed(self) -> list[str]:
        """Input files that changed since the run was made."""
        saved: dict[str, str] = self.manifest.get("inputs", {})
        now = self.spec.file_hashes
        return [n for n in sorted(set(saved) | set(now)) if saved.get(n) != now.get(n)]

    def preview(self, fields: dict[str, Any], *, refit: bool = True, **settings: Any) -> Preview:
        """How a new item (given as ``forecast evidence add`` fields) would move the forecast.

        Reweights the draws; when the Pareto k is above the threshold and ``refit`` is true, refits
        with the item added in memory (``settings`` override priors/sampling.yaml for that fit).
        """
        item = new_item(self.spec, fields)
        result = preview(self.draws, self.block, self.priors, item_arrays(self.spec, item))
        if result.effect.reliable or not refit:
            return result
        from forecast.api import Project

        run = Project(self.spec).fit(extra_items=[item], **settings)
        after = Draws.from_posterior(run.idata.posterior)
        return from_refit(result, self.draws, self.block, after, run.ratings_block, self.priors)

    def whatif(self, interventions: list[Intervention]) -> WhatIf:
        """The forecast under interventions on the drivers (no refit)."""
        return whatif(self.draws, self.block, self.priors, interventions)

    def parse_interventions(
        self, sets: tuple[str, ...] = (), shifts: tuple[str, ...] = ()
    ) -> list[Intervention]:
        """Parse ``--set`` and ``--shift`` texts, sets first."""
        return [parse_intervention("set", s, self.spec) for s in sets] + [
            parse_intervention("shift", s, self.spec) for s in shifts
        ]

    def influence(self, items: list[str] | None = None) -> list[Effect]:
        """Each item's effect on the forecast (default: every item of the run), largest first."""
        from forecast.evidence import evidence_arrays

        if self.inputs_changed:
            raise RunMismatchError(
                "the evidence or priors changed since this run ("
                + ", ".join(self.inputs_changed[:5])
                + "); run 'forecast update' first"
            )
        evidence = evidence_arrays(self.spec)
        try:
            return each_item(self.draws, self.priors, evidence, items)
        except KeyError as exc:
            raise RunMismatchError(str(exc.args[0])) from None

    def signposts(self) -> list[Signpost]:
        """Drivers and scenarios ranked by how much one more strong item would move the forecast."""
        return signposts(self.draws, self.block, self.priors)

    def sensitivity(self):
        """Power-scaling prior and likelihood sensitivity (imports ArviZ)."""
        from forecast.sensitivity import sensitivity

        idata = self._idata
        if idata is None:
            import arviz as az

            idata = az.from_netcdf(Path(self.path) / "posterior.nc")
        return sensitivity(idata, self.priors)


def _at_run(spec: ProjectSpec, manifest: dict[str, Any]) -> ProjectSpec:
    """The project read at the run's as_of (today may have moved on since)."""
    as_of = manifest.get("as_of")
    if as_of and str(spec.as_of) != as_of:
        return spec.with_as_of(Quarter.parse(as_of))
    return spec


def context_of(run: Any) -> RunContext:
    """A :class:`RunContext` for an in-memory ``ForecastRun`` (saved or not)."""
    spec = run._spec
    if spec is None:
        if run.path is None:
            raise RunMismatchError("this run has no project; load it with Project.load_run()")
        spec = load_project(Path(run.path).parent.parent)
    spec = _at_run(spec, run.manifest)
    if run.path is not None and (Path(run.path) / "draws.npz").exists():
        draws, extras = load_draws(Path(run.path))
        block = extras["ratings_block"]
    else:
        draws, block = Draws.from_posterior(run.idata.posterior), run.ratings_block
    return RunContext(spec, None, draws, block, run.manifest, run.path, run.idata)
