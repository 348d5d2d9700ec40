"""The typed single-configuration API: `estimate(model, hardware, ...) -> Estimate`.

It resolves the inputs, evaluates them through the same vectorised engine as the comparisons (length-1
arrays), adds the offline max-throughput point, online serving when a rate, a concurrency or a burst is
given, the compatibility verdict, the score and each metric's validated error band. Recommendations are the
planning layer's (`calculator.planning.advice`): it composes estimates, estimates do not call back into it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

from calculator.calibration import Calibration, default_calibration
from calculator.columns import hardware_class
from calculator.cost import CostAssumptions
from calculator.deployment import Deployment, deployments_batch, resolve_deployment
from calculator.engine import BLOCKERS, Blocker, ResultColumns, evaluate
from calculator.frameworks import framework_era
from calculator.grid import compat_reasons
from calculator.serving import burst_operating_point, online_operating_point
from calculator.specs import Catalog

ENGINE_VERSION = "0.1.0"
GIB = 2**30
TIGHT_UTILIZATION = 0.9
METRICS = (
    "decode_tokens_per_s_per_user",
    "prefill_tokens_per_s",
    "output_tokens_per_s_total",
    "ttft_ms",
    "tpot_ms",
    "weights_gib",
    "kv_cache_gib",
    "online_ttft_ms",
    "online_tpot_ms",
    "online_output_tokens_per_s_total",
)


@dataclass(frozen=True, kw_only=True)
class MemoryEstimate:
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    overhead_bytes: float
    total_bytes: float
    capacity_bytes: float
    device_memory_bytes: float
    kv_pool_bytes: float
    kv_pool_tokens: float
    kv_bytes_per_token: float
    utilization: float
    fits: bool
    status: str
    """"fits", "tight" (over 90% of the device) or "does_not_fit"."""
    max_batch_size: int
    max_context_tokens: int


@dataclass(frozen=True, kw_only=True)
class PerformanceEstimate:
    batch_size: int
    ttft_s: float
    prefill_s: float
    tpot_s: float
    e2e_latency_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s_per_user: float
    output_tokens_per_s: float
    requests_per_s: float
    roofline_decode_tokens_per_s_per_user: float
    """Physics limit for one stream: aggregate bandwidth / bytes read per token; no estimate may exceed it."""


@dataclass(frozen=True, kw_only=True)
class OnlineEstimate:
    mode: str
    """"rate" (open loop), "concurrency" (closed loop) or "burst" (requests sent at once)."""
    request_rate_per_s: float
    """Served by the whole deployment (all replicas); the capacity when saturated."""
    offered_rate_per_s: float | None
    replicas: int
    concurrency: float
    """In flight on each replica."""
    ttft_p50_s: float
    ttft_p99_s: float
    ttft_mean_s: float
    tpot_s: float
    tpot_p99_s: float
    e2e_latency_s: float
    e2e_p99_s: float
    output_tokens_per_s: float
    """All replicas together."""
    capacity_requests_per_s: float | None
    """What one replica sustains at saturation (None for a burst)."""
    utilization: float | None
    saturated: bool
    """Open loop: the offered rate exceeds the capacity, the queue grows without bound (latencies None)."""


@dataclass(frozen=True, kw_only=True)
class CostEstimate:
    """The deployment as specified (every GPU of its replicas), unit costs at its batch's throughput. Figures
    are None (NaN inside the engine) when the catalog has no price (`price_missing`) or the deployment cannot
    run (`blocked`): neither is ever $0. The replicas a traffic needs, and their cost, are the sizing's.

    Per-token figures (cost.py): `cost_per_million_tokens_usd` and `cost_per_1k_tokens_usd` put ALL the device
    time on the output tokens (their meaning since the first release); the split prices the tokens as hosted
    APIs do, each phase's share of the batch cycle's device time over its own tokens:
        prefill_cost_per_million_input_tokens_usd  = $/request x prefill_share / prompt tokens x 1e6
        decode_cost_per_million_output_tokens_usd  = $/request x (1 - prefill_share) / output tokens x 1e6
        blended_cost_per_million_tokens_usd        = $/request / (prompt + output tokens) x 1e6
    prefill_share = prefill_device_s / (prefill_device_s + decode_device_s), the batch's prefill against its
    (output - 1) decode steps (engine.evaluate)."""

    hourly_usd: float
    energy_hourly_usd: float
    monthly_usd: float
    cost_per_request_usd: float
    power_cost_per_request_usd: float
    cost_per_1k_tokens_usd: float
    """All device time over the output tokens, per 1,000."""
    cost_per_million_tokens_usd: float
    """All device time over the output tokens, per 1M (what the score and the comparisons rank by)."""
    prefill_cost_per_million_input_tokens_usd: float
    """The prompt's share of the cost over the prompt tokens (None without prompt tokens)."""
    decode_cost_per_million_output_tokens_usd: float
    """The output tokens' share of the cost over the output tokens (None without output tokens)."""
    blended_cost_per_million_tokens_usd: float
    """All device time over prompt + output tokens."""
    prefill_share: float
    """Share of the batch cycle's device time in prefill (not a price: given without a price too)."""
    prefill_device_s: float
    """Device time of the batch's prefill (TTFT less any network round trip)."""
    decode_device_s: float
    """Device time of the batch's decode steps: (output - 1) x TPOT."""
    replicas: int
    gpus: int
    price_missing: bool
    blocked: bool
    price_source: str


