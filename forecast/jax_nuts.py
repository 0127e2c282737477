"""NUTS on the PyMC model's JAX log density, with the data as arguments (the default sampler).

The model is written once, in PyMC (:mod:`forecast.model`). PyTensor translates its log density
and its deterministics to JAX; numpyro's NUTS kernel (``numpyro.infer.hmc.hmc``) samples it. Unlike
``pymc.sampling.jax.sample_numpyro_nuts``, which bakes the data into the program as constants,
the model's data containers (:data:`forecast.model_data.DATA_NAMES`) stay arguments of the
compiled programs. So fits that differ only in data values — the quarters of a backtest, the
evidence sets of a calibration — share one set of programs.

Three programs make a fit: ``init`` (the chains' starting states), ``advance`` (every chain
:data:`CHUNK` iterations on, the progress bar's step) and ``outputs`` (the deterministics of a
chunk of draws). NUTS moves one flat vector of all the model's unconstrained values. The chains
are split over the CPU devices with ``shard_map``, one program per device, so each chain builds
its own trees. The programs are exported with ``jax.export`` and kept on disk
(:meth:`NutsPrograms.save`): a later process loads them instead of rebuilding the PyMC graph,
rewriting it and tracing NUTS (seconds), and JAX's persistent compilation cache serves their
machine code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

#: Iterations per compiled chunk (the progress bar's step).
CHUNK = 100

#: Sample statistics kept, as named by ArviZ.
STAT_NAMES = ("diverging", "energy", "n_steps", "tree_depth", "acceptance_rate", "lp", "step_size")

#: Files of a saved set of programs (see NutsPrograms.save).
_PROGRAM_FILES = ("init", "advance", "outputs")


@dataclass
class JaxModel:
    """A PyMC model's log density and outputs as JAX functions of (values, data)."""

    value_names: list[str]
    value_shapes: list[tuple[int, ...]]
    data_names: list[str]
    output_names: list[str]
    output_dims: dict[str, tuple[str, ...]]
    logp: Callable[..., Any]
    outputs: Callable[..., Any]

    @classmethod
    def from_model(cls, model: Any) -> JaxModel:
        """Translate the PyMC ``model``; its data containers become arguments (in model order)."""
        from pymc.util import get_default_varnames
        from pytensor.graph.replace import clone_replace

        data = [v for v in model.data_vars]
        symbols = [v.type() for v in data]
        for sym, var in zip(symbols, data, strict=True):
            sym.name = var.name
        replace = dict(zip(data, symbols, strict=True))
        wanted = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
        graphs = clone_replace([model.logp(), *wanted], replace=replace)
        inputs = [*model.value_vars, *symbols]
        logp_fn = _jaxify(inputs, [graphs[0]])
        out_fn = _jaxify(inputs, graphs[1:])
        point = model.initial_point()
        return cls(
            value_names=[v.name for v in model.value_vars],
            value_shapes=[tuple(np.shape(point[v.name])) for v in model.value_vars],
            data_names=[v.name for v in data],
            output_names=[v.name for v in wanted],
            output_dims={v.name: tuple(model.named_vars_to_dims.get(v.name, ())) for v in wanted},
            logp=lambda values, data_args: logp_fn(*values, *data_args)[0],
            outputs=lambda values, data_args: out_fn(*values, *data_args),
        )


#: PyTensor rewrites left out when translating to JAX. ``local_log1p_plusminus_exp`` turns the
#: model's ``log1p(exp(-|x|))`` (an argument <= 0, so already stable) into PyTensor's softplus,
#: whose JAX form evaluates ``exp(x)``, ``exp(-x)`` and ``log1p`` for every element to pick one by
#: range: one exponential in three wasted on each (cell, cutpoint) of the driver codings, 8% of
#: the gradient at 2,000 items, for the same values to the last bit.
_EXCLUDED_REWRITES = ("local_log1p_plusminus_exp",)


