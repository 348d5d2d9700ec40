"""Behaviour of the typed and seed APIs: seed examples, advice, errors, agreement with the vectorised path."""

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import calculator
from calculator import InputError, LLMInferenceCalculator, estimate
from calculator.calibration import default_calibration
from calculator.catalog import default_catalog
from calculator.engine import evaluate
from calculator.frameworks import FRAMEWORKS
from calculator.grid import EntityTables, Grid, tensor_batch
from calculator.precisions import PRECISIONS

MEASUREMENTS = Path(__file__).resolve().parents[3] / "shared" / "calibration" / "measurements.csv"


def measured(**match: str) -> list[float]:
    with open(MEASUREMENTS, newline="") as handle:
        return [float(r["value"]) for r in csv.DictReader(handle) if all(r[k] == v for k, v in match.items())]


def test_seed_basic_example_is_below_the_roofline_and_near_measurements():
    calc = LLMInferenceCalculator()
    result = calc.calculate_inference_metrics(
        model_size="7B",
        tokens=1024,
        batch_size=1,
        hardware_type="RTX4090",
        deployment_mode="local",
        requests_per_hour=100,
    )
    assert set(result) == {"inputs", "memory", "latency", "cost", "compatibility"}
    speed = result["latency"]["tokens_per_second"]
    # Roofline: 1008 GB/s / 13.5 GB of fp16 weights = 74.8 tokens/s.
    assert speed < 1008e9 / (6.738e9 * 2)
    # llama.cpp and ExLlama measurements of 7B fp16 on a 4090 (tg128) sit at ~55-65 tokens/s.
    rows = measured(
        model="llama-2-7b",
        hardware="rtx-4090-24gb",
        precision="fp16",
        num_gpus="1",
        metric="decode_tokens_per_s_per_user",
    )
    assert rows, "the calibration set has 7B fp16 decode rows on the 4090"
    assert speed == pytest.approx(float(np.median(rows)), rel=0.25)
    assert result["memory"]["memory_fits"] is True
    assert result["cost"]["total_cost_per_request"] == pytest.approx(
        result["cost"]["cost_per_request"] + result["cost"]["power_cost_per_request"]
    )


def test_seed_comparison_example_runs_and_gpt4_on_one_h100_does_not_fit():
    calc = LLMInferenceCalculator()
    configs = [
        {"model_size": "7B", "hardware_type": "RTX4090", "deployment_mode": "local"},
        {"model_size": "13B", "hardware_type": "A100", "deployment_mode": "cloud"},
        {"model_size": "GPT-4", "hardware_type": "H100", "deployment_mode": "cloud"},
    ]
    results = [
        calc.calculate_inference_metrics(tokens=2048, batch_size=4, requests_per_hour=50, **c)
        for c in configs
    ]
    for r in results:
        assert r["latency"]["total_latency_seconds"] > 0
        assert r["memory"]["total_memory_gb"] > 0
    for r in results[:2]:
        assert np.isfinite(r["cost"]["monthly_cost"]) and r["cost"]["monthly_cost"] > 0
    gpt4 = results[2]
    assert gpt4["memory"]["memory_fits"] is False
    # A deployment that cannot run has no cost: None, never $0 and never a bill for replicas.
    assert gpt4["cost"]["monthly_cost"] is None
    assert gpt4["cost"]["hourly_cost"] is None
    assert any("GPT-3-175B" in w for w in gpt4["compatibility"]["warnings"])
    advice = gpt4["compatibility"]["recommendations"]
    assert any("2,048 tokens" in text for text in advice), advice
    assert any("fits" in text for text in advice), advice


def test_advice_for_a_model_that_does_not_fit_names_configurations_that_do():
    est = estimate("GPT-4", "H100", precision="fp16", prompt_tokens=512, output_tokens=256)
    assert not est.memory.fits
    assert est.performance_score == 0
    assert est.recommendations
    for rec in est.recommendations:
        changes = rec.changes
        assert {"hardware", "precision", "tensor_parallel"} <= set(changes)
        alt = estimate(
            "GPT-4",
            changes["hardware"],
            precision=changes["precision"],
            tensor_parallel=changes["tensor_parallel"],
            prompt_tokens=512,
            output_tokens=256,
            with_recommendations=False,
        )
        assert alt.feasible, rec.text


