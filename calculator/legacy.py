"""The seed's dictionary API, kept for existing callers:
`LLMInferenceCalculator().calculate_inference_metrics`."""

from __future__ import annotations

import math
from typing import Any

from calculator.calibration import Calibration
from calculator.cost import CostAssumptions
from calculator.planning.advice import estimate
from calculator.specs import Catalog

GB = 1e9
LATENCY_TARGET_TPOT_S = 0.1
"""A stream is 'acceptable' when it decodes at least 10 tokens/s (faster than people read)."""


class LLMInferenceCalculator:
    """Seed-compatible facade over `calculator.estimate`.

    `tokens` is the number of tokens each request generates (output tokens). The prompt defaults to 128
    tokens; pass `prompt_tokens` and `output_tokens` to set both explicitly (then `tokens` is ignored).
    Memory figures are per device in decimal GB, as the seed printed them.
    """

    def __init__(
        self,
        *,
        catalog: Catalog | None = None,
        calibration: Calibration | None = None,
        assumptions: CostAssumptions | None = None,
    ):
        self.catalog = catalog
        self.calibration = calibration
        self.assumptions = assumptions

    def calculate_inference_metrics(
        self,
        model_size: str = "7B",
        tokens: int = 1024,
        batch_size: int = 1,
        hardware_type: str = "RTX4090",
        deployment_mode: str = "local",
        requests_per_hour: float = 100,
        *,
        prompt_tokens: int | None = None,
        output_tokens: int | None = None,
        precision: str = "fp16",
        kv_cache_precision: str | None = None,
        num_gpus: int | None = None,
        tensor_parallel: int | None = None,
        framework: str = "vllm",
    ) -> dict[str, Any]:
        est = estimate(
            model_size,
            hardware_type,
            catalog=self.catalog,
            calibration=self.calibration,
            assumptions=self.assumptions,
            prompt_tokens=128 if prompt_tokens is None else prompt_tokens,
            output_tokens=tokens if output_tokens is None else output_tokens,
            batch_size=batch_size,
            deployment_mode=deployment_mode,
            requests_per_hour=requests_per_hour,
            precision=precision,
            kv_cache_precision=kv_cache_precision,
            num_gpus=num_gpus,
            tensor_parallel=tensor_parallel,
            framework=framework,
        )
        mem, perf, cost = est.memory, est.performance, est.cost
        decode_s = perf.e2e_latency_s - perf.ttft_s
        compute_s = max(perf.prefill_s, 0.0)
        per_request = cost.cost_per_request_usd
        return {
            "inputs": {
                "model_size": model_size,
                "tokens": tokens,
                "batch_size": batch_size,
                "hardware_type": hardware_type,
                "deployment_mode": deployment_mode,
                "requests_per_hour": requests_per_hour,
                **est.inputs,
            },
            "memory": {
                "model_memory_gb": mem.weights_bytes / GB,
                "kv_cache_memory_gb": mem.kv_cache_bytes / GB,
                "activation_memory_gb": mem.activation_bytes / GB,
                "overhead_memory_gb": mem.overhead_bytes / GB,
                "total_memory_gb": mem.total_bytes / GB,
                "available_memory_gb": mem.capacity_bytes / GB,
                "memory_fits": mem.fits,
                "memory_utilization_percent": mem.utilization * 100.0,
            },
            "latency": {
                "compute_latency_seconds": compute_s,
                "memory_latency_seconds": decode_s,
                "total_latency_seconds": perf.e2e_latency_s,
                "tokens_per_second": perf.decode_tokens_per_s_per_user,
                "ttft_seconds": perf.ttft_s,
                "tpot_seconds": perf.tpot_s,
                "ttft_ms": perf.ttft_s * 1e3,
                "tpot_ms": perf.tpot_s * 1e3,
                "throughput_tokens_per_second": perf.output_tokens_per_s,
            },
            "cost": {
                # None, never $0, when the catalog has no price or the deployment cannot run.
                "cost_per_request": _usd(per_request - cost.power_cost_per_request_usd),
                "power_cost_per_request": _usd(cost.power_cost_per_request_usd),
                "total_cost_per_request": _usd(per_request),
                "cost_per_1k_tokens": _usd(cost.cost_per_1k_tokens_usd),
                "hourly_cost": _usd(cost.hourly_usd),
                "monthly_cost": _usd(cost.monthly_usd),
                "replicas": cost.replicas,
                "price_missing": cost.price_missing,
            },
            "compatibility": {
                "memory_compatible": mem.fits,
                "latency_acceptable": est.feasible and perf.tpot_s <= LATENCY_TARGET_TPOT_S,
                "performance_score": est.performance_score,
                "blockers": [b.message for b in est.blockers],
                "warnings": [w.message for w in est.warnings],
                "recommendations": [r.text for r in est.recommendations],
            },
        }


def _usd(value: float) -> float | None:
    return value if math.isfinite(value) else None
