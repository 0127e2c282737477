"""Load a project folder (priors/ and evidence/), validate every file and cross-check them.

All problems across all files are collected and raised once, as a :class:`SpecError` (priors and
structure) or :class:`EvidenceError` (evidence and indicator series). Nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from forecast import clock
from forecast.errors import EvidenceError, Problem, SpecError
from forecast.io.messages import unknown_name, validation_problems
from forecast.io.schema import (
    DriversFile,
    EvidenceItem,
    IndicatorSeries,
    MeasurementFile,
    ProjectFile,
    SamplingFile,
    ScenariosFile,
    TheoryFile,
    period_quarter,
)
from forecast.io.yamlfile import YamlDoc, load_yaml
from forecast.quarters import Quarter

PRIOR_FILES: dict[str, type[BaseModel]] = {
    "project": ProjectFile,
    "scenarios": ScenariosFile,
    "drivers": DriversFile,
    "theory": TheoryFile,
    "measurement": MeasurementFile,
    "sampling": SamplingFile,
}
PRIORS_DIR = "priors"
EVIDENCE_DIR = "evidence"
INDICATORS_DIR = "indicators"
#: Most evidence files a project may hold (each is read and validated on every load).
MAX_EVIDENCE_FILES = 100_000

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LocatedItem:
    """An evidence item with the file it came from."""

    item: EvidenceItem
    path: str


@dataclass(frozen=True)
class ProjectSpec:
    """A validated project: the priors, the evidence and the time grid they are read against."""

    root: Path
    project: ProjectFile
    scenarios: ScenariosFile
    drivers: DriversFile
    theory: TheoryFile
    measurement: MeasurementFile
    sampling: SamplingFile
    items: tuple[LocatedItem, ...]
    indicators: tuple[tuple[IndicatorSeries, str], ...]
    start: Quarter
    as_of: Quarter
    horizon: Quarter
    today: dt.date
    file_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def scenario_ids(self) -> list[str]:
        """Scenario ids in file order."""
        return [s.id for s in self.scenarios.scenarios]

    @property
    def driver_ids(self) -> list[str]:
        """Driver ids in file order."""
        return [d.id for d in self.drivers.drivers]

    @property
    def quarters(self) -> list[Quarter]:
        """The modelled quarters, start to as_of."""
        return [self.start + i for i in range(self.as_of - self.start + 1)]

    def item(self, item_id: str) -> LocatedItem:
        """The item with id ``item_id``; KeyError if absent."""
        for located in self.items:
            if located.item.id == item_id:
                return located
        raise KeyError(item_id)

    def with_as_of(self, as_of: Quarter) -> ProjectSpec:
        """The same project read at another as_of quarter (backtests), before the horizon."""
        if not self.start <= as_of < self.horizon:
            raise SpecError(
                [
                    Problem(
                        "priors/project.yaml",
                        None,
                        f"as_of {as_of} must lie in "
                        f"[{self.start}, {self.horizon}) (start to before the horizon)",
                    )
                ]
            )
        return _replace(self, as_of=as_of)


def _replace(spec: ProjectSpec, **changes: Any) -> ProjectSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)


def validate_doc(doc: YamlDoc, model: type[M], problems: list[Problem]) -> M | None:
    """Validate ``doc`` against ``model``; append located problems and return None on failure."""
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "expected a mapping of fields at the top of the file"))
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, model))
        return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evidence_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The item files and the indicator files under evidence/, sorted."""
    base = root / EVIDENCE_DIR
    if not base.is_dir():
        return [], []
    items, indicators = [], []
    for path in sorted(base.rglob("*")):
        if path.is_dir() or path.name.startswith("."):
            continue
        rel = path.relative_to(base)
        if rel.parts[0] == INDICATORS_DIR:
            indicators.append(path)
        else:
            items.append(path)
    return items, indicators


def load_project(root: Path | str = ".", today: dt.date | None = None) -> ProjectSpec:
    """Load and validate the project in ``root``.

    Parameters
    ----------
    root
        The project folder, holding priors/ and evidence/.
    today
        The date against which "in the future" is judged; defaults to :func:`forecast.clock.today`.

    Raises
    ------
    SpecError
        Problems in priors/ or in the project's structure (all of them, at once).
    EvidenceError
        Problems in evidence/ when the priors are valid (all of them, at once).
    """
    root = Path(root)
    today = today or clock.today()
    spec_problems: list[Problem] = []
    if not (root / PRIORS_DIR).is_dir():
        raise SpecError(
            [
                Problem(
                    str(root),
                    None,
                    "not a forecast project: no priors/ folder here; "
                    "run in a project folder, pass --project DIR, or create one "
                    "with 'forecast init DIR'",
                )
            ]
        )
    hashes: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    docs: dict[str, YamlDoc] = {}
    for name, model in PRIOR_FILES.items():
        rel = f"{PRIORS_DIR}/{name}.yaml"
        path = root / rel
        if not path.exists():
            spec_problems.append(
                Problem(
                    rel,
                    None,
                    f"missing file; a project needs "
                    f"{', '.join(f'{PRIORS_DIR}/{n}.yaml' for n in PRIOR_FILES)}",
                )
            )
            continue
        doc, problems = load_yaml(path, rel, root)
        spec_problems.extend(problems)
        if doc is None:
            continue
        hashes[rel] = _sha256(path)
        docs[name] = doc
        parsed[name] = validate_doc(doc, model, spec_problems)
    if spec_problems or any(v is None for v in parsed.values()):
        raise SpecError(spec_problems)

    start, as_of, horizon = _time_grid(parsed["project"], docs["project"], today, spec_problems)
    _check_priors(parsed, docs, spec_problems)
    if spec_problems:
        raise SpecError(spec_problems)

    ev_problems: list[Problem] = []
    items, indicators = _load_evidence(root, parsed, start, today, ev_problems, hashes)
    if ev_problems:
        raise EvidenceError(ev_problems)
    return ProjectSpec(
        root=root,
        project=parsed["project"],
        scenarios=parsed["scenarios"],
        drivers=parsed["drivers"],
        theory=parsed["theory"],
        measurement=parsed["measurement"],
        sampling=parsed["sampling"],
        items=tuple(items),
        indicators=tuple(indicators),
        start=start,
        as_of=as_of,
        horizon=horizon,
        today=today,
        file_hashes=dict(sorted(hashes.items())),
    )


