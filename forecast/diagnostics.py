"""The diagnostics gate of a fit (MODEL.md §5), on the ArviZ 0.23 API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from forecast.dims import QUARTER
from forecast.io.schema import GateSettings

#: Variables whose bulk and tail ESS the gate checks; x is checked at the as_of quarter only.
ESS_VARS = ("q", "p", "x_H", "x", "mu", "sigma")
#: Deterministics checked by R-hat besides every free variable (the rest are functions of these).
RHAT_DETERMINISTICS = ("q", "p", "x_H", "x", "mu", "alpha", "beta", "gamma")
#: Deterministics of the model that R-hat does not check one by one (functions of the above).
OTHER_DETERMINISTICS = ("log_p", "p_now", "indicator_intercept")
#: Gate thresholds when no settings are given (the shipped priors/sampling.yaml values).
DEFAULT_GATE = {
    "rhat_max": 1.01,
    "ess_bulk_min": 400.0,
    "ess_tail_min": 400.0,
    "divergences_max": 0,
    "ebfmi_min": 0.3,
    "mcse_q_max": 0.005,
}


@dataclass(frozen=True)
class Check:
    """One named check of the gate: the measured value against its threshold."""

    name: str
    value: float
    threshold: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class GateResult:
    """Verdict of the diagnostics gate with every check and the summary figures."""

    passed: bool
    checks: list[Check] = field(default_factory=list)
    rhat_max: float = float("nan")
    ess_bulk_min: float = float("nan")
    ess_tail_min: float = float("nan")
    divergences: int = 0
    ebfmi_min: float = float("nan")
    mcse_max: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready mapping (NaN becomes None)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not np.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean(asdict(self))

    @property
    def failed_checks(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]


def thresholds(gate: GateSettings | Mapping[str, float] | None) -> dict[str, float]:
    """Gate thresholds from settings, a plain mapping (tests may lower them) or the defaults."""
    if gate is None:
        return dict(DEFAULT_GATE)
    if isinstance(gate, GateSettings):
        return {k: float(getattr(gate, k).value) for k in DEFAULT_GATE}
    unknown = set(gate) - set(DEFAULT_GATE)
    if unknown:
        raise ValueError(
            f"unknown gate setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(DEFAULT_GATE)}"
        )
    return {**DEFAULT_GATE, **{k: float(v) for k, v in gate.items()}}


def _split(values: np.ndarray) -> np.ndarray:
    """Split each chain in two halves; with an odd number of draws the middle one is dropped."""
    half = values.shape[1] // 2
    return np.concatenate([values[:, :half], values[:, values.shape[1] - half :]], axis=0)


def _rhat(values: np.ndarray) -> np.ndarray:
    """R-hat of (chain, draw, N) values, vectorised over N (Vehtari et al. 2021, eq. 4)."""
    n = values.shape[1]
    within = values.var(axis=1, ddof=1).mean(axis=0)
    between = n * values.mean(axis=1).var(axis=0, ddof=1)
    return np.sqrt((between / within + n - 1) / n)


def _rank_normal(values: np.ndarray) -> np.ndarray:
    """Rank-normalise (chain, draw, N) values over all chains and draws, per column."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    chains, draws = values.shape[:2]
    flat = values.reshape(chains * draws, -1)
    size = flat.shape[0]
    ranks = rankdata(flat, axis=0, method="average")
    return ndtri((ranks - 0.375) / (size + 0.25)).reshape(values.shape)


def rank_rhat_array(da: xr.DataArray) -> xr.DataArray:
    """Rank-normalised split R-hat (bulk and folded tail, the larger) of every element of ``da``.

    The same number as ``arviz.rhat(method="rank")``, computed for all elements at once rather
    than one element at a time (the gate checks hundreds).
    """
    values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
    shape = values.shape
    flat = values.reshape(shape[0], shape[1], -1)
    out = np.full(flat.shape[2], np.nan)
    pooled = flat.reshape(-1, flat.shape[2])
    ok = np.all(np.isfinite(pooled), axis=0) & (np.ptp(pooled, axis=0) > 0)
    if shape[0] >= 2 and shape[1] >= 4 and ok.any():
        sub = _split(flat[:, :, ok])
        bulk = _rhat(_rank_normal(sub))
        folded = np.abs(sub - np.median(sub.reshape(-1, sub.shape[2]), axis=0))
        tail = _rhat(_rank_normal(folded))
        out[ok] = np.maximum(bulk, tail)
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    return xr.DataArray(
        out.reshape(shape[2:]), dims=dims, coords={d: da.coords[d] for d in dims if d in da.coords}
    )


