"""Costs that count both token kinds: a request's cost split by the device time of its prefill and of its
decode steps ($/1M input and output tokens, as hosted APIs price them), and blended over prompt + output
(calculator/cost.py)."""

import math

import numpy as np
import pytest

from calculator import estimate
from calculator.cost import CostAssumptions, deployment_costs, token_costs
from calculator.deployment import deployments_batch, resolve_deployment
from calculator.engine import evaluate
from calculator.planning.breakeven import compute_breakeven, resolve_breakeven_request
from calculator.planning.capacity import plan_capacity, resolve_capacity_request
from calculator.planning.sizing import size_deployment
from calculator.planning.slo import resolve_slo, resolve_traffic
from calculator.serving import ReplicaModel

CONFIGURATIONS = [
    # (model, hardware, precision, framework, tensor parallel, GPUs, batch, prompt, output, mode)
    ("llama-3.1-70b", "h100-sxm-80gb", "fp8", "vllm", 4, 4, 8, 2000, 200, "cloud"),
    ("llama-3.1-70b", "h100-sxm-80gb", "fp8", "vllm", 1, 4, 1, 2000, 200, "cloud"),
    ("llama-3.1-8b", "a100-sxm-80gb", "fp16", "sglang", 1, 2, 0, 128, 1024, "cloud"),
    ("qwen3-30b-a3b", "h100-sxm-80gb", "bf16", "tensorrt-llm", 2, 2, 32, 4096, 64, "cloud"),
    ("llama-3.1-8b", "rtx-4090-24gb", "fp16", "llama.cpp", 1, 1, 1, 512, 256, "local"),
    ("llama-3.1-8b", "h100-sxm-80gb", "fp8", "vllm", 1, 1, 4, 0, 300, "cloud"),
    ("llama-3.1-8b", "h100-sxm-80gb", "fp8", "vllm", 1, 1, 4, 700, 1, "cloud"),
]


def _estimate(model, hardware, precision, framework, tp, gpus, batch, prompt, output, mode):
    return estimate(
        model,
        hardware,
        precision=precision,
        framework=framework,
        tensor_parallel=tp,
        num_gpus=gpus,
        batch_size=batch,
        prompt_tokens=prompt,
        output_tokens=output,
        deployment_mode=mode,
    )


def _adds_up(per_input, per_output, prompt, output, per_request):
    """input share x prompt tokens + output share x output tokens, against the cost per request (a kind of
    token the request does not have has no price)."""
    total = (per_input * prompt / 1e6 if prompt else 0.0) + (per_output * output / 1e6 if output else 0.0)
    return math.isclose(total, per_request, rel_tol=1e-9)


@pytest.mark.parametrize("config", CONFIGURATIONS)
def test_the_estimate_split_adds_up_to_the_cost_per_request(config):
    est = _estimate(*config)
    c, prompt, output = est.cost, config[7], config[8]

    assert c.cost_per_request_usd > 0
    assert _adds_up(
        c.prefill_cost_per_million_input_tokens_usd,
        c.decode_cost_per_million_output_tokens_usd,
        prompt,
        output,
        c.cost_per_request_usd,
    )
    assert math.isclose(
        c.blended_cost_per_million_tokens_usd * (prompt + output) / 1e6, c.cost_per_request_usd
    )
    # The old figure keeps its meaning: all device time over the output tokens.
    assert math.isclose(c.cost_per_million_tokens_usd * output / 1e6, c.cost_per_request_usd, rel_tol=1e-9)


def test_the_split_uses_the_batch_cycle_the_cost_already_uses():
    """prefill share = prefill of the batch / (prefill of the batch + (output - 1) x TPOT), from the
    estimate's own figures: TTFT less the cloud round trip is the batch's prefill."""
    est = _estimate("llama-3.1-70b", "h100-sxm-80gb", "fp8", "vllm", 4, 4, 8, 2000, 200, "cloud")
    p, c = est.performance, est.cost
    prefill = p.ttft_s - CostAssumptions().network_rtt_s
    decode = 199 * p.tpot_s

    assert math.isclose(c.prefill_device_s, prefill, rel_tol=1e-9)
    assert math.isclose(c.decode_device_s, decode, rel_tol=1e-9)
    assert math.isclose(c.prefill_share, prefill / (prefill + decode), rel_tol=1e-9)
    per_request = c.hourly_usd * (prefill + decode) / 3600.0 / p.batch_size
    assert math.isclose(c.cost_per_request_usd, per_request, rel_tol=1e-9)
    assert math.isclose(
        c.prefill_cost_per_million_input_tokens_usd, per_request * c.prefill_share / 2000 * 1e6, rel_tol=1e-9
    )


