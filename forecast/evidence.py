"""Pure transform of a project's evidence into the arrays the likelihood is built from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from forecast.io.project import LocatedItem, ProjectSpec
from forecast.io.schema import RATINGS, EvidenceItem, period_quarter
from forecast.quarters import Quarter


def item_weight(item: EvidenceItem, spec: ProjectSpec, cluster_sizes: Counter[str]) -> float:
    """w_e = r(reliability) * c(credibility) / n_cluster(e) (MODEL.md §3)."""
    m = spec.measurement
    w = m.reliability.weights[item.reliability] * m.credibility.weights[item.credibility]
    if item.cluster is not None:
        w /= cluster_sizes[item.cluster]
    return float(w)


def known_items(spec: ProjectSpec, as_of: Quarter | None = None) -> list[LocatedItem]:
    """Items published, and dated, by the end of ``as_of`` (default: the project's).

    Both dates count: a year-dated figure belongs to the year's last quarter even when part of it
    was published earlier, and the model has no quarters after ``as_of``.
    """
    as_of = as_of or spec.as_of
    return [
        li
        for li in spec.items
        if li.item.published_date.quarter <= as_of and li.item.event_date.quarter <= as_of
    ]


@dataclass(frozen=True)
class EvidenceArrays:
    """The evidence of one fit as arrays (see ARCHITECTURE.md for the contract)."""

    # driver codings, one row per (item, driver)
    coding_labels: list[str]  # "e017:us_threat"
    coding_items: list[str]
    coding_driver: np.ndarray  # (coding,) driver index
    coding_quarter: np.ndarray  # (coding,) quarter index t_e
    coding_category: np.ndarray  # (coding,) score + 2, in 0..4
    coding_weight: np.ndarray  # (coding,)
    # scenario ratings, one row per rated item
    rating_items: list[str]
    rating_loglik: np.ndarray  # (rated item, scenario) log lambda(r[e, k])
    rating_weight: np.ndarray  # (rated item,)
    # indicator series
    series: list[str]
    series_driver: np.ndarray  # (series,)
    intercept_mu: np.ndarray  # (series,)
    intercept_sigma: np.ndarray
    slope_log_mu: np.ndarray  # (series,) LogNormal prior of the slope c_s
    slope_log_sd: np.ndarray
    noise_log_mu: np.ndarray  # (series,) LogNormal prior of the noise sd_s
    noise_log_sd: np.ndarray
    obs_labels: list[str]  # "gdp_ratio:2019"
    obs_series: np.ndarray  # (obs,) series index
    obs_quarter: np.ndarray  # (obs,) quarter index
    obs_value: np.ndarray  # (obs,) transformed value
    #: (obs,) 1 for an observation the fit uses, 0 for one masked out (a backtest's later data);
    #: None means all ones.
    obs_weight: np.ndarray | None = None

    @property
    def obs_weights(self) -> np.ndarray:
        """Weight of each indicator observation (ones unless masked)."""
        if self.obs_weight is None:
            return np.ones(self.n_obs)
        return np.asarray(self.obs_weight, dtype=float)

    @property
    def n_codings(self) -> int:
        """Number of driver codings."""
        return len(self.coding_labels)

    @property
    def n_rated(self) -> int:
        """Number of scenario-rated items."""
        return len(self.rating_items)

    @property
    def n_obs(self) -> int:
        """Number of indicator observations."""
        return len(self.obs_labels)

    @property
    def ratings_block(self) -> np.ndarray:
        """A[k] = sum_e w_e log lambda(r[e, k]) (MODEL.md §3)."""
        return (
            self.rating_weight @ self.rating_loglik
            if self.n_rated
            else np.zeros(self.rating_loglik.shape[1])
        )

    @property
    def log_likelihood_labels(self) -> list[str]:
        """Entries of the ``evidence`` dim of the log_likelihood group, in order."""
        from forecast.dims import RATINGS_BLOCK

        return [*self.coding_labels, *self.obs_labels, *([RATINGS_BLOCK] if self.n_rated else [])]


def evidence_arrays(spec: ProjectSpec, as_of: Quarter | None = None) -> EvidenceArrays:
    """Turn the evidence known at ``as_of`` into :class:`EvidenceArrays` (pure)."""
    as_of = as_of or spec.as_of
    items = [li.item for li in known_items(spec, as_of)]
    cluster_sizes = Counter(i.cluster for i in items if i.cluster is not None)
    scenarios, drivers = spec.scenario_ids, spec.driver_ids
    j_index = {d: i for i, d in enumerate(drivers)}
    rating_table = spec.measurement.ratings.weights

    labels, owners, drv, qtr, cat, wts = [], [], [], [], [], []
    r_items, r_loglik, r_wts = [], [], []
    for item in items:
        w = item_weight(item, spec, cluster_sizes)
        t = item.event_date.quarter - spec.start
        if item.drivers is not None:
            for name, score in item.drivers.items():
                labels.append(f"{item.id}:{name}")
                owners.append(item.id)
                drv.append(j_index[name])
                qtr.append(t)
                cat.append(score + 2)
                wts.append(w)
        else:
            ratings = item.scenarios or {}
            r_items.append(item.id)
            r_loglik.append([np.log(rating_table[ratings.get(k, "N")]) for k in scenarios])
            r_wts.append(w)

    series, s_driver, a_mu, a_sd, c_ln, n_ln = [], [], [], [], [], []
    o_labels, o_series, o_quarter, o_value = [], [], [], []
    for s_index, (ser, _path) in enumerate(spec.indicators):
        series.append(ser.id)
        s_driver.append(j_index[ser.driver])
        mu, sd = ser.intercept.params()
        a_mu.append(mu)
        a_sd.append(sd)
        c_ln.append(ser.slope.params())
        n_ln.append(ser.noise.params())
        for obs, y in zip(ser.observations, ser.transformed(), strict=True):
            q = period_quarter(obs.period)
            if q > as_of:
                continue
            o_labels.append(f"{ser.id}:{obs.period}")
            o_series.append(s_index)
            o_quarter.append(q - spec.start)
            o_value.append(y)

    assert set(RATINGS) == set(rating_table)
    return EvidenceArrays(
        coding_labels=labels,
        coding_items=owners,
        coding_driver=np.array(drv, dtype=int),
        coding_quarter=np.array(qtr, dtype=int),
        coding_category=np.array(cat, dtype=int),
        coding_weight=np.array(wts, dtype=float),
        rating_items=r_items,
        rating_loglik=np.array(r_loglik, dtype=float).reshape(-1, len(scenarios)),
        rating_weight=np.array(r_wts, dtype=float),
        series=series,
        series_driver=np.array(s_driver, dtype=int),
        intercept_mu=np.array(a_mu, dtype=float),
        intercept_sigma=np.array(a_sd, dtype=float),
        slope_log_mu=np.array([c[0] for c in c_ln], dtype=float),
        slope_log_sd=np.array([c[1] for c in c_ln], dtype=float),
        noise_log_mu=np.array([n[0] for n in n_ln], dtype=float),
        noise_log_sd=np.array([n[1] for n in n_ln], dtype=float),
        obs_labels=o_labels,
        obs_series=np.array(o_series, dtype=int),
        obs_quarter=np.array(o_quarter, dtype=int),
        obs_value=np.array(o_value, dtype=float),
    )