@dataclass(frozen=True, kw_only=True)
class Finding:
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    text: str
    changes: dict[str, Any]
    figures: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class Estimate:
    inputs: dict[str, Any]
    memory: MemoryEstimate
    performance: PerformanceEstimate
    max_throughput: PerformanceEstimate
    online: OnlineEstimate | None
    cost: CostEstimate
    blockers: list[Finding]
    warnings: list[Finding]
    performance_score: float
    recommendations: list[Recommendation]
    error_bands: dict[str, float | None]
    """Median absolute error of each metric, cross-validated, for this framework family and hardware class."""
    calibrated: bool
    parameter_sources: dict[str, str] = field(default_factory=dict)
    """Calibration entry behind each efficiency parameter ("llama.cpp/consumer_gpu", "*/datacenter_gpu", ...)
    or "prior" where no measurement constrains it and the roofline physics stands alone."""
    assumptions: dict[str, Any] = field(default_factory=dict)
    engine_version: str = ENGINE_VERSION

    @property
    def feasible(self) -> bool:
        return not self.blockers

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: nested dataclasses as dicts, non-finite floats as None. What dataclasses.asdict
        gives, without its deep copy of every leaf (the leaves are numbers and strings): an estimate is
        converted on every API call."""
        return _plain(self)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(results: ResultColumns, i: int) -> dict[str, float]:
    return {name: float(getattr(results, name)[i]) for name in results.__dataclass_fields__ if name != "cost"}


def _performance(r: dict[str, float]) -> PerformanceEstimate:
    return PerformanceEstimate(
        batch_size=int(r["batch_size"]),
        ttft_s=r["ttft_s"],
        prefill_s=r["prefill_s"],
        tpot_s=r["tpot_s"],
        e2e_latency_s=r["e2e_latency_s"],
        prefill_tokens_per_s=r["prefill_tokens_per_s"],
        decode_tokens_per_s_per_user=r["decode_tokens_per_s_per_user"],
        output_tokens_per_s=r["output_tokens_per_s"],
        requests_per_s=r["requests_per_s"],
        roofline_decode_tokens_per_s_per_user=r["roofline_tokens_per_s_per_user"],
    )


def performance_score(
    *, fits: bool, utilization: float, decode_tokens_per_s_per_user: float, cost_per_million_tokens_usd: float
) -> float:
    """0-100 score = 100 x (0.4 memory + 0.4 speed + 0.2 cost), 0 when the deployment cannot run.

    memory = 1 up to 80% utilisation, falling linearly to 0 at 100%;
    speed  = log-scaled per-user decode speed: 5 tokens/s -> 0, 100 tokens/s -> 1 (reading speed is ~5-10);
    cost   = log-scaled cost per 1M output tokens: $100 -> 0, $0.10 -> 1.
    """
    if not fits:
        return 0.0
    memory = float(np.clip((1.0 - utilization) / 0.2, 0.0, 1.0))
    speed = float(
        np.clip(math.log10(max(decode_tokens_per_s_per_user, 1e-9) / 5.0) / math.log10(20.0), 0.0, 1.0)
    )
    if math.isfinite(cost_per_million_tokens_usd) and cost_per_million_tokens_usd > 0:
        cost = float(np.clip(math.log10(100.0 / cost_per_million_tokens_usd) / 3.0, 0.0, 1.0))
    else:
        cost = 0.0
    return round(100.0 * (0.4 * memory + 0.4 * speed + 0.2 * cost), 1)


def _findings(d: Deployment, r: dict[str, float]) -> tuple[list[Finding], list[Finding]]:
    blockers: list[Finding] = []
    bits = Blocker(int(r["blockers"]))
    for bit, (code, message) in BLOCKERS.items():
        # Precision findings name their reasons (compat_reasons) rather than the blocker's generic message.
        if bit in bits and bit is not Blocker.PRECISION_UNSUPPORTED:
            if bit is Blocker.DOES_NOT_FIT:
                message = (
                    f"needs {r['total_bytes'] / GIB:.1f} GiB per device but {d.hardware.name} has "
                    f"{r['capacity_bytes'] / GIB:.1f} GiB usable"
                )
            blockers.append(Finding(code=code, message=message))
    blockers.extend(
        Finding(code="precision_unsupported", message=m)
        for m in compat_reasons(d.framework, d.precision, d.hardware)
    )
    warnings: list[Finding] = []
    if r["memory_utilization"] > TIGHT_UTILIZATION and Blocker.DOES_NOT_FIT not in bits:
        warnings.append(
            Finding(code="tight_memory", message=f"uses {r['memory_utilization']:.0%} of device memory")
        )
    if (
        d.precision.compute_path == "fp8"
        and d.hardware.fp8_dense_flops <= 0
        and not d.framework.fp8_needs_fp8_tensor_cores
    ):
        warnings.append(
            Finding(
                code="fp8_weight_only",
                message=f"{d.hardware.name} has no FP8 tensor cores: FP8 weights are upcast to 16-bit",
            )
        )
    if d.deployment_mode == "edge" and d.hardware.kind == "datacenter_gpu":
        warnings.append(Finding(code="edge_datacenter", message="a datacenter GPU is an unusual edge device"))
    if d.tensor_parallel > 1 and d.hardware.interconnect_bytes_per_s < 50e9:
        warnings.append(
            Finding(
                code="slow_interconnect",
                message="tensor parallelism over PCIe: all-reduces cost more than on NVLink",
            )
        )
    if (
        d.prompt_tokens + d.output_tokens > d.model.max_context_tokens * 0.9
        and Blocker.CONTEXT_TOO_LONG not in bits
    ):
        warnings.append(
            Finding(code="near_context_limit", message="the request is near the model's context limit")
        )
    if d.framework.family != d.framework.key:
        warnings.append(
            Finding(
                code="proxy_calibration",
                message=(
                    f"{d.framework.key} has no measurements of its own: its efficiencies and error bands are "
                    f"the {d.framework.family} family's"
                ),
            )
        )
    if d.model.proxy_note:
        warnings.append(Finding(code="proxy_model", message=d.model.proxy_note))
    return blockers, warnings


def estimate_deployment(
    d: Deployment,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    catalog: Catalog | None = None,
) -> Estimate:
    """Estimate one resolved deployment, without recommendations (`calculator.planning.advice.advise` adds
    them). `catalog` is unused here; it is accepted so that every estimate entry point takes the same
    keywords."""
    calibration = calibration or default_calibration()
    assumptions = assumptions or CostAssumptions()
    auto = d.replace(batch_size=0)
    batch = deployments_batch([d, auto], calibration)
    results = evaluate(batch, assumptions)
    r, best = _row(results, 0), _row(results, 1)

    online = None
    rate = d.request_rate if d.request_rate is not None else (d.requests_per_hour / 3600.0 or None)
    replicas = max(d.replicas, 1)
    if rate is not None or d.concurrency is not None or d.burst_requests is not None:
        # Requests are spread evenly over the replicas; each replica is one serving model.
        single = deployments_batch([d], calibration)
        max_batch = results.max_batch_size[:1]
        if d.burst_requests is not None:
            mode = "burst"
            o = burst_operating_point(
                single,
                max_batch,
                requests=np.array([float(d.burst_requests) / replicas]),
                output_length_cv=d.output_length_cv,
            )
        else:
            mode = "concurrency" if d.concurrency is not None else "rate"
            o = online_operating_point(
                single,
                max_batch,
                request_rate=None if d.concurrency is not None else np.array([rate / replicas]),
                concurrency=None if d.concurrency is None else np.array([float(d.concurrency) / replicas]),
            )

        def optional(value: float) -> float | None:
            return value if math.isfinite(value) else None

        online = OnlineEstimate(
            mode=mode,
            request_rate_per_s=float(o.requests_per_s[0]) * replicas,
            offered_rate_per_s=rate if mode == "rate" else None,
            replicas=replicas,
            concurrency=float(o.concurrency[0]),
            ttft_p50_s=float(o.ttft_p50_s[0]),
            ttft_p99_s=float(o.ttft_p99_s[0]),
            ttft_mean_s=float(o.ttft_mean_s[0]),
            tpot_s=float(o.tpot_s[0]),
            tpot_p99_s=float(o.tpot_p99_s[0]),
            e2e_latency_s=float(o.e2e_latency_s[0]),
            e2e_p99_s=float(o.e2e_p99_s[0]),
            output_tokens_per_s=float(o.output_tokens_per_s[0]) * replicas,
            capacity_requests_per_s=optional(float(o.capacity_requests_per_s[0])),
            utilization=optional(float(o.utilization[0])),
            saturated=bool(o.saturated[0]),
        )

    c = results.cost
    price_missing = bool(c.price_missing[0])
    blocked = bool(int(r["blockers"]))
    if d.deployment_mode == "cloud":
        price_source = (
            "no cloud price in the catalog" if price_missing else "catalog cloud price per GPU-hour"
        )
    else:
        price_source = (
            "no purchase price in the catalog" if price_missing else "purchase price amortised + energy"
        )
    if blocked:
        price_source = "no cost: the deployment cannot run as specified"

    def usd(value: float) -> float:
        return math.nan if price_missing or blocked or not math.isfinite(value) else value

    total_per_request = usd(float(c.cost_per_request_usd[0]))
    tokens_per_request = max(d.output_tokens, 1)
    cost = CostEstimate(
        hourly_usd=usd(float(c.hourly_usd[0])),
        energy_hourly_usd=usd(float(c.energy_hourly_usd[0])),
        monthly_usd=usd(float(c.monthly_usd[0])),
        cost_per_request_usd=total_per_request,
        power_cost_per_request_usd=usd(float(c.power_cost_per_request_usd[0])),
        cost_per_1k_tokens_usd=total_per_request / tokens_per_request * 1000.0,
        cost_per_million_tokens_usd=usd(float(c.cost_per_million_tokens_usd[0])),
        prefill_cost_per_million_input_tokens_usd=usd(float(c.prefill_cost_per_million_input_tokens_usd[0])),
        decode_cost_per_million_output_tokens_usd=usd(float(c.decode_cost_per_million_output_tokens_usd[0])),
        blended_cost_per_million_tokens_usd=usd(float(c.blended_cost_per_million_tokens_usd[0])),
        prefill_share=float(c.prefill_share[0]),
        prefill_device_s=float(c.prefill_device_s[0]),
        decode_device_s=float(c.decode_device_s[0]),
        replicas=replicas,
        gpus=d.num_gpus,
        price_missing=price_missing,
        blocked=blocked,
        price_source=price_source,
    )
    blockers, warnings = _findings(d, r)
    fits = not any(b.code in ("does_not_fit", "no_kv_room") for b in blockers)
    utilization = r["memory_utilization"]
    memory = MemoryEstimate(
        weights_bytes=r["weights_bytes"],
        kv_cache_bytes=r["kv_cache_bytes"],
        activation_bytes=r["activation_bytes"],
        overhead_bytes=r["overhead_bytes"],
        total_bytes=r["total_bytes"],
        capacity_bytes=r["capacity_bytes"],
        device_memory_bytes=d.hardware.runtime_memory_bytes,
        kv_pool_bytes=max(r["kv_pool_bytes"], 0.0),
        kv_pool_tokens=max(r["kv_pool_bytes"], 0.0) / max(r["kv_bytes_per_token"], 1.0),
        kv_bytes_per_token=r["kv_bytes_per_token"],
        utilization=utilization,
        fits=fits,
        status="does_not_fit" if not fits else ("tight" if utilization > TIGHT_UTILIZATION else "fits"),
        max_batch_size=int(max(r["max_batch_size"], 0)),
        max_context_tokens=int(max(r["max_context_tokens"], 0)),
    )
    performance = _performance(r)
    family = d.framework.family
    hw_class = hardware_class(d.hardware.kind)
    bands = {metric: calibration.error_band(family, hw_class, metric) for metric in METRICS}
    return Estimate(
        inputs=_inputs(d),
        memory=memory,
        performance=performance,
        max_throughput=_performance(best),
        online=online,
        cost=cost,
        blockers=blockers,
        warnings=warnings,
        performance_score=performance_score(
            fits=not blockers,
            utilization=utilization,
            decode_tokens_per_s_per_user=performance.decode_tokens_per_s_per_user,
            cost_per_million_tokens_usd=cost.cost_per_million_tokens_usd,
        ),
        recommendations=[],
        error_bands=bands,
        calibrated=calibration.is_calibrated(family, hw_class),
        parameter_sources=calibration.sources(family, hw_class),
        assumptions={**asdict(assumptions), "calibration": calibration.meta.get("source", "priors")},
    )


def _inputs(d: Deployment) -> dict[str, Any]:
    return {
        "model": d.model.key,
        "model_name": d.model.name,
        "hardware": d.hardware.key,
        "hardware_name": d.hardware.name,
        "precision": d.precision.key,
        "kv_cache_precision": d.kv_cache_precision,
        "framework": d.framework.key,
        "framework_version": d.framework_version,
        "framework_era": framework_era(d.framework),
        "num_gpus": d.num_gpus,
        "replicas": d.replicas,
        "tensor_parallel": d.tensor_parallel,
        "pipeline_parallel": d.pipeline_parallel,
        "attention_data_parallel": d.attention_data_parallel,
        "prompt_tokens": d.prompt_tokens,
        "output_tokens": d.output_tokens,
        "batch_size": d.batch_size,
        "deployment_mode": d.deployment_mode,
        "requests_per_hour": d.requests_per_hour,
        "request_rate": d.request_rate,
        "concurrency": d.concurrency,
        "burst_requests": d.burst_requests,
        "output_length_cv": d.output_length_cv,
    }


def estimate(
    model: str,
    hardware: str,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    catalog: Catalog | None = None,
    **inputs: Any,
) -> Estimate:
    """Estimate one deployment, without recommendations (`calculator.estimate`, the package's front door,
    adds them). Keyword inputs: see `calculator.deployment.resolve_deployment`."""
    deployment = resolve_deployment(model, hardware, catalog=catalog, **inputs)
    return estimate_deployment(deployment, calibration=calibration, assumptions=assumptions, catalog=catalog)