def test_a_hand_computed_configuration():
    # 2 cloud GPUs at $3.00/GPU-hour: $6.00/h. One replica runs a batch of 4 requests of 1,000 prompt and
    # 101 output tokens: prefill of the batch 0.4 s, then 100 decode steps of 0.016 s = 1.6 s; cycle 2.0 s.
    #   requests/s        = 4 / 2.0 = 2.0
    #   $/request         = 6.00 / (3600 x 2.0) = $0.000833333...
    #   prefill share     = 0.4 / 2.0 = 0.2
    #   $/1M input        = 0.000833333 x 0.2 / 1,000 x 1e6 = $0.1666667
    #   $/1M output       = 0.000833333 x 0.8 / 101 x 1e6   = $6.6006601
    #   $/1M blended      = 0.000833333 / 1,101 x 1e6       = $0.7568877
    #   $/1M output (old) = 6.00 / (3600 x 2.0 x 101) x 1e6 = $8.2508251 (all device time on output tokens)
    # and 0.1666667 x 1,000 / 1e6 + 6.6006601 x 101 / 1e6 = 0.000166667 + 0.000666667 = $0.000833333.
    one = np.array([1.0])
    c = deployment_costs(
        mode=one,  # cloud
        num_gpus=2.0 * one,
        cloud_usd_per_hour=3.0 * one,
        purchase_usd=0.0 * one,
        tdp_watts=700.0 * one,
        requests_per_s=2.0 * one,
        output_tokens_per_s=2.0 * 101 * one,
        prompt_tokens=1000.0 * one,
        output_tokens=101.0 * one,
        prefill_s=0.4 * one,
        decode_s=100 * 0.016 * one,
        assumptions=CostAssumptions(),
    )

    assert c.cost_per_request_usd[0] == pytest.approx(0.000833333333, rel=1e-9)
    assert c.prefill_share[0] == pytest.approx(0.2, rel=1e-12)
    assert c.prefill_cost_per_million_input_tokens_usd[0] == pytest.approx(0.16666666667, rel=1e-9)
    assert c.decode_cost_per_million_output_tokens_usd[0] == pytest.approx(6.60066006601, rel=1e-9)
    assert c.blended_cost_per_million_tokens_usd[0] == pytest.approx(0.75688767787, rel=1e-9)
    assert c.cost_per_million_tokens_usd[0] == pytest.approx(8.25082508251, rel=1e-9)


def test_no_tokens_of_a_kind_gets_no_price_and_the_rest_takes_the_whole_cost():
    split = token_costs(
        cost_per_request_usd=np.array([0.01, 0.01]),
        prefill_share=np.array([0.0, 1.0]),
        prompt_tokens=np.array([0.0, 500.0]),
        output_tokens=np.array([200.0, 0.0]),
    )
    assert np.isnan(split.prefill_cost_per_million_input_tokens_usd[0])
    assert split.decode_cost_per_million_output_tokens_usd[0] == pytest.approx(0.01 / 200 * 1e6)
    assert split.prefill_cost_per_million_input_tokens_usd[1] == pytest.approx(0.01 / 500 * 1e6)
    assert np.isnan(split.decode_cost_per_million_output_tokens_usd[1])


def test_a_missing_price_gives_no_split_but_the_share_is_still_known():
    est = estimate("llama-3.1-8b", "gaudi3-128gb", precision="bf16", prompt_tokens=1000, output_tokens=200)
    c = est.cost
    assert c.price_missing
    assert c.prefill_cost_per_million_input_tokens_usd is None or math.isnan(
        c.prefill_cost_per_million_input_tokens_usd
    )
    d = est.to_dict()["cost"]
    assert d["prefill_cost_per_million_input_tokens_usd"] is None
    assert d["decode_cost_per_million_output_tokens_usd"] is None
    assert d["blended_cost_per_million_tokens_usd"] is None
    assert 0.0 < d["prefill_share"] < 1.0


@pytest.mark.parametrize(
    ("model", "hardware", "precision", "framework", "tp", "batch"),
    [
        ("llama-3.1-70b", "h100-sxm-80gb", "fp8", "vllm", 4, 8),
        ("llama-3.1-8b", "a100-sxm-80gb", "fp16", "tensorrt-llm", 1, 1),
        ("qwen3-30b-a3b", "h100-sxm-80gb", "bf16", "sglang", 1, 16),
    ],
)
def test_a_longer_prompt_raises_the_input_share(model, hardware, precision, framework, tp, batch):
    prompts = [64, 256, 1024, 4096, 16384]
    shares, inputs = [], []
    for prompt in prompts:
        est = _estimate(model, hardware, precision, framework, tp, tp, batch, prompt, 256, "cloud")
        shares.append(est.cost.prefill_share)
        inputs.append(est.cost.prefill_cost_per_million_input_tokens_usd * prompt / 1e6)
    assert shares == sorted(shares) and shares[0] < shares[-1]
    # The input tokens' part of a request's cost grows with them too.
    assert inputs == sorted(inputs)


