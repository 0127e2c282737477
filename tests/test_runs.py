"""Run folders: posterior.nc reads back as the InferenceData that was saved."""

from __future__ import annotations

import datetime as dt

import arviz as az
import numpy as np
import pytest
import xarray as xr

from forecast.io.runs import POSTERIOR_FILE, find_run, load_draws, save_run


def _idata() -> az.InferenceData:
    rng = np.random.default_rng(3)
    scenarios = ["entente", "rivalry", "drift"]
    drivers = ["power_asymmetry", "trade"]
    post = xr.Dataset(
        {
            "q": (("chain", "draw", "scenario"), rng.dirichlet(np.ones(3), (2, 50))),
            "x": (("chain", "draw", "driver", "quarter"), rng.standard_normal((2, 50, 2, 4))),
            "mu": (("chain", "draw", "driver"), rng.standard_normal((2, 50, 2))),
            "sigma": (("chain", "draw", "driver"), np.exp(rng.standard_normal((2, 50, 2)))),
        },
        coords={
            "chain": [0, 1],
            "draw": np.arange(50),
            "scenario": scenarios,
            "driver": drivers,
            "quarter": ["2026Q1", "2026Q2", "2026Q3", "2026Q4"],
        },
        attrs={"created_at": "2026-11-30T00:00:00", "inference_library": "pymc"},
    )
    prior = xr.Dataset(
        {"mu": (("chain", "draw", "driver"), rng.standard_normal((1, 30, 2)))},
        coords={"chain": [0], "draw": np.arange(30), "driver": drivers},
    )
    loglik = xr.Dataset(
        {"loglik": (("chain", "draw", "evidence"), rng.standard_normal((2, 50, 5)))},
        coords={"chain": [0, 1], "draw": np.arange(50), "evidence": [f"e{i}" for i in range(5)]},
    )
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), rng.random((2, 50)) < 0.05),
            "energy": (("chain", "draw"), rng.standard_normal((2, 50)) + 20),
            "n_steps": (("chain", "draw"), rng.integers(1, 64, (2, 50))),
            "step_size": (("chain", "draw"), np.full((2, 50), 0.3, dtype=np.float32)),
        },
        coords={"chain": [0, 1], "draw": np.arange(50)},
    )
    return az.InferenceData(
        posterior=post,
        prior=prior,
        log_likelihood=loglik,
        sample_stats=stats,
        attrs={"project": "shipped"},
    )


@pytest.mark.parametrize("with_attrs", [True, False])
def test_saved_posterior_reads_back_as_arviz_writes_it(tmp_path, with_attrs):
    idata = _idata()
    if not with_attrs:
        idata.attrs.clear()
    reference = tmp_path / "reference.nc"
    idata.to_netcdf(str(reference))  # ArviZ's own writer
    run = save_run(
        tmp_path / "project",
        idata,
        {"seed": 7},
        {"ok": True},
        now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
        ratings_block=np.arange(3.0),
    )
    got = az.from_netcdf(run.path / POSTERIOR_FILE)
    expected = az.from_netcdf(reference)
    assert got.groups() == expected.groups() == idata.groups()
    assert dict(got.attrs) == dict(expected.attrs)
    for group in expected.groups():
        xr.testing.assert_identical(got[group], expected[group])
        xr.testing.assert_identical(got[group], idata[group])
        for name, var in expected[group].variables.items():
            assert got[group][name].dtype == var.dtype, (group, name)
    # The run is complete and readable, with its draws cache.
    assert find_run(tmp_path / "project").name == run.name == "20261130T000000Z-s7"
    draws, extras = load_draws(run)
    np.testing.assert_array_equal(draws["mu"], idata.posterior["mu"].values.reshape(100, 2))
    np.testing.assert_array_equal(extras["ratings_block"], np.arange(3.0))
