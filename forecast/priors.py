"""Pure transform of a validated project's priors into the arrays the model is built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.io.project import ProjectSpec
from forecast.io.schema import RATINGS

#: Seed of the scrambled Sobol sequence behind the future-drift nodes: fixed, so p is deterministic.
NODES_SEED = 20_200_401


@dataclass(frozen=True)
class PriorArrays:
    """Everything the model needs from priors/, as arrays with named axes (see ARCHITECTURE.md)."""

    scenarios: list[str]
    drivers: list[str]
    quarters: list[str]
    horizon: str
    h: int  # quarters from as_of to the horizon
    init_mu: np.ndarray  # (driver,)
    init_sigma: np.ndarray
    trend_mu: np.ndarray
    trend_sigma: np.ndarray
    vol_sigma: np.ndarray
    nu: np.ndarray  # (driver,) degrees of freedom of the innovations; inf = Normal
    log_pi0: np.ndarray  # (scenario,)
    offset_scale: float
    beta_mu: np.ndarray  # (scenario, driver)
    beta_sigma: np.ndarray
    inter_scenario: np.ndarray  # (interaction,) scenario index
    inter_drivers: np.ndarray  # (interaction, 2) driver indices
    inter_mu: np.ndarray
    inter_sigma: np.ndarray
    kappa: float
    cutpoints: np.ndarray  # (4,)
    rating_loglik: dict[str, float]
    nodes: np.ndarray  # (node, driver) fixed quasi-random standard-normal vectors
    interval_mass: float
    #: Quarter index of ``as_of`` on the time grid; None = the last quarter. A backtest keeps the
    #: project's full grid (one model shape for every quarter) and moves ``as_of`` back instead.
    as_of_index: int | None = None

    @property
    def as_of_position(self) -> int:
        """Index of the ``as_of`` quarter on the grid (the last one unless a backtest moved it)."""
        return self.n_quarters - 1 if self.as_of_index is None else int(self.as_of_index)

    @property
    def n_quarters(self) -> int:
        """T, the number of modelled quarters."""
        return len(self.quarters)

    @property
    def student_t(self) -> np.ndarray:
        """Mask of drivers with Student-t innovations."""
        return np.isfinite(self.nu)

    @property
    def interaction_labels(self) -> list[str]:
        """Readable labels of the interaction terms, one per term in the order of ``inter_*``.

        For example ``china_hubris:power_asymmetry*leader_affinity``.
        """
        return [
            f"{self.scenarios[k]}:{self.drivers[a]}*{self.drivers[b]}"
            for k, (a, b) in zip(self.inter_scenario, self.inter_drivers, strict=True)
        ]


def future_nodes(n_nodes: int, n_drivers: int, seed: int = NODES_SEED) -> np.ndarray:
    """M quasi-random standard-normal vectors (scrambled Sobol points through the normal quantile).

    For M that is not a power of two the first M points of the next power are used. The nodes
    are kept in the user's cache (:func:`forecast.cache.cached_array`): SciPy's Sobol generator
    is the same for a given SciPy version, and importing ``scipy.stats`` takes about a second.
    """
    import importlib.metadata

    from forecast.cache import cached_array

    def compute() -> np.ndarray:
        from scipy.stats import norm, qmc

        m = int(np.ceil(np.log2(max(n_nodes, 2))))
        points = qmc.Sobol(d=n_drivers, scramble=True, seed=seed).random_base2(m)[:n_nodes]
        return norm.ppf(np.clip(points, 1e-12, 1 - 1e-12))

    scipy_version = importlib.metadata.version("scipy")
    key = f"sobol-normal {n_nodes} {n_drivers} {seed} scipy={scipy_version}"
    return cached_array("nodes", key, compute)


def prior_arrays(
    spec: ProjectSpec, n_nodes: int | None = None, nodes: np.ndarray | None = None
) -> PriorArrays:
    """Turn ``spec``'s priors into :class:`PriorArrays` (pure; converts interval priors).

    ``nodes`` reuses future-drift nodes computed before (a run's cached ones) instead of drawing
    them again, which avoids importing scipy.stats on the fast preview path.
    """
    scenarios, drivers = spec.scenario_ids, spec.driver_ids
    k_index = {s: i for i, s in enumerate(scenarios)}
    j_index = {d: i for i, d in enumerate(drivers)}
    ds = spec.drivers.drivers
    init = np.array([d.initial.params() for d in ds])
    trend = np.array([d.trend.params() for d in ds])
    nu = np.array([d.innovations.nu if d.innovations.family == "student_t" else np.inf for d in ds])

    dmu, dsd = spec.theory.default.params()
    beta_mu = np.full((len(scenarios), len(drivers)), dmu)
    beta_sigma = np.full((len(scenarios), len(drivers)), dsd)
    for cell in spec.theory.cells:
        (
            beta_mu[k_index[cell.scenario], j_index[cell.driver]],
            beta_sigma[k_index[cell.scenario], j_index[cell.driver]],
        ) = cell.params()

    terms = []
    inter = spec.theory.interactions
    if inter is not None and inter.enabled.value:
        terms = inter.terms
    baseline = np.array([s.baseline for s in spec.scenarios.scenarios])
    m = spec.measurement
    return PriorArrays(
        scenarios=scenarios,
        drivers=drivers,
        quarters=[str(q) for q in spec.quarters],
        horizon=str(spec.horizon),
        h=spec.horizon - spec.as_of,
        init_mu=init[:, 0],
        init_sigma=init[:, 1],
        trend_mu=trend[:, 0],
        trend_sigma=trend[:, 1],
        vol_sigma=np.array([d.volatility.params() for d in ds]),
        nu=nu,
        log_pi0=np.log(baseline / baseline.sum()),
        offset_scale=float(spec.scenarios.offset_scale.value),
        beta_mu=beta_mu,
        beta_sigma=beta_sigma,
        inter_scenario=np.array([k_index[t.scenario] for t in terms], dtype=int),
        inter_drivers=np.array([[j_index[d] for d in t.drivers] for t in terms], dtype=int).reshape(
            -1, 2
        ),
        inter_mu=np.array([t.params()[0] for t in terms]),
        inter_sigma=np.array([t.params()[1] for t in terms]),
        kappa=float(m.ordinal.kappa.value),
        cutpoints=np.array(m.ordinal.cutpoints.value, dtype=float),
        rating_loglik={r: float(np.log(m.ratings.weights[r])) for r in RATINGS},
        nodes=(
            np.asarray(nodes, dtype=float)
            if nodes is not None
            else future_nodes(n_nodes or spec.project.future_nodes.value, len(drivers))
        ),
        interval_mass=float(spec.project.interval_mass.value),
    )
