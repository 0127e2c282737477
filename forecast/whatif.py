"""What-if: interventions on the drivers, applied to the stored draws without refitting.

An intervention replaces part of each draw's driver path and recomputes the forecast through the
model's own formulas (:func:`forecast.likelihood.log_p_from`, then ``q = softmax(log p + A)``).
It is a ``do``-operation, not evidence: the draws are not reweighted, so the other drivers and the
parameters keep their posterior.

Semantics (MODEL.md §7, "fix or shift drivers from a quarter to H"):

- ``set`` driver j to v from quarter t: x[j] = v in every modelled quarter from t to as_of, and
  the driver is held at v to the horizon (its trend and future drift are switched off), so
  x_H = v exactly. Without a quarter, only the horizon value is fixed: x_H = v. Both give the same
  q, since q depends on the drivers at the horizon; the quarter changes the path (``p_now``).
- ``shift`` driver j by d from quarter t: x[j] + d from t on; a shift in a quarter up to as_of
  shifts the path from then on, hence x[j, as_of] and the whole projection; a shift after as_of
  or without a quarter shifts the projection to the horizon. A random walk carries a shift
  forward, so the quarter changes the path but not q.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.influence import Draws
from forecast.likelihood import drift_scale, eta_from, log_q_from, log_softmax, logsumexp
from forecast.priors import PriorArrays


def equal_tailed(values: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of ``mass`` over the first (draw) axis, in numpy."""
    tail = (1.0 - mass) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail], axis=0)
    return lo, hi


@dataclass(frozen=True)
class Intervention:
    """One change of a driver: ``kind`` "set" or "shift", from quarter index ``t`` (None = H)."""

    kind: str
    driver: int
    value: float
    t: int | None = None

    def describe(self, priors: PriorArrays) -> str:
        """E.g. ``set leader_affinity=-1@2027Q1``."""
        when = "@" + _quarter_label(priors, self.t) if self.t is not None else ""
        return f"{self.kind} {priors.drivers[self.driver]}={self.value:+g}{when}"


def _quarter_label(priors: PriorArrays, t: int) -> str:
    from forecast.quarters import Quarter

    return str(Quarter.parse(priors.quarters[0]) + t)


def apply(
    draws: Draws, priors: PriorArrays, interventions: list[Intervention]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the interventions in order to every draw.

    Returns
    -------
    x : ndarray, shape (draw, driver, quarter)
        The modelled path after the interventions.
    centre : ndarray, shape (draw, driver)
        The mean projection to the horizon, x[:, as_of] + mu h after the interventions.
    spread : ndarray, shape (draw, driver)
        The sd of the future drift to the horizon (0 for drivers held fixed).
    """
    x = np.array(draws["x"], dtype=float)
    n_t = x.shape[2]
    h = float(priors.h)
    centre = x[:, :, -1] + draws["mu"] * h
    spread = draws["sigma"] * np.sqrt(h) * drift_scale(priors)
    for iv in interventions:
        j = iv.driver
        inside = iv.t is not None and iv.t < n_t
        if iv.kind == "set":
            if inside:
                x[:, j, max(iv.t, 0) :] = iv.value
            centre[:, j] = iv.value
            spread[:, j] = 0.0
        elif iv.kind == "shift":
            if inside:
                x[:, j, max(iv.t, 0) :] += iv.value
            centre[:, j] += iv.value
        else:
            raise ValueError(f"unknown intervention kind {iv.kind!r}; use 'set' or 'shift'")
    return x, centre, spread


def log_p_projected(
    draws: Draws, priors: PriorArrays, centre: np.ndarray, spread: np.ndarray
) -> np.ndarray:
    """Log p averaged over the future-drift nodes around ``centre`` with sd ``spread``.

    This is :func:`forecast.likelihood.log_p_from` with the drift's centre and sd given per driver
    (so a driver held fixed has sd 0).
    """
    future = centre[:, None, :] + spread[:, None, :] * priors.nodes
    gamma = draws.arrays.get("gamma")
    log_soft = log_softmax(eta_from(future, draws["alpha"], draws["beta"], gamma, priors))
    return logsumexp(log_soft, axis=-2) - np.log(priors.nodes.shape[0])


@dataclass(frozen=True)
class WhatIf:
    """The forecast under interventions, against the run's forecast."""

    scenarios: list[str]
    interventions: list[str]
    q_before: np.ndarray  # (draw, scenario)
    q_after: np.ndarray  # (draw, scenario)
    mass: float

    @property
    def before(self) -> np.ndarray:
        """E[q] of the run."""
        return self.q_before.mean(axis=0)

    @property
    def after(self) -> np.ndarray:
        """E[q] under the interventions."""
        return self.q_after.mean(axis=0)

    @property
    def delta(self) -> np.ndarray:
        """E[q after] - E[q before]."""
        return self.after - self.before

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``scenarios`` hold ``mean`` (after), interval, ``before``, ``delta``."""
        lo, hi = equal_tailed(self.q_after, self.mass)
        d_lo, d_hi = equal_tailed(self.q_after - self.q_before, self.mass)
        return {
            "interventions": self.interventions,
            "interval_mass": self.mass,
            "scenarios": {
                s: {
                    "mean": float(self.after[k]),
                    "lower": float(lo[k]),
                    "upper": float(hi[k]),
                    "before": float(self.before[k]),
                    "delta": float(self.delta[k]),
                    "delta_lower": float(d_lo[k]),
                    "delta_upper": float(d_hi[k]),
                }
                for k, s in enumerate(self.scenarios)
            },
        }


def whatif(
    draws: Draws, block: np.ndarray, priors: PriorArrays, interventions: list[Intervention]
) -> WhatIf:
    """The forecast q = softmax(log p + A) per draw after the interventions.

    Parameters
    ----------
    draws
        The run's posterior draws.
    block
        The run's ratings block A (scenario,); ratings stay as they are.
    priors
        The run's prior arrays (h, nodes, interaction layout).
    interventions
        Applied in order (a later one on the same driver overrides or adds to an earlier one).
    """
    _x, centre, spread = apply(draws, priors, interventions)
    log_p = log_p_projected(draws, priors, centre, spread)
    return WhatIf(
        priors.scenarios,
        [iv.describe(priors) for iv in interventions],
        draws.q(block),
        np.exp(log_q_from(log_p, block)),
        priors.interval_mass,
    )
