"""T1: the PyMC graph only (dims, finite logp and gradient, agreement with forecast.likelihood)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import likelihood as L
from forecast.dims import DRIVER, QUARTER, SCENARIO
from forecast.model import build_model, pinned_observations
from tests.model_factory import make_evidence, make_priors


@pytest.fixture(scope="module")
def project():
    priors = make_priors(n_scenarios=3, n_drivers=3, student_t=(1,), interactions=True)
    evidence = make_evidence(
        priors,
        codings=[(0, 3, 2, 1.0), (1, 5, -1, 0.5), (2, 11, 0, 0.0), (2, 0, -2, 0.8)],
        ratings=[({0: "CC", 2: "II"}, 0.8), ({1: "I"}, 0.4)],
        indicator=(2, [(0, 0.1), (3, 0.5), (7, 0.9), (8, 1.1)]),
    )
    return priors, evidence


def _random_point(model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {k: rng.normal(size=np.shape(v)) for k, v in model.initial_point().items()}


def _at_point(model, names: list[str]):
    """Compile ``names`` (deterministics or potentials) as functions of the value variables."""
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    return model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")


def test_dims_and_names(project) -> None:
    priors, evidence = project
    model = build_model(priors, evidence)
    dims = model.named_vars_to_dims
    assert dims["q"] == (SCENARIO,) and dims["p"] == (SCENARIO,) and dims["log_p"] == (SCENARIO,)
    assert dims["p_now"] == (QUARTER, SCENARIO)
    assert dims["x"] == (DRIVER, QUARTER)
    assert dims["beta"] == (SCENARIO, DRIVER)
    for name in ("x_H", "mu", "sigma"):
        assert dims[name] == (DRIVER,)
    assert dims["gamma"] == ("interaction",)
    assert list(model.coords[SCENARIO]) == priors.scenarios
    assert list(model.coords[QUARTER]) == priors.quarters
    assert {p.name for p in model.potentials} == {
        "codings",
        "indicators",
        "ratings",
        "indicator_pins",
    }


def test_finite_logp_and_gradient_at_initial_point(project) -> None:
    priors, evidence = project
    model = build_model(priors, evidence)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert np.all(np.isfinite(model.compile_dlogp()(point)))


def test_prior_model_has_no_likelihood(project) -> None:
    priors, evidence = project
    assert not build_model(priors, None).potentials
    prior = build_model(priors, evidence, likelihood=False)
    assert not prior.potentials
    assert "indicator_slope" in prior.named_vars
    point = prior.initial_point()
    f = _at_point(prior, ["q", "p"])
    q, p = f(point)
    np.testing.assert_allclose(q, p)


def test_potentials_equal_pointwise_loglik(project) -> None:
    """The model's likelihood terms are the sum of likelihood.pointwise_loglik at random points."""
    priors, evidence = project
    model = build_model(priors, evidence, pin_indicators=False)
    names = ["x", "log_p", "indicator_intercept", "indicator_slope", "indicator_noise"]
    f = _at_point(model, names + [p.name for p in model.potentials])
    rng = np.random.default_rng(0)
    for _ in range(5):
        out = f(_random_point(model, rng))
        draws = dict(zip(names, out[: len(names)], strict=True))
        pointwise = L.pointwise_loglik(draws, priors, evidence)
        np.testing.assert_allclose(sum(out[len(names) :]), pointwise.sum(), rtol=1e-10)
        # the ratings entry is logsumexp(log p + A) of the same draw
        np.testing.assert_allclose(
            pointwise[-1], L.ratings_block(draws["log_p"], evidence.ratings_block)
        )


def test_weight_zero_coding_changes_nothing(project) -> None:
    priors, evidence = project
    without = make_evidence(
        priors,
        codings=[(0, 3, 2, 1.0), (1, 5, -1, 0.5), (2, 0, -2, 0.8)],
        ratings=[({0: "CC", 2: "II"}, 0.8), ({1: "I"}, 0.4)],
        indicator=(2, [(0, 0.1), (3, 0.5), (7, 0.9), (8, 1.1)]),
    )
    m1, m0 = build_model(priors, evidence), build_model(priors, without)
    point = _random_point(m1, np.random.default_rng(1))
    assert m1.compile_logp()(point) == m0.compile_logp()(point)


def test_log_p_matches_numpy(project) -> None:
    priors, evidence = project
    model = build_model(priors, evidence)
    names = ["x", "mu", "sigma", "alpha", "beta", "gamma", "log_p", "q", "p_now"]
    f = _at_point(model, names)
    out = dict(zip(names, f(_random_point(model, np.random.default_rng(2))), strict=True))
    log_p = L.log_p_from(
        out["x"][:, -1], out["mu"], out["sigma"], out["alpha"], out["beta"], out["gamma"], priors
    )
    np.testing.assert_allclose(out["log_p"], log_p, rtol=1e-10)
    np.testing.assert_allclose(
        np.log(out["q"]), L.log_q_from(log_p, evidence.ratings_block), rtol=1e-10
    )
    eta = L.eta_from(out["x"].T, out["alpha"], out["beta"], out["gamma"], priors)
    np.testing.assert_allclose(out["p_now"], np.exp(L.log_softmax(eta)), rtol=1e-10)


def test_pinned_model_is_a_change_of_variables(project) -> None:
    """Pinned density = plain density + log |dz/du| = + sum log(post_sd / sigma) per pin."""
    priors, evidence = project
    pins = pinned_observations(priors, evidence)
    assert list(pins) == [1, 2, 3]  # quarter 0 is never pinned
    pinned = build_model(priors, evidence)
    plain = build_model(priors, evidence, pin_indicators=False)
    names = ["x", "mu", "sigma", "indicator_slope", "indicator_noise"]
    f = _at_point(pinned, names)
    rng = np.random.default_rng(3)
    scale = L.drift_scale(priors)
    for _ in range(3):
        point = _random_point(pinned, rng)
        x, mu, sigma, slope, noise = f(point)
        z = (np.diff(x, axis=1) - mu[:, None]) / sigma[:, None]
        plain_point = {k: v for k, v in point.items() if k in plain.initial_point()}
        for name, flat in (("z_normal", "innovation_normal"), ("z_student", "innovation_student")):
            labels = plain.coords[flat]
            idx = [
                (
                    priors.drivers.index(lab.split(":")[0]),
                    priors.quarters.index(lab.split(":")[1]) - 1,
                )
                for lab in labels
            ]
            plain_point[name] = np.array([z[j, t] for j, t in idx])
        jac = 0.0
        for i in pins:
            j, _q = evidence.series_driver[0], evidence.obs_quarter[i]
            step_sd = sigma[j] * scale[j]
            post_sd = 1 / np.sqrt(1 / step_sd**2 + slope[0] ** 2 / noise[0] ** 2)
            jac += np.log(post_sd / sigma[j])
        np.testing.assert_allclose(
            pinned.compile_logp()(point), plain.compile_logp()(plain_point) + jac, rtol=1e-9
        )
