"""Backtests: what the model would have forecast each quarter with the evidence known then.

For every quarter of a range the model is fitted to the as-of inputs of that quarter
(:func:`forecast.asof.as_of_inputs`: the same array shapes every quarter, with what was not yet
known weighted 0, so one compiled model serves all quarters). The fits are independent tasks run
by :func:`forecast.executor.run_tasks`, locally or on a Dask cluster.

Each finished quarter is written at once to ``reports/backtest/<quarter>.json`` (atomically): that
file is the resume state. A quarter whose file records the same inputs and settings is skipped
(``force`` redoes it), so a crash loses only the fits in flight. Quarters that pass the diagnostics
gate also go to ``reports/history.csv`` as rows of kind ``backtest``, which the quarterly report's
trend chart draws dashed beside the forecasts published at the time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecast.errors import ForecastError
from forecast.io.project import ProjectSpec
from forecast.quarters import Quarter, quarter_range

#: Folder of the per-quarter results, under reports/.
BACKTEST_DIR = "backtest"
#: Quarters of evidence before the first default backtest quarter (the default --from).
MIN_LEAD_QUARTERS = 8
#: Refits of a quarter that failed the gate, each with twice the draws of the one before.
RETRIES = 1
#: Sampler settings a backtest quarter records (and is redone when they change).
SETTING_NAMES = ("backend", "draws", "tune", "chains", "target_accept")


class QuarterRangeError(ForecastError, ValueError):
    """A backtest range outside the project's quarters, or ending before it starts."""

    def __init__(self, option: str, detail: str):
        super().__init__(f"{option}: {detail}")
        self.option = option
        self.detail = detail


@dataclass(frozen=True)
class BacktestTask:
    """One quarter's fit: everything a worker needs, picklable, no project objects."""

    root: str
    quarter: str
    seed: int
    backend: str
    draws: int
    tune: int
    chains: int
    target_accept: float
    today: str
    key: str
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        """The sampler settings (``SETTING_NAMES``)."""
        return {name: getattr(self, name) for name in SETTING_NAMES}


@dataclass
class BacktestResult:
    """A backtest's outcome: one record per quarter of the range, in quarter order."""

    first: Quarter
    last: Quarter
    records: list[dict[str, Any]]
    fitted: list[str]
    skipped: list[str]
    wall_time_s: float

    @property
    def failed(self) -> list[str]:
        """Quarters whose fit failed the diagnostics gate."""
        return [r["quarter"] for r in self.records if not r["passed"]]

    def to_json(self) -> dict[str, Any]:
        """The ``forecast backtest --json`` object."""
        return {
            "from": str(self.first),
            "to": str(self.last),
            "fitted": self.fitted,
            "skipped": self.skipped,
            "failed": self.failed,
            "wall_time_s": round(self.wall_time_s, 3),
            "quarters": [
                {**r, "leading": leading(r), "skipped": r["quarter"] in self.skipped}
                for r in self.records
            ],
        }


