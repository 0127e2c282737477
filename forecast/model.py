"""Build the PyMC graph of the forecast model (MODEL.md §2–§3); never samples.

Parameterisation (non-centred throughout, so the sampler sees unit-scale variables):

- ``x[j, 0] = m_j + s_j * x0_z[j]``, ``mu[j] = d_j + sd_j * mu_z[j]``,
  ``sigma[j] ~ HalfNormal(v_j)``;
- ``x[j, t] = x[j, t-1] + mu[j] + sigma[j] * z[j, t]`` with unit innovations ``z_normal`` (Normal
  drivers) or ``z_student`` (Student-t drivers);
- ``alpha = log pi0 + eps``, ``eps ~ ZeroSumNormal(offset_scale)``; ``beta = b + s_b * beta_z``;
  ``gamma = g + s_g * gamma_z`` for the optional interactions;
- indicator series: slope and noise LogNormal; the level at the driver's first quarter,
  ``a + c x[j, 0]``, is sampled centred and ``a`` derived from it (``_indicator_parameters``).

The likelihood enters as three ``pm.Potential`` terms (``codings``, ``indicators``, ``ratings``),
each the sum of the matching entries of :func:`forecast.likelihood.pointwise_loglik`; the tests
check the two agree. Driver codings use the log-sigmoid form of the ordered logistic rather than
``pm.OrderedLogistic``, which is slow under JAX and takes the log of a difference of probabilities.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.special import softmax

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
from forecast.likelihood import drift_scale, interaction_matrix
from forecast.model_data import (
    DATA_NAMES,
    coding_cells,
    coding_weights,
    data_values,
    free_slots,
    has_evidence,
    model_coords,
    pinned_observations,
)
from forecast.priors import PriorArrays

__all__ = [
    "DATA_NAMES",
    "OUTPUT_VARS",
    "POTENTIALS",
    "build_model",
    "coding_cells",
    "coding_weights",
    "data_values",
    "has_evidence",
    "model_coords",
    "pinned_observations",
]

#: Names of the likelihood potentials.
POTENTIALS = ("codings", "indicators", "ratings", "indicator_pins")

#: Deterministics the outputs are read from (MODEL.md §4).
OUTPUT_VARS = ("q", "p", "log_p", "p_now", "x", "x_H", "mu", "sigma", "alpha", "beta")


def _eta(x: pt.TensorVariable, alpha, beta, gamma, priors: PriorArrays) -> pt.TensorVariable:
    """Scenario logits for driver values ``x``, driver last (mirrors ``likelihood.eta_from``)."""
    return alpha + pt.dot(x, beta.T) + _interactions(x, gamma, priors)


def _interactions(x: pt.TensorVariable, gamma, priors: PriorArrays) -> pt.TensorVariable | float:
    """The interaction terms of the scenario logits (0 without interactions)."""
    if gamma is None:
        return 0.0
    a, b = priors.inter_drivers[:, 0], priors.inter_drivers[:, 1]
    return pt.dot(gamma * x[..., a] * x[..., b], interaction_matrix(priors))


def _eta_at_nodes(x_H, spread, alpha, beta, gamma, priors: PriorArrays) -> pt.TensorVariable:
    """``_eta`` of the future driver values ``x_H + spread * nodes``, shape (node, scenario).

    The linear part is computed as ``beta x_H + nodes (beta * spread)^T``: the same number, but
    the dot's left operand is then the constant node matrix, which makes the gradient 12% faster
    on the shipped project.
    """
    linear = (alpha + pt.dot(beta, x_H))[None, :] + pt.dot(priors.nodes, (beta * spread).T)
    if gamma is None:
        return linear
    return linear + _interactions(x_H[None, :] + spread[None, :] * priors.nodes, gamma, priors)


def _log_sigmoid(x: pt.TensorVariable) -> pt.TensorVariable:
    # Same expression as likelihood.log_sigmoid: finite value and gradient for any x, under JAX too.
    return pt.minimum(x, 0.0) - pt.log1p(pt.exp(-pt.abs(x)))


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
    slots = free_slots(priors, pin_j, pin_q) if priors.n_quarters > 1 else None
    coords = model_coords(priors, evidence, likelihood=likelihood, pin_indicators=pin_indicators)
    with pm.Model(coords=coords) as model:
        data = _data(priors, use if likelihood else None, pins)
        x0_z = pm.Normal("x0_z", 0.0, 1.0, dims=DRIVER)
        mu_z = pm.Normal("mu_z", 0.0, 1.0, dims=DRIVER)
        sigma = pm.HalfNormal("sigma", sigma=priors.vol_sigma, dims=DRIVER)
        mu = pm.Deterministic("mu", priors.trend_mu + priors.trend_sigma * mu_z, dims=DRIVER)
        x0 = priors.init_mu + priors.init_sigma * x0_z
        indicator = _indicator_parameters(use, x0) if use is not None else None
        walk = x0[:, None]
        if slots is not None:
            steps = mu[:, None] + sigma[:, None] * _innovations(priors, slots)
            walk = pt.concatenate([walk, x0[:, None] + pt.cumsum(steps, axis=1)], axis=1)
        if len(pins):
            walk = _pin(walk, mu, sigma, indicator, pins, pin_j, pin_q, priors, use, data)
        x = pm.Deterministic("x", walk, dims=(DRIVER, QUARTER))
        h = data["horizon_steps"]
        x_H = pm.Deterministic("x_H", x[:, data["as_of_index"]] + mu * h, dims=DRIVER)

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

        spread = sigma * pt.sqrt(h) * drift_scale(priors)
        # p is the mean over the future-drift nodes of a (max-shifted, so stable) softmax; in
        # float64 no scenario's share underflows for any realistic logit, and it needs half the
        # exponentials of the log-sum-exp form.
        eta_nodes = _eta_at_nodes(x_H, spread, alpha, beta, gamma, priors)
        p = pm.Deterministic("p", pt.mean(softmax(eta_nodes, axis=-1), axis=0), dims=SCENARIO)
        log_p = pm.Deterministic("log_p", pt.log(p), dims=SCENARIO)
        pm.Deterministic(
            "p_now",
            softmax(_eta(x.T, alpha, beta, gamma, priors), axis=-1),
            dims=(QUARTER, SCENARIO),
        )

        block = np.zeros(len(priors.scenarios))
        if use is not None and likelihood:
            block = data.get("ratings_block", block)
            _add_likelihood(x, log_p, indicator, block, priors, use, pins, data)
        pm.Deterministic("q", softmax(log_p + block), dims=SCENARIO)
    return model


def _data(priors: PriorArrays, evidence: EvidenceArrays | None, pins: np.ndarray) -> dict:
    """Register the data containers of these inputs in the model being built."""
    return {name: pm.Data(name, value) for name, value in data_values(priors, evidence).items()}


def _innovations(priors: PriorArrays, slots: dict[str, tuple]) -> pt.TensorVariable:
    """Build unit innovations z (driver, step); pinned slots stay 0 (the pin sets the path).

    z is gathered from the sampled innovations and a trailing zero by a constant index rather than
    written into a grid of zeros with ``set_subtensor``: JAX differentiates that scatter by
    scattering ids to find which write wins, 4% of the gradient at 2,000 items.
    """
    index = np.full((len(priors.drivers), priors.n_quarters - 1), -1)
    parts = []
    j, t, _ = slots["normal"]
    if len(j):
        parts.append(pm.Normal("z_normal", 0.0, 1.0, dims=INNOVATION_NORMAL))
        index[j, t] = np.arange(len(j))
    offset = len(j)
    j, t, _ = slots["student"]
    if len(j):
        parts.append(
            pm.StudentT("z_student", nu=priors.nu[j], mu=0.0, sigma=1.0, dims=INNOVATION_STUDENT)
        )
        index[j, t] = offset + np.arange(len(j))
    offset += len(j)
    index[index < 0] = offset
    return pt.concatenate([*parts, pt.zeros(1)])[index]


def _pin(
    walk,
    mu,
    sigma,
    indicator,
    pins,
    pin_j,
    pin_q,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    data: dict,
) -> pt.TensorVariable:
    """Anchor the walk at the pinned observations; add their walk step and observation density.

    An observation of weight w (1, or 0 when masked) enters the conditional with precision
    ``w c^2 / sd^2`` and its density times w: at w = 0 the pin is a plain non-centred step.
    """
    intercept, slope, noise = indicator
    resid = pm.Normal("indicator_resid", 0.0, 1.0, dims=PIN)
    series = evidence.obs_series[pins]
    a, c, sd = intercept[series], slope[series], noise[series]
    y, w = data["obs_value"][pins], data["obs_weight"][pins]
    step_sd = sigma[pin_j] * drift_scale(priors)[pin_j]
    # Gaussian conditional of x[j, q] given the step into it and the observation:
    # mean = gain * before + offset, sd = post_sd.
    post_sd = 1.0 / pt.sqrt(1.0 / step_sd**2 + w * c**2 / sd**2)
    gain = post_sd**2 / step_sd**2
    offset = post_sd**2 * w * c * (y - a) / sd**2 + post_sd * resid
    # The unpinned walk has a plain drift step into each pinned quarter, so walk[j, q] is the
    # "before" of the pin when no earlier pin shifted the driver. Each pin shifts the rest of its
    # driver's path by shift_k = anchor_k - walk[j, q]; a pin's "before" carries the shift of the
    # latest earlier pin on its driver: a short linear recurrence, run in time order.
    base = walk[pin_j, pin_q]
    shifts: list = [None] * len(pins)
    latest: dict[int, pt.TensorVariable] = {}
    for k in np.argsort(pin_q, kind="stable"):
        j = int(pin_j[k])
        prev = latest.get(j)
        before = base[k] if prev is None else base[k] + prev
        shifts[k] = gain[k] * before + offset[k] - base[k]
        latest[j] = shifts[k]
    shift = pt.stack(shifts)
    earlier = np.array([_previous_pin(pin_j, pin_q, k) for k in range(len(pins))])
    prior_shift = pt.concatenate([pt.zeros(1), shift])[earlier + 1]
    before = base + prior_shift
    anchor = base + shift
    x = walk + pt.concatenate([pt.zeros(1), shift])[_last_pin(priors, pin_j, pin_q)]
    z = (anchor - before) / sigma[pin_j]
    obs = w * (-0.5 * ((y - a - c * anchor) / sd) ** 2 - pt.log(sd))
    logp = _unit_logp(z, priors.nu[pin_j]) - pt.sum(pt.log(sigma[pin_j])) + pt.sum(obs)
    # Change of variables z -> resid: + log post_sd; resid's own N(0, 1) density (its
    # -0.5 log 2 pi stands in for the observation's) is taken back out.
    logp = logp + pt.sum(pt.log(post_sd)) + 0.5 * pt.sum(resid**2)
    pm.Potential("indicator_pins", logp)
    return x


def _previous_pin(pin_j: np.ndarray, pin_q: np.ndarray, k: int) -> int:
    """Index of the latest pin on pin k's driver before it, or -1."""
    earlier = np.flatnonzero((pin_j == pin_j[k]) & (pin_q < pin_q[k]))
    return int(earlier[np.argmax(pin_q[earlier])]) if len(earlier) else -1


