"""The calculator's batch-size sweep: one vectorised evaluation gives, batch for batch, the figures one
estimate_deployment per batch size gives (the chart's numbers did not move when the loop went away)."""

from __future__ import annotations

import pytest

from calculator import estimate_deployment, resolve_deployment
from calculator.cost import CostAssumptions
from planner.services import estimates
from planner.web import calculator as calc

CONFIGURATIONS = [
    # one GPU, the page's defaults
    {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "precision": "fp16", "batch_size": 8},
    # the 70B example: fp8, TP 4, a traffic and an SLO (the sweep itself is offline)
    {
        "model": "llama-3.1-70b", "hardware": "h100-sxm-80gb", "precision": "fp8", "tensor_parallel": 4,
        "num_gpus": 4, "prompt_tokens": 1000, "output_tokens": 200, "requests_per_hour": 36000,
        "batch_size": 24, "slo": {"ttft_p99_ms": 1000},
    },
    # replicas (GPUs beyond TP x PP), pipeline stages, another framework and precision, a long prompt
    {
        "model": "qwen2.5-7b", "hardware": "a100-sxm-80gb", "precision": "int8", "framework": "sglang",
        "tensor_parallel": 2, "pipeline_parallel": 2, "num_gpus": 8, "prompt_tokens": 8000,
        "output_tokens": 500, "batch_size": 3,
    },
]  # fmt: skip


def _per_batch_loop(run: estimates.EstimateRun, db_catalog) -> list[dict[str, float]]:
    """The sweep as it was: estimate_deployment once per batch size."""
    inputs = run.inputs
    engine_kwargs = {name: inputs[name] for name in estimates.ENGINE_INPUT_DEFAULTS}
    deployment = resolve_deployment(inputs["model"], inputs["hardware"], catalog=db_catalog, **engine_kwargs)
    points = []
    for size in calc.sweep_batch_sizes(run.estimate.memory.max_batch_size, inputs["batch_size"]):
        est = estimate_deployment(
            deployment.replace(
                batch_size=size,
                requests_per_hour=0.0,
                request_rate=None,
                concurrency=None,
                burst_requests=None,
            ),
            assumptions=CostAssumptions(**inputs.get("assumptions", {})),
            catalog=db_catalog,
        )
        perf = est.performance
        points.append(
            {
                "batch_size": size,
                "ttft_ms": round(perf.ttft_s * 1e3, 3),
                "tpot_ms": round(perf.tpot_s * 1e3, 3),
                "output_tokens_per_s": round(perf.output_tokens_per_s, 2),
                "decode_tokens_per_s_per_user": round(perf.decode_tokens_per_s_per_user, 2),
                "cost_per_million_usd": round(est.cost.cost_per_million_tokens_usd, 4),
                "runs": not est.blockers,
            }
        )
    return points


@pytest.mark.django_db
@pytest.mark.parametrize("inputs", CONFIGURATIONS, ids=lambda c: f"{c['model']}-{c['hardware']}")
def test_the_vectorised_sweep_equals_one_estimate_per_batch_size(catalog, inputs):
    db_catalog = calc.load_catalog()
    run = estimates.estimate_run(inputs)

    sweep = calc.batch_sweep(run, db_catalog)
    expected = _per_batch_loop(run, db_catalog)

    assert len(sweep) >= 4
    assert all(point["runs"] for point in expected)
    assert sweep == [{k: v for k, v in point.items() if k != "runs"} for point in expected]
    assert run.inputs["batch_size"] in [point["batch_size"] for point in sweep]


@pytest.mark.django_db
def test_the_sweep_is_empty_when_the_deployment_cannot_run(catalog):
    run = estimates.estimate_run({"model": "llama-3.1-70b", "hardware": "l40s-48gb", "precision": "fp16"})

    assert calc.batch_sweep(run, calc.load_catalog()) == []