def _time_grid(
    project: ProjectFile, doc: YamlDoc, today: dt.date, problems: list[Problem]
) -> tuple[Quarter, Quarter, Quarter]:
    start = Quarter.parse(project.start.value)
    horizon = Quarter.parse(project.horizon.value)
    raw = str(project.as_of.value).strip().lower()
    as_of = Quarter.of(today) if raw == "today" else Quarter.parse(raw)
    if as_of < start:
        problems.append(doc.problem(("as_of", "value"), f"as_of {as_of} is before start {start}"))
    if as_of > Quarter.of(today):
        problems.append(
            doc.problem(
                ("as_of", "value"),
                f"as_of {as_of} is after the current "
                f"quarter {Quarter.of(today)}; use 'today' or a past quarter",
            )
        )
    if not horizon > as_of:
        problems.append(
            doc.problem(
                ("horizon", "value"),
                f"horizon {horizon} must lie after as_of {as_of}; move the horizon later",
            )
        )
    return start, as_of, horizon


def _check_priors(
    parsed: dict[str, Any], docs: dict[str, YamlDoc], problems: list[Problem]
) -> None:
    scen: ScenariosFile = parsed["scenarios"]
    drv: DriversFile = parsed["drivers"]
    theory: TheoryFile = parsed["theory"]
    for kind, entries, doc in (
        ("scenario", scen.scenarios, docs["scenarios"]),
        ("driver", drv.drivers, docs["drivers"]),
    ):
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if entry.id in seen:
                problems.append(
                    doc.problem(
                        (f"{kind}s", i, "id"),
                        f"duplicate {kind} id '{entry.id}' (also entry {seen[entry.id]})",
                    )
                )
            seen.setdefault(entry.id, i)
    total = sum(s.baseline for s in scen.scenarios)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        problems.append(
            docs["scenarios"].problem(
                ("scenarios",),
                (
                    f"baseline probabilities sum to {total:.6g}, not 1; adjust them to sum to 1 "
                    f"(e.g. divide each by {total:.6g})"
                ),
            )
        )
    scenario_ids = [s.id for s in scen.scenarios]
    driver_ids = [d.id for d in drv.drivers]
    doc = docs["theory"]
    seen_cells: dict[tuple[str, str], int] = {}
    for i, cell in enumerate(theory.cells):
        if cell.scenario not in scenario_ids:
            problems.append(
                doc.problem(
                    ("cells", i, "scenario"), unknown_name("scenario", cell.scenario, scenario_ids)
                )
            )
        if cell.driver not in driver_ids:
            problems.append(
                doc.problem(("cells", i, "driver"), unknown_name("driver", cell.driver, driver_ids))
            )
        key = (cell.scenario, cell.driver)
        if key in seen_cells:
            problems.append(
                doc.problem(
                    ("cells", i),
                    f"duplicate cell {cell.scenario} x "
                    f"{cell.driver} (also entry {seen_cells[key]}); keep one",
                )
            )
        seen_cells.setdefault(key, i)
    if theory.interactions is not None:
        for i, term in enumerate(theory.interactions.terms):
            loc = ("interactions", "terms", i)
            if term.scenario not in scenario_ids:
                problems.append(
                    doc.problem(
                        (*loc, "scenario"), unknown_name("scenario", term.scenario, scenario_ids)
                    )
                )
            for d in term.drivers:
                if d not in driver_ids:
                    problems.append(
                        doc.problem((*loc, "drivers"), unknown_name("driver", d, driver_ids))
                    )
            if term.drivers[0] == term.drivers[1]:
                problems.append(
                    doc.problem((*loc, "drivers"), "an interaction needs two different drivers")
                )


