"""Turn pydantic validation errors into located, actionable messages (what, where, value, fix)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

from forecast.errors import Problem
from forecast.io.yamlfile import Loc, YamlDoc


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix when ``word`` is close to one of ``options``."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """The message for an unknown id: the bad value, the valid options and a suggestion."""
    known = list(known)
    return f"unknown {kind} '{name}'; known: {', '.join(known)}.{did_you_mean(name, known)}"


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``loc`` (for listing its fields)."""
    current: object = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = typing.get_args(current)
            origin = typing.get_origin(current)
            if origin in (list, tuple) and args:
                current = args[0]
            elif origin is dict and len(args) == 2:
                current = args[1]
            else:
                return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: object) -> object:
    """Strip Optional/Annotated wrappers down to the single model or container type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        else:
            return tp


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validation_problems(
    doc: YamlDoc, exc: ValidationError, model: type[BaseModel]
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, located on the file's line."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = list(parent.model_fields) if parent else []
            name = loc[-1]
            msg = f"unknown field '{name}'"
            if allowed:
                msg += f"; allowed here: {', '.join(allowed)}.{did_you_mean(str(name), allowed)}"
        elif kind == "missing":
            msg = f"missing required field '{_dotted(loc)}'"
        elif kind in ("finite_number",):
            msg = f"{_dotted(loc)}: {value!r} is not a finite number; NaN and infinity are refused"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"{_dotted(loc)}: {value!r} is not allowed; expected {expected}"
        else:
            text = err["msg"].removeprefix("Value error, ")
            shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
            msg = f"{_dotted(loc)}: {text}{shown}" if loc else f"{text}{shown}"
        problems.append(doc.problem(loc, msg))
    return problems
