"""Build the PyMC graph of the forecast model (MODEL.md §2–§3); never samples.

Parameterisation (non-centred throughout, so the sampler sees unit-scale variables):

- ``x[j, 0] = m_j + s_j * x0_z[j]``, ``mu[j] = d_j + sd_j * mu_z[j]``, ``sigma[j] ~ HalfNormal(v_j)``;
- ``x[j, t] = x[j, t-1] + mu[j] + sigma[j] * z[j, t]`` with unit innovations ``z_normal`` (Normal
  drivers) or ``z_student`` (Student-t drivers);
- ``alpha = log pi0 + eps``, ``eps ~ ZeroSumNormal(offset_scale)``; ``beta = b + s_b * beta_z``;
  ``gamma = g + s_g * gamma_z`` for the optional interactions;
- indicator series: ``a = a0 + sa * indicator_intercept_z``, slope and noise HalfNormal.

The likelihood enters as three ``pm.Potential`` terms (``codings``, ``indicators``, ``ratings``),
each the sum of the matching entries of :func:`forecast.likelihood.pointwise_loglik`; the tests
check the two agree. Driver codings use the log-sigmoid form of the ordered logistic rather than
``pm.OrderedLogistic``, which is slow under JAX and takes the log of a difference of probabilities.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax, softmax

from forecast.dims import DRIVER, INTERACTION, QUARTER, SCENARIO
from forecast.evidence import EvidenceArrays
from forecast.likelihood import drift_scale, interaction_matrix, ordinal_bounds
from forecast.priors import PriorArrays

#: Model-internal dims (not part of the output contract of ARCHITECTURE.md).
STEP = "step"  # quarters 1..T-1, the random walk's innovations
SERIES = "series"  # indicator series
DRIVER_NORMAL = "driver_normal"
DRIVER_STUDENT = "driver_student"

#: Names of the likelihood potentials, in the order of ``log_likelihood_labels``.
POTENTIALS = ("codings", "indicators", "ratings")

#: Deterministics the outputs are read from (MODEL.md §4).
OUTPUT_VARS = ("q", "p", "log_p", "p_now", "x", "x_H", "mu", "sigma", "alpha", "beta")


def _eta(x: pt.TensorVariable, alpha, beta, gamma, priors: PriorArrays) -> pt.TensorVariable:
    """Scenario logits for driver values ``x`` with driver last (mirrors ``likelihood.eta_from``)."""
    eta = alpha + pt.dot(x, beta.T)
    if gamma is not None:
        a, b = priors.inter_drivers[:, 0], priors.inter_drivers[:, 1]
        eta = eta + pt.dot(gamma * x[..., a] * x[..., b], interaction_matrix(priors))
    return eta


def _log_sigmoid(x: pt.TensorVariable) -> pt.TensorVariable:
    return -pt.softplus(-x)


def _innovations(priors: PriorArrays) -> pt.TensorVariable:
    """Unit innovations z (driver, step): Normal or Student-t per driver, in driver order."""
    t_mask = priors.student_t
    normal_idx, t_idx = np.flatnonzero(~t_mask), np.flatnonzero(t_mask)
    parts = []
    if len(normal_idx):
        parts.append(pm.Normal("z_normal", 0.0, 1.0, dims=(DRIVER_NORMAL, STEP)))
    if len(t_idx):
        nu = priors.nu[t_idx][:, None]
        parts.append(pm.StudentT("z_student", nu=nu, mu=0.0, sigma=1.0, dims=(DRIVER_STUDENT, STEP)))
    z = parts[0] if len(parts) == 1 else pt.concatenate(parts, axis=0)
    # Stacking put the Normal drivers first; this permutation restores the drivers' order.
    order = np.argsort(np.concatenate([normal_idx, t_idx]))
    return z if np.array_equal(order, np.arange(len(order))) else z[order]


def _coords(priors: PriorArrays, evidence: EvidenceArrays | None) -> dict[str, list[str]]:
    drivers = np.array(priors.drivers)
    coords = {
        SCENARIO: list(priors.scenarios),
        DRIVER: list(priors.drivers),
        QUARTER: list(priors.quarters),
        STEP: list(priors.quarters[1:]),
        DRIVER_NORMAL: list(drivers[~priors.student_t]),
        DRIVER_STUDENT: list(drivers[priors.student_t]),
        INTERACTION: priors.interaction_labels,
    }
    if evidence is not None and evidence.n_obs:
        coords[SERIES] = list(evidence.series)
    return coords


def has_evidence(evidence: EvidenceArrays | None) -> bool:
    """Whether ``evidence`` holds anything the likelihood uses."""
    return evidence is not None and bool(evidence.n_codings or evidence.n_obs or evidence.n_rated)


def build_model(
    priors: PriorArrays, evidence: EvidenceArrays | None = None, *, likelihood: bool = True
) -> pm.Model:
    """Build the forecast model; with no evidence (or ``likelihood=False``) it is the prior model.

    Parameters
    ----------
    priors : PriorArrays
        Priors, time grid and the fixed future-drift nodes.
    evidence : EvidenceArrays or None
        Driver codings, indicator observations and scenario ratings; ``None`` or empty gives the
        prior. A weight-0 coding stays in the graph and contributes exactly 0.
    likelihood : bool
        Whether to add the evidence terms. ``False`` keeps the evidence's own parameters (the
        indicator series') so that prior and posterior hold the same variables.

    Returns
    -------
    pm.Model
        With deterministics ``q``, ``p``, ``log_p`` (scenario), ``p_now`` (quarter, scenario),
        ``x`` (driver, quarter), ``x_H``, ``mu``, ``sigma`` (driver), ``alpha`` (scenario),
        ``beta`` (scenario, driver), ``gamma`` (interaction) when enabled, and the indicator
        parameters ``indicator_intercept``, ``indicator_slope``, ``indicator_noise`` (series).
    """
    n_quarters = priors.n_quarters
    with pm.Model(coords=_coords(priors, evidence)) as model:
        x0_z = pm.Normal("x0_z", 0.0, 1.0, dims=DRIVER)
        mu_z = pm.Normal("mu_z", 0.0, 1.0, dims=DRIVER)
        sigma = pm.HalfNormal("sigma", sigma=priors.vol_sigma, dims=DRIVER)
        mu = pm.Deterministic("mu", priors.trend_mu + priors.trend_sigma * mu_z, dims=DRIVER)
        x0 = priors.init_mu + priors.init_sigma * x0_z
        if n_quarters > 1:
            steps = mu[:, None] + sigma[:, None] * _innovations(priors)
            path = pt.concatenate([x0[:, None], x0[:, None] + pt.cumsum(steps, axis=1)], axis=1)
        else:
            path = x0[:, None]
        x = pm.Deterministic("x", path, dims=(DRIVER, QUARTER))
        x_T = x[:, -1]
        x_H = pm.Deterministic("x_H", x_T + mu * priors.h, dims=DRIVER)

        eps = pm.ZeroSumNormal("eps", sigma=priors.offset_scale, dims=SCENARIO)
        alpha = pm.Deterministic("alpha", priors.log_pi0 + eps, dims=SCENARIO)
        beta_z = pm.Normal("beta_z", 0.0, 1.0, dims=(SCENARIO, DRIVER))
        beta = pm.Deterministic("beta", priors.beta_mu + priors.beta_sigma * beta_z,
                                dims=(SCENARIO, DRIVER))
        gamma = None
        if len(priors.inter_scenario):
            gamma_z = pm.Normal("gamma_z", 0.0, 1.0, dims=INTERACTION)
            gamma = pm.Deterministic("gamma", priors.inter_mu + priors.inter_sigma * gamma_z,
                                     dims=INTERACTION)

        spread = sigma * np.sqrt(float(priors.h)) * drift_scale(priors)
        future = x_H[None, :] + spread[None, :] * priors.nodes  # (node, driver)
        log_soft = log_softmax(_eta(future, alpha, beta, gamma, priors), axis=-1)
        log_p = pm.Deterministic(
            "log_p", pt.logsumexp(log_soft, axis=0) - np.log(priors.nodes.shape[0]), dims=SCENARIO
        )
        pm.Deterministic("p", pt.exp(log_p), dims=SCENARIO)
        pm.Deterministic("p_now", softmax(_eta(x.T, alpha, beta, gamma, priors), axis=-1),
                         dims=(QUARTER, SCENARIO))

        block = np.zeros(len(priors.scenarios))
        if evidence is not None:
            indicator = _indicator_parameters(evidence)
            if likelihood:
                block = evidence.ratings_block
                _add_likelihood(x, log_p, indicator, block, priors, evidence)
        pm.Deterministic("q", softmax(log_p + block), dims=SCENARIO)
    return model


def _indicator_parameters(evidence: EvidenceArrays) -> tuple | None:
    """Intercept, slope and noise of each indicator series (None without observations)."""
    if not evidence.n_obs:
        return None
    a_z = pm.Normal("indicator_intercept_z", 0.0, 1.0, dims=SERIES)
    intercept = pm.Deterministic(
        "indicator_intercept", evidence.intercept_mu + evidence.intercept_sigma * a_z, dims=SERIES
    )
    slope = pm.HalfNormal("indicator_slope", sigma=evidence.slope_sigma, dims=SERIES)
    noise = pm.HalfNormal("indicator_noise", sigma=evidence.noise_sigma, dims=SERIES)
    return intercept, slope, noise


def _add_likelihood(
    x, log_p, indicator, block: np.ndarray, priors: PriorArrays, evidence: EvidenceArrays
) -> None:
    """Add the tempered evidence terms as potentials (mirrors ``likelihood.pointwise_loglik``)."""
    if evidence.n_codings:
        lower, upper, const = ordinal_bounds(evidence.coding_category, priors.cutpoints)
        latent = priors.kappa * x[evidence.coding_driver, evidence.coding_quarter]
        ll = _log_sigmoid(upper - latent) + _log_sigmoid(latent - lower) + const
        pm.Potential("codings", pt.sum(evidence.coding_weight * ll))
    if indicator is not None:
        intercept, slope, noise = indicator
        s = evidence.obs_series
        level = x[evidence.series_driver[s], evidence.obs_quarter]
        resid = (evidence.obs_value - intercept[s] - slope[s] * level) / noise[s]
        ll = -0.5 * resid**2 - pt.log(noise[s]) - 0.5 * np.log(2.0 * np.pi)
        pm.Potential("indicators", pt.sum(ll))
    if evidence.n_rated:
        pm.Potential("ratings", pt.logsumexp(log_p + block))
