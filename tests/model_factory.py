"""Small synthetic projects for the model tests, built directly as PriorArrays / EvidenceArrays.

Also holds an independent numpy forward simulator of the prior (it does not use
``forecast.likelihood``), used by the prior check, the importance-sampling reference and SBC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forecast.evidence import EvidenceArrays
from forecast.priors import PriorArrays, future_nodes

RATING_LAMBDA = {"CC": 0.95, "C": 0.80, "N": 0.50, "I": 0.20, "II": 0.05}
CUTPOINTS = np.array([-1.5, -0.5, 0.5, 1.5])


def make_priors(
    *,
    n_scenarios: int = 3,
    n_drivers: int = 2,
    n_quarters: int = 12,
    h: int = 8,
    n_nodes: int = 64,
    student_t: Sequence[int] = (),
    interactions: bool = False,
    offset_scale: float = 0.5,
) -> PriorArrays:
    """A small project; driver j has a Student-t walk (nu = 4) when j is in ``student_t``."""
    k, j = n_scenarios, n_drivers
    beta_mu = np.zeros((k, j))
    beta_mu[0, :] = 0.8  # scenario 0 rises with every driver, the last one falls with driver 0
    beta_mu[-1, 0] = -0.8
    nu = np.full(j, np.inf)
    nu[list(student_t)] = 4.0
    inter_s = np.array([k - 1] if interactions and j >= 2 else [], dtype=int)
    inter_d = np.array([[0, 1]] if len(inter_s) else [], dtype=int).reshape(-1, 2)
    baseline = np.linspace(1.0, 2.0, k)
    return PriorArrays(
        scenarios=[f"s{i}" for i in range(k)],
        drivers=[f"d{i}" for i in range(j)],
        quarters=[f"{2012 + t // 4}Q{t % 4 + 1}" for t in range(n_quarters)],
        horizon="2030Q4",
        h=h,
        init_mu=np.linspace(-0.3, 0.5, j),
        init_sigma=np.full(j, 0.6),
        trend_mu=np.linspace(0.0, 0.02, j),
        trend_sigma=np.full(j, 0.02),
        vol_sigma=np.full(j, 0.1),
        nu=nu,
        log_pi0=np.log(baseline / baseline.sum()),
        offset_scale=offset_scale,
        beta_mu=beta_mu,
        beta_sigma=np.full((k, j), 0.5),
        inter_scenario=inter_s,
        inter_drivers=inter_d,
        inter_mu=np.full(len(inter_s), 0.3),
        inter_sigma=np.full(len(inter_s), 0.3),
        kappa=2.0,
        cutpoints=CUTPOINTS.copy(),
        rating_loglik={r: float(np.log(v)) for r, v in RATING_LAMBDA.items()},
        nodes=future_nodes(n_nodes, j),
        interval_mass=0.8,
    )


def make_evidence(
    priors: PriorArrays,
    codings: Sequence[tuple[int, int, int, float]] = (),
    ratings: Sequence[tuple[dict[int, str], float]] = (),
    indicator: tuple[int, Sequence[tuple[int, float]]] | None = None,
    indicator_priors: tuple[float, ...] = (0.0, 0.5, 0.7, 0.3, 0.3, 0.3),
) -> EvidenceArrays:
    """Evidence from tuples.

    codings: (driver, quarter, score in -2..2, weight); ratings: ({scenario: rating}, weight);
    indicator: (driver, [(quarter, value), ...]) with priors (a_mu, a_sd, slope median, slope
    log-sd, noise median, noise log-sd): intercept Normal, slope and noise LogNormal.
    """
    k = len(priors.scenarios)
    r_loglik = [[np.log(RATING_LAMBDA[r.get(s, "N")]) for s in range(k)] for r, _ in ratings]
    obs = list(indicator[1]) if indicator is not None else []
    a_mu, a_sd, c_med, c_lsd, n_med, n_lsd = indicator_priors
    has_series = indicator is not None
    return EvidenceArrays(
        coding_labels=[f"e{i:03d}:{priors.drivers[c[0]]}" for i, c in enumerate(codings)],
        coding_items=[f"e{i:03d}" for i in range(len(codings))],
        coding_driver=np.array([c[0] for c in codings], dtype=int),
        coding_quarter=np.array([c[1] for c in codings], dtype=int),
        coding_category=np.array([c[2] + 2 for c in codings], dtype=int),
        coding_weight=np.array([c[3] for c in codings], dtype=float),
        rating_items=[f"r{i:03d}" for i in range(len(ratings))],
        rating_loglik=np.array(r_loglik, dtype=float).reshape(-1, k),
        rating_weight=np.array([w for _, w in ratings], dtype=float),
        series=["ind"] if has_series else [],
        series_driver=np.array([indicator[0]] if has_series else [], dtype=int),
        intercept_mu=np.array([a_mu] if has_series else []),
        intercept_sigma=np.array([a_sd] if has_series else []),
        slope_log_mu=np.array([np.log(c_med)] if has_series else []),
        slope_log_sd=np.array([c_lsd] if has_series else []),
        noise_log_mu=np.array([np.log(n_med)] if has_series else []),
        noise_log_sd=np.array([n_lsd] if has_series else []),
        obs_labels=[f"ind:{priors.quarters[q]}" for q, _ in obs],
        obs_series=np.zeros(len(obs), dtype=int),
        obs_quarter=np.array([q for q, _ in obs], dtype=int),
        obs_value=np.array([v for _, v in obs], dtype=float),
    )


def empty_evidence(priors: PriorArrays) -> EvidenceArrays:
    """Evidence with nothing in it."""
    return make_evidence(priors)


# ------------------------------------------------------------ independent numpy reference


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward_prior(
    priors: PriorArrays, n: int, rng: np.random.Generator, evidence: EvidenceArrays | None = None
) -> dict[str, np.ndarray]:
    """n independent draws of the prior, written from MODEL.md §2 without forecast.likelihood."""
    k, j, t_len = len(priors.scenarios), len(priors.drivers), priors.n_quarters
    x0 = priors.init_mu + priors.init_sigma * rng.standard_normal((n, j))
    mu = priors.trend_mu + priors.trend_sigma * rng.standard_normal((n, j))
    sigma = np.abs(priors.vol_sigma * rng.standard_normal((n, j)))
    z = rng.standard_normal((n, j, t_len - 1))
    for d in np.flatnonzero(np.isfinite(priors.nu)):
        z[:, d] = rng.standard_t(priors.nu[d], size=(n, t_len - 1))
    x = np.empty((n, j, t_len))
    x[:, :, 0] = x0
    for t in range(1, t_len):
        x[:, :, t] = x[:, :, t - 1] + mu + sigma * z[:, :, t - 1]
    raw = priors.offset_scale * rng.standard_normal((n, k))
    alpha = priors.log_pi0 + raw - raw.mean(axis=1, keepdims=True)
    beta = priors.beta_mu + priors.beta_sigma * rng.standard_normal((n, k, j))
    gamma = priors.inter_mu + priors.inter_sigma * rng.standard_normal((n, len(priors.inter_mu)))
    out = {"x": x, "mu": mu, "sigma": sigma, "alpha": alpha, "beta": beta, "gamma": gamma}
    out["p"] = structural_p(out, priors)
    if evidence is not None and evidence.n_obs:
        s = len(evidence.series)
        out["a"] = evidence.intercept_mu + evidence.intercept_sigma * rng.standard_normal((n, s))
        out["c"] = np.exp(
            evidence.slope_log_mu + evidence.slope_log_sd * rng.standard_normal((n, s))
        )
        out["sd"] = np.exp(
            evidence.noise_log_mu + evidence.noise_log_sd * rng.standard_normal((n, s))
        )
    return out


def structural_p(
    draws: dict[str, np.ndarray], priors: PriorArrays, nodes: np.ndarray | None = None
) -> np.ndarray:
    """p = mean over nodes of softmax(eta(x_T + mu h + sigma sqrt(h) s nu_n)), looped per node."""
    nodes = priors.nodes if nodes is None else nodes
    x_t, mu, sigma = draws["x"][:, :, -1], draws["mu"], draws["sigma"]
    scale = np.array([np.sqrt(v / (v - 2)) if np.isfinite(v) else 1.0 for v in priors.nu])
    total = np.zeros((x_t.shape[0], len(priors.scenarios)))
    for node in nodes:
        xf = x_t + mu * priors.h + sigma * np.sqrt(priors.h) * scale * node
        eta = draws["alpha"] + np.einsum("nkj,nj->nk", draws["beta"], xf)
        for i, k in enumerate(priors.inter_scenario):
            a, b = priors.inter_drivers[i]
            eta[:, k] += draws["gamma"][:, i] * xf[:, a] * xf[:, b]
        total += _softmax(eta)
    return total / len(nodes)


def reference_loglik(
    draws: dict[str, np.ndarray], priors: PriorArrays, evidence: EvidenceArrays
) -> tuple[np.ndarray, np.ndarray]:
    """Total log-likelihood per draw and the ratings-block term A, from first principles.

    Ordinal probabilities come from the logistic CDF directly in float64 (fine for the moderate
    latent values of small projects), so this check is independent of the log-sigmoid identity.
    """
    n = draws["x"].shape[0]
    total = np.zeros(n)
    cdf = np.concatenate([[-np.inf], priors.cutpoints, [np.inf]])
    for i in range(evidence.n_codings):
        latent = priors.kappa * draws["x"][:, evidence.coding_driver[i], evidence.coding_quarter[i]]
        c = evidence.coding_category[i]
        prob = 1 / (1 + np.exp(-(cdf[c + 1] - latent))) - 1 / (1 + np.exp(-(cdf[c] - latent)))
        total += evidence.coding_weight[i] * np.log(prob)
    for i in range(evidence.n_obs):
        s = evidence.obs_series[i]
        mean = (
            draws["a"][:, s]
            + draws["c"][:, s] * draws["x"][:, evidence.series_driver[s], evidence.obs_quarter[i]]
        )
        sd = draws["sd"][:, s]
        total += -0.5 * ((evidence.obs_value[i] - mean) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))
    block = np.zeros(len(priors.scenarios))
    for e in range(evidence.n_rated):
        block += evidence.rating_weight[e] * evidence.rating_loglik[e]
    if evidence.n_rated:
        total += np.log(draws["p"] @ np.exp(block))
    return total, block


def simulate_codings(
    priors: PriorArrays,
    x: np.ndarray,
    rng: np.random.Generator,
    n_codings: int,
    cells: list[tuple[int, int]] | None = None,
) -> list[tuple[int, int, int, float]]:
    """Draw weight-1 ordinal codings of one latent path ``x`` (driver, quarter).

    ``cells`` fixes the (driver, quarter) of each coding (then ``n_codings`` is ignored), so that
    simulated evidence sets share one model shape; otherwise they are drawn too.
    """
    out = []
    positions = cells or [
        (int(rng.integers(x.shape[0])), int(rng.integers(x.shape[1]))) for _ in range(n_codings)
    ]
    for d, t in positions:
        latent = priors.kappa * x[d, t] + rng.logistic()
        out.append((d, t, int(np.searchsorted(priors.cutpoints, latent)) - 2, 1.0))
    return out
