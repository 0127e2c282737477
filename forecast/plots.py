"""Figures of a run: each function returns a matplotlib Figure and never shows or saves it.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot state), so they work the
same in notebooks, reports and headless tests.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from forecast.dims import DRIVER, QUARTER, SCENARIO
from forecast.quarters import Quarter
from forecast.results import stack_draws

PALETTE = ("#1f5a96", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#5d6d7e", "#17a589", "#a04000")
#: Seed of the future-noise draws in the drivers' fan charts (deterministic figures).
FAN_SEED = 7


def _quantiles(draws: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - mass) / 2
    return np.quantile(draws, tail, axis=-1), np.quantile(draws, 1 - tail, axis=-1)


def scenario_colors(scenarios: list[str]) -> dict[str, str]:
    """A stable colour per scenario, shared by every figure."""
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(scenarios)}


def plot_probabilities(idata, mass: float, var: str = "q") -> Figure:
    """Scenario probabilities: posterior mean, interval of ``mass`` and the draws' density."""
    q = stack_draws(idata.posterior[var])
    scenarios = [str(s) for s in q[SCENARIO].values]
    colors = scenario_colors(scenarios)
    order = np.argsort(q.mean("sample").values)
    fig = Figure(figsize=(6.5, 0.6 * len(scenarios) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    for row, k in enumerate(order):
        draws = q.isel({SCENARIO: k}).values
        lo, hi = _quantiles(draws, mass)
        s = scenarios[k]
        parts = ax.violinplot(
            draws, positions=[row], orientation="horizontal", widths=0.8, showextrema=False
        )
        for body in parts["bodies"]:
            body.set_facecolor(colors[s])
            body.set_alpha(0.25)
        ax.hlines(row, lo, hi, color=colors[s], lw=4)
        ax.plot(draws.mean(), row, "o", color="white", mec=colors[s], mew=2, ms=9)
        ax.annotate(
            f"{draws.mean():.2f}",
            (draws.mean(), row),
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.set_yticks(range(len(scenarios)), [scenarios[k] for k in order])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"probability at the horizon (mean, {mass:.0%} interval, density of draws)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _future_draws(post: xr.Dataset, steps: int, nu: np.ndarray | None) -> np.ndarray:
    """Predictive driver paths after as_of: (driver, step, sample), with future noise."""
    x_t = stack_draws(post["x"].isel({QUARTER: -1})).values  # (driver, sample)
    mu = stack_draws(post["mu"]).values
    sigma = stack_draws(post["sigma"]).values
    rng = np.random.default_rng(FAN_SEED)
    z = rng.standard_normal((steps, *x_t.shape))
    if nu is not None:
        finite = np.isfinite(nu)
        for j in np.flatnonzero(finite):
            z[:, j, :] = rng.standard_t(nu[j], size=(steps, x_t.shape[1]))
    walk = np.cumsum(mu[None] + sigma[None] * z, axis=0)  # (step, driver, sample)
    return np.moveaxis(x_t[None] + walk, 0, 1)


def plot_drivers(
    idata,
    mass: float,
    horizon: str | None = None,
    nu: np.ndarray | None = None,
) -> Figure:
    """Fan charts of every driver: fitted from the start to as_of, projected to the horizon."""
    post = idata.posterior
    x = stack_draws(post["x"])  # (driver, quarter, sample)
    quarters = [str(q) for q in x[QUARTER].values]
    drivers = [str(d) for d in x[DRIVER].values]
    horizon = horizon or post.attrs.get("horizon") or quarters[-1]
    steps = Quarter.parse(horizon) - Quarter.parse(quarters[-1])
    future = _future_draws(post, steps, nu) if steps > 0 else None
    n = len(drivers)
    cols = 2 if n > 1 else 1
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(11, 3.0 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    t = np.arange(len(quarters))
    for j, name in enumerate(drivers):
        ax = axes[j // cols][j % cols]
        draws = x.isel({DRIVER: j}).values
        for m, alpha in ((mass, 0.25), (0.5, 0.45)):
            lo, hi = _quantiles(draws, m)
            ax.fill_between(t, lo, hi, color=PALETTE[0], alpha=alpha, lw=0)
        ax.plot(t, draws.mean(-1), color=PALETTE[0], lw=1.6, label="fitted")
        if future is not None:
            tf = np.arange(len(quarters) - 1, len(quarters) + steps)
            f = np.concatenate([draws[-1:], future[j]], axis=0)
            lo, hi = _quantiles(f, mass)
            ax.fill_between(tf, lo, hi, color=PALETTE[3], alpha=0.2, lw=0)
            ax.plot(tf, f.mean(-1), color=PALETTE[3], lw=1.4, ls="--", label="projected")
        ax.axhline(0, color="black", lw=0.6, alpha=0.6)
        ax.set_title(name, fontsize=10, loc="left")
        ax.grid(alpha=0.3)
    labels = [*quarters, *[str(Quarter.parse(quarters[-1]) + i) for i in range(1, steps + 1)]]
    ticks = [i for i, q in enumerate(labels) if q.endswith("Q1") and int(q[:4]) % 2 == 0]
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes.flat[:n]:
        ax.set_xticks(ticks, [labels[i][:4] for i in ticks])
    axes.flat[0].legend(loc="upper left", fontsize=8)
    fig.supylabel("driver level (0 = long-run norm)")
    return fig


def plot_p_now(idata, mass: float) -> Figure:
    """Where the structure pointed each quarter: p_now(quarter, scenario) with intervals."""
    p = stack_draws(idata.posterior["p_now"])
    quarters = [str(q) for q in p[QUARTER].values]
    scenarios = [str(s) for s in p[SCENARIO].values]
    colors = scenario_colors(scenarios)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    t = np.arange(len(quarters))
    for k, s in enumerate(scenarios):
        draws = p.isel({SCENARIO: k}).values
        lo, hi = _quantiles(draws, mass)
        ax.fill_between(t, lo, hi, color=colors[s], alpha=0.15, lw=0)
        ax.plot(t, draws.mean(-1), color=colors[s], lw=1.8, label=s)
    ticks = [i for i, q in enumerate(quarters) if q.endswith("Q1")]
    ax.set_xticks(ticks, [quarters[i][:4] for i in ticks])
    ax.set_ylim(0, 1)
    ax.set_ylabel("softmax(eta(x[t]))")
    ax.legend(ncol=len(scenarios), loc="upper center", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_prior_posterior(idata, var: str, dim: str) -> Figure:
    """Prior and posterior densities of a 1-D variable (e.g. q over scenarios, x_H over drivers)."""
    post = stack_draws(idata.posterior[var])
    prior = stack_draws(idata.prior[var]) if "prior" in idata.groups() else None
    labels = [str(v) for v in post[dim].values]
    fig = Figure(figsize=(11, 2.4 * int(np.ceil(len(labels) / 2)) + 0.5), layout="constrained")
    axes = fig.subplots(int(np.ceil(len(labels) / 2)), 2, squeeze=False)
    for i, label in enumerate(labels):
        ax = axes[i // 2][i % 2]
        values = [post.isel({dim: i}).values]
        if prior is not None:
            values.append(prior.isel({dim: i}).values)
        lo = min(float(np.quantile(v, 0.005)) for v in values)
        hi = max(float(np.quantile(v, 0.995)) for v in values)
        bins = np.linspace(lo, hi, 50)
        if prior is not None:
            ax.hist(values[1], bins=bins, density=True, color="grey", alpha=0.4, label="prior")
        ax.hist(values[0], bins=bins, density=True, color=PALETTE[0], alpha=0.6, label="posterior")
        ax.set_title(label, fontsize=10, loc="left")
        ax.set_yticks([])
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    return fig


def plot_history(rows: list[dict], scenarios: list[str] | None = None) -> Figure:
    """The trend of published forecasts: mean and interval of each scenario per quarter.

    Parameters
    ----------
    rows
        Records with ``quarter``, ``scenario``, ``mean``, ``lower``, ``upper`` and ``kind``
        (``published`` or ``backtest``), e.g. ``reports/history.csv`` plus the current forecast.
        Published forecasts are solid lines with filled markers; backtests are dashed with
        hollow markers.
    scenarios
        Scenario order (default: order of first appearance).
    """
    scenarios = scenarios or list(dict.fromkeys(str(r["scenario"]) for r in rows))
    colors = scenario_colors(scenarios)
    quarters = sorted({str(r["quarter"]) for r in rows}, key=Quarter.parse)
    pos = {q: i for i, q in enumerate(quarters)}
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    styles = {"published": ("-", None), "backtest": ("--", "white")}
    labelled: set[str] = set()
    for s in scenarios:
        for kind, (ls, face) in styles.items():
            pts = sorted(
                (r for r in rows if r["scenario"] == s and r.get("kind", "published") == kind),
                key=lambda r: Quarter.parse(str(r["quarter"])),
            )
            if not pts:
                continue
            t = np.array([pos[str(r["quarter"])] for r in pts], dtype=float)
            mean = np.array([float(r["mean"]) for r in pts])
            lo = np.array([float(r["lower"]) for r in pts])
            hi = np.array([float(r["upper"]) for r in pts])
            ax.errorbar(
                t + (0.08 if kind == "backtest" else 0.0),
                mean,
                yerr=np.clip([mean - lo, hi - mean], 0, None),
                color=colors[s],
                ls=ls,
                marker="o",
                mfc=face or colors[s],
                capsize=3,
                lw=1.6,
                label=None if s in labelled else s,
            )
            labelled.add(s)
    ax.plot([], [], "k-", marker="o", label="published")
    ax.plot([], [], "k--", marker="o", mfc="white", label="backtest")
    if len(quarters) > 12:
        # A long history (a backtest): label each year once, at its first quarter shown.
        years = [str(q)[:4] for q in quarters]
        ticks = [i for i, y in enumerate(years) if i == 0 or y != years[i - 1]]
        ax.set_xticks(ticks, [str(quarters[i])[:4] for i in ticks])
        ax.set_xticks(range(len(quarters)), minor=True)
    else:
        ax.set_xticks(range(len(quarters)), quarters, rotation=45 if len(quarters) > 8 else 0)
    ax.set_xlim(-0.5, len(quarters) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability at the horizon")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return fig