def quarter_seed(seed: int, quarter: Quarter | str) -> int:
    """The seed of one quarter's fit, derived from the project seed and the quarter alone.

    The first four bytes of SHA-256("<seed>:<quarter>") below 2**31: the same for every executor,
    worker and order of the tasks, so a quarter's draws do not depend on where it ran.
    """
    digest = hashlib.sha256(f"{seed}:{Quarter.parse(str(quarter))}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def _known_paths(spec: ProjectSpec, quarter: Quarter) -> set[str]:
    from forecast.evidence import known_items

    return {li.path for li in known_items(spec, quarter)}


def input_key(
    spec: ProjectSpec,
    quarter: Quarter,
    settings: Mapping[str, Any],
    seed: int,
    thresholds: Mapping[str, float],
) -> str:
    """SHA-256 of what one quarter's fit reads: a quarter whose key is unchanged is skipped.

    The files that count are priors/, indicator series and the evidence items known by the end of
    ``quarter``; items published later do not redo earlier quarters. The time grid (the project's
    as_of), the sampler settings, the quarter's seed and the gate thresholds count too.
    """
    item_paths = {li.path for li in spec.items}
    known = _known_paths(spec, quarter)
    files = {
        path: digest
        for path, digest in sorted(spec.file_hashes.items())
        if path not in item_paths or path in known
    }
    payload = {
        "files": files,
        "start": str(spec.start),
        "as_of": str(spec.as_of),
        "horizon": str(spec.horizon),
        "quarter": str(quarter),
        "settings": {k: settings[k] for k in SETTING_NAMES},
        "seed": seed,
        "thresholds": dict(sorted(thresholds.items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_range(spec: ProjectSpec) -> tuple[Quarter, Quarter]:
    """The default quarters: from the first with evidence (at least start + 8) to as_of."""
    first = spec.start + MIN_LEAD_QUARTERS
    quarters = [
        max(li.item.published_date.quarter, li.item.event_date.quarter) for li in spec.items
    ]
    if quarters:
        first = max(first, min(quarters))
    return min(first, spec.as_of), spec.as_of


def check_range(spec: ProjectSpec, first: Quarter | None, last: Quarter | None) -> list[Quarter]:
    """The quarters from ``first`` to ``last`` (defaults: :func:`default_range`), checked."""
    d_first, d_last = default_range(spec)
    first = first or d_first
    last = last or d_last
    if not spec.start <= first <= spec.as_of:
        raise QuarterRangeError(
            "--from",
            f"{first} is outside the project's quarters {spec.start}–{spec.as_of} "
            "(priors/project.yaml start and as_of); pick a quarter in that range",
        )
    if not spec.start <= last <= spec.as_of:
        raise QuarterRangeError(
            "--to",
            f"{last} is outside the project's quarters {spec.start}–{spec.as_of} "
            "(priors/project.yaml start and as_of); a backtest cannot use evidence not yet known",
        )
    if last < first:
        raise QuarterRangeError("--to", f"{last} comes before --from {first}; swap them")
    return quarter_range(first, last)


def quarter_path(root: Path, quarter: Quarter | str) -> Path:
    """``reports/backtest/<quarter>.json``."""
    from forecast.io.reports import REPORTS_DIR

    return Path(root) / REPORTS_DIR / BACKTEST_DIR / f"{Quarter.parse(str(quarter))}.json"


def load_record(root: Path, quarter: Quarter | str) -> dict[str, Any] | None:
    """A saved quarter's record, or None when there is none or it cannot be read."""
    path = quarter_path(root, quarter)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "key" in data else None


def save_record(root: Path, record: Mapping[str, Any]) -> Path:
    """Write one quarter's record atomically (replacing an older one)."""
    from forecast.io.atomic import atomic_write_text

    path = quarter_path(root, record["quarter"])
    text = json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write_text(path, text, overwrite=True)
    return path


def plan(
    spec: ProjectSpec,
    quarters: list[Quarter],
    *,
    force: bool = False,
    **settings: Any,
) -> tuple[list[BacktestTask], dict[str, dict[str, Any]]]:
    """The tasks still to run and the records of quarters already done with the same inputs.

    ``settings`` override priors/sampling.yaml (``seed``, ``draws``, ``tune``, ``chains``,
    ``target_accept``, ``backend``); ``gate`` maps threshold names to new values.
    """
    from forecast.api import SamplerSettings, gate_thresholds

    gate = settings.pop("gate", None) or {}
    sampler = SamplerSettings.from_spec(spec, **settings)
    thresholds = {**gate_thresholds(spec), **gate}
    chosen = {k: getattr(sampler, k) for k in SETTING_NAMES}
    tasks, done = [], {}
    for q in quarters:
        seed = quarter_seed(sampler.seed, q)
        key = input_key(spec, q, chosen, seed, thresholds)
        saved = None if force else load_record(spec.root, q)
        if saved is not None and saved.get("key") == key:
            done[str(q)] = saved
            continue
        tasks.append(
            BacktestTask(
                root=str(Path(spec.root).resolve()),
                quarter=str(q),
                seed=seed,
                today=spec.today.isoformat(),
                key=key,
                thresholds=thresholds,
                **chosen,
            )
        )
    return tasks, done


def fit_quarter(task: BacktestTask) -> dict[str, Any]:
    """Fit one quarter with the evidence known then (runs in a worker; writes nothing).

    The worker loads the project itself, checks that it reads the same inputs the task was
    planned from, fits the as-of model and checks the gate.
    """
    from forecast.io.project import load_project

    start = time.perf_counter()
    spec = load_project(task.root, today=dt.date.fromisoformat(task.today))
    quarter = Quarter.parse(task.quarter)
    if input_key(spec, quarter, task.settings, task.seed, task.thresholds) != task.key:
        raise ForecastError(
            f"{task.quarter}: the project at {task.root} is not the one the backtest was planned "
            "from (its files changed meanwhile, or this worker sees another copy); run the "
            "backtest again"
        )
    record = _fit(spec, quarter, task)
    return {
        "quarter": task.quarter,
        "key": task.key,
        "seed": task.seed,
        "settings": task.settings,
        **record,
        "wall_time_s": round(time.perf_counter() - start, 3),
    }


def _fit(spec: ProjectSpec, quarter: Quarter, task: BacktestTask) -> dict[str, Any]:
    """Sample the as-of model of ``quarter``: forecast, gate verdict and its figures."""
    from forecast.api import gate_summary
    from forecast.asof import as_of_inputs
    from forecast.diagnostics import check_gate
    from forecast.results import forecast_summary
    from forecast.sampling import sample_groups

    priors, evidence = as_of_inputs(spec, quarter)
    attempts = []
    # A fit that falls short of the gate is run again with twice the draws (and the next seed),
    # as priors/sampling.yaml says to do, rather than with a looser gate: once, so a quarter
    # costs at most three times a plain fit. The compiled program is the same.
    for attempt in range(1 + RETRIES):
        draws, seed = task.draws * 2**attempt, task.seed + attempt
        fit = sample_groups(
            priors,
            evidence,
            draws=draws,
            tune=task.tune,
            chains=task.chains,
            target_accept=task.target_accept,
            seed=seed,
            backend=task.backend,
            prior_draws=0,
        )
        gate = check_gate(fit, task.thresholds)
        attempts.append(
            {
                "draws": draws,
                "seed": seed,
                "passed": bool(gate.passed),
                "failed_checks": [c.name for c in gate.failed_checks],
            }
        )
        if gate.passed:
            break
    mass = float(priors.interval_mass)
    return {
        "passed": bool(gate.passed),
        "interval_mass": mass,
        **forecast_summary(fit.posterior, mass),
        "diagnostics": gate_summary(gate.as_dict()),
        "failed_checks": [c.name for c in gate.failed_checks],
        "attempts": attempts,
        "items_known": len(_known_paths(spec, quarter)),
        "sampling_time_s": float(fit.posterior.attrs.get("sampling_time_s", 0.0)),
    }


def leading(record: Mapping[str, Any]) -> str:
    """The scenario with the highest mean probability in a quarter's record."""
    scenarios = record["scenarios"]
    return max(scenarios, key=lambda k: scenarios[k]["mean"])


def history_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A passed quarter's rows for ``reports/history.csv`` (kind ``backtest``)."""
    return [
        {
            "quarter": record["quarter"],
            "scenario": sid,
            "mean": s["mean"],
            "lower": s["lower"],
            "upper": s["upper"],
            "interval_mass": record["interval_mass"],
            "run": f"backtest-s{record['seed']}",
            "published_at": record["finished_at"],
        }
        for sid, s in record["scenarios"].items()
    ]


def run_backtest(
    spec: ProjectSpec,
    first: Quarter | None = None,
    last: Quarter | None = None,
    *,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    force: bool = False,
    on_plan: Callable[[list[BacktestTask], dict[str, dict[str, Any]]], None] | None = None,
    on_quarter: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> BacktestResult:
    """Fit every quarter from ``first`` to ``last`` not already done, saving each as it ends.

    Parameters
    ----------
    spec
        The project (``load_project``).
    first, last
        The range (defaults: :func:`default_range`); :class:`QuarterRangeError` if it is bad.
    executor, workers, scheduler
        Where the fits run (:func:`forecast.executor.run_tasks`).
    force
        Redo quarters already done with the same inputs.
    on_plan
        Called with the tasks to run and the records of the skipped quarters, before any fit.
    on_quarter
        Called with each new record once it is saved (progress displays).
    **settings
        Overrides of priors/sampling.yaml: ``seed`` (the base of every quarter's seed),
        ``draws``, ``tune``, ``chains``, ``target_accept``, ``backend``, ``gate``.

    Returns
    -------
    BacktestResult
        Every quarter's record; check ``failed`` for quarters that failed the gate (saved, left out
        of the history). A fit that raised is re-raised once the others have finished and been
        saved.
    """
    from forecast.executor import run_tasks
    from forecast.io import reports
    from forecast.io.atomic import project_lock

    quarters = check_range(spec, first, last)
    clock = time.perf_counter()
    with project_lock(spec.root, "backtest"):
        tasks, done = plan(spec, quarters, force=force, **settings)
        if on_plan is not None:
            on_plan(tasks, done)
        new: dict[str, dict[str, Any]] = {}

        def finished(_task: BacktestTask, result: dict[str, Any]) -> None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = {**result, "finished_at": stamp}
            save_record(spec.root, record)
            if record["passed"]:
                reports.write_history(spec.root, history_rows(record), kind="backtest")
            new[record["quarter"]] = record
            if on_quarter is not None:
                on_quarter(record)

        run_tasks(
            fit_quarter,
            tasks,
            executor=executor,  # type: ignore[arg-type]
            workers=workers,
            scheduler=scheduler,
            on_result=finished,
        )
        records = [new.get(str(q)) or done[str(q)] for q in quarters]
        rows = [row for r in records if r["passed"] for row in history_rows(r)]
        if rows:
            # Skipped quarters too: the history holds every passed quarter of the range.
            reports.write_history(spec.root, rows, kind="backtest")
    return BacktestResult(
        first=quarters[0],
        last=quarters[-1],
        records=records,
        fitted=[t.quarter for t in tasks],
        skipped=list(done),
        wall_time_s=time.perf_counter() - clock,
    )


def comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its timings and time stamp: what equal inputs and seeds reproduce."""
    return {
        k: v
        for k, v in record.items()
        if k not in ("wall_time_s", "sampling_time_s", "finished_at")
    }