def _load_unique(
    path: Path,
    root: Path,
    model: type[M],
    kind: str,
    seen: dict[str, str],
    problems: list[Problem],
    hashes: dict[str, str],
) -> tuple[M, YamlDoc] | None:
    """Read, validate and hash one evidence file whose ``id`` must be unique among ``seen``."""
    rel = path.relative_to(root).as_posix()
    doc, found = load_yaml(path, rel, root)
    problems.extend(found)
    if doc is None:
        return None
    entry = validate_doc(doc, model, problems)
    if entry is None:
        return None
    hashes[rel] = _sha256(path)
    entry_id = entry.id  # type: ignore[attr-defined]
    if entry_id in seen:
        problems.append(
            doc.problem(
                ("id",),
                f"duplicate {kind} id '{entry_id}' (also in {seen[entry_id]}); give this "
                f"{kind} a new id",
            )
        )
        return None
    seen[entry_id] = rel
    return entry, doc


def _load_evidence(
    root: Path,
    parsed: dict[str, Any],
    start: Quarter,
    today: dt.date,
    problems: list[Problem],
    hashes: dict[str, str],
) -> tuple[list[LocatedItem], list[tuple[IndicatorSeries, str]]]:
    scenario_ids = [s.id for s in parsed["scenarios"].scenarios]
    driver_ids = [d.id for d in parsed["drivers"].drivers]
    item_paths, indicator_paths = evidence_files(root)
    if len(item_paths) > MAX_EVIDENCE_FILES:
        problems.append(
            Problem(
                EVIDENCE_DIR,
                None,
                f"{len(item_paths):,} files; the limit is {MAX_EVIDENCE_FILES:,}",
            )
        )
        return [], []
    items: list[LocatedItem] = []
    seen_items: dict[str, str] = {}
    for path in item_paths:
        rel = path.relative_to(root).as_posix()
        if path.suffix not in (".yaml", ".yml"):
            problems.append(
                Problem(
                    rel,
                    None,
                    "not a .yaml file; evidence/ holds only item files "
                    "(evidence/<year>/<id>.yaml) and evidence/indicators/",
                )
            )
            continue
        loaded = _load_unique(path, root, EvidenceItem, "item", seen_items, problems, hashes)
        if loaded is None:
            continue
        item, doc = loaded
        if path.stem != item.id:
            problems.append(
                doc.problem(
                    ("id",),
                    f"id '{item.id}' does not match the file name '{path.name}'; rename the "
                    f"file to {item.id}.yaml",
                )
            )
        check_item(item, doc, scenario_ids, driver_ids, start, today, problems)
        items.append(LocatedItem(item, rel))
    indicators = []
    seen_series: dict[str, str] = {}
    for path in indicator_paths:
        loaded = _load_unique(path, root, IndicatorSeries, "series", seen_series, problems, hashes)
        if loaded is None:
            continue
        series, doc = loaded
        _check_series(series, doc, driver_ids, start, today, problems)
        indicators.append((series, path.relative_to(root).as_posix()))
    return items, indicators


def _check_series(
    series: IndicatorSeries,
    doc: YamlDoc,
    driver_ids: list[str],
    start: Quarter,
    today: dt.date,
    problems: list[Problem],
) -> None:
    """Cross-check one schema-valid indicator series against the project."""
    if series.driver not in driver_ids:
        problems.append(doc.problem(("driver",), unknown_name("driver", series.driver, driver_ids)))
    periods: Counter[Quarter] = Counter()
    for i, obs in enumerate(series.observations):
        q = period_quarter(obs.period)
        periods[q] += 1
        loc = ("observations", i, "period")
        if periods[q] == 2:
            problems.append(doc.problem(loc, f"period {obs.period} appears twice; keep one"))
        if q < start:
            problems.append(
                doc.problem(loc, f"period {obs.period} is before the start quarter {start}")
            )
        if q.first_day > today:
            problems.append(
                doc.problem(loc, f"period {obs.period} lies in the future (today is {today})")
            )


def check_item(
    item: EvidenceItem,
    doc: YamlDoc,
    scenario_ids: list[str],
    driver_ids: list[str],
    start: Quarter,
    today: dt.date,
    problems: list[Problem],
) -> None:
    """Cross-check one schema-valid item against the project; append located problems."""
    for name in item.drivers or {}:
        if name not in driver_ids:
            problems.append(
                doc.problem(("drivers", name), unknown_name("driver", name, driver_ids))
            )
    for name in item.scenarios or {}:
        if name not in scenario_ids:
            problems.append(
                doc.problem(("scenarios", name), unknown_name("scenario", name, scenario_ids))
            )
    date, published = item.event_date, item.published_date
    if date.latest < start.first_day:
        problems.append(
            doc.problem(
                ("date",),
                f"date {date} is before the start quarter {start}; "
                "facts from before the start belong in the rationale of the "
                "drivers' initial levels (priors/drivers.yaml)",
            )
        )
    dates = [("date", date)] + ([("published", published)] if item.published is not None else [])
    for name, value in dates:
        if value.earliest > today:
            problems.append(
                doc.problem((name,), f"{name} {value} lies in the future (today is {today})")
            )
    if published.latest < date.earliest:
        problems.append(
            doc.problem(("published",), f"published {published} is before the event's date {date}")
        )