def test_70b_on_one_4090_suggests_quantisation_or_more_gpus():
    est = estimate("llama-3.1-70b", "rtx-4090-24gb", precision="fp16", framework="vllm")
    assert est.memory.status == "does_not_fit"
    texts = " ".join(r.text for r in est.recommendations)
    assert "fits" in texts


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"model": "llama-99b"}, "model"),
        ({"hardware": "tpu-v9"}, "hardware"),
        ({"prompt_tokens": -5}, "prompt_tokens"),
        ({"tensor_parallel": 3}, "tensor_parallel"),
        ({"precision": "fp7"}, "precision"),
        ({"framework": "magic"}, "framework"),
        ({"deployment_mode": "moon"}, "deployment_mode"),
        ({"batch_size": 1.5}, "batch_size"),
    ],
)
def test_bad_inputs_name_the_field(inputs, field):
    args = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", **inputs}
    with pytest.raises(InputError) as error:
        estimate(args.pop("model"), args.pop("hardware"), **args)
    assert error.value.field == field


def test_unknown_model_lists_close_matches():
    with pytest.raises(InputError) as error:
        estimate("llama-3.1-8", "h100")
    assert "llama-3.1-8b" in str(error.value)


def test_single_estimate_agrees_with_the_vectorised_grid():
    catalog = default_catalog()
    tables = EntityTables(
        models=[catalog.models["llama-3.1-70b"], catalog.models["qwen3-30b-a3b"]],
        hardware=[catalog.hardware["h100-sxm-80gb"], catalog.hardware["rtx-4090-24gb"]],
        precisions=[PRECISIONS["fp16"], PRECISIONS["fp8"]],
        frameworks=[FRAMEWORKS["vllm"], FRAMEWORKS["tensorrt-llm"]],
    )
    grid = Grid(
        tables=tables, tensor_parallel=(1, 4), batch_sizes=(1, 0), prompt_tokens=1000, output_tokens=200
    )
    results = evaluate(tensor_batch(grid))
    shape = grid.shape
    tpot = np.broadcast_to(results.tpot_s, shape)
    blockers = np.broadcast_to(results.blockers, shape)
    flat, _ = grid.batch()
    rows = evaluate(flat)
    np.testing.assert_allclose(rows.tpot_s, tpot.ravel())
    np.testing.assert_array_equal(rows.blockers, blockers.ravel())
    for i, j, k, f, t, b in [(0, 0, 1, 1, 1, 0), (1, 0, 0, 0, 0, 1), (1, 1, 0, 1, 0, 0)]:
        est = estimate(
            tables.models[i].key,
            tables.hardware[j].key,
            precision=tables.precisions[k].key,
            framework=tables.frameworks[f].key,
            tensor_parallel=grid.tensor_parallel[t],
            batch_size=grid.batch_sizes[b],
            prompt_tokens=1000,
            output_tokens=200,
            with_recommendations=False,
        )
        if blockers[i, j, k, f, t, b] == 0:
            assert est.performance.tpot_s == pytest.approx(tpot[i, j, k, f, t, b])


def test_online_serving_reports_queueing_percentiles():
    est = estimate(
        "llama-3.1-8b",
        "h100-sxm-80gb",
        precision="fp8",
        framework="vllm",
        request_rate=5.0,
        prompt_tokens=1000,
        output_tokens=200,
    )
    assert est.online is not None
    assert est.online.ttft_p99_s >= est.online.ttft_p50_s >= est.performance.prefill_s
    busy = estimate(
        "llama-3.1-8b",
        "h100-sxm-80gb",
        precision="fp8",
        framework="vllm",
        request_rate=50.0,
        prompt_tokens=1000,
        output_tokens=200,
    )
    assert busy.online.ttft_p99_s > est.online.ttft_p99_s


def test_the_cost_block_bills_the_deployment_as_specified_not_a_batch_based_replica_count():
    light = estimate("llama-3.1-8b", "h100-sxm-80gb", requests_per_hour=100, with_recommendations=False)
    heavy = estimate("llama-3.1-8b", "h100-sxm-80gb", requests_per_hour=1_000_000, with_recommendations=False)
    two = estimate("llama-3.1-8b", "h100-sxm-80gb", num_gpus=2, tensor_parallel=1, with_recommendations=False)
    assert light.cost.replicas == heavy.cost.replicas == 1
    assert heavy.cost.monthly_usd == pytest.approx(heavy.cost.hourly_usd * 730)
    assert two.cost.replicas == 2 and two.cost.gpus == 2
    assert two.cost.hourly_usd == pytest.approx(2 * light.cost.hourly_usd)


