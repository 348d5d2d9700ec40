"""Bulk comparisons: rank every combination of models x hardware x precisions x frameworks x parallelism x
batch sizes x deployment modes for one workload, chunk by chunk, and merge the partial results.

The modules follow the flow. A job runs `resolve_spec` (spec) once, `plan_chunks` (chunks) to fan out,
`evaluate_chunk` (partials) per chunk (on any worker, in any order, retried at will: a chunk's result depends
only on the spec and the chunk) and `merge_partials` (merge) on the collected `PartialResult`s; rows
(`ResultRow`, rank values), the Pareto front (pareto) and the recommendations' text (recommend) serve them.
"""

from calculator.planning.chunks import ChunkSpec, plan_chunks
from calculator.planning.merge import ComparisonResult, merge_partials, run_comparison
from calculator.planning.pareto import pareto_indices
from calculator.planning.partials import PartialResult, evaluate_chunk
from calculator.planning.rows import (
    BALANCED_REFERENCE,
    ResultRow,
    balanced_index,
    configuration_key,
    rank_value,
)
from calculator.planning.spec import (
    CONSTRAINT_REASONS,
    ENGINE_REASONS,
    MAX_CONFIGURATIONS,
    OBJECTIVES,
    REASONS,
    ComparisonError,
    ComparisonSpec,
    resolve_spec,
)

__all__ = [
    "BALANCED_REFERENCE",
    "CONSTRAINT_REASONS",
    "ENGINE_REASONS",
    "MAX_CONFIGURATIONS",
    "OBJECTIVES",
    "REASONS",
    "ChunkSpec",
    "ComparisonError",
    "ComparisonResult",
    "ComparisonSpec",
    "PartialResult",
    "ResultRow",
    "balanced_index",
    "configuration_key",
    "evaluate_chunk",
    "merge_partials",
    "pareto_indices",
    "plan_chunks",
    "rank_value",
    "resolve_spec",
    "run_comparison",
]
