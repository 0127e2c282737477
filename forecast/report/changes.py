"""What changed since the previous report: new and re-rated items and their effects (pure).

Effects come from PSIS reweighting of the current run's draws (MODEL.md §7,
:func:`forecast.influence.replacement`); where Pareto k is too high, a ``refit`` callback (a
function of a modified :class:`ProjectSpec` returning E[q]) gives the exact answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from forecast.evidence import EvidenceArrays, evidence_arrays, known_items
from forecast.influence import Draws, Effect, removal, replacement
from forecast.io.project import LocatedItem, ProjectSpec
from forecast.priors import PriorArrays

#: A refit: a project spec (modified in memory) -> E[q] per scenario.
Refit = Callable[[ProjectSpec], np.ndarray]
#: Fields whose change makes an item "re-rated" (anything else is an edit of its text).
CODING_FIELDS = (
    "date",
    "published",
    "reliability",
    "credibility",
    "cluster",
    "drivers",
    "scenarios",
)


def item_signature(located: LocatedItem) -> dict[str, Any]:
    """An item's content hash and its codings, as stored in a report's summary.json."""
    data = located.item.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return {"hash": digest, "codings": {k: data[k] for k in CODING_FIELDS}}


def fit_items(spec: ProjectSpec) -> dict[str, LocatedItem]:
    """The items a fit at the spec's as_of uses, by id."""
    return {li.item.id: li for li in known_items(spec)}


def classify(
    spec: ProjectSpec, previous: dict[str, Any] | None
) -> tuple[list[str], list[str], list[str]]:
    """New, re-rated and dropped item ids relative to a previous report's summary."""
    if previous is None:
        return [], [], []
    before: dict[str, Any] = previous.get("items", {})
    now = fit_items(spec)
    new = [i for i in now if i not in before]
    rerated = [
        i
        for i in now
        if i in before and item_signature(now[i])["codings"] != before[i].get("codings")
    ]
    dropped = [i for i in before if i not in now]
    return new, rerated, dropped


def old_spec(spec: ProjectSpec, previous: dict[str, Any], items: list[str]) -> ProjectSpec:
    """The spec with ``items`` as they were at the previous report (new ones left out)."""
    before = previous.get("items", {})
    wanted = set(items)
    kept = []
    for li in spec.items:
        if li.item.id not in wanted:
            kept.append(li)
        elif li.item.id in before:
            codings = before[li.item.id]["codings"]
            item = li.item.model_copy(update=codings)
            kept.append(LocatedItem(item, li.path))
    return dataclasses.replace(spec, items=tuple(kept))


def _effect_row(effect: Effect, refit_q: np.ndarray | None) -> dict[str, Any]:
    delta = effect.delta if refit_q is None else effect.with_items - refit_q
    return {
        "delta": {s: float(d) for s, d in zip(effect.scenarios, delta, strict=True)},
        "pareto_k": float(effect.pareto_k),
        "reliable": bool(effect.reliable),
        "method": "PSIS"
        if refit_q is None and effect.reliable
        else ("refit" if refit_q is not None else "PSIS (k high, approximate)"),
    }


def change_effects(
    spec: ProjectSpec,
    previous: dict[str, Any],
    draws: Draws,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    *,
    refit: Refit | None = None,
    max_refits: int = 8,
) -> dict[str, Any]:
    """Each new or re-rated item's effect alone, and their joint effect.

    Returns
    -------
    dict
        ``new``, ``rerated``, ``dropped`` (ids), ``rows`` (one per item: id, kind, delta per
        scenario, pareto_k, method), ``joint`` (the same for all of them together) and
        ``by_type``: the changed ``ratings`` and the changed ``codings``, each group alone
        (None when a group is empty).
    """
    new, rerated, dropped = classify(spec, previous)
    changed = [*new, *rerated]
    out: dict[str, Any] = {"new": new, "rerated": rerated, "dropped": dropped, "rows": []}
    out["joint"] = None
    if not changed:
        return out
    old = old_spec(spec, previous, changed)
    old_arrays = evidence_arrays(old)
    refits = 0

    def measure(ids: list[str]) -> dict[str, Any]:
        nonlocal refits
        effect = replacement(draws, priors, evidence, old_arrays, ids)
        refit_q = None
        if not effect.reliable and refit is not None and refits < max_refits:
            refits += 1
            refit_q = np.asarray(refit(old_spec(spec, previous, ids)))
        return _effect_row(effect, refit_q)

    kinds = {**dict.fromkeys(new, "new"), **dict.fromkeys(rerated, "re-rated")}
    for item_id in changed:
        out["rows"].append({"id": item_id, "kind": kinds[item_id], **measure([item_id])})
    out["joint"] = measure(changed)
    # the changed scenario ratings and the changed driver codings, each group alone
    rated = set(evidence.rating_items)
    groups = {
        "ratings": [i for i in changed if i in rated],
        "codings": [i for i in changed if i not in rated],
    }
    out["by_type"] = {
        name: None
        if not ids
        else {"items": ids, **(out["joint"] if len(ids) == len(changed) else measure(ids))}
        for name, ids in groups.items()
    }
    return out


def ratings_contribution(
    spec: ProjectSpec,
    draws: Draws,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    *,
    refit: Refit | None = None,
) -> dict[str, Any]:
    """E[q | all evidence] - E[q | all but the scenario ratings], per scenario.

    The change of this contribution between two reports is the part of the move that came from
    ratings (MODEL.md §3); the rest came from driver codings, indicators and Monte Carlo error.
    """
    scenarios = priors.scenarios
    if not evidence.n_rated:
        zero = dict.fromkeys(scenarios, 0.0)
        return {"delta": zero, "pareto_k": 0.0, "method": "no ratings"}
    effect = removal(draws, priors, evidence, evidence.rating_items)
    refit_q = None
    if not effect.reliable and refit is not None:
        rated = set(evidence.rating_items)
        refit_q = np.asarray(
            refit(
                dataclasses.replace(
                    spec, items=tuple(li for li in spec.items if li.item.id not in rated)
                )
            )
        )
    return _effect_row(effect, refit_q)
