"""One configuration's figures (`ResultRow`) and its key; its value under each objective is in `objectives`.

Prices: a feasible configuration whose hardware has no price for its deployment mode in the catalog (no
cloud $/GPU-hour, or no purchase price for local/edge) is "unpriced": its cost fields are infinite (None in
`to_dict`), it fails a max_monthly_cost_usd constraint, it is not ranked under the "cost" and "balanced"
objectives and is not on the Pareto front (cost is one of its axes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


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
    """All device time over the OUTPUT tokens (what the "cost" objective ranks by)."""
    monthly_cost_usd: float
    memory_utilization: float
    score: float
    output_tokens_per_s_per_gpu: float = 0.0
    replicas: int = 1
    """Data-parallel replicas (num_gpus counts them all): 1 unless the comparison is sized."""
    ttft_p99_ms: float | None = None
    """Sized comparisons: one replica's operating point at its load (p99s, utilisation, binding bound)."""
    tpot_p99_ms: float | None = None
    utilization: float | None = None
    binding_constraint: str = ""
    prefill_cost_per_million_input_tokens_usd: float = math.nan
    """The same cost per request split by phase (cost.token_costs): the prefill's share over the prompt
    tokens, the decode's over the output tokens, and all of it over prompt + output tokens. Not ranked by;
    NaN (None in `to_dict`) when unpriced or in partial results stored before the split."""
    decode_cost_per_million_output_tokens_usd: float = math.nan
    blended_cost_per_million_tokens_usd: float = math.nan
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
        split = set(SPLIT_FIELDS)

        def value(k: str, v: Any) -> Any:
            if v is None and k in floats:
                return math.inf
            return math.nan if v is None and k in split else v

        return cls(**{k: value(k, v) for k, v in data.items()})


SPLIT_FIELDS = (
    "prefill_cost_per_million_input_tokens_usd",
    "decode_cost_per_million_output_tokens_usd",
    "blended_cost_per_million_tokens_usd",
)
"""A row's cost per token split by phase (ResultRow), in the order the front doors show them."""


def configuration_key(
    model: str, hardware: str, precision: str, framework: str, tp: int, gpus: int, batch: int, mode: str
) -> str:
    """model|hardware|precision|framework|tp<N>|gpus<N>|bs<N or auto>|mode"""
    return f"{model}|{hardware}|{precision}|{framework}|tp{tp}|gpus{gpus}|bs{batch or 'auto'}|{mode}"
