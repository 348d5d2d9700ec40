"""Read-side helpers of the calculator page: which choices the engine would refuse (and why), the batch-size
sweep behind the chart, and the figures formatted for people. The estimate itself is estimates.estimate_run,
the same call as POST /api/v1/estimate/, so the page and the API always show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calculator import InputError, resolve_deployment
from calculator.calibration import default_calibration
from calculator.cost import CostAssumptions
from calculator.deployment import deployments_batch
from calculator.engine import evaluate
from calculator.frameworks import FRAMEWORKS
from calculator.grid import compat_reasons
from calculator.planning.sizing import DEFAULT_MAX_TOTAL_GPUS
from calculator.precisions import PRECISIONS
from calculator.specs import Catalog
from planner import specs
from planner.services import estimates
from planner.web.forms import TP_CHOICES

GIB = 2**30
STATUS_LABELS = {
    "fits": "Fits",
    "tight": "Tight fit",
    "does_not_fit": "Does not fit",
    "blocked": "Cannot run",
}
SWEEP_MAX_BATCH = 1024


def catalog_choices(db_catalog: Catalog) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(model choices, hardware choices) as (key, label), sorted by label."""
    models = sorted(
        ((key, f"{m.name} ({m.params_total / 1e9:.3g}B)") for key, m in db_catalog.models.items()),
        key=lambda c: c[1].lower(),
    )
    hardware = sorted(
        ((key, f"{h.name} ({h.memory_bytes / GIB:.0f} GiB)") for key, h in db_catalog.hardware.items()),
        key=lambda c: c[1].lower(),
    )
    return models, hardware


def disabled_reasons(values: dict[str, Any], db_catalog: Catalog) -> dict[str, dict[str, str]]:
    """{field: {option value: why the engine refuses it}} given the other current choices.

    Precisions and frameworks use the engine's own compatibility rules (calculator.grid.compat_reasons);
    TP degrees are checked by resolve_deployment, whose head-divisibility errors are shown verbatim.
    """
    model = db_catalog.models.get(values.get("model", ""))
    hardware = db_catalog.hardware.get(values.get("hardware", ""))
    framework = FRAMEWORKS.get(values.get("framework", ""))
    precision = PRECISIONS.get(values.get("precision", ""))
    reasons: dict[str, dict[str, str]] = {"precision": {}, "framework": {}, "tensor_parallel": {}}
    if hardware is None:
        return reasons
    if framework is not None:
        for key, spec in PRECISIONS.items():
            why = compat_reasons(framework, spec, hardware)
            if why:
                reasons["precision"][key] = why[0]
    if precision is not None:
        for key, spec in FRAMEWORKS.items():
            why = compat_reasons(spec, precision, hardware)
            if why:
                reasons["framework"][key] = why[0]
    if model is not None and framework is not None:
        for tp in TP_CHOICES:
            try:
                resolve_deployment(
                    model, hardware, framework=framework.key, tensor_parallel=tp, catalog=db_catalog
                )
            except InputError as error:
                if error.field == "tensor_parallel":
                    reasons["tensor_parallel"][str(tp)] = error.message
    return reasons


def sweep_batch_sizes(max_batch_size: int, current: int) -> list[int]:
    """Powers of two up to the largest batch that fits (capped), plus the current and the largest batch."""
    top = min(max_batch_size, SWEEP_MAX_BATCH)
    sizes = {2**i for i in range(0, 11) if 2**i <= top}
    sizes.update(b for b in (current, top) if 1 <= b <= top)
    return sorted(sizes)


def batch_sweep(run: estimates.EstimateRun, db_catalog: Catalog) -> list[dict[str, Any]]:
    """TTFT, TPOT, throughput and cost per 1M output tokens of the same deployment at each batch size that
    fits: one vectorised evaluation (a ConfigBatch row per batch size), not one estimate per size. Offline
    figures (no request rate), as estimate_deployment gives for each size; rows the engine blocks are left
    out."""
    inputs = run.inputs
    sizes = sweep_batch_sizes(run.estimate.memory.max_batch_size, inputs["batch_size"])
    if not sizes or run.estimate.blockers:
        return []
    engine_kwargs = {name: inputs[name] for name in estimates.ENGINE_INPUT_DEFAULTS}
    deployment = resolve_deployment(
        inputs["model"], inputs["hardware"], catalog=db_catalog, **engine_kwargs
    ).replace(requests_per_hour=0.0, request_rate=None, concurrency=None, burst_requests=None)
    assumptions = CostAssumptions(**inputs.get("assumptions", {}))
    batch = deployments_batch([deployment.replace(batch_size=size) for size in sizes], default_calibration())
    results = evaluate(batch, assumptions)
    cost = results.cost
    runs = (results.blockers == 0) & results.fits.astype(bool)
    return [
        {
            "batch_size": size,
            "ttft_ms": round(float(results.ttft_s[i]) * 1e3, 3),
            "tpot_ms": round(float(results.tpot_s[i]) * 1e3, 3),
            "output_tokens_per_s": round(float(results.output_tokens_per_s[i]), 2),
            "decode_tokens_per_s_per_user": round(float(results.decode_tokens_per_s_per_user[i]), 2),
            "cost_per_million_usd": (
                None if cost.price_missing[i] else round(float(cost.cost_per_million_tokens_usd[i]), 4)
            ),
        }
        for i, size in enumerate(sizes)
        if runs[i]
    ]