def test_a_missing_price_is_none_not_zero():
    from dataclasses import replace

    from calculator.catalog import default_catalog
    from calculator.specs import Catalog

    catalog = default_catalog()
    h100 = replace(catalog.hardware["h100-sxm-80gb"], cloud_usd_per_hour=0.0)
    unpriced = Catalog(models=catalog.models, hardware={**catalog.hardware, h100.key: h100})
    est = estimate("llama-3.1-8b", "h100-sxm-80gb", catalog=unpriced, with_recommendations=False)
    assert est.cost.price_missing
    data = est.to_dict()["cost"]
    assert data["hourly_usd"] is None and data["monthly_usd"] is None
    assert data["cost_per_million_tokens_usd"] is None


def test_local_cost_is_amortised_purchase_plus_energy():
    est = estimate("llama-2-7b", "rtx-4090-24gb", deployment_mode="local", with_recommendations=False)
    hw = default_catalog().hardware["rtx-4090-24gb"]
    energy = hw.tdp_watts * 0.7 / 1000 * 0.12 * 1.3
    assert est.cost.energy_hourly_usd == pytest.approx(energy)
    assert est.cost.hourly_usd == pytest.approx(hw.purchase_usd / (3 * 8760) + energy)


def test_estimate_serialises_to_json_safe_dict():
    import json

    payload = estimate("mixtral-8x7b", "a100-sxm-80gb", tensor_parallel=2).to_dict()
    text = json.dumps(payload)
    assert "NaN" not in text and "Infinity" not in text
    assert payload["memory"]["fits"] in (True, False)
    assert set(payload["error_bands"]) >= {"decode_tokens_per_s_per_user", "ttft_ms"}


def _burst(**inputs):
    base = {"precision": "fp8", "framework": "vllm", "prompt_tokens": 220, "output_tokens": 200}
    return estimate("llama-3.1-8b", "h100-sxm-80gb", with_recommendations=False, **{**base, **inputs})


def test_burst_of_fixed_lengths_prefills_all_prompts_then_decodes_the_whole_batch():
    from calculator.deployment import deployments_batch, resolve_deployment
    from calculator.performance import decode_step_time_s, prefill_time_s

    # SGLang (without mixed chunks) prefills waiting prompts while decoding pauses.
    est = _burst(burst_requests=100, framework="sglang")
    o = est.online
    assert o.mode == "burst" and o.concurrency == 100 and not o.saturated
    d = resolve_deployment(
        "llama-3.1-8b",
        "h100-sxm-80gb",
        precision="fp8",
        framework="sglang",
        prompt_tokens=220,
        output_tokens=200,
    )
    b = deployments_batch([d], default_calibration())
    m, h, p, f, w, e = b.model, b.hardware, b.precision, b.framework, b.workload, b.efficiency
    prefill = float(prefill_time_s(m, h, p, f, w, e, np.array([100.0]))[0])
    step = float(decode_step_time_s(m, h, p, f, w, e, np.array([100.0]), np.array([320.0]))[0])
    # Prompt n's first token comes after n/100 of the batched prefill; all decode 199 steps at batch 100.
    assert o.output_tokens_per_s == pytest.approx(100 * 200 / (prefill + 199 * step), rel=1e-9)
    assert o.ttft_p99_s == pytest.approx(0.99 * prefill)
    # Each first gap also waits for the prompts prefilled after it: (n - 1)/2 x prefill / n on average.
    assert o.tpot_s == pytest.approx(step + prefill * 99 / 200 / 199, rel=1e-9)


def test_variable_output_lengths_drain_the_batch_and_lower_throughput():
    fixed = _burst(burst_requests=200).online
    exponential = _burst(burst_requests=200, output_length_cv=1.0).online
    # The longest of 200 exponential lengths is about H_200 = 5.9 times the mean: the last requests decode at
    # a small batch, so the burst takes longer; each of their steps is cheaper, so the mean gap is shorter.
    assert exponential.output_tokens_per_s < 0.6 * fixed.output_tokens_per_s
    assert exponential.tpot_s < fixed.tpot_s


