"""T3: tiny real NUTS runs (groups, names, determinism) and the diagnostics gate."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
import xarray as xr

from forecast.diagnostics import check_gate, thresholds
from forecast.dims import EVIDENCE
from forecast.dims import LOG_LIKELIHOOD_VAR as LOGLIK_VAR
from tests.model_factory import make_evidence, make_priors

TINY = {"draws": 150, "tune": 150, "chains": 2, "target_accept": 0.9, "prior_draws": 100}


@pytest.fixture(scope="module")
def project():
    priors = make_priors(n_quarters=6, n_nodes=16, student_t=(1,))
    evidence = make_evidence(
        priors,
        codings=[(0, 2, 1, 1.0), (1, 5, -1, 0.6), (0, 4, 0, 0.0)],
        ratings=[({0: "CC", 2: "II"}, 0.8)],
        indicator=(1, [(3, 0.4), (5, 0.6)]),
    )
    return priors, evidence


@pytest.fixture(scope="module")
def fit(project):
    from forecast.sampling import sample

    priors, evidence = project
    return sample(priors, evidence, seed=11, **TINY)


@pytest.mark.sampling
def test_groups_names_and_dims(fit, project) -> None:
    _priors, evidence = project
    assert {"posterior", "prior", "log_likelihood", "sample_stats"} <= set(fit.groups())
    post = fit.posterior
    for name in ("q", "p", "log_p", "p_now", "x", "x_H", "mu", "sigma", "alpha", "beta"):
        assert name in post and name in fit.prior, name
    assert post["x"].dims == ("chain", "draw", "driver", "quarter")
    assert post.sizes["draw"] == TINY["draws"] and post.sizes["chain"] == TINY["chains"]
    ll = fit.log_likelihood[LOGLIK_VAR]
    assert list(ll[EVIDENCE].values) == evidence.log_likelihood_labels
    assert np.all(np.isfinite(ll.values))
    assert np.all(ll.sel({EVIDENCE: "e002:d0"}).values == 0.0)  # weight-0 coding
    np.testing.assert_allclose(fit.prior["q"], fit.prior["p"])
    assert "diverging" in fit.sample_stats and "energy" in fit.sample_stats
    assert post.attrs["backend"] == "numpyro" and post.attrs["seed"] == 11


@pytest.mark.sampling
def test_netcdf_round_trip(fit, tmp_path) -> None:
    path = tmp_path / "fit.nc"
    fit.to_netcdf(str(path))
    back = az.from_netcdf(str(path))
    xr.testing.assert_identical(back.posterior["q"], fit.posterior["q"])


@pytest.mark.sampling
@pytest.mark.parametrize("backend", ["numpyro", "pymc"])
def test_same_seed_same_draws(project, backend) -> None:
    """MODEL.md §6.5."""
    from forecast.sampling import sample

    priors, evidence = project
    settings = {**TINY, "draws": 60, "tune": 60, "prior_draws": 20}
    a = sample(priors, evidence, seed=5, backend=backend, **settings)
    b = sample(priors, evidence, seed=5, backend=backend, **settings)
    for group in ("posterior", "prior", "log_likelihood"):
        for name in ("x", "q") if group != "log_likelihood" else (LOGLIK_VAR,):
            np.testing.assert_array_equal(a[group][name].values, b[group][name].values)


@pytest.mark.sampling
def test_nutpie_backend_runs(project) -> None:
    from forecast.sampling import sample

    priors, evidence = project
    fit = sample(
        priors,
        evidence,
        seed=3,
        backend="nutpie",
        **{**TINY, "draws": 60, "tune": 60, "prior_draws": 0},
    )
    assert fit.posterior.sizes["draw"] == 60 and "prior" not in fit.groups()
    assert "diverging" in fit.sample_stats


@pytest.mark.sampling
def test_gate_on_a_real_fit(fit) -> None:
    low = {
        "ess_bulk_min": 20,
        "ess_tail_min": 20,
        "rhat_max": 1.2,
        "mcse_q_max": 0.2,
        "divergences_max": 10,
    }
    lenient = check_gate(fit, low)
    assert lenient.passed, lenient.failed_checks
    strict = check_gate(fit, {**low, "ess_bulk_min": 1e6})
    assert not strict.passed
    assert [c.name for c in strict.failed_checks] == ["ess_bulk"]
    json.dumps(strict.as_dict())


def _synthetic_idata(diverging: bool = False, stuck_chain: bool = False) -> az.InferenceData:
    rng = np.random.default_rng(0)
    chains, draws = 4, 500
    q = rng.dirichlet([5, 3, 2], size=(chains, draws))
    if stuck_chain:
        q[0] = q[0, :1]
    x = rng.normal(size=(chains, draws, 2, 5))
    post = xr.Dataset(
        {
            "q": (("chain", "draw", "scenario"), q),
            "p": (("chain", "draw", "scenario"), q),
            "x": (("chain", "draw", "driver", "quarter"), x),
            "x_H": (("chain", "draw", "driver"), x[..., -1]),
            "mu": (("chain", "draw", "driver"), rng.normal(size=(chains, draws, 2))),
            "sigma": (("chain", "draw", "driver"), rng.gamma(2, size=(chains, draws, 2))),
        }
    )
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((chains, draws), bool) | diverging),
            "energy": (
                ("chain", "draw"),
                rng.normal(size=(chains, draws)).cumsum(1) * 0.01
                + rng.normal(size=(chains, draws)),
            ),
        }
    )
    return az.InferenceData(posterior=post, sample_stats=stats)


def test_gate_passes_independent_draws() -> None:
    result = check_gate(_synthetic_idata(), {"mcse_q_max": 0.01})
    assert result.passed, result.failed_checks
    assert result.divergences == 0 and result.rhat_max < 1.01


def test_gate_fails_on_divergences_and_stuck_chain() -> None:
    bad = check_gate(_synthetic_idata(diverging=True, stuck_chain=True))
    names = {c.name for c in bad.failed_checks}
    assert {"divergences", "rhat", "ess_bulk"} <= names
    assert bad.as_dict()["passed"] is False


def test_gate_thresholds_from_settings_and_mapping() -> None:
    assert thresholds(None)["rhat_max"] == 1.01
    assert thresholds({"ess_bulk_min": 50})["ess_bulk_min"] == 50
    with pytest.raises(ValueError, match="unknown gate setting"):
        thresholds({"ess_min": 1})


@pytest.mark.sampling
def test_as_of_fit_keeps_only_the_as_of_model(project):
    """A fit with as_of moved back (a backtest's) reports and gates only quarters up to as_of,
    and a masked item (weight 0) changes nothing in the compiled shape: the same program runs."""
    import dataclasses

    from forecast import sampling
    from forecast.dims import INNOVATION_NORMAL, QUARTER

    priors, evidence = project
    earlier = dataclasses.replace(priors, as_of_index=3, h=priors.h + 2)
    masked = dataclasses.replace(
        evidence,
        coding_weight=np.where(evidence.coding_quarter > 3, 0.0, evidence.coding_weight),
        obs_weight=(evidence.obs_quarter <= 3).astype(float),
    )
    full = sampling.sample(priors, evidence, seed=3, **{**TINY, "prior_draws": 20})
    program = next(reversed(sampling._COMPILED.values()))
    idata = sampling.sample(earlier, masked, seed=3, **{**TINY, "prior_draws": 20})
    assert next(reversed(sampling._COMPILED.values())) is program  # one program for both fits
    assert list(idata.posterior[QUARTER].values) == priors.quarters[:4]
    assert list(idata.prior[QUARTER].values) == priors.quarters[:4]
    kept = {str(v).rsplit(":", 1)[1] for v in idata.posterior[INNOVATION_NORMAL].values}
    assert kept <= set(priors.quarters[:4])
    assert idata.log_likelihood.sizes[EVIDENCE] == full.log_likelihood.sizes[EVIDENCE]
    # Masked codings contribute exactly 0 to the pointwise log-likelihood.
    later = [
        i for i, q in enumerate(evidence.coding_quarter) if q > 3 and evidence.coding_weight[i] > 0
    ]
    assert later and np.all(idata.log_likelihood[LOGLIK_VAR].values[..., later] == 0.0)
