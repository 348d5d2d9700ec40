"""The comparison's recommendations: what the merged result says in words, with figures."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from calculator.engine import BLOCKERS
from calculator.planning.objectives import CONSTRAINTS, OBJECTIVE_TABLE, balanced_index, constraint_met
from calculator.planning.rows import ResultRow

if TYPE_CHECKING:
    from calculator.planning.merge import ComparisonResult


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.995 or value == 0 else f"${value:.3g}"


def _describe(row: ResultRow) -> str:
    batch = f"batch {row.batch_size}" + (" (auto)" if row.requested_batch_size == 0 else "")
    if row.utilization is not None:
        batch = f"{row.batch_size} in flight per replica at {row.utilization:.0%} of capacity"
    parallel = f"{row.num_gpus}x {row.hardware}"
    if row.replicas > 1:
        layout = f"TP {row.tensor_parallel}" + (
            f" x PP {row.pipeline_parallel}" if row.pipeline_parallel > 1 else ""
        )
        parallel += f" ({row.replicas} replicas of {layout})"
    elif row.pipeline_parallel > 1:
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


def recommendations_text(result: ComparisonResult, best_runnable: dict[str, ResultRow]) -> list[str]:
    spec = result.spec
    lines: list[str] = []
    best = result.best
    for objective in OBJECTIVE_TABLE.values():
        row = best.get(objective.name)
        if row is None:
            continue
        label = objective.label
        if objective.field is None:
            index = balanced_index(row.cost_per_million_tokens_usd, row.tpot_ms, row.output_tokens_per_s)
            label += f" (index {index:.3g})"
        lines.append(f"{label}: {_describe(row)} at {_figures(row)}.")
    if result.pareto:
        lines.append(f"{len(result.pareto)} configurations are Pareto-optimal in cost, TPOT and throughput.")
    for constraint in CONSTRAINTS:
        limit = getattr(spec, constraint.name)
        row = best_runnable.get(constraint.reason)
        if limit is None or row is None:
            continue
        value = getattr(row, constraint.field)
        if not constraint_met(value, limit, constraint.sign):
            lines.append(
                f"No configuration meets {constraint.name}={limit:g}: the {constraint.superlative} is "
                f"{_describe(row)} at {value:,.3g} {constraint.unit}."
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
