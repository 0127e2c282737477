"""Create evidence item files: one new item, or a CSV import, all or nothing; and CSV export."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from forecast.errors import EvidenceError, Problem
from forecast.io.atomic import atomic_write_text, project_lock
from forecast.io.messages import unknown_name
from forecast.io.project import (
    EVIDENCE_DIR,
    ProjectSpec,
    check_item,
    validate_doc,
)
from forecast.io.schema import EvidenceItem, PartialDate
from forecast.io.yamlfile import YamlDoc

FIELD_ORDER = (
    "schema_version",
    "id",
    "date",
    "published",
    "title",
    "source",
    "url",
    "reliability",
    "credibility",
    "cluster",
    "coder",
    "notes",
    "drivers",
    "scenarios",
)
#: Columns of the CSV import and export: every item field but the schema version.
CSV_COLUMNS = FIELD_ORDER[1:]
MAX_CSV_BYTES = 20_000_000
_ID_RE = re.compile(r"^e(\d+)$")


def next_item_id(spec: ProjectSpec, taken: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """A fresh item id: one above the highest existing number, at least three digits."""
    numbers = [int(m.group(1)) for li in spec.items if (m := _ID_RE.match(li.item.id))]
    numbers += [int(m.group(1)) for t in taken if (m := _ID_RE.match(t))]
    return f"e{(max(numbers, default=0) + 1):03d}"


def item_path(item: EvidenceItem) -> str:
    """Where an item lives, relative to the project: evidence/<year>/<id>.yaml."""
    return f"{EVIDENCE_DIR}/{item.event_date.year}/{item.id}.yaml"


def item_to_yaml(item: EvidenceItem) -> str:
    """The item as YAML in the documented field order, omitting empty optional fields."""
    data = item.model_dump(exclude_none=True)
    if not data.get("notes"):
        data.pop("notes", None)
    ordered = {k: data[k] for k in FIELD_ORDER if k in data}
    for key in ("date", "published"):
        if key in ordered:
            ordered[key] = str(PartialDate.parse(ordered[key]))
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)


def parse_codings(text: str, kind: str) -> dict[str, Any]:
    """Parse 'a=1; b=-2' (or comma-separated) into a mapping; scores become ints."""
    out: dict[str, Any] = {}
    for part in re.split(r"[;,]", text or ""):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{kind} coding {part!r} is not NAME=VALUE")
        name, value = name.strip(), value.strip()
        if name in out:
            raise ValueError(f"{kind} '{name}' is coded twice")
        if kind == "driver":
            try:
                out[name] = int(value)
            except ValueError:
                raise ValueError(
                    f"driver score {value!r} for '{name}' is not a whole number from -2 to +2"
                ) from None
        else:
            out[name] = value.upper()
    return out


def validate_new_item(
    spec: ProjectSpec, data: dict[str, Any], doc: YamlDoc, taken: dict[str, str]
) -> tuple[EvidenceItem | None, list[Problem]]:
    """Validate one new item's fields against the schema and the project; no disk access."""
    problems: list[Problem] = []
    item = validate_doc(doc, EvidenceItem, problems)
    if item is None:
        return None, problems
    existing = {li.item.id: li.path for li in spec.items}
    where = existing.get(item.id) or taken.get(item.id)
    if where is not None:
        problems.append(
            doc.problem(
                ("id",),
                f"item id '{item.id}' is already used by {where}; "
                "leave the id out to get a fresh one",
            )
        )
    check_item(item, doc, spec.scenario_ids, spec.driver_ids, spec.start, spec.today, problems)
    return (item if not problems else None), problems


def add_item(spec: ProjectSpec, fields: dict[str, Any]) -> tuple[EvidenceItem, Path]:
    """Validate and write one new item file atomically; write nothing if it is invalid.

    ``fields`` are the item's fields (without schema_version; ``id`` optional).
    """
    data = {"schema_version": 1, **{k: v for k, v in fields.items() if v not in (None, "", {})}}
    data.setdefault("id", next_item_id(spec))
    doc = YamlDoc("new item", data, {})
    item, problems = validate_new_item(spec, data, doc, {})
    if item is None:
        raise EvidenceError(problems)
    rel = item_path(item)
    with project_lock(spec.root, "evidence add"):
        atomic_write_text(spec.root / rel, item_to_yaml(item))
    return item, spec.root / rel


