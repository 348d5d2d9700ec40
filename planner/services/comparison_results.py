"""A comparison's merged result as it is stored: the rows the merge selected (top k, Pareto front, best per
hardware, per model and per objective, the closest miss of each constraint), each with its flags, and the
job's summary. Deterministic: the same partial results give the same rows."""

from __future__ import annotations

import math
from typing import Any

from calculator.planning import (
    CONSTRAINT_REASONS,
    CONSTRAINTS,
    ComparisonResult,
    ComparisonSpec,
    PartialResult,
    ResultRow,
    constraint_met,
    constraint_value,
    rank_value,
)
from calculator.planning.rows import SPLIT_FIELDS
from planner.models import ComparisonResultRow

ROW_FIELDS = (
    "model", "hardware", "precision", "framework", "tensor_parallel", "pipeline_parallel", "num_gpus",
    "requested_batch_size", "batch_size", "deployment_mode", "ttft_ms", "tpot_ms", "output_tokens_per_s",
    "memory_utilization", "replicas", "output_tokens_per_s_per_gpu", "ttft_p99_ms", "tpot_p99_ms",
    "utilization", "binding_constraint",
)  # fmt: skip


def _feasible(row: ResultRow, spec: ComparisonSpec) -> bool:
    return all(
        (limit := getattr(spec, c.name)) is None or constraint_met(getattr(row, c.field), limit, c.sign)
        for c in CONSTRAINTS
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def result_rows(
    job_id: int, spec: ComparisonSpec, result: ComparisonResult, partials: list[PartialResult]
) -> list[ComparisonResultRow]:
    """One row per configuration the merge selected (top_k, Pareto front, best per hardware, per model,
    per objective) with its flags, plus, per constraint, the configuration closest to meeting it (these
    may be infeasible). Deterministic: the same partials give the same rows."""
    entries: dict[str, dict[str, Any]] = {}

    def add(row: ResultRow, **flags: Any) -> None:
        entry = entries.setdefault(
            row.key,
            {"row": row, "rank": None, "is_top": False, "hw": False, "model": False, "best_for": []},
        )
        for name, value in flags.items():
            if name == "best_for":
                entry["best_for"].append(value)
            else:
                entry[name] = value

    for row in result.top:
        add(row, rank=row.rank, is_top=True)
    for row in result.pareto:
        add(row)
    for row in result.best_by_hardware.values():
        add(row, hw=True)
    for row in result.best_by_model.values():
        add(row, model=True)
    for objective, row in result.best.items():
        add(row, best_for=objective)
    on_front = {row.key for row in result.pareto}
    for reason in CONSTRAINT_REASONS:
        candidates = [p.best_runnable[reason] for p in partials if reason in p.best_runnable]
        if candidates:
            add(min(candidates, key=lambda r, x=reason: (constraint_value(r, x), r.key)))

    rows = []
    for key in sorted(entries):
        entry = entries[key]
        row: ResultRow = entry["row"]
        feasible = _feasible(row, spec)
        order_value = _finite(rank_value(row, spec.objective)) if feasible else None
        rows.append(
            ComparisonResultRow(
                job_id=job_id,
                key=key,
                rank=entry["rank"],
                order_value=order_value,
                **{name: getattr(row, name) for name in ROW_FIELDS},
                cost_per_million_tokens_usd=_finite(row.cost_per_million_tokens_usd),
                **{name: _finite(getattr(row, name)) for name in SPLIT_FIELDS},
                monthly_cost_usd=_finite(row.monthly_cost_usd),
                score=_finite(row.score),
                feasible=feasible,
                is_top=entry["is_top"],
                is_pareto=key in on_front,
                is_best_for_hardware=entry["hw"],
                is_best_for_model=entry["model"],
                best_for=sorted(entry["best_for"]),
            )
        )
    return rows


def result_summary(result: ComparisonResult) -> dict[str, Any]:
    """Counts by reason, the best configuration per objective and the engine's recommendations."""
    return {
        "evaluated": result.evaluated,
        "feasible": result.feasible,
        "infeasible": sum(result.infeasible.values()),
        "infeasible_by_reason": {reason: n for reason, n in result.infeasible.items() if n},
        "unpriced": result.unpriced,
        "chunks": result.chunks,
        "top_count": len(result.top),
        "pareto_count": len(result.pareto),
        "best": {objective: row.to_dict() for objective, row in result.best.items()},
        "best_by_hardware": {name: row.key for name, row in result.best_by_hardware.items()},
        "best_by_model": {name: row.key for name, row in result.best_by_model.items()},
        "recommendations": list(result.recommendations),
    }
