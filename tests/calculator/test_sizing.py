"""The serving model under load, SLO goodput, sizing and the capacity plan: what must always hold (property
tests over the catalog) and the worked questions of the capacity-planning issue."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calculator import InputError, resolve_deployment
from calculator.catalog import default_catalog
from calculator.deployment import deployments_batch
from calculator.engine import evaluate
from calculator.planning import capacity
from calculator.planning.sizing import BINDING, size_deployment, size_replicas
from calculator.planning.slo import SLO, resolve_slo, resolve_traffic
from calculator.serving import ReplicaModel

CONFIGS = [
    ("llama-3.1-8b", "h100-sxm-80gb", "fp16", 1),
    ("llama-3.1-70b", "h100-sxm-80gb", "fp8", 4),
    ("llama-3.1-405b", "h100-sxm-80gb", "fp8", 8),
    ("qwen2.5-7b", "l40s-48gb", "fp16", 1),
    ("llama-3.1-8b", "a100-sxm-80gb", "int4-awq", 1),
]
config = st.sampled_from(CONFIGS)
lengths = st.tuples(st.integers(16, 8000), st.integers(2, 2000))
settings_ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def replica_of(cfg, prompt: int, output: int, copies: int = 1) -> tuple[ReplicaModel, object]:
    model, hardware, precision, tp = cfg
    d = resolve_deployment(
        model,
        hardware,
        precision=precision,
        tensor_parallel=tp,
        prompt_tokens=prompt,
        output_tokens=output,
        batch_size=0,
        num_gpus=tp * copies,
    )
    batch = deployments_batch([d])
    results = evaluate(batch)
    return ReplicaModel(batch, results.max_batch_size), results


@settings_
@given(config, lengths, st.lists(st.floats(0.01, 4.0), min_size=2, max_size=8))
def test_served_rate_throughput_and_latencies_are_monotone_in_the_offered_rate(cfg, io, shares):
    replica, results = replica_of(cfg, *io)
    if not results.fits[0]:
        return
    rates = np.sort(np.array(shares)) * replica.capacity[0]
    rows = [replica.at_rate(np.array([r])) for r in rates]
    served = np.array([float(p.requests_per_s[0]) for p in rows])
    assert np.all(served <= rates * (1 + 1e-9)), "a replica never serves more than it is offered"
    assert np.all(np.diff(served) >= -1e-9 * served[:-1])
    for name in (
        "tpot_s",
        "tpot_p99_s",
        "ttft_p50_s",
        "ttft_p99_s",
        "ttft_mean_s",
        "e2e_p99_s",
        "concurrency",
    ):
        values = np.array([float(getattr(p, name)[0]) for p in rows])
        finite = values[np.isfinite(values)]
        assert np.all(np.diff(finite) >= -1e-9 * np.abs(finite[:-1])), name
        # Once infinite (saturated), it stays infinite.
        assert np.all(np.isfinite(values) | (np.cumsum(~np.isfinite(values)) > 0))
    for r, p in zip(rates, rows, strict=True):
        assert bool(p.saturated[0]) == (r >= replica.capacity[0] * (1 - 1e-9))
        if p.saturated[0]:
            assert math.isinf(float(p.ttft_p99_s[0])), "above capacity the queue is unbounded"
            assert float(p.requests_per_s[0]) == pytest.approx(float(replica.capacity[0]))


@settings_
@given(config, lengths)
def test_a_replica_never_serves_more_than_the_offline_maximum_or_decodes_past_the_roofline(cfg, io):
    replica, results = replica_of(cfg, *io)
    if not results.fits[0]:
        return
    offline_best = evaluate(deployments_batch_at(cfg, io, replica.best_batch[0])).requests_per_s[0]
    assert replica.capacity[0] <= offline_best * (1 + 1e-9)
    point = replica.at_rate(replica.capacity * 0.5)
    assert 1.0 / point.tpot_s[0] <= results.roofline_tokens_per_s_per_user[0] * (1 + 1e-9)


def deployments_batch_at(cfg, io, batch_size: float):
    model, hardware, precision, tp = cfg
    d = resolve_deployment(
        model,
        hardware,
        precision=precision,
        tensor_parallel=tp,
        prompt_tokens=io[0],
        output_tokens=io[1],
        batch_size=round(batch_size),
    )
    return deployments_batch([d])


@settings_
@given(config, lengths, st.integers(1, 8), st.floats(0.1, 3.0))
def test_replicas_multiply_what_a_deployment_serves(cfg, io, copies, share):
    one, results = replica_of(cfg, *io)
    if not results.fits[0]:
        return
    model, hardware, precision, tp = cfg
    kwargs = {
        "precision": precision,
        "tensor_parallel": tp,
        "prompt_tokens": io[0],
        "output_tokens": io[1],
        "batch_size": 0,
    }
    single = evaluate(deployments_batch([resolve_deployment(model, hardware, num_gpus=tp, **kwargs)]))
    many = evaluate(deployments_batch([resolve_deployment(model, hardware, num_gpus=tp * copies, **kwargs)]))
    assert many.output_tokens_per_s[0] == pytest.approx(copies * single.output_tokens_per_s[0])
    assert many.cost.hourly_usd[0] == pytest.approx(copies * single.cost.hourly_usd[0])
    assert many.cost.cost_per_million_tokens_usd[0] == pytest.approx(
        single.cost.cost_per_million_tokens_usd[0]
    )
    assert many.ttft_s[0] == pytest.approx(single.ttft_s[0])
    # Served rate grows with replicas at a fixed offered rate, never above the offer.
    offered = share * one.capacity[0] * copies
    served = [min(offered / k, one.capacity[0]) * k for k in range(1, copies + 1)]
    measured = [
        float(one.at_rate(np.array([offered / k])).requests_per_s[0]) * k for k in range(1, copies + 1)
    ]
    assert measured == pytest.approx(served, rel=1e-6)
    assert all(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(measured))


@settings_
@given(config, lengths, st.floats(50, 5000), st.floats(0.05, 40.0))
def test_sizing_meets_the_slo_with_the_fewest_replicas(cfg, io, ttft_p99_ms, peak):
    replica, results = replica_of(cfg, *io)
    if not results.fits[0]:
        return
    slo = SLO(ttft_p99_ms=ttft_p99_ms)
    s = size_replicas(replica, slo, peak)
    goodput = float(s.goodput.goodput_rps[0])
    assert goodput <= replica.capacity[0] * 0.9 * (1 + 1e-9)
    if goodput <= 0:
        assert s.replicas[0] == 0
        return
    n = int(s.replicas[0])
    assert n == math.ceil(peak / goodput - 1e-9)
    assert float(s.point.ttft_p99_s[0]) * 1e3 <= ttft_p99_ms * (1 + 1e-6), "each replica meets the SLO"
    if n > 1:
        fewer = replica.at_rate(np.array([peak / (n - 1)]))
        over = float(fewer.ttft_p99_s[0]) * 1e3 > ttft_p99_ms * (1 - 1e-6) or peak / (n - 1) > goodput
        assert over, "one replica fewer would break the SLO or the utilisation cap"


def test_the_70b_question_is_one_replica_at_about_12_5k_a_month():
    d = resolve_deployment("llama-3.1-70b", "h100-sxm-80gb", precision="fp8", tensor_parallel=4,
                           prompt_tokens=1000, output_tokens=200)  # fmt: skip
    s = size_deployment(d, resolve_slo({"ttft_p99_ms": 1000}), resolve_traffic(requests_per_hour=36_000))
    price = default_catalog().hardware["h100-sxm-80gb"].cloud_usd_per_hour
    assert s.feasible and s.replicas == 1 and s.gpus == 4
    assert s.monthly_usd == pytest.approx(price * 4 * 730)
    assert s.ttft_p99_ms <= 1000
    assert s.binding_constraint == "ttft_p99_ms"
    assert "TTFT p99 reaches 1,000 ms at" in s.binding_message
    assert s.cost_per_request_usd == pytest.approx(price * 4 / 3600 / 10)
    # The curve grows with load and ends below capacity.
    ttft = [p["ttft_p99_ms"] for p in s.curve]
    assert ttft == sorted(ttft)


def test_an_slo_nothing_meets_names_the_constraint_and_how_far():
    d = resolve_deployment("llama-3.1-70b", "h100-sxm-80gb", precision="fp8", tensor_parallel=4)
    s = size_deployment(d, resolve_slo({"ttft_p99_ms": 5}), resolve_traffic(requests_per_s=1))
    assert not s.feasible and s.replicas is None and s.monthly_usd is None
    assert s.failing["constraint"] == "ttft_p99_ms" and s.failing["ratio"] > 1
    assert "TTFT p99" in s.reason


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"ttft_p99_ms": -1}, "slo.ttft_p99_ms"),
        ({"ttft_p99_ms": "fast"}, "slo.ttft_p99_ms"),
        ({"latency": 3}, "slo.latency"),
        ({"ttft_p50_ms": 500, "ttft_p99_ms": 100}, "slo.ttft_p50_ms"),
        ({"ttft_p99_ms": 5000, "e2e_p99_s": 1}, "slo.e2e_p99_s"),
    ],
)
def test_bad_slos_name_the_field(raw, field):
    with pytest.raises(InputError) as error:
        resolve_slo(raw)
    assert error.value.field == field


def test_traffic_validation_names_the_field():
    assert resolve_traffic() is None
    assert resolve_traffic(requests_per_hour=36_000, peak_to_mean=2).peak_rps == pytest.approx(20)
    for kwargs, field in (
        ({"requests_per_s": 0}, "requests_per_s"),
        ({"requests_per_s": 1, "requests_per_hour": 7200}, "requests_per_hour"),
        ({"requests_per_s": 1, "peak_to_mean": 0.5}, "peak_to_mean"),
        ({"requests_per_s": 2, "peak_requests_per_s": 1}, "peak_requests_per_s"),
        ({"peak_to_mean": 2}, "requests_per_s"),
    ):
        with pytest.raises(InputError) as error:
            resolve_traffic(**kwargs)
        assert error.value.field == field


def test_num_gpus_beyond_tp_x_pp_are_replicas():
    d = resolve_deployment("llama-3.1-70b", "h100-sxm-80gb", precision="fp8", num_gpus=8, tensor_parallel=2)
    assert (d.tensor_parallel, d.pipeline_parallel, d.replicas) == (2, 1, 4)
    assert resolve_deployment("llama-3.1-8b", "h100-sxm-80gb", replicas=3).num_gpus == 3
    with pytest.raises(InputError) as error:
        resolve_deployment("llama-3.1-8b", "h100-sxm-80gb", num_gpus=6, tensor_parallel=4)
    assert error.value.field == "num_gpus"
    with pytest.raises(InputError) as error:
        resolve_deployment("llama-3.1-8b", "h100-sxm-80gb", num_gpus=6, tensor_parallel=2, replicas=2)
    assert error.value.field == "replicas"


def test_the_capacity_plan_sizes_the_70b_question_and_counts_rejections():
    request = capacity.resolve_capacity_request(
        {
            "model": "llama-3.1-70b",
            "requests_per_hour": 36_000,
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "slo": {"ttft_p99_ms": 1000, "tpot_p50_ms": 50},
        }
    )
    plan = capacity.plan_capacity(request)
    assert plan.feasible > 0 and plan.options
    assert plan.feasible + sum(plan.rejected.values()) == plan.evaluated == request.size
    monthly = [o.monthly_usd for o in plan.options if o.monthly_usd is not None]
    assert monthly == sorted(monthly)
    for o in plan.options:
        assert o.ttft_p99_ms <= 1000 * (1 + 1e-6) and o.tpot_p50_ms <= 50 * (1 + 1e-6)
        assert o.gpus == o.replicas * o.tensor_parallel * o.pipeline_parallel
        assert o.utilization <= 0.9 + 1e-9
        assert o.replicas * o.goodput_rps_per_replica >= 10 * (1 - 1e-9)
        assert o.binding_constraint in BINDING


def test_a_gpu_budget_ranks_layouts_per_gpu_and_multi_replica_wins():
    request = capacity.resolve_capacity_request(
        {
            "model": "llama-3.1-70b",
            "hardware": "h100-sxm-80gb",
            "precisions": "fp8",
            "frameworks": "vllm",
            "max_total_gpus": 8,
            "prompt_tokens": 1000,
            "output_tokens": 200,
        }
    )
    plan = capacity.plan_capacity(request)
    layouts = {(o.tensor_parallel, o.replicas): o.output_tokens_per_s for o in plan.options}
    assert plan.options[0].replicas > 1
    assert layouts[(2, 4)] > layouts[(8, 1)]
    assert all(o.gpus == 8 for o in plan.options)


def test_capacity_plan_errors_name_the_field():
    for raw, field in (
        ({"models": ["llama-99b"], "requests_per_s": 1}, "models"),
        ({"model": "llama-3.1-8b"}, "requests_per_s"),
        ({"model": "llama-3.1-8b", "requests_per_s": 1, "objective": "vibes"}, "objective"),
        ({"model": "llama-3.1-8b", "max_total_gpus": 8, "objective": "cost"}, "objective"),
        ({"model": "llama-3.1-8b", "requests_per_s": 1, "max_utilization": 1.5}, "max_utilization"),
        ({"model": "llama-3.1-8b", "requests_per_s": 1, "tensor_parallel": [0]}, "tensor_parallel"),
        ({"model": "llama-3.1-8b", "requests_per_s": 1, "colour": "red"}, "colour"),
        ({"model": "llama-3.1-8b", "requests_per_s": 1, "slo": {"ttft_p99_ms": 0}}, "slo.ttft_p99_ms"),
    ):
        with pytest.raises(InputError) as error:
            capacity.resolve_capacity_request(raw)
        assert error.value.field == field, raw


def test_an_unmeetable_slo_reports_the_closest_configuration():
    request = capacity.resolve_capacity_request(
        {"model": "llama-3.1-70b", "requests_per_s": 10, "slo": {"ttft_p99_ms": 1}}
    )
    plan = capacity.plan_capacity(request)
    assert plan.feasible == 0 and not plan.options
    assert plan.closest["constraint"] == "ttft_p99_ms" and plan.closest["ratio"] > 1
    assert any("No configuration meets the SLO" in note for note in plan.notes)
