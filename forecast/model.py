"""Build the PyMC graph of the forecast model (MODEL.md §2–§3); never samples.

Parameterisation (non-centred throughout, so the sampler sees unit-scale variables):

- ``x[j, 0] = m_j + s_j * x0_z[j]``, ``mu[j] = d_j + sd_j * mu_z[j]``,
  ``sigma[j] ~ HalfNormal(v_j)``;
- ``x[j, t] = x[j, t-1] + mu[j] + sigma[j] * z[j, t]`` with unit innovations ``z_normal`` (Normal
  drivers) or ``z_student`` (Student-t drivers);
- ``alpha = log pi0 + eps``, ``eps ~ ZeroSumNormal(offset_scale)``; ``beta = b + s_b * beta_z``;
  ``gamma = g + s_g * gamma_z`` for the optional interactions;
- indicator series: ``a = a0 + sa * indicator_intercept_z``, slope and noise LogNormal.

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

from forecast.dims import (
    DRIVER,
    INNOVATION_NORMAL,
    INNOVATION_STUDENT,
    INTERACTION,
    PIN,
    QUARTER,
    SCENARIO,
    SERIES,
)
from forecast.evidence import EvidenceArrays
from forecast.likelihood import drift_scale, interaction_matrix, ordinal_bounds
from forecast.priors import PriorArrays

#: Names of the likelihood potentials.
POTENTIALS = ("codings", "indicators", "ratings", "indicator_pins")

#: Deterministics the outputs are read from (MODEL.md §4).
OUTPUT_VARS = ("q", "p", "log_p", "p_now", "x", "x_H", "mu", "sigma", "alpha", "beta")


def _eta(x: pt.TensorVariable, alpha, beta, gamma, priors: PriorArrays) -> pt.TensorVariable:
    """Scenario logits for driver values ``x``, driver last (mirrors ``likelihood.eta_from``)."""
    eta = alpha + pt.dot(x, beta.T)
    if gamma is not None:
        a, b = priors.inter_drivers[:, 0], priors.inter_drivers[:, 1]
        eta = eta + pt.dot(gamma * x[..., a] * x[..., b], interaction_matrix(priors))
    return eta


def _log_sigmoid(x: pt.TensorVariable) -> pt.TensorVariable:
    # Same expression as likelihood.log_sigmoid: finite value and gradient for any x, under JAX too.
    return pt.minimum(x, 0.0) - pt.log1p(pt.exp(-pt.abs(x)))


def pinned_observations(priors: PriorArrays, evidence: EvidenceArrays | None) -> np.ndarray:
    """Return the indicator observations that anchor the driver path (indices into obs).

    An indicator pins its driver tightly when its noise is small; in the plain non-centred walk
    that makes a funnel between the noise sd and the innovations (hundreds of divergences on the
    shipped project), and a fully centred pin has the mirror funnel when the noise is large. So for
    the first observation of each (driver, quarter > 0) the model samples, instead of that
    quarter's innovation, ``u ~ N(0, 1)`` with ``x[j, q] = m + s u``, where ``m`` and ``s`` are the
    mean and sd of x[j, q] given the step into it and the observation alone (a one-step Kalman
    update). It is centred where the data are strong and non-centred where they are weak. The
    walk step's density, the observation's density and the Jacobian ``log s`` enter as the
    potential ``indicator_pins``; the posterior is unchanged (the tests check the densities).
    """
    if evidence is None or not evidence.n_obs or priors.n_quarters < 2:
        return np.zeros(0, dtype=int)
    seen, pins = set(), []
    for i, (s, q) in enumerate(zip(evidence.obs_series, evidence.obs_quarter, strict=True)):
        key = (int(evidence.series_driver[s]), int(q))
        if q > 0 and key not in seen:
            seen.add(key)
            pins.append(i)
    return np.array(pins, dtype=int)


def _free_slots(priors: PriorArrays, pin_j: np.ndarray, pin_q: np.ndarray) -> dict[str, tuple]:
    """(driver, step) indices of the sampled innovations, split by family, and their labels."""
    free = np.ones((len(priors.drivers), priors.n_quarters - 1), dtype=bool)
    free[pin_j, pin_q - 1] = False
    out = {}
    for name, mask in (("normal", ~priors.student_t), ("student", priors.student_t)):
        j, t = np.nonzero(free & mask[:, None])
        labels = [
            f"{priors.drivers[a]}:{priors.quarters[b + 1]}" for a, b in zip(j, t, strict=True)
        ]
        out[name] = (j, t, labels)
    return out


def _last_pin(priors: PriorArrays, pin_j: np.ndarray, pin_q: np.ndarray) -> np.ndarray:
    """(driver, quarter) index into [0, offsets of pins...] of the latest pin at or before t."""
    last = np.zeros((len(priors.drivers), priors.n_quarters), dtype=int)
    for k in np.argsort(pin_q, kind="stable"):
        last[pin_j[k], pin_q[k] :] = k + 1
    return last


def _unit_logp(z: pt.TensorVariable, nu: np.ndarray) -> pt.TensorVariable:
    """Sum of the unit-innovation log densities, Normal where nu is infinite, else Student-t."""
    finite = np.isfinite(nu)
    total = pt.sum(-0.5 * z[~finite] ** 2) - 0.5 * np.log(2 * np.pi) * int((~finite).sum())
    if finite.any():
        total = total + pt.sum(
            pm.logp(pm.StudentT.dist(nu=nu[finite], mu=0.0, sigma=1.0), z[finite])
        )
    return total


def has_evidence(evidence: EvidenceArrays | None) -> bool:
    """Whether ``evidence`` holds anything the likelihood uses."""
    return evidence is not None and bool(evidence.n_codings or evidence.n_obs or evidence.n_rated)


def build_model(
    priors: PriorArrays,
    evidence: EvidenceArrays | None = None,
    *,
    likelihood: bool = True,
    pin_indicators: bool = True,
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
    pin_indicators : bool
        Anchor the path at indicator observations (:func:`pinned_observations`); the same
        posterior, sampled without the noise funnel. ``False`` is the plain form, for tests.

    Returns
    -------
    pm.Model
        With deterministics ``q``, ``p``, ``log_p`` (scenario), ``p_now`` (quarter, scenario),
        ``x`` (driver, quarter), ``x_H``, ``mu``, ``sigma`` (driver), ``alpha`` (scenario),
        ``beta`` (scenario, driver), ``gamma`` (interaction) when enabled, and the indicator
        parameters ``indicator_intercept``, ``indicator_slope``, ``indicator_noise`` (series).
    """
    use = evidence if has_evidence(evidence) else None
    pins = pinned_observations(priors, use) if (likelihood and pin_indicators) else np.zeros(0, int)
    pin_j = use.series_driver[use.obs_series[pins]] if len(pins) else np.zeros(0, int)
    pin_q = use.obs_quarter[pins] if len(pins) else np.zeros(0, int)
    slots = _free_slots(priors, pin_j, pin_q) if priors.n_quarters > 1 else None
    coords = {
        SCENARIO: list(priors.scenarios),
        DRIVER: list(priors.drivers),
        QUARTER: list(priors.quarters),
        INTERACTION: priors.interaction_labels,
        SERIES: list(use.series) if use is not None and use.n_obs else [],
        PIN: [use.obs_labels[i] for i in pins] if len(pins) else [],
    }
    if slots is not None:
        coords[INNOVATION_NORMAL] = slots["normal"][2]
        coords[INNOVATION_STUDENT] = slots["student"][2]
    with pm.Model(coords=coords) as model:
        indicator = _indicator_parameters(use) if use is not None else None
        x0_z = pm.Normal("x0_z", 0.0, 1.0, dims=DRIVER)
        mu_z = pm.Normal("mu_z", 0.0, 1.0, dims=DRIVER)
        sigma = pm.HalfNormal("sigma", sigma=priors.vol_sigma, dims=DRIVER)
        mu = pm.Deterministic("mu", priors.trend_mu + priors.trend_sigma * mu_z, dims=DRIVER)
        x0 = priors.init_mu + priors.init_sigma * x0_z
        walk = x0[:, None]
        if slots is not None:
            steps = mu[:, None] + sigma[:, None] * _innovations(priors, slots)
            walk = pt.concatenate([walk, x0[:, None] + pt.cumsum(steps, axis=1)], axis=1)
        if len(pins):
            x = pm.Deterministic(
                "x",
                _pin(walk, mu, sigma, indicator, pins, pin_j, pin_q, priors, use),
                dims=(DRIVER, QUARTER),
            )
        else:
            x = pm.Deterministic("x", walk, dims=(DRIVER, QUARTER))
        x_H = pm.Deterministic("x_H", x[:, -1] + mu * priors.h, dims=DRIVER)

        eps = pm.ZeroSumNormal("eps", sigma=priors.offset_scale, dims=SCENARIO)
        alpha = pm.Deterministic("alpha", priors.log_pi0 + eps, dims=SCENARIO)
        beta_z = pm.Normal("beta_z", 0.0, 1.0, dims=(SCENARIO, DRIVER))
        beta = pm.Deterministic(
            "beta", priors.beta_mu + priors.beta_sigma * beta_z, dims=(SCENARIO, DRIVER)
        )
        gamma = None
        if len(priors.inter_scenario):
            gamma_z = pm.Normal("gamma_z", 0.0, 1.0, dims=INTERACTION)
            gamma = pm.Deterministic(
                "gamma", priors.inter_mu + priors.inter_sigma * gamma_z, dims=INTERACTION
            )

        spread = sigma * np.sqrt(float(priors.h)) * drift_scale(priors)
        future = x_H[None, :] + spread[None, :] * priors.nodes  # (node, driver)
        log_soft = log_softmax(_eta(future, alpha, beta, gamma, priors), axis=-1)
        log_p = pm.Deterministic(
            "log_p", pt.logsumexp(log_soft, axis=0) - np.log(priors.nodes.shape[0]), dims=SCENARIO
        )
        pm.Deterministic("p", pt.exp(log_p), dims=SCENARIO)
        pm.Deterministic(
            "p_now",
            softmax(_eta(x.T, alpha, beta, gamma, priors), axis=-1),
            dims=(QUARTER, SCENARIO),
        )

        block = np.zeros(len(priors.scenarios))
        if use is not None and likelihood:
            block = use.ratings_block
            _add_likelihood(x, log_p, indicator, block, priors, use, pins)
        pm.Deterministic("q", softmax(log_p + block), dims=SCENARIO)
    return model


