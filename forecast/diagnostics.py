"""The diagnostics gate of a fit (MODEL.md §5), with ArviZ 0.23's diagnostics in numpy.

R-hat, bulk and tail ESS, the MCSE of the mean and E-BFMI are computed here for every element of
a variable at once, to the same numbers as ``arviz.rhat``, ``arviz.ess``, ``arviz.mcse`` and
``arviz.bfmi`` (tests/test_diagnostics.py compares them), so that the gate neither imports ArviZ
nor loops over elements one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from forecast.dims import QUARTER
from forecast.io.schema import GateSettings

if TYPE_CHECKING:
    import arviz as az

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


#: Ranges of values below this count as constant (ArviZ: ``np.finfo(float).resolution``).
_RESOLUTION = float(np.finfo(float).resolution)
#: ArviZ's minimum number of draws for any of its diagnostics.
_MIN_DRAWS = 4
#: Quantiles whose indicator ESS is the tail ESS (ArviZ's default).
_TAIL_PROBS = (0.05, 0.95)


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
    """Rank-normalise (chain, draw, N) values over all chains and draws, per column.

    The normal scores of ArviZ's ``_z_scale``: ``ndtri((rank - 3/8) / (S + 1/4))`` of the ranks
    of ``scipy.stats.rankdata(method="average")`` among all S values of the column. One unstable
    sort of contiguous rows gives the ranks (the average rank of a tie does not depend on the
    order within it), and the scores of untied values are looked up rather than recomputed.
    """
    from scipy.special import ndtri

    chains, draws = values.shape[:2]
    size = chains * draws
    rows = np.ascontiguousarray(values.reshape(size, -1).T)  # (N, S)
    order = np.argsort(rows, axis=1)
    ranked = np.take_along_axis(rows, order, axis=1)
    pos = np.arange(size)
    scores = np.empty(rows.shape)
    scores[:] = ndtri((pos + 1.0 - 0.375) / (size + 0.25))
    starts = np.ones(ranked.shape, dtype=bool)  # first of a run of equal values
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    tied_rows = ~starts.all(axis=1)
    if tied_rows.any():
        starts = starts[tied_rows]
        ends = np.ones(starts.shape, dtype=bool)  # last of a run of equal values
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, pos, size - 1)[:, ::-1], axis=1)[:, ::-1]
        tied = ~(starts & ends)
        sub = scores[tied_rows]
        average = (first[tied] + last[tied]) / 2.0 + 1.0
        sub[tied] = ndtri((average - 0.375) / (size + 0.25))
        scores[tied_rows] = sub
    out = np.empty(rows.shape)
    out[np.arange(rows.shape[0])[:, None], order] = scores
    return out.T.reshape(values.shape)


def _autocov(series: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis, by FFT (ArviZ's ``autocov``)."""
    from scipy.fft import next_fast_len

    n = series.shape[-1]
    size = next_fast_len(2 * n, real=True)  # ArviZ pads to scipy.fftpack's fast length
    centred = series - series.mean(axis=-1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=size, axis=-1)
    spectrum *= np.conjugate(spectrum)
    return np.fft.irfft(spectrum, n=size, axis=-1)[..., :n] / n


def _ess(values: np.ndarray) -> np.ndarray:
    """ESS of each column of (chain, draw, N) values, vectorised over N (ArviZ's ``_ess``).

    Autocorrelations from the FFT autocovariance of every chain, summed in pairs of lags up to
    the first pair whose sum is not positive (Geyer's initial positive sequence), the pair sums
    made non-increasing (initial monotone sequence), as ArviZ 0.23 does it lag by lag: the same
    lags, the same last even lag and the same floor on the autocorrelation time. A column with a
    NaN has no ESS and a constant column has the full sample size.
    """
    chains, n, cols = values.shape
    total = chains * n
    out = np.full(cols, np.nan)
    if cols == 0 or n < 2:
        return out
    flat = values.reshape(total, cols)
    nan = np.isnan(flat).any(axis=0)
    with np.errstate(invalid="ignore"):
        constant = ~nan & ((flat.max(axis=0) - flat.min(axis=0)) < _RESOLUTION)
    out[constant] = total
    todo = ~nan & ~constant
    if not todo.any():
        return out
    series = np.ascontiguousarray(np.moveaxis(values[:, :, todo], 1, -1))  # (chain, N, draw)
    with np.errstate(divide="ignore", invalid="ignore"):
        acov = _autocov(series).mean(axis=0)  # (N, lag), averaged over chains
        mean_var = acov[:, 0] * n / (n - 1.0)
        var_plus = mean_var * (n - 1.0) / n
        if chains > 1:
            var_plus = var_plus + series.mean(axis=-1).var(axis=0, ddof=1)
        rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    pairs = n // 2
    sums = rho[:, 0 : 2 * pairs : 2] + rho[:, 1 : 2 * pairs : 2]  # rho[2k] + rho[2k+1]
    # Pair k >= 1 is looked at while 2k - 1 < n - 3 and every earlier pair sum was positive.
    last = max((n - 1) // 2 - 1, 0)
    stop = ~(sums[:, : last + 1] > 0)
    k = np.where(stop.any(axis=1), stop.argmax(axis=1), last)
    rows = np.arange(k.size)
    monotone = np.minimum.accumulate(sums[:, : last + 1], axis=1)
    below = np.arange(last + 1) < k[:, None]
    paired = np.where(below, monotone, 0.0).sum(axis=1)
    # The even lag after the last pair counts alone: kept when its pair was, or when positive.
    even = rho[rows, 2 * k]
    even = np.where((k == 0) | (sums[rows, k] >= 0) | (even > 0), even, 0.0)
    tau = -1.0 + 2.0 * paired + even
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho[:, 1]) | np.isnan(tau)] = np.nan
    out[todo] = ess
    return out


