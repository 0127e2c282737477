"""End-to-end benchmark of ``forecast update`` (issue #6): wall time, ESS/s of p, peak memory.

Run from the repository root (about 25 minutes in full; ``--quick`` is a smoke run of a few):

    FORECAST_TODAY=2026-11-30 python benchmarks/update.py [--quick] [--out results.jsonl]

Every measurement runs the installed ``forecast`` command in its own process, as a user would:

- ``shipped``: a copy of the shipped project (priors/ + evidence/) in a scratch folder; one
  untimed warm-up run, then ``--repeats`` timed runs of ``forecast update --json`` and
  ``--pymc-repeats`` of ``forecast update --sampler pymc --json`` (PyMC's own NUTS, the baseline).
- ``synthetic``: projects written by ``benchmarks/synthetic.py`` (simulated from the model), the
  2,000 items × 8 drivers × 60 quarters case (warm: one untimed run first, then
  ``--synthetic-runs`` timed runs with different seeds) and the 20,000-item case
  (cold, one run: it has to finish within 3 minutes and 4 GB).
- ``grid``: the cost-growth grid (items × drivers × quarters), one cold run each.
- ``cli``: ``forecast --help`` and ``forecast preview`` of one new item on the shipped copy.

Wall time is ``time.perf_counter`` around the child process (``cpu_s``: its user + system
seconds, less sensitive to other work on the machine); peak RSS is ``ru_maxrss`` of
``getrusage(RUSAGE_CHILDREN)`` read in a fresh wrapper process, i.e. the largest single process
of the command (PyMC's chain processes included). ESS of p is the smallest bulk ESS over the
scenarios of ``p`` in the run's ``posterior.nc``; ESS/s divides it by the end-to-end wall time.
Each run prints one JSON line; the end prints a Markdown table of medians, the speed-up and the
targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
FORECAST = str(Path(sys.executable).with_name("forecast"))
TODAY = "2026-11-30"

# A child process run under a fresh interpreter, so that RUSAGE_CHILDREN is this command's alone.
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
try:
    p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
except subprocess.TimeoutExpired as e:
    p = subprocess.CompletedProcess(e.cmd, -9, "", "timeout after %s s" % sys.argv[1])
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
print(json.dumps({"rc": p.returncode, "wall_s": wall, "peak_rss_mb": rss / 1024, "cpu_s": cpu,
                  "stdout": p.stdout, "stderr": p.stderr[-2000:]}))
"""

TARGETS = {
    "shipped_update_s": 15.0,
    "speedup_ess_per_s": 4.0,
    "synthetic_2000_s": 30.0,
    "synthetic_20000_s": 180.0,
    "synthetic_20000_rss_mb": 4096.0,
    "help_s": 0.5,
    "preview_s": 2.0,
}


