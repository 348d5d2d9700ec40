"""The comparison request: `resolve_spec` validates a JSON-like dict into a `ComparisonSpec`.

Feasibility: a configuration is infeasible when the engine sets a blocker bit (`engine.BLOCKERS`), when
tensor_parallel does not divide num_gpus ("gpu_count"; such pairs are not evaluated), or when it misses a
constraint ("ttft", "tpot", "monthly_cost", "throughput"). It is counted once, under its first reason in
`REASONS` order.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from calculator.catalog import default_catalog, resolve_hardware, resolve_model
from calculator.cost import DEPLOYMENT_MODES
from calculator.deployment import InputError
from calculator.engine import BLOCKERS
from calculator.frameworks import CURRENT_FRAMEWORKS, FRAMEWORKS, framework_for_version, resolve_framework
from calculator.planning.objectives import CONSTRAINT_REASONS, CONSTRAINTS, OBJECTIVES, SIZED_OBJECTIVES
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION
from calculator.planning.slo import resolve_slo
from calculator.precisions import PRECISIONS, resolve_precision
from calculator.specs import Catalog

_ENGINE_ORDER = ("gpu_count", "precision_unsupported", "context_too_long", "tp_heads", "no_kv_room")
_BLOCKER_NAMES = [name for _, (name, _) in sorted(BLOCKERS.items())]
ENGINE_REASONS = tuple(
    [n for n in _ENGINE_ORDER if n in _BLOCKER_NAMES or n == "gpu_count"]
    + [n for n in _BLOCKER_NAMES if n not in _ENGINE_ORDER]
)
LOAD_REASONS = ("slo", "gpu_budget")
"""A sized comparison's own reasons: the SLO fails at any load; the replicas exceed the GPU budget."""
REASONS = ENGINE_REASONS + LOAD_REASONS + CONSTRAINT_REASONS
"""Infeasibility reasons in the order a configuration is attributed to its first one."""

MAX_CONFIGURATIONS = 5_000_000


class ComparisonError(ValueError):
    """An invalid comparison request; `detail` maps each offending field to what is wrong with it
    (for names: the list of unknown names, e.g. {"models": ["llama-99b"]})."""

    def __init__(self, message: str, detail: dict[str, Any]):
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True, kw_only=True)
class ComparisonSpec:
    """A validated comparison request (build it with `resolve_spec`). Names are catalog keys.

    num_gpus empty means one replica of tensor_parallel x pipeline_parallel GPUs per pair; otherwise every
    (tensor_parallel, num_gpus) pair is a configuration with pipeline_parallel = num_gpus / tp, and pairs
    where tp does not divide num_gpus count as infeasible ("gpu_count"). batch_size 0 = "auto", the largest
    batch that fits (and the scheduler allows).

    Sized comparisons (`sized`: an SLO, a GPU budget or a per-deployment objective, gpus or
    throughput_per_gpu, is given) evaluate each configuration at the load
    it would carry (planning/sizing.py): with a traffic (requests_per_hour x peak_to_mean at peak) the
    replicas it needs within the SLO, without one the rate one replica sustains within it, and with a GPU
    budget (max_total_gpus) and no traffic the replicas that fill the budget. Rows then report that
    operating point (TTFT and TPOT p50 and p99, the batch in flight, utilisation), num_gpus counts every
    replica and costs bill them all (per token at the traffic served), output_tokens_per_s is what the
    replicas can serve within the SLO; the serving model picks the batch, so batch_sizes must be "auto";
    a traffic needing more than sizing.DEFAULT_MAX_TOTAL_GPUS without a budget is "gpu_budget".
    """

    models: tuple[str, ...]
    hardware: tuple[str, ...]
    precisions: tuple[str, ...]
    frameworks: tuple[str, ...]
    """Framework entries, each release of `framework_versions` already mapped to its engine era's entry."""
    tensor_parallel: tuple[int, ...] = (1,)
    pipeline_parallel: tuple[int, ...] = (1,)
    num_gpus: tuple[int, ...] = ()
    batch_sizes: tuple[int, ...] = (0,)
    deployment_modes: tuple[str, ...] = ("cloud",)
    prompt_tokens: int = 512
    output_tokens: int = 256
    requests_per_hour: float = 0.0
    peak_to_mean: float = 1.0
    slo: dict[str, float] = field(default_factory=dict)
    """SLO bounds (planning.slo.SLO fields); any bound makes the comparison sized."""
    max_total_gpus: int | None = None
    max_utilization: float = DEFAULT_MAX_UTILIZATION
    max_ttft_ms: float | None = None
    max_tpot_ms: float | None = None
    max_monthly_cost_usd: float | None = None
    min_output_tokens_per_s: float | None = None
    objective: str = "cost"
    top_k: int = 100
    framework_versions: dict[str, str] = field(default_factory=dict)
    """Release per framework (vllm: "0.5.4"): its engine era replaces the framework in `frameworks`
    (frameworks.framework_for_version); absent: the newest era."""

    @property
    def sized(self) -> bool:
        """Configurations are evaluated at the load they would carry (an SLO or a GPU budget is given)."""
        return bool(self.slo) or self.max_total_gpus is not None or self.objective in SIZED_OBJECTIVES

    @property
    def gpu_axis(self) -> tuple[int, ...]:
        """The num_gpus values crossed with tensor_parallel (tensor_parallel itself when num_gpus is
        empty)."""
        return self.num_gpus or (0,)

    @property
    def parallel_pairs(self) -> tuple[tuple[int, int, int], ...]:
        """The valid (tensor_parallel, pipeline_parallel, num_gpus) combinations, in spec order."""
        if not self.num_gpus:
            return tuple((tp, pp, tp * pp) for tp in self.tensor_parallel for pp in self.pipeline_parallel)
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
            * len(self.pipeline_parallel)
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
        return {c.name: getattr(self, c.name) for c in CONSTRAINTS if getattr(self, c.name) is not None}

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


