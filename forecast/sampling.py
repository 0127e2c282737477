"""Run the sampler and assemble the InferenceData of one fit: the only caller of ``pm.sample``.

Three NUTS backends sample the same model: ``numpyro`` (JAX; the default, see docs/performance.md),
``nutpie`` (Rust, JAX-compiled gradient) and ``pymc`` (PyMC's own sampler on the C backend).
Nothing is written except the compilation caches of JAX and PyTensor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

#: JAX fixes its number of CPU devices when it is first imported, so the flag that lets numpyro run
#: chains in parallel must be set before anything imports jax (pymc imports it lazily).
JAX_DEVICES = max(4, os.cpu_count() or 1)
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={JAX_DEVICES}"
    ).strip()

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from forecast.cache import cache_dir  # noqa: E402
from forecast.dims import (  # noqa: E402
    DRIVER,
    EVIDENCE,
    INNOVATION_NORMAL,
    INNOVATION_STUDENT,
    INTERACTION,
    LOG_LIKELIHOOD_VAR,
    QUARTER,
    SCENARIO,
    SERIES,
)
from forecast.evidence import EvidenceArrays  # noqa: E402
from forecast.likelihood import pointwise_loglik  # noqa: E402
from forecast.model_data import (  # noqa: E402
    coding_cells,
    data_values,
    has_evidence,
    model_coords,
)
from forecast.priors import PriorArrays  # noqa: E402

if TYPE_CHECKING:
    import arviz as az
    import pymc as pm

Backend = Literal["numpyro", "pymc", "nutpie"]
BACKENDS: tuple[str, ...] = ("numpyro", "pymc", "nutpie")

#: Draws that feed the log-likelihood: the posterior variables pointwise_loglik reads.
_LOGLIK_VARS = ("x", "log_p", "indicator_intercept", "indicator_slope", "indicator_noise")

#: Entries (draws x terms) of the pointwise log-likelihood computed at once.
_LOGLIK_BLOCK = 2_000_000

#: NUTS tree depth limit (numpyro's and PyMC's default).
_MAX_TREE_DEPTH = 10


def _configure_jax() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    # The model's programs compile in well under a second each; cache them all, since an update
    # compiles several (the sampler, the deterministics) and warm starts are what users feel.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@contextlib.contextmanager
def quiet_compiler() -> Iterator[None]:
    """Silence PyTensor's warning that it found no BLAS to link (pip installs have none).

    The model's matrices are a few scenarios by a few drivers, so BLAS would not change its speed;
    the warning would only alarm users at every compile. PyTensor looks for BLAS the first time
    its config is read and caches the answer, so the lookup happens here, quietly, too.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        import pytensor

        _ = pytensor.config.blas__ldflags
        yield


def build_model(priors: PriorArrays, evidence: EvidenceArrays | None) -> pm.Model:
    """The PyMC model (:func:`forecast.model.build_model`), imported and built on demand."""
    with quiet_compiler():
        from forecast.model import build_model as build

        return build(priors, evidence)


#: NUTS programs of this process by model structure and settings (see _program_key), the most
#: recently used last; at most _COMPILED_MAX are kept (each holds XLA executables).
_COMPILED: OrderedDict[str, Any] = OrderedDict()
_COMPILED_MAX = 4

#: Evidence fields that are data values of the model, not its structure.
_EVIDENCE_DATA_FIELDS = (
    "coding_category",
    "coding_weight",
    "rating_loglik",
    "rating_weight",
    "rating_items",
    "obs_value",
    "obs_weight",
    "coding_labels",
    "coding_items",
    "obs_labels",
)


def _structure(priors: PriorArrays, evidence: EvidenceArrays | None) -> list:
    """What shapes the model's graph: everything but the data containers' values."""
    p = {f.name: getattr(priors, f.name) for f in dataclasses.fields(priors)}
    p.pop("h"), p.pop("as_of_index")
    if evidence is None:
        return [p, None]
    e = {
        f.name: getattr(evidence, f.name)
        for f in dataclasses.fields(evidence)
        if f.name not in _EVIDENCE_DATA_FIELDS
    }
    # Codings enter the graph through the cells they code (their weights are data), so a new
    # item in an already coded (driver, quarter) cell, or a new rated item, keeps the structure.
    cell_driver, cell_quarter, _ = coding_cells(evidence)
    e["coding_driver"], e["coding_quarter"] = cell_driver, cell_quarter
    e["n_codings"], e["n_rated"] = bool(evidence.n_codings), bool(evidence.n_rated)
    return [p, e]


