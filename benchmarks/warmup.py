"""Where a fit's gradients go: leapfrog steps per warm-up window and after warm-up, per chain.

Runs the default sampler's NUTS programs on a project (the shipped one unless --project) with the
project's sampler settings and records every iteration's tree, warm-up included, which a fit
does not keep. For each seed it prints one JSON line and a table: leapfrog steps in each of
numpyro's adaptation windows (Stan's: a first buffer, mass-matrix windows, a last buffer) and
after warm-up, their share of the fit's steps, each chain's mean steps per draw and final step
size, and the divergent transitions after warm-up. Leapfrog steps are what a fit's time is made
of (one gradient each), so these counts compare settings without timing noise.

    FORECAST_TODAY=2026-11-30 python benchmarks/warmup.py --seeds 1,2,3
    FORECAST_TODAY=2026-11-30 python benchmarks/warmup.py --project /tmp/syn --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def profile(project: str, seed: int) -> dict:
    """One fit's leapfrog steps by warm-up window, with its final step sizes and divergences."""
    from numpyro.infer.hmc_util import build_adaptation_schedule

    from forecast import jax_nuts
    from forecast.evidence import evidence_arrays
    from forecast.io.project import load_project
    from forecast.priors import prior_arrays
    from forecast.sampling import nuts_programs

    spec = load_project(project)
    priors, evidence = prior_arrays(spec), evidence_arrays(spec)
    s = spec.sampling.sampler
    tune, draws = s.tune.value, s.draws.value
    programs, data = nuts_programs(
        priors,
        evidence,
        draws=draws,
        tune=tune,
        chains=s.chains.value,
        target_accept=s.target_accept.value,
    )
    init = jax_nuts.initial_values(programs, seed)
    start = time.perf_counter()
    steps, sizes, diverging = [], [], []
    for _, _, stats, step in programs.chunks(data, init, seed, tune + draws):
        diverging.append(np.asarray(stats[0]))
        steps.append(np.asarray(stats[2]))
        sizes.append(np.asarray(step))
    nuts_s = time.perf_counter() - start
    steps_all = np.concatenate(steps, axis=1)[:, : tune + draws].astype(int)
    size_all = np.concatenate(sizes, axis=1)[:, : tune + draws]
    div_all = np.concatenate(diverging, axis=1)[:, : tune + draws].astype(bool)
    total = int(steps_all.sum())
    phases = [(w.start, w.end + 1) for w in build_adaptation_schedule(tune)] if tune else []
    phases.append((tune, tune + draws))
    return {
        "project": project,
        "seed": seed,
        "nuts_s": round(nuts_s, 2),
        "leapfrog_steps": total,
        "phases": [
            {
                "iterations": f"{a}-{b - 1}",
                "warm_up": b <= tune,
                "steps": int(steps_all[:, a:b].sum()),
                "share": round(float(steps_all[:, a:b].sum()) / total, 3),
                "per_iteration": round(float(steps_all[:, a:b].mean()), 1),
            }
            for a, b in phases
        ],
        "chain_steps_per_draw": [round(float(x), 1) for x in steps_all[:, tune:].mean(axis=1)],
        "chain_step_size": [round(float(x), 4) for x in size_all[:, -1]],
        "divergent_draws": int(div_all[:, tune:].sum()),
        "divergent_warm_up": int(div_all[:, :tune].sum()),
    }


def table(record: dict) -> str:
    """A Markdown table of one profile."""
    lines = [
        f"seed {record['seed']}: {record['leapfrog_steps']:,} leapfrog steps in "
        f"{record['nuts_s']} s; after warm-up, steps per draw by chain "
        f"{record['chain_steps_per_draw']}, step sizes {record['chain_step_size']}, "
        f"{record['divergent_draws']} divergent",
        "",
        "| iterations | phase | leapfrog steps | share | steps per chain and iteration |",
        "|---|---|---|---|---|",
    ]
    for p in record["phases"]:
        phase = "warm-up" if p["warm_up"] else "draws"
        lines.append(
            f"| {p['iterations']} | {phase} | {p['steps']:,} | {p['share']:.0%} "
            f"| {p['per_iteration']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=ROOT, help="project folder (default: the shipped one)")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for seed in (int(s) for s in args.seeds.split(",")):
        record = profile(args.project, seed)
        print(json.dumps(record), flush=True)
        print(table(record), flush=True)


if __name__ == "__main__":
    main()
