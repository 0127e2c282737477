"""Preview of one new evidence item: how it would move the forecast, from the stored draws.

The item is validated as ``forecast evidence add`` would (nothing is written), turned into
single-item :class:`~forecast.evidence.EvidenceArrays` with the project's Admiralty tables and
cluster counting, and the run's draws are reweighted by its log-likelihood (PSIS, MODEL.md §7).
When the Pareto k is above the threshold the caller refits with the item added
(:meth:`forecast.api.Project.fit` with ``extra_items``). Pure numpy: no PyMC, ArviZ or JAX import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forecast.errors import EvidenceError
from forecast.evidence import EvidenceArrays, evidence_arrays
from forecast.influence import Draws, Effect
from forecast.io.project import LocatedItem, ProjectSpec
from forecast.io.schema import EvidenceItem
from forecast.likelihood import coding_loglik, ratings_delta
from forecast.priors import PriorArrays
from forecast.psis import Reweighting, khat_threshold, psis

#: The path shown for an item that exists only in memory.
PREVIEW_PATH = "<preview>"


def new_item(spec: ProjectSpec, fields: dict[str, Any]) -> EvidenceItem:
    """Validate one new item's fields as ``forecast evidence add`` does, without writing.

    Parameters
    ----------
    spec
        The project the item would join.
    fields
        Item fields (``id`` optional: a fresh one is used).

    Raises
    ------
    EvidenceError
        Every problem of the item (unknown driver, bad grade, date in the future or after as_of).
    """
    from forecast.io.evidence_files import next_item_id, validate_new_item
    from forecast.io.yamlfile import YamlDoc

    data = {"schema_version": 1, **{k: v for k, v in fields.items() if v not in (None, "", {})}}
    data.setdefault("id", next_item_id(spec))
    doc = YamlDoc(str(fields.get("_path", "new item")), data, dict(fields.get("_lines", {})))
    data.pop("_path", None)
    data.pop("_lines", None)
    item, problems = validate_new_item(spec, data, doc, {})
    if item is None:
        raise EvidenceError(problems)
    if item.event_date.quarter > spec.as_of or item.published_date.quarter > spec.as_of:
        raise EvidenceError(
            [
                doc.problem(
                    ("date",),
                    f"the item falls after as_of {spec.as_of}, so no fit at this as_of would use "
                    "it; preview it against a project whose as_of includes its date",
                )
            ]
        )
    return item


def item_fields_from_file(path: Path) -> dict[str, Any]:
    """Read an item file (the format of evidence/**/*.yaml) into fields for :func:`new_item`."""
    from forecast.io.yamlfile import load_yaml

    doc, problems = load_yaml(Path(path), str(path))
    if doc is None:
        raise EvidenceError(problems)
    if not isinstance(doc.data, dict):
        raise EvidenceError([doc.problem((), "expected a mapping of fields at the top")])
    fields = {k: v for k, v in doc.data.items() if k != "schema_version"}
    return {**fields, "_path": str(path), "_lines": doc.lines}


def with_items(spec: ProjectSpec, items: list[EvidenceItem]) -> ProjectSpec:
    """The project with ``items`` added in memory (nothing is written)."""
    extra = tuple(LocatedItem(item, PREVIEW_PATH) for item in items)
    return dataclasses.replace(spec, items=(*spec.items, *extra))


def item_arrays(spec: ProjectSpec, item: EvidenceItem) -> EvidenceArrays:
    """Single-item EvidenceArrays of ``item`` as a fit of ``spec`` plus the item would weigh it.

    Its weight uses the project's reliability and credibility tables, and its cluster size counts
    the project's items of the same cluster known at as_of plus the new one.
    """
    full = evidence_arrays(with_items(spec, [item]))
    rows = [i for i, owner in enumerate(full.coding_items) if owner == item.id]
    rated = [i for i, owner in enumerate(full.rating_items) if owner == item.id]
    k = len(spec.scenario_ids)
    return dataclasses.replace(
        full,
        coding_labels=[full.coding_labels[i] for i in rows],
        coding_items=[full.coding_items[i] for i in rows],
        coding_driver=full.coding_driver[rows],
        coding_quarter=full.coding_quarter[rows],
        coding_category=full.coding_category[rows],
        coding_weight=full.coding_weight[rows],
        rating_items=[full.rating_items[i] for i in rated],
        rating_loglik=full.rating_loglik[rated].reshape(-1, k),
        rating_weight=full.rating_weight[rated],
        obs_labels=[],
        obs_series=np.zeros(0, dtype=int),
        obs_quarter=np.zeros(0, dtype=int),
        obs_value=np.zeros(0),
    )


@dataclass(frozen=True)
class Preview:
    """How a new item would move the forecast and the drivers.

    Attributes
    ----------
    effect
        E[q] with and without the item, Δ, dB and the Pareto k of the reweighting.
    drivers
        Driver ids.
    now_with, now_without
        E[x[:, as_of]] with and without the item, (driver,).
    horizon_with, horizon_without
        E[x_H] (the mean projection) with and without the item, (driver,).
    se
        Monte Carlo standard error of E[q | with the item], (scenario,).
    refit
        True when the figures come from a refit with the item added (k was too high).
    """

    effect: Effect
    drivers: list[str]
    now_with: np.ndarray
    now_without: np.ndarray
    horizon_with: np.ndarray
    horizon_without: np.ndarray
    se: np.ndarray
    refit: bool = False

    @property
    def threshold(self) -> float:
        """The Pareto k threshold for this many draws."""
        return khat_threshold(len(self.effect.reweighting.weights))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``scenarios`` hold ``mean`` (with the item) as ``update`` does."""
        e = self.effect
        return {
            "items": list(e.items),
            "method": "refit" if self.refit else "reweighting",
            "pareto_k": e.pareto_k,
            "k_threshold": self.threshold,
            "reliable": e.reliable,
            "scenarios": {
                s: {
                    "mean": float(e.with_items[i]),
                    "before": float(e.without_items[i]),
                    "delta": float(e.delta[i]),
                    "db": float(e.db[i]),
                    "se": float(self.se[i]),
                }
                for i, s in enumerate(e.scenarios)
            },
            "drivers": {
                d: {
                    "now": {"mean": float(self.now_with[j]), "before": float(self.now_without[j])},
                    "horizon": {
                        "mean": float(self.horizon_with[j]),
                        "before": float(self.horizon_without[j]),
                    },
                }
                for j, d in enumerate(self.drivers)
            },
        }