#: Modules whose code shapes the NUTS programs: the model's graph and the programs themselves.
_PROGRAM_SOURCES = ("model.py", "model_data.py", "likelihood.py", "dims.py", "jax_nuts.py")


@functools.cache
def _code_identity() -> tuple[list[str], str]:
    """Library versions and a digest of the code that make the programs (read once per process).

    A saved program serves only that code and those versions.
    """
    import hashlib
    import importlib.metadata as md

    h = hashlib.sha256()
    for name in _PROGRAM_SOURCES:
        h.update(name.encode())
        h.update((Path(__file__).parent / name).read_bytes())
    versions = [md.version(n) for n in ("jax", "jaxlib", "numpyro", "pymc", "pytensor")]
    return versions, h.hexdigest()


def _program_key(priors: PriorArrays, evidence: EvidenceArrays | None, settings: Any) -> str:
    """What the NUTS programs depend on: model structure, settings, devices, code and versions."""
    from forecast import jax_nuts

    versions, source = _code_identity()
    return jax_nuts.structure_key(
        _structure(priors, evidence),
        dataclasses.asdict(settings),
        settings.devices,
        versions,
        source,
    )


def _programs(
    priors: PriorArrays,
    evidence: EvidenceArrays | None,
    data: Mapping[str, np.ndarray],
    settings: Any,
) -> Any:
    """The NUTS programs for this structure: from this process, from disk, or traced now."""
    from forecast import jax_nuts

    key = _program_key(priors, evidence, settings)
    if key not in _COMPILED:
        folder = cache_dir() / "programs" / key[:32]
        programs = jax_nuts.NutsPrograms.load(folder)
        if programs is None:
            model = build_model(priors, evidence)
            with quiet_compiler():
                jm = jax_nuts.JaxModel.from_model(model)
            programs = jax_nuts.NutsPrograms.trace(jm, settings, data)
            programs.save(folder)
        _COMPILED[key] = programs
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return _COMPILED[key]


def nuts_programs(
    priors: PriorArrays,
    evidence: EvidenceArrays | None,
    *,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
) -> tuple[Any, dict[str, np.ndarray]]:
    """The default sampler's NUTS programs for these inputs and settings, and the data values.

    From this process, from the cache on disk, or traced now (see :mod:`forecast.jax_nuts`).
    """
    _configure_jax()
    from forecast import jax_nuts

    settings = jax_nuts.NutsSettings(
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        max_tree_depth=_MAX_TREE_DEPTH,
        chunk=min(jax_nuts.CHUNK, tune + draws),
    )
    data = data_values(priors, evidence)
    return _programs(priors, evidence, data, settings), data


