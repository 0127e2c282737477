"""The model's inputs as they stood at the end of an earlier quarter (backtests).

Every quarter of a backtest fits the same model shape: the project's full time grid and every
item of the project. What was not yet known at the as-of quarter is masked — weight 0 — rather
than left out, and ``as_of`` moves back on the grid. So the compiled sampler is reused from one
quarter to the next (see :mod:`forecast.jax_nuts`); only the data values change.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from forecast.evidence import EvidenceArrays, evidence_arrays, item_weight, known_items
from forecast.io.project import ProjectSpec
from forecast.priors import PriorArrays, prior_arrays
from forecast.quarters import Quarter


def as_of_inputs(
    spec: ProjectSpec, quarter: Quarter, priors: PriorArrays | None = None
) -> tuple[PriorArrays, EvidenceArrays]:
    """Priors and evidence of ``spec`` as known at the end of ``quarter``, in the full shape.

    Parameters
    ----------
    spec : ProjectSpec
        The project (its ``as_of`` fixes the grid and the items).
    quarter : Quarter
        The as-of quarter, from ``spec.start`` to ``spec.as_of``.
    priors : PriorArrays, optional
        ``prior_arrays(spec)`` computed before (saves converting the priors again).

    Returns
    -------
    (PriorArrays, EvidenceArrays)
        The same array shapes for every ``quarter``: items not known at ``quarter`` (published or
        dated after it) and indicator observations after it have weight 0; cluster weights are
        divided among the cluster's items known by then; ``as_of_index`` and ``h`` point at
        ``quarter``.
    """
    if not spec.start <= quarter <= spec.as_of:
        raise ValueError(f"as-of quarter {quarter} lies outside {spec.start}–{spec.as_of}")
    base = priors if priors is not None else prior_arrays(spec)
    priors = dataclasses.replace(base, as_of_index=quarter - spec.start, h=spec.horizon - quarter)
    full = evidence_arrays(spec)
    known = {li.item.id: li.item for li in known_items(spec, quarter)}
    clusters = Counter(i.cluster for i in known.values() if i.cluster is not None)

    def weight(item_id: str) -> float:
        item = known.get(item_id)
        return 0.0 if item is None else item_weight(item, spec, clusters)

    evidence = dataclasses.replace(
        full,
        coding_weight=np.array([weight(i) for i in full.coding_items], dtype=float),
        rating_weight=np.array([weight(i) for i in full.rating_items], dtype=float),
        obs_weight=(full.obs_quarter <= quarter - spec.start).astype(float),
    )
    return priors, evidence