def load_catalog() -> Catalog:
    return specs.catalog_from_db().catalog


# --- Presentation -----------------------------------------------------------------------------------------


MEMORY_BAND = "median vs measured startup logs"
"""Memory figures fit nothing per row, so their band is the in-sample error on memory.csv, not a CV error."""


def _band(bands: dict[str, float | None], metric: str | None, how: str = "cross-validated") -> str:
    if metric is None:
        return "roofline only"
    value = bands.get(metric)
    if value is None:
        return "roofline only"
    digits = 1 if value < 0.01 else 0
    return f"±{value * 100:.{digits}f}% ({how})"


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.5f}"
    if abs(value) < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


NO_PRICE = "no price in the catalog"


def _price(value: float | None, price_missing: bool) -> str:
    """A cost, or why there is none: a missing price is never shown as $0."""
    if price_missing:
        return NO_PRICE
    return _usd(value)


def _number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


@dataclass(frozen=True)
class Figure:
    """One number on the page: label, formatted value, raw value (tests, sharing) and its error band."""

    key: str
    label: str
    text: str
    raw: float | None
    band: str


@dataclass(frozen=True)
class MemorySegment:
    key: str
    label: str
    gib: float
    percent: float


def _token_split(cost: dict[str, Any], prefix: str) -> list[Figure]:
    """The cost per token as hosted APIs price it: each phase's share of a request's device time over its own
    tokens, and all of it over prompt + output (cost.token_costs). Results stored before the split existed
    have none of these keys: no card."""
    if "blended_cost_per_million_tokens_usd" not in cost:
        return []
    missing = bool(cost.get("price_missing"))
    share = cost.get("prefill_share")
    share_text = f"prefill {_percent(share)} of device time" if share is not None else "prefill share"
    return [
        Figure(
            f"{prefix}_per_million_input",
            "Per 1M input tokens",
            _price(cost["prefill_cost_per_million_input_tokens_usd"], missing),
            cost["prefill_cost_per_million_input_tokens_usd"],
            f"{share_text}, over the prompt tokens",
        ),
        Figure(
            f"{prefix}_per_million_output",
            "Per 1M output tokens, decode share",
            _price(cost["decode_cost_per_million_output_tokens_usd"], missing),
            cost["decode_cost_per_million_output_tokens_usd"],
            "the decode steps' device time over the output tokens",
        ),
        Figure(
            f"{prefix}_per_million_blended",
            "Per 1M tokens, blended",
            _price(cost["blended_cost_per_million_tokens_usd"], missing),
            cost["blended_cost_per_million_tokens_usd"],
            "all device time over prompt + output tokens",
        ),
    ]


