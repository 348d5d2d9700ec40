"""Bulk comparisons: rank every combination of models x hardware x precisions x frameworks x parallelism x
batch sizes x deployment modes for one workload, chunk by chunk, and merge the partial results.

A job runs `resolve_spec` once, `plan_chunks` to fan out, `evaluate_chunk` per chunk (on any worker, in any
order, retried at will: a chunk's result depends only on the spec and the chunk) and `merge_partials` on the
collected `PartialResult`s. The merged result does not depend on how the grid was chunked or on the order of
the partials: every selection uses the total order (rank value, key), so the top k / best of a union is the
top k / best of the chunks' top k / best, and a row on the global Pareto front is on its chunk's front.

Feasibility: a configuration is infeasible when the engine sets a blocker bit (`engine.BLOCKERS`), when
tensor_parallel does not divide num_gpus ("gpu_count"; such pairs are not evaluated), or when it misses a
constraint ("ttft", "tpot", "monthly_cost", "throughput"). It is counted once, under its first reason in
`REASONS` order.

Prices: a feasible configuration whose hardware has no price for its deployment mode in the catalog (no
cloud $/GPU-hour, or no purchase price for local/edge) is "unpriced": its cost fields are infinite (None in
`to_dict`), it fails a max_monthly_cost_usd constraint, it is not ranked under the "cost" and "balanced"
objectives and is not on the Pareto front (cost is one of its axes).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from calculator.calibration import Calibration
from calculator.catalog import default_catalog, resolve_hardware, resolve_model
from calculator.cost import DEPLOYMENT_MODES
from calculator.engine import BLOCKERS, evaluate
from calculator.frameworks import CURRENT_FRAMEWORKS, resolve_framework
from calculator.grid import EntityTables, parallel_tensor_batch
from calculator.precisions import PRECISIONS, kv_bytes_per_element, resolve_precision
from calculator.specs import Catalog

__all__ = [
    "BALANCED_REFERENCE",
    "OBJECTIVES",
    "REASONS",
    "ChunkSpec",
    "ComparisonError",
    "ComparisonResult",
    "ComparisonSpec",
    "PartialResult",
    "ResultRow",
    "evaluate_chunk",
    "merge_partials",
    "pareto_indices",
    "plan_chunks",
    "resolve_spec",
    "run_comparison",
]

OBJECTIVES = ("cost", "latency", "throughput", "balanced")
"""cost: lowest cost_per_million_tokens_usd; latency: lowest tpot_ms; throughput: highest
output_tokens_per_s; balanced: highest balanced index (see `balanced_index`)."""

BALANCED_REFERENCE = {"cost_per_million_tokens_usd": 1.0, "tpot_ms": 50.0, "output_tokens_per_s": 1000.0}
"""Reference point of the balanced index (index 1.0): $1 per 1M output tokens, 50 ms TPOT, 1000 tokens/s."""

_ENGINE_ORDER = ("gpu_count", "precision_unsupported", "context_too_long", "tp_heads", "no_kv_room")
_BLOCKER_NAMES = [name for _, (name, _) in sorted(BLOCKERS.items())]
ENGINE_REASONS = tuple(
    [n for n in _ENGINE_ORDER if n in _BLOCKER_NAMES or n == "gpu_count"]
    + [n for n in _BLOCKER_NAMES if n not in _ENGINE_ORDER]
)
CONSTRAINT_REASONS = ("ttft", "tpot", "monthly_cost", "throughput")
REASONS = ENGINE_REASONS + CONSTRAINT_REASONS
"""Infeasibility reasons in the order a configuration is attributed to its first one."""

MAX_CONFIGURATIONS = 5_000_000
_CONSTRAINTS = {
    "max_ttft_ms": "ttft",
    "max_tpot_ms": "tpot",
    "max_monthly_cost_usd": "monthly_cost",
    "min_output_tokens_per_s": "throughput",
}


class ComparisonError(ValueError):
    """An invalid comparison request; `detail` maps each offending field to what is wrong with it
    (for names: the list of unknown names, e.g. {"models": ["llama-99b"]})."""

    def __init__(self, message: str, detail: dict[str, Any]):
        super().__init__(message)
        self.detail = detail


# --------------------------------------------------------------------------------------------- the spec


@dataclass(frozen=True, kw_only=True)
class ComparisonSpec:
    """A validated comparison request (build it with `resolve_spec`). Names are catalog keys.

    num_gpus empty means num_gpus = tensor_parallel (pipeline_parallel 1); otherwise every
    (tensor_parallel, num_gpus) pair is a configuration with pipeline_parallel = num_gpus / tp, and pairs
    where tp does not divide num_gpus count as infeasible ("gpu_count"). batch_size 0 = "auto", the largest
    batch that fits (and the scheduler allows).
    """

    models: tuple[str, ...]
    hardware: tuple[str, ...]
    precisions: tuple[str, ...]
    frameworks: tuple[str, ...]
    tensor_parallel: tuple[int, ...] = (1,)
    num_gpus: tuple[int, ...] = ()
    batch_sizes: tuple[int, ...] = (0,)
    deployment_modes: tuple[str, ...] = ("cloud",)
    prompt_tokens: int = 512
    output_tokens: int = 256
    requests_per_hour: float = 0.0
    max_ttft_ms: float | None = None
    max_tpot_ms: float | None = None
    max_monthly_cost_usd: float | None = None
    min_output_tokens_per_s: float | None = None
    objective: str = "cost"
    top_k: int = 100

    @property
    def gpu_axis(self) -> tuple[int, ...]:
        """The num_gpus values crossed with tensor_parallel (tensor_parallel itself when num_gpus is
        empty)."""
        return self.num_gpus or (0,)

    @property
    def parallel_pairs(self) -> tuple[tuple[int, int, int], ...]:
        """The valid (tensor_parallel, pipeline_parallel, num_gpus) combinations, in spec order."""
        if not self.num_gpus:
            return tuple((tp, 1, tp) for tp in self.tensor_parallel)
        return tuple(
            (tp, gpus // tp, gpus) for tp in self.tensor_parallel for gpus in self.num_gpus if gpus % tp == 0
        )

    @property
    def configurations_per_block(self) -> int:
        """Configurations per (model, hardware) pair."""
        return (
            len(self.precisions)
            * len(self.frameworks)
            * len(self.tensor_parallel)
            * len(self.gpu_axis)
            * len(self.batch_sizes)
            * len(self.deployment_modes)
        )

    @property
    def size(self) -> int:
        """Number of configurations, including the (tp, num_gpus) pairs that are skipped as "gpu_count"."""
        return len(self.models) * len(self.hardware) * self.configurations_per_block

    @property
    def constraints(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in _CONSTRAINTS if getattr(self, name) is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `resolve_spec(spec.to_dict())` gives back an equal spec."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @property
    def digest(self) -> str:
        """A stable hash of the spec: partial results carry it so results of other specs are not merged."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    return list(value)


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _names(
    raw: dict[str, Any], name: str, everything: Sequence[str], resolve: Any, errors: dict[str, Any]
) -> tuple[str, ...]:
    values = _as_list(raw.get(name))
    if not values:
        errors[name] = "at least one name is required (or '*' for all)"
        return ()
    if "*" in values:
        return tuple(everything)
    keys, unknown = [], []
    for value in values:
        try:
            keys.append(resolve(str(value)).key)
        except (KeyError, ValueError):
            unknown.append(str(value))
    if unknown:
        errors[name] = unknown
    return tuple(_unique(keys))