def _row_fields(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"schema_version": 1}
    for key in CSV_COLUMNS:
        value = (row.get(key) or "").strip()
        if not value:
            continue
        if key == "credibility":
            data[key] = int(value) if value.isdigit() else value
        elif key == "drivers":
            data[key] = parse_codings(value, "driver")
        elif key == "scenarios":
            data[key] = parse_codings(value, "scenario")
        else:
            data[key] = value
    return data


def import_csv(spec: ProjectSpec, path: Path) -> list[tuple[EvidenceItem, Path]]:
    """Import every row of a CSV file as new items, all or nothing.

    Every row is validated first; any problem (located as ``file.csv:line``) means nothing is
    written. Files are then written under the project lock, and removed again if any write fails.
    """
    shown = str(path)
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise EvidenceError(
            [Problem(shown, None, f"file is {size:,} bytes; the limit is {MAX_CSV_BYTES:,}")]
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvidenceError(
            [Problem(shown, None, "file is not UTF-8 text; save it as UTF-8 CSV")]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    problems: list[Problem] = []
    unknown = [h for h in header if h not in CSV_COLUMNS]
    for h in unknown:
        problems.append(Problem(shown, 1, unknown_name("column", h, CSV_COLUMNS)))
    for required in ("date", "title", "source", "reliability", "credibility", "coder"):
        if required not in header:
            problems.append(
                Problem(
                    shown, 1, f"missing column '{required}'; columns are {', '.join(CSV_COLUMNS)}"
                )
            )
    if problems:
        raise EvidenceError(problems)
    taken: dict[str, str] = {}
    accepted: list[EvidenceItem] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(Problem(shown, line, "row has more cells than the header"))
            continue
        try:
            data = _row_fields(row)
        except ValueError as exc:
            problems.append(Problem(shown, line, str(exc)))
            continue
        data.setdefault("id", next_item_id(spec, set(taken)))
        doc = YamlDoc(shown, data, {(): line})
        item, found = validate_new_item(spec, data, doc, taken)
        problems.extend(found)
        if item is not None:
            taken[item.id] = f"{shown}:{line}"
            accepted.append(item)
    if problems:
        raise EvidenceError(problems)
    if not accepted:
        raise EvidenceError([Problem(shown, None, "no rows to import")])
    return _write_all(spec, accepted)


def _write_all(spec: ProjectSpec, items: list[EvidenceItem]) -> list[tuple[EvidenceItem, Path]]:
    written: list[Path] = []
    staged: list[tuple[str, Path]] = []
    with project_lock(spec.root, "evidence import"):
        try:
            for item in items:
                target = spec.root / item_path(item)
                if target.exists():
                    raise EvidenceError([Problem(item_path(item), None, "file already exists")])
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".import.", suffix=".tmp", dir=target.parent)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(item_to_yaml(item))
                staged.append((tmp, target))
            for tmp, target in staged:
                os.link(tmp, target)
                written.append(target)
        except BaseException:
            for target in written:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
            raise
        finally:
            for tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    return [(item, spec.root / item_path(item)) for item in items]


def export_csv(spec: ProjectSpec) -> str:
    """All items as CSV text with the import's columns (round-trips through :func:`import_csv`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for located in spec.items:
        item = located.item
        row = item.model_dump(exclude_none=True)
        row["date"] = str(item.event_date)
        if item.published is not None:
            row["published"] = str(item.published_date)
        row["drivers"] = "; ".join(f"{k}={v:+d}" for k, v in (item.drivers or {}).items())
        row["scenarios"] = "; ".join(f"{k}={v}" for k, v in (item.scenarios or {}).items())
        writer.writerow({k: row.get(k, "") for k in CSV_COLUMNS})
    return out.getvalue()
