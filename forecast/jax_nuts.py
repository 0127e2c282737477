"""NUTS on the PyMC model's JAX log density, with the data as arguments (the default sampler).

The model is written once, in PyMC (:mod:`forecast.model`). PyTensor translates its log density
and its deterministics to JAX; numpyro's NUTS kernel (``numpyro.infer.hmc.hmc``) samples it. Unlike
``pymc.sampling.jax.sample_numpyro_nuts``, which bakes the data into the program as constants,
the model's data containers (:data:`forecast.model.DATA_NAMES`) stay arguments of the compiled
program. So fits that differ only in data values — the quarters of a backtest, the evidence sets of
a calibration — trace and compile once per process, and JAX's persistent cache serves the
compiled code to the next process.

The chains run in chunks of :data:`CHUNK` iterations so that a progress bar can follow them; each
chunk is the same compiled program.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import xarray as xr
from numpyro.infer.hmc import hmc
from pymc.sampling.jax import get_jaxified_graph
from pymc.util import get_default_varnames
from pytensor.graph.replace import clone_replace

#: Iterations per compiled chunk (the progress bar's step).
CHUNK = 100

#: Sample statistics kept, as named by ArviZ.
STAT_NAMES = ("diverging", "energy", "n_steps", "tree_depth", "acceptance_rate", "lp", "step_size")


@dataclass
class JaxModel:
    """A PyMC model's log density and outputs as JAX functions of (values, data)."""

    value_names: list[str]
    value_shapes: list[tuple[int, ...]]
    data_names: list[str]
    output_names: list[str]
    output_dims: dict[str, tuple[str, ...]]
    coords: dict[str, list]
    logp: Callable[..., Any]
    outputs: Callable[..., Any]

    @classmethod
    def from_model(cls, model: pm.Model) -> JaxModel:
        """Translate ``model``; its data containers become arguments (in model order)."""
        data = [v for v in model.data_vars]
        symbols = [v.type() for v in data]
        for sym, var in zip(symbols, data, strict=True):
            sym.name = var.name
        replace = dict(zip(data, symbols, strict=True))
        wanted = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
        graphs = clone_replace([model.logp(), *wanted], replace=replace)
        inputs = [*model.value_vars, *symbols]
        logp_fn = get_jaxified_graph(inputs=inputs, outputs=[graphs[0]])
        out_fn = get_jaxified_graph(inputs=inputs, outputs=graphs[1:])
        point = model.initial_point()
        return cls(
            value_names=[v.name for v in model.value_vars],
            value_shapes=[tuple(np.shape(point[v.name])) for v in model.value_vars],
            data_names=[v.name for v in data],
            output_names=[v.name for v in wanted],
            output_dims={v.name: tuple(model.named_vars_to_dims.get(v.name, ())) for v in wanted},
            coords={k: list(v) for k, v in model.coords.items() if v is not None},
            logp=lambda values, data_args: logp_fn(*values, *data_args)[0],
            outputs=lambda values, data_args: out_fn(*values, *data_args),
        )

    def data_args(self, values: Mapping[str, np.ndarray]) -> tuple[jax.Array, ...]:
        """The data arguments, in order, from a name → value mapping."""
        missing = set(self.data_names) - set(values)
        if missing:
            raise ValueError(f"missing data values: {sorted(missing)}")
        return tuple(jnp.asarray(values[name]) for name in self.data_names)


