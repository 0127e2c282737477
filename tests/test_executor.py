"""T0/T2: ``forecast.executor.run_tasks`` in this process, in spawned processes and on Dask."""

from __future__ import annotations

import os

import pytest

from forecast.executor import run_tasks


def square(n: int) -> int:
    if n < 0:
        raise ValueError(f"negative task {n}")
    return n * n


def worker_env(name: str) -> str | None:
    return os.environ.get(name)


def test_in_process_results_in_task_order() -> None:
    seen: list[tuple[int, int]] = []
    assert run_tasks(square, [3, 1, 2], on_result=lambda t, r: seen.append((t, r))) == [9, 1, 4]
    assert seen == [(3, 9), (1, 1), (2, 4)]
    assert run_tasks(square, []) == []


def test_failure_raises_after_the_other_results_are_handed_over() -> None:
    seen: list[int] = []
    with pytest.raises(ValueError, match="negative task -1") as info:
        run_tasks(square, [2, -1, 3], on_result=lambda t, r: seen.append(t))
    assert seen == [2, 3]
    assert any("task 2 of 3" in note for note in info.value.__notes__)


def test_on_result_errors_stop_the_run() -> None:
    def boom(_task: int, _result: int) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_tasks(square, [1, 2], on_result=boom)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown executor 'ray'"):
        run_tasks(square, [1], executor="ray")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        run_tasks(square, [1], workers=0)
    with pytest.raises(ValueError, match="needs executor='dask'"):
        run_tasks(square, [1], scheduler="tcp://127.0.0.1:8786")


def test_dask_executor_without_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask is optional: without it the dask executor refuses before running any task."""
    import importlib.util

    from forecast import executor

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name)
    )
    assert executor.available("local") and not executor.available("dask")
    seen: list[int] = []
    with pytest.raises(ValueError, match=r"pip install 'forecast\[dask\]'"):
        run_tasks(square, [1], executor="dask", on_result=lambda t, r: seen.append(t))
    assert seen == []


def test_spawned_processes_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_CACHE_DIR", "/tmp/forecast-cache-test")
    seen: list[int] = []
    assert run_tasks(square, [4, 5, 6], workers=2, on_result=lambda t, r: seen.append(t)) == [
        16,
        25,
        36,
    ]
    assert sorted(seen) == [4, 5, 6]
    assert run_tasks(worker_env, ["FORECAST_CACHE_DIR"], workers=2) == ["/tmp/forecast-cache-test"]
    with pytest.raises(ValueError, match="negative task -2"):
        run_tasks(square, [1, -2], workers=2)


@pytest.mark.sampling
def test_dask_local_cluster_and_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A LocalCluster started by run_tasks, then a scheduler on loopback given by address."""
    from distributed import LocalCluster

    monkeypatch.setenv("FORECAST_CACHE_DIR", "/tmp/forecast-cache-test")
    seen: list[int] = []
    assert run_tasks(
        square, [1, 2, 3], executor="dask", workers=2, on_result=lambda t, r: seen.append(t)
    ) == [1, 4, 9]
    assert sorted(seen) == [1, 2, 3]
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        processes=True,
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert run_tasks(square, [7, 8], executor="dask", scheduler=address) == [49, 64]
        env = run_tasks(worker_env, ["FORECAST_CACHE_DIR"], executor="dask", scheduler=address)
        assert env == ["/tmp/forecast-cache-test"]
        seen.clear()
        with pytest.raises(ValueError, match="negative task -3"):
            run_tasks(
                square,
                [1, -3, 2],
                executor="dask",
                scheduler=address,
                on_result=lambda t, r: seen.append(t),
            )
        assert sorted(seen) == [1, 2]
