"""The model's formulas in plain numpy, vectorised over draws (MODEL.md §2–§3).

This module is the single source of truth, outside the PyMC graph, for everything that is computed
from stored draws: the pointwise log-likelihood group, ``log p`` and ``q`` recomputed after an
intervention (what-if), and the per-draw change of the ratings block used by influence and
preview. It imports neither pymc, arviz nor jax, so the preview path stays light.

Every array carries arbitrary leading "sample" axes (``...``: chain, draw, or none); the trailing
axes are named in each docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from forecast.dims import SCENARIO
from forecast.evidence import EvidenceArrays
from forecast.priors import PriorArrays


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """Log of the logistic function, as ``min(x, 0) - log1p(exp(-|x|))``.

    The form never overflows, and neither does its gradient, which is why the model graph uses
    the same expression instead of a branching softplus (whose JAX gradient is NaN for large
    arguments).
    """
    x = np.asarray(x, dtype=float)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def log1mexp(a: np.ndarray) -> np.ndarray:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate near 0 and for large negative ``a``."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(a > -np.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis`` without overflow."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(a - peak), axis=axis))


def log_softmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log of the softmax along ``axis``."""
    return a - np.expand_dims(logsumexp(a, axis=axis), axis)


def ordinal_bounds(category: np.ndarray, cutpoints: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-category constants of the ordinal log-likelihood (they depend on the data only).

    With ``P(Y = k) = sigmoid(c_k - eta) - sigmoid(c_{k-1} - eta)`` the identity
    ``sigmoid(b) - sigmoid(a) = sigmoid(b) * sigmoid(-a) * (1 - exp(a - b))`` turns the log of the
    difference into a sum of two log-sigmoids and the constant ``log(1 - exp(c_{k-1} - c_k))``:
    no probabilities are subtracted. The outer categories have one term only; ``has_lower`` and
    ``has_upper`` (0 or 1) switch the missing one off, so no infinite cutpoint enters a gradient.

    Returns
    -------
    lower, upper, has_lower, has_upper, const : ndarray, shape (coding,)
    """
    c = np.asarray(cutpoints, dtype=float)
    category = np.asarray(category, dtype=int)
    has_lower = (category > 0).astype(float)
    has_upper = (category < len(c)).astype(float)
    lower = np.where(has_lower > 0, c[np.clip(category - 1, 0, len(c) - 1)], 0.0)
    upper = np.where(has_upper > 0, c[np.clip(category, 0, len(c) - 1)], 0.0)
    const = np.where(has_lower * has_upper > 0, log1mexp(np.minimum(lower - upper, -1e-300)), 0.0)
    return lower, upper, has_lower, has_upper, const


def ordinal_loglik(latent: np.ndarray, category: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Log OrderedLogistic(category | eta = latent, cutpoints), elementwise.

    Parameters
    ----------
    latent : ndarray, shape (..., coding)
        ``kappa * x[j, t_e]`` per coding.
    category : ndarray of int, shape (coding,)
        Score + 2, in 0..len(cutpoints).
    cutpoints : ndarray, shape (n_categories - 1,)
        Strictly increasing cutpoints.

    Returns
    -------
    ndarray, shape (..., coding)
    """
    lower, upper, has_lower, has_upper, const = ordinal_bounds(category, cutpoints)
    return has_upper * log_sigmoid(upper - latent) + has_lower * log_sigmoid(latent - lower) + const


def interaction_matrix(priors: PriorArrays) -> np.ndarray:
    """One-hot (interaction, scenario) matrix that adds each interaction term to its scenario."""
    out = np.zeros((len(priors.inter_scenario), len(priors.scenarios)))
    out[np.arange(len(priors.inter_scenario)), priors.inter_scenario] = 1.0
    return out


def eta_from(
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    gamma: np.ndarray | None,
    priors: PriorArrays,
) -> np.ndarray:
    """Scenario logits ``eta(x) = alpha + beta @ x (+ interactions)``.

    Parameters
    ----------
    x : ndarray, shape (S..., *extra, driver)
        Driver values; ``extra`` axes (e.g. node or quarter) sit between the sample axes and driver.
    alpha : ndarray, shape (S..., scenario)
        Scenario offsets.
    beta : ndarray, shape (S..., scenario, driver)
        Theory matrix.
    gamma : ndarray, shape (S..., interaction), or None
        Interaction coefficients (None when there are none).
    priors : PriorArrays
        Supplies the interaction layout.

    Returns
    -------
    ndarray, shape (S..., *extra, scenario)
    """
    n_extra = x.ndim - beta.ndim + 1
    expand = (slice(None),) * (alpha.ndim - 1) + (None,) * n_extra
    eta = alpha[expand] + np.einsum("...kj,...j->...k", beta[expand], x)
    if gamma is not None and len(priors.inter_scenario):
        a, b = priors.inter_drivers[:, 0], priors.inter_drivers[:, 1]
        terms = gamma[expand] * x[..., a] * x[..., b]
        eta = eta + terms @ interaction_matrix(priors)
    return eta


def drift_scale(priors: PriorArrays) -> np.ndarray:
    """Per-driver sd of one unit innovation: ``sqrt(nu / (nu - 2))`` for Student-t, else 1.

    The future drift over h quarters is replaced by a Normal with the same variance (a sum of h
    Student-t steps is close to Normal), so the nodes stay standard normal for every driver.
    """
    nu = np.asarray(priors.nu, dtype=float)
    scale = np.ones_like(nu)
    finite = np.isfinite(nu)
    scale[finite] = np.sqrt(nu[finite] / (nu[finite] - 2.0))
    return scale


def log_p_from(
    x_T: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    gamma: np.ndarray | None,
    priors: PriorArrays,
) -> np.ndarray:
    """Log of the structural scenario probabilities at the horizon (MODEL.md §2).

    ``log p = log mean_n softmax(eta(x_T + mu h + sigma sqrt(h) s nu_n))`` over the fixed nodes
    ``priors.nodes``; ``s`` is :func:`drift_scale`.

    Parameters
    ----------
    x_T, mu, sigma : ndarray, shape (S..., driver)
        Driver level in the as_of quarter, trend and volatility per quarter.
    alpha, beta, gamma : ndarray
        As in :func:`eta_from`.
    priors : PriorArrays
        Supplies h, the nodes and the innovation families.

    Returns
    -------
    ndarray, shape (S..., scenario)
    """
    h = float(priors.h)
    centre = x_T + mu * h
    spread = sigma * np.sqrt(h) * drift_scale(priors)
    future = centre[..., None, :] + spread[..., None, :] * priors.nodes
    log_soft = log_softmax(eta_from(future, alpha, beta, gamma, priors))
    n_nodes = priors.nodes.shape[0]
    return logsumexp(log_soft, axis=-2) - np.log(n_nodes)


def ratings_block(log_p: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Log-likelihood of the whole ratings block, ``logsumexp_k(log p[k] + A[k])``, (S...,)."""
    return logsumexp(log_p + block, axis=-1)


def log_q_from(log_p: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``log q = log_softmax(log p + A)``: the log posterior probability of each scenario at H."""
    return log_softmax(log_p + block)


def ratings_delta(log_p: np.ndarray, block: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Exact per-draw change of the ratings block's log-likelihood when A moves by ``change``.

    For removing a rated item e use ``change = -w_e log lambda(r[e])``; for a new item
    ``+w log lambda(r)``. Influence and preview reweight the stored draws by ``exp`` of this.
    """
    return ratings_block(log_p, block + change) - ratings_block(log_p, block)


def coding_loglik(x: np.ndarray, priors: PriorArrays, evidence: EvidenceArrays) -> np.ndarray:
    """Tempered ordinal log-likelihood ``w_e log OrdLogistic`` per coding, shape (S..., coding)."""
    latent = priors.kappa * x[..., evidence.coding_driver, evidence.coding_quarter]
    return evidence.coding_weight * ordinal_loglik(
        latent, evidence.coding_category, priors.cutpoints
    )


def indicator_loglik(
    x: np.ndarray,
    intercept: np.ndarray,
    slope: np.ndarray,
    noise: np.ndarray,
    evidence: EvidenceArrays,
) -> np.ndarray:
    """Return the Normal log density of each indicator observation, shape (S..., obs)."""
    s = evidence.obs_series
    level = x[..., evidence.series_driver[s], evidence.obs_quarter]
    sd = noise[..., s]
    resid = (evidence.obs_value - intercept[..., s] - slope[..., s] * level) / sd
    return evidence.obs_weights * (-0.5 * resid**2 - np.log(sd) - 0.5 * np.log(2.0 * np.pi))


def pointwise_loglik(
    draws: Mapping[str, np.ndarray], priors: PriorArrays, evidence: EvidenceArrays
) -> np.ndarray:
    """Log-likelihood per entry of ``evidence.log_likelihood_labels``.

    Parameters
    ----------
    draws : mapping of str to ndarray
        Posterior draws with leading sample axes: ``x`` (S..., driver, quarter), and when needed
        ``log_p`` (S..., scenario) and ``indicator_intercept``, ``indicator_slope``,
        ``indicator_noise`` (S..., series).
    priors, evidence
        The arrays the model was built from.

    Returns
    -------
    ndarray, shape (S..., evidence_entry)
        Tempered codings, then indicator observations, then one entry for the ratings block.
    """
    x = np.asarray(draws["x"], dtype=float)
    sample_shape = x.shape[:-2]
    parts = [coding_loglik(x, priors, evidence)]
    if evidence.n_obs:
        parts.append(
            indicator_loglik(
                x,
                np.asarray(draws["indicator_intercept"]),
                np.asarray(draws["indicator_slope"]),
                np.asarray(draws["indicator_noise"]),
                evidence,
            )
        )
    if evidence.n_rated:
        block = ratings_block(np.asarray(draws["log_p"], dtype=float), evidence.ratings_block)
        parts.append(block[..., None])
    parts = [np.broadcast_to(p, (*sample_shape, p.shape[-1])) for p in parts]
    return np.concatenate(parts, axis=-1)


def centre_scenarios(values: Any, axis: int = -2) -> Any:
    """Subtract the mean over scenarios: the identified part of ``alpha`` or ``beta``.

    Only differences between scenarios are identified in ``alpha`` and in each column of
    ``beta`` (MODEL.md §2); reports show them centred per driver. ``values`` is an ndarray with the
    scenario axis at ``axis`` (-2 for ``beta`` (..., scenario, driver), -1 for ``alpha``) or an
    xarray DataArray with a ``scenario`` dim (``axis`` is then ignored).
    """
    if hasattr(values, "dims"):
        return values - values.mean(SCENARIO)
    values = np.asarray(values, dtype=float)
    return values - values.mean(axis=axis, keepdims=True)
