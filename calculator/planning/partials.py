"""One chunk's evaluation: `evaluate_chunk` runs the vectorised engine over the chunk's grid and keeps only
what the merge needs (a `PartialResult`). A chunk's result depends only on the spec and the chunk, so chunks
run on any worker, in any order, and may be retried at will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from calculator.calibration import Calibration
from calculator.catalog import default_catalog
from calculator.cost import HOURS_PER_MONTH, prefill_share, token_costs
from calculator.engine import Blocker, evaluate
from calculator.frameworks import resolve_framework
from calculator.grid import EntityTables, parallel_tensor_batch
from calculator.planning.chunks import ChunkSpec
from calculator.planning.objectives import (
    CONSTRAINTS,
    OBJECTIVES,
    SIZED_OBJECTIVES,
    constraint_met,
    rank_values,
    row_order,
    score_value,
)
from calculator.planning.pareto import pareto_indices, pareto_order
from calculator.planning.rows import ResultRow, configuration_key
from calculator.planning.sizing import BINDING, DEFAULT_MAX_UTILIZATION, LoadColumns, load_columns
from calculator.planning.slo import resolve_slo
from calculator.planning.spec import ENGINE_REASONS, REASONS, ComparisonSpec
from calculator.precisions import kv_bytes_per_element, resolve_precision
from calculator.serving import ReplicaModel
from calculator.specs import Catalog


@dataclass(frozen=True, kw_only=True)
class PartialResult:
    """What one chunk contributes: counts, its top_k, its Pareto front, its best rows per hardware, per
    model (under the spec objective) and per objective, and, per constraint, the best configuration the
    engine can run ignoring the constraints (to explain a constraint nothing meets)."""

    spec_digest: str
    chunk_index: int
    evaluated: int
    feasible: int
    unpriced: int
    infeasible: dict[str, int]
    top: tuple[ResultRow, ...]
    pareto: tuple[ResultRow, ...]
    best_by_hardware: dict[str, ResultRow]
    best_by_model: dict[str, ResultRow]
    best_by_objective: dict[str, ResultRow]
    best_runnable: dict[str, ResultRow]

    def to_dict(self) -> dict[str, Any]:
        def rows(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: v.to_dict() for k, v in value.items()}
            return [r.to_dict() for r in value]

        out: dict[str, Any] = {
            "spec_digest": self.spec_digest,
            "chunk_index": self.chunk_index,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "unpriced": self.unpriced,
            "infeasible": dict(self.infeasible),
        }
        for name in (
            "top",
            "pareto",
            "best_by_hardware",
            "best_by_model",
            "best_by_objective",
            "best_runnable",
        ):
            out[name] = rows(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialResult:
        def rows(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: ResultRow.from_dict(v) for k, v in value.items()}
            return tuple(ResultRow.from_dict(v) for v in value)

        return cls(
            spec_digest=data["spec_digest"],
            chunk_index=int(data["chunk_index"]),
            evaluated=int(data["evaluated"]),
            feasible=int(data["feasible"]),
            unpriced=int(data["unpriced"]),
            infeasible={k: int(v) for k, v in data["infeasible"].items()},
            **{
                name: rows(data[name])
                for name in (
                    "top",
                    "pareto",
                    "best_by_hardware",
                    "best_by_model",
                    "best_by_objective",
                    "best_runnable",
                )
            },
        )


_TABLES: dict[tuple[Any, ...], tuple[Catalog, EntityTables]] = {}


def _entity_tables(spec: ComparisonSpec, catalog: Catalog) -> EntityTables:
    """The spec's entity tables, built once per worker process and reused by every chunk."""
    key = (spec.models, spec.hardware, spec.precisions, spec.frameworks, id(catalog))
    cached = _TABLES.get(key)
    if cached is not None and cached[0] is catalog:
        return cached[1]
    tables = EntityTables(
        models=[catalog.models[k] for k in spec.models],
        hardware=[catalog.hardware[k] for k in spec.hardware],
        precisions=[resolve_precision(k) for k in spec.precisions],
        frameworks=[resolve_framework(k) for k in spec.frameworks],
    )
    if len(_TABLES) >= 8:
        _TABLES.clear()
    _TABLES[key] = (catalog, tables)
    return tables


