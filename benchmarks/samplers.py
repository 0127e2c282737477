"""Compare the NUTS backends on the shipped project: wall time, ESS/s of p, gate verdict.

Run from the repository root (each backend in its own process, so JAX flags and caches are as in
real use; the first run of each backend warms the compilation caches):

    FORECAST_TODAY=2026-11-30 python benchmarks/samplers.py --repeats 3

Prints one JSON line per run and a Markdown table of medians of the warm runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_run(backend: str, seed: int) -> dict:
    """Fit the shipped project once with ``backend`` and measure it."""
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import arviz as az

    from forecast.diagnostics import check_gate
    from forecast.evidence import evidence_arrays
    from forecast.io.project import load_project
    from forecast.priors import prior_arrays
    from forecast.sampling import sample  # imports pymc and sets the JAX flags

    spec = load_project(ROOT)
    priors, evidence = prior_arrays(spec), evidence_arrays(spec)
    s = spec.sampling.sampler
    loaded = time.perf_counter()
    idata = sample(
        priors,
        evidence,
        draws=s.draws.value,
        tune=s.tune.value,
        chains=s.chains.value,
        target_accept=s.target_accept.value,
        seed=seed,
        backend=backend,
    )
    fitted = time.perf_counter()
    gate = check_gate(idata, spec.sampling.gate)
    ess_p = float(az.ess(idata.posterior[["p"]], method="bulk")["p"].min())
    wall = fitted - loaded
    return {
        "backend": backend,
        "seed": seed,
        "import_load_s": round(loaded - start, 2),
        "fit_s": round(wall, 2),
        "sampler_s": idata.posterior.attrs["sampling_time_s"],
        "ess_bulk_p_min": round(ess_p),
        "ess_per_s": round(ess_p / wall, 1),
        "divergences": gate.divergences,
        "rhat_max": round(gate.rhat_max, 4),
        "ess_bulk_min": round(gate.ess_bulk_min),
        "ess_tail_min": round(gate.ess_tail_min),
        "mcse_q_max": round(gate.mcse_max, 5),
        "gate": "pass" if gate.passed else "FAIL: " + ", ".join(c.name for c in gate.failed_checks),
        "mean_tree_depth": round(float(idata.sample_stats["tree_depth"].mean()), 2)
        if "tree_depth" in idata.sample_stats
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="numpyro,nutpie,pymc")
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend (first is cold)")
    parser.add_argument("--seed", type=int, default=20200401)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.seed)), flush=True)
        return
    rows: dict[str, list[dict]] = {}
    for backend in args.backends.split(","):
        for i in range(args.repeats):
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--one", backend, "--seed", str(args.seed + i)],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(out, flush=True)
            rows.setdefault(backend, []).append(json.loads(out))
    print("\n| backend | fit s (warm median) | ESS_bulk(p) min | ESS/s | gate |")
    print("|---|---|---|---|---|")
    for backend, runs in rows.items():
        warm = runs[1:] or runs
        med = statistics.median
        gates = sorted({r["gate"] for r in warm})
        print(
            f"| {backend} | {med(r['fit_s'] for r in warm):.1f} | "
            f"{med(r['ess_bulk_p_min'] for r in warm):.0f} | "
            f"{med(r['ess_per_s'] for r in warm):.0f} | {'; '.join(gates)} |"
        )


if __name__ == "__main__":
    main()
