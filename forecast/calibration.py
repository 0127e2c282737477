"""Simulation-based calibration of the model on a project's structure (MODEL.md §6.3).

Talts et al. (2018): draw true values from the prior, simulate an evidence set from them, fit it,
and take the rank of each true value among thinned posterior draws. When the sampler and the model
agree, every rank is uniform; the ECDF of the randomised ranks must stay inside the simultaneous
band of Säilynoja et al. (2022).

The evidence sets have the project's structure: its driver codings (driver and quarter of each,
weight 1 as MODEL.md says) and its indicator series (observation quarters and measurement
priors). Only the coded categories and the indicator values change between simulations, so every
fit has the same shapes. The ratings block is not generative and is left out (MODEL.md §6.2 checks
it). Pure apart from the fits: the CLI writes the files.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecast.evidence import EvidenceArrays
from forecast.prior_forecast import simulate_prior
from forecast.priors import PriorArrays

#: Family-wise coverage of the ECDF bands: the verdict holds all quantities at once.
BAND_PROB = 0.95
#: The groups of quantities ranked, in table and plot order.
GROUPS = ("x_as_of", "mu", "sigma", "p")


@dataclass(frozen=True)
class FitSettings:
    """Sampler settings of each fit and the number of thinned draws the ranks are taken among."""

    draws: int = 500
    tune: int = 500
    chains: int = 2
    target_accept: float = 0.95
    backend: str = "numpyro"
    rank_draws: int = 99


@dataclass(frozen=True, repr=False)
class SimTask:
    """One simulation: picklable, so that an executor can send it to another process."""

    index: int
    seed: int
    priors: PriorArrays
    structure: EvidenceArrays
    settings: FitSettings
    #: Replaces the fit (tests): ``fit(priors, evidence, truth, settings, rng)`` -> draws dict.
    fit: Callable[..., dict[str, np.ndarray]] | None = None

    def __repr__(self) -> str:
        return f"SimTask(index={self.index}, seed={self.seed})"


@dataclass(frozen=True)
class SimResult:
    """Ranks of one simulation (quantity order of :func:`quantity_names`) and fit diagnostics."""

    index: int
    seed: int
    ranks: np.ndarray  # (quantity,) int in 0..rank_draws
    pit: np.ndarray  # (quantity,) randomised rank / (rank_draws + 1), in [0, 1)
    divergences: int
    seconds: float


@dataclass
class Calibration:
    """The verdict of an SBC run over ``n_sims`` simulations."""

    names: list[str]
    pit: np.ndarray  # (sim, quantity)
    ranks: np.ndarray  # (sim, quantity)
    max_deviation: np.ndarray  # (quantity,) max |ECDF(u) - u|
    inside_95: np.ndarray  # (quantity,) inside the quantity's own 95% simultaneous band
    passed_each: np.ndarray  # (quantity,) inside the band of family-wise coverage BAND_PROB
    band_prob: float  # per-quantity coverage used for passed_each (Bonferroni)
    divergences: int
    fit_seconds: float
    settings: FitSettings
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_sims(self) -> int:
        """Number of simulations."""
        return int(self.pit.shape[0])

    @property
    def passed(self) -> bool:
        """Every quantity inside its band."""
        return bool(self.passed_each.all())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI's ``--json`` and ``summary.json``)."""
        return {
            "passed": self.passed,
            "sims": self.n_sims,
            "band_prob_family": BAND_PROB,
            "band_prob_each": round(self.band_prob, 6),
            "divergences": self.divergences,
            "fit_seconds": round(self.fit_seconds, 1),
            "settings": dataclasses.asdict(self.settings),
            **self.meta,
            "quantities": {
                name: {
                    "max_deviation": round(float(self.max_deviation[i]), 4),
                    "inside_95": bool(self.inside_95[i]),
                    "passed": bool(self.passed_each[i]),
                }
                for i, name in enumerate(self.names)
            },
        }


# ---------------------------------------------------------------- structure and simulation


def sbc_structure(evidence: EvidenceArrays) -> EvidenceArrays:
    """The project's evidence for SBC: codings at weight 1, indicators kept, ratings left out."""
    return dataclasses.replace(
        evidence,
        coding_weight=np.ones(evidence.n_codings),
        rating_items=[],
        rating_loglik=np.zeros((0, evidence.rating_loglik.shape[1])),
        rating_weight=np.zeros(0),
    )


def quantity_names(priors: PriorArrays) -> list[str]:
    """Names of the ranked quantities: x at as_of, mu and sigma per driver, p per scenario."""
    per_driver = [f"{g}[{d}]" for g in GROUPS[:3] for d in priors.drivers]
    return per_driver + [f"p[{s}]" for s in priors.scenarios]