def weighted_se(rw: Reweighting, values: np.ndarray) -> np.ndarray:
    """Standard error of a self-normalised importance-sampling mean, sqrt(Σ w² (v - m)²)."""
    m = rw.mean(values)
    return np.sqrt(np.tensordot(rw.weights**2, (values - m) ** 2, axes=(0, 0)))


def x_horizon(draws: Draws, priors: PriorArrays) -> np.ndarray:
    """Per-draw mean projection x_H = x[:, as_of] + mu h, (draw, driver)."""
    return draws["x"][:, :, -1] + draws["mu"] * priors.h


def preview(draws: Draws, block: np.ndarray, priors: PriorArrays, new: EvidenceArrays) -> Preview:
    """Reweight the draws by the new item's log-likelihood (PSIS) and summarise the move.

    Parameters
    ----------
    draws
        The run's posterior draws.
    block
        The run's ratings block A (scenario,).
    priors
        The run's prior arrays (kappa, cutpoints, h).
    new
        Single-item arrays from :func:`item_arrays`.
    """
    log_ratio = np.zeros(draws.n)
    if new.n_codings:
        log_ratio += coding_loglik(draws["x"], priors, new).sum(axis=1)
    change = new.ratings_block if new.n_rated else np.zeros_like(block)
    if new.n_rated:
        log_ratio += ratings_delta(draws["log_p"], block, change)
    rw = psis(log_ratio)
    q_with = draws.q(block + change)
    items = tuple(dict.fromkeys([*new.coding_items, *new.rating_items]))
    effect = Effect(items, priors.scenarios, rw.mean(q_with), draws.q(block).mean(axis=0), rw)
    x_now, x_h = draws["x"][:, :, -1], x_horizon(draws, priors)
    return Preview(
        effect,
        priors.drivers,
        rw.mean(x_now),
        x_now.mean(axis=0),
        rw.mean(x_h),
        x_h.mean(axis=0),
        weighted_se(rw, q_with),
    )


def from_refit(
    first: Preview,
    before: Draws,
    block: np.ndarray,
    after: Draws,
    block_after: np.ndarray,
    priors: PriorArrays,
) -> Preview:
    """A :class:`Preview` from a refit with the item (``after``) against the run (``before``).

    ``first`` is the reweighting preview that failed; its Pareto k is kept for the record.
    """
    q_after = after.q(block_after)
    effect = Effect(
        first.effect.items,
        priors.scenarios,
        q_after.mean(axis=0),
        before.q(block).mean(axis=0),
        first.effect.reweighting,
    )
    return Preview(
        effect,
        priors.drivers,
        after["x"][:, :, -1].mean(axis=0),
        before["x"][:, :, -1].mean(axis=0),
        x_horizon(after, priors).mean(axis=0),
        x_horizon(before, priors).mean(axis=0),
        q_after.std(axis=0) / np.sqrt(after.n),
        refit=True,
    )