class CompiledNuts:
    """NUTS for one model shape and one set of sampler settings, traced and compiled once."""

    def __init__(
        self, jm: JaxModel, *, tune: int, chains: int, target_accept: float, max_tree_depth: int
    ):
        self.jm = jm
        self.tune = tune
        self.chains = chains
        self.parallel = jax.local_device_count() >= chains and chains > 1

        def potential_gen(*data_args):
            return lambda values: -jm.logp(values, data_args)

        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")

        def init_one(values, key, data_args):
            return init_kernel(
                values,
                num_warmup=tune,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                model_args=data_args,
                rng_key=key,
            )

        def advance_one(state, data_args, length):
            def body(s, _):
                s = sample_kernel(s, model_args=data_args)
                stats = (s.diverging, s.energy, s.num_steps, s.accept_prob, s.potential_energy)
                return s, (s.z, stats, s.adapt_state.step_size)

            return jax.lax.scan(body, state, None, length=length)

        self._init = self._per_chain(init_one, (0, 0, None))
        self._advance: dict[int, Callable] = {}
        self._advance_one = advance_one
        self._outputs = jax.jit(
            jax.vmap(jax.vmap(jm.outputs, in_axes=(0, None)), in_axes=(0, None))
        )

    def _per_chain(self, fn: Callable, in_axes: tuple) -> Callable:
        if self.parallel:
            return jax.pmap(fn, in_axes=in_axes)
        return jax.jit(jax.vmap(fn, in_axes=in_axes))

    def advance(self, length: int) -> Callable:
        """The compiled program that moves every chain ``length`` iterations on."""
        if length not in self._advance:
            fn = partial(self._advance_one, length=length)
            self._advance[length] = self._per_chain(fn, (0, None))
        return self._advance[length]

    def run(
        self,
        data: Mapping[str, np.ndarray],
        init_values: list[np.ndarray],
        seed: int,
        draws: int,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Sample; return (outputs by name, sample stats by name), each with (chain, draw) first."""
        data_args = self.jm.data_args(data)
        keys = jax.random.split(jax.random.PRNGKey(seed), self.chains)
        state = self._init([jnp.asarray(v) for v in init_values], keys, data_args)
        total, done = self.tune + draws, 0
        kept_z, kept_stats, kept_step = [], [], []
        for phase, n in (("tune", self.tune), ("draw", draws)):
            left = n
            while left:
                length = min(CHUNK, left)
                state, (z, stats, step) = self.advance(length)(state, data_args)
                if phase == "draw":
                    kept_z.append(z)
                    kept_stats.append(stats)
                    kept_step.append(step)
                left -= length
                done += length
                if on_progress is not None:
                    jax.block_until_ready(state.z)
                    on_progress(done, total)
        n_values = len(init_values)
        z = [np.concatenate([np.asarray(c[i]) for c in kept_z], axis=1) for i in range(n_values)]
        outputs = self._outputs([jnp.asarray(v) for v in z], data_args)
        out = {
            name: np.asarray(value)
            for name, value in zip(self.jm.output_names, outputs, strict=True)
        }
        diverging, energy, n_steps, accept, potential = (
            np.concatenate([np.asarray(c[i]) for c in kept_stats], axis=1) for i in range(5)
        )
        stats = {
            "diverging": diverging.astype(bool),
            "energy": energy,
            "n_steps": n_steps.astype(int),
            "tree_depth": np.floor(np.log2(np.maximum(n_steps, 1))).astype(int) + 1,
            "acceptance_rate": accept,
            "lp": -potential,
            "step_size": np.concatenate([np.asarray(c) for c in kept_step], axis=1),
        }
        return out, stats


def initial_values(jm: JaxModel, chains: int, seed: int) -> list[np.ndarray]:
    """Starting points per chain: uniform(-1, 1) on the unconstrained scale, as Stan does."""
    rng = np.random.default_rng([seed, 1])
    return [rng.uniform(-1.0, 1.0, size=(chains, *shape)) for shape in jm.value_shapes]


def to_datasets(
    jm: JaxModel, outputs: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray]
) -> tuple[xr.Dataset, xr.Dataset]:
    """Posterior and sample_stats datasets with the model's dims and coords."""
    chains, draws = next(iter(stats.values())).shape[:2]
    base = {"chain": np.arange(chains), "draw": np.arange(draws)}
    variables = {}
    for name, value in outputs.items():
        dims = jm.output_dims.get(name, ())
        if len(dims) != value.ndim - 2:
            dims = tuple(f"{name}_dim_{i}" for i in range(value.ndim - 2))
        variables[name] = (("chain", "draw", *dims), value)
    used = {d for name in outputs for d in jm.output_dims.get(name, ())}
    coords = {**base, **{d: jm.coords[d] for d in used if d in jm.coords}}
    posterior = xr.Dataset(variables, coords=coords)
    sample_stats = xr.Dataset(
        {name: (("chain", "draw"), value) for name, value in stats.items()}, coords=base
    )
    return posterior, sample_stats


def structure_key(*parts: Any) -> str:
    """A digest of everything that shapes the compiled program (not the data values)."""
    h = hashlib.sha256()

    def feed(obj: Any) -> None:
        if isinstance(obj, np.ndarray):
            h.update(str(obj.dtype).encode())
            h.update(str(obj.shape).encode())
            h.update(np.ascontiguousarray(obj).tobytes())
        elif isinstance(obj, Mapping):
            for k in sorted(obj):
                feed(k)
                feed(obj[k])
        elif isinstance(obj, list | tuple):
            h.update(b"[")
            for item in obj:
                feed(item)
            h.update(b"]")
        elif isinstance(obj, float) and math.isnan(obj):
            h.update(b"nan")
        else:
            h.update(repr(obj).encode())

    for part in parts:
        feed(part)
    return h.hexdigest()