def _admissible_batch(results: Any) -> Any:
    """The admissible batch of the auto operating point: the largest over the batch-size axis (axis 5), so
    the serving model runs once per configuration, not once per requested batch size."""
    cap = results.max_batch_size
    return np.max(cap, axis=5, keepdims=True) if np.ndim(cap) == 7 else cap


COMPARISON_ROOT_ITERATIONS = 8
"""Evaluations of each load-curve search in bulk comparisons (estimates use serving.ROOT_ITERATIONS)."""


def spec_load(
    spec: ComparisonSpec, batch: Any, results: Any, group: Any, shape: tuple[int, ...]
) -> LoadColumns:
    """A sized comparison's configurations at the load each would carry (`sizing.load_columns`). Only the
    configurations the engine can run are sized: their serving terms are gathered from the grid (`rows`) and
    the figures scattered back to the chunk's shape (the others keep NaN, zero replicas, outside the SLO)."""
    runnable = np.flatnonzero(np.broadcast_to(results.blockers, shape).reshape(-1) == 0)

    def flat(value: Any) -> np.ndarray:
        return np.broadcast_to(value, shape).reshape(-1)[runnable]

    replica = ReplicaModel(
        batch,
        flat(results.max_batch_size),
        root_iterations=COMPARISON_ROOT_ITERATIONS,
        rows=runnable,
        shape=shape,
    )
    mean = spec.requests_per_hour / 3600.0
    load = load_columns(
        replica,
        resolve_slo(spec.slo),
        gpus_per_replica=flat(group),
        mean_rps=mean,
        peak_rps=mean * spec.peak_to_mean,
        budget_gpus=spec.max_total_gpus,
        max_utilization=spec.max_utilization,
    )
    return _scatter(load, runnable, shape)


def _scatter(value: Any, index: np.ndarray, shape: tuple[int, ...]) -> Any:
    """Columns computed for the configurations at flat `index`, as arrays of the chunk's shape (a dataclass
    of columns becomes a `_Scattered` view that scatters each field when it is first read)."""
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            out = np.zeros(int(np.prod(shape)), dtype=bool)
        elif np.issubdtype(value.dtype, np.integer):
            out = np.zeros(int(np.prod(shape)), dtype=value.dtype)
        else:
            out = np.full(int(np.prod(shape)), np.nan)
        out[index] = np.broadcast_to(value, index.shape)
        return out.reshape(shape)
    return _Scattered(value, index, shape)


class _Scattered:
    """A dataclass of flat columns seen at the chunk's shape: each field is scattered on first access (the
    rows and rankings read a handful of the sizing's columns)."""

    def __init__(self, value: Any, index: np.ndarray, shape: tuple[int, ...]):
        self._value, self._index, self._shape = value, index, shape

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        out = _scatter(getattr(self._value, name), self._index, self._shape)
        setattr(self, name, out)
        return out


def traffic_replicas(batch: Any, results: Any, requests_per_hour: float) -> Any:
    """Replicas each configuration needs for the traffic: the serving model's capacity at its admissible
    batch, planned to sizing.DEFAULT_MAX_UTILIZATION of it (1 without a traffic). The monthly cost bills them
    all; the other figures stay one replica's."""
    if requests_per_hour <= 0:
        return 1.0
    replica = ReplicaModel(batch, _admissible_batch(results))
    ceiling = replica.capacity * DEFAULT_MAX_UTILIZATION
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ceiling > 0, np.maximum(np.ceil(requests_per_hour / 3600.0 / ceiling), 1.0), np.inf)


def _chunk_shape(spec: ComparisonSpec, chunk: ChunkSpec) -> tuple[int, ...]:
    return (
        chunk.model_stop - chunk.model_start,
        chunk.hardware_stop - chunk.hardware_start,
        len(spec.precisions),
        len(spec.frameworks),
        len(spec.parallel_pairs),
        len(spec.batch_sizes),
        len(spec.deployment_modes),
    )


