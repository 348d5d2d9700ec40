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
    ("llama-3.1-8b", "h100-sxm-80gb", "fp8", 1, "sglang"),  # prompts prefilled in passes of their own
    ("llama-3.1-70b", "h100-sxm-80gb", "fp8", 4, "tensorrt-llm"),
]
config = st.sampled_from(CONFIGS)
lengths = st.tuples(st.integers(16, 8000), st.integers(2, 2000))
settings_ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def replica_of(cfg, prompt: int, output: int, copies: int = 1) -> tuple[ReplicaModel, object]:
    model, hardware, precision, tp, *framework = cfg
    d = resolve_deployment(
        model,
        hardware,
        precision=precision,
        tensor_parallel=tp,
        prompt_tokens=prompt,
        output_tokens=output,
        batch_size=0,
        num_gpus=tp * copies,
        framework=framework[0] if framework else "vllm",
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
    b = replica.best_batch
    # The hardware's limit at that batch: its decode steps alone, or its prompts' FLOPs alone.
    decode_only = b / np.maximum(replica.steps * replica.decode_step(b), 1e-30)
    prefill_only = b / replica.prefill_terms.compute_time_s(b)
    assert replica.capacity[0] <= min(decode_only[0], prefill_only[0]) * (1 + 1e-9)
    if not replica.mixing[0]:  # prompts prefilled in passes of their own: no better than a static batch
        offline_best = evaluate(deployments_batch_at(cfg, io, b[0])).requests_per_s[0]
        assert replica.capacity[0] <= offline_best * (1 + 1e-9)
    point = replica.at_rate(replica.capacity * 0.5)
    assert 1.0 / point.tpot_s[0] <= results.roofline_tokens_per_s_per_user[0] * (1 + 1e-9)


def deployments_batch_at(cfg, io, batch_size: float):
    model, hardware, precision, tp, *framework = cfg
    d = resolve_deployment(
        model,
        hardware,
        precision=precision,
        tensor_parallel=tp,
        prompt_tokens=io[0],
        output_tokens=io[1],
        batch_size=round(batch_size),
        framework=framework[0] if framework else "vllm",
    )
    return deployments_batch([d])


@settings_
@given(config, lengths, st.integers(1, 8), st.floats(0.1, 3.0))
def test_replicas_multiply_what_a_deployment_serves(cfg, io, copies, share):
    one, results = replica_of(cfg, *io)
    if not results.fits[0]:
        return
    model, hardware, precision, tp, *framework = cfg
    kwargs = {
        "precision": precision,
        "tensor_parallel": tp,
        "prompt_tokens": io[0],
        "output_tokens": io[1],
        "batch_size": 0,
        "framework": framework[0] if framework else "vllm",
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
    # At the 90% utilisation cap TTFT p99 is about 0.25 s (serving.py, admission: the in-flight count's
    # spread at the operating point sets the chance that every slot is busy): the cap binds first.
    assert s.binding_constraint == "max_utilization"
    assert "the utilisation cap binds first" in s.binding_message
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


def _replica_grid() -> ReplicaModel:
    """Dense and MoE models across the catalog's hardware at TP 1-8 (what the solvers are checked on)."""
    catalog = default_catalog()
    names = [h for h in ("h100-sxm-80gb", "a100-sxm-80gb", "l40s-48gb", "rtx-4090-24gb", "b200-180gb")
             if h in catalog.hardware]  # fmt: skip
    deployments = [
        resolve_deployment(m, h, precision=p, tensor_parallel=tp, prompt_tokens=io[0], output_tokens=io[1])
        for m in ("llama-3.1-8b", "llama-3.1-70b", "gpt-oss-20b", "mistral-7b")
        for h in names
        for p in ("fp16", "fp8")
        for tp in (1, 2, 4, 8)
        for io in ((128, 128), (1000, 200), (4000, 500))
    ]
    batch = deployments_batch(deployments)
    results = evaluate(batch)
    keep = np.flatnonzero(results.blockers == 0)
    return ReplicaModel(batch, results.max_batch_size).subset(keep)


@pytest.mark.parametrize("fw", ["vllm", "sglang", "tensorrt-llm"])
def test_the_rate_grows_with_the_in_flight_count_so_capacity_is_at_the_admissible_batch(fw):
    """rate(b) is increasing in b (serving module docstring), which is why the capacity is rate(admissible
    batch) without a search: checked on 400 in-flight counts over dense and MoE models, prompts prefilled
    alone and riding on decode steps."""
    catalog = default_catalog()
    deployments = [
        resolve_deployment(
            m, h, framework=fw, precision=q, tensor_parallel=t, prompt_tokens=i, output_tokens=o
        )
        for m in ("llama-3.1-8b", "llama-3.1-70b", "gpt-oss-120b", "qwen3-235b-a22b")
        for h in ("h100-sxm-80gb", "l40s-48gb", "b200-180gb")
        if h in catalog.hardware
        for q in ("fp16", "fp8")
        for t in (1, 2, 8)
        for i, o in ((128, 2000), (4000, 200), (32000, 16))
    ]
    batch = deployments_batch(deployments)
    results = evaluate(batch)
    keep = np.flatnonzero(results.blockers == 0)
    replica = ReplicaModel(batch, results.max_batch_size).subset(keep)
    assert keep.size > 50 and np.any(~replica.decode_terms.dense)
    rates = np.stack([replica.rate_at(replica.cap**k) for k in np.linspace(0.0, 1.0, 400)])
    assert np.all(np.diff(rates, axis=0) >= -1e-12 * rates[1:])
    assert np.allclose(replica.capacity, rates.max(axis=0), rtol=1e-12)


def test_phase_lines_reproduce_the_roofline_phase_times():
    from calculator.performance import decode_step_terms, decode_step_time_s, prefill_terms, prefill_time_s

    catalog = default_catalog()
    deployments = [
        resolve_deployment(m, "h100-sxm-80gb", precision="fp8", tensor_parallel=tp)
        for m in ("llama-3.1-70b", "gpt-oss-120b", "qwen3-235b-a22b")
        if m in catalog.models
        for tp in (1, 2, 4, 8)
    ]
    b = deployments_batch(deployments)
    m, h, p, f, w, e = b.model, b.hardware, b.precision, b.framework, b.workload, b.efficiency
    n = np.array([[1.0], [3.0], [17.0], [256.0]])
    context = w.prompt_tokens + w.output_tokens / 2.0
    prefill, decode = prefill_terms(m, h, p, f, w, e), decode_step_terms(m, h, p, f, w, e, context)
    assert np.allclose(prefill.compact().time_s(n), prefill_time_s(m, h, p, f, w, e, n), rtol=1e-12)
    assert np.allclose(
        decode.compact().time_s(n), decode_step_time_s(m, h, p, f, w, e, n, context), rtol=1e-12
    )
    lines = decode.compact()
    (ac, bc), (am, bm) = lines.lines()
    dense = np.broadcast_to(lines.dense, np.shape(lines.time_s(n)))
    two_lines = np.maximum(ac + bc * n, am + bm * n)
    assert np.any(dense) and np.any(~dense)
    assert np.allclose(np.broadcast_to(two_lines, dense.shape)[dense], lines.time_s(n)[dense], rtol=1e-12)


def test_the_closed_form_batch_for_a_rate_matches_the_search():
    replica = _replica_grid()
    rng = np.random.default_rng(7)
    rate = replica.capacity * rng.uniform(0.0, 1.0, replica.capacity.shape)
    closed = replica.batch_for_rate(rate)
    searched = np.ones_like(closed)
    rows = np.flatnonzero(replica.rate_at(np.ones_like(rate)) < rate)
    replica.root_iterations = 60
    searched[rows] = replica.subset(rows)._search_batch_for_rate(rate[rows])
    assert rows.size > 100
    assert np.allclose(closed, searched, rtol=1e-6)
    # The rate is reached, and a batch of one keeps up wherever 1 is returned.
    assert np.allclose(replica.rate_at(closed)[rows], rate[rows], rtol=1e-9)


def test_the_batch_where_tpot_reaches_its_bound_is_exact():
    replica = _replica_grid()
    for bound in (0.01, 0.03, 0.08):
        b = replica.batch_for_tpot(bound)
        crossing = np.flatnonzero(np.isfinite(b) & (b > 1.0))
        assert crossing.size > 10
        tpot = replica.subset(crossing).curve_latencies(b[crossing], ("tpot_s",))[1]["tpot_s"]
        assert np.allclose(tpot, bound, rtol=1e-6)
        # NaN: the bound is never reached up to the best batch.
        never = np.flatnonzero(np.isnan(b))
        top = replica.subset(never).curve_latencies(replica.best_batch[never], ("tpot_s",))[1]["tpot_s"]
        assert np.all(top <= bound * (1 + 1e-9))


@given(
    ttft=st.sampled_from([None, 300.0, 1000.0, 5000.0]),
    ttft_p50=st.sampled_from([None, 150.0, 800.0]),
    tpot=st.sampled_from([None, 15.0, 40.0, 100.0]),
    tpot_p99=st.sampled_from([None, 30.0, 120.0]),
    e2e=st.sampled_from([None, 5.0, 30.0]),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_bulk_goodput_search_is_close_to_exact_and_never_above_it(ttft, ttft_p50, tpot, tpot_p99, e2e):
    """Comparisons search with few iterations: the goodput stays a rate inside the SLO (never above the
    exact one) and within 1% of it on 99% of the configurations."""
    from calculator.planning.partials import COMPARISON_ROOT_ITERATIONS
    from calculator.planning.sizing import slo_goodput

    slo = SLO(ttft_p99_ms=ttft, ttft_p50_ms=ttft_p50, tpot_p50_ms=tpot, tpot_p99_ms=tpot_p99, e2e_p99_s=e2e)
    if (ttft_p50 or 0) > (ttft or math.inf) or (tpot or 0) > (tpot_p99 or math.inf):
        return
    replica = _replica_grid()
    replica.root_iterations = 80
    exact = slo_goodput(replica, slo)
    replica.root_iterations = COMPARISON_ROOT_ITERATIONS
    bulk = slo_goodput(replica, slo)
    assert np.all(bulk.goodput_rps <= exact.goodput_rps * (1 + 1e-9))
    assert np.array_equal(bulk.goodput_rps > 0, exact.goodput_rps > 0)
    met = exact.goodput_rps > 0
    if np.any(met):
        error = 1 - bulk.goodput_rps[met] / exact.goodput_rps[met]
        assert np.quantile(error, 0.99) < 0.01


def test_a_closed_loop_benchmark_counts_its_first_wave_of_prompts():
    """N clients and 10N prompts: the first N arrive together, so the mean TTFT carries a tenth of a burst's
    and the p99 lies in that burst; one prompt per client is the burst itself."""
    from calculator.serving import online_operating_point

    d = resolve_deployment(
        "llama-3.1-70b",
        "h100-sxm-80gb",
        precision="fp8",
        tensor_parallel=4,
        prompt_tokens=4000,
        output_tokens=500,
    )
    batch = deployments_batch([d])
    cap = evaluate(batch).max_batch_size
    replica = ReplicaModel(batch, cap)
    means = []
    for n in (1, 4, 16, 64):
        ten = online_operating_point(batch, cap, concurrency=n)
        one = online_operating_point(batch, cap, concurrency=n, prompts_per_client=1)
        many = online_operating_point(batch, cap, concurrency=n, prompts_per_client=1e9)
        wave = replica.prefill_terms.time_s(np.array([float(n)]))
        assert np.allclose(one.ttft_mean_s, wave * (n + 1) / (2 * n) + 0.0, rtol=1e-9)
        lo, hi = sorted((one.ttft_mean_s[0], many.ttft_mean_s[0]))
        assert lo <= ten.ttft_mean_s[0] <= hi
        assert ten.ttft_p99_s[0] >= 0.9 * wave[0] * (1 - 1e-12)
        assert ten.ttft_p50_s[0] <= ten.ttft_p99_s[0]
        means.append(ten.ttft_mean_s[0])
    assert means == sorted(means)


@settings_
@given(st.floats(1e-3, 1.0), st.floats(1e-3, 5.0), st.integers(1, 4096))
def test_the_closed_loop_prefill_wait_is_bounded_by_its_clients(service_s, rate, clients):
    """N circulating clients: nobody waits alone, the wait never exceeds the N - 1 prefills ahead, and it is
    never above the open M/D/1 queue's at the same rate (a closed loop slows its own arrivals)."""
    from calculator.serving import _closed_prefill_wait, _prefill_wait

    rate = min(rate, 1.0 / service_s)  # a single server cannot finish more than 1 / D prefills a second
    wait = float(_closed_prefill_wait(np.array(rate), np.array(service_s), np.array(float(clients))))
    assert wait >= 0.0
    if clients == 1:
        assert wait == pytest.approx(rate * service_s * service_s / 2)  # only the residual of its own
    assert wait <= (clients - 1) * service_s + service_s / 2 + 1e-12
    rho = rate * service_s
    if rho < 0.999:
        assert wait <= float(_prefill_wait(np.array(rho), np.array(service_s), None)) * (1 + 1e-9)


def test_the_closed_loop_wait_tends_to_the_open_queue_with_many_clients():
    from calculator.serving import _closed_prefill_wait, _prefill_wait

    service, rate = np.array(0.05), np.array(12.0)
    open_wait = _prefill_wait(rate * service, service, None)
    assert _closed_prefill_wait(rate, service, np.array(1e6)) == pytest.approx(open_wait, rel=1e-5)


def test_a_closed_loop_that_prefill_saturates_stays_finite_and_keeps_littles_law():
    """64 clients of 8k-token prompts and 16-token answers: the prefill is the bottleneck. The wait is finite
    (the open formula diverged to tens of seconds) and N = rate x cycle holds."""
    from calculator.serving import STEADY_STEPS, online_operating_point

    d = resolve_deployment(
        "llama-3.1-8b", "h100-sxm-80gb", precision="fp16", prompt_tokens=8000, output_tokens=16
    )
    batch = deployments_batch([d])
    cap = evaluate(batch).max_batch_size
    point = online_operating_point(batch, cap, concurrency=64, prompts_per_client=1e9)
    replica = ReplicaModel(batch, cap)
    lone = replica.lone_prefill[0]
    assert np.isfinite(point.ttft_mean_s[0]) and point.ttft_mean_s[0] < 64 * lone
    cycle = point.ttft_mean_s[0] + 15 * point.tpot_s[0]
    assert point.requests_per_s[0] * cycle == pytest.approx(64, rel=0.05)
    # Prompts' FLOPs cannot exceed the device's time (batched prompts share their fixed costs).
    assert point.requests_per_s[0] * replica.prefill_terms.compute_time_s(np.array([64.0]))[0] / 64 <= 1.0
    assert STEADY_STEPS > 0


def test_routed_experts_add_their_eager_launch_cost_to_prefill_only():
    """expert_overhead_s x layers x experts touched: a MoE prompt's prefill grows by it, a dense model's and
    every decode step do not move."""
    from dataclasses import replace

    from calculator.performance import decode_step_time_s, prefill_time_s

    def times(model: str, overhead: float) -> tuple[float, float]:
        d = resolve_deployment(
            model, "h100-sxm-80gb", precision="bf16", tensor_parallel=8, prompt_tokens=2048
        )
        batch = deployments_batch([d])
        e = replace(batch.efficiency, expert_overhead_s=np.full(1, overhead))
        m, h, p, f, w = batch.model, batch.hardware, batch.precision, batch.framework, batch.workload
        one = np.ones(1)
        return (
            float(prefill_time_s(m, h, p, f, w, e, one)[0]),
            float(decode_step_time_s(m, h, p, f, w, e, one, w.prompt_tokens)[0]),
        )

    spec = default_catalog().models["qwen3-30b-a3b"]
    moe_0, moe_decode_0 = times("qwen3-30b-a3b", 0.0)
    moe_1, moe_decode_1 = times("qwen3-30b-a3b", 5e-6)
    # 2,048 tokens with 8 of 128 experts each touch every expert.
    assert moe_1 - moe_0 == pytest.approx(5e-6 * spec.num_layers * spec.moe_num_experts, rel=1e-3)
    assert moe_decode_1 == moe_decode_0
    assert times("llama-3.1-70b", 5e-6) == times("llama-3.1-70b", 0.0)


@pytest.mark.parametrize(
    ("cfg", "io", "shares"),
    [
        (("llama-3.1-70b", "h100-sxm-80gb", "fp8", 4), (1000, 200), (0.8, 0.9, 0.95, 0.98, 0.99)),
        (("llama-2-7b", "h100-sxm-80gb", "fp16", 1), (1034, 1448), (0.75, 0.9, 0.97)),
    ],
)
def test_the_admission_chance_is_the_birth_death_chains(cfg, io, shares):
    """P(all slots busy) against the exact chain: arrivals at the rate, departures at rate(n) for n in flight
    (the sustainable rate n requests carry), the capacity beyond the slots (serving.py, admission)."""
    replica, _ = replica_of(cfg, *io)
    capacity, slots = float(replica.capacity[0]), int(replica.best_batch[0])
    departures = replica.rate_at(np.arange(1.0, slots + 1.0).reshape(-1, 1)).reshape(-1)
    for share in shares:
        rate = share * capacity
        log_p = np.concatenate([[0.0], np.cumsum(np.log(rate / departures))])
        p = np.exp(log_p - log_p.max())
        beyond = p[-1] * share / (1.0 - share)
        exact = (p[-1] + beyond) / (p.sum() + beyond)
        chance, _ = replica._admission_chance(np.array([rate]), replica.batch_for_rate(np.array([rate])))
        assert float(chance[0]) == pytest.approx(exact, rel=0.25, abs=1e-12)
