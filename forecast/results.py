"""Tables and numbers from a posterior: scenario probabilities, drivers, honest digits.

Pure functions of an ``InferenceData`` (or its posterior Dataset); nothing here samples or writes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from forecast.dims import DRIVER, QUARTER, SCENARIO

SAMPLE_DIMS = ("chain", "draw")


def stack_draws(da: xr.DataArray) -> xr.DataArray:
    """Merge chain and draw into one ``sample`` dim (last), whatever the input layout."""
    dims = [d for d in SAMPLE_DIMS if d in da.dims]
    return da.stack(sample=dims).transpose(..., "sample") if dims else da


def interval(da: xr.DataArray, mass: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Equal-tailed interval of ``mass`` over the draws."""
    s = stack_draws(da)
    tail = (1.0 - mass) / 2.0
    lower = s.quantile(tail, dim="sample").drop_vars("quantile")
    upper = s.quantile(1.0 - tail, dim="sample").drop_vars("quantile")
    return lower, upper


def mcse_mean(da: xr.DataArray) -> xr.DataArray:
    """Monte Carlo standard error of the mean per element, sd / sqrt(ESS) with ArviZ's bulk ESS.

    Falls back to sd / sqrt(n) when there is a single chain too short for ESS.
    """
    from forecast.diagnostics import mcse_mean as mcse
    from forecast.diagnostics import per_element

    out = per_element(da, mcse)
    if np.all(np.isnan(out.values)):
        s = stack_draws(da)
        return s.std("sample") / math.sqrt(s.sizes["sample"])
    return out


def digits_for(mcse: float, max_digits: int = 3) -> int:
    """Decimals supported by the Monte Carlo error: the largest d with 2·MCSE < 0.5·10^-d."""
    if not np.isfinite(mcse) or mcse <= 0:
        return max_digits
    d = math.floor(-math.log10(4.0 * mcse))
    return int(min(max(d, 0), max_digits))


def summarize_variable(
    da: xr.DataArray, mass: float, mcse: xr.DataArray | None = None
) -> dict[str, dict[str, float]]:
    """Mean, equal-tailed interval, MCSE and supported digits for each element of a 1-D variable."""
    (dim,) = [d for d in da.dims if d not in SAMPLE_DIMS]
    mean = stack_draws(da).mean("sample")
    lower, upper = interval(da, mass)
    mcse = mcse_mean(da) if mcse is None else mcse
    out = {}
    for label in da[dim].values:
        sel = {dim: label}
        err = float(mcse.sel(sel))
        out[str(label)] = {
            "mean": float(mean.sel(sel)),
            "lower": float(lower.sel(sel)),
            "upper": float(upper.sel(sel)),
            "mcse": err,
            "digits": digits_for(err),
        }
    return out


def forecast_summary(posterior: xr.Dataset, mass: float) -> dict[str, Any]:
    """Scenario probabilities (q) and drivers now (x at as_of) and at the horizon (x_H)."""
    scenarios = summarize_variable(posterior["q"], mass)
    now = summarize_variable(posterior["x"].isel({QUARTER: -1}), mass)
    horizon = summarize_variable(posterior["x_H"], mass)
    drivers = {d: {"now": now[d], "horizon": horizon[d]} for d in posterior[DRIVER].values}
    return {"scenarios": scenarios, "drivers": drivers}


def scenario_frame(posterior: xr.Dataset, mass: float):
    """The scenario table as a pandas DataFrame (index: scenario)."""
    import pandas as pd

    table = summarize_variable(posterior["q"], mass)
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = SCENARIO
    return frame


def fmt(value: float, digits: int) -> str:
    """Format a number with exactly ``digits`` decimals."""
    return f"{value:.{digits}f}"