def _jaxify(inputs: list, outputs: list) -> Callable[..., Any]:
    """The PyTensor graph from ``inputs`` to ``outputs``, rewritten and translated to JAX.

    What ``pymc.sampling.jax.get_jaxified_graph`` does (shared variables, such as the model's
    dimension lengths, become constants), less :data:`_EXCLUDED_REWRITES`.
    """
    from pymc.sampling.jax import _replace_shared_variables
    from pytensor.compile.mode import JAX
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.jax.dispatch import jax_funcify

    fgraph = FunctionGraph(inputs=inputs, outputs=_replace_shared_variables(outputs), clone=True)
    JAX.excluding(*_EXCLUDED_REWRITES).optimizer.rewrite(fgraph)
    return jax_funcify(fgraph)


@dataclass(frozen=True)
class NutsSettings:
    """What shapes the NUTS programs besides the model: they are traced for one of these."""

    tune: int
    chains: int
    target_accept: float
    max_tree_depth: int
    chunk: int

    @property
    def devices(self) -> int:
        """CPU devices the chains are split over: the largest divisor of chains available."""
        available = jax.local_device_count()
        return max(d for d in range(1, self.chains + 1) if self.chains % d == 0 and d <= available)

    def mesh(self) -> Mesh:
        """Those devices as a one-axis mesh, axis ``chain``."""
        return Mesh(np.array(jax.devices()[: self.devices]), ("chain",))


