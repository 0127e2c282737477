"""Pareto-smoothed importance sampling in plain numpy (Vehtari et al. 2024).

The preview of a new item must answer in well under two seconds without importing ArviZ, so the
reweighting that influence, preview and the report share lives here. It follows ArviZ's ``psislw``
step for step (same tail length, same generalized-Pareto fit of Zhang and Stephens 2009 with the
weak prior on k, same truncation), and a test checks that both give the same weights and k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def khat_threshold(n_draws: int) -> float:
    """The Pareto k above which reweighting is unreliable: min(1 - 1/log10(S), 0.7)."""
    return min(1.0 - 1.0 / math.log10(n_draws), 0.7)


def _gpd_fit(exceedances: np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes fit of a generalized Pareto distribution to sorted positive values."""
    x = exceedances
    n = len(x)
    m = 30 + int(n**0.5)
    b = 1 - np.sqrt(m / (np.arange(1, m + 1, dtype=float) - 0.5))
    b /= 3 * x[int(n / 4 + 0.5) - 1]
    b += 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    profile = n * (np.log(-(b / k)) - k - 1)
    weights = 1 / np.exp(profile - profile[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    b, weights = b[keep], weights[keep] / weights[keep].sum()
    b_post = float(np.sum(b * weights))
    k_post = float(np.log1p(-b_post * x).mean())
    sigma = -k_post / b_post
    k_post = (n * k_post + 10 * 0.5) / (n + 10)  # weak prior pulling k towards 0.5
    return k_post, sigma


def _gpd_quantile(probs: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if abs(k) < np.finfo(float).eps:
        return -sigma * np.log1p(-probs)
    return sigma * np.expm1(-k * np.log1p(-probs)) / k


@dataclass(frozen=True)
class Reweighting:
    """Normalised PSIS weights over the draws, with the Pareto k of their tail."""

    weights: np.ndarray
    pareto_k: float

    @property
    def reliable(self) -> bool:
        """Whether k is below :func:`khat_threshold` for this many draws."""
        return bool(self.pareto_k <= khat_threshold(len(self.weights)))

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, 1 / sum(w^2)."""
        return float(1.0 / np.sum(self.weights**2))

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Weighted mean over the first (draw) axis."""
        return np.tensordot(self.weights, values, axes=(0, 0))


def psis(log_weights: np.ndarray, r_eff: float = 1.0) -> Reweighting:
    """Smooth the largest importance ratios with a fitted Pareto tail and normalise.

    Parameters
    ----------
    log_weights : ndarray, shape (draw,)
        Unnormalised log importance ratios, one per posterior draw.
    r_eff : float
        Relative efficiency of the draws (ESS / S); sets the tail length.
    """
    x = np.array(log_weights, dtype=float)
    n = x.size
    x -= x.max()
    order = np.argsort(x)
    cut = -int(np.ceil(min(n / 5.0, 3 * (n / r_eff) ** 0.5))) - 1
    cutoff = max(x[order[cut]], np.log(np.finfo(float).tiny))
    (tail,) = np.nonzero(x > cutoff)
    k = math.inf
    if len(tail) > 4:
        tail_order = np.argsort(x[tail])
        exceed = np.exp(x[tail]) - np.exp(cutoff)
        k, sigma = _gpd_fit(exceed[tail_order])
        if np.isfinite(k):
            probs = np.arange(0.5, len(tail)) / len(tail)
            x[tail[tail_order]] = np.log(_gpd_quantile(probs, k, sigma) + np.exp(cutoff))
            x[x > 0] = 0.0
    w = np.exp(x - x.max())
    return Reweighting(w / w.sum(), float(k))