def _sample_numpyro(
    priors: PriorArrays,
    evidence: EvidenceArrays | None,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> tuple[xr.Dataset, xr.Dataset]:
    from forecast import jax_nuts

    programs, data = nuts_programs(
        priors, evidence, draws=draws, tune=tune, chains=chains, target_accept=target_accept
    )
    init = jax_nuts.initial_values(programs, seed)
    with _progress(progressbar, "Sampling") as on_progress:
        outputs, stats = programs.run(data, init, seed, draws, on_progress=on_progress)
    return jax_nuts.to_datasets(
        programs.output_dims, model_coords(priors, evidence), outputs, stats
    )


@contextlib.contextmanager
def _progress(show: bool, label: str) -> Iterator[Any]:
    """A rich progress bar fed by (done, total) calls, or None when not shown."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _sample_pymc(
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> az.InferenceData:
    import pymc as pm

    # Forking a process in which JAX already runs threads is unsafe (and warns): use a forkserver.
    mp_ctx = "forkserver" if "jax" in sys.modules else None
    with quiet_compiler():
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            mp_ctx=mp_ctx,
            target_accept=target_accept,
            random_seed=seed,
            model=model,
            progressbar=progressbar,
            compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": False},
        )


def _sample_nutpie(
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> az.InferenceData:
    _configure_jax()
    import arviz as az
    import nutpie

    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        target_accept=target_accept,
        progress_bar=progressbar,
        save_warmup=False,
    )
    # Keep the groups every backend shares; nutpie adds unconstrained draws and warm-up stats.
    return az.InferenceData(posterior=idata.posterior, sample_stats=idata.sample_stats)


_SAMPLERS = {"pymc": _sample_pymc, "nutpie": _sample_nutpie}


def _up_to_as_of(ds: xr.Dataset, priors: PriorArrays) -> xr.Dataset:
    """Drop the quarters after ``as_of`` (a backtest's grid runs on to the project's as_of).

    The path and the innovations after ``as_of`` are draws from the prior that nothing of the
    as-of forecast depends on; only the as-of model's variables are kept (and gated).
    """
    last = priors.as_of_position
    if last == priors.n_quarters - 1:
        return ds
    if QUARTER in ds.dims:
        ds = ds.isel({QUARTER: slice(0, last + 1)})
    known = set(priors.quarters[: last + 1])
    for dim in (INNOVATION_NORMAL, INNOVATION_STUDENT):
        if dim in ds.dims:
            labels = [str(v) for v in ds[dim].values]
            keep = [i for i, label in enumerate(labels) if label.rsplit(":", 1)[-1] in known]
            ds = ds.isel({dim: keep})
    return ds


def sample_prior(
    priors: PriorArrays, evidence: EvidenceArrays | None, draws: int, seed: int
) -> xr.Dataset:
    """Forward-sample the prior model in numpy: the posterior's variables, with q = p.

    The same draws as the PyMC model's prior (MODEL.md §6.1 compares the two), without
    compiling a forward sampler at every run.
    """
    from forecast.likelihood import eta_from, log_softmax
    from forecast.prior_forecast import simulate_prior

    sim = simulate_prior(priors, draws, seed=seed)
    x, mu = sim["x"], sim["mu"]
    gamma = sim["gamma"] if len(priors.inter_scenario) else None
    now = np.moveaxis(x, -1, -2)  # (draw, quarter, driver)
    variables: dict[str, tuple] = {
        "x": ((DRIVER, QUARTER), x),
        "x_H": ((DRIVER,), x[:, :, priors.as_of_position] + mu * priors.h),
        "mu": ((DRIVER,), mu),
        "sigma": ((DRIVER,), sim["sigma"]),
        "alpha": ((SCENARIO,), sim["alpha"]),
        "beta": ((SCENARIO, DRIVER), sim["beta"]),
        "log_p": ((SCENARIO,), sim["log_p"]),
        "p": ((SCENARIO,), sim["p"]),
        "q": ((SCENARIO,), sim["p"]),
        "p_now": (
            (QUARTER, SCENARIO),
            np.exp(log_softmax(eta_from(now, sim["alpha"], sim["beta"], gamma, priors))),
        ),
    }
    if gamma is not None:
        variables["gamma"] = ((INTERACTION,), gamma)
    if evidence is not None and evidence.n_obs:
        rng = np.random.default_rng([seed, 2])
        n_series = (draws, len(evidence.series))
        variables["indicator_intercept"] = (
            (SERIES,),
            evidence.intercept_mu + evidence.intercept_sigma * rng.standard_normal(n_series),
        )
        for name, log_mu, log_sd in (
            ("indicator_slope", evidence.slope_log_mu, evidence.slope_log_sd),
            ("indicator_noise", evidence.noise_log_mu, evidence.noise_log_sd),
        ):
            variables[name] = ((SERIES,), np.exp(log_mu + log_sd * rng.standard_normal(n_series)))
    coords = {
        "chain": [0],
        "draw": np.arange(draws),
        SCENARIO: list(priors.scenarios),
        DRIVER: list(priors.drivers),
        QUARTER: list(priors.quarters),
        INTERACTION: priors.interaction_labels,
    }
    if evidence is not None and evidence.n_obs:
        coords[SERIES] = list(evidence.series)
    data = {
        name: (("chain", "draw", *dims), value[None]) for name, (dims, value) in variables.items()
    }
    used = {d for dims, _ in variables.values() for d in dims} | {"chain", "draw"}
    return xr.Dataset(data, coords={k: v for k, v in coords.items() if k in used})


def log_likelihood(
    posterior: xr.Dataset, priors: PriorArrays, evidence: EvidenceArrays | None
) -> xr.Dataset:
    """Build the ``log_likelihood`` group: one variable (``loglik``), one entry per term."""
    labels = evidence.log_likelihood_labels if evidence is not None else []
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    if labels:
        # One block of draws at a time: the temporaries of a block stay small when there are
        # tens of thousands of codings (the result itself is chains x draws x terms).
        values = np.empty((*shape, len(labels)))
        draws = {v: posterior[v].values for v in _LOGLIK_VARS if v in posterior}
        step = max(1, _LOGLIK_BLOCK // max(len(labels), 1))
        for c in range(shape[0]):
            for start in range(0, shape[1], step):
                block = {k: v[c, start : start + step] for k, v in draws.items()}
                values[c, start : start + step] = pointwise_loglik(block, priors, evidence)
    else:
        values = np.zeros((*shape, 0))
    da = xr.DataArray(
        values,
        dims=("chain", "draw", EVIDENCE),
        coords={"chain": posterior["chain"], "draw": posterior["draw"], EVIDENCE: labels},
    )
    return xr.Dataset({LOG_LIKELIHOOD_VAR: da})


def _versions(backend: str) -> str:
    import importlib.metadata as md

    names = ["pymc", "pytensor", "arviz", "numpy"]
    names += {"numpyro": ["numpyro", "jax"], "nutpie": ["nutpie", "jax"]}.get(backend, [])
    return "; ".join(f"{n}={md.version(n)}" for n in names)


@dataclasses.dataclass
class FitGroups:
    """One fit's groups as xarray Datasets, named as ArviZ names them (held without ArviZ)."""

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    log_likelihood: xr.Dataset
    prior: xr.Dataset | None = None

    def groups(self) -> list[str]:
        """Names of the groups present, in ArviZ's order for a fit."""
        names = ("posterior", "sample_stats", "log_likelihood", "prior")
        return [name for name in names if getattr(self, name) is not None]

    def to_inference_data(self) -> az.InferenceData:
        """The same groups as an ArviZ InferenceData (imports ArviZ)."""
        import arviz as az

        return az.InferenceData(**{name: getattr(self, name) for name in self.groups()})


def sample_groups(
    priors: PriorArrays,
    evidence: EvidenceArrays | None,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.9,
    seed: int = 20200401,
    backend: Backend = "numpyro",
    progressbar: bool = False,
    prior_draws: int = 1000,
    attrs: Mapping[str, str | int | float] | None = None,
) -> FitGroups:
    """Fit the model to the evidence and return posterior, prior and pointwise log-likelihood.

    Parameters
    ----------
    priors, evidence
        The model's inputs; ``evidence=None`` samples the prior model with NUTS.
    draws, tune, chains, target_accept
        NUTS settings (retained draws per chain, warm-up iterations, chains, target acceptance).
    seed : int
        Seeds the sampler and the prior draws: the same seed and inputs give identical draws.
    backend : {"numpyro", "pymc", "nutpie"}
        Which NUTS implementation runs.
    progressbar : bool
        Show the sampler's progress bar.
    prior_draws : int
        Forward draws of the prior for the ``prior`` group (0 leaves the group out).
    attrs : mapping, optional
        Extra attributes for ``idata.posterior`` (e.g. input hashes).

    Returns
    -------
    FitGroups
        Groups ``posterior`` (every deterministic of :func:`forecast.model.build_model`),
        ``prior``, ``log_likelihood`` (variable ``loglik``, dim ``evidence``) and
        ``sample_stats``. ``posterior.attrs`` records the backend, settings, seed, versions and
        the sampling wall time.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    use = evidence if has_evidence(evidence) else None
    start = time.perf_counter()
    if backend == "numpyro":
        posterior, stats = _sample_numpyro(
            priors, use, draws, tune, chains, target_accept, seed, progressbar
        )
    else:
        model = build_model(priors, use)
        fit = _SAMPLERS[backend](model, draws, tune, chains, target_accept, seed, progressbar)
        posterior, stats = fit.posterior, fit.sample_stats
    elapsed = time.perf_counter() - start
    groups = {
        "posterior": _up_to_as_of(posterior, priors),
        "sample_stats": stats,
        "log_likelihood": log_likelihood(posterior, priors, evidence),
    }
    posterior = groups["posterior"]
    if prior_draws:
        groups["prior"] = _up_to_as_of(sample_prior(priors, evidence, prior_draws, seed), priors)
    out = FitGroups(**groups)
    settings: dict[str, str | int | float] = {
        "backend": backend,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "seed": seed,
        "n_nodes": int(priors.nodes.shape[0]),
        "sampling_time_s": round(elapsed, 3),
        "versions": _versions(backend),
    }
    out.posterior.attrs.update({**settings, **dict(attrs or {})})
    return out


def sample(
    priors: PriorArrays, evidence: EvidenceArrays | None, **options: Any
) -> az.InferenceData:
    """:func:`sample_groups` as an ArviZ InferenceData (same arguments)."""
    return sample_groups(priors, evidence, **options).to_inference_data()
