"""The NUTS programs: saved to the cache and reused, run in chunks, and a warm fit without PyMC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model_factory import make_evidence, make_priors

SMALL = {"draws": 70, "tune": 60, "chains": 2, "target_accept": 0.9, "prior_draws": 0}


def small_project():
    """Priors and evidence with codings, a rating and an indicator series (every program part)."""
    priors = make_priors(n_quarters=6, n_nodes=16, student_t=(1,))
    evidence = make_evidence(
        priors,
        codings=[(0, 2, 1, 1.0), (1, 5, -1, 0.6)],
        ratings=[({0: "CC", 2: "II"}, 0.8)],
        indicator=(1, [(3, 0.4), (5, 0.6)]),
    )
    return priors, evidence


@pytest.fixture(scope="module")
def project():
    return small_project()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from forecast import sampling

    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sampling, "_COMPILED", type(sampling._COMPILED)())
    return tmp_path


def _draws(fit) -> dict[str, np.ndarray]:
    return {name: fit.posterior[name].values for name in fit.posterior.data_vars}


@pytest.mark.sampling
def test_saved_programs_serve_the_next_process_with_identical_draws(
    project, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast import jax_nuts, sampling

    priors, evidence = project
    first = sampling.sample_groups(priors, evidence, seed=5, **SMALL)
    (saved,) = (cache / "programs").iterdir()
    assert sorted(p.name for p in saved.iterdir()) == [
        "advance.bin",
        "init.bin",
        "meta.json",
        "outputs.bin",
    ]

    sampling._COMPILED.clear()  # as in a new process

    def no_tracing(*args, **kwargs):
        raise AssertionError("the model was translated again instead of loaded")

    monkeypatch.setattr(jax_nuts.JaxModel, "from_model", no_tracing)
    second = sampling.sample_groups(priors, evidence, seed=5, **SMALL)
    for name, value in _draws(first).items():
        np.testing.assert_array_equal(second.posterior[name].values, value, err_msg=name)
    np.testing.assert_array_equal(second.sample_stats["lp"].values, first.sample_stats["lp"].values)


@pytest.mark.sampling
def test_a_damaged_cache_entry_is_rebuilt(project, cache: Path) -> None:
    from forecast import jax_nuts, sampling

    priors, evidence = project
    first = sampling.sample_groups(priors, evidence, seed=5, **SMALL)
    (saved,) = (cache / "programs").iterdir()
    (saved / "advance.bin").write_bytes(b"not a program")
    assert jax_nuts.NutsPrograms.load(saved) is None
    assert not saved.exists()  # removed, so that a good copy can take its place

    sampling._COMPILED.clear()
    again = sampling.sample_groups(priors, evidence, seed=5, **SMALL)
    np.testing.assert_array_equal(again.posterior["q"].values, first.posterior["q"].values)
    assert jax_nuts.NutsPrograms.load(saved) is not None


@pytest.mark.sampling
def test_chunks_keep_exactly_the_draws_after_warm_up(project, cache: Path) -> None:
    """60 + 70 iterations run as two chunks of 100; the 70 after warm-up are kept, no more."""
    from forecast import sampling

    priors, evidence = project
    fit = sampling.sample_groups(priors, evidence, seed=2, **SMALL)
    stats = fit.sample_stats
    assert stats.sizes == {"chain": SMALL["chains"], "draw": SMALL["draws"]}
    assert fit.posterior.sizes["draw"] == SMALL["draws"]
    # The step size is frozen once warm-up ends: every kept draw of a chain has the same one.
    step = stats["step_size"].values
    assert np.all(step == step[:, :1])
    # A fit with warm-up ending at a chunk boundary keeps the same number of draws.
    aligned = sampling.sample_groups(priors, evidence, seed=2, **{**SMALL, "tune": 30})
    assert aligned.posterior.sizes["draw"] == SMALL["draws"]


def test_chunks_yield_every_iteration_warm_up_included(project, cache: Path) -> None:
    """The chunks a fit is made of, warm-up included, carry the kept draws' statistics."""
    from forecast import jax_nuts, sampling

    priors, evidence = project
    settings = {k: SMALL[k] for k in ("draws", "tune", "chains", "target_accept")}
    programs, data = sampling.nuts_programs(priors, evidence, **settings)
    init = jax_nuts.initial_values(programs, 2)
    total = SMALL["tune"] + SMALL["draws"]
    chunks = list(programs.chunks(data, init, 2, total))
    assert [c[0] for c in chunks] == [0, 100]
    n_steps = np.concatenate([np.asarray(c[2][2]) for c in chunks], axis=1)[:, :total]
    assert n_steps.shape == (SMALL["chains"], total) and np.all(n_steps >= 1)
    fit = sampling.sample_groups(priors, evidence, seed=2, **SMALL)
    np.testing.assert_array_equal(n_steps[:, SMALL["tune"] :], fit.sample_stats["n_steps"].values)


_WARM_FIT = """
import json, sys
from forecast.diagnostics import check_gate
from forecast.io.runs import write_idata
from forecast.results import forecast_summary
from forecast.sampling import sample_groups
from tests.test_programs import SMALL, small_project

priors, evidence = small_project()
fit = sample_groups(priors, evidence, seed=5, **SMALL)
check_gate(fit)
forecast_summary(fit.posterior, 0.8)
write_idata(sys.argv[1], fit)
print(json.dumps(sorted(m for m in ("pymc", "pytensor", "arviz") if m in sys.modules)))
"""


@pytest.mark.sampling
def test_a_warm_fit_imports_neither_pymc_nor_arviz(tmp_path: Path) -> None:
    """With the programs cached, fitting, gating, summarising and saving need no PyMC, PyTensor
    or ArviZ (about 3 s of imports of a warm ``forecast update``)."""
    env = {**os.environ, "FORECAST_CACHE_DIR": str(tmp_path / "cache")}
    root = Path(__file__).resolve().parents[1]

    def run(name: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", _WARM_FIT, str(tmp_path / name)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert "pymc" in run("cold.nc")  # the first fit builds the model
    assert run("warm.nc") == []


def test_programs_are_keyed_by_coded_cells_not_items() -> None:
    """A new item in an already coded (driver, quarter) cell, or a new rated item, keeps the
    compiled programs; a coding of a new cell needs new ones."""
    from forecast import jax_nuts, sampling

    priors = make_priors(n_quarters=6, n_nodes=16)

    def key(codings, ratings=()):
        evidence = make_evidence(priors, codings=codings, ratings=list(ratings))
        return jax_nuts.structure_key(sampling._structure(priors, evidence))

    base = key([(0, 2, 1, 1.0)], [({0: "CC"}, 1.0)])
    assert key([(0, 2, 1, 1.0), (0, 2, -1, 0.5)], [({0: "CC"}, 1.0)]) == base
    assert key([(0, 2, 1, 1.0)], [({0: "CC"}, 1.0), ({1: "II"}, 0.6)]) == base
    assert key([(0, 2, 1, 1.0), (1, 4, 1, 1.0)], [({0: "CC"}, 1.0)]) != base
