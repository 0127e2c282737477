"""Report folders and the history of published forecasts, written whole or not at all.

``reports/<quarter>/`` holds ``report.html`` (self-contained), ``report.md`` with its figures as
PNG files beside it, and ``summary.json`` (the numbers, the ratings' contribution and every
item's content hash, read by the next report). It is assembled in a hidden staging folder and
renamed into place; an existing quarter is replaced only with ``force``. ``reports/history.csv``
gets one row per scenario per published quarter (see docs/formats.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from forecast.errors import ForecastError
from forecast.io.atomic import atomic_write_text
from forecast.quarters import Quarter

REPORTS_DIR = "reports"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
HISTORY_COLUMNS = (
    "quarter",
    "scenario",
    "mean",
    "lower",
    "upper",
    "interval_mass",
    "run",
    "published_at",
    "kind",
)
KINDS = ("published", "backtest")


def report_dir(root: Path, quarter: str) -> Path:
    """The folder of one quarter's report."""
    return Path(root) / REPORTS_DIR / str(Quarter.parse(quarter))


def read_history(root: Path) -> list[dict[str, Any]]:
    """Rows of ``reports/history.csv`` (numbers as floats); empty when there is none."""
    path = Path(root) / REPORTS_DIR / HISTORY_FILE
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("mean", "lower", "upper", "interval_mass"):
            row[key] = float(row[key])
    return rows


def write_history(root: Path, rows: Iterable[Mapping[str, Any]], kind: str = "published") -> None:
    """Add ``rows`` (one per scenario of one or more quarters) to the history, atomically.

    Rows of the same quarter and kind already there are replaced, so a report rewritten with
    ``--force`` (or a backtest run again) leaves one entry per scenario. Call under the project
    lock.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    new = [{**r, "kind": kind} for r in rows]
    quarters = {str(r["quarter"]) for r in new}
    kept = [r for r in read_history(root) if not (r["quarter"] in quarters and r["kind"] == kind)]
    merged = sorted([*kept, *new], key=lambda r: (Quarter.parse(str(r["quarter"])), r["kind"]))
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for r in merged:
        writer.writerow({k: _cell(r[k]) for k in HISTORY_COLUMNS})
    atomic_write_text(Path(root) / REPORTS_DIR / HISTORY_FILE, buf.getvalue(), overwrite=True)


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def previous_summary(root: Path, quarter: str) -> dict[str, Any] | None:
    """The summary.json of the latest passed report before ``quarter`` (None if there is none)."""
    base = Path(root) / REPORTS_DIR
    if not base.is_dir():
        return None
    current = Quarter.parse(quarter)
    best: tuple[Quarter, dict[str, Any]] | None = None
    for folder in base.iterdir():
        if folder.name.startswith(".") or not (folder / SUMMARY_FILE).is_file():
            continue
        try:
            q = Quarter.parse(folder.name)
            data = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if q < current and data.get("passed") and (best is None or q > best[0]):
            best = (q, data)
    return best[1] if best else None


def check_free(root: Path, quarter: str, *, force: bool) -> None:
    """Raise ForecastError if the quarter's report exists and ``force`` is not set."""
    target = report_dir(root, quarter)
    if target.exists() and not force:
        raise ForecastError(
            f"{target} already exists; pass --force to replace the {quarter} report"
        )


def write_report(
    root: Path, quarter: str, files: Mapping[str, bytes], *, force: bool = False
) -> Path:
    """Write ``files`` (name -> bytes) as ``reports/<quarter>/``, replacing it only with ``force``.

    The folder is built in ``reports/.staging-*`` and renamed into place; a replaced report is
    moved aside first and deleted only once the new one is in place.
    """
    check_free(root, quarter, force=force)
    target = report_dir(root, quarter)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".staging-{target.name}-{os.getpid()}"
    old = target.parent / f".replaced-{target.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"bad report file name {name!r}")
            (staging / name).write_bytes(data)
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.rename(old, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return target


def summary_bytes(summary: Mapping[str, Any]) -> bytes:
    """A report's summary.json as UTF-8 bytes."""
    return (json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n").encode()