def test_the_serving_model_share_grows_with_the_prompt_and_matches_the_engine_at_one_batch():
    """ReplicaModel.prefill_share at in-flight count b is the engine's batch-cycle share at batch b: each
    phase's own roofline, prefill(b) against (output - 1) x decode step(b)."""
    shares = []
    for prompt in (128, 1024, 8192):
        d = resolve_deployment(
            "llama-3.1-70b",
            "h100-sxm-80gb",
            precision="fp8",
            framework="vllm",
            tensor_parallel=4,
            prompt_tokens=prompt,
            output_tokens=256,
            batch_size=16,
        )
        batch = deployments_batch([d])
        results = evaluate(batch)
        replica = ReplicaModel(batch, results.max_batch_size)
        share = float(replica.prefill_share(np.array([16.0]))[0])
        assert share == pytest.approx(float(results.cost.prefill_share[0]), rel=1e-9)
        shares.append(share)
    assert shares == sorted(shares)


def test_the_sized_deployment_split_adds_up():
    d = resolve_deployment(
        "llama-3.1-70b",
        "h100-sxm-80gb",
        precision="fp8",
        tensor_parallel=4,
        prompt_tokens=1000,
        output_tokens=200,
    )
    s = size_deployment(d, resolve_slo({"ttft_p99_ms": 1000}), resolve_traffic(requests_per_s=10))
    assert s.feasible and 0.0 < s.prefill_share < 1.0
    assert _adds_up(
        s.prefill_cost_per_million_input_tokens_usd,
        s.decode_cost_per_million_output_tokens_usd,
        1000,
        200,
        s.cost_per_request_usd,
    )
    assert s.blended_cost_per_million_tokens_usd == pytest.approx(s.cost_per_million_tokens_usd, rel=1e-12)


def test_capacity_options_split_their_cost_per_request():
    request = resolve_capacity_request(
        {
            "model": "llama-3.1-70b",
            "hardware": ["h100-sxm-80gb", "l40s-48gb"],
            "precisions": ["fp8"],
            "requests_per_s": 5,
            "prompt_tokens": 1500,
            "output_tokens": 300,
            "slo": {"ttft_p99_ms": 2000},
            "top_k": 6,
        }
    )
    plan = plan_capacity(request)
    assert plan.options
    for o in plan.options:
        per_request = o.cost_per_million_output_tokens_usd * 300 / 1e6
        assert 0.0 < o.prefill_share < 1.0
        assert _adds_up(
            o.prefill_cost_per_million_input_tokens_usd,
            o.decode_cost_per_million_output_tokens_usd,
            1500,
            300,
            per_request,
        )
        assert o.blended_cost_per_million_tokens_usd * 1800 / 1e6 == pytest.approx(per_request, rel=1e-9)


def test_breakeven_prices_self_hosted_tokens_as_the_apis_price_theirs():
    request = resolve_breakeven_request(
        {
            "model": "llama-3.1-70b",
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "requests_per_day": [10_000, 1_000_000],
            "hardware": ["h100-sxm-80gb", "l40s-48gb", "rtx-4090-24gb"],
            "frameworks": ["vllm"],
            "ops_usd_per_gpu_month": 50.0,
        }
    )
    result = compute_breakeven(request).to_dict()
    for level in result["levels"]:
        for option in level["options"].values():
            if option["monthly_usd"] is None:
                continue
            assert _adds_up(
                option["usd_per_million_input_tokens"],
                option["usd_per_million_output_tokens"],
                1000,
                200,
                option["usd_per_request"],
            )
            assert option["usd_per_million_tokens"] * 1200 / 1e6 == pytest.approx(option["usd_per_request"])
        api = level["options"]["deepinfra"]
        assert (api["usd_per_million_input_tokens"], api["usd_per_million_output_tokens"]) == (0.13, 0.40)
        for kind in ("rent", "buy"):
            hosted = level["options"][kind]
            if hosted["monthly_usd"] is not None:
                assert 0.0 < hosted["deployment"]["prefill_share"] < 1.0
                assert hosted["usd_per_million_input_tokens"] < hosted["usd_per_million_output_tokens"]