def _innovations(priors: PriorArrays, slots: dict[str, tuple]) -> pt.TensorVariable:
    """Build unit innovations z (driver, step); pinned slots stay 0 (the pin sets the path)."""
    z = pt.zeros((len(priors.drivers), priors.n_quarters - 1))
    j, t, _ = slots["normal"]
    if len(j):
        z = pt.set_subtensor(z[j, t], pm.Normal("z_normal", 0.0, 1.0, dims=INNOVATION_NORMAL))
    j, t, _ = slots["student"]
    if len(j):
        z_t = pm.StudentT("z_student", nu=priors.nu[j], mu=0.0, sigma=1.0, dims=INNOVATION_STUDENT)
        z = pt.set_subtensor(z[j, t], z_t)
    return z


def _pin(
    walk, mu, sigma, indicator, pins, pin_j, pin_q, priors: PriorArrays, evidence: EvidenceArrays
) -> pt.TensorVariable:
    """Anchor the walk at the pinned observations; add their walk step and observation density."""
    intercept, slope, noise = indicator
    resid = pm.Normal("indicator_resid", 0.0, 1.0, dims=PIN)
    scale = drift_scale(priors)
    x, logp = walk, pt.zeros(())
    # Pins depend on the path before them, so they are set in time order (few: one per obs).
    for k in np.argsort(pin_q, kind="stable"):
        j, q, s = int(pin_j[k]), int(pin_q[k]), int(evidence.obs_series[pins[k]])
        a, c, sd, y = intercept[s], slope[s], noise[s], float(evidence.obs_value[pins[k]])
        before = x[j, q - 1] + mu[j]
        step_sd = sigma[j] * scale[j]
        # Gaussian conditional of x[j, q] given the step into it and the observation.
        post_sd = 1.0 / pt.sqrt(1.0 / step_sd**2 + c**2 / sd**2)
        post_mean = post_sd**2 * (before / step_sd**2 + c * (y - a) / sd**2)
        anchor = post_mean + post_sd * resid[k]
        x = pt.inc_subtensor(x[j, q:], anchor - x[j, q])
        z = (anchor - before) / sigma[j]
        obs = -0.5 * ((y - a - c * anchor) / sd) ** 2 - pt.log(sd)
        logp = logp + _unit_logp(z[None], priors.nu[[j]]) - pt.log(sigma[j]) + obs
        # Change of variables z -> resid: + log post_sd; resid's own N(0, 1) density (its
        # -0.5 log 2 pi stands in for the observation's) is taken back out.
        logp = logp + pt.log(post_sd) + 0.5 * resid[k] ** 2
    pm.Potential("indicator_pins", logp)
    return x