class NutsPrograms:
    """The exported init, advance and outputs programs of one model shape and settings."""

    def __init__(self, meta: dict[str, Any], exported: dict[str, Any]):
        self.meta = meta
        self.settings = NutsSettings(**meta["settings"])
        self.value_shapes = [tuple(s) for s in meta["value_shapes"]]
        self.data_names: list[str] = list(meta["data_names"])
        self.output_names: list[str] = list(meta["output_names"])
        self.output_dims = {k: tuple(v) for k, v in meta["output_dims"].items()}
        self.exported = exported
        mesh = self.settings.mesh()
        self._per_chain = NamedSharding(mesh, P("chain"))
        self._shared = NamedSharding(mesh, P())
        self._calls = {name: jax.jit(exp.call) for name, exp in exported.items()}

    @classmethod
    def trace(
        cls, jm: JaxModel, settings: NutsSettings, data: Mapping[str, np.ndarray]
    ) -> NutsPrograms:
        """Trace and export the programs for ``jm`` (``data`` gives the data shapes only)."""
        from numpyro.infer.hmc import hmc

        s = settings
        mesh = s.mesh()
        per_chain, shared = NamedSharding(mesh, P("chain")), NamedSharding(mesh, P())

        # NUTS moves one flat vector: its tree arithmetic is then one operation per step, not
        # one per model variable (the programs are dominated by such small operations).
        sizes = [math.prod(shape) for shape in jm.value_shapes]
        bounds = np.cumsum(sizes)[:-1].tolist()

        def unflatten(flat):
            parts = jnp.split(flat, bounds, axis=-1)
            lead = flat.shape[:-1]
            shapes = jm.value_shapes
            return [p.reshape(*lead, *shape) for p, shape in zip(parts, shapes, strict=True)]

        def potential_gen(*data_args):
            return lambda flat: -jm.logp(unflatten(flat), data_args)

        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
        state_tree: list = []

        def init_one(values, key, data_args):
            flat = jnp.concatenate([jnp.ravel(v) for v in values])
            state = init_kernel(
                flat,
                num_warmup=s.tune,
                target_accept_prob=s.target_accept,
                max_tree_depth=s.max_tree_depth,
                model_args=data_args,
                rng_key=key,
            )
            leaves, tree = jax.tree_util.tree_flatten(state)
            state_tree[:] = [tree]
            return tuple(leaves)

        def advance_one(leaves, data_args):
            def body(state, _):
                state = sample_kernel(state, model_args=data_args)
                stats = (
                    state.diverging,
                    state.energy,
                    state.num_steps,
                    state.accept_prob,
                    state.potential_energy,
                )
                return state, (state.z, stats, state.adapt_state.step_size)

            state = jax.tree_util.tree_unflatten(state_tree[0], list(leaves))
            state, out = jax.lax.scan(body, state, None, length=s.chunk)
            return tuple(jax.tree_util.tree_leaves(state)), out

        def outputs_one(z, data_args):
            return tuple(jax.vmap(jm.outputs, in_axes=(0, None))(unflatten(z), data_args))

        def program(fn, chain_args):
            in_specs = tuple(P("chain") if c else P() for c in chain_args)
            mapped = jax.vmap(fn, in_axes=tuple(0 if c else None for c in chain_args))
            if s.devices > 1:
                mapped = jax.shard_map(
                    mapped, mesh=mesh, in_specs=in_specs, out_specs=P("chain"), check_vma=False
                )
            return jax.jit(mapped)

        def spec(shape, dtype, chain):
            return jax.ShapeDtypeStruct(shape, dtype, sharding=per_chain if chain else shared)

        values = [spec((s.chains, *shape), jnp.float64, True) for shape in jm.value_shapes]
        keys = jax.random.split(jax.random.PRNGKey(0), s.chains)
        data_specs = tuple(
            spec(np.shape(data[n]), jnp.asarray(data[n]).dtype, False) for n in jm.data_names
        )
        export = jax.export.export
        init = export(program(init_one, (True, True, False)))(
            values, spec(keys.shape, keys.dtype, True), data_specs
        )
        state = tuple(spec(a.shape, a.dtype, True) for a in init.out_avals)
        advance = export(program(advance_one, (True, False)))(state, data_specs)
        chunk_values = spec((s.chains, s.chunk, sum(sizes)), jnp.float64, True)
        outputs = export(program(outputs_one, (True, False)))(chunk_values, data_specs)
        meta = {
            "settings": dataclasses.asdict(s),
            "value_shapes": [list(v) for v in jm.value_shapes],
            "data_names": jm.data_names,
            "output_names": jm.output_names,
            "output_dims": {k: list(v) for k, v in jm.output_dims.items()},
        }
        return cls(meta, {"init": init, "advance": advance, "outputs": outputs})

    def save(self, folder: Path) -> None:
        """Write the programs to ``folder`` (created whole, by renaming a finished temporary)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            for name in _PROGRAM_FILES:
                (tmp / f"{name}.bin").write_bytes(self.exported[name].serialize())
            (tmp / "meta.json").write_text(json.dumps(self.meta), encoding="utf-8")
            os.replace(tmp, folder)
        except OSError:
            # Another process saved the same programs first, or the cache is not writable:
            # the programs in memory serve this process either way.
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> NutsPrograms | None:
        """The programs saved in ``folder``, or None when absent or unreadable."""
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            exported = {
                name: jax.export.deserialize(bytearray((folder / f"{name}.bin").read_bytes()))
                for name in _PROGRAM_FILES
            }
            return cls(meta, exported)
        except FileNotFoundError:
            return None
        except Exception:  # a damaged cache entry of any kind is rebuilt
            # Remove it so that the programs traced next can take its place.
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def chunks(
        self,
        data: Mapping[str, np.ndarray],
        init_values: list[np.ndarray],
        seed: int,
        iterations: int,
    ) -> Iterator[tuple[int, Any, tuple, Any]]:
        """Run every chain ``iterations`` iterations (warm-up first), one chunk at a time.

        Yields, per chunk: its first iteration, the positions (chain, iteration, flat value),
        the sample statistics (diverging, energy, n_steps, accept_prob, potential_energy), each
        (chain, iteration), and the step sizes (chain, iteration), as JAX arrays. The last chunk
        may run past ``iterations``.
        """
        return self._chunks(self._device_data(data), init_values, seed, iterations)

    def _device_data(self, data: Mapping[str, np.ndarray]) -> tuple:
        missing = set(self.data_names) - set(data)
        if missing:
            raise ValueError(f"missing data values: {sorted(missing)}")
        return tuple(jax.device_put(jnp.asarray(data[n]), self._shared) for n in self.data_names)

    def _chunks(
        self, data_args: tuple, init_values: list[np.ndarray], seed: int, iterations: int
    ) -> Iterator[tuple[int, Any, tuple, Any]]:
        s = self.settings
        keys = jax.device_put(jax.random.split(jax.random.PRNGKey(seed), s.chains), self._per_chain)
        values = [jax.device_put(jnp.asarray(v), self._per_chain) for v in init_values]
        state = self._calls["init"](values, keys, data_args)
        for start in range(0, iterations, s.chunk):
            state, (z, stats, step) = self._calls["advance"](state, data_args)
            yield start, z, stats, step

    def run(
        self,
        data: Mapping[str, np.ndarray],
        init_values: list[np.ndarray],
        seed: int,
        draws: int,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Sample; return (outputs by name, sample stats by name), each with (chain, draw) first.

        Every chain runs ``tune + draws`` iterations in chunks; the last chunk may run past the
        end, and its extra draws are dropped.
        """
        s = self.settings
        data_args = self._device_data(data)
        total = s.tune + draws
        kept: list[tuple] = []
        for start, z, stats, step in self._chunks(data_args, init_values, seed, total):
            end = start + s.chunk
            if end > s.tune:
                first = max(s.tune - start, 0)
                outputs = self._calls["outputs"](z, data_args)
                kept.append((first, min(end, total) - start, outputs, stats, step))
            if on_progress is not None:
                jax.block_until_ready(step)
                on_progress(min(end, total), total)

        def gather(pick: Callable[[tuple], Any]) -> np.ndarray:
            return np.concatenate([np.asarray(pick(k))[:, k[0] : k[1]] for k in kept], axis=1)

        out = {name: gather(lambda k, i=i: k[2][i]) for i, name in enumerate(self.output_names)}
        diverging, energy, n_steps, accept, potential = (
            gather(lambda k, i=i: k[3][i]) for i in range(5)
        )
        stats = {
            "diverging": diverging.astype(bool),
            "energy": energy,
            "n_steps": n_steps.astype(int),
            "tree_depth": np.floor(np.log2(np.maximum(n_steps, 1))).astype(int) + 1,
            "acceptance_rate": accept,
            "lp": -potential,
            "step_size": gather(lambda k: k[4]),
        }
        return out, stats


def initial_values(programs: NutsPrograms, seed: int) -> list[np.ndarray]:
    """Starting points per chain: uniform(-1, 1) on the unconstrained scale, as Stan does."""
    rng = np.random.default_rng([seed, 1])
    chains = programs.settings.chains
    return [rng.uniform(-1.0, 1.0, size=(chains, *shape)) for shape in programs.value_shapes]


def to_datasets(
    output_dims: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, list],
    outputs: Mapping[str, np.ndarray],
    stats: Mapping[str, np.ndarray],
) -> tuple[xr.Dataset, xr.Dataset]:
    """Posterior and sample_stats datasets with the model's dims and coords."""
    chains, draws = next(iter(stats.values())).shape[:2]
    base = {"chain": np.arange(chains), "draw": np.arange(draws)}
    variables = {}
    for name, value in outputs.items():
        dims = tuple(output_dims.get(name, ()))
        if len(dims) != value.ndim - 2:
            dims = tuple(f"{name}_dim_{i}" for i in range(value.ndim - 2))
        variables[name] = (("chain", "draw", *dims), value)
    used = {d for name in outputs for d in output_dims.get(name, ())}
    posterior = xr.Dataset(
        variables, coords={**base, **{d: coords[d] for d in used if d in coords}}
    )
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
