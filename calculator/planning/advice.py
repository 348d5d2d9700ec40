"""Recommendations: re-run the estimate on alternative deployments and say, with figures, what to change.

Alternatives are evaluated together as one vectorised batch: other precisions, more GPUs with tensor
parallelism, other hardware from the catalog, and (when the deployment fits) larger batches.

The planning layer composes estimates: `advise(estimate, deployment)` gives an estimate's recommendations,
and `estimate_with_advice` / `estimate` (re-exported as `calculator.estimate`) return an estimate that carries
them. `calculator.estimate.estimate_deployment` itself never computes them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from calculator.calibration import Calibration, default_calibration
from calculator.catalog import default_catalog
from calculator.cost import CostAssumptions
from calculator.deployment import Deployment, deployments_batch, resolve_deployment, variants_batch
from calculator.engine import Blocker, evaluate
from calculator.estimate import (
    CostEstimate,
    Estimate,
    Finding,
    MemoryEstimate,
    PerformanceEstimate,
    Recommendation,
    estimate_deployment,
)
from calculator.grid import compat_reasons
from calculator.precisions import PrecisionSpec, resolve_precision
from calculator.specs import Catalog, HardwareSpec

GIB = 2**30
TP_CHOICES = (1, 2, 4, 8)


def _precision_choices(d: Deployment) -> list[str]:
    names = d.framework.smaller_precisions
    return [n for n in names if resolve_precision(n).bits_per_weight < d.precision.bits_per_weight]


def _valid_tp(d: Deployment, tp: int) -> bool:
    m = d.model
    if m.num_attention_heads % tp:
        return False
    return m.attention == "mla" or m.num_kv_heads % tp == 0 or tp % m.num_kv_heads == 0


class Alternative(NamedTuple):
    """One alternative deployment: the base with another precision, hardware and tensor parallelism."""

    precision: PrecisionSpec
    hardware: HardwareSpec
    tensor_parallel: int
    num_gpus: int


def _candidates(d: Deployment, catalog: Catalog) -> list[Alternative]:
    out: list[Alternative] = []
    precisions = [d.precision, *(resolve_precision(n) for n in _precision_choices(d))]
    same_kind = [
        h for h in catalog.hardware.values() if h.kind == d.hardware.kind and h.key != d.hardware.key
    ]
    if d.hardware.kind in ("consumer_gpu", "edge"):
        same_kind += [h for h in catalog.hardware.values() if h.kind == "datacenter_gpu"]
    tps = [tp for tp in TP_CHOICES if _valid_tp(d, tp) and tp * d.pipeline_parallel <= 8]
    for precision in precisions:
        for hardware in [d.hardware, *same_kind]:
            if compat_reasons(d.framework, precision, hardware):
                continue
            for tp in tps:
                if (precision.key, hardware.key, tp) == (d.precision.key, d.hardware.key, d.tensor_parallel):
                    continue
                out.append(Alternative(precision, hardware, tp, tp * d.pipeline_parallel))
    return out


def _describe(alt: Alternative) -> str:
    return f"{alt.precision.key} on {alt.num_gpus}x {alt.hardware.name}" + (
        f" (TP={alt.tensor_parallel})" if alt.tensor_parallel > 1 else ""
    )


def recommend(
    d: Deployment,
    memory: MemoryEstimate,
    performance: PerformanceEstimate,
    cost: CostEstimate,
    blockers: list[Finding],
    *,
    calibration: Calibration,
    assumptions: CostAssumptions,
    catalog: Catalog | None = None,
    limit: int = 4,
) -> list[Recommendation]:
    catalog = catalog or default_catalog()
    candidates = _candidates(d, catalog)
    if not candidates:
        return []
    results = evaluate(
        variants_batch(d, [(c.precision, c.hardware, c.tensor_parallel) for c in candidates], calibration),
        assumptions,
    )
    # Hardware, precision and parallelism cannot fix an over-long request; judge alternatives without it
    # and say so separately.
    feasible = (results.blockers & ~Blocker.CONTEXT_TOO_LONG) == 0
    free_gib = (results.capacity_bytes - results.total_bytes) / GIB
    recs: list[Recommendation] = []

    def add(i: int, text: str) -> None:
        alt = candidates[i]
        recs.append(
            Recommendation(
                text=text,
                changes={
                    "precision": alt.precision.key,
                    "hardware": alt.hardware.key,
                    "num_gpus": alt.num_gpus,
                    "tensor_parallel": alt.tensor_parallel,
                },
                figures={
                    "free_gib": round(float(free_gib[i]), 2),
                    "tpot_ms": round(float(results.tpot_s[i]) * 1e3, 2),
                    "decode_tokens_per_s_per_user": round(float(results.decode_tokens_per_s_per_user[i]), 1),
                    "hourly_usd": round(float(results.cost.hourly_usd[i]), 3),
                },
            )
        )

    def first(mask: np.ndarray, order: np.ndarray) -> int | None:
        idx = np.flatnonzero(mask)
        return None if idx.size == 0 else int(idx[np.argmin(order[idx])])

    same_hw = np.array([c.hardware.key == d.hardware.key for c in candidates])
    same_precision = np.array([c.precision.key == d.precision.key for c in candidates])
    gpus = np.array([c.num_gpus for c in candidates], dtype=float)
    hourly = np.where(np.isfinite(results.cost.hourly_usd), results.cost.hourly_usd, 1e9)
    priced = (hourly > 0) & ~results.cost.price_missing  # no catalog price: never "cheaper"
    if any(b.code == "context_too_long" for b in blockers):
        limit_tokens = d.model.max_context_tokens
        recs.append(
            Recommendation(
                text=f"{d.model.name} reads at most {limit_tokens:,} tokens: keep prompt + output within "
                f"that "
                f"(now {d.prompt_tokens + d.output_tokens:,})",
                changes={"output_tokens": max(limit_tokens - d.prompt_tokens, 1)},
                figures={"max_context_tokens": float(limit_tokens)},
            )
        )
    if blockers:
        # Cheapest ways to make it run: fewer GPUs first, then lower cost, on the same card when possible.
        order = gpus * 1e6 + hourly
        for mask in (same_hw & (gpus == d.num_gpus), same_hw & same_precision, same_hw, ~same_hw & priced):
            i = first(feasible & mask, order)
            if i is not None and all(
                r.changes
                != {
                    "precision": candidates[i].precision.key,
                    "hardware": candidates[i].hardware.key,
                    "num_gpus": candidates[i].num_gpus,
                    "tensor_parallel": candidates[i].tensor_parallel,
                }
                for r in recs
            ):
                add(
                    i,
                    f"{_describe(candidates[i])} fits with {free_gib[i]:.1f} GiB free per device, "
                    f"{results.decode_tokens_per_s_per_user[i]:.0f} tokens/s per user",
                )
        return recs[:limit]

    tp_up = first(feasible & same_hw & same_precision & (gpus > d.num_gpus), gpus)
    if tp_up is not None and results.tpot_s[tp_up] < performance.tpot_s * 0.85:
        add(
            tp_up,
            f"TP={candidates[tp_up].tensor_parallel} cuts TPOT from {performance.tpot_s * 1e3:.1f} ms to "
            f"{results.tpot_s[tp_up] * 1e3:.1f} ms",
        )
    faster = first(
        feasible & same_hw & ~same_precision & (gpus == d.num_gpus), -results.decode_tokens_per_s_per_user
    )
    if (
        faster is not None
        and results.decode_tokens_per_s_per_user[faster] > performance.decode_tokens_per_s_per_user * 1.15
    ):
        add(
            faster,
            f"{candidates[faster].precision.key} raises decode speed from "
            f"{performance.decode_tokens_per_s_per_user:.0f} to "
            f"{results.decode_tokens_per_s_per_user[faster]:.0f} tokens/s per user",
        )
    cheaper = first(feasible & ~same_hw & priced & same_precision, results.cost.cost_per_million_tokens_usd)
    if (
        cheaper is not None
        and results.cost.cost_per_million_tokens_usd[cheaper] < cost.cost_per_million_tokens_usd * 0.8
    ):
        add(
            cheaper,
            f"{_describe(candidates[cheaper])} costs "
            f"${results.cost.cost_per_million_tokens_usd[cheaper]:.2f} "
            f"per 1M output tokens instead of ${cost.cost_per_million_tokens_usd:.2f}",
        )
    if memory.max_batch_size > max(d.batch_size, 1) * 2:
        batched = evaluate(
            deployments_batch([d.replace(batch_size=memory.max_batch_size)], calibration), assumptions
        )
        per_million = float(batched.cost.cost_per_million_tokens_usd[0])
        if per_million < cost.cost_per_million_tokens_usd * 0.8:
            recs.append(
                Recommendation(
                    text=f"batching {memory.max_batch_size} requests (the most that fit) cuts the cost per "
                    f"1M output "
                    f"tokens from ${cost.cost_per_million_tokens_usd:.2f} to ${per_million:.2f}",
                    changes={"batch_size": memory.max_batch_size},
                    figures={
                        "cost_per_million_tokens_usd": round(per_million, 4),
                        "tpot_ms": round(float(batched.tpot_s[0]) * 1e3, 2),
                    },
                )
            )
    return recs[:limit]


def advise(
    est: Estimate,
    deployment: Deployment,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    catalog: Catalog | None = None,
    limit: int = 4,
) -> list[Recommendation]:
    """The recommendations for `est`, the estimate of `deployment` under the same calibration and cost
    assumptions (defaults: the shipped calibration, `CostAssumptions()`, the default catalog)."""
    return recommend(
        deployment,
        est.memory,
        est.performance,
        est.cost,
        est.blockers,
        calibration=calibration or default_calibration(),
        assumptions=assumptions or CostAssumptions(),
        catalog=catalog,
        limit=limit,
    )


def estimate_with_advice(
    deployment: Deployment,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    catalog: Catalog | None = None,
    with_recommendations: bool = True,
) -> Estimate:
    """`estimate_deployment` plus, unless with_recommendations is False, its recommendations (`advise`)."""
    est = estimate_deployment(deployment, calibration=calibration, assumptions=assumptions, catalog=catalog)
    if not with_recommendations:
        return est
    recs = advise(est, deployment, calibration=calibration, assumptions=assumptions, catalog=catalog)
    return replace(est, recommendations=recs)


def estimate(
    model: str,
    hardware: str,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    catalog: Catalog | None = None,
    with_recommendations: bool = True,
    **inputs: Any,
) -> Estimate:
    """Estimate one deployment with its recommendations (`calculator.estimate`). Keyword inputs: see
    `calculator.deployment.resolve_deployment`."""
    deployment = resolve_deployment(model, hardware, catalog=catalog, **inputs)
    return estimate_with_advice(
        deployment,
        calibration=calibration,
        assumptions=assumptions,
        catalog=catalog,
        with_recommendations=with_recommendations,
    )
