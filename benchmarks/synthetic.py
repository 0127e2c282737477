"""Generate a synthetic project of any size, simulated from the model itself.

The project has J drivers, T quarters ending at ``as_of`` (the quarter of ``--today``), M items of
which a given share carry scenario ratings (the rest driver codings), and optionally one indicator
series. The four scenarios, the Admiralty tables, the ordinal scale, the rating likelihoods and the
sampler settings are the shipped project's (copied from ``priors/``).

How the evidence is simulated (MODEL.md §2–§3, ``forecast.likelihood``):

1. Driver paths x[j, t], trends, volatilities, alpha and beta are one draw from the prior's random
   walk (``forecast.prior_forecast.simulate_prior`` on the written priors), and with them the
   structural probabilities p at the horizon.
2. The scenario that "happens" is drawn from p.
3. A driver-coded item gets a random quarter t_e, one or two drivers and an Admiralty grade with
   weight w = r·c (/ cluster size). Each score is drawn from the tempered ordered logistic the model
   scores it with, P(s) ∝ OrderedLogistic(s + 2 | κ x[j, t_e], cutpoints)^w (a weak item is a noisy
   one).
4. A rated item rates two or three scenarios. The rating of the scenario that happens is drawn with
   probabilities ∝ λ(r)^w, the rating of any other ∝ (1 − λ(r))^w, so that consistent ratings point
   at the true scenario as strongly as the ACH likelihoods say. At least one rating is not N.
5. An indicator series (identity transform) on the first driver: y = a + c·x + noise, yearly.

Usage (from the repository root)::

    python benchmarks/synthetic.py OUT_DIR --drivers 8 --quarters 60 --items 2000 \\
        --rated-share 0.3 [--indicator] [--seed 1] [--today 2026-11-30]

The project passes ``forecast validate`` (with ``FORECAST_TODAY`` set to ``--today``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PRIORS = ROOT / "priors"
RATINGS = ["CC", "C", "N", "I", "II"]
# Grade frequencies of a typical open-source collection: mostly B/C sources, credibility 2-3.
RELIABILITY_P = {"A": 0.12, "B": 0.35, "C": 0.30, "D": 0.10, "E": 0.03, "F": 0.10}
CREDIBILITY_P = {1: 0.18, 2: 0.35, 3: 0.27, 4: 0.10, 5: 0.03, 6: 0.07}
CLUSTER_SHARE = 0.1  # share of items that report an event another item reports too


def _quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _shift(year: int, quarter: int, by: int) -> tuple[int, int]:
    n = year * 4 + quarter - 1 + by
    return n // 4, n % 4 + 1


def _quarter_days(year: int, quarter: int, today: dt.date) -> tuple[dt.date, dt.date]:
    first = dt.date(year, 3 * quarter - 2, 1)
    ny, nq = _shift(year, quarter, 1)
    last = dt.date(ny, 3 * nq - 2, 1) - dt.timedelta(days=1)
    return first, min(last, today)


def _dump(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )


def write_priors(out: Path, n_drivers: int, start: str, rng: np.random.Generator) -> list[str]:
    """Write priors/: shipped scenarios, measurement and sampling; synthetic drivers and theory."""
    priors = out / "priors"
    priors.mkdir(parents=True, exist_ok=True)
    for name in ("scenarios.yaml", "measurement.yaml", "sampling.yaml"):
        shutil.copyfile(SHIPPED_PRIORS / name, priors / name)
    scen = yaml.safe_load((SHIPPED_PRIORS / "scenarios.yaml").read_text(encoding="utf-8"))
    scenario_ids = [s["id"] for s in scen["scenarios"]]
    why = "Synthetic benchmark project."
    _dump(
        priors / "project.yaml",
        {
            "schema_version": 1,
            "name": f"Synthetic benchmark ({n_drivers} drivers)",
            "description": "A project simulated from the model's prior, for benchmarks only.",
            "start": {"value": start, "rationale": why},
            "as_of": {"value": "today", "rationale": why},
            "horizon": {"value": "2030Q4", "rationale": why},
            "interval_mass": {"value": 0.8, "rationale": why},
            "future_nodes": {"value": 256, "rationale": why},
        },
    )
    drivers = []
    ids = [f"d{j + 1:02d}" for j in range(n_drivers)]
    for j, did in enumerate(ids):
        innovations = (
            {"family": "student_t", "nu": 4, "rationale": why}
            if j % 4 == 2  # one driver in four has jumps, as the shipped leader_affinity
            else {"family": "normal", "rationale": why}
        )
        drivers.append(
            {
                "id": did,
                "name": f"Driver {j + 1}",
                "description": f"Synthetic driver {j + 1}.",
                "initial": {
                    "mu": round(float(rng.normal(0, 0.4)), 2),
                    "sigma": 0.5,
                    "rationale": why,
                },
                "trend": {"mu": 0.0, "sigma": 0.02, "rationale": why},
                "volatility": {"sigma": round(float(rng.uniform(0.06, 0.12)), 3), "rationale": why},
                "innovations": innovations,
            }
        )
    _dump(priors / "drivers.yaml", {"schema_version": 1, "drivers": drivers})
    cells = []
    for j, did in enumerate(ids):  # each driver favours one scenario and disfavours another
        k = j % len(scenario_ids)
        cells.append(
            {"scenario": scenario_ids[k], "driver": did, "mu": 0.8, "sigma": 0.4, "rationale": why}
        )
        cells.append(
            {
                "scenario": scenario_ids[(k + 1) % len(scenario_ids)],
                "driver": did,
                "mu": -0.6,
                "sigma": 0.4,
                "rationale": why,
            }
        )
    _dump(
        priors / "theory.yaml",
        {
            "schema_version": 1,
            "default": {"mu": 0.0, "sigma": 0.3, "rationale": why},
            "cells": cells,
            "interactions": {"enabled": {"value": False, "rationale": why}, "terms": []},
        },
    )
    return scenario_ids


def tempered_draw(logp: np.ndarray, weight: float, rng: np.random.Generator) -> int:
    """Draw an index with probabilities ∝ exp(weight · logp)."""
    a = weight * logp
    prob = np.exp(a - a.max())
    return int(rng.choice(len(prob), p=prob / prob.sum()))


def generate(
    out: Path,
    *,
    drivers: int = 4,
    quarters: int = 60,
    items: int = 100,
    rated_share: float = 0.35,
    indicator: bool = True,
    seed: int = 1,
    today: dt.date = dt.date(2026, 11, 30),
) -> dict:
    """Write a complete project to ``out`` (which must not exist) and return what was drawn."""
    from forecast.io.project import load_project
    from forecast.likelihood import ordinal_loglik
    from forecast.prior_forecast import simulate_prior
    from forecast.priors import prior_arrays

    if out.exists():
        raise SystemExit(f"{out} exists; give a new folder")
    rng = np.random.default_rng(seed)
    as_of = _quarter_of(today)
    sy, sq = _shift(*as_of, -(quarters - 1))
    scenario_ids = write_priors(out, drivers, f"{sy}Q{sq}", rng)
    (out / "evidence").mkdir()

    import os

    os.environ.setdefault("FORECAST_TODAY", today.isoformat())
    spec = load_project(out)
    pa = prior_arrays(spec)
    sim = simulate_prior(pa, 1, seed=seed)
    x = sim["x"][0]  # (driver, quarter)
    p = sim["p"][0]
    truth = int(rng.choice(len(p), p=p / p.sum()))
    m = spec.measurement
    r_w = {g: float(m.reliability.weights[g]) for g in RELIABILITY_P}
    c_w = {g: float(m.credibility.weights[g]) for g in CREDIBILITY_P}
    log_lam = np.log(np.array([m.ratings.weights[r] for r in RATINGS], dtype=float))
    log_not = np.log1p(-np.minimum(np.exp(log_lam), 1 - 1e-9))
    categories = np.arange(5)

    n_rated = round(items * rated_share)
    is_rated = np.zeros(items, dtype=bool)
    is_rated[rng.choice(items, n_rated, replace=False)] = True
    rel = rng.choice(list(RELIABILITY_P), size=items, p=list(RELIABILITY_P.values()))
    cred = rng.choice(list(CREDIBILITY_P), size=items, p=list(CREDIBILITY_P.values()))
    t_item = rng.integers(0, quarters, size=items)
    # clusters: pairs or triples of items in the same quarter that report one event
    cluster_of: dict[int, str] = {}
    clustered = rng.choice(items, int(items * CLUSTER_SHARE), replace=False)
    for n, chunk in enumerate(np.array_split(clustered, max(len(clustered) // 2, 1))):
        if len(chunk) < 2:
            continue
        t_item[chunk] = t_item[chunk[0]]
        for i in chunk:
            cluster_of[int(i)] = f"ev{n + 1:04d}"
    sizes: dict[str, int] = {}
    for c in cluster_of.values():
        sizes[c] = sizes.get(c, 0) + 1
    width = max(3, len(str(items)))
    n_codings = 0
    for i in range(items):
        year, quarter = _shift(sy, sq, int(t_item[i]))
        first, last = _quarter_days(year, quarter, today)
        date = first + dt.timedelta(days=int(rng.integers(0, (last - first).days + 1)))
        published = min(date + dt.timedelta(days=int(rng.integers(0, 4))), today)
        w = r_w[rel[i]] * c_w[int(cred[i])] / sizes.get(cluster_of.get(i, ""), 1)
        item = {
            "schema_version": 1,
            "id": f"e{i + 1:0{width}d}",
            "date": date.isoformat(),
            "published": published.isoformat(),
            "title": f"Synthetic item {i + 1}",
            "source": f"Synthetic wire, report {i + 1}, {published.isoformat()}",
            "reliability": str(rel[i]),
            "credibility": int(cred[i]),
        }
        if i in cluster_of:
            item["cluster"] = cluster_of[i]
        item["coder"] = "benchmarks/synthetic.py"
        item["notes"] = f"Simulated from the model (seed {seed})."
        if is_rated[i]:
            ratings: dict[str, str] = {}
            while not any(r != "N" for r in ratings.values()):
                chosen = rng.choice(len(scenario_ids), int(rng.integers(2, 4)), replace=False)
                ratings = {}
                for k in sorted(chosen):
                    logp = log_lam if k == truth else log_not
                    ratings[scenario_ids[k]] = RATINGS[tempered_draw(logp, w, rng)]
            item["scenarios"] = ratings
        else:
            codes = {}
            for j in sorted(rng.choice(drivers, 1 if rng.random() < 0.8 else 2, replace=False)):
                latent = pa.kappa * x[j, t_item[i]]
                logp = ordinal_loglik(np.full(5, latent), categories, pa.cutpoints)
                codes[pa.drivers[j]] = tempered_draw(logp, w, rng) - 2
                n_codings += 1
            item["drivers"] = codes
        _dump(out / "evidence" / str(year) / f"{item['id']}.yaml", item)
    if indicator:
        a, c, sd = 1.0, 0.5, 0.1
        obs = []
        for t in range(quarters):
            year, quarter = _shift(sy, sq, t)
            if quarter == 4 and _quarter_days(year, 4, today)[0] <= today:
                value = a + c * x[0, t] + sd * rng.standard_normal()
                obs.append({"period": year, "value": round(float(value), 4)})
        _dump(
            out / "evidence" / "indicators" / "synthetic_index.yaml",
            {
                "schema_version": 1,
                "id": "synthetic_index",
                "name": "Synthetic yearly index",
                "driver": pa.drivers[0],
                "source": "benchmarks/synthetic.py",
                "coder": "benchmarks/synthetic.py",
                "transform": "identity",
                "intercept": {"mu": a, "sigma": 0.5, "rationale": "Synthetic."},
                "slope": {"median": c, "log_sd": 0.5, "rationale": "Synthetic."},
                "noise": {"median": sd, "log_sd": 0.5, "rationale": "Synthetic."},
                "observations": obs,
            },
        )
    return {
        "path": str(out),
        "drivers": drivers,
        "quarters": quarters,
        "start": f"{sy}Q{sq}",
        "items": items,
        "rated": n_rated,
        "codings": n_codings,
        "indicator": indicator,
        "truth": scenario_ids[truth],
        "p_true": {s: round(float(v), 4) for s, v in zip(scenario_ids, p, strict=True)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to create")
    parser.add_argument("--drivers", type=int, default=4)
    parser.add_argument("--quarters", type=int, default=60, help="T, start … as_of")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--rated-share", type=float, default=0.35)
    parser.add_argument("--indicator", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 30))
    args = parser.parse_args()
    import json

    info = generate(
        args.out,
        drivers=args.drivers,
        quarters=args.quarters,
        items=args.items,
        rated_share=args.rated_share,
        indicator=args.indicator,
        seed=args.seed,
        today=args.today,
    )
    print(json.dumps(info))


if __name__ == "__main__":
    main()
