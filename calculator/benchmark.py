"""Throughput of the vectorised engine: configurations evaluated per second on one core."""

from __future__ import annotations

import time
from typing import Any

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


def run_planning_benchmark(*, repeats: int = 3, console: Console | None = None) -> dict[str, float]:
    """Time the planning layer, best of `repeats`, one process: the catalog-wide capacity plan for one model
    and one SLO (every hardware x precision x framework x TP 1/2/4/8, each sized), and a comparison of about a
    million configurations without and with a traffic to size (the serving model per configuration)."""
    from calculator.planning import resolve_spec, run_comparison
    from calculator.planning.capacity import plan_capacity, resolve_capacity_request

    console = console or Console()
    request = resolve_capacity_request(
        {
            "model": "llama-3.1-70b",
            "requests_per_hour": 36_000,
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "slo": {"ttft_p99_ms": 1000, "tpot_p50_ms": 50},
        }
    )
    figures: dict[str, float] = {}

    def best(label: str, run: Any) -> None:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        figures[label] = min(times)

    best("capacity_plan_s", lambda: plan_capacity(request))
    grid = {"models": ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "mistral-7b"], "hardware": ["*"],
            "precisions": ["*"], "frameworks": ["*"], "tensor_parallel": [1, 2, 4, 8],
            "batch_sizes": [0, 1, 8, 32], "deployment_modes": ["cloud"]}  # fmt: skip
    plain, sized = resolve_spec(grid), resolve_spec({**grid, "requests_per_hour": 36_000})
    # The same million configurations sized to a traffic within an SLO: the serving model picks the batch, so
    # the batch-size axis gives way to more models.
    models = ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "mistral-7b", "gemma-2-9b", "gemma-2-27b",
              "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "codellama-7b",
              "gemma-3-12b", "gemma-3-27b", "gpt-oss-20b", "gpt-oss-120b"]  # fmt: skip
    auto = resolve_spec({**grid, "models": models, "batch_sizes": ["auto"]})
    slo = resolve_spec(
        {**auto.to_dict(), "requests_per_hour": 36_000, "slo": {"ttft_p99_ms": 1000, "tpot_p50_ms": 50}}
    )
    best("comparison_s", lambda: run_comparison(plain, target=500_000))
    best("comparison_with_traffic_s", lambda: run_comparison(sized, target=500_000))
    best("comparison_auto_s", lambda: run_comparison(auto, target=500_000))
    best("comparison_with_slo_s", lambda: run_comparison(slo, target=500_000))
    figures["comparison_with_slo_per_million_s"] = figures["comparison_with_slo_s"] / slo.size * 1e6
    console.print(
        f"capacity plan ({request.size:,} configurations, one model, one SLO): "
        f"{figures['capacity_plan_s']:.3f} s; "
        f"comparison of {plain.size:,} configurations: {figures['comparison_s']:.2f} s, with a traffic sized "
        f"per configuration: {figures['comparison_with_traffic_s']:.2f} s "
        f"({figures['comparison_with_traffic_s'] / figures['comparison_s']:.2f}x); "
        f"sized to the traffic within an SLO ({slo.size:,} configurations, the serving model picks the "
        "batch): "
        f"{figures['comparison_with_slo_s']:.2f} s against {figures['comparison_auto_s']:.2f} s unsized "
        f"({figures['comparison_with_slo_s'] / figures['comparison_auto_s']:.2f}x), "
        f"{figures['comparison_with_slo_per_million_s']:.2f} s per million sized configurations; "
        f"best of {repeats}"
    )
    return figures


TEAM_FIT_SOURCES = "gpustack-perflab"
"""The lab whose serving.csv rows stand in for a team's own (12 files: vLLM, SGLang and TensorRT-LLM on
A100, H100 and H200, dense and MoE models, concurrency sweeps)."""


def run_team_fit_benchmark(path: str, *, rows: int = 500, console: Console | None = None) -> dict[str, Any]:
    """Time `team_fit.fit_team` as a calibration job runs it (one process, its cross-validation included) on
    the first `rows` performance rows of TEAM_FIT_SOURCES in `path`; print the time and the errors."""
    import csv

    from calculator.calibration import default_calibration
    from calculator.team_fit import fit_team

    console = console or Console()
    with open(path, newline="") as handle:
        picked = [r for r in csv.DictReader(handle) if r["source"].startswith(TEAM_FIT_SOURCES)][:rows]
    start = time.perf_counter()
    fit = fit_team(picked, default_calibration(), name="benchmark")
    seconds = time.perf_counter() - start
    report = fit.report
    console.print(
        f"team fit: {report['rows_used']} rows ({len(picked)} read, {TEAM_FIT_SOURCES}*) in {seconds:.1f} s, "
        f"cells {', '.join(report['cells'])}, error band by {report['cross_validation']}"
    )
    for metric, v in report["metrics"].items():
        console.print(
            f"  {metric:28s} n={v['n']:4d}  shipped {v['shipped']:.1%}  team {v['team']:.1%}  "
            f"cross-validated {v['cross_validated']:.1%}"
        )
    return {"seconds": seconds, **report}
