"""The gate's vectorised R-hat, ESS, MCSE and E-BFMI equal ArviZ's."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from forecast.diagnostics import (
    bfmi,
    check_gate,
    ess_bulk,
    ess_tail,
    mcse_mean,
    rank_rhat_array,
)


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


def _autocorrelated(shape, phi, seed):
    """AR(1) draws of (chain, draw, ...) shape, with chain offsets, ties and a constant."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape)
    values = np.empty(shape)
    values[:, 0] = noise[:, 0]
    for t in range(1, shape[1]):
        values[:, t] = phi * values[:, t - 1] + noise[:, t]
    values += 0.1 * np.arange(shape[0]).reshape(-1, *[1] * (len(shape) - 1))
    flat = values.reshape(shape[0], shape[1], -1)
    flat[..., 0] = np.round(flat[..., 0])  # ties
    flat[..., 1] = 2.0  # constant
    return values


@pytest.mark.parametrize(
    ("shape", "phi"),
    [
        ((4, 1000, 6), 0.9),
        ((4, 1000, 3, 2), 0.3),
        ((2, 151, 5), -0.4),  # anti-correlated, odd draws
        ((3, 40, 3), 0.98),  # short and strongly correlated: truncation early
        ((1, 200, 4), 0.7),  # one chain
        ((2, 5, 3), 0.0),  # shortest chains ArviZ handles
        ((1, 4, 3), 0.5),
    ],
)
def test_ess_and_mcse_equal_arviz(shape, phi):
    values = _autocorrelated(shape, phi, seed=sum(shape))
    ds = xr.Dataset({"v": (("chain", "draw", *(f"d{i}" for i in range(len(shape) - 2))), values)})
    for got, expected in [
        (ess_bulk(values), az.ess(ds, method="bulk")["v"].values),
        (ess_tail(values), az.ess(ds, method="tail")["v"].values),
        (mcse_mean(values), az.mcse(ds, method="mean")["v"].values),
    ]:
        assert got.shape == expected.shape == shape[2:]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_ess_and_mcse_without_numba():
    """ArviZ's plain-numpy variances (numba disabled) give the same numbers."""
    values = _autocorrelated((4, 300, 4), 0.8, seed=3)
    ds = xr.Dataset({"v": (("chain", "draw", "k"), values)})
    was_on = az.Numba.numba_flag
    az.Numba.disable_numba()
    try:
        expected = [
            az.ess(ds, method="bulk")["v"].values,
            az.ess(ds, method="tail")["v"].values,
            az.mcse(ds, method="mean")["v"].values,
        ]
    finally:
        if was_on:
            az.Numba.enable_numba()
    for got, exp in zip(
        [ess_bulk(values), ess_tail(values), mcse_mean(values)], expected, strict=True
    ):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-14)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_diagnostics_of_nan_and_too_few_draws_are_nan():
    values = _autocorrelated((2, 100, 3), 0.5, seed=5)
    values[1, 10, 2] = np.nan
    ds = xr.Dataset({"v": (("chain", "draw", "k"), values)})
    for func, method, arviz_func in [
        (ess_bulk, "bulk", az.ess),
        (ess_tail, "tail", az.ess),
        (mcse_mean, "mean", az.mcse),
    ]:
        got = func(values)
        expected = arviz_func(ds, method=method)["v"].values
        assert np.isnan(got[2]) and np.isnan(expected[2])
        np.testing.assert_allclose(got[:2], expected[:2], rtol=1e-10, atol=1e-14)
        assert np.all(np.isnan(func(values[:, :3])))


def test_constant_element_has_full_ess_and_zero_mcse():
    values = _autocorrelated((2, 51, 3), 0.5, seed=9)
    assert ess_bulk(values)[1] == ess_tail(values)[1] == 2 * 2 * 25
    assert mcse_mean(values)[1] == 0.0


@pytest.mark.parametrize("chains", [1, 2, 4])
def test_bfmi_equals_arviz(chains):
    rng = np.random.default_rng(chains)
    energy = 50.0 + np.cumsum(rng.standard_normal((chains, 500)), axis=1) * 0.3
    energy += rng.standard_normal((chains, 500)) * 5
    stats = xr.Dataset({"energy": (("chain", "draw"), energy)})
    expected = az.bfmi(az.InferenceData(sample_stats=stats))
    np.testing.assert_allclose(bfmi(energy), expected, rtol=1e-10)


def test_gate_matches_arviz_on_a_fit():
    """check_gate's ESS, MCSE and E-BFMI, with their worst elements, are ArviZ's."""
    rng = np.random.default_rng(11)
    coords = {"scenario": ["a", "b", "c"], "driver": ["u", "v"]}
    posterior = xr.Dataset(
        {
            "q": (("chain", "draw", "scenario"), _autocorrelated((4, 400, 3), 0.6, 1) * 0.01 + 0.3),
            "mu": (("chain", "draw", "driver"), _autocorrelated((4, 400, 2), 0.8, 2)),
            "sigma": (("chain", "draw", "driver"), np.exp(rng.standard_normal((4, 400, 2)))),
        },
        coords=coords,
    )
    posterior["q"][..., 1] = rng.standard_normal((4, 400)) * 0.01 + 0.3  # not constant
    posterior["mu"][..., 1] = rng.standard_normal((4, 400))
    stats = xr.Dataset(
        {
            "energy": (("chain", "draw"), rng.standard_normal((4, 400)) * 3 + 20),
            "diverging": (("chain", "draw"), np.zeros((4, 400), dtype=bool)),
        }
    )
    idata = az.InferenceData(posterior=posterior, sample_stats=stats)
    result = check_gate(idata)
    by_name = {c.name: c for c in result.checks}
    bulk = az.ess(posterior, method="bulk")
    tail = az.ess(posterior, method="tail")
    mcse = az.mcse(posterior[["q"]], method="mean")["q"]
    for name, ds in [("ess_bulk", bulk), ("ess_tail", tail)]:
        values = {v: ds[v].values for v in ("q", "mu", "sigma")}
        worst = min((float(x.min()), v) for v, x in values.items())
        np.testing.assert_allclose(by_name[name].value, worst[0], rtol=1e-10)
        assert by_name[name].detail.startswith(worst[1] + "[")
    np.testing.assert_allclose(by_name["mcse_q"].value, float(mcse.max()), rtol=1e-10)
    label = str(mcse["scenario"].values[int(np.argmax(mcse.values))])
    assert by_name["mcse_q"].detail == f"q[{label}]"
    np.testing.assert_allclose(by_name["ebfmi"].value, np.min(az.bfmi(idata)), rtol=1e-10)
