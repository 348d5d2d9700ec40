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
from calculator.engine import BLOCKERS, evaluate
from calculator.frameworks import resolve_framework
from calculator.grid import EntityTables, parallel_tensor_batch
from calculator.planning.chunks import ChunkSpec
from calculator.planning.objectives import (
    CONSTRAINTS,
    OBJECTIVES,
    constraint_met,
    constraint_value,
    rank_values,
    row_order,
    score_value,
)
from calculator.planning.pareto import pareto_indices, pareto_order
from calculator.planning.rows import ResultRow, configuration_key
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION
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


COMPARISON_GRID_POINTS = 6
"""In-flight counts tried per configuration for its capacity in bulk comparisons (the admissible batch is
always one of them; estimates and capacity plans try serving.CAPACITY_GRID_POINTS)."""


def traffic_replicas(batch: Any, results: Any, requests_per_hour: float) -> Any:
    """Replicas each configuration needs for the traffic: the serving model's capacity at its admissible
    batch, planned to sizing.DEFAULT_MAX_UTILIZATION of it (1 without a traffic). The monthly cost bills them
    all; the other figures stay one replica's."""
    if requests_per_hour <= 0:
        return 1.0
    # The admissible batch of the auto operating point: the largest over the batch-size axis (axis 5), so the
    # serving model runs once per configuration, not once per requested batch size.
    cap = (
        np.max(results.max_batch_size, axis=5, keepdims=True)
        if results.max_batch_size.ndim == 7
        else (results.max_batch_size)
    )
    replica = ReplicaModel(batch, cap, grid_points=COMPARISON_GRID_POINTS)
    ceiling = replica.capacity * DEFAULT_MAX_UTILIZATION
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ceiling > 0, np.maximum(np.ceil(requests_per_hour / 3600.0 / ceiling), 1.0), np.inf)


class _Chunk:
    """Full-shape views of one evaluated chunk and the row builder for selected flat indices."""

    def __init__(self, spec: ComparisonSpec, chunk: ChunkSpec, results: Any, replicas: Any = 1.0):
        self.spec = spec
        self.chunk = chunk
        self.pairs = spec.parallel_pairs
        self.shape = (
            chunk.model_stop - chunk.model_start,
            chunk.hardware_stop - chunk.hardware_start,
            len(spec.precisions),
            len(spec.frameworks),
            len(self.pairs),
            len(spec.batch_sizes),
            len(spec.deployment_modes),
        )
        full = self.full
        self.results = results
        price_missing = full(results.cost.price_missing)
        self.blockers = full(results.blockers)
        self.ttft_ms = full(results.ttft_s) * 1e3
        self.tpot_ms = full(results.tpot_s) * 1e3
        self.tps = full(results.output_tokens_per_s)
        self.cost = np.where(price_missing, np.inf, full(results.cost.cost_per_million_tokens_usd))
        self.monthly = np.where(price_missing, np.inf, full(results.cost.monthly_usd * replicas))
        self.columns = {
            "ttft_ms": self.ttft_ms,
            "tpot_ms": self.tpot_ms,
            "output_tokens_per_s": self.tps,
            "cost_per_million_tokens_usd": self.cost,
            "monthly_cost_usd": self.monthly,
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
        batch = self.full(r.batch_size)[idx]
        memory = self.full(r.memory_utilization)[idx]
        columns = (self.ttft_ms[idx], self.tpot_ms[idx], self.tps[idx], self.cost[idx], self.monthly[idx])
        out = []
        for n in range(flat.size):
            m, h, p, f, par, b, d = (int(i[n]) for i in idx)
            tp, pp, gpus = self.pairs[par]
            model = spec.models[chunk.model_start + m]
            hardware = spec.hardware[chunk.hardware_start + h]
            precision, framework = spec.precisions[p], spec.frameworks[f]
            requested, mode = spec.batch_sizes[b], spec.deployment_modes[d]
            ttft, tpot, tps, cost, monthly = (float(c[n]) for c in columns)
            out.append(
                ResultRow(
                    key=configuration_key(model, hardware, precision, framework, tp, gpus, requested, mode),
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
                    score=score_value(spec.objective, cost, tpot, tps),
                )
            )
        return out

    def best(self, values: np.ndarray, order: Any) -> ResultRow | None:
        """The first row by `order` (a row sort key whose first item is the row's value in `values`) among
        the rows with the lowest flat `values` (inf = excluded)."""
        lowest = values.min() if values.size else np.inf
        if not np.isfinite(lowest):
            return None
        return min(self.rows(np.flatnonzero(values == lowest)), key=order)

    def best_per_group(self, values: np.ndarray, axis: int, names: Sequence[str]) -> dict[str, ResultRow]:
        """Best row per index of `axis` (0 models, 1 hardware) by (rank value, key)."""
        grid = values.reshape(self.shape)
        moved = np.moveaxis(grid, axis, 0).reshape(self.shape[axis], -1)
        lowest = moved.min(axis=1)
        expand = [1] * len(self.shape)
        expand[axis] = -1
        ties = np.flatnonzero((grid == lowest.reshape(expand)) & np.isfinite(grid))
        best: dict[str, ResultRow] = {}
        order = row_order(self.spec.objective)
        for row in self.rows(ties):
            name = row.hardware if axis == 1 else row.model
            if name not in best or order(row) < order(best[name]):
                best[name] = row
        return {name: best[name] for name in names if name in best}


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
        c = _Chunk(spec, chunk, results, replicas=traffic_replicas(batch, results, spec.requests_per_hour))

    remaining = np.ones(c.shape, dtype=bool)
    bits = {name: bit for bit, (name, _) in BLOCKERS.items()}
    for reason in ENGINE_REASONS:
        if reason in bits:
            hit = remaining & ((c.blockers & bits[reason]) != 0)
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
        row = c.best(ranked, lambda r, x=reason: (constraint_value(r, x), r.key))
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
        top = sorted(c.rows(np.flatnonzero(ranks <= kth)), key=row_order(spec.objective))[: spec.top_k]

    best_by_objective = {}
    for objective in OBJECTIVES:
        values = ranks if objective == spec.objective else c.rank_values(objective, feasible)
        row = c.best(values, row_order(objective))
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
