"""The prior in numpy: forward simulation of MODEL.md §2 and the implied prior forecast.

Used by ``forecast priors`` (no PyMC import) and as the reference of the prior check
(MODEL.md §6.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast.io.project import ProjectSpec
from forecast.likelihood import log_p_from
from forecast.priors import PriorArrays, prior_arrays


def simulate_prior(priors: PriorArrays, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Draw ``n`` times from the prior: the drivers' paths and the structural parameters.

    Returns arrays with the draw axis first: ``x`` (draw, driver, quarter), ``mu``, ``sigma``
    (draw, driver), ``alpha`` (draw, scenario), ``beta`` (draw, scenario, driver), ``gamma``
    (draw, interaction), ``log_p`` and ``p`` (draw, scenario).
    """
    rng = np.random.default_rng(seed)
    n_drivers, n_scen, n_q = len(priors.drivers), len(priors.scenarios), priors.n_quarters
    x0 = rng.normal(priors.init_mu, priors.init_sigma, size=(n, n_drivers))
    mu = rng.normal(priors.trend_mu, priors.trend_sigma, size=(n, n_drivers))
    sigma = np.abs(rng.normal(0.0, priors.vol_sigma, size=(n, n_drivers)))
    z = rng.standard_normal((n, n_drivers, max(n_q - 1, 0)))
    t_mask = np.isfinite(priors.nu)
    if t_mask.any():
        nu = priors.nu[t_mask]
        z[:, t_mask, :] = rng.standard_t(nu[None, :, None], size=(n, int(t_mask.sum()), n_q - 1))
    steps = mu[:, :, None] + sigma[:, :, None] * z
    x = np.concatenate([x0[:, :, None], x0[:, :, None] + np.cumsum(steps, axis=2)], axis=2)
    eps = rng.normal(0.0, priors.offset_scale, size=(n, n_scen))
    alpha = priors.log_pi0 + eps - eps.mean(axis=1, keepdims=True)
    beta = rng.normal(priors.beta_mu, priors.beta_sigma, size=(n, n_scen, n_drivers))
    gamma = rng.normal(priors.inter_mu, priors.inter_sigma, size=(n, len(priors.inter_mu)))
    log_p = log_p_from(x[:, :, priors.as_of_position], mu, sigma, alpha, beta, gamma, priors)
    return {
        "x": x,
        "mu": mu,
        "sigma": sigma,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "log_p": log_p,
        "p": np.exp(log_p),
    }


def prior_report(spec: ProjectSpec, draws: int = 4000, seed: int = 0) -> dict[str, Any]:
    """The converted prior parameters and the implied prior forecast, as JSON-ready data."""
    priors = prior_arrays(spec)
    sim = simulate_prior(priors, draws, seed)
    tail = (1.0 - priors.interval_mass) / 2.0
    lower, upper = np.quantile(sim["p"], [tail, 1.0 - tail], axis=0)
    mean = sim["p"].mean(axis=0)
    baselines = np.exp(priors.log_pi0)
    scenarios = [
        {
            "id": s,
            "baseline": float(baselines[k]),
            "mean": float(mean[k]),
            "lower": float(lower[k]),
            "upper": float(upper[k]),
        }
        for k, s in enumerate(priors.scenarios)
    ]
    drivers = [
        {
            "id": d,
            "initial": {"mu": float(priors.init_mu[j]), "sigma": float(priors.init_sigma[j])},
            "trend": {"mu": float(priors.trend_mu[j]), "sigma": float(priors.trend_sigma[j])},
            "volatility": {"sigma": float(priors.vol_sigma[j])},
            "innovations": "normal"
            if not np.isfinite(priors.nu[j])
            else f"student_t(nu={priors.nu[j]:g})",
        }
        for j, d in enumerate(priors.drivers)
    ]
    theory = {
        s: {
            d: {"mu": float(priors.beta_mu[k, j]), "sigma": float(priors.beta_sigma[k, j])}
            for j, d in enumerate(priors.drivers)
        }
        for k, s in enumerate(priors.scenarios)
    }
    return {
        "project": spec.project.name,
        "as_of": str(spec.as_of),
        "horizon": str(spec.horizon),
        "interval_mass": priors.interval_mass,
        "draws": draws,
        "drivers": drivers,
        "theory": theory,
        "interactions": [
            {"term": label, "mu": float(m), "sigma": float(s)}
            for label, m, s in zip(
                priors.interaction_labels, priors.inter_mu, priors.inter_sigma, strict=True
            )
        ],
        "offset_scale": priors.offset_scale,
        "scenarios": scenarios,
    }