def measure(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    """Run ``cmd`` in a wrapper process; wall time, peak RSS, return code and output."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(timeout), *cmd],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout)


def ess_p(run_dir: Path) -> tuple[float, float | None]:
    """Smallest bulk ESS over the scenarios of ``p`` in a saved run, and the sampler's seconds."""
    import arviz as az

    idata = az.from_netcdf(run_dir / "posterior.nc")
    ess = float(az.ess(idata.posterior[["p"]], method="bulk")["p"].min())
    return ess, idata.posterior.attrs.get("sampling_time_s")


def update(
    case: str,
    project: Path,
    env: dict,
    sampler: str | None,
    timed: bool,
    timeout=3600,
    seed: int | None = None,
    **info,
) -> dict:
    """One ``forecast update --json`` of ``project``; a JSON-ready record."""
    cmd = [FORECAST, "update", "--project", str(project), "--json"]
    if sampler:
        cmd += ["--sampler", sampler]
    if seed is not None:
        cmd += ["--seed", str(seed)]
        info["seed"] = seed
    m = measure(cmd, env, timeout)
    rec: dict = {"case": case, "sampler": sampler or "numpyro", "timed": timed, **info}
    rec.update(wall_s=round(m["wall_s"], 2), peak_rss_mb=round(m["peak_rss_mb"]), rc=m["rc"])
    rec["cpu_s"] = round(m.get("cpu_s", 0.0), 1)  # user + system seconds of the command
    rec["load_1m"] = round(os.getloadavg()[0], 1)  # other work on the machine during the run
    try:
        data = json.loads(m["stdout"])
    except json.JSONDecodeError:
        rec["error"] = (m["stderr"] or m["stdout"])[-600:]
        return rec
    run_dir = Path(data["run"])
    if not run_dir.is_absolute():
        run_dir = project / "runs" / run_dir.name
    diag = data.get("diagnostics", {})
    rec["run"] = run_dir.name
    rec["gate"] = "pass" if diag.get("passed") else "FAIL"
    rec["divergences"] = diag.get("divergences")
    rec["rhat_max"] = diag.get("rhat_max")
    ess, sampler_s = ess_p(run_dir)
    rec["ess_bulk_p_min"] = round(ess)
    rec["ess_per_s"] = round(ess / m["wall_s"], 1)
    if sampler_s is not None:
        rec["sampler_s"] = round(float(sampler_s), 2)
    return rec


def copy_shipped(work: Path) -> Path:
    dest = work / "shipped"
    if not dest.exists():
        dest.mkdir(parents=True)
        shutil.copytree(ROOT / "priors", dest / "priors")
        shutil.copytree(ROOT / "evidence", dest / "evidence")
    return dest


def make_synthetic(work: Path, **kw) -> Path:
    sys.path.insert(0, str(HERE))
    from synthetic import generate

    name = "syn-i{items}-d{drivers}-q{quarters}-r{rated}".format(
        items=kw["items"],
        drivers=kw["drivers"],
        quarters=kw["quarters"],
        rated=int(100 * kw.get("rated_share", 0.35)),
    )
    dest = work / name
    if not dest.exists():
        generate(dest, **kw)
    return dest


def emit(rec: dict, sink) -> dict:
    line = json.dumps(rec)
    print(line, flush=True)
    if sink:
        sink.write(line + "\n")
        sink.flush()
    return rec


def med(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def summarise(records: list[dict]) -> str:
    """Markdown tables: medians per case and sampler, then the targets."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("timed") and "wall_s" in r:
            groups.setdefault((r["case"], r.get("sampler", "")), []).append(r)
    lines = [
        "| case | sampler | runs | wall s (median, range) | CPU s | min ESS_bulk(p) | ESS/s | "
        "peak RSS MB | load | gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (case, sampler), rs in groups.items():
        walls = [r["wall_s"] for r in rs]
        gates = [r.get("gate", "-") for r in rs]
        npass = sum(g == "pass" for g in gates)
        rng = f" ({min(walls):.1f}–{max(walls):.1f})" if len(walls) > 1 else ""
        gate = f"pass {npass}/{len(rs)}" if "ess_bulk_p_min" in rs[0] else "–"
        killed = sum(r.get("rc") == -9 for r in rs)
        if killed:
            gate = f"killed at the timeout {killed}/{len(rs)}"
        lines.append(
            f"| {case} | {sampler} | {len(rs)} | {med(walls):.2f}{rng} | "
            f"{fmt(med(r.get('cpu_s') for r in rs), 1)} | "
            f"{fmt(med(r.get('ess_bulk_p_min') for r in rs), 0)} | "
            f"{fmt(med(r.get('ess_per_s') for r in rs))} | "
            f"{fmt(med(r.get('peak_rss_mb') for r in rs), 0)} | "
            f"{fmt(med(r.get('load_1m') for r in rs))} | {gate} |"
        )

    def get(case, sampler, key):
        return med(r.get(key) for r in groups.get((case, sampler), []))

    checks = []
    v = get("shipped", "numpyro", "wall_s")
    checks.append(
        ("shipped `forecast update`, warm, median", v, "≤ 15 s", TARGETS["shipped_update_s"], "s")
    )
    a, b = get("shipped", "numpyro", "ess_per_s"), get("shipped", "pymc", "ess_per_s")
    ratio = a / b if a and b else None
    checks.append(
        (
            "speed-up vs `--sampler pymc` (ESS/s of p)",
            ratio,
            "≥ 4×",
            TARGETS["speedup_ess_per_s"],
            "×",
        )
    )
    wa, wb = get("shipped", "numpyro", "wall_s"), get("shipped", "pymc", "wall_s")
    v = get("synthetic-2000", "numpyro", "wall_s")
    checks.append(
        (
            "synthetic 2,000 items × 8 drivers × 60 quarters",
            v,
            "≤ 30 s",
            TARGETS["synthetic_2000_s"],
            "s",
        )
    )
    v = get("synthetic-20000", "numpyro", "wall_s")
    checks.append(("synthetic 20,000 items, wall", v, "≤ 180 s", TARGETS["synthetic_20000_s"], "s"))
    v = get("synthetic-20000", "numpyro", "peak_rss_mb")
    checks.append(
        (
            "synthetic 20,000 items, peak RSS",
            v,
            "≤ 4096 MB",
            TARGETS["synthetic_20000_rss_mb"],
            "MB",
        )
    )
    checks.append(
        ("`forecast --help`", get("help", "-", "wall_s"), "≤ 0.5 s", TARGETS["help_s"], "s")
    )
    checks.append(
        (
            "`forecast preview` (one new item)",
            get("preview", "-", "wall_s"),
            "≤ 2 s",
            TARGETS["preview_s"],
            "s",
        )
    )
    lines += ["", "| target | measured | goal | result |", "|---|---|---|---|"]
    for name, value, goal, limit, unit in checks:
        if value is None:
            lines.append(f"| {name} | not run | {goal} | – |")
            continue
        ok = value >= limit if unit == "×" else value <= limit
        shown = (
            f"{value:.1f}×"
            if unit == "×"
            else f"{value:.2f} {unit}"
            if unit == "s"
            else (f"{value:.0f} {unit}")
        )
        if name.startswith("synthetic 20,000") and any(
            r.get("rc") == -9 for r in groups.get(("synthetic-20000", "numpyro"), [])
        ):
            shown += " (killed at the timeout, not finished)"
            ok = False
        if unit == "×" and wa and wb:
            shown += f" (wall {wb:.0f} s / {wa:.1f} s = {wb / wa:.1f}×)"
        lines.append(f"| {name} | {shown} | {goal} | {'pass' if ok else '**FAIL**'} |")
    return "\n".join(lines)


PREVIEW_ITEM = [
    "--title",
    "Benchmark item",
    "--date",
    "2026-10-01",
    "--source",
    "Benchmark wire, 2026-10-01",
    "--reliability",
    "B",
    "--credibility",
    "2",
    "--coder",
    "benchmark",
    "--driver",
    "us_threat=1",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run")
    parser.add_argument(
        "--cases",
        default="cli,shipped,pymc,synthetic,big,grid",
        help="comma-separated subset of cli,shipped,pymc,synthetic,big,grid",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs on the shipped project")
    parser.add_argument("--pymc-repeats", type=int, default=2, help="timed runs of --sampler pymc")
    parser.add_argument(
        "--synthetic-runs",
        type=int,
        default=3,
        help="timed runs of the 2,000-item project, each with its own seed",
    )
    parser.add_argument("--grid-items", default="100,1000,2000")
    parser.add_argument("--grid-drivers", default="4,8")
    parser.add_argument("--grid-quarters", default="30,60")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is killed")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    parser.add_argument("--summarise", type=Path, help="only print the tables of a JSON-lines file")
    args = parser.parse_args()
    if args.summarise:
        recs = [json.loads(line) for line in args.summarise.read_text().splitlines() if line]
        print(summarise(recs))
        return
    cases = set(args.cases.split(","))
    env = {**os.environ, "FORECAST_TODAY": os.environ.get("FORECAST_TODAY", TODAY)}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="forecast-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sink = args.out.open("a") if args.out else None
    repeats = 1 if args.quick else args.repeats
    records: list[dict] = []
    print(
        json.dumps({"workdir": str(work), "loadavg": os.getloadavg(), "cpus": os.cpu_count()}),
        flush=True,
    )

    shipped = copy_shipped(work)
    if "cli" in cases:
        for _ in range(5):
            m = measure([FORECAST, "--help"], env)
            records.append(
                emit(
                    {
                        "case": "help",
                        "sampler": "-",
                        "timed": True,
                        "wall_s": round(m["wall_s"], 3),
                        "rc": m["rc"],
                        "peak_rss_mb": round(m["peak_rss_mb"]),
                        "cpu_s": round(m.get("cpu_s", 0.0), 2),
                        "load_1m": round(os.getloadavg()[0], 1),
                    },
                    sink,
                )
            )
    if "shipped" in cases or "cli" in cases:
        records.append(emit(update("shipped", shipped, env, None, timed=False), sink))
    if "cli" in cases:
        for _ in range(3 if args.quick else 5):
            m = measure(
                [FORECAST, "preview", "--project", str(shipped), "--json", *PREVIEW_ITEM], env
            )
            rec = {
                "case": "preview",
                "sampler": "-",
                "timed": True,
                "wall_s": round(m["wall_s"], 3),
                "rc": m["rc"],
                "peak_rss_mb": round(m["peak_rss_mb"]),
                "cpu_s": round(m.get("cpu_s", 0.0), 2),
                "load_1m": round(os.getloadavg()[0], 1),
            }
            try:
                data = json.loads(m["stdout"])
                rec.update(method=data.get("method"), pareto_k=data.get("pareto_k"))
            except json.JSONDecodeError:
                rec["error"] = m["stderr"][-600:]
            records.append(emit(rec, sink))
    if "shipped" in cases:
        for _ in range(repeats):
            records.append(emit(update("shipped", shipped, env, None, timed=True), sink))
    if "pymc" in cases:
        for _ in range(1 if args.quick else args.pymc_repeats):
            records.append(emit(update("shipped", shipped, env, "pymc", timed=True), sink))

    def synthetic(case: str, warm: bool, runs: int, **kw) -> None:
        t = time.perf_counter()
        project = make_synthetic(work, **kw)
        info = {**kw, "generate_s": round(time.perf_counter() - t, 1), "timeout": args.timeout}
        if warm:
            records.append(emit(update(case, project, env, None, timed=False, **info), sink))
        # The first run uses the project's seed, the others seeds 1, 2, ...: the cost of a fit
        # depends on the seed (the tree length each chain's adapted step size lands on).
        for i in range(runs):
            seed = i or None
            rec = update(case, project, env, None, timed=True, seed=seed, **info)
            records.append(emit(rec, sink))

    if "synthetic" in cases:
        n = 200 if args.quick else 2000
        runs = 1 if args.quick else args.synthetic_runs
        synthetic(f"synthetic-{n}", True, runs, items=n, drivers=8, quarters=60, rated_share=0.35)
    if "big" in cases:
        n = 2000 if args.quick else 20000
        synthetic(f"synthetic-{n}", False, 1, items=n, drivers=8, quarters=60, rated_share=0.35)
    if "grid" in cases:
        sizes = [100, 500] if args.quick else [int(v) for v in args.grid_items.split(",")]
        for items in sizes:
            for drivers in [int(v) for v in args.grid_drivers.split(",")]:
                for quarters in [int(v) for v in args.grid_quarters.split(",")]:
                    synthetic(
                        f"grid i{items} d{drivers} q{quarters}",
                        False,
                        1,
                        items=items,
                        drivers=drivers,
                        quarters=quarters,
                        rated_share=0.35,
                    )
    print()
    print(summarise(records))


if __name__ == "__main__":
    main()