def _indicator_parameters(evidence: EvidenceArrays, x0: pt.TensorVariable) -> tuple | None:
    """Intercept, slope and noise of each indicator series (None without observations).

    Only ``a + c x`` is identified by a few observations, which makes a curved ridge between the
    intercept, the slope and the driver's level. So the model samples, centred, the series'
    expected value at the driver's first-quarter level, ``level = a + c x[j, 0]`` (its prior
    given c and x[j, 0] is Normal(a0 + c x[j, 0], sa)), and derives ``a = level - c x[j, 0]``:
    the same prior (the map from a to level is a shift, Jacobian 1), but the observations pin
    ``level`` directly, whatever the slope.
    """
    if not evidence.n_obs:
        return None
    slope = pm.LogNormal(
        "indicator_slope", mu=evidence.slope_log_mu, sigma=evidence.slope_log_sd, dims=SERIES
    )
    noise = pm.LogNormal(
        "indicator_noise", mu=evidence.noise_log_mu, sigma=evidence.noise_log_sd, dims=SERIES
    )
    start = slope * x0[evidence.series_driver]
    level = pm.Normal(
        "indicator_level", evidence.intercept_mu + start, evidence.intercept_sigma, dims=SERIES
    )
    intercept = pm.Deterministic("indicator_intercept", level - start, dims=SERIES)
    return intercept, slope, noise


