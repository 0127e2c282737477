"""Run the sampler and assemble the InferenceData of one fit: the only caller of ``pm.sample``.

Three NUTS backends sample the same model: ``numpyro`` (JAX; the default, see docs/performance.md),
``nutpie`` (Rust, JAX-compiled gradient) and ``pymc`` (PyMC's own sampler on the C backend).
Nothing is written except the compilation caches of JAX and PyTensor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

#: JAX fixes its number of CPU devices when it is first imported, so the flag that lets numpyro run
#: chains in parallel must be set before anything imports jax (pymc imports it lazily).
JAX_DEVICES = max(4, os.cpu_count() or 1)
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={JAX_DEVICES}"
    ).strip()

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
import xarray as xr  # noqa: E402

from forecast.dims import EVIDENCE, LOG_LIKELIHOOD_VAR  # noqa: E402
from forecast.evidence import EvidenceArrays  # noqa: E402
from forecast.likelihood import pointwise_loglik  # noqa: E402
from forecast.model import build_model, has_evidence  # noqa: E402
from forecast.priors import PriorArrays  # noqa: E402

Backend = Literal["numpyro", "pymc", "nutpie"]
BACKENDS: tuple[str, ...] = ("numpyro", "pymc", "nutpie")

#: Draws that feed the log-likelihood: the posterior variables pointwise_loglik reads.
_LOGLIK_VARS = ("x", "log_p", "indicator_intercept", "indicator_slope", "indicator_noise")


def cache_dir() -> Path:
    """Folder of the JAX compilation cache: ``$FORECAST_CACHE_DIR`` or ``~/.cache/forecast``."""
    base = os.environ.get("FORECAST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "forecast"
    )
    return Path(base)


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
    the warning would only alarm users at every compile.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        yield


# PyTensor looks for BLAS the first time it compiles and warns when a pip install has none; the
# lookup is cached, so resolve it once here, quietly (see quiet_compiler).
with quiet_compiler():
    _ = pytensor.config.blas__ldflags


def _sample_numpyro(
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> az.InferenceData:
    _configure_jax()
    import jax
    from pymc.sampling.jax import sample_numpyro_nuts

    # pmap needs one device per chain; without enough devices numpyro would warn and run the
    # chains one after another, so fall back to running them vectorised on one device instead.
    method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    return sample_numpyro_nuts(
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        random_seed=seed,
        model=model,
        progressbar=progressbar,
        chain_method=method,
        idata_kwargs={"log_likelihood": False},
        compute_convergence_checks=False,
    )


def _sample_pymc(
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> az.InferenceData:
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


_SAMPLERS = {"numpyro": _sample_numpyro, "pymc": _sample_pymc, "nutpie": _sample_nutpie}


def sample_prior(
    priors: PriorArrays, evidence: EvidenceArrays | None, draws: int, seed: int
) -> xr.Dataset:
    """Forward-sample the prior model; same variables as the posterior, and q = p."""
    model = build_model(priors, evidence, likelihood=False)
    # PyMC logs the sampled variable names at INFO; a CLI run should not print them.
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with quiet_compiler():
            return pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed).prior
    finally:
        logger.setLevel(level)


def log_likelihood(
    posterior: xr.Dataset, priors: PriorArrays, evidence: EvidenceArrays | None
) -> xr.Dataset:
    """Build the ``log_likelihood`` group: one variable (``loglik``), one entry per term."""
    labels = evidence.log_likelihood_labels if evidence is not None else []
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    if labels:
        draws = {v: posterior[v].values for v in _LOGLIK_VARS if v in posterior}
        values = pointwise_loglik(draws, priors, evidence)
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


def sample(
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
) -> az.InferenceData:
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
    az.InferenceData
        Groups ``posterior`` (every deterministic of :func:`forecast.model.build_model`),
        ``prior``, ``log_likelihood`` (variable ``loglik``, dim ``evidence``) and
        ``sample_stats``. ``posterior.attrs`` records the backend, settings, seed, versions and
        the sampling wall time.
    """
    if backend not in _SAMPLERS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    model = build_model(priors, evidence if has_evidence(evidence) else None)
    start = time.perf_counter()
    idata = _SAMPLERS[backend](model, draws, tune, chains, target_accept, seed, progressbar)
    elapsed = time.perf_counter() - start
    posterior = idata.posterior
    groups = {
        "posterior": posterior,
        "sample_stats": idata.sample_stats,
        "log_likelihood": log_likelihood(posterior, priors, evidence),
    }
    if prior_draws:
        groups["prior"] = sample_prior(priors, evidence, prior_draws, seed)
    out = az.InferenceData(**groups)
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
