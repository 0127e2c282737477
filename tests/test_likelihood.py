"""T0: the numpy formulas of forecast.likelihood on synthetic draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from forecast import likelihood as L
from forecast.priors import future_nodes
from tests.model_factory import (
    forward_prior,
    make_evidence,
    make_priors,
    reference_loglik,
    structural_p,
)

CUTS = np.array([-1.5, -0.5, 0.5, 1.5])


def _direct_ordinal(latent: np.ndarray, cat: int) -> np.ndarray:
    cdf = np.concatenate([[-np.inf], CUTS, [np.inf]])
    up = 1 / (1 + np.exp(-(cdf[cat + 1] - latent)))
    low = 1 / (1 + np.exp(-(cdf[cat] - latent)))
    return np.log(up - low)


def test_log_sigmoid_is_stable() -> None:
    x = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    out = L.log_sigmoid(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1:4], -np.log1p(np.exp(-x[1:4])), rtol=1e-12)
    assert out[-1] == 0.0
    np.testing.assert_allclose(out[0], -800.0)


@pytest.mark.parametrize("cat", range(5))
def test_ordinal_matches_direct_formula(cat: int) -> None:
    latent = np.linspace(-4, 4, 41)
    got = L.ordinal_loglik(latent, np.full(41, cat), CUTS)
    np.testing.assert_allclose(got, _direct_ordinal(latent, cat), rtol=1e-10, atol=1e-12)


def test_ordinal_probabilities_sum_to_one_and_stay_finite() -> None:
    latent = np.array([-500.0, -3.0, 0.2, 3.0, 500.0])
    probs = np.stack([np.exp(L.ordinal_loglik(latent, np.full(5, c), CUTS)) for c in range(5)])
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-12)
    for c in range(5):
        assert np.all(np.isfinite(L.ordinal_loglik(latent, np.full(5, c), CUTS)))


def test_weight_zero_coding_is_exactly_zero() -> None:
    priors = make_priors()
    evidence = make_evidence(priors, codings=[(0, 3, 2, 0.0), (1, 5, -2, 1.0)])
    x = np.random.default_rng(0).normal(size=(7, 2, priors.n_quarters)) * 5
    out = L.coding_loglik(x, priors, evidence)
    assert np.all(out[:, 0] == 0.0)
    assert np.all(out[:, 1] < 0)


@pytest.mark.parametrize(("student_t", "interactions"), [((), False), ((1,), True)])
def test_log_p_matches_independent_loop(student_t: tuple, interactions: bool) -> None:
    priors = make_priors(n_drivers=3, student_t=student_t, interactions=interactions)
    draws = forward_prior(priors, 50, np.random.default_rng(1))
    got = L.log_p_from(
        draws["x"][:, :, -1],
        draws["mu"],
        draws["sigma"],
        draws["alpha"],
        draws["beta"],
        draws["gamma"],
        priors,
    )
    np.testing.assert_allclose(np.exp(got), structural_p(draws, priors), rtol=1e-10)
    np.testing.assert_allclose(np.exp(got).sum(axis=-1), 1.0, rtol=1e-12)


def test_256_nodes_agree_with_16384() -> None:
    """MODEL.md §2: the average over M = 256 nodes is accurate against M = 16384."""
    priors = make_priors(n_scenarios=4, n_drivers=4, n_nodes=256, student_t=(2,))
    fine = dataclasses.replace(priors, nodes=future_nodes(16384, 4))
    draws = forward_prior(priors, 300, np.random.default_rng(2))
    args = (
        draws["x"][:, :, -1],
        draws["mu"],
        draws["sigma"],
        draws["alpha"],
        draws["beta"],
        draws["gamma"],
    )
    coarse_p = np.exp(L.log_p_from(*args, priors))
    fine_p = np.exp(L.log_p_from(*args, fine))
    assert np.max(np.abs(coarse_p - fine_p)) < 0.005
    assert np.max(np.abs(coarse_p.mean(0) - fine_p.mean(0))) < 0.001


def test_q_ratings_block_and_delta() -> None:
    rng = np.random.default_rng(3)
    log_p = L.log_softmax(rng.normal(size=(10, 3)))
    block = np.array([-1.0, -3.0, -0.5])
    log_q = L.log_q_from(log_p, block)
    np.testing.assert_allclose(np.exp(log_q).sum(-1), 1.0)
    np.testing.assert_allclose(L.log_q_from(log_p, np.zeros(3)), log_p, atol=1e-12)
    change = np.log([0.95, 0.05, 0.5])
    np.testing.assert_allclose(
        L.ratings_delta(log_p, block, change),
        np.log(np.exp(log_p + block + change).sum(-1)) - np.log(np.exp(log_p + block).sum(-1)),
    )


def test_pointwise_order_and_total_match_reference() -> None:
    priors = make_priors(n_drivers=2)
    evidence = make_evidence(
        priors,
        codings=[(0, 2, 1, 1.0), (1, 11, -2, 0.6)],
        ratings=[({0: "CC", 2: "II"}, 0.8), ({1: "C"}, 1.0)],
        indicator=(1, [(3, 0.2), (7, 0.5)]),
    )
    draws = forward_prior(priors, 20, np.random.default_rng(4), evidence)
    log_p = np.log(draws["p"])
    named = {
        "x": draws["x"],
        "log_p": log_p,
        "indicator_intercept": draws["a"],
        "indicator_slope": draws["c"],
        "indicator_noise": draws["sd"],
    }
    out = L.pointwise_loglik(named, priors, evidence)
    assert out.shape == (20, len(evidence.log_likelihood_labels))
    assert evidence.log_likelihood_labels[-1] == "ratings"
    total, _ = reference_loglik(draws, priors, evidence)
    np.testing.assert_allclose(out.sum(-1), total, rtol=1e-9)


def test_centre_beta() -> None:
    beta = np.arange(12.0).reshape(2, 3, 2)
    centred = L.centre_scenarios(beta, axis=-2)
    np.testing.assert_allclose(centred.sum(axis=-2), 0.0)
    np.testing.assert_allclose(np.diff(centred, axis=-2), np.diff(beta, axis=-2))


def test_psis_matches_arviz() -> None:
    import arviz as az

    from forecast.psis import khat_threshold, psis

    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0, 3.0):
        lw = scale * (rng.standard_normal(4000) + rng.standard_t(3, 4000))
        ours = psis(lw)
        ref, k = az.psislw(lw.copy())
        assert ours.pareto_k == pytest.approx(float(k))
        np.testing.assert_allclose(np.log(ours.weights), ref, atol=1e-10)
    assert khat_threshold(4000) == pytest.approx(0.7)
    assert khat_threshold(100) == pytest.approx(0.5)