def quantities(draws: dict[str, np.ndarray]) -> np.ndarray:
    """x[:, as_of], mu, sigma and p of draws with a leading draw axis -> (draw, quantity)."""
    return np.concatenate([draws["x"][:, :, -1], draws["mu"], draws["sigma"], draws["p"]], axis=1)


def simulate(
    priors: PriorArrays, structure: EvidenceArrays, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], EvidenceArrays]:
    """True values from the prior (one draw, leading axis 1) and an evidence set drawn from them.

    Codings follow the ordered logistic at weight 1: the category is the number of cutpoints below
    kappa * x[j, t] + a standard logistic draw. Indicator values follow the measurement model
    y = a + c * x[j, q] + sd * N(0, 1), with a, c and sd drawn from the series' priors.
    """
    truth = simulate_prior(priors, 1, seed=int(rng.integers(2**62)))
    x = truth["x"][0]
    latent = priors.kappa * x[structure.coding_driver, structure.coding_quarter]
    latent = latent + rng.logistic(size=structure.n_codings)
    category = np.searchsorted(priors.cutpoints, latent).astype(int)
    n_series = len(structure.series)
    a = structure.intercept_mu + structure.intercept_sigma * rng.standard_normal(n_series)
    c = np.exp(structure.slope_log_mu + structure.slope_log_sd * rng.standard_normal(n_series))
    sd = np.exp(structure.noise_log_mu + structure.noise_log_sd * rng.standard_normal(n_series))
    s = structure.obs_series
    level = x[structure.series_driver[s], structure.obs_quarter]
    values = a[s] + c[s] * level + sd[s] * rng.standard_normal(structure.n_obs)
    truth.update({"a": a[None], "c": c[None], "sd": sd[None]})
    evidence = dataclasses.replace(structure, coding_category=category, obs_value=values)
    return truth, evidence


def thinned_draws(fit, n: int) -> dict[str, np.ndarray]:
    """``n`` posterior draws of x, mu, sigma and p, evenly spaced over the chains' draws."""
    post = fit.posterior
    out = {}
    for name in ("x", "mu", "sigma", "p"):
        values = post[name].values
        flat = values.reshape(-1, *values.shape[2:])
        keep = np.linspace(0, flat.shape[0] - 1, n).round().astype(int)
        out[name] = flat[keep]
    return out