def present(result: dict[str, Any]) -> dict[str, Any]:
    """What the results panel shows, formatted; raw values stay alongside as data attributes."""
    mem, perf, cost, bands = result["memory"], result["performance"], result["cost"], result["error_bands"]
    parts = (
        ("weights", "Weights", mem["weights_bytes"]),
        ("kv", "KV cache", mem["kv_cache_bytes"]),
        ("activations", "Activations", mem["activation_bytes"]),
        ("overhead", "Overhead", mem["overhead_bytes"]),
    )
    scale = max(mem["total_bytes"], mem["capacity_bytes"], 1.0)
    segments = [MemorySegment(key, label, value / GIB, 100.0 * value / scale) for key, label, value in parts]
    capacity_percent = 100.0 * mem["capacity_bytes"] / scale
    ms = 1e3
    performance = [
        Figure(
            "ttft",
            "Time to first token",
            f"{_number(perf['ttft_s'] * ms)} ms",
            perf["ttft_s"],
            _band(bands, "ttft_ms"),
        ),
        Figure(
            "tpot",
            "Time per output token",
            f"{_number(perf['tpot_s'] * ms)} ms",
            perf["tpot_s"],
            _band(bands, "tpot_ms"),
        ),
        Figure(
            "decode_per_user",
            "Decode speed per user",
            f"{_number(perf['decode_tokens_per_s_per_user'])} tok/s",
            perf["decode_tokens_per_s_per_user"],
            _band(bands, "decode_tokens_per_s_per_user"),
        ),
        Figure(
            "throughput",
            "Output throughput",
            f"{_number(perf['output_tokens_per_s'], 0)} tok/s",
            perf["output_tokens_per_s"],
            _band(bands, "output_tokens_per_s_total"),
        ),
    ]
    throughput_band = _band(bands, "output_tokens_per_s_total")
    cost_band = (
        "roofline only" if throughput_band == "roofline only" else f"follows throughput, {throughput_band}"
    )
    costs = (
        []
        if cost["blocked"]
        else [
            Figure(
                "cost_per_request",
                "Per request",
                _price(cost["cost_per_request_usd"], cost["price_missing"]),
                cost["cost_per_request_usd"],
                cost_band,
            ),
            Figure(
                "cost_per_million",
                "Per 1M output tokens",
                _price(cost["cost_per_million_tokens_usd"], cost["price_missing"]),
                cost["cost_per_million_tokens_usd"],
                cost_band,
            ),
            *_token_split(cost, "cost"),
            Figure(
                "monthly",
                "Monthly",
                _price(cost["monthly_usd"], cost["price_missing"]),
                cost["monthly_usd"],
                "at the requests per hour given",
            ),
        ]
    )
    memory_figures = [
        Figure(
            "weights",
            "Weights",
            f"{mem['weights_bytes'] / GIB:.1f} GiB",
            mem["weights_bytes"],
            _band(bands, "weights_gib", MEMORY_BAND),
        ),
        Figure(
            "kv",
            "KV cache",
            f"{mem['kv_cache_bytes'] / GIB:.2f} GiB",
            mem["kv_cache_bytes"],
            _band(bands, "kv_cache_gib", MEMORY_BAND),
        ),
    ]
    # Memory may fit while the engine refuses the combination (e.g. a GGUF precision on vLLM).
    status = "blocked" if result["blockers"] and mem["status"] != "does_not_fit" else mem["status"]
    return {
        "status": status,
        "status_label": STATUS_LABELS[status],
        "segments": segments,
        "capacity_percent": capacity_percent,
        "capacity_gib": mem["capacity_bytes"] / GIB,
        "total_gib": mem["total_bytes"] / GIB,
        "utilization_percent": mem["utilization"] * 100.0,
        "max_batch_size": mem["max_batch_size"],
        "performance": performance,
        "costs": costs,
        "memory_figures": memory_figures,
        "price_source": cost["price_source"],
        "cost_blocked": cost["blocked"],
        "price_missing": cost["price_missing"],
        "replicas": cost["replicas"],
        "score": result["performance_score"],
        "calibrated": result["calibrated"],
    }


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


# Engine rejection / blocker codes (calculator.planning.capacity.REJECTIONS) as a person reads them.
REASON_LABELS = {
    "precision_unsupported": "precision unsupported by the framework or hardware",
    "context_too_long": "context longer than the model allows",
    "tp_heads": "TP does not divide the attention heads",
    "does_not_fit": "does not fit in memory",
    "no_kv_room": "no memory left for the KV cache",
    "slo": "misses the SLO",
    "gpu_budget": "over the GPU budget",
    "monthly_cost": "over the $/month ceiling",
}
SLO_LABELS = {
    "ttft_p50_ms": ("TTFT p50", "ms"),
    "ttft_p99_ms": ("TTFT p99", "ms"),
    "tpot_p50_ms": ("TPOT p50", "ms"),
    "tpot_p99_ms": ("TPOT p99", "ms"),
    "e2e_p99_s": ("end-to-end p99", "s"),
}


def binding_label(code: str | None) -> str:
    """The bound that limits a replica's rate, in a few words (the full sentence is binding_message)."""
    if code == "max_utilization":
        return "utilisation cap"
    if code in SLO_LABELS:
        return SLO_LABELS[code][0]
    return "" if code in (None, "none") else code.replace("_", " ")


def reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code.replace("_", " "))


def slo_text(slo: dict[str, float] | None) -> str:
    """'TTFT p99 ≤ 1,000 ms, TPOT p50 ≤ 50 ms' from the engine's SLO dict."""
    parts = []
    for key, bound in (slo or {}).items():
        label, unit = SLO_LABELS.get(key, (key, ""))
        parts.append(f"{label} ≤ {bound:,.6g} {unit}".rstrip())
    return ", ".join(parts)


