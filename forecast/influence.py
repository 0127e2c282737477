"""How much evidence moves the forecast, from the stored draws alone (MODEL.md §7).

Removing items reweights the posterior draws by exp(-log-likelihood of the items) — for a rated
item, by the exact per-draw change of the ratings block — and adding an item reweights by its
log-likelihood. The ratios are Pareto-smoothed (:mod:`forecast.psis`); above the k threshold the
reweighting is unreliable and the caller should refit. Pure numpy: no PyMC or ArviZ import, so the
preview of a new item stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from forecast.evidence import EvidenceArrays
from forecast.likelihood import coding_loglik, indicator_loglik, log_q_from, ratings_delta
from forecast.priors import PriorArrays
from forecast.psis import Reweighting, psis

#: Posterior variables the reweighting needs (flattened over chain and draw).
DRAW_VARS = (
    "x",
    "mu",
    "sigma",
    "alpha",
    "beta",
    "gamma",
    "log_p",
    "indicator_intercept",
    "indicator_slope",
    "indicator_noise",
)


@dataclass(frozen=True)
class Draws:
    """Posterior draws as plain arrays with one leading ``draw`` axis (chains concatenated)."""

    arrays: Mapping[str, np.ndarray]

    @classmethod
    def from_posterior(cls, posterior) -> Draws:
        """Flatten ``chain`` and ``draw`` of the variables in :data:`DRAW_VARS`."""
        out = {}
        for name in DRAW_VARS:
            if name in posterior:
                da = posterior[name]
                out[name] = da.values.reshape(-1, *da.shape[2:])
        return cls(out)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def n(self) -> int:
        """Number of draws."""
        return int(self.arrays["x"].shape[0])

    def q(self, block: np.ndarray) -> np.ndarray:
        """Per-draw q = softmax(log p + A), shape (draw, scenario)."""
        return np.exp(log_q_from(self.arrays["log_p"], block))


@dataclass(frozen=True)
class Effect:
    """The effect of a set of items on the forecast: with them minus without them."""

    items: tuple[str, ...]
    scenarios: list[str]
    with_items: np.ndarray  # E[q] with the items, (scenario,)
    without_items: np.ndarray  # E[q] without them
    reweighting: Reweighting = field(repr=False)

    @property
    def delta(self) -> np.ndarray:
        """E[q | with] - E[q | without], per scenario."""
        return self.with_items - self.without_items

    @property
    def db(self) -> np.ndarray:
        """The change of each scenario's odds in decibels, 10 log10(odds with / odds without)."""
        return decibels(self.with_items, self.without_items)

    @property
    def pareto_k(self) -> float:
        """Pareto k of the importance ratios."""
        return self.reweighting.pareto_k

    @property
    def reliable(self) -> bool:
        """Whether the reweighting can be trusted (k below the threshold); else refit."""
        return self.reweighting.reliable

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "items": list(self.items),
            "pareto_k": self.pareto_k,
            "reliable": self.reliable,
            "scenarios": {
                s: {"with": float(a), "without": float(b), "delta": float(d), "db": float(g)}
                for s, a, b, d, g in zip(
                    self.scenarios,
                    self.with_items,
                    self.without_items,
                    self.delta,
                    self.db,
                    strict=True,
                )
            },
        }


def decibels(p_with: np.ndarray, p_without: np.ndarray) -> np.ndarray:
    """10 log10 of the odds ratio of two probability vectors (clipped away from 0 and 1)."""
    a = np.clip(p_with, 1e-12, 1 - 1e-12)
    b = np.clip(p_without, 1e-12, 1 - 1e-12)
    return 10.0 * np.log10(a / (1 - a) * (1 - b) / b)


def _columns(owners: Iterable[str], wanted: set[str]) -> np.ndarray:
    return np.array([i for i, o in enumerate(owners) if o in wanted], dtype=int)


def _without(
    draws: Draws,
    priors: PriorArrays,
    wanted: set[str],
    log_ratio: np.ndarray,
    block: np.ndarray,
    change: np.ndarray | float,
) -> Effect:
    """E[q] now, and E[q] reweighted by ``log_ratio`` with the ratings block moved by ``change``."""
    rw = psis(log_ratio)
    return Effect(
        tuple(sorted(wanted)),
        priors.scenarios,
        draws.q(block).mean(axis=0),
        rw.mean(draws.q(block + change)),
        rw,
    )


