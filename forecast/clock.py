"""The toolkit's notion of today, settable for tests and backtests via FORECAST_TODAY."""

from __future__ import annotations

import datetime as dt
import os

from forecast.quarters import Quarter

ENV_VAR = "FORECAST_TODAY"


def today() -> dt.date:
    """Return today's date, or the ISO date in the FORECAST_TODAY environment variable."""
    value = os.environ.get(ENV_VAR)
    if value:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{ENV_VAR}={value!r} is not an ISO date (YYYY-MM-DD)") from None
    return dt.date.today()


def current_quarter() -> Quarter:
    """The quarter containing :func:`today`."""
    return Quarter.of(today())