MAX_INTEGER_VALUE = {
    "tensor_parallel": 1024,
    "pipeline_parallel": 1024,
    "num_gpus": 65_536,
    "batch_sizes": 1_000_000,
}
"""Upper bounds of the grid's integer axes (far beyond any deployment; stored as database integers)."""
MAX_NAME_SHOWN = 200
"""An unknown name is echoed in the error at most this long."""


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _names(
    raw: dict[str, Any], name: str, everything: Sequence[str], resolve: Any, errors: dict[str, Any]
) -> tuple[str, ...]:
    values = _as_list(raw.get(name))
    if not values:
        errors[name] = "at least one name is required (or '*' for all)"
        return ()
    keys, unknown = [], []
    for value in values:
        if value == "*":
            continue
        try:
            keys.append(resolve(str(value)).key)
        except (KeyError, ValueError):
            unknown.append(str(value)[:MAX_NAME_SHOWN])
    # A name beside "*" is still checked: it would otherwise be stored with the request unseen.
    if unknown:
        errors[name] = unknown
    if "*" in values:
        return tuple(everything)
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
        if value > MAX_INTEGER_VALUE[name]:
            errors[name] = f"must be at most {MAX_INTEGER_VALUE[name]:,}, got {value!r}"
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


def _framework_eras(
    raw: Any, frameworks: tuple[str, ...], errors: dict[str, Any]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """(frameworks with each given release's engine era in place of the framework, the releases by
    framework key). A release must name a framework of the grid (or the era entry it already maps to)."""
    if raw in (None, {}):
        return frameworks, {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in raw.items()
    ):
        errors["framework_versions"] = 'a mapping of framework to release, e.g. {"vllm": "0.5.4"}'
        return frameworks, {}
    versions: dict[str, str] = {}
    for name, release in raw.items():
        try:
            framework = resolve_framework(name)
        except KeyError:
            errors.setdefault("framework_versions", []).append(name[:MAX_NAME_SHOWN])
            continue
        era = framework_for_version(framework, release.strip())
        if framework.key not in frameworks and era.key not in frameworks:
            errors.setdefault("framework_versions", []).append(
                f"{name[:MAX_NAME_SHOWN]} is not among the grid's frameworks"
            )
            continue
        versions[framework.key] = release.strip()
    mapped = [
        framework_for_version(FRAMEWORKS[key], versions[key]).key if key in versions else key
        for key in frameworks
    ]
    return tuple(_unique(mapped)), versions


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
    allowed = {f.name for f in fields(ComparisonSpec)} | {"requests_per_s"}
    extra = sorted(set(raw) - allowed)
    if extra:
        errors["unknown_fields"] = extra
    models = _names(raw, "models", list(catalog.models), lambda n: resolve_model(n, catalog), errors)
    hardware = _names(raw, "hardware", list(catalog.hardware), lambda n: resolve_hardware(n, catalog), errors)
    precisions = _names(raw, "precisions", list(PRECISIONS), resolve_precision, errors)
    frameworks = _names(raw, "frameworks", list(CURRENT_FRAMEWORKS), resolve_framework, errors)
    frameworks, framework_versions = _framework_eras(raw.get("framework_versions"), frameworks, errors)
    modes_raw = [str(m).strip().lower() for m in _as_list(raw.get("deployment_modes", ["cloud"]))]
    unknown_modes = [m[:MAX_NAME_SHOWN] for m in _unique(modes_raw) if m != "*" and m not in DEPLOYMENT_MODES]
    modes = tuple(DEPLOYMENT_MODES) if "*" in modes_raw else tuple(_unique(modes_raw))
    if unknown_modes:
        errors["deployment_modes"] = unknown_modes
    elif not modes:
        errors["deployment_modes"] = "at least one of local, cloud, edge is required"
    tensor_parallel = _integers(raw, "tensor_parallel", [1], 1, errors)
    pipeline_parallel = _integers(raw, "pipeline_parallel", [1], 1, errors)
    num_gpus = _integers(raw, "num_gpus", [], 1, errors)
    if num_gpus and pipeline_parallel not in ((), (1,)):
        errors["pipeline_parallel"] = "with num_gpus the pipeline stages are num_gpus / tensor_parallel"
    batch_sizes = _integers(raw, "batch_sizes", [0], 0, errors)
    values = {
        "prompt_tokens": _number(raw, "prompt_tokens", 512, errors, positive=True, whole=True),
        "output_tokens": _number(raw, "output_tokens", 256, errors, positive=True, whole=True),
        "requests_per_hour": _number(raw, "requests_per_hour", 0.0, errors, positive=False),
        "peak_to_mean": _number(raw, "peak_to_mean", 1.0, errors, positive=True),
        "max_total_gpus": _number(raw, "max_total_gpus", None, errors, positive=True, whole=True),
        "max_utilization": _number(raw, "max_utilization", DEFAULT_MAX_UTILIZATION, errors, positive=True),
        "top_k": _number(raw, "top_k", 100, errors, positive=True, whole=True),
    }
    per_second = _number(raw, "requests_per_s", None, errors, positive=False)
    if per_second is not None:
        if raw.get("requests_per_hour") not in (None, 0) and not math.isclose(
            per_second * 3600.0, values["requests_per_hour"] or 0.0, rel_tol=1e-6
        ):
            errors["requests_per_s"] = "give requests_per_s or requests_per_hour, not two different rates"
        values["requests_per_hour"] = per_second * 3600.0
    if values["peak_to_mean"] is not None and values["peak_to_mean"] < 1.0:
        errors["peak_to_mean"] = (
            f"must be at least 1 (the peak is never below the mean), got {raw['peak_to_mean']!r}"
        )
    if values["max_utilization"] is not None and values["max_utilization"] > 1.0:
        errors["max_utilization"] = f"must be in (0, 1], got {raw['max_utilization']!r}"
    slo: dict[str, float] = {}
    try:
        slo = resolve_slo(raw.get("slo")).to_dict()
    except InputError as error:
        errors[error.field] = error.message
    sized = bool(slo) or values["max_total_gpus"] is not None or raw.get("objective") in SIZED_OBJECTIVES
    if sized and batch_sizes not in ((), (0,)):
        errors["batch_sizes"] = (
            "with an SLO, a GPU budget or a per-deployment objective the serving model picks the batch: "
            'leave batch_sizes out or "auto"'
        )
    if values["max_total_gpus"] is not None and num_gpus:
        errors["num_gpus"] = (
            "with max_total_gpus each layout fills the budget with replicas: leave num_gpus out"
        )
    for constraint in CONSTRAINTS:
        values[constraint.name] = _number(raw, constraint.name, None, errors, positive=True)
    objective = raw.get("objective", "cost")
    if objective not in OBJECTIVES:
        errors["objective"] = f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
    elif objective == "gpus" and not values["requests_per_hour"] and values["max_total_gpus"] is None:
        errors["objective"] = (
            "'gpus' ranks the GPUs a traffic needs: give requests_per_hour (or a GPU budget)"
        )
    if errors:
        raise ComparisonError(f"invalid comparison: {', '.join(errors)}", errors)
    spec = ComparisonSpec(
        models=models,
        hardware=hardware,
        precisions=precisions,
        frameworks=frameworks,
        tensor_parallel=tensor_parallel,
        pipeline_parallel=pipeline_parallel,
        num_gpus=num_gpus,
        batch_sizes=batch_sizes,
        slo=slo,
        deployment_modes=modes,
        objective=objective,
        framework_versions=framework_versions,
        **values,
    )
    if spec.size > max_configurations:
        raise ComparisonError(
            f"the comparison has {spec.size:,} configurations, over the limit of {max_configurations:,}",
            {"size": spec.size, "max_configurations": max_configurations},
        )
    return spec