def _integers(
    raw: dict[str, Any], name: str, default: list[Any], minimum: int, errors: dict[str, Any]
) -> tuple:
    values = _as_list(raw.get(name, default))
    out = []
    for value in values:
        if name == "batch_sizes" and isinstance(value, str) and value.strip().lower() == "auto":
            out.append(0)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            errors[name] = f"must be whole numbers, got {value!r}"
            return ()
        if value < minimum:
            errors[name] = f"must be at least {minimum}, got {value!r}"
            return ()
        out.append(int(value))
    if not out and name != "num_gpus":
        errors[name] = "at least one value is required"
    return tuple(_unique(out))


def _number(
    raw: dict[str, Any],
    name: str,
    default: Any,
    errors: dict[str, Any],
    *,
    positive: bool,
    whole: bool = False,
) -> Any:
    value = raw.get(name, default)
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0) and (not whole or value == int(value))
    if not ok:
        kind = "a whole number" if whole else "a finite number"
        errors[name] = f"must be {kind} {'> 0' if positive else '>= 0'}, got {value!r}"
        return default
    return int(value) if whole else float(value)


def resolve_spec(
    raw: dict[str, Any], catalog: Catalog | None = None, *, max_configurations: int = MAX_CONFIGURATIONS
) -> ComparisonSpec:
    """Validate a request (a JSON-like dict with ComparisonSpec's field names) into a `ComparisonSpec`.

    Lists may be given as a single value; ["*"] means the whole catalog (every model, hardware entry,
    precision in PRECISIONS, framework, deployment mode). batch_sizes may be "auto" (= [0]). Names are
    resolved to catalog keys (aliases accepted) and de-duplicated. Every problem is collected and raised
    together as one ComparisonError; the grid size is checked against `max_configurations` last.
    """
    catalog = catalog or default_catalog()
    errors: dict[str, Any] = {}
    allowed = {f.name for f in fields(ComparisonSpec)}
    extra = sorted(set(raw) - allowed)
    if extra:
        errors["unknown_fields"] = extra
    models = _names(raw, "models", list(catalog.models), lambda n: resolve_model(n, catalog), errors)
    hardware = _names(raw, "hardware", list(catalog.hardware), lambda n: resolve_hardware(n, catalog), errors)
    precisions = _names(raw, "precisions", list(PRECISIONS), resolve_precision, errors)
    frameworks = _names(raw, "frameworks", list(CURRENT_FRAMEWORKS), resolve_framework, errors)
    modes_raw = [str(m).strip().lower() for m in _as_list(raw.get("deployment_modes", ["cloud"]))]
    modes = tuple(DEPLOYMENT_MODES) if "*" in modes_raw else tuple(_unique(modes_raw))
    unknown_modes = [m for m in modes if m not in DEPLOYMENT_MODES]
    if unknown_modes:
        errors["deployment_modes"] = unknown_modes
    elif not modes:
        errors["deployment_modes"] = "at least one of local, cloud, edge is required"
    tensor_parallel = _integers(raw, "tensor_parallel", [1], 1, errors)
    num_gpus = _integers(raw, "num_gpus", [], 1, errors)
    batch_sizes = _integers(raw, "batch_sizes", [0], 0, errors)
    values = {
        "prompt_tokens": _number(raw, "prompt_tokens", 512, errors, positive=True, whole=True),
        "output_tokens": _number(raw, "output_tokens", 256, errors, positive=True, whole=True),
        "requests_per_hour": _number(raw, "requests_per_hour", 0.0, errors, positive=False),
        "top_k": _number(raw, "top_k", 100, errors, positive=True, whole=True),
    }
    for name in _CONSTRAINTS:
        values[name] = _number(raw, name, None, errors, positive=True)
    objective = raw.get("objective", "cost")
    if objective not in OBJECTIVES:
        errors["objective"] = f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
    if errors:
        raise ComparisonError(f"invalid comparison: {', '.join(errors)}", errors)
    spec = ComparisonSpec(
        models=models,
        hardware=hardware,
        precisions=precisions,
        frameworks=frameworks,
        tensor_parallel=tensor_parallel,
        num_gpus=num_gpus,
        batch_sizes=batch_sizes,
        deployment_modes=modes,
        objective=objective,
        **values,
    )
    if spec.size > max_configurations:
        raise ComparisonError(
            f"the comparison has {spec.size:,} configurations, over the limit of {max_configurations:,}",
            {"size": spec.size, "max_configurations": max_configurations},
        )
    return spec


