"""T4: simulation-based calibration (Talts et al. 2018; MODEL.md §6.3).

Evidence sets are simulated with weight 1 from the driver-coding and indicator parts of the model
(the ratings block is not generative; test_reference checks it). The rank of each true value among
thinned posterior draws, randomised into a PIT value, must keep its ECDF within the 95%
simultaneous band of Säilynoja et al. (2022).
"""

from __future__ import annotations

import numpy as np
import pytest
from arviz.stats.ecdf_utils import ecdf_confidence_band

from tests.model_factory import forward_prior, make_evidence, make_priors, simulate_codings

pytestmark = pytest.mark.slow

N_SIMS = 40
N_RANK_DRAWS = 99
#: Indicator priors (intercept mean and sd; slope and noise median and log-sd), as in make_evidence.
INDICATOR_PRIORS = (0.2, 0.3, 0.8, 0.3, 0.4, 0.3)
#: The shipped project's target_accept (priors/sampling.yaml): at 0.9 about one fit in 40 had a
#: single divergent transition, which the gate would reject.
FIT = {"draws": 500, "tune": 500, "chains": 2, "target_accept": 0.95, "prior_draws": 0}


def _cells(priors) -> list[tuple[int, int]]:
    """Six fixed (driver, quarter) cells: every evidence set has the same shape, so the sampler
    compiles once for all simulations (only the categories and values change)."""
    rng = np.random.default_rng(0)
    n_drivers = len(priors.drivers)
    return [(int(rng.integers(n_drivers)), int(rng.integers(priors.n_quarters))) for _ in range(6)]


def _simulate(priors, rng: np.random.Generator):
    """True parameters from the prior and an evidence set drawn from them."""
    truth = forward_prior(priors, 1, rng)
    a_mu, a_sd, c_median, c_log_sd, sd_median, sd_log_sd = INDICATOR_PRIORS
    truth["a"] = a_mu + a_sd * rng.standard_normal(1)
    truth["c"] = c_median * np.exp(c_log_sd * rng.standard_normal(1))
    truth["sd"] = sd_median * np.exp(sd_log_sd * rng.standard_normal(1))
    x = truth["x"][0]
    codings = simulate_codings(priors, x, rng, n_codings=6, cells=_cells(priors))
    obs_q = [2, priors.n_quarters - 1]
    values = truth["a"][0] + truth["c"][0] * x[1, obs_q] + truth["sd"][0] * rng.standard_normal(2)
    evidence = make_evidence(
        priors,
        codings=codings,
        indicator=(1, list(zip(obs_q, values.tolist(), strict=True))),
        indicator_priors=INDICATOR_PRIORS,
    )
    return truth, evidence


def _quantities(source: dict[str, np.ndarray]) -> np.ndarray:
    """x[:, as_of], mu, sigma and p[0] per draw, shape (draw, quantity)."""
    return np.concatenate(
        [source["x"][:, :, -1], source["mu"], source["sigma"], source["p"][:, :1]], axis=1
    )


def test_sbc_ranks_are_uniform() -> None:
    from forecast.sampling import sample

    priors = make_priors(n_scenarios=2, n_drivers=2, n_quarters=6, h=4, n_nodes=16)
    rng = np.random.default_rng(2024)
    pit = []
    for i in range(N_SIMS):
        truth, evidence = _simulate(priors, rng)
        fit = sample(priors, evidence, seed=1000 + i, **FIT)
        assert int(fit.sample_stats["diverging"].sum()) == 0
        post = fit.posterior.stack(sample=("chain", "draw"))
        keep = np.linspace(0, post.sizes["sample"] - 1, N_RANK_DRAWS).astype(int)
        draws = {k: np.moveaxis(post[k].values, -1, 0)[keep] for k in ("x", "mu", "sigma", "p")}
        below = (_quantities(draws) < _quantities(truth)).sum(axis=0)
        # randomised PIT: rank r of L draws -> uniform on [r, r + 1) / (L + 1)
        pit.append((below + rng.uniform(size=below.shape)) / (N_RANK_DRAWS + 1))
    pit = np.array(pit)
    grid = np.linspace(0, 1, N_SIMS + 1)[1:-1]
    lower, upper = ecdf_confidence_band(N_SIMS, grid, grid, prob=0.95, method="optimized")
    names = ["x_as_of[0]", "x_as_of[1]", "mu[0]", "mu[1]", "sigma[0]", "sigma[1]", "p[0]"]
    for j, name in enumerate(names):
        ecdf = (pit[:, j][None, :] <= grid[:, None]).mean(axis=1)
        assert np.all((ecdf >= lower) & (ecdf <= upper)), (name, np.sort(pit[:, j]))