def rank_of(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of each true value among the draws (draw, quantity), ties broken at random."""
    below = (draws < truth).sum(axis=0)
    ties = (draws == truth).sum(axis=0)
    return below + np.floor(rng.uniform(size=below.shape) * (ties + 1)).astype(int)


def run_sim(task: SimTask) -> SimResult:
    """Simulate one evidence set, fit it and rank the true values (top level: it is pickled)."""
    rng = np.random.default_rng(task.seed)
    truth, evidence = simulate(task.priors, task.structure, rng)
    st = task.settings
    start = time.perf_counter()
    if task.fit is not None:
        draws, divergences = task.fit(task.priors, evidence, truth, st, rng), 0
    else:
        from forecast.sampling import sample_groups

        fit = sample_groups(
            task.priors,
            evidence,
            draws=st.draws,
            tune=st.tune,
            chains=st.chains,
            target_accept=st.target_accept,
            seed=task.seed % (2**31),
            backend=st.backend,
            prior_draws=0,
        )
        draws = thinned_draws(fit, st.rank_draws)
        divergences = int(fit.sample_stats["diverging"].sum())
    seconds = time.perf_counter() - start
    ranks = rank_of(quantities(truth)[0], quantities(draws), rng)
    pit = (ranks + rng.uniform(size=ranks.shape)) / (st.rank_draws + 1)
    return SimResult(task.index, task.seed, ranks, pit, divergences, seconds)


def result_record(result: SimResult) -> dict[str, Any]:
    """One finished simulation as JSON-ready data (a line of ``sims.jsonl``)."""
    return {
        "index": result.index,
        "seed": result.seed,
        "ranks": result.ranks.tolist(),
        "pit": [float(v) for v in result.pit],
        "divergences": result.divergences,
        "seconds": round(result.seconds, 3),
    }


def result_from_record(record: dict[str, Any]) -> SimResult:
    """The inverse of :func:`result_record`."""
    return SimResult(
        index=int(record["index"]),
        seed=int(record["seed"]),
        ranks=np.asarray(record["ranks"], dtype=int),
        pit=np.asarray(record["pit"], dtype=float),
        divergences=int(record["divergences"]),
        seconds=float(record["seconds"]),
    )


def make_tasks(
    priors: PriorArrays,
    evidence: EvidenceArrays,
    n_sims: int,
    seed: int,
    settings: FitSettings,
    fit: Callable[..., dict[str, np.ndarray]] | None = None,
) -> list[SimTask]:
    """``n_sims`` tasks on the structure of ``evidence``, each with a child seed of ``seed``."""
    structure = sbc_structure(evidence)
    children = np.random.SeedSequence(seed).generate_state(n_sims, dtype=np.uint64)
    return [
        SimTask(i, int(children[i] >> np.uint64(1)), priors, structure, settings, fit)
        for i in range(n_sims)
    ]


# ---------------------------------------------------------------- the verdict


@functools.cache
def ecdf_band(n_sims: int, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous band of the ECDF of ``n_sims`` uniform values at :func:`ecdf_grid` points.

    Säilynoja et al. (2022), ArviZ's optimised method; cached, as it takes seconds.
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    grid = ecdf_grid(n_sims)
    return ecdf_confidence_band(n_sims, grid, grid, prob=prob, method="optimized")


def ecdf_grid(n_sims: int) -> np.ndarray:
    """Evaluation points of the ECDF: the inner points of a regular grid of ``n_sims`` steps."""
    return np.linspace(0, 1, n_sims + 1)[1:-1]


def assess(
    results: Sequence[SimResult],
    names: list[str],
    settings: FitSettings,
    meta: dict[str, Any] | None = None,
) -> Calibration:
    """The ECDF of each quantity's ranks against its 95% band and the family-wise band.

    With Q quantities each band is widened to coverage 1 - (1 - BAND_PROB) / Q (Bonferroni), so
    a calibrated model passes with probability at least BAND_PROB.
    """
    results = sorted(results, key=lambda r: r.index)
    pit = np.array([r.pit for r in results])
    n, q = pit.shape
    grid = ecdf_grid(n)
    ecdf = (pit[:, None, :] <= grid[None, :, None]).mean(axis=0)  # (grid, quantity)
    band_each = 1 - (1 - BAND_PROB) / q
    lo95, hi95 = ecdf_band(n, 0.95)
    lo, hi = ecdf_band(n, band_each)
    return Calibration(
        names=names,
        pit=pit,
        ranks=np.array([r.ranks for r in results]),
        max_deviation=np.abs(ecdf - grid[:, None]).max(axis=0),
        inside_95=((ecdf >= lo95[:, None]) & (ecdf <= hi95[:, None])).all(axis=0),
        passed_each=((ecdf >= lo[:, None]) & (ecdf <= hi[:, None])).all(axis=0),
        band_prob=band_each,
        divergences=sum(r.divergences for r in results),
        fit_seconds=sum(r.seconds for r in results),
        settings=settings,
        meta=dict(meta or {}),
    )


def calibrate(
    priors: PriorArrays,
    evidence: EvidenceArrays,
    *,
    n_sims: int = 100,
    seed: int = 0,
    settings: FitSettings | None = None,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    on_result: Callable[[SimTask, SimResult], None] | None = None,
    fit: Callable[..., dict[str, np.ndarray]] | None = None,
    done: Sequence[SimResult] = (),
) -> Calibration:
    """Run SBC over ``n_sims`` evidence sets with the structure of ``evidence``.

    Parameters
    ----------
    priors, evidence
        The project's prior arrays and evidence (only its structure is used).
    n_sims, seed
        Number of simulations; the seed of all of them (each gets a child seed).
    settings
        Sampler settings per fit and the number of thinned draws to rank among.
    executor, workers, scheduler
        Where the fits run (``forecast.executor.run_tasks``).
    on_result
        Called in this process as each simulation finishes.
    fit
        Replaces the NUTS fit (tests): ``fit(priors, evidence, truth, settings, rng)`` returns
        draws ``x``, ``mu``, ``sigma``, ``p`` with a leading axis of ``settings.rank_draws``.
    done
        Simulations finished before (a resumed run): those whose index and seed match a task
        are kept and not run again.

    Returns
    -------
    Calibration
    """
    from forecast.executor import run_tasks

    settings = settings or FitSettings()
    tasks = make_tasks(priors, evidence, n_sims, seed, settings, fit)
    kept = {r.index: r for r in done if r.index < n_sims and r.seed == tasks[r.index].seed}
    start = time.perf_counter()
    results = run_tasks(
        run_sim,
        [t for t in tasks if t.index not in kept],
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        on_result=on_result,
    )
    results = [*kept.values(), *results]
    meta = {
        "seed": seed,
        "executor": executor,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "resumed": len(kept),
        "codings": evidence.n_codings,
        "indicator_observations": evidence.n_obs,
        "drivers": len(priors.drivers),
        "scenarios": len(priors.scenarios),
        "quarters": priors.n_quarters,
    }
    return assess(results, quantity_names(priors), settings, meta)


# ---------------------------------------------------------------- tables and figures


def summary_rows(cal: Calibration) -> list[tuple[str, float, bool, bool]]:
    """(quantity, max |ECDF - uniform|, inside its 95% band, pass) per quantity."""
    return [
        (name, float(cal.max_deviation[i]), bool(cal.inside_95[i]), bool(cal.passed_each[i]))
        for i, name in enumerate(cal.names)
    ]


def summary_markdown(cal: Calibration, command: str = "") -> str:
    """The run as Markdown: settings, the verdict and a row per quantity."""
    st, m = cal.settings, cal.meta
    lines = [
        "# Simulation-based calibration",
        "",
        f"**{'PASS' if cal.passed else 'FAIL'}**: {int(cal.passed_each.sum())} of "
        f"{len(cal.names)} quantities inside their simultaneous ECDF band (family-wise "
        f"{BAND_PROB:.0%}, each {cal.band_prob:.4f}).",
        "",
    ]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        f"- simulations: {cal.n_sims}; seed {m.get('seed')}",
        f"- structure: {m.get('drivers')} drivers, {m.get('scenarios')} scenarios, "
        f"{m.get('quarters')} quarters, {m.get('codings')} codings (weight 1), "
        f"{m.get('indicator_observations')} indicator observations",
        f"- per fit: {st.chains} chains × {st.draws} draws after {st.tune} tuning, "
        f"target_accept {st.target_accept}, {st.backend}; "
        f"ranks among {st.rank_draws} thinned draws",
        f"- executor: {m.get('executor')}, {m.get('workers')} worker(s); "
        f"wall time {m.get('wall_seconds', 0):.0f} s; fits {cal.fit_seconds:.0f} s in total",
        f"- divergent transitions: {cal.divergences} in all fits",
        "",
        "| quantity | max abs(ECDF − uniform) | inside 95% band | pass |",
        "|---|---|---|---|",
    ]
    for name, dev, inside, ok in summary_rows(cal):
        lines.append(f"| {name} | {dev:.3f} | {'yes' if inside else 'no'} | {'✓' if ok else '✗'} |")
    return "\n".join(lines) + "\n"


def plot_ecdf_difference(cal: Calibration):
    """ECDF of each quantity's ranks minus the uniform CDF, with its bands (a matplotlib Figure).

    One panel per quantity, a row per group (x at as_of, mu, sigma, p); the dark band is the
    quantity's own 95% band, the light one the wider family-wise band the verdict uses.
    """
    from matplotlib.figure import Figure

    n = cal.n_sims
    grid = ecdf_grid(n)
    lo95, hi95 = ecdf_band(n, 0.95)
    lo, hi = ecdf_band(n, cal.band_prob)
    rows = [[i for i, nm in enumerate(cal.names) if nm.startswith(g + "[")] for g in GROUPS]
    n_cols = max(len(r) for r in rows)
    fig = Figure(figsize=(2.6 * n_cols, 2.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n_cols, sharex=True, sharey=True, squeeze=False)
    for r, idx in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(idx):
                ax.set_visible(False)
                continue
            i = idx[c]
            ecdf = (cal.pit[:, i][None, :] <= grid[:, None]).mean(axis=1)
            first = r == 0 and c == 0
            ax.fill_between(
                grid,
                lo - grid,
                hi - grid,
                color="#c9d6e3",
                step="mid",
                lw=0,
                label=f"family-wise {BAND_PROB:.0%} band" if first else None,
            )
            ax.fill_between(
                grid,
                lo95 - grid,
                hi95 - grid,
                color="#8fb0cf",
                step="mid",
                lw=0,
                label="95% band" if first else None,
            )
            color = "#1f5a96" if cal.passed_each[i] else "#c0392b"
            ax.step(grid, ecdf - grid, where="mid", color=color, lw=1.2)
            ax.axhline(0, color="#5d6d7e", lw=0.6)
            ax.set_title(cal.names[i], fontsize=8)
            if first:
                ax.legend(fontsize=6, loc="lower left", frameon=False)
            ax.tick_params(labelsize=7)
    fig.suptitle(
        f"SBC: ECDF − uniform of the ranks, {n} simulations ({'pass' if cal.passed else 'FAIL'})",
        fontsize=10,
    )
    fig.supxlabel("fractional rank", fontsize=8)
    return fig
