"""The planning layer: composes estimates into answers.

- slo (SLO, Traffic) -> sizing (goodput within the SLO, replicas, cost from the replicas needed) ->
  capacity (the catalog-wide capacity plan: every configuration sized, ranked, rejections counted);
- advice: recommendations for one estimate;
- bulk comparisons: rank every combination of models x hardware x precisions x frameworks x parallelism x
  batch sizes x deployment modes for one workload, chunk by chunk, and merge the partial results.

The modules follow the flow. A job runs `resolve_spec` (spec) once, `plan_chunks` (chunks) to fan out,
`evaluate_chunk` (partials) per chunk (on any worker, in any order, retried at will: a chunk's result depends
only on the spec and the chunk) and `merge_partials` (merge) on the collected `PartialResult`s; the table
of objectives and constraints (objectives), rows (`ResultRow`), the Pareto front (pareto) and the
recommendations' text (recommend) serve them.
"""

from calculator.planning.chunks import ChunkSpec, plan_chunks
from calculator.planning.merge import ComparisonResult, merge_partials, run_comparison
from calculator.planning.objectives import (
    BALANCED_REFERENCE,
    CONSTRAINT_REASONS,
    CONSTRAINTS,
    OBJECTIVE_TABLE,
    OBJECTIVES,
    Constraint,
    Objective,
    balanced_index,
    constraint_met,
    constraint_value,
    rank_value,
)
from calculator.planning.pareto import pareto_indices
from calculator.planning.partials import PartialResult, evaluate_chunk
from calculator.planning.rows import ResultRow, configuration_key
from calculator.planning.spec import (
    ENGINE_REASONS,
    MAX_CONFIGURATIONS,
    REASONS,
    ComparisonError,
    ComparisonSpec,
    resolve_spec,
)

__all__ = [
    "BALANCED_REFERENCE",
    "CONSTRAINTS",
    "CONSTRAINT_REASONS",
    "ENGINE_REASONS",
    "MAX_CONFIGURATIONS",
    "OBJECTIVES",
    "OBJECTIVE_TABLE",
    "REASONS",
    "ChunkSpec",
    "ComparisonError",
    "ComparisonResult",
    "ComparisonSpec",
    "Constraint",
    "Objective",
    "PartialResult",
    "ResultRow",
    "balanced_index",
    "configuration_key",
    "constraint_met",
    "constraint_value",
    "evaluate_chunk",
    "merge_partials",
    "pareto_indices",
    "plan_chunks",
    "rank_value",
    "resolve_spec",
    "run_comparison",
]
