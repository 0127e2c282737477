"""Run independent tasks in local processes or on a Dask cluster; results come back as they end.

One function serves every command that fans out fits (``forecast backtest``, ``forecast
calibrate``): :func:`run_tasks` maps a top-level function over picklable tasks and calls
``on_result(task, result)`` in the calling process as each one finishes, so the caller can save
results one by one (a crash loses only the tasks in flight) and drive a progress bar.

Executors
---------
``local``, one worker
    The tasks run one after another in this process (compile caches stay warm between them).
``local``, N workers
    A ``concurrent.futures.ProcessPoolExecutor`` whose processes are started with ``spawn``: JAX
    runs threads, and forking a process with threads is unsafe.
``dask``
    ``distributed.Client(scheduler)`` when a scheduler address is given, otherwise a
    ``LocalCluster`` of N single-threaded worker processes; ``client.submit`` and
    ``as_completed``. Dask is imported only here, and it is an optional dependency
    (``pip install 'forecast[dask]'``): when installed, xarray imports ``dask.array`` as it builds
    its first dataset, which would cost every ``forecast update`` half a second.

Worker processes compile the model once and keep it for their later tasks; across processes and
runs they share the JAX persistent cache in :func:`forecast.cache.cache_dir`
(``$FORECAST_CACHE_DIR``). Local workers inherit this process's environment, so
``FORECAST_CACHE_DIR``, ``PYTENSOR_FLAGS`` and ``FORECAST_TODAY`` reach them; workers of a remote
cluster must be started with those variables set (see docs/formats.md, "Backtests").
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Executor = Literal["local", "dask"]
EXECUTORS: tuple[str, ...] = ("local", "dask")
#: Environment variables worker processes need to behave as this process does.
WORKER_ENV = ("FORECAST_CACHE_DIR", "PYTENSOR_FLAGS", "FORECAST_TODAY")

OnResult = Callable[[Any, Any], None]

#: What to do when the dask executor is asked for without Dask installed.
DASK_MISSING = "the dask executor needs Dask, an optional dependency: pip install 'forecast[dask]'"


def available(executor: str) -> bool:
    """Whether ``executor`` can run here (``dask`` needs the optional Dask packages)."""
    if executor == "dask":
        import importlib.util

        return importlib.util.find_spec("distributed") is not None
    return executor in EXECUTORS


def run_tasks(
    func: Callable[[T], R],
    tasks: Sequence[T],
    *,
    executor: Executor = "local",
    workers: int = 1,
    scheduler: str | None = None,
    on_result: OnResult | None = None,
) -> list[R]:
    """Apply ``func`` to every task and return the results in task order.

    Parameters
    ----------
    func
        A top-level (importable) function of one picklable task returning a picklable result.
    tasks
        The tasks.
    executor : {"local", "dask"}
        Where the tasks run (see the module docstring).
    workers
        Worker processes: 1 runs the local tasks in this process; for ``dask`` without a
        ``scheduler``, the size of the local cluster started for the call.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); ``dask`` only.
    on_result
        Called in this process as ``on_result(task, result)`` when each task finishes, in the
        order they finish.

    Returns
    -------
    list
        ``func(task)`` for each task, in the order of ``tasks``.

    Raises
    ------
    Exception
        The first task's error (with a note naming the task), once every other task has finished
        and its result has been handed to ``on_result``. An error raised by ``on_result`` itself
        stops the run at once; tasks not yet started are cancelled.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if scheduler is not None and executor != "dask":
        raise ValueError("a scheduler address needs executor='dask'")
    if not available(executor):
        raise ValueError(DASK_MISSING)
    tasks = list(tasks)
    results: dict[int, Any] = {}
    errors: list[tuple[int, BaseException]] = []
    done = _Collector(tasks, results, errors, on_result)
    if not tasks:
        return []
    if executor == "dask":
        _run_dask(func, tasks, workers, scheduler, done)
    elif workers == 1:
        for i, task in enumerate(tasks):
            try:
                result = func(task)
            except Exception as exc:
                done.failed(i, exc)
            else:
                done.finished(i, result)
    else:
        _run_processes(func, tasks, workers, done)
    if errors:
        index, exc = min(errors, key=lambda e: e[0])
        exc.add_note(f"(raised by task {index + 1} of {len(tasks)}: {tasks[index]!r})")
        raise exc
    return [results[i] for i in range(len(tasks))]


class _Collector:
    """Keeps results by task index and hands each one to ``on_result`` as it arrives."""

    def __init__(
        self,
        tasks: list[Any],
        results: dict[int, Any],
        errors: list[tuple[int, BaseException]],
        on_result: OnResult | None,
    ):
        self.tasks = tasks
        self.results = results
        self.errors = errors
        self.on_result = on_result

    def finished(self, index: int, result: Any) -> None:
        self.results[index] = result
        if self.on_result is not None:
            self.on_result(self.tasks[index], result)

    def failed(self, index: int, exc: BaseException) -> None:
        self.errors.append((index, exc))


def _run_processes(
    func: Callable[[Any], Any], tasks: list[Any], workers: int, done: _Collector
) -> None:
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context)
    try:
        futures = {pool.submit(func, task): i for i, task in enumerate(tasks)}
        for future in cf.as_completed(futures):
            exc = future.exception()
            if exc is not None:
                done.failed(futures[future], exc)
            else:
                done.finished(futures[future], future.result())
    except KeyboardInterrupt:
        # Interrupted: stop the fits in flight too (their results would be lost anyway) rather
        # than wait minutes for them; finished results were already handed to on_result.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        # on_result failed: do not start what is still queued.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(
    func: Callable[[Any], Any],
    tasks: list[Any],
    workers: int,
    scheduler: str | None,
    done: _Collector,
) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # Worker processes are spawned and inherit this process's environment (WORKER_ENV).
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # Workers busy in compiled code are killed at shutdown with a warning; not news.
            silence_logs=logging.ERROR,
        )
    client = Client(scheduler if scheduler is not None else cluster)
    try:
        # Keys unique to this call (a shared scheduler may serve other clients); every task runs,
        # even two equal ones.
        prefix = f"{getattr(func, '__name__', 'task')}-{uuid.uuid4().hex[:12]}"
        futures = [
            client.submit(func, task, pure=False, key=f"{prefix}-{i}")
            for i, task in enumerate(tasks)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                if future.status == "error":
                    done.failed(i, future.exception())
                else:
                    done.finished(i, future.result())
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
