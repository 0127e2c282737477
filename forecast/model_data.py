"""What the model is given, without PyMC: its coordinates and the values of its data containers.

:func:`forecast.model.build_model` builds the PyMC graph from these; the sampler's warm path
(:mod:`forecast.sampling`, with compiled programs from the cache) needs only this module, so a
warm ``forecast update`` does not import PyMC.
"""

from __future__ import annotations

import numpy as np

from forecast.dims import (
    DRIVER,
    INNOVATION_NORMAL,
    INNOVATION_STUDENT,
    INTERACTION,
    PIN,
    QUARTER,
    SCENARIO,
    SERIES,
)
from forecast.evidence import EvidenceArrays
from forecast.likelihood import ordinal_bounds
from forecast.priors import PriorArrays


def pinned_observations(priors: PriorArrays, evidence: EvidenceArrays | None) -> np.ndarray:
    """Return the indicator observations that anchor the driver path (indices into obs).

    An indicator pins its driver tightly when its noise is small; in the plain non-centred walk
    that makes a funnel between the noise sd and the innovations (hundreds of divergences on the
    shipped project), and a fully centred pin has the mirror funnel when the noise is large. So for
    the first observation of each (driver, quarter > 0) the model samples, instead of that
    quarter's innovation, ``u ~ N(0, 1)`` with ``x[j, q] = m + s u``, where ``m`` and ``s`` are the
    mean and sd of x[j, q] given the step into it and the observation alone (a one-step Kalman
    update). It is centred where the data are strong and non-centred where they are weak. The
    walk step's density, the observation's density and the Jacobian ``log s`` enter as the
    potential ``indicator_pins``; the posterior is unchanged (the tests check the densities).
    """
    if evidence is None or not evidence.n_obs or priors.n_quarters < 2:
        return np.zeros(0, dtype=int)
    seen, pins = set(), []
    for i, (s, q) in enumerate(zip(evidence.obs_series, evidence.obs_quarter, strict=True)):
        key = (int(evidence.series_driver[s]), int(q))
        if q > 0 and key not in seen:
            seen.add(key)
            pins.append(i)
    return np.array(pins, dtype=int)


def free_slots(priors: PriorArrays, pin_j: np.ndarray, pin_q: np.ndarray) -> dict[str, tuple]:
    """(driver, step) indices of the sampled innovations, split by family, and their labels."""
    free = np.ones((len(priors.drivers), priors.n_quarters - 1), dtype=bool)
    free[pin_j, pin_q - 1] = False
    out = {}
    for name, mask in (("normal", ~priors.student_t), ("student", priors.student_t)):
        j, t = np.nonzero(free & mask[:, None])
        labels = [
            f"{priors.drivers[a]}:{priors.quarters[b + 1]}" for a, b in zip(j, t, strict=True)
        ]
        out[name] = (j, t, labels)
    return out


def has_evidence(evidence: EvidenceArrays | None) -> bool:
    """Whether ``evidence`` holds anything the likelihood uses."""
    return evidence is not None and bool(evidence.n_codings or evidence.n_obs or evidence.n_rated)


def model_coords(
    priors: PriorArrays,
    evidence: EvidenceArrays | None,
    *,
    likelihood: bool = True,
    pin_indicators: bool = True,
) -> dict[str, list]:
    """The model's coordinates (dims of its variables) for these inputs; see ``build_model``."""
    use = evidence if has_evidence(evidence) else None
    pins = pinned_observations(priors, use) if (likelihood and pin_indicators) else np.zeros(0, int)
    coords: dict[str, list] = {
        SCENARIO: list(priors.scenarios),
        DRIVER: list(priors.drivers),
        QUARTER: list(priors.quarters),
        INTERACTION: priors.interaction_labels,
        SERIES: list(use.series) if use is not None and use.n_obs else [],
        PIN: [use.obs_labels[i] for i in pins] if len(pins) else [],
    }
    if priors.n_quarters > 1:
        pin_j = use.series_driver[use.obs_series[pins]] if len(pins) else np.zeros(0, int)
        pin_q = use.obs_quarter[pins] if len(pins) else np.zeros(0, int)
        slots = free_slots(priors, pin_j, pin_q)
        coords[INNOVATION_NORMAL] = slots["normal"][2]
        coords[INNOVATION_STUDENT] = slots["student"][2]
    return coords


#: Names of the model's data containers: the values that change between fits of one shape (a
#: backtest's quarters, the simulated evidence sets of a calibration) without rebuilding it.
DATA_NAMES = (
    "as_of_index",
    "horizon_steps",
    "coding_upper_weight",
    "coding_lower_weight",
    "coding_const",
    "obs_value",
    "obs_weight",
    "ratings_block",
)


def data_values(
    priors: PriorArrays, evidence: EvidenceArrays | None, likelihood: bool = True
) -> dict[str, np.ndarray]:
    """Values of the model's data containers for these inputs (see :data:`DATA_NAMES`)."""
    out = {
        "as_of_index": np.asarray(priors.as_of_position, dtype="int64"),
        "horizon_steps": np.asarray(float(priors.h)),
    }
    if evidence is None or not likelihood:
        return out
    if evidence.n_codings:
        upper, lower, const = coding_weights(priors, evidence)
        out.update(coding_upper_weight=upper, coding_lower_weight=lower, coding_const=const)
    if evidence.n_obs:
        out.update(
            obs_value=np.asarray(evidence.obs_value, dtype=float),
            obs_weight=evidence.obs_weights,
        )
    if evidence.n_rated:
        out["ratings_block"] = np.asarray(evidence.ratings_block, dtype=float)
    return out


def coding_cells(evidence: EvidenceArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (driver, quarter) cells that carry codings, and each coding's cell."""
    pairs = np.stack([evidence.coding_driver, evidence.coding_quarter])
    cells, cell = np.unique(pairs, axis=1, return_inverse=True)
    return cells[0], cells[1], cell.reshape(-1)


def coding_weights(
    priors: PriorArrays, evidence: EvidenceArrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sufficient statistics of the driver codings: weights per (cell, cutpoint).

    A coding of category m in cell (j, t) contributes ``log sigmoid(c_m - kappa x) +
    log sigmoid(kappa x - c_{m-1}) + const_m`` (one term only in the outer categories). Summing
    the weights of the codings of a cell that use cutpoint k as their upper (lower) bound gives
    ``upper[cell, k]`` (``lower[cell, k]``) over the cells of :func:`coding_cells`; the
    likelihood then costs one log-sigmoid per cell and cutpoint, however many items share a
    cell. ``const`` is the weighted sum of the constants.
    """
    cell_j, _, cell = coding_cells(evidence)
    shape = (len(cell_j), len(priors.cutpoints))
    upper, lower = np.zeros(shape), np.zeros(shape)
    m = evidence.coding_category
    w = np.asarray(evidence.coding_weight, dtype=float)
    _, _, has_lower, has_upper, const = ordinal_bounds(m, priors.cutpoints)
    up, lo = has_upper > 0, has_lower > 0
    np.add.at(upper, (cell[up], m[up]), w[up])
    np.add.at(lower, (cell[lo], m[lo] - 1), w[lo])
    return upper, lower, np.asarray(float(np.sum(w * const)))
