"""Capacity planning across the catalog: every hardware x precision x framework x TP x PP for a model, each
sized to the traffic within the SLO (sizing.py), ranked, with the rejected ones counted by reason.

Two questions:
- traffic given (requests/s or /h, optional peak): the fewest replicas of each configuration that carry the
  peak within the SLO; ranked by $/month ("cost"), GPUs ("gpus") or served tokens/s per GPU
  ("throughput_per_gpu"); a total GPU budget and a $/month ceiling reject what exceeds them;
- a GPU budget and no traffic: each layout fills the budget (replicas = budget // (TP x PP)); ranked by the
  tokens/s all replicas serve within the SLO ("throughput"), so 4 x TP2 is weighed against 1 x TP8 per GPU.
One vectorised pass: the grid is evaluated as broadcast columns, the runnable configurations are gathered
into one flat batch and the serving model, goodput search and sizing run on it together.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from calculator.calibration import Calibration, default_calibration
from calculator.catalog import default_catalog, resolve_hardware, resolve_model
from calculator.cost import DEPLOYMENT_MODES, HOURS_PER_MONTH, CostAssumptions, token_costs
from calculator.deployment import InputError
from calculator.engine import BLOCKERS, Blocker, evaluate
from calculator.frameworks import CURRENT_FRAMEWORKS, resolve_framework
from calculator.grid import EntityTables, flatten_rows, parallel_tensor_batch
from calculator.planning.sizing import (
    BINDING,
    DEFAULT_MAX_UTILIZATION,
    GoodputColumns,
    binding_message,
    load_columns,
    slo_goodput,
)
from calculator.planning.slo import SLO, Traffic, resolve_slo, resolve_traffic
from calculator.precisions import PRECISIONS, kv_bytes_per_element, resolve_precision
from calculator.serving import ReplicaModel
from calculator.specs import Catalog

CAPACITY_OBJECTIVES = ("cost", "gpus", "throughput_per_gpu", "throughput")
"""cost: lowest $/month; gpus: fewest GPUs; throughput_per_gpu / throughput: most served output tokens/s per
GPU / in all (throughput is the default with a GPU budget and no traffic)."""
ENGINE_REJECTIONS = ("precision_unsupported", "context_too_long", "tp_heads", "does_not_fit", "no_kv_room")
PLAN_REJECTIONS = ("slo", "gpu_budget", "monthly_cost")
REJECTIONS = ENGINE_REJECTIONS + PLAN_REJECTIONS
"""Reasons a configuration is rejected, in the order each is attributed to its first one."""
DEFAULT_TENSOR_PARALLEL = (1, 2, 4, 8)
REJECTION_TEXT = {
    **{name: text for _, (name, text) in BLOCKERS.items()},
    "slo": "the SLO fails at any load",
    "gpu_budget": "over the GPU budget (4,096 GPUs without one)",
    "monthly_cost": "over the monthly budget",
}
"""How the notes name each rejection reason."""


@dataclass(frozen=True, kw_only=True)
class CapacityRequest:
    models: tuple[str, ...]
    hardware: tuple[str, ...]
    precisions: tuple[str, ...]
    frameworks: tuple[str, ...]
    tensor_parallel: tuple[int, ...] = DEFAULT_TENSOR_PARALLEL
    pipeline_parallel: tuple[int, ...] = (1,)
    prompt_tokens: int = 512
    output_tokens: int = 256
    traffic: Traffic | None = None
    slo: SLO = field(default_factory=SLO)
    deployment_mode: str = "cloud"
    max_gpus_per_replica: int | None = None
    max_total_gpus: int | None = None
    max_monthly_usd: float | None = None
    max_utilization: float = DEFAULT_MAX_UTILIZATION
    objective: str = "cost"
    top_k: int = 20

    @property
    def size(self) -> int:
        return (
            len(self.models)
            * len(self.hardware)
            * len(self.precisions)
            * len(self.frameworks)
            * len(self.tensor_parallel)
            * len(self.pipeline_parallel)
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["traffic"] = self.traffic.to_dict() if self.traffic else None
        out["slo"] = self.slo.to_dict()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _list(raw: dict[str, Any], name: str, default: Any) -> list[Any]:
    value = raw.get(name, default)
    if value is None:
        return list(default) if isinstance(default, (list, tuple)) else []
    if isinstance(value, (str, int, float)):
        return [value]
    return list(value)


def _names(
    raw: dict[str, Any], name: str, everything: list[str], resolve: Any, default: Any
) -> tuple[str, ...]:
    values = [str(v) for v in _list(raw, name, default)]
    if not values:
        raise InputError(name, "at least one name is required (or '*' for all)")
    if "*" in values:
        return tuple(everything)
    keys, unknown = [], []
    for value in values:
        try:
            keys.append(resolve(value).key)
        except (KeyError, ValueError):
            unknown.append(value)
    if unknown:
        raise InputError(name, f"unknown: {', '.join(unknown)}")
    return tuple(dict.fromkeys(keys))


def _whole(raw: dict[str, Any], name: str, default: Any, minimum: int = 1) -> Any:
    value = raw.get(name, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != int(value)
        or value < minimum
    ):
        raise InputError(name, f"must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


def resolve_capacity_request(raw: dict[str, Any], catalog: Catalog | None = None) -> CapacityRequest:
    """Validate a capacity question (JSON-like dict). Lists may be single values; "*" means the whole catalog
    (models must be named). Raises InputError naming the first offending field."""
    catalog = catalog or default_catalog()
    allowed = set(CapacityRequest.__dataclass_fields__) | {
        "model",
        "requests_per_s",
        "requests_per_hour",
        "peak_to_mean",
        "peak_requests_per_s",
    }
    extra = sorted(set(raw) - allowed)
    if extra:
        raise InputError(extra[0], "unknown field")
    if "model" in raw and "models" not in raw:
        raw = {**raw, "models": raw["model"]}
    models = _names(raw, "models", [], lambda n: resolve_model(n, catalog), [])
    hardware = _names(raw, "hardware", list(catalog.hardware), lambda n: resolve_hardware(n, catalog), ["*"])
    precisions = _names(raw, "precisions", list(PRECISIONS), resolve_precision, ["*"])
    frameworks = _names(raw, "frameworks", list(CURRENT_FRAMEWORKS), resolve_framework, ["*"])
    tps = tuple(
        dict.fromkeys(
            _whole({"tensor_parallel": v}, "tensor_parallel", None)
            for v in _list(raw, "tensor_parallel", DEFAULT_TENSOR_PARALLEL)
        )
    )
    pps = tuple(
        dict.fromkeys(
            _whole({"pipeline_parallel": v}, "pipeline_parallel", None)
            for v in _list(raw, "pipeline_parallel", (1,))
        )
    )
    if not tps:
        raise InputError("tensor_parallel", "at least one value is required")
    if not pps:
        raise InputError("pipeline_parallel", "at least one value is required")
    traffic = raw.get("traffic")
    if isinstance(traffic, Traffic):
        resolved_traffic: Traffic | None = traffic
    else:
        source = traffic if isinstance(traffic, dict) else raw
        resolved_traffic = resolve_traffic(
            requests_per_s=source.get("requests_per_s"),
            requests_per_hour=source.get("requests_per_hour"),
            peak_to_mean=source.get("peak_to_mean"),
            peak_requests_per_s=source.get("peak_requests_per_s"),
        )
    slo = resolve_slo(raw.get("slo"))
    mode = str(raw.get("deployment_mode", "cloud"))
    if mode not in DEPLOYMENT_MODES:
        raise InputError("deployment_mode", f"must be one of {', '.join(DEPLOYMENT_MODES)}, got {mode!r}")
    max_total = _whole(raw, "max_total_gpus", None)
    if resolved_traffic is None and max_total is None:
        raise InputError(
            "requests_per_s",
            "give the traffic (requests_per_s or requests_per_hour) or a GPU budget (max_total_gpus)",
        )
    objective = raw.get("objective") or ("cost" if resolved_traffic is not None else "throughput")
    if objective not in CAPACITY_OBJECTIVES:
        raise InputError("objective", f"must be one of {', '.join(CAPACITY_OBJECTIVES)}, got {objective!r}")
    if objective in ("cost", "gpus") and resolved_traffic is None:
        raise InputError(
            "objective",
            f"{objective!r} needs a traffic to size for; with a GPU budget alone rank by throughput",
        )
    utilization = raw.get("max_utilization", DEFAULT_MAX_UTILIZATION)
    if isinstance(utilization, bool) or not isinstance(utilization, (int, float)) or not 0 < utilization <= 1:
        raise InputError("max_utilization", f"must be in (0, 1], got {utilization!r}")
    monthly = raw.get("max_monthly_usd")
    if monthly is not None and (
        isinstance(monthly, bool)
        or not isinstance(monthly, (int, float))
        or not math.isfinite(monthly)
        or monthly <= 0
    ):
        raise InputError("max_monthly_usd", f"must be a number above 0, got {monthly!r}")
    prompt = _whole(raw, "prompt_tokens", 512)
    output = _whole(raw, "output_tokens", 256)
    return CapacityRequest(
        models=models,
        hardware=hardware,
        precisions=precisions,
        frameworks=frameworks,
        tensor_parallel=tps,
        pipeline_parallel=pps,
        prompt_tokens=prompt,
        output_tokens=output,
        traffic=resolved_traffic,
        slo=slo,
        deployment_mode=mode,
        max_gpus_per_replica=_whole(raw, "max_gpus_per_replica", None),
        max_total_gpus=max_total,
        max_monthly_usd=None if monthly is None else float(monthly),
        max_utilization=float(utilization),
        objective=objective,
        top_k=_whole(raw, "top_k", 20),
    )


@dataclass(frozen=True, kw_only=True)
class CapacityOption:
    """One sized deployment: a configuration and the replicas it needs (or that fill the budget)."""

    rank: int
    model: str
    hardware: str
    precision: str
    framework: str
    tensor_parallel: int
    pipeline_parallel: int
    replicas: int
    gpus_per_replica: int
    gpus: int
    price_missing: bool
    hourly_usd: float | None
    monthly_usd: float | None
    cost_per_million_output_tokens_usd: float | None
    """All the replicas' cost over the output tokens served."""
    prefill_share: float
    """Share of a request's device time in its prompt at each replica's operating point
    (serving.ReplicaModel.prefill_share)."""
    prefill_cost_per_million_input_tokens_usd: float | None
    """The prompt's share of a request's cost over the prompt tokens (cost.token_costs)."""
    decode_cost_per_million_output_tokens_usd: float | None
    """The output tokens' share of a request's cost over the output tokens."""
    blended_cost_per_million_tokens_usd: float | None
    """All the replicas' cost over prompt + output tokens."""
    output_tokens_per_s: float
    """What all replicas can serve within the SLO: replicas x goodput x output tokens (at least the traffic's
    peak when a traffic is sized); $/1M output tokens is at the traffic's mean (or this, with a budget)."""
    output_tokens_per_s_per_gpu: float
    capacity_rps_per_replica: float
    goodput_rps_per_replica: float
    requests_per_s_per_replica: float
    batch: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    tpot_p50_ms: float
    tpot_p99_ms: float
    e2e_p99_s: float
    utilization: float
    headroom: float | None
    binding_constraint: str
    binding_message: str
    memory_utilization: float

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