def _sizing_reason(reason: str | None) -> str | None:
    """The engine's reason, already in words ('the configuration cannot run: weights, ... exceed ...')."""
    return reason


def rejection_counts(
    rejected: dict[str, int], budget_gpus: int | None, max_gpus_per_replica: int | None
) -> list[tuple[str, str]]:
    """(readable reason, comma-formatted count) for each reason that rejected something, most first.
    Without a budget the engine still caps a plan at DEFAULT_MAX_TOTAL_GPUS, counted as gpu_budget."""
    rows = []
    for code, count in sorted(rejected.items(), key=lambda item: -item[1]):
        if not count:
            continue
        label = reason_label(code)
        if code == "gpu_budget" and budget_gpus is None and max_gpus_per_replica is None:
            label = f"would need more than {DEFAULT_MAX_TOTAL_GPUS:,} GPUs"
        rows.append((label, f"{count:,}"))
    return rows


def capacity_notes(plan: dict[str, Any]) -> list[str]:
    """The plan's notes less those the page already shows as its headline and closest-miss panel."""
    counts = f"{plan['feasible']:,} of {plan['evaluated']:,} configurations"
    return [
        note
        for note in plan["notes"]
        if not note.startswith(counts) and not (plan["closest"] and note.startswith("No configuration meets"))
    ]


def present_sizing(sizing: dict[str, Any] | None) -> dict[str, Any] | None:
    """The sizing panel: replicas, GPUs and cost for the traffic within the SLO, the per-replica operating
    point, the bound that limits it and the latency-vs-load curve for the chart (or why it cannot be sized)
    """
    if sizing is None:
        return None
    traffic = sizing["traffic"]
    view: dict[str, Any] = {
        "feasible": sizing["feasible"],
        "reason": _sizing_reason(sizing["reason"]),
        "binding_message": sizing["binding_message"],
        "slo": sizing["slo"],
        "slo_text": slo_text(sizing["slo"]),
        "traffic_text": (
            f"{traffic['requests_per_s']:,.3g} req/s mean"
            + (
                f", sized for a peak of {traffic['peak_requests_per_s']:,.3g} req/s"
                if traffic["peak_requests_per_s"] > traffic["requests_per_s"]
                else ""
            )
        ),
        "max_utilization": _percent(sizing["max_utilization"]),
    }
    if not sizing["feasible"]:
        return view
    missing = sizing["price_missing"]
    view["headline"] = [
        Figure("sizing_replicas", "Replicas", f"{sizing['replicas']}", sizing["replicas"], ""),
        Figure(
            "sizing_gpus",
            "GPUs",
            f"{sizing['gpus']}",
            sizing["gpus"],
            f"{sizing['gpus_per_replica']} per replica",
        ),
        Figure(
            "sizing_monthly",
            "Per month",
            _price(sizing["monthly_usd"], missing),
            sizing["monthly_usd"],
            "730 h at the sized replicas",
        ),
        Figure(
            "sizing_per_million",
            "Per 1M output tokens",
            _price(sizing["cost_per_million_output_tokens_usd"], missing),
            sizing["cost_per_million_output_tokens_usd"],
            "at the mean rate, all cost over the output tokens",
        ),
        *_token_split({**sizing, "price_missing": missing}, "sizing"),
    ]
    view["point"] = [
        ("Requests/s per replica", _number(sizing["requests_per_s_per_replica"], 2)),
        ("In flight (batch)", _number(sizing["batch"], 1)),
        ("TTFT p50", f"{_number(sizing['ttft_p50_ms'])} ms"),
        ("TTFT p99", f"{_number(sizing['ttft_p99_ms'])} ms"),
        ("TPOT p50", f"{_number(sizing['tpot_p50_ms'])} ms"),
        ("TPOT p99", f"{_number(sizing['tpot_p99_ms'])} ms"),
        ("End-to-end p99", f"{_number(sizing['e2e_p99_s'], 2)} s"),
        ("Utilisation", _percent(sizing["utilization"])),
        ("Headroom", _percent(sizing["headroom"])),
        ("Capacity per replica", f"{_number(sizing['capacity_rps_per_replica'], 2)} req/s"),
        ("Goodput per replica", f"{_number(sizing['goodput_rps_per_replica'], 2)} req/s"),
    ]
    view["chart"] = {
        "curve": sizing["curve"],
        "slo": sizing["slo"],
        "point": {
            "requests_per_s": sizing["requests_per_s_per_replica"],
            "ttft_p99_ms": sizing["ttft_p99_ms"],
            "tpot_ms": sizing["tpot_p50_ms"],
        },
    }
    return view
