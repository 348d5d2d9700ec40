"""One configuration's figures (`ResultRow`), its key and its value under each objective.

Prices: a feasible configuration whose hardware has no price for its deployment mode in the catalog (no
cloud $/GPU-hour, or no purchase price for local/edge) is "unpriced": its cost fields are infinite (None in
`to_dict`), it fails a max_monthly_cost_usd constraint, it is not ranked under the "cost" and "balanced"
objectives and is not on the Pareto front (cost is one of its axes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

BALANCED_REFERENCE = {"cost_per_million_tokens_usd": 1.0, "tpot_ms": 50.0, "output_tokens_per_s": 1000.0}
"""Reference point of the balanced index (index 1.0): $1 per 1M output tokens, 50 ms TPOT, 1000 tokens/s."""


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


def row_order(objective: str):  # type: ignore[no-untyped-def]
    return lambda row: (rank_value(row, objective), row.key)


def score_value(objective: str, cost: float, tpot: float, tps: float) -> float:
    if objective == "cost":
        return cost
    if objective == "latency":
        return tpot
    if objective == "throughput":
        return tps
    return balanced_index(cost, tpot, tps)


def constraint_value(row: ResultRow, reason: str) -> float:
    return {
        "ttft": row.ttft_ms,
        "tpot": row.tpot_ms,
        "monthly_cost": row.monthly_cost_usd,
        "throughput": -row.output_tokens_per_s,
    }[reason]