class _Chunk:
    """Full-shape views of one evaluated chunk and the row builder for selected flat indices."""

    def __init__(
        self,
        spec: ComparisonSpec,
        chunk: ChunkSpec,
        results: Any,
        group: Any,
        replicas: Any = 1.0,
        load: LoadColumns | None = None,
    ):
        self.spec = spec
        self.chunk = chunk
        self.pairs = spec.parallel_pairs
        self.shape = _chunk_shape(spec, chunk)
        full = self.full
        self.results = results
        self.load = load
        price_missing = full(results.cost.price_missing)
        self.blockers = full(results.blockers)
        if load is None:
            self.ttft_ms = full(results.ttft_s) * 1e3
            self.tpot_ms = full(results.tpot_s) * 1e3
            self.tps = full(results.output_tokens_per_s)
            self.cost = np.where(price_missing, np.inf, full(results.cost.cost_per_million_tokens_usd))
            self.monthly = np.where(price_missing, np.inf, full(results.cost.monthly_usd * replicas))
            self.batch = full(results.batch_size)
            self.gpus = full(group)
        else:
            # At the load it carries: one replica's operating point, every replica billed.
            point = load.point
            self.ttft_ms = full(point.ttft_p50_s) * 1e3
            self.tpot_ms = full(point.tpot_s) * 1e3
            # Throughput: what the replicas can serve within the SLO; the cost per token: at the traffic.
            self.tps = full(load.slo_capacity_rps * spec.output_tokens)
            served = full(load.served_rps * spec.output_tokens)
            hourly = full(results.cost.hourly_usd * load.replicas)
            self.cost = np.where(price_missing | ~(served > 0), np.inf, hourly / (3600.0 * served) * 1e6)
            self.monthly = np.where(price_missing, np.inf, hourly * HOURS_PER_MONTH)
            self.batch = full(point.concurrency)
            self.gpus = full(load.gpus)
        self.per_gpu = np.where(self.gpus > 0, self.tps / np.maximum(self.gpus, 1.0), 0.0)
        self.columns = {
            "ttft_ms": self.ttft_ms,
            "tpot_ms": self.tpot_ms,
            "output_tokens_per_s": self.tps,
            "cost_per_million_tokens_usd": self.cost,
            "monthly_cost_usd": self.monthly,
            "num_gpus": self.gpus,
            "output_tokens_per_s_per_gpu": self.per_gpu,
        }
        """The ResultRow fields the objectives and constraints read, by name (`objectives`)."""

    def full(self, value: Any) -> np.ndarray:
        return np.broadcast_to(value, self.shape)

    def rank_values(self, objective: str, mask: np.ndarray) -> np.ndarray:
        """Flat rank values (lower is better, inf = not ranked) under `objective` for rows in `mask`."""
        out = np.where(mask, rank_values(self.columns, objective), np.inf).ravel()
        out[np.isnan(out)] = np.inf
        return out

    def rows(self, flat: np.ndarray) -> list[ResultRow]:
        spec, chunk = self.spec, self.chunk
        flat = np.asarray(flat, dtype=np.intp)
        if flat.size == 0:
            return []
        idx = np.unravel_index(flat, self.shape)
        r = self.results
        batch = self.batch[idx]
        gpus_total = self.gpus[idx]
        memory = self.full(r.memory_utilization)[idx]
        columns = (self.ttft_ms[idx], self.tpot_ms[idx], self.tps[idx], self.cost[idx], self.monthly[idx])
        split = self._token_costs(idx)
        load = self.load
        if load is not None:
            extra = (
                self.full(load.replicas)[idx],
                self.full(load.point.ttft_p99_s)[idx] * 1e3,
                self.full(load.point.tpot_p99_s)[idx] * 1e3,
                self.full(load.point.utilization)[idx],
                self.full(load.goodput.binding)[idx],
            )
        out = []
        for n in range(flat.size):
            m, h, p, f, par, b, d = (int(i[n]) for i in idx)
            tp, pp, gpus = self.pairs[par]
            model = spec.models[chunk.model_start + m]
            hardware = spec.hardware[chunk.hardware_start + h]
            precision, framework = spec.precisions[p], spec.frameworks[f]
            requested, mode = spec.batch_sizes[b], spec.deployment_modes[d]
            ttft, tpot, tps, cost, monthly = (float(c[n]) for c in columns)
            sized: dict[str, Any] = {}
            if load is not None:
                replicas, ttft99, tpot99, utilization, binding = (c[n] for c in extra)
                gpus = int(gpus_total[n])
                sized = {
                    "replicas": int(replicas),
                    "ttft_p99_ms": float(ttft99),
                    "tpot_p99_ms": float(tpot99),
                    "utilization": float(utilization),
                    "binding_constraint": BINDING[int(binding)],
                }
            values = {
                "cost_per_million_tokens_usd": cost,
                "tpot_ms": tpot,
                "output_tokens_per_s": tps,
                "num_gpus": gpus,
                "output_tokens_per_s_per_gpu": tps / gpus if gpus else 0.0,
            }
            out.append(
                ResultRow(
                    key=configuration_key(
                        model, hardware, precision, framework, tp, tp * pp, requested, mode
                    ),
                    model=model,
                    hardware=hardware,
                    precision=precision,
                    framework=framework,
                    tensor_parallel=tp,
                    pipeline_parallel=pp,
                    num_gpus=gpus,
                    requested_batch_size=requested,
                    batch_size=int(batch[n]),
                    deployment_mode=mode,
                    ttft_ms=ttft,
                    tpot_ms=tpot,
                    output_tokens_per_s=tps,
                    cost_per_million_tokens_usd=cost,
                    monthly_cost_usd=monthly,
                    memory_utilization=float(memory[n]),
                    score=score_value(spec.objective, values),
                    output_tokens_per_s_per_gpu=values["output_tokens_per_s_per_gpu"],
                    prefill_cost_per_million_input_tokens_usd=float(split[0][n]),
                    decode_cost_per_million_output_tokens_usd=float(split[1][n]),
                    blended_cost_per_million_tokens_usd=float(split[2][n]),
                    **sized,
                )
            )
        return out

    def _token_costs(self, idx: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The selected rows' cost per request split by phase (cost.token_costs): at the batch's cycle, or at
        each replica's operating point when sized (sizing.LoadColumns.prefill_share); computed for the rows
        kept only."""
        r, spec, full = self.results, self.spec, self.full
        missing = full(r.cost.price_missing)[idx]
        if self.load is None:
            share = prefill_share(
                prefill_s=full(r.cost.prefill_device_s)[idx],
                decode_s=full(r.cost.decode_device_s)[idx],
                prompt_tokens=np.float64(spec.prompt_tokens),
            )
            per_request = full(r.cost.cost_per_request_usd)[idx]
        else:
            load = self.load
            share = self._load_share(idx)
            with np.errstate(divide="ignore", invalid="ignore"):
                served = full(load.served_rps)[idx]
                hourly = full(r.cost.hourly_usd)[idx] * full(load.replicas)[idx]
                per_request = np.where(served > 0, hourly / (3600.0 * served), np.inf)
        split = token_costs(
            cost_per_request_usd=np.where(missing, np.inf, per_request),
            prefill_share=share,
            prompt_tokens=np.float64(spec.prompt_tokens),
            output_tokens=np.float64(spec.output_tokens),
        )
        return (
            split.prefill_cost_per_million_input_tokens_usd * np.ones_like(share),
            split.decode_cost_per_million_output_tokens_usd * np.ones_like(share),
            split.blended_cost_per_million_tokens_usd * np.ones_like(share),
        )

    def _load_share(self, idx: tuple[np.ndarray, ...]) -> np.ndarray:
        """Prefill share at each selected row's operating point (serving.ReplicaModel.prefill_share), from
        the serving model of the chunk's runnable rows (`spec_load`) restricted to the selected ones."""
        load = self.load
        assert isinstance(load, _Scattered)
        columns, runnable = load._value, load._index
        flat = np.ravel_multi_index(idx, self.shape)
        out = np.full(flat.shape, np.nan)
        if runnable.size == 0:
            return out
        position = np.minimum(np.searchsorted(runnable, flat), runnable.size - 1)
        found = runnable[position] == flat
        rows, inverse = np.unique(position[found], return_inverse=True)
        if rows.size:
            share = columns.replica.subset(rows).prefill_share(columns.point.concurrency[rows])
            out[found] = share[inverse]
        return out

    def best(self, values: np.ndarray) -> ResultRow | None:
        """The first row by (flat `values`, configuration key) (inf = excluded); ties are broken by key
        without building their rows (`by_key`)."""
        lowest = values.min() if values.size else np.inf
        if not np.isfinite(lowest):
            return None
        ties = np.flatnonzero(values == lowest)
        return self.rows(ties[self.by_key(ties)[:1]])[0]

    def best_per_group(self, values: np.ndarray, axis: int, names: Sequence[str]) -> dict[str, ResultRow]:
        """Best row per index of `axis` (0 models, 1 hardware) by (rank value, key)."""
        grid = values.reshape(self.shape)
        moved = np.moveaxis(grid, axis, 0).reshape(self.shape[axis], -1)
        lowest = moved.min(axis=1)
        expand = [1] * len(self.shape)
        expand[axis] = -1
        ties = np.flatnonzero((grid == lowest.reshape(expand)) & np.isfinite(grid))
        ordered = ties[self.by_key(ties, group_axis=axis)]
        group = np.unravel_index(ordered, self.shape)[axis]
        _, first = np.unique(group, return_index=True)
        best = {(row.hardware if axis == 1 else row.model): row for row in self.rows(ordered[first])}
        return {name: best[name] for name in names if name in best}

    def by_key(self, flat: np.ndarray, group_axis: int | None = None) -> np.ndarray:
        """The order of the flat indices `flat` by their rows' configuration keys (by the index along
        `group_axis` first): each axis's names ranked as the key's "|"-terminated segments, which order the
        whole key string the same way."""
        if not hasattr(self, "_key_ranks"):
            spec, chunk = self.spec, self.chunk
            segments = [
                [f"{m}|" for m in spec.models[chunk.model_start : chunk.model_stop]],
                [f"{h}|" for h in spec.hardware[chunk.hardware_start : chunk.hardware_stop]],
                [f"{p}|" for p in spec.precisions],
                [f"{f}|" for f in spec.frameworks],
                [f"tp{tp}|gpus{tp * pp}|" for tp, pp, _ in self.pairs],
                [f"bs{b or 'auto'}|" for b in spec.batch_sizes],
                list(spec.deployment_modes),
            ]
            self._key_ranks = []
            for names in segments:
                rank = np.empty(len(names), dtype=np.int64)
                rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
                self._key_ranks.append(rank)
        idx = np.unravel_index(flat, self.shape)
        keys = [rank[i] for rank, i in zip(self._key_ranks, idx, strict=True)]
        if group_axis is not None:
            keys = [idx[group_axis], *keys]
        return np.lexsort(keys[::-1])


def evaluate_chunk(
    spec: ComparisonSpec,
    chunk: ChunkSpec,
    *,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
) -> PartialResult:
    """Evaluate one chunk as 7-D broadcast columns (`grid.parallel_tensor_batch` + `engine.evaluate`), apply
    the constraints, and keep only what the merge needs; Python rows are built for selected indices only."""
    catalog = catalog or default_catalog()
    tables = _entity_tables(spec, catalog)
    evaluated = chunk.size(spec)
    infeasible = dict.fromkeys(REASONS, 0)
    pairs = spec.parallel_pairs
    combinations = len(spec.tensor_parallel) * len(spec.gpu_axis)  # (tp, num_gpus) pairs, valid or not
    infeasible["gpu_count"] = evaluated - evaluated // combinations * len(pairs)
    empty = PartialResult(
        spec_digest=spec.digest,
        chunk_index=chunk.chunk_index,
        evaluated=evaluated,
        feasible=0,
        unpriced=0,
        infeasible=infeasible,
        top=(),
        pareto=(),
        best_by_hardware={},
        best_by_model={},
        best_by_objective={},
        best_runnable={},
    )
    if not pairs:
        return empty
    batch = parallel_tensor_batch(
        tables,
        models=slice(chunk.model_start, chunk.model_stop),
        hardware=slice(chunk.hardware_start, chunk.hardware_stop),
        tensor_parallel=[tp for tp, _, _ in pairs],
        pipeline_parallel=[pp for _, pp, _ in pairs],
        batch_sizes=spec.batch_sizes,
        kv_bytes_per_element=[kv_bytes_per_element(None, p) for p in tables.precisions],
        deployment_modes=spec.deployment_modes,
        prompt_tokens=spec.prompt_tokens,
        output_tokens=spec.output_tokens,
        requests_per_hour=spec.requests_per_hour,
        calibration=calibration,
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        results = evaluate(batch)
        group = batch.workload.tensor_parallel * batch.workload.pipeline_parallel
        if spec.sized:
            shape = _chunk_shape(spec, chunk)
            c = _Chunk(spec, chunk, results, group, load=spec_load(spec, batch, results, group, shape))
        else:
            replicas = traffic_replicas(batch, results, spec.requests_per_hour)
            c = _Chunk(spec, chunk, results, group, replicas=replicas)

    remaining = np.ones(c.shape, dtype=bool)
    for reason in ENGINE_REASONS:  # each one a Blocker's code
        hit = remaining & ((c.blockers & Blocker.of(reason)) != 0)
        infeasible[reason] += int(np.count_nonzero(hit))
        remaining &= ~hit
    if c.load is not None:
        for reason, ok in (("slo", c.load.within_slo), ("gpu_budget", c.load.within_budget)):
            hit = remaining & ~c.full(ok)
            infeasible[reason] += int(np.count_nonzero(hit))
            remaining &= ~hit
    runnable = remaining.copy()
    best_runnable: dict[str, ResultRow] = {}
    for constraint in CONSTRAINTS:
        limit = getattr(spec, constraint.name)
        if limit is None:
            continue
        value, sign, reason = c.columns[constraint.field], constraint.sign, constraint.reason
        hit = remaining & ~constraint_met(value, limit, sign)
        infeasible[reason] = int(np.count_nonzero(hit))
        remaining &= ~hit
        ranked = np.where(runnable, value * sign, np.inf).ravel()
        row = c.best(ranked)
        if row is not None:
            best_runnable[reason] = row
    feasible = remaining
    n_feasible = int(np.count_nonzero(feasible))
    unpriced = int(np.count_nonzero(feasible & ~np.isfinite(c.cost)))

    ranks = c.rank_values(spec.objective, feasible)
    top: list[ResultRow] = []
    finite = int(np.count_nonzero(np.isfinite(ranks)))
    if finite:
        k = min(spec.top_k, finite)
        kth = np.partition(ranks, k - 1)[k - 1]
        candidates = np.flatnonzero(ranks <= kth)
        by_key = candidates[c.by_key(candidates)]
        chosen = by_key[np.argsort(ranks[by_key], kind="stable")[: spec.top_k]]
        top = sorted(c.rows(chosen), key=row_order(spec.objective))

    best_by_objective = {}
    for objective in OBJECTIVES if spec.sized else tuple(o for o in OBJECTIVES if o not in SIZED_OBJECTIVES):
        values = ranks if objective == spec.objective else c.rank_values(objective, feasible)
        row = c.best(values)
        if row is not None:
            best_by_objective[objective] = row

    priced = (feasible & np.isfinite(c.cost)).ravel()
    candidates = np.flatnonzero(priced)
    front = candidates[
        pareto_indices(c.cost.ravel()[candidates], c.tpot_ms.ravel()[candidates], c.tps.ravel()[candidates])
    ]
    return replace(
        empty,
        feasible=n_feasible,
        unpriced=unpriced,
        top=tuple(top),
        pareto=tuple(sorted(c.rows(front), key=pareto_order)),
        best_by_hardware=c.best_per_group(ranks, 1, spec.hardware),
        best_by_model=c.best_per_group(ranks, 0, spec.models),
        best_by_objective=best_by_objective,
        best_runnable=best_runnable,
    )