@dataclass(frozen=True, kw_only=True)
class CapacityPlan:
    request: CapacityRequest
    evaluated: int
    feasible: int
    rejected: dict[str, int]
    options: tuple[CapacityOption, ...]
    closest: dict[str, Any] | None
    """When nothing meets the SLO: the configuration closest to it, its first failing bound and how far."""
    notes: tuple[str, ...]
    calibration: str = "shipped"
    """The calibration the figures come from (its meta source: the shipped file, or "team:<name>")."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "request": self.request.to_dict(),
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "rejected": dict(self.rejected),
            "options": [o.to_dict() for o in self.options],
            "closest": self.closest,
            "notes": list(self.notes),
        }


def plan_capacity(
    request: CapacityRequest,
    *,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    goodput_memo: dict[Any, GoodputColumns] | None = None,
) -> CapacityPlan:
    """The configurations of `request` that carry its traffic within its SLO, cheapest (or by the objective)
    first. `goodput_memo`: a dict the caller keeps across calls that differ only in their traffic (a
    break-even's levels): each configuration's SLO goodput is computed once per catalog, calibration and
    grid, as it does not depend on the traffic."""
    catalog = catalog or default_catalog()
    pairs = [
        (tp, pp)
        for tp in request.tensor_parallel
        for pp in request.pipeline_parallel
        if request.max_gpus_per_replica is None or tp * pp <= request.max_gpus_per_replica
    ]
    rejected = dict.fromkeys(REJECTIONS, 0)
    rejected["gpu_budget"] = (
        request.size
        // max(len(request.tensor_parallel) * len(request.pipeline_parallel), 1)
        * (len(request.tensor_parallel) * len(request.pipeline_parallel) - len(pairs))
    )
    empty = CapacityPlan(
        request=request,
        evaluated=request.size,
        feasible=0,
        rejected=rejected,
        options=(),
        closest=None,
        notes=(),
    )
    if not pairs:
        return empty
    tables = EntityTables(
        models=[catalog.models[k] for k in request.models],
        hardware=[catalog.hardware[k] for k in request.hardware],
        precisions=[resolve_precision(k) for k in request.precisions],
        frameworks=[resolve_framework(k) for k in request.frameworks],
    )
    batch = parallel_tensor_batch(
        tables,
        tensor_parallel=[tp for tp, _ in pairs],
        pipeline_parallel=[pp for _, pp in pairs],
        batch_sizes=[0],
        kv_bytes_per_element=[kv_bytes_per_element(None, p) for p in tables.precisions],
        deployment_modes=[request.deployment_mode],
        prompt_tokens=request.prompt_tokens,
        output_tokens=request.output_tokens,
        calibration=calibration,
    )
    shape = (
        len(tables.models),
        len(tables.hardware),
        len(tables.precisions),
        len(tables.frameworks),
        len(pairs),
        1,
        1,
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        results = evaluate(batch, assumptions)
    blockers = np.broadcast_to(results.blockers, shape).reshape(-1)
    remaining = np.ones(blockers.shape, dtype=bool)
    for reason in ENGINE_REJECTIONS:
        hit = remaining & ((blockers & Blocker.of(reason)) != 0)
        rejected[reason] += int(np.count_nonzero(hit))
        remaining &= ~hit
    index = np.flatnonzero(remaining)
    if index.size == 0:
        return replace_plan(empty, rejected, notes=("No configuration of the grid can run this model.",))

    def flat(value: Any) -> np.ndarray:
        return np.broadcast_to(value, shape).reshape(-1)[index]

    rows = flatten_rows(batch, shape, index)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        replica = ReplicaModel(rows, flat(results.max_batch_size))
        traffic = request.traffic
        group = rows.workload.tensor_parallel * rows.workload.pipeline_parallel
        goodput = None
        if goodput_memo is not None:
            key = (replace(request, traffic=None, top_k=0), id(catalog), id(calibration), assumptions)
            goodput = goodput_memo.get(key)
            if goodput is None:
                goodput = goodput_memo[key] = slo_goodput(replica, request.slo, request.max_utilization)
        load = load_columns(
            replica,
            request.slo,
            gpus_per_replica=group,
            mean_rps=traffic.requests_per_s if traffic else 0.0,
            peak_rps=traffic.peak_rps if traffic else 0.0,
            budget_gpus=request.max_total_gpus,
            max_utilization=request.max_utilization,
            goodput=goodput,
        )
        g, point, replicas, gpus = load.goodput, load.point, load.replicas, load.gpus
        share = point.requests_per_s
        headroom = np.where(load.served_rps > 0, load.slo_capacity_rps / load.served_rps - 1.0, np.nan)
        hourly_replica = flat(results.cost.hourly_usd)
        price_missing = flat(results.cost.price_missing).astype(bool)
        hourly = np.where(price_missing, np.inf, hourly_replica * replicas)
        monthly = hourly * HOURS_PER_MONTH
        served_tps = load.served_rps * request.output_tokens
        output_tps = load.slo_capacity_rps * request.output_tokens
        per_million = np.where(served_tps > 0, hourly / (3600.0 * served_tps) * 1e6, np.inf)
        per_gpu = np.where(gpus > 0, output_tps / np.maximum(gpus, 1.0), 0.0)

    ok = load.within_slo
    failing_slo = ~ok
    rejected["slo"] = int(np.count_nonzero(failing_slo))
    over_budget = ok & ~load.within_budget
    rejected["gpu_budget"] += int(np.count_nonzero(over_budget))
    over_cost = ok & ~over_budget
    if request.max_monthly_usd is not None:
        over_cost &= ~(monthly <= request.max_monthly_usd)
    else:
        over_cost &= False
    rejected["monthly_cost"] = int(np.count_nonzero(over_cost))
    feasible = ok & ~over_budget & ~over_cost

    objective = request.objective
    if objective == "cost":
        keys = (gpus, monthly)
    elif objective == "gpus":
        keys = (monthly, gpus)
    elif objective == "throughput_per_gpu":
        keys = (monthly, -per_gpu)
    else:
        keys = (monthly, -output_tps)
    order_all = np.lexsort((point.utilization, *keys))  # ties: the replica with more headroom first
    order = order_all[feasible[order_all]]
    chosen = order[: request.top_k]

    names = (request.models, request.hardware, request.precisions, request.frameworks)
    coords = np.unravel_index(index[chosen], shape)

    def usd(value: float, missing: bool) -> float | None:
        return None if missing or not math.isfinite(value) else float(value)

    memory = flat(results.memory_utilization)
    # The phase split of the chosen rows' cost, at each one's operating point (cost.token_costs).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        prefill = replica.prefill_share(point.concurrency)[chosen]
        split = token_costs(
            cost_per_request_usd=per_million[chosen] * request.output_tokens / 1e6,
            prefill_share=prefill,
            prompt_tokens=np.float64(request.prompt_tokens),
            output_tokens=np.float64(request.output_tokens),
        )
    options = []
    for rank, (i, *where) in enumerate(zip(chosen, *coords[:5], strict=True), 1):
        j = rank - 1
        m, h, p, f, par = (int(x) for x in where)
        tp, pp = pairs[par]
        code = int(g.binding[i])
        missing = bool(price_missing[i])
        options.append(
            CapacityOption(
                rank=rank,
                model=names[0][m],
                hardware=names[1][h],
                precision=names[2][p],
                framework=names[3][f],
                tensor_parallel=tp,
                pipeline_parallel=pp,
                replicas=int(replicas[i]),
                gpus_per_replica=tp * pp,
                gpus=int(gpus[i]),
                price_missing=missing,
                hourly_usd=usd(hourly[i], missing),
                monthly_usd=usd(monthly[i], missing),
                cost_per_million_output_tokens_usd=usd(per_million[i], missing),
                prefill_share=float(prefill[j]),
                prefill_cost_per_million_input_tokens_usd=usd(
                    split.prefill_cost_per_million_input_tokens_usd[j], missing
                ),
                decode_cost_per_million_output_tokens_usd=usd(
                    split.decode_cost_per_million_output_tokens_usd[j], missing
                ),
                blended_cost_per_million_tokens_usd=usd(
                    split.blended_cost_per_million_tokens_usd[j], missing
                ),
                output_tokens_per_s=float(output_tps[i]),
                output_tokens_per_s_per_gpu=float(per_gpu[i]),
                capacity_rps_per_replica=float(g.capacity_rps[i]),
                goodput_rps_per_replica=float(g.goodput_rps[i]),
                requests_per_s_per_replica=float(share[i]),
                batch=float(point.concurrency[i]),
                ttft_p50_ms=float(point.ttft_p50_s[i]) * 1e3,
                ttft_p99_ms=float(point.ttft_p99_s[i]) * 1e3,
                tpot_p50_ms=float(point.tpot_s[i]) * 1e3,
                tpot_p99_ms=float(point.tpot_p99_s[i]) * 1e3,
                e2e_p99_s=float(point.e2e_p99_s[i]),
                utilization=float(point.utilization[i]),
                headroom=float(headroom[i]) if traffic is not None else None,
                binding_constraint=BINDING[code],
                binding_message=binding_message(code, float(g.goodput_rps[i]), request.slo),
                memory_utilization=float(memory[i]),
            )
        )
    closest = None
    if not np.any(feasible) and np.any(failing_slo):
        closest = _closest_miss(request, g, failing_slo, index, shape, names, pairs)
    notes = _notes(request, rejected, int(np.count_nonzero(feasible)), closest)
    return CapacityPlan(
        request=request,
        evaluated=request.size,
        feasible=int(np.count_nonzero(feasible)),
        rejected=rejected,
        options=tuple(options),
        closest=closest,
        notes=tuple(notes),
        calibration=str((calibration or default_calibration()).meta.get("source", "priors")),
    )


def replace_plan(plan: CapacityPlan, rejected: dict[str, int], *, notes: tuple[str, ...]) -> CapacityPlan:
    return CapacityPlan(
        request=plan.request,
        evaluated=plan.evaluated,
        feasible=0,
        rejected=rejected,
        options=(),
        closest=None,
        notes=notes,
        calibration=plan.calibration,
    )


def _closest_miss(
    request: CapacityRequest,
    g: Any,
    failing: np.ndarray,
    index: np.ndarray,
    shape: tuple[int, ...],
    names: tuple[tuple[str, ...], ...],
    pairs: list[tuple[int, int]],
) -> dict[str, Any]:
    """The configuration whose first failing bound is the least over (value / limit at the lightest load)."""
    from calculator.planning.slo import SLO_TERMS

    ratio = np.full(failing.shape, np.inf)
    for term in SLO_TERMS:
        limit = getattr(request.slo, term.name)
        if limit is None:
            continue
        code = BINDING.index(term.name)
        value = getattr(g.idle, term.column) / term.to_seconds
        ratio = np.where(failing & (g.first_failure == code), value / limit, ratio)
    i = int(np.argmin(ratio))
    first = BINDING[int(g.first_failure[i])]
    term = next(t for t in SLO_TERMS if t.name == first)
    value = float(getattr(g.idle, term.column)[i]) / term.to_seconds
    m, h, p, f, par = (int(x) for x in np.unravel_index(index[i], shape)[:5])
    tp, pp = pairs[par]
    limit = float(getattr(request.slo, first))
    return {
        "model": names[0][m],
        "hardware": names[1][h],
        "precision": names[2][p],
        "framework": names[3][f],
        "tensor_parallel": tp,
        "pipeline_parallel": pp,
        "constraint": first,
        "value": value,
        "limit": limit,
        "ratio": value / limit,
        "message": (
            f"{term.label} fails first: {value:,.4g} {term.unit} at the lightest load on the closest "
            "configuration "
            f"({names[0][m]} {names[2][p]} on {names[1][h]} TP{tp}"
            + (f" x PP{pp}" if pp > 1 else "")
            + f", {names[3][f]}), {value / limit:.2f}x the SLO's {limit:,g} {term.unit}"
        ),
    }


def _notes(
    request: CapacityRequest, rejected: dict[str, int], feasible: int, closest: dict[str, Any] | None
) -> list[str]:
    notes = []
    counts = Counter({k: v for k, v in rejected.items() if v})
    if counts:
        parts = ", ".join(f"{REJECTION_TEXT[k]} {v:,}" for k, v in counts.most_common())
        notes.append(
            f"{feasible:,} of {request.size:,} configurations meet every requirement; rejected: {parts}."
        )
    if closest:
        notes.append(f"No configuration meets the SLO. {closest['message']}.")
    return notes