def removal(
    draws: Draws, priors: PriorArrays, evidence: EvidenceArrays, items: Iterable[str]
) -> Effect:
    """The effect of items (evidence item ids, or indicator series ids) that are in the fit.

    Parameters
    ----------
    draws
        Posterior draws of a fit to ``evidence``.
    priors, evidence
        The arrays that fit was made from.
    items
        Item ids (``e017``) and/or indicator series ids (``gdp_ratio``) to take out.
    """
    wanted = set(items)
    known = set(evidence.coding_items) | set(evidence.rating_items) | set(evidence.series)
    unknown = sorted(wanted - known)
    if unknown:
        raise KeyError(f"not in this run's evidence: {', '.join(unknown)}")
    log_ratio = np.zeros(draws.n)
    cols = _columns(evidence.coding_items, wanted)
    if len(cols):
        log_ratio -= coding_loglik(draws["x"], priors, evidence)[:, cols].sum(axis=1)
    series = [i for i, s in enumerate(evidence.series) if s in wanted]
    if series:
        obs = np.isin(evidence.obs_series, series)
        ll = indicator_loglik(
            draws["x"],
            draws["indicator_intercept"],
            draws["indicator_slope"],
            draws["indicator_noise"],
            evidence,
        )
        log_ratio -= ll[:, obs].sum(axis=1)
    block = evidence.ratings_block
    rated = _columns(evidence.rating_items, wanted)
    change = -(evidence.rating_weight[rated] @ evidence.rating_loglik[rated]) if len(rated) else 0
    if len(rated):
        log_ratio += ratings_delta(draws["log_p"], block, change)
    return _without(draws, priors, wanted, log_ratio, block, change)


def addition(
    draws: Draws, priors: PriorArrays, evidence: EvidenceArrays, new: EvidenceArrays
) -> Effect:
    """The effect of new items (``new`` holds only them) on a fit to ``evidence``.

    ``new`` codings are scored against the stored driver paths, and new ratings change the
    ratings block exactly; indicator series are not supported here (refit for those).
    """
    if new.n_obs:
        raise ValueError("adding indicator observations needs a refit")
    log_ratio = np.zeros(draws.n)
    if new.n_codings:
        log_ratio += coding_loglik(draws["x"], priors, new).sum(axis=1)
    block = evidence.ratings_block
    change = new.ratings_block if new.n_rated else np.zeros_like(block)
    if new.n_rated:
        log_ratio += ratings_delta(draws["log_p"], block, change)
    rw = psis(log_ratio)
    items = tuple(dict.fromkeys([*new.coding_items, *new.rating_items]))
    return Effect(
        items, priors.scenarios, rw.mean(draws.q(block + change)), draws.q(block).mean(axis=0), rw
    )


def each_item(
    draws: Draws, priors: PriorArrays, evidence: EvidenceArrays, items: Iterable[str] | None = None
) -> list[Effect]:
    """The effect of each item alone (default: every item in the fit), largest first."""
    names = (
        list(items)
        if items is not None
        else list(dict.fromkeys([*evidence.coding_items, *evidence.rating_items]))
    )
    effects = [removal(draws, priors, evidence, [name]) for name in names]
    return sorted(effects, key=lambda e: -float(np.abs(e.delta).max()))


def replacement(
    draws: Draws,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    old: EvidenceArrays,
    items: Iterable[str],
) -> Effect:
    """The effect of re-coding items: E[q | current codings] - E[q | their ``old`` codings].

    Parameters
    ----------
    draws
        Posterior draws of a fit to ``evidence`` (which holds the current codings).
    priors, evidence
        The arrays that fit was made from.
    old
        Evidence arrays holding the items' earlier codings (other rows are ignored).
    items
        Ids of the re-coded items; each must be in both ``evidence`` and ``old``.

    Notes
    -----
    The draws are reweighted by loglik_old - loglik_new of the items, ratings by the exact
    per-draw change of the ratings block, Pareto-smoothed as in :func:`removal`.
    """
    wanted = set(items)
    log_ratio = np.zeros(draws.n)
    for arrays, sign in ((evidence, -1.0), (old, 1.0)):
        cols = _columns(arrays.coding_items, wanted)
        if len(cols):
            log_ratio += sign * coding_loglik(draws["x"], priors, arrays)[:, cols].sum(axis=1)
    block = evidence.ratings_block
    change = np.zeros_like(block)
    for arrays, sign in ((evidence, -1.0), (old, 1.0)):
        rated = _columns(arrays.rating_items, wanted)
        if len(rated):
            change = change + sign * (arrays.rating_weight[rated] @ arrays.rating_loglik[rated])
    if np.any(change != 0):
        log_ratio += ratings_delta(draws["log_p"], block, change)
    return _without(draws, priors, wanted, log_ratio, block, change)
