"""The objectives a comparison ranks by and the constraints it filters by, as one table each.

Every place that turns an objective or a constraint into a value reads these tables: the scalar rank
value of a `ResultRow` (`rank_value`), its `score`, the vectorised rank values of an evaluated chunk
(`rank_values`), the constraint checks of `evaluate_chunk`, the recommendations' wording and the command
line's columns. Values are compared as `sign x value`, lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from calculator.planning.rows import ResultRow


@dataclass(frozen=True, kw_only=True)
class Objective:
    """field: the ResultRow field ranked (None: the balanced index, derived from cost, TPOT and
    throughput); sign: +1 lowest first, -1 highest first; label: how the recommendations name the best row;
    column: the command line's column for the field."""

    name: str
    field: str | None
    sign: int
    label: str
    column: str | None


@dataclass(frozen=True, kw_only=True)
class Constraint:
    """name: the ComparisonSpec field holding the limit; reason: the infeasibility reason it counts under;
    field: the ResultRow field it limits; sign: +1 a maximum (value <= limit), -1 a minimum
    (value >= limit); unit and superlative: the recommendations' wording for the best row when nothing
    meets it."""

    name: str
    reason: str
    field: str
    sign: int
    unit: str
    superlative: str


OBJECTIVE_TABLE: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            name="cost",
            field="cost_per_million_tokens_usd",
            sign=1,
            label="Cheapest feasible",
            column="usd_per_million_tokens",
        ),
        Objective(name="latency", field="tpot_ms", sign=1, label="Lowest TPOT", column="tpot_ms"),
        Objective(
            name="throughput",
            field="output_tokens_per_s",
            sign=-1,
            label="Highest throughput",
            column="output_tokens_per_s",
        ),
        Objective(name="balanced", field=None, sign=-1, label="Best balance", column=None),
        Objective(name="gpus", field="num_gpus", sign=1, label="Fewest GPUs", column="num_gpus"),
        Objective(
            name="throughput_per_gpu",
            field="output_tokens_per_s_per_gpu",
            sign=-1,
            label="Highest throughput per GPU",
            column="output_tokens_per_s_per_gpu",
        ),
    )
}

OBJECTIVES = tuple(OBJECTIVE_TABLE)
"""cost: lowest cost_per_million_tokens_usd; latency: lowest tpot_ms; throughput: highest
output_tokens_per_s; balanced: highest balanced index (see `balanced_index`); gpus: fewest GPUs (with a
traffic: the replicas it needs); throughput_per_gpu: highest output tokens/s per GPU."""

SIZED_OBJECTIVES = ("gpus", "throughput_per_gpu")
"""Objectives about a deployment at its load: they make a comparison sized (ComparisonSpec.sized)."""

CONSTRAINTS = (
    Constraint(
        name="max_ttft_ms",
        reason="ttft",
        field="ttft_ms",
        sign=1,
        unit="ms",
        superlative="fastest first token",
    ),
    Constraint(name="max_tpot_ms", reason="tpot", field="tpot_ms", sign=1, unit="ms", superlative="fastest"),
    Constraint(
        name="max_monthly_cost_usd",
        reason="monthly_cost",
        field="monthly_cost_usd",
        sign=1,
        unit="USD/month",
        superlative="cheapest",
    ),
    Constraint(
        name="min_output_tokens_per_s",
        reason="throughput",
        field="output_tokens_per_s",
        sign=-1,
        unit="tokens/s",
        superlative="highest throughput",
    ),
)
"""In the order a configuration that misses several is attributed to the first."""

CONSTRAINT_REASONS = tuple(c.reason for c in CONSTRAINTS)
CONSTRAINT_BY_REASON = {c.reason: c for c in CONSTRAINTS}

BALANCED_REFERENCE = {"cost_per_million_tokens_usd": 1.0, "tpot_ms": 50.0, "output_tokens_per_s": 1000.0}
"""Reference point of the balanced index (index 1.0): $1 per 1M output tokens, 50 ms TPOT, 1000 tokens/s."""


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
    """Lower is better; inf = not ranked. Same arithmetic as the vectorised `rank_values`."""
    o = OBJECTIVE_TABLE[objective]
    if o.field is not None:
        return o.sign * getattr(row, o.field)
    if not row.priced:
        return math.inf
    return -(row.output_tokens_per_s / (row.cost_per_million_tokens_usd * row.tpot_ms))


def rank_values(columns: Mapping[str, np.ndarray], objective: str) -> np.ndarray:
    """`rank_value` over columns keyed by ResultRow field (unmasked, same shape)."""
    o = OBJECTIVE_TABLE[objective]
    if o.field is not None:
        return o.sign * columns[o.field]
    cost, tpot, tps = (columns[f] for f in ("cost_per_million_tokens_usd", "tpot_ms", "output_tokens_per_s"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(cost), -(tps / (cost * tpot)), np.inf)


def row_order(objective: str) -> Callable[[ResultRow], tuple[float, str]]:
    """The total order rows are selected by under `objective`: (rank value, key)."""
    return lambda row: (rank_value(row, objective), row.key)


def score_value(objective: str, values: Mapping[str, float]) -> float:
    """ResultRow.score: the objective's field as it is (not signed), or the balanced index; `values` maps
    ResultRow field names to the row's values."""
    o = OBJECTIVE_TABLE[objective]
    if o.field is None:
        return balanced_index(
            values["cost_per_million_tokens_usd"], values["tpot_ms"], values["output_tokens_per_s"]
        )
    return float(values[o.field])


def constraint_value(row: ResultRow, reason: str) -> float:
    """The row's value under a constraint, signed so that lower is better."""
    c = CONSTRAINT_BY_REASON[reason]
    return c.sign * getattr(row, c.field)


def constraint_met(value: Any, limit: Any, sign: int) -> Any:
    """value <= limit for a maximum (sign +1), value >= limit for a minimum (-1); scalars or arrays."""
    return value * sign <= limit * sign
