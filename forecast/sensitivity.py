"""Power-scaling sensitivity of the forecast to the priors and to the likelihood (MODEL.md §7).

ArviZ's ``psens`` (Kallioinen et al. 2024) perturbs the posterior by raising the prior or the
likelihood to a power near 1 (by importance weighting) and measures how much each quantity's
distribution moves. The prior here is the joint density of the priors on x[:, 0], mu, sigma,
alpha (its ZeroSumNormal offsets) and beta (and gamma when enabled) — not the unit innovations —
computed per draw in numpy (:func:`log_prior`); the likelihood is the ``loglik`` variable of the
``log_likelihood`` group. This module imports ArviZ; the preview path never does.

Reading (the priorsense convention, threshold 0.05): prior and likelihood sensitivity both high →
possible prior–data conflict; prior high and likelihood low → the prior dominates (weak data);
otherwise no flag. Each prior family is also power-scaled alone (``prior_by_family``), and a
flag's reading names the family the quantity is most sensitive to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.dims import DRIVER, LOG_LIKELIHOOD_VAR, SCENARIO
from forecast.priors import PriorArrays

#: Sensitivity at or above this value counts as high (Kallioinen et al. 2024).
THRESHOLD = 0.05

CONFLICT = "prior-data conflict"
PRIOR_DOMINATES = "prior dominates"

READINGS = {
    CONFLICT: "the evidence pulls against the prior; check the prior's rationale and the codings",
    PRIOR_DOMINATES: "little evidence informs it; the prior sets it, so state that prior carefully",
}


def _normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    z = (x - mu) / sd
    return -0.5 * z**2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def log_prior(posterior: Any, priors: PriorArrays) -> Any:
    """Per-draw log prior densities, one variable per prior family, as an xarray Dataset.

    ``x0`` (initial levels), ``mu`` (trends), ``sigma`` (HalfNormal volatilities), ``alpha``
    (ZeroSumNormal offsets ``alpha - log pi0``, up to a constant), ``beta`` and, when enabled,
    ``gamma``; each summed over its elements, dims (chain, draw).
    """
    import xarray as xr

    x0 = posterior["x"].values[..., 0]
    parts = {
        "x0": _normal(x0, priors.init_mu, priors.init_sigma).sum(-1),
        "mu": _normal(posterior["mu"].values, priors.trend_mu, priors.trend_sigma).sum(-1),
        "sigma": (_normal(posterior["sigma"].values, 0.0, priors.vol_sigma) + np.log(2)).sum(-1),
        "alpha": (
            -0.5 * ((posterior["alpha"].values - priors.log_pi0) / priors.offset_scale) ** 2
        ).sum(-1),
        "beta": _normal(posterior["beta"].values, priors.beta_mu, priors.beta_sigma).sum((-2, -1)),
    }
    if "gamma" in posterior and len(priors.inter_scenario):
        g = posterior["gamma"].values
        parts["gamma"] = _normal(g, priors.inter_mu, priors.inter_sigma).sum(-1)
    coords = {"chain": posterior["chain"], "draw": posterior["draw"]}
    return xr.Dataset({k: (("chain", "draw"), v) for k, v in parts.items()}, coords=coords)


def _flag(prior: float, likelihood: float) -> str | None:
    if prior >= THRESHOLD and likelihood >= THRESHOLD:
        return CONFLICT
    if prior >= THRESHOLD:
        return PRIOR_DOMINATES
    return None


@dataclass(frozen=True)
class Sensitivity:
    """Prior and likelihood sensitivity of each scenario's q and each driver's x_H."""

    rows: list[dict[str, Any]]

    @property
    def flagged(self) -> list[dict[str, Any]]:
        """Rows with a flag."""
        return [r for r in self.rows if r["flag"]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``scenarios`` and ``drivers`` keyed by id (``scenarios`` hold ``mean``)."""
        out: dict[str, Any] = {"threshold": THRESHOLD, "scenarios": {}, "drivers": {}}
        for r in self.rows:
            key = "scenarios" if r["kind"] == "scenario" else "drivers"
            out[key][r["name"]] = {k: v for k, v in r.items() if k not in ("kind", "name")}
        return out


def sensitivity(idata: Any, priors: PriorArrays) -> Sensitivity:
    """Power-scaling sensitivity (``arviz.psens``) of q per scenario and x_H per driver.

    Parameters
    ----------
    idata
        A run's InferenceData with ``posterior`` and ``log_likelihood`` groups.
    priors
        The prior arrays the run was fitted with.
    """
    import warnings

    import arviz as az

    post = idata.posterior
    data = az.InferenceData(
        posterior=post[["q", "x_H"]],
        log_prior=log_prior(post, priors),
    )
    has_lik = "log_likelihood" in idata.groups() and idata.log_likelihood[LOG_LIKELIHOOD_VAR].size
    if has_lik:
        data.add_groups(log_likelihood=idata.log_likelihood[[LOG_LIKELIHOOD_VAR]])
    families = list(data.log_prior.data_vars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = az.psens(data, component="prior", var_names=["q", "x_H"])
        by_family = {
            f: az.psens(data, component="prior", component_var_names=[f], var_names=["q", "x_H"])
            for f in families
        }
        lik = (
            az.psens(data, component="likelihood", var_names=["q", "x_H"])
            if has_lik
            else prior * 0.0
        )
    rows = []
    for var, dim, kind in (("q", SCENARIO, "scenario"), ("x_H", DRIVER, "driver")):
        for name in post[var][dim].values:
            p = float(prior[var].sel({dim: name}))
            lk = float(lik[var].sel({dim: name}))
            flag = _flag(p, lk)
            fam = {f: float(by_family[f][var].sel({dim: name})) for f in families}
            top = max(fam, key=fam.get)
            reading = f"{READINGS[flag]} (most sensitive prior: {top})" if flag else ""
            rows.append(
                {
                    "kind": kind,
                    "name": str(name),
                    "mean": float(post[var].sel({dim: name}).mean()),
                    "prior": p,
                    "likelihood": lk,
                    "prior_by_family": fam,
                    "flag": flag,
                    "reading": reading,
                }
            )
    return Sensitivity(rows)