def _add_likelihood(
    x,
    log_p,
    indicator,
    block,
    priors: PriorArrays,
    evidence: EvidenceArrays,
    pins: np.ndarray,
    data: dict,
) -> None:
    """Add the tempered evidence terms as potentials (mirrors ``likelihood.pointwise_loglik``)."""
    if evidence.n_codings:
        # Sufficient statistics (coding_weights): log sigmoid(kappa x - c) is
        # log sigmoid(c - kappa x) + kappa x - c, so one log-sigmoid per cell and cutpoint serves
        # both bounds.
        cell_j, cell_t, _ = coding_cells(evidence)
        gap = priors.cutpoints - priors.kappa * x[cell_j, cell_t][:, None]  # (cell, cutpoint)
        upper, lower = data["coding_upper_weight"], data["coding_lower_weight"]
        ll = pt.sum((upper + lower) * _log_sigmoid(gap)) - pt.sum(lower * gap)
        pm.Potential("codings", ll + data["coding_const"])
    rest = np.setdiff1d(np.arange(evidence.n_obs), pins)
    if len(rest):
        intercept, slope, noise = indicator
        s = evidence.obs_series[rest]
        level = x[evidence.series_driver[s], evidence.obs_quarter[rest]]
        resid = (data["obs_value"][rest] - intercept[s] - slope[s] * level) / noise[s]
        ll = -0.5 * resid**2 - pt.log(noise[s]) - 0.5 * np.log(2.0 * np.pi)
        pm.Potential("indicators", pt.sum(data["obs_weight"][rest] * ll))
    if evidence.n_rated:
        pm.Potential("ratings", pt.logsumexp(log_p + block))