def _gated(posterior: xr.Dataset) -> xr.Dataset:
    """Select the variables whose ESS is gated, with x at the as_of (last) quarter."""
    out = posterior[[v for v in ESS_VARS if v in posterior]]
    if "x" in out:
        out = out.assign(x=out["x"].isel({QUARTER: -1}))
    return out


def _worst(ds: xr.Dataset, pick: str) -> tuple[float, str]:
    """Max (``pick='max'``) or min of every variable in ``ds`` and where it occurs."""
    best, where = (-np.inf, "") if pick == "max" else (np.inf, "")
    for name, da in ds.data_vars.items():
        values = np.asarray(da.values, dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        flat = np.nanargmax(values) if pick == "max" else np.nanargmin(values)
        v = float(values.ravel()[flat])
        if (pick == "max" and v > best) or (pick == "min" and v < best):
            idx = np.unravel_index(flat, values.shape)
            labels = [
                str(da[d].values[i]) for d, i in zip(da.dims, idx, strict=True) if d in da.coords
            ]
            best, where = v, f"{name}[{', '.join(labels)}]" if labels else name
    # Nothing computable (e.g. R-hat of a single chain) is NaN, which fails the check.
    return (best, where) if np.isfinite(best) else (float("nan"), "")


def check_gate(
    idata: az.InferenceData, gate: GateSettings | Mapping[str, float] | None = None
) -> GateResult:
    """Check a fit against the diagnostics gate (MODEL.md §5).

    Parameters
    ----------
    idata : az.InferenceData
        A fit from :func:`forecast.sampling.sample` (posterior and sample_stats groups).
    gate : GateSettings or mapping, optional
        Thresholds (``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences_max``,
        ``ebfmi_min``, ``mcse_q_max``); defaults to the shipped values.

    Returns
    -------
    GateResult
        ``passed`` is true when every check passes: rank-normalised split R-hat of every free
        variable and key deterministic, bulk and tail ESS of q, p, x_H, x[:, as_of], mu, sigma,
        divergences, E-BFMI of every chain and the MCSE of each E[q_k].
    """
    limits = thresholds(gate)
    post = idata.posterior
    derived = {*RHAT_DETERMINISTICS, *ESS_VARS, *OTHER_DETERMINISTICS}
    free = [v for v in post.data_vars if v not in derived]
    rhat_vars = [v for v in (*free, *RHAT_DETERMINISTICS, "sigma") if v in post]
    rhat, rhat_at = _worst(post[rhat_vars].map(rank_rhat_array), "max")
    gated = _gated(post)
    bulk, bulk_at = _worst(az.ess(gated, method="bulk"), "min")
    tail, tail_at = _worst(az.ess(gated, method="tail"), "min")
    mcse, mcse_at = _worst(az.mcse(post[["q"]], method="mean"), "max")
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    ebfmi = float(np.min(az.bfmi(idata))) if "energy" in idata.sample_stats else float("nan")

    def check(name: str, value: float, limit: float, ok: bool, where: str = "") -> Check:
        return Check(name, float(value), float(limit), bool(ok), where)

    checks = [
        check("rhat", rhat, limits["rhat_max"], rhat <= limits["rhat_max"], rhat_at),
        check("ess_bulk", bulk, limits["ess_bulk_min"], bulk >= limits["ess_bulk_min"], bulk_at),
        check("ess_tail", tail, limits["ess_tail_min"], tail >= limits["ess_tail_min"], tail_at),
        check(
            "divergences",
            divergences,
            limits["divergences_max"],
            divergences <= limits["divergences_max"],
        ),
        # A chain without energy statistics cannot show a good E-BFMI, so NaN fails.
        check("ebfmi", ebfmi, limits["ebfmi_min"], bool(ebfmi >= limits["ebfmi_min"])),
        check("mcse_q", mcse, limits["mcse_q_max"], mcse <= limits["mcse_q_max"], mcse_at),
    ]
    return GateResult(
        passed=all(c.passed for c in checks),
        checks=checks,
        rhat_max=rhat,
        ess_bulk_min=bulk,
        ess_tail_min=tail,
        divergences=divergences,
        ebfmi_min=ebfmi,
        mcse_max=mcse,
    )
