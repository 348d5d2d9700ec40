"""Throughput of the vectorised engine: configurations evaluated per second on one core."""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console

from calculator.catalog import default_catalog
from calculator.engine import evaluate
from calculator.frameworks import CURRENT_FRAMEWORKS, FRAMEWORKS
from calculator.grid import EntityTables, Grid, tensor_batch
from calculator.precisions import PRECISIONS


def benchmark_grid(configurations: int) -> tuple[EntityTables, dict]:
    """A grid of about `configurations` rows over the whole catalog (every model, hardware, precision and
    framework; TP 1-8; the batch-size list is stretched to reach the requested size)."""
    catalog = default_catalog()
    tables = EntityTables(
        models=list(catalog.models.values()),
        hardware=list(catalog.hardware.values()),
        precisions=list(PRECISIONS.values()),
        frameworks=[FRAMEWORKS[k] for k in CURRENT_FRAMEWORKS],
    )
    base = len(tables.models) * len(tables.hardware) * len(tables.precisions) * len(tables.frameworks) * 4
    batches = max(1, round(configurations / base))
    return tables, {"tensor_parallel": (1, 2, 4, 8), "batch_sizes": tuple(range(batches))}


def run_benchmark(
    *, configurations: int = 1_000_000, repeats: int = 3, console: Console | None = None
) -> float:
    """Evaluate the grid model by model as broadcast columns, as the comparison jobs do; print the best
    rate."""
    console = console or Console()
    tables, settings = benchmark_grid(configurations)
    grid = Grid(tables=tables, **settings)
    tensor_batch(grid, slice(0, 1))  # warm the per-entity tables, as a worker does once
    n = len(grid)
    timings = []
    feasible = 0
    for _ in range(repeats):
        start = time.perf_counter()
        feasible = 0
        for i in range(len(tables.models)):
            result = evaluate(tensor_batch(grid, slice(i, i + 1)))
            feasible += int(np.count_nonzero(result.blockers == 0))
        timings.append(time.perf_counter() - start)
    best = min(timings)
    rate = n / best
    console.print(
        f"{n:,} configurations ({feasible:,} feasible) evaluated in {best:.2f} s "
        f"(best of {repeats}) -> {rate:,.0f} configurations/s on one core"
    )
    return rate
