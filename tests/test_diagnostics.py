"""The gate's vectorised R-hat equals ArviZ's rank-normalised split R-hat."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from forecast.diagnostics import rank_rhat_array


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("shape", [(4, 1000, 12), (2, 151, 5), (3, 40, 2)])
def test_rank_rhat_equals_arviz(shape):
    rng = np.random.default_rng(7)
    values = rng.standard_normal(shape)
    values[0] += 0.3  # one chain off, so R-hat is well above 1
    values[..., 0] = np.round(values[..., 0])  # ties
    values[..., 1] = 2.0  # constant: no R-hat
    da = xr.DataArray(values, dims=("chain", "draw", "k"))
    expected = az.rhat(xr.Dataset({"v": da}))["v"].values
    got = rank_rhat_array(da).values
    assert np.isnan(got[1]) and np.isnan(expected[1])
    np.testing.assert_allclose(np.delete(got, 1), np.delete(expected, 1), rtol=1e-12)
    assert np.nanmax(got) > 1.01


def test_rank_rhat_needs_two_chains():
    da = xr.DataArray(
        np.random.default_rng(1).standard_normal((1, 100, 3)), dims=("chain", "draw", "k")
    )
    assert np.all(np.isnan(rank_rhat_array(da).values))
