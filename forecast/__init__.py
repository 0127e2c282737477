"""forecast: Bayesian scenario forecasting for geopolitical analysis.

The public API is imported lazily so that ``import forecast`` (and the CLI) stay fast:
``forecast.Project``, ``forecast.load_run`` and ``forecast.load_project``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Project", "__version__", "load_project", "load_run"]

if TYPE_CHECKING:  # pragma: no cover
    from forecast.api import Project, load_run
    from forecast.io.project import load_project


def __getattr__(name: str) -> Any:
    if name in ("Project", "load_run"):
        from forecast import api

        return getattr(api, name)
    if name == "load_project":
        from forecast.io.project import load_project

        return load_project
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
