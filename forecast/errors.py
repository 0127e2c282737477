"""Exception taxonomy: every error the library raises on purpose derives from ForecastError.

Input errors carry a list of :class:`Problem` (file, line, message) so that all problems of a
project are reported at once, as ``path:line: message``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """Return the problem as a JSON-ready mapping."""
        return {"path": self.path, "line": self.line, "message": self.message}


class ForecastError(Exception):
    """Base class of every error raised on purpose by the toolkit."""


class InputError(ForecastError):
    """Errors found in a project's files; holds every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.path, p.line or 0, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(InputError, ValueError):
    """The priors (model specification) or the project's structure are invalid."""


class EvidenceError(InputError, ValueError):
    """One or more evidence items or indicator series are invalid."""


class ConvergenceError(ForecastError, RuntimeError):
    """A run failed the diagnostics gate."""


class RunMismatchError(ForecastError, ValueError):
    """A saved run does not match the project's current inputs, or is not a run at all."""


class ProjectLockedError(ForecastError, RuntimeError):
    """Another process is already writing to this project."""
