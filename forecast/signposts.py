"""Signposts: which new observation would move the forecast most (MODEL.md §7).

For each driver j the hypothetical observation is one strong, reliable item — an A1 coding of
weight 1 — of driver j dated in the as_of quarter. Its predictive probability of each score s is
the posterior average of the ordinal probabilities at x[j, as_of]; observing s reweights the
draws by that probability, which gives E[q | s]. For each scenario k the observation is an A1
item rated CC for k and II for every other scenario; with λ read as P(item | S), the item is seen
with probability Σ_k E[q_k] λ_k and missed (likelihood 1 − λ) otherwise.

Reported per signpost: the expected absolute change of the forecast, Σ_s P(s) Σ_k |E[q_k | s] −
E[q_k]| (summed over scenarios; ``expected_abs_change_by_scenario`` has each term), the expected
KL divergence Σ_s P(s) KL(E[q | s] ‖ E[q]) in nats, the largest Pareto k of the reweightings, and
the most probable observation that would change the leading scenario (if any). The plain
importance weights are used for the means, so Σ_s P(s) E[q | s] = E[q] holds exactly: the
expected change itself is zero. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.influence import Draws
from forecast.likelihood import ordinal_loglik
from forecast.priors import PriorArrays
from forecast.psis import psis

#: Driver scores of the hypothetical coding.
SCORES = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class Signpost:
    """What one more strong item on a driver or scenario would do to the forecast."""

    kind: str  # "driver" or "scenario"
    name: str
    outcomes: list[str]  # "+2", "-1", … or "seen", "not seen"
    probability: np.ndarray  # (outcome,) predictive probability
    q_given: np.ndarray  # (outcome, scenario) E[q | outcome]
    q_now: np.ndarray  # (scenario,) E[q]
    scenarios: list[str]
    pareto_k: float

    @property
    def expected_abs_change_by_scenario(self) -> np.ndarray:
        """Σ_s P(s) |E[q_k | s] − E[q_k]| per scenario."""
        return self.probability @ np.abs(self.q_given - self.q_now)

    @property
    def expected_abs_change(self) -> float:
        """The expected absolute change of the forecast, summed over scenarios."""
        return float(self.expected_abs_change_by_scenario.sum())

    @property
    def expected_kl(self) -> float:
        """Σ_s P(s) KL(E[q | s] ‖ E[q]) in nats."""
        a = np.clip(self.q_given, 1e-300, None)
        b = np.clip(self.q_now, 1e-300, None)
        return float(self.probability @ np.sum(a * (np.log(a) - np.log(b)), axis=1))

    @property
    def leader_change(self) -> dict[str, Any] | None:
        """The most probable outcome after which another scenario leads, or None."""
        lead = int(np.argmax(self.q_now))
        flips = [i for i in range(len(self.outcomes)) if int(np.argmax(self.q_given[i])) != lead]
        if not flips:
            return None
        i = max(flips, key=lambda o: self.probability[o])
        return {
            "outcome": self.outcomes[i],
            "probability": float(self.probability[i]),
            "new_leader": self.scenarios[int(np.argmax(self.q_given[i]))],
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "expected_abs_change": self.expected_abs_change,
            "expected_kl": self.expected_kl,
            "pareto_k": self.pareto_k,
            "leader_change": self.leader_change,
            "outcomes": {
                o: {
                    "probability": float(self.probability[i]),
                    "scenarios": {
                        s: float(self.q_given[i, k]) for k, s in enumerate(self.scenarios)
                    },
                }
                for i, o in enumerate(self.outcomes)
            },
        }


def _signpost(
    kind: str,
    name: str,
    outcomes: list[str],
    likelihood: np.ndarray,
    q_given_draw: list[np.ndarray],
    q_now: np.ndarray,
    scenarios: list[str],
) -> Signpost:
    """``likelihood`` (draw, outcome) sums to 1 over outcomes; ``q_given_draw[o]`` (draw, K)."""
    prob = likelihood.mean(axis=0)
    q_given = np.empty((len(outcomes), len(scenarios)))
    ks = []
    for o in range(len(outcomes)):
        w = likelihood[:, o]
        total = w.sum()
        q_given[o] = (w @ q_given_draw[o]) / total if total > 0 else q_now
        with np.errstate(divide="ignore"):
            ks.append(psis(np.log(w)).pareto_k if total > 0 else np.inf)
    finite = [k for k, p in zip(ks, prob, strict=True) if p > 1e-6]
    return Signpost(
        kind, name, outcomes, prob, q_given, q_now, scenarios, float(max(finite, default=0.0))
    )


def driver_signpost(draws: Draws, block: np.ndarray, priors: PriorArrays, j: int) -> Signpost:
    """The signpost of driver ``j``: an A1 coding of it in the as_of quarter."""
    latent = priors.kappa * draws["x"][:, j, -1]
    cats = np.arange(len(SCORES))
    loglik = ordinal_loglik(latent[:, None], cats, priors.cutpoints)
    q = draws.q(block)
    return _signpost(
        "driver",
        priors.drivers[j],
        [f"{s:+d}" for s in SCORES],
        np.exp(loglik),
        [q] * len(SCORES),
        q.mean(axis=0),
        priors.scenarios,
    )


def scenario_signpost(draws: Draws, block: np.ndarray, priors: PriorArrays, k: int) -> Signpost:
    """The signpost of scenario ``k``: an A1 item rated CC for k and II for the others."""
    lam = np.full(len(priors.scenarios), np.exp(priors.rating_loglik["II"]))
    lam[k] = np.exp(priors.rating_loglik["CC"])
    q = draws.q(block)
    seen = q @ lam
    q_seen = q * lam / seen[:, None]
    q_missed = q * (1 - lam) / (1 - seen)[:, None]
    return _signpost(
        "scenario",
        priors.scenarios[k],
        ["seen", "not seen"],
        np.stack([seen, 1 - seen], axis=1),
        [q_seen, q_missed],
        q.mean(axis=0),
        priors.scenarios,
    )


def signposts(draws: Draws, block: np.ndarray, priors: PriorArrays) -> list[Signpost]:
    """Every driver and scenario signpost, largest expected absolute change first."""
    out = [driver_signpost(draws, block, priors, j) for j in range(len(priors.drivers))]
    out += [scenario_signpost(draws, block, priors, k) for k in range(len(priors.scenarios))]
    return sorted(out, key=lambda s: -s.expected_abs_change)
