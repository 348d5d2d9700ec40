"""The comparison's recommendations: what the merged result says in words, with figures."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from calculator.engine import BLOCKERS
from calculator.planning.rows import ResultRow, balanced_index
from calculator.planning.spec import CONSTRAINTS

if TYPE_CHECKING:
    from calculator.planning.merge import ComparisonResult


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


def recommendations_text(result: ComparisonResult, best_runnable: dict[str, ResultRow]) -> list[str]:
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
    for name, reason in CONSTRAINTS.items():
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