# ---------------------------------------------------------------------------------------------- chunks


@dataclass(frozen=True, kw_only=True)
class ChunkSpec:
    """Models [model_start, model_stop) x hardware [hardware_start, hardware_stop) x everything else."""

    chunk_index: int
    model_start: int
    model_stop: int
    hardware_start: int
    hardware_stop: int

    def size(self, spec: ComparisonSpec) -> int:
        blocks = (self.model_stop - self.model_start) * (self.hardware_stop - self.hardware_start)
        return blocks * spec.configurations_per_block

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> ChunkSpec:
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


def plan_chunks(spec: ComparisonSpec, target: int = 250_000) -> list[ChunkSpec]:
    """Split the grid into independent chunks of about `target` configurations (at least one
    (model, hardware) block each): whole-hardware ranges of consecutive models, or, when one model's row
    is larger than the target, one model and a range of hardware. chunk_index is the position in this list
    (stable for a given spec and target)."""
    if target < 1:
        raise ValueError("target must be at least 1")
    per_block = spec.configurations_per_block
    nm, nh = len(spec.models), len(spec.hardware)
    chunks: list[ChunkSpec] = []
    if per_block * nh <= target:
        step = max(1, target // (per_block * nh))
        for start in range(0, nm, step):
            chunks.append(
                ChunkSpec(
                    chunk_index=len(chunks),
                    model_start=start,
                    model_stop=min(start + step, nm),
                    hardware_start=0,
                    hardware_stop=nh,
                )
            )
    else:
        step = max(1, target // per_block)
        for m in range(nm):
            for start in range(0, nh, step):
                chunks.append(
                    ChunkSpec(
                        chunk_index=len(chunks),
                        model_start=m,
                        model_stop=m + 1,
                        hardware_start=start,
                        hardware_stop=min(start + step, nh),
                    )
                )
    return chunks


# ------------------------------------------------------------------------------------------------ rows


@dataclass(frozen=True, kw_only=True)
class ResultRow:
    """One configuration and its figures. batch_size is the batch the estimate runs (the chosen one when
    requested_batch_size is 0, "auto"); score is the spec objective's value (see OBJECTIVES); rank and
    is_pareto are set by `merge_partials`. key identifies the configuration within its comparison."""

    key: str
    model: str
    hardware: str
    precision: str
    framework: str
    tensor_parallel: int
    pipeline_parallel: int
    num_gpus: int
    requested_batch_size: int
    batch_size: int
    deployment_mode: str
    ttft_ms: float
    tpot_ms: float
    output_tokens_per_s: float
    cost_per_million_tokens_usd: float
    monthly_cost_usd: float
    memory_utilization: float
    score: float
    rank: int = 0
    is_pareto: bool = False

    @property
    def priced(self) -> bool:
        return math.isfinite(self.cost_per_million_tokens_usd)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats become None."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRow:
        floats = {"cost_per_million_tokens_usd", "monthly_cost_usd", "score"}
        return cls(**{k: (math.inf if k in floats and v is None else v) for k, v in data.items()})


def configuration_key(
    model: str, hardware: str, precision: str, framework: str, tp: int, gpus: int, batch: int, mode: str
) -> str:
    """model|hardware|precision|framework|tp<N>|gpus<N>|bs<N or auto>|mode"""
    return f"{model}|{hardware}|{precision}|{framework}|tp{tp}|gpus{gpus}|bs{batch or 'auto'}|{mode}"


def balanced_index(cost_per_million_usd: float, tpot_ms: float, output_tokens_per_s: float) -> float:
    """Geometric mean of the three metrics normalised by BALANCED_REFERENCE (higher is better):
        index = cbrt( (C0 / cost) x (T0 / tpot) x (throughput / S0) ).
    The references only scale the index, so its ranking is that of throughput / (cost x tpot), which is how
    configurations are ordered (`rank_value`). 0 for an unpriced configuration."""
    if not math.isfinite(cost_per_million_usd) or cost_per_million_usd <= 0 or tpot_ms <= 0:
        return 0.0
    ref = BALANCED_REFERENCE
    product = output_tokens_per_s / (cost_per_million_usd * tpot_ms)
    return (product * ref["cost_per_million_tokens_usd"] * ref["tpot_ms"] / ref["output_tokens_per_s"]) ** (
        1.0 / 3.0
    )


def rank_value(row: ResultRow, objective: str) -> float:
    """Lower is better; inf = not ranked. Same arithmetic as the vectorised `_rank_values`."""
    if objective == "cost":
        return row.cost_per_million_tokens_usd
    if objective == "latency":
        return row.tpot_ms
    if objective == "throughput":
        return -row.output_tokens_per_s
    if not row.priced:
        return math.inf
    return -(row.output_tokens_per_s / (row.cost_per_million_tokens_usd * row.tpot_ms))


def _order(objective: str):  # type: ignore[no-untyped-def]
    return lambda row: (rank_value(row, objective), row.key)


def _score(objective: str, cost: float, tpot: float, tps: float) -> float:
    if objective == "cost":
        return cost
    if objective == "latency":
        return tpot
    if objective == "throughput":
        return tps
    return balanced_index(cost, tpot, tps)


# ---------------------------------------------------------------------------------------------- pareto


def _dominates(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    """[i, j]: point i of a dominates point j of b (cost, tpot lower-or-equal, throughput higher-or-equal,
    one strictly)."""
    (ac, at, as_), (bc, bt, bs) = a, b
    c1, c2 = ac[:, None], bc[None, :]
    t1, t2 = at[:, None], bt[None, :]
    s1, s2 = as_[:, None], bs[None, :]
    return (c1 <= c2) & (t1 <= t2) & (s1 >= s2) & ((c1 < c2) | (t1 < t2) | (s1 > s2))


def pareto_indices(
    cost: np.ndarray, tpot: np.ndarray, throughput: np.ndarray, block: int = 256
) -> np.ndarray:
    """Indices of the non-dominated points (minimise cost and tpot, maximise throughput), ascending.

    Points are sorted lexicographically by (cost, tpot, -throughput), so no point is dominated by a later
    one; blocks of the sorted survivors are reduced pairwise and then strike every later point they
    dominate (vectorised), so the work is about n x |front| comparisons."""
    cost, tpot, throughput = (np.asarray(a, dtype=np.float64) for a in (cost, tpot, throughput))
    remaining = np.lexsort((-throughput, tpot, cost))
    front: list[np.ndarray] = []
    while remaining.size:
        head, remaining = remaining[:block], remaining[block:]
        head_points = (cost[head], tpot[head], throughput[head])
        head = head[~_dominates(head_points, head_points).any(axis=0)]
        front.append(head)
        if not remaining.size:
            break
        points = (cost[head], tpot[head], throughput[head])
        keep = np.ones(remaining.size, dtype=bool)
        step = max(1, 2_000_000 // max(head.size, 1))
        for start in range(0, remaining.size, step):
            part = remaining[start : start + step]
            keep[start : start + step] = ~_dominates(points, (cost[part], tpot[part], throughput[part])).any(
                axis=0
            )
        remaining = remaining[keep]
    return np.sort(np.concatenate(front)) if front else np.empty(0, dtype=np.intp)


# -------------------------------------------------------------------------------------------- partials


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


class _Chunk:
    """Full-shape views of one evaluated chunk and the row builder for selected flat indices."""

    def __init__(self, spec: ComparisonSpec, chunk: ChunkSpec, results: Any):
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
        self.monthly = np.where(price_missing, np.inf, full(results.cost.monthly_usd))

    def full(self, value: Any) -> np.ndarray:
        return np.broadcast_to(value, self.shape)

    def rank_values(self, objective: str, mask: np.ndarray) -> np.ndarray:
        """Flat rank values (lower is better, inf = not ranked) under `objective` for rows in `mask`."""
        if objective == "cost":
            value = self.cost
        elif objective == "latency":
            value = self.tpot_ms
        elif objective == "throughput":
            value = -self.tps
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(np.isfinite(self.cost), -(self.tps / (self.cost * self.tpot_ms)), np.inf)
        out = np.where(mask, value, np.inf).ravel()
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
                    score=_score(spec.objective, cost, tpot, tps),
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
        order = _order(self.spec.objective)
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
        c = _Chunk(spec, chunk, evaluate(batch))

    remaining = np.ones(c.shape, dtype=bool)
    bits = {name: bit for bit, (name, _) in BLOCKERS.items()}
    for reason in ENGINE_REASONS:
        if reason in bits:
            hit = remaining & ((c.blockers & bits[reason]) != 0)
            infeasible[reason] += int(np.count_nonzero(hit))
            remaining &= ~hit
    runnable = remaining.copy()
    limits = {
        "ttft": (c.ttft_ms, spec.max_ttft_ms, 1),
        "tpot": (c.tpot_ms, spec.max_tpot_ms, 1),
        "monthly_cost": (c.monthly, spec.max_monthly_cost_usd, 1),
        "throughput": (c.tps, spec.min_output_tokens_per_s, -1),
    }
    best_runnable: dict[str, ResultRow] = {}
    for reason, (value, limit, sign) in limits.items():
        if limit is None:
            continue
        hit = remaining & ~(value * sign <= limit * sign)
        infeasible[reason] = int(np.count_nonzero(hit))
        remaining &= ~hit
        ranked = np.where(runnable, value * sign, np.inf).ravel()
        row = c.best(ranked, lambda r, x=reason: (_constraint_value(r, x), r.key))
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
        top = sorted(c.rows(np.flatnonzero(ranks <= kth)), key=_order(spec.objective))[: spec.top_k]

    best_by_objective = {}
    for objective in OBJECTIVES:
        values = ranks if objective == spec.objective else c.rank_values(objective, feasible)
        row = c.best(values, _order(objective))
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
        pareto=tuple(sorted(c.rows(front), key=_pareto_order)),
        best_by_hardware=c.best_per_group(ranks, 1, spec.hardware),
        best_by_model=c.best_per_group(ranks, 0, spec.models),
        best_by_objective=best_by_objective,
        best_runnable=best_runnable,
    )


def _pareto_order(row: ResultRow) -> tuple[float, float, float, str]:
    return (row.cost_per_million_tokens_usd, row.tpot_ms, -row.output_tokens_per_s, row.key)


# ------------------------------------------------------------------------------------------------ merge


@dataclass(frozen=True, kw_only=True)
class ComparisonResult:
    """The merged comparison. `complete` is False while some chunks are missing (evaluated < spec.size).
    top: the global top_k with rank 1..k, ordered by (rank value, key); pareto: the global front ordered by
    cost; best: cheapest ("cost"), lowest TPOT ("latency"), highest throughput ("throughput"), "balanced"."""

    spec: ComparisonSpec
    chunks: int
    evaluated: int
    feasible: int
    unpriced: int
    infeasible: dict[str, int]
    top: tuple[ResultRow, ...]
    pareto: tuple[ResultRow, ...]
    best_by_hardware: dict[str, ResultRow]
    best_by_model: dict[str, ResultRow]
    best: dict[str, ResultRow]
    recommendations: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.evaluated == self.spec.size

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "chunks": self.chunks,
            "complete": self.complete,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "unpriced": self.unpriced,
            "infeasible": dict(self.infeasible),
            "top": [r.to_dict() for r in self.top],
            "pareto": [r.to_dict() for r in self.pareto],
            "best_by_hardware": {k: r.to_dict() for k, r in self.best_by_hardware.items()},
            "best_by_model": {k: r.to_dict() for k, r in self.best_by_model.items()},
            "best": {k: r.to_dict() for k, r in self.best.items()},
            "recommendations": list(self.recommendations),
        }


def _best_of(rows: Iterable[ResultRow], objective: str) -> ResultRow | None:
    candidates = [r for r in rows if math.isfinite(rank_value(r, objective))]
    return min(candidates, key=_order(objective)) if candidates else None


def merge_partials(spec: ComparisonSpec, partials: Sequence[PartialResult]) -> ComparisonResult:
    """Merge chunk results (any order; a chunk delivered twice, e.g. by a retried task, counts once).

    Counts are summed; the top_k, the best rows and the Pareto front are recomputed over the union of the
    chunks' selections with the same total order, so the result equals a single-chunk run."""
    digest = spec.digest
    by_index: dict[int, PartialResult] = {}
    for partial in partials:
        if partial.spec_digest != digest:
            raise ValueError(f"chunk {partial.chunk_index} belongs to another comparison spec")
        by_index.setdefault(partial.chunk_index, partial)
    chosen = [by_index[i] for i in sorted(by_index)]
    objective = spec.objective
    infeasible = dict.fromkeys(REASONS, 0)
    for partial in chosen:
        for reason, count in partial.infeasible.items():
            infeasible[reason] = infeasible.get(reason, 0) + count

    def union(name: str) -> list[ResultRow]:
        rows: dict[str, ResultRow] = {}
        for partial in chosen:
            value = getattr(partial, name)
            for row in value.values() if isinstance(value, dict) else value:
                rows.setdefault(row.key, row)
        return list(rows.values())

    candidates = union("pareto")
    front_index = pareto_indices(
        np.array([r.cost_per_million_tokens_usd for r in candidates]),
        np.array([r.tpot_ms for r in candidates]),
        np.array([r.output_tokens_per_s for r in candidates]),
    )
    front = sorted((candidates[i] for i in front_index), key=_pareto_order)
    on_front = {r.key for r in front}

    def final(row: ResultRow, rank: int = 0) -> ResultRow:
        return replace(row, rank=rank, is_pareto=row.key in on_front)

    top = sorted(union("top"), key=_order(objective))[: spec.top_k]
    groups: dict[str, dict[str, ResultRow]] = {}
    for name, attr, order in (
        ("hardware", "best_by_hardware", spec.hardware),
        ("model", "best_by_model", spec.models),
    ):
        best: dict[str, ResultRow] = {}
        for row in union(attr):
            group = getattr(row, name)
            if group not in best or _order(objective)(row) < _order(objective)(best[group]):
                best[group] = row
        groups[name] = {g: final(best[g]) for g in order if g in best}
    best_by_objective = {}
    for name in OBJECTIVES:
        row = _best_of((p.best_by_objective[name] for p in chosen if name in p.best_by_objective), name)
        if row is not None:
            best_by_objective[name] = final(row)
    best_runnable = {}
    for reason in CONSTRAINT_REASONS:
        rows = [p.best_runnable[reason] for p in chosen if reason in p.best_runnable]
        if rows:
            best_runnable[reason] = min(rows, key=lambda r, x=reason: (_constraint_value(r, x), r.key))
    result = ComparisonResult(
        spec=spec,
        chunks=len(chosen),
        evaluated=sum(p.evaluated for p in chosen),
        feasible=sum(p.feasible for p in chosen),
        unpriced=sum(p.unpriced for p in chosen),
        infeasible=infeasible,
        top=tuple(final(row, rank) for rank, row in enumerate(top, 1)),
        pareto=tuple(final(row) for row in front),
        best_by_hardware=groups["hardware"],
        best_by_model=groups["model"],
        best=best_by_objective,
    )
    return replace(result, recommendations=tuple(_recommendations(result, best_runnable)))


def _constraint_value(row: ResultRow, reason: str) -> float:
    return {
        "ttft": row.ttft_ms,
        "tpot": row.tpot_ms,
        "monthly_cost": row.monthly_cost_usd,
        "throughput": -row.output_tokens_per_s,
    }[reason]


# ------------------------------------------------------------------------------------- recommendations


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.995 or value == 0 else f"${value:.3g}"


def _describe(row: ResultRow) -> str:
    batch = f"batch {row.batch_size}" + (" (auto)" if row.requested_batch_size == 0 else "")
    parallel = f"{row.num_gpus}x {row.hardware}"
    if row.pipeline_parallel > 1:
        parallel += f" (TP {row.tensor_parallel} x PP {row.pipeline_parallel})"
    mode = "" if row.deployment_mode == "cloud" else f", {row.deployment_mode}"
    return f"{row.model} {row.precision} on {parallel} with {row.framework}, {batch}{mode}"


def _figures(row: ResultRow) -> str:
    cost = (
        f"{_usd(row.cost_per_million_tokens_usd)} per 1M output tokens"
        if row.priced
        else "no price in the catalog"
    )
    return f"{cost}, TPOT {row.tpot_ms:.3g} ms, {row.output_tokens_per_s:,.0f} output tokens/s"


def _recommendations(result: ComparisonResult, best_runnable: dict[str, ResultRow]) -> list[str]:
    spec = result.spec
    lines: list[str] = []
    best = result.best
    if "cost" in best:
        lines.append(f"Cheapest feasible: {_describe(best['cost'])} at {_figures(best['cost'])}.")
    if "latency" in best:
        lines.append(f"Lowest TPOT: {_describe(best['latency'])} at {_figures(best['latency'])}.")
    if "throughput" in best:
        lines.append(
            f"Highest throughput: {_describe(best['throughput'])} at {_figures(best['throughput'])}."
        )
    if "balanced" in best:
        row = best["balanced"]
        index = balanced_index(row.cost_per_million_tokens_usd, row.tpot_ms, row.output_tokens_per_s)
        lines.append(f"Best balance (index {index:.3g}): {_describe(row)} at {_figures(row)}.")
    if result.pareto:
        lines.append(f"{len(result.pareto)} configurations are Pareto-optimal in cost, TPOT and throughput.")
    units = {"ttft": "ms", "tpot": "ms", "monthly_cost": "USD/month", "throughput": "tokens/s"}
    for name, reason in _CONSTRAINTS.items():
        limit = getattr(spec, name)
        row = best_runnable.get(reason)
        if limit is None or row is None:
            continue
        value = {
            "ttft": row.ttft_ms,
            "tpot": row.tpot_ms,
            "monthly_cost": row.monthly_cost_usd,
            "throughput": row.output_tokens_per_s,
        }[reason]
        met = value >= limit if reason == "throughput" else value <= limit
        if not met:
            superlative = {
                "ttft": "fastest first token",
                "tpot": "fastest",
                "monthly_cost": "cheapest",
                "throughput": "highest throughput",
            }[reason]
            lines.append(
                f"No configuration meets {name}={limit:g}: the {superlative} is {_describe(row)} at "
                f"{value:,.3g} {units[reason]}."
            )
    if result.feasible == 0 and result.evaluated:
        lines.append(f"None of the {result.evaluated:,} configurations is feasible.")
    counts = Counter({k: v for k, v in result.infeasible.items() if v})
    if counts:
        reason, count = counts.most_common(1)[0]
        share = count / max(result.evaluated, 1)
        description = {name: text for _, (name, text) in BLOCKERS.items()}.get(reason, "")
        lines.append(
            f"Most common reason a configuration is infeasible: {reason} ({count:,} of {result.evaluated:,}, "
            f"{share:.0%})" + (f": {description}." if description else ".")
        )
    if result.unpriced:
        lines.append(
            f"{result.unpriced:,} feasible configurations have no price in the catalog for their deployment "
            "mode; they are left out of cost rankings and the Pareto front."
        )
    return lines


# -------------------------------------------------------------------------------------------- all at once


def run_comparison(
    spec: ComparisonSpec,
    *,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
    target: int = 250_000,
) -> ComparisonResult:
    """Plan, evaluate every chunk in this process, merge (tests and the command line)."""
    chunks = plan_chunks(spec, target)
    partials = [evaluate_chunk(spec, c, catalog=catalog, calibration=calibration) for c in chunks]
    return merge_partials(spec, partials)
