"""Options shared by several commands, and the mapping of library errors to exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from forecast.errors import ForecastError, InputError, ProjectLockedError

EXIT_FAILED = 1
EXIT_GATE = 3
EXIT_LOCKED = 4


class ForecastClickError(click.ClickException):
    """A library error shown as ``Error: ...`` with the exit code that fits it."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def project_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--project DIR`` (default: the current folder)."""
    return click.option(
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default="current folder",
        help="The project folder (holding priors/ and evidence/).",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: print one JSON object instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def print_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@contextlib.contextmanager
def library_errors(note: str = "") -> Iterator[None]:
    """Turn library errors into click errors: a message, the right exit code, no traceback."""
    try:
        yield
    except ProjectLockedError as exc:
        raise ForecastClickError(str(exc), EXIT_LOCKED) from None
    except InputError as exc:
        count = len(exc.problems)
        head = f"{count} problem{'s' * (count != 1)} found{note}:\n"
        raise ForecastClickError(head + str(exc)) from None
    except ForecastError as exc:
        raise ForecastClickError(str(exc)) from None


def handles_errors(note: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`library_errors`."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with library_errors(note):
                return f(*args, **kwargs)

        return inner

    return wrap


def interactive() -> bool:
    """True when a person is at the terminal (prompts make sense)."""
    return sys.stdin.isatty() and sys.stdout.isatty()
