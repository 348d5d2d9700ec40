"""Merge chunk results into a `ComparisonResult`, and `run_comparison` (plan, evaluate, merge in one process).

The merged result does not depend on how the grid was chunked or on the order of the partials: every
selection uses the total order (rank value, key), so the top k / best of a union is the top k / best of the
chunks' top k / best, and a row on the global Pareto front is on its chunk's front.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from calculator.calibration import Calibration
from calculator.planning.chunks import plan_chunks
from calculator.planning.objectives import (
    CONSTRAINT_REASONS,
    OBJECTIVES,
    constraint_value,
    rank_value,
    row_order,
)
from calculator.planning.pareto import pareto_indices, pareto_order
from calculator.planning.partials import PartialResult, evaluate_chunk
from calculator.planning.recommend import recommendations_text
from calculator.planning.rows import ResultRow
from calculator.planning.spec import REASONS, ComparisonSpec
from calculator.progress import ProgressCallback
from calculator.specs import Catalog


@dataclass(frozen=True, kw_only=True)
class ComparisonResult:
    """The merged comparison. `complete` is False while some chunks are missing (evaluated < spec.size).
    top: the global top_k with rank 1..k, ordered by (rank value, key); pareto: the global front ordered by
    cost; best: cheapest ("cost"), lowest TPOT ("latency"), highest throughput ("throughput"), "balanced"."""

    spec: ComparisonSpec
    chunks: int
    evaluated: int
    feasible: int
    unpriced: int
    infeasible: dict[str, int]
    top: tuple[ResultRow, ...]
    pareto: tuple[ResultRow, ...]
    best_by_hardware: dict[str, ResultRow]
    best_by_model: dict[str, ResultRow]
    best: dict[str, ResultRow]
    recommendations: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.evaluated == self.spec.size

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "chunks": self.chunks,
            "complete": self.complete,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "unpriced": self.unpriced,
            "infeasible": dict(self.infeasible),
            "top": [r.to_dict() for r in self.top],
            "pareto": [r.to_dict() for r in self.pareto],
            "best_by_hardware": {k: r.to_dict() for k, r in self.best_by_hardware.items()},
            "best_by_model": {k: r.to_dict() for k, r in self.best_by_model.items()},
            "best": {k: r.to_dict() for k, r in self.best.items()},
            "recommendations": list(self.recommendations),
        }


def _best_of(rows: Iterable[ResultRow], objective: str) -> ResultRow | None:
    candidates = [r for r in rows if math.isfinite(rank_value(r, objective))]
    return min(candidates, key=row_order(objective)) if candidates else None


def merge_partials(spec: ComparisonSpec, partials: Sequence[PartialResult]) -> ComparisonResult:
    """Merge chunk results (any order; a chunk delivered twice, e.g. by a retried task, counts once).

    Counts are summed; the top_k, the best rows and the Pareto front are recomputed over the union of the
    chunks' selections with the same total order, so the result equals a single-chunk run."""
    digest = spec.digest
    by_index: dict[int, PartialResult] = {}
    for partial in partials:
        if partial.spec_digest != digest:
            raise ValueError(f"chunk {partial.chunk_index} belongs to another comparison spec")
        by_index.setdefault(partial.chunk_index, partial)
    chosen = [by_index[i] for i in sorted(by_index)]
    objective = spec.objective
    infeasible = dict.fromkeys(REASONS, 0)
    for partial in chosen:
        for reason, count in partial.infeasible.items():
            infeasible[reason] = infeasible.get(reason, 0) + count

    def union(name: str) -> list[ResultRow]:
        rows: dict[str, ResultRow] = {}
        for partial in chosen:
            value = getattr(partial, name)
            for row in value.values() if isinstance(value, dict) else value:
                rows.setdefault(row.key, row)
        return list(rows.values())

    candidates = union("pareto")
    front_index = pareto_indices(
        np.array([r.cost_per_million_tokens_usd for r in candidates]),
        np.array([r.tpot_ms for r in candidates]),
        np.array([r.output_tokens_per_s for r in candidates]),
    )
    front = sorted((candidates[i] for i in front_index), key=pareto_order)
    on_front = {r.key for r in front}

    def final(row: ResultRow, rank: int = 0) -> ResultRow:
        return replace(row, rank=rank, is_pareto=row.key in on_front)

    top = sorted(union("top"), key=row_order(objective))[: spec.top_k]
    groups: dict[str, dict[str, ResultRow]] = {}
    for name, attr, order in (
        ("hardware", "best_by_hardware", spec.hardware),
        ("model", "best_by_model", spec.models),
    ):
        best: dict[str, ResultRow] = {}
        for row in union(attr):
            group = getattr(row, name)
            if group not in best or row_order(objective)(row) < row_order(objective)(best[group]):
                best[group] = row
        groups[name] = {g: final(best[g]) for g in order if g in best}
    best_by_objective = {}
    for name in OBJECTIVES:
        row = _best_of((p.best_by_objective[name] for p in chosen if name in p.best_by_objective), name)
        if row is not None:
            best_by_objective[name] = final(row)
    best_runnable = {}
    for reason in CONSTRAINT_REASONS:
        rows = [p.best_runnable[reason] for p in chosen if reason in p.best_runnable]
        if rows:
            best_runnable[reason] = min(rows, key=lambda r, x=reason: (constraint_value(r, x), r.key))
    result = ComparisonResult(
        spec=spec,
        chunks=len(chosen),
        evaluated=sum(p.evaluated for p in chosen),
        feasible=sum(p.feasible for p in chosen),
        unpriced=sum(p.unpriced for p in chosen),
        infeasible=infeasible,
        top=tuple(final(row, rank) for rank, row in enumerate(top, 1)),
        pareto=tuple(final(row) for row in front),
        best_by_hardware=groups["hardware"],
        best_by_model=groups["model"],
        best=best_by_objective,
    )
    return replace(result, recommendations=tuple(recommendations_text(result, best_runnable)))


def run_comparison(
    spec: ComparisonSpec,
    *,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
    target: int = 250_000,
    progress: ProgressCallback | None = None,
) -> ComparisonResult:
    """Plan, evaluate every chunk in this process, merge (tests and the command line); `progress` hears of
    each evaluated chunk ("configurations": done and total counted in configurations)."""
    chunks = plan_chunks(spec, target)
    partials = []
    done = 0
    if progress is not None:
        progress("configurations", 0, spec.size)
    for chunk in chunks:
        partial = evaluate_chunk(spec, chunk, catalog=catalog, calibration=calibration)
        partials.append(partial)
        done += partial.evaluated
        if progress is not None:
            progress("configurations", done, spec.size)
    return merge_partials(spec, partials)