def _columns(values: Any) -> np.ndarray:
    """(chain, draw, N) float view of (chain, draw, ...) values."""
    values = np.asarray(values, dtype=float)
    return values.reshape(values.shape[0], values.shape[1], -1)


def _per_column(values: Any, compute: Any) -> np.ndarray:
    """``compute`` of the (chain, draw, N) columns without NaN, reshaped like the elements.

    Elements with a NaN, and all elements when there are fewer than ArviZ's minimum of draws,
    are NaN.
    """
    flat = _columns(values)
    out = np.full(flat.shape[2], np.nan)
    ok = ~np.isnan(flat).any(axis=(0, 1))
    if flat.shape[1] >= _MIN_DRAWS and ok.any():
        out[ok] = compute(flat[:, :, ok])
    return out.reshape(np.shape(values)[2:])


def ess_bulk(values: Any) -> np.ndarray:
    """Bulk ESS (rank-normalised split chains) of every element of (chain, draw, ...) values.

    The same number as ``arviz.ess(method="bulk")`` for each element, computed for all at once.
    """
    return _per_column(values, lambda sub: _ess(_rank_normal(_split(sub))))


def _quantile(flat: np.ndarray, prob: float) -> np.ndarray:
    """Quantile of each column of (S, N) values, R's type 7 exactly as ``mquantiles`` does it."""
    n = flat.shape[0]
    p = np.float64(prob)
    aleph = n * p + (1.0 + p * (1.0 - 1 - 1))
    k = int(np.floor(np.clip(aleph, 1, n - 1)))
    gamma = np.clip(aleph - k, 0, 1)
    part = np.partition(flat, [k - 1, k], axis=0)
    return (1.0 - gamma) * part[k - 1] + gamma * part[k]


def ess_tail(values: Any) -> np.ndarray:
    """Tail ESS of every element of (chain, draw, ...) values.

    The smaller ESS of the split-chain indicators of the 5% and 95% quantiles, the same number as
    ``arviz.ess(method="tail")`` for each element.
    """

    def tail(sub: np.ndarray) -> np.ndarray:
        pooled = sub.reshape(-1, sub.shape[2])
        low, high = (_ess(_split((sub <= _quantile(pooled, p)).astype(float))) for p in _TAIL_PROBS)
        return np.where(high < low, high, low)  # Python's min(low, high), as ArviZ takes it

    return _per_column(values, tail)


def mcse_mean(values: Any) -> np.ndarray:
    """Monte Carlo standard error of the mean of every element of (chain, draw, ...) values.

    The sd over all draws over the square root of the split-chain ESS of the mean, the same number
    as ``arviz.mcse(method="mean")`` for each element.
    """

    def mcse(sub: np.ndarray) -> np.ndarray:
        sd = sub.reshape(-1, sub.shape[2]).std(axis=0, ddof=1)
        return sd / np.sqrt(_ess(_split(sub)))

    return _per_column(values, mcse)


def bfmi(energy: Any) -> np.ndarray:
    """E-BFMI of every chain of (chain, draw) energies, the numbers of ``arviz.bfmi``."""
    energy = np.atleast_2d(np.asarray(energy, dtype=float))
    num = np.square(np.diff(energy, axis=1)).mean(axis=1)
    return num / energy.var(axis=1, ddof=1)


def rank_rhat(values: Any) -> np.ndarray:
    """Rank-normalised split R-hat (bulk and folded tail, the larger) of (chain, draw, ...) values.

    The same number as ``arviz.rhat(method="rank")`` for each element; NaN for constant elements,
    elements with a NaN or inf, and fewer than 2 chains or 4 draws.
    """
    flat = _columns(values)
    out = np.full(flat.shape[2], np.nan)
    pooled = flat.reshape(-1, flat.shape[2])
    ok = np.all(np.isfinite(pooled), axis=0) & (np.ptp(pooled, axis=0) > 0)
    if flat.shape[0] >= 2 and flat.shape[1] >= _MIN_DRAWS and ok.any():
        sub = _split(flat[:, :, ok])
        bulk = _rhat(_rank_normal(sub))
        folded = np.abs(sub - np.median(sub.reshape(-1, sub.shape[2]), axis=0))
        tail = _rhat(_rank_normal(folded))
        out[ok] = np.maximum(bulk, tail)
    return out.reshape(np.shape(values)[2:])


def per_element(da: xr.DataArray, func: Any) -> xr.DataArray:
    """``func`` of the (chain, draw, ...) values of ``da``, labelled by its other dims."""
    values = da.transpose("chain", "draw", ...).values
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    return xr.DataArray(
        func(values), dims=dims, coords={d: da.coords[d] for d in dims if d in da.coords}
    )


def rank_rhat_array(da: xr.DataArray) -> xr.DataArray:
    """Rank-normalised split R-hat (bulk and folded tail, the larger) of every element of ``da``.

    The same number as ``arviz.rhat(method="rank")``, computed for all elements at once rather
    than one element at a time (the gate checks hundreds).
    """
    return per_element(da, rank_rhat)


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
    rhat, rhat_at = _worst(post[rhat_vars].map(per_element, args=(rank_rhat,)), "max")
    gated = _gated(post)
    bulk, bulk_at = _worst(gated.map(per_element, args=(ess_bulk,)), "min")
    tail, tail_at = _worst(gated.map(per_element, args=(ess_tail,)), "min")
    mcse, mcse_at = _worst(post[["q"]].map(per_element, args=(mcse_mean,)), "max")
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    ebfmi = (
        float(np.min(bfmi(stats["energy"].transpose("chain", "draw").values)))
        if "energy" in stats
        else float("nan")
    )

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