def _indicator_parameters(evidence: EvidenceArrays) -> tuple | None:
    """Intercept, slope and noise of each indicator series (None without observations)."""
    if not evidence.n_obs:
        return None
    a_z = pm.Normal("indicator_intercept_z", 0.0, 1.0, dims=SERIES)
    intercept = pm.Deterministic(
        "indicator_intercept", evidence.intercept_mu + evidence.intercept_sigma * a_z, dims=SERIES
    )
    slope = pm.LogNormal(
        "indicator_slope", mu=evidence.slope_log_mu, sigma=evidence.slope_log_sd, dims=SERIES
    )
    noise = pm.LogNormal(
        "indicator_noise", mu=evidence.noise_log_mu, sigma=evidence.noise_log_sd, dims=SERIES
    )
    return intercept, slope, noise


def _add_likelihood(
    x,
    log_p,
    indicator,
    block: np.ndarray,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    pins: np.ndarray,
) -> None:
    """Add the tempered evidence terms as potentials (mirrors ``likelihood.pointwise_loglik``)."""
    if evidence.n_codings:
        lower, upper, has_lower, has_upper, const = ordinal_bounds(
            evidence.coding_category, priors.cutpoints
        )
        latent = priors.kappa * x[evidence.coding_driver, evidence.coding_quarter]
        ll = has_upper * _log_sigmoid(upper - latent) + has_lower * _log_sigmoid(latent - lower)
        pm.Potential("codings", pt.sum(evidence.coding_weight * (ll + const)))
    rest = np.setdiff1d(np.arange(evidence.n_obs), pins)
    if len(rest):
        intercept, slope, noise = indicator
        s = evidence.obs_series[rest]
        level = x[evidence.series_driver[s], evidence.obs_quarter[rest]]
        resid = (evidence.obs_value[rest] - intercept[s] - slope[s] * level) / noise[s]
        ll = -0.5 * resid**2 - pt.log(noise[s]) - 0.5 * np.log(2.0 * np.pi)
        pm.Potential("indicators", pt.sum(ll))
    if evidence.n_rated:
        pm.Potential("ratings", pt.logsumexp(log_p + block))
