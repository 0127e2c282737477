"""Atomic writes and the project lock: nothing half-written, one writer at a time."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from forecast.errors import ForecastError, ProjectLockedError

LOCK_NAME = ".forecast.lock"


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename.

    Without ``overwrite`` an existing file is an error and is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise ForecastError(f"{path} already exists; refusing to overwrite it")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target appeared meanwhile: no silent overwrite in a race.
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def project_lock(root: Path, purpose: str) -> Iterator[None]:
    """Hold the project's write lock (``.forecast.lock``) for the duration of the block.

    A second writer fails at once with a message naming the holder. A lock left by a process that
    no longer runs on this host is taken over.
    """
    lock = Path(root) / LOCK_NAME
    host = socket.gethostname()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    content = f"{os.getpid()} {host} {stamp} {purpose}\n"
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_s, lock_host, since, *what = lock.read_text().split()
                pid = int(pid_s)
            except (OSError, ValueError):
                pid, lock_host, since, what = -1, "?", "?", ["?"]
            if lock_host == host and pid > 0 and not _pid_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            raise ProjectLockedError(
                f"another forecast process is writing to this project ({' '.join(what)}, pid {pid} "
                f"on {lock_host}, since {since}). Wait for it to finish; if none is running, "
                f"delete {lock}"
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