def test_a_burst_larger_than_the_scheduler_cap_queues_the_rest():
    capped = _burst(burst_requests=1000).online  # vLLM max_num_seqs = 256
    assert capped.concurrency == 256 and capped.saturated
    full = _burst(burst_requests=256).online
    assert capped.ttft_p50_s > full.ttft_p50_s
    # The queued requests are served while a full batch runs: throughput stays near a full batch's.
    assert 0.7 < capped.output_tokens_per_s / full.output_tokens_per_s < 1.5


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"burst_requests": 10, "concurrency": 4}, "burst_requests"),
        ({"request_rate": 1.0, "concurrency": 4}, "concurrency"),
        ({"burst_requests": 0}, "burst_requests"),
        ({"burst_requests": 10, "output_length_cv": 1.5}, "output_length_cv"),
        ({"burst_requests": 10, "output_length_cv": -0.1}, "output_length_cv"),
    ],
)
def test_online_inputs_are_checked(inputs, field):
    with pytest.raises(InputError) as error:
        _burst(**inputs)
    assert error.value.field == field


def test_in_flight_batching_decodes_between_prompt_chunks_instead_of_waiting_for_all_prompts():
    """512 prompts of 467 tokens, 16 output tokens, Llama-3.1-8B on an H200 with TensorRT-LLM: each
    iteration prefills a chunk of max_num_batched_tokens beside the decode step, so a request's gaps during
    the prompt phase are one iteration each; with prefill first, its first gap is all the prompts after it."""
    from dataclasses import replace

    from calculator import estimate_deployment
    from calculator.deployment import resolve_deployment

    d = resolve_deployment(
        "llama-3.1-8b",
        "h200-sxm-141gb",
        precision="bf16",
        framework="tensorrt-llm",
        prompt_tokens=467,
        output_tokens=16,
        burst_requests=512,
    )
    stalled = d.replace(framework=replace(d.framework, mixes_prefill_and_decode=False))
    mixed_itl = estimate_deployment(d).online.tpot_s
    stalled_itl = estimate_deployment(stalled).online.tpot_s
    chunk = estimate(
        "llama-3.1-8b",
        "h200-sxm-141gb",
        precision="bf16",
        framework="tensorrt-llm",
        prompt_tokens=8192,
        output_tokens=1,
        with_recommendations=False,
    ).performance.prefill_s
    assert mixed_itl < stalled_itl
    # Most gaps are one iteration (a chunk of prompts plus a decode step); none is longer.
    assert 0.5 * chunk < mixed_itl < 1.5 * chunk


@pytest.mark.parametrize(
    ("model", "hardware", "kwargs"),
    [
        ("llama-3.1-8b", "h100-sxm-80gb", {}),
        ("llama-3.1-70b", "a100-sxm-80gb", {"precision": "fp8", "tensor_parallel": 2, "num_gpus": 4}),
        ("qwen2.5-7b", "rtx-4090-24gb", {"framework": "llama.cpp", "precision": "q4_k_m", "batch_size": 0}),
    ],
)
def test_advice_variants_batch_is_the_batch_of_the_replaced_deployments(model, hardware, kwargs):
    """Advice builds its alternatives' columns directly (variants_batch); every figure equals the batch of
    the deployments it stands for."""
    from calculator.deployment import deployments_batch, resolve_deployment, variants_batch
    from calculator.engine import evaluate
    from calculator.planning.advice import _candidates

    d = resolve_deployment(model, hardware, **kwargs)
    alternatives = _candidates(d, default_catalog())
    direct = evaluate(variants_batch(d, [(a.precision, a.hardware, a.tensor_parallel) for a in alternatives]))
    replaced = [
        d.replace(
            precision=a.precision, hardware=a.hardware, tensor_parallel=a.tensor_parallel, num_gpus=a.num_gpus
        )
        for a in alternatives
    ]
    expected = evaluate(deployments_batch(replaced))

    assert len(alternatives) > 10
    for name in (
        "total_bytes",
        "tpot_s",
        "ttft_s",
        "decode_tokens_per_s_per_user",
        "blockers",
        "capacity_bytes",
    ):
        np.testing.assert_array_equal(getattr(direct, name), getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(direct.cost.hourly_usd, expected.cost.hourly_usd)


def test_deployment_replace_is_dataclasses_replace():
    d = calculator.resolve_deployment("llama-3.1-8b", "h100-sxm-80gb")
    changed = d.replace(batch_size=7, tensor_parallel=2, num_gpus=2)

    assert changed == dataclasses.replace(d, batch_size=7, tensor_parallel=2, num_gpus=2)
    assert d.batch_size != 7
    with pytest.raises(TypeError, match="no field 'batchsize'"):
        d.replace(batchsize=7)
