"""T4: the posterior against independent numpy references (MODEL.md §6.1, §6.2, §6.4).

The references use tests/model_factory.py's forward simulator and first-principles likelihood,
not forecast.likelihood.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from tests.model_factory import forward_prior, make_evidence, make_priors, reference_loglik

pytestmark = pytest.mark.slow

FIT = {"draws": 1000, "tune": 700, "chains": 4, "target_accept": 0.9, "prior_draws": 0}


def _fit(priors, evidence, seed: int = 1):
    from forecast.sampling import sample

    return sample(priors, evidence, seed=seed, **FIT)


def _mean_and_mcse(idata, name: str) -> tuple[np.ndarray, np.ndarray]:
    post = idata.posterior[name]
    mcse = az.mcse(idata.posterior[[name]], method="mean")[name]
    return post.mean(("chain", "draw")).values, mcse.values


def _importance_sampling(priors, evidence, n: int = 1_000_000, seed: int = 0):
    """E[q | evidence] by self-normalised importance sampling from n prior draws, with its SE."""
    draws = forward_prior(priors, n, np.random.default_rng(seed), evidence)
    loglik, block = reference_loglik(draws, priors, evidence)
    w = np.exp(loglik - loglik.max())
    w /= w.sum()
    q = draws["p"] * np.exp(block)
    q /= q.sum(axis=1, keepdims=True)
    mean = w @ q
    se = np.sqrt((w**2) @ (q - mean) ** 2)
    return mean, se, 1.0 / np.sum(w**2)


PROJECTS = {
    "codings_ratings_indicator": (
        {"n_scenarios": 3, "n_drivers": 2, "n_quarters": 8, "h": 6, "n_nodes": 32},
        {
            "codings": [(0, 2, 2, 1.0), (0, 7, 1, 0.8), (1, 5, -1, 0.6)],
            "ratings": [({0: "C", 2: "I"}, 0.8)],
            "indicator": (1, [(3, 0.4), (7, 0.1)]),
        },
    ),
    "student_t_interactions": (
        {
            "n_scenarios": 3,
            "n_drivers": 2,
            "n_quarters": 8,
            "h": 6,
            "n_nodes": 32,
            "student_t": (1,),
            "interactions": True,
        },
        {
            "codings": [(1, 6, 2, 1.0), (0, 3, -2, 0.6), (1, 7, 1, 0.5)],
            "ratings": [({1: "CC", 0: "II"}, 0.6), ({2: "C"}, 1.0)],
            "indicator": (0, [(0, -0.2), (4, 0.0)]),
        },
    ),
    "four_scenarios_pinned": (
        {"n_scenarios": 4, "n_drivers": 2, "n_quarters": 8, "h": 8, "n_nodes": 32},
        {
            "codings": [(0, 7, 0, 1.0), (1, 1, 2, 0.4)],
            "ratings": [({3: "CC"}, 0.5), ({0: "I", 1: "C"}, 0.8)],
            "indicator": (0, [(2, 0.3), (5, 0.6), (7, 0.8)]),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_posterior_q_matches_importance_sampling(name: str) -> None:
    """MODEL.md §6.2: E[q | evidence] within 4 x the combined standard error."""
    prior_kw, ev_kw = PROJECTS[name]
    priors = make_priors(**prior_kw)
    evidence = make_evidence(priors, **ev_kw)
    ref, ref_se, ess = _importance_sampling(priors, evidence)
    assert ess > 2000, ess
    fit = _fit(priors, evidence)
    mean, mcse = _mean_and_mcse(fit, "q")
    assert int(fit.sample_stats["diverging"].sum()) == 0
    assert np.all(np.abs(mean - ref) <= 4 * np.sqrt(mcse**2 + ref_se**2)), (mean, ref, mcse, ref_se)


def test_no_evidence_posterior_equals_prior() -> None:
    """MODEL.md §6.1: without evidence the posterior of q is its prior (q = p)."""
    priors = make_priors(n_scenarios=3, n_drivers=2, n_quarters=8, h=6, n_nodes=32, student_t=(0,))
    fit = _fit(priors, None)
    mean, mcse = _mean_and_mcse(fit, "q")
    draws = forward_prior(priors, 400_000, np.random.default_rng(5))
    ref, ref_se = draws["p"].mean(0), draws["p"].std(0) / np.sqrt(len(draws["p"]))
    assert np.all(np.abs(mean - ref) <= 4 * np.sqrt(mcse**2 + ref_se**2)), (mean, ref)
    q = fit.posterior["q"].values.reshape(-1, 3)
    for k in range(3):  # the spread too: 10% and 90% quantiles within 0.02
        np.testing.assert_allclose(
            np.quantile(q[:, k], [0.1, 0.9]), np.quantile(draws["p"][:, k], [0.1, 0.9]), atol=0.02
        )


def test_monotone_evidence() -> None:
    """MODEL.md §6.4."""
    priors = make_priors(n_scenarios=3, n_drivers=2, n_quarters=8, h=6, n_nodes=32)
    base_kw = {"codings": [(0, 3, 1, 1.0), (1, 6, -1, 1.0)], "ratings": [({1: "C"}, 0.6)]}
    base = _fit(priors, make_evidence(priors, **base_kw))
    x0, _x0_se = _mean_and_mcse(base, "x")
    q0, q0_se = _mean_and_mcse(base, "q")

    # an added +2 coding never lowers that driver's posterior mean
    plus = make_evidence(
        priors, codings=[*base_kw["codings"], (0, 7, 2, 1.0)], ratings=base_kw["ratings"]
    )
    x1, _ = _mean_and_mcse(_fit(priors, plus), "x")
    assert np.all(x1[0, 3:] > x0[0, 3:])

    # an item rated CC for k and II for the others raises E[q_k]
    k = 2
    rated = make_evidence(
        priors,
        codings=base_kw["codings"],
        ratings=[*base_kw["ratings"], ({k: "CC", 0: "II", 1: "II"}, 1.0)],
    )
    q1, q1_se = _mean_and_mcse(_fit(priors, rated), "q")
    assert q1[k] - q0[k] > 4 * np.sqrt(q0_se[k] ** 2 + q1_se[k] ** 2)

    # a weight-0 item changes nothing beyond MCSE
    zero = make_evidence(
        priors, codings=[*base_kw["codings"], (1, 2, -2, 0.0)], ratings=base_kw["ratings"]
    )
    q2, q2_se = _mean_and_mcse(_fit(priors, zero, seed=2), "q")
    assert np.all(np.abs(q2 - q0) <= 4 * np.sqrt(q0_se**2 + q2_se**2))
