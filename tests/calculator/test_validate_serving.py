"""validate on serving.csv-shaped rows: the statistic is honoured, "inf" beside a concurrency is a closed
loop, percentile metrics are predicted from the serving model, attention data parallelism and disaggregated
prefill/decode engines are read from the notes."""

from __future__ import annotations

import pytest

from calculator.precisions import resolve_precision
from calculator.validate import predict_rows

BASE = {
    "model": "llama-3.1-8b",
    "hardware": "h100-sxm-80gb",
    "num_gpus": "1",
    "precision": "fp8",
    "framework": "vllm",
    "tp": "1",
    "pp": "1",
    "input_tokens": "1000",
    "output_tokens": "200",
    "batch_size": "",
    "concurrency": "32",
    "request_rate": "",
    "scenario": "online_rate",
    "statistic": "mean",
    "value": "100",
    "source": "test",
    "notes": "",
    "lengths": "",
}


def predicted(**changes: str) -> float:
    report = predict_rows([{**BASE, "id": "r1", "metric": "ttft_ms", **changes}])
    assert not report.unresolved, report.unresolved
    return report.predictions[0].predicted


def test_inf_beside_a_concurrency_is_the_closed_loop():
    assert predicted(request_rate="inf") == pytest.approx(predicted(request_rate=""))


def test_the_statistic_is_honoured_and_percentiles_grow():
    rate = {"concurrency": "", "request_rate": "20"}
    mean, median = predicted(statistic="mean", **rate), predicted(statistic="median", **rate)
    assert median <= mean
    p90 = predicted(metric="ttft_p90_ms", statistic="p90", **rate)
    p99 = predicted(metric="ttft_p99_ms", statistic="p99", **rate)
    assert median <= p90 <= p99
    e2e = predicted(metric="e2e_latency_s", **rate)
    assert (
        e2e <= predicted(metric="e2e_latency_p90_s", **rate) <= predicted(metric="e2e_latency_p99_s", **rate)
    )
    assert predicted(metric="itl_ms", **rate) == pytest.approx(predicted(metric="tpot_ms", **rate))


def test_blank_precision_is_native():
    report = predict_rows([{**BASE, "id": "n1", "metric": "tpot_ms", "precision": ""}])
    assert report.predictions and not report.unresolved


DEEPSEEK = {
    **BASE,
    "model": "deepseek-r1",
    "hardware": "b200-180gb",
    "num_gpus": "8",
    "framework": "tensorrt-llm",
    "input_tokens": "1024",
    "output_tokens": "1024",
    "concurrency": "256",
}


def test_attention_data_parallel_in_the_notes_is_one_engine_of_all_the_gpus():
    """AIConfigurator's "tp=1, attention_dp=8" on 8 GPUs is one engine with data-parallel attention, not 8
    replicas of one GPU (which could not even hold DeepSeek-R1's weights)."""
    dp = {**DEEPSEEK, "tp": "1", "notes": "parallel: tp=1,pp=1,attention_dp=8,moe_tp=1,moe_ep=8; x=1"}
    report = predict_rows([{**dp, "id": "a1", "metric": "tpot_ms"}])
    assert not report.unresolved, report.unresolved
    tp8 = predicted(**{**DEEPSEEK, "tp": "8", "metric": "tpot_ms"})
    # MLA's latent is replicated on every TP rank; data-parallel attention reads each sequence's once.
    assert report.predictions[0].predicted < tp8


def test_disaggregated_rows_are_predicted_from_their_prefill_and_decode_engines():
    notes = (
        "prefill: workers={p},gpus_per_worker=8,tp=1,pp=1,attention_dp=8,moe_tp=1,moe_ep=8; "
        "decode: workers={d},gpus_per_worker=8,tp=8,pp=1,attention_dp=1,moe_tp=1,moe_ep=8; num_gpus=x"
    )

    def figures(p: int, d: int, concurrency: int) -> dict[str, float]:
        row = {
            **DEEPSEEK,
            "tp": "",
            "num_gpus": str(8 * (p + d)),
            "scenario": "online_disagg",
            "concurrency": str(concurrency),
            "notes": notes.format(p=p, d=d),
        }
        report = predict_rows([{**row, "id": m, "metric": m} for m in ("ttft_ms", "tpot_ms")])
        assert not report.unresolved, report.unresolved
        return {p.metric: p.predicted for p in report.predictions}

    base = figures(1, 2, 256)
    assert 0 < base["tpot_ms"] < 1000 and 0 < base["ttft_ms"] < 60_000
    # More decode engines: fewer sequences per decode step, a shorter step.
    assert figures(1, 4, 256)["tpot_ms"] < base["tpot_ms"]
    # More prefill engines: a shorter prefill queue and first wave.
    assert figures(3, 2, 256)["ttft_ms"] < base["ttft_ms"]
    # More clients: longer decode steps and prefill queues.
    heavier = figures(1, 2, 1024)
    assert heavier["tpot_ms"] > base["tpot_ms"] and heavier["ttft_ms"] > base["ttft_ms"]


def test_a_disaggregated_row_without_its_engines_is_unresolved_with_the_reason():
    report = predict_rows([{**DEEPSEEK, "id": "d1", "metric": "ttft_ms", "scenario": "online_disagg"}])
    assert not report.predictions
    assert "must state its decode engines" in report.unresolved[0][1]


def test_block_scaled_fp8_is_fp8_with_its_scales():
    spec = resolve_precision("fp8-block")
    assert spec.compute_path == "fp8" and 8.0 < spec.bits_per_weight < 8.01
    assert predicted(precision="fp8-block") == pytest.approx(predicted(precision="fp8"), rel=0.01)


def test_kimi_native_int4_is_weight_only_on_the_experts():
    spec = resolve_precision("int4-wo")
    assert spec.scope == "experts" and spec.weight_only and spec.bits_per_weight == 4.5
    assert resolve_precision("ud-q4_k_xl").key == "q4_k_m"


@pytest.mark.parametrize(
    ("version", "engine"),
    [
        ("vLLM v0.5.4 (benchmark_serving.py, ShareGPT V3 dataset)", "v0"),
        ("0.6.4-dev (PR #10511 branch)", "v0"),
        ("vLLM v0.9.0 (V0 engine)", "v0"),
        ("vLLM v0.9.0 (V1 engine)", "v1"),
        ("0.19.0", "v1"),
        ("vLLM (2026 campaign)", "v1"),
        ("", "v1"),
    ],
)
def test_vllm_rows_are_mapped_to_their_engine_era(version, engine):
    from calculator.frameworks import vllm_engine
    from calculator.validate import framework_of

    assert vllm_engine(version) == engine
    expected = "vllm-v0" if engine == "v0" else "vllm"
    assert framework_of({"framework": "vllm", "framework_version": version}) == expected


def test_the_v0_era_is_legacy_and_falls_back_to_vllm_until_fitted():
    from calculator.calibration import default_calibration
    from calculator.frameworks import CURRENT_FRAMEWORKS, resolve_framework

    assert resolve_framework("vllm-v0").legacy and "vllm-v0" not in CURRENT_FRAMEWORKS
    calibration = default_calibration()
    for name in ("decode_step_overhead_s", "bandwidth_efficiency"):
        own = calibration.param("vllm-v0", "datacenter_gpu", name)
        assert own == calibration.param("vllm", "datacenter_gpu", name) or "vllm-v0/" in str(
            calibration.sources("vllm-v0", "datacenter_gpu").get(name)
        )


def test_an_estimate_takes_the_framework_release_and_names_its_era():
    from calculator import InputError, estimate

    old = estimate("llama-3.1-8b", "h100-sxm-80gb", framework_version="0.5.4", with_recommendations=False)
    new = estimate("llama-3.1-8b", "h100-sxm-80gb", with_recommendations=False)
    assert old.inputs["framework"] == "vllm-v0" and "V0" in old.inputs["framework_era"]
    assert new.inputs["framework"] == "vllm" and "V1" in new.inputs["framework_era"]
    # V1 dropped V0's milliseconds of Python per step (serving.csv refit).
    assert new.performance.tpot_s < old.performance.tpot_s
    with pytest.raises(InputError) as error:
        estimate("llama-3.1-8b", "h100-sxm-80gb", framework_version=8, with_recommendations=False)
    assert error.value.field == "framework_version"


def test_an_offline_runs_token_gap_averages_the_whole_cycle():
    from calculator import estimate

    offline = {"scenario": "offline_max_throughput", "concurrency": "", "statistic": "mean"}
    itl = predicted(metric="itl_ms", **offline)
    assert predicted(metric="tpot_ms", **offline) == pytest.approx(itl)
    est = estimate(
        "llama-3.1-8b", "h100-sxm-80gb", precision="fp8", prompt_tokens=1000, output_tokens=200,
        batch_size=0, deployment_mode="local", with_recommendations=False,
    )  # fmt: skip
    p = est.performance
    assert itl == pytest.approx(p.e2e_latency_s / 199 * 1e3, rel=1e-6)
    assert itl > p.tpot_s * 1e3  # the prompts prefilled while the batch refills count in every gap


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("TensorRT-LLM v0.17", "tensorrt-llm-v0"),
        ("TensorRT-LLM v0.9.0 (gptSessionBenchmark, static batching)", "tensorrt-llm-v0"),
        ("TensorRT-LLM v0.14.0 + Triton tensorrtllm_backend", "tensorrt-llm-v0"),
        ("TensorRT-LLM (v1.0 perf-overview; PyTorch backend, trtllm-bench)", "tensorrt-llm"),
        ("1.2.0rc6.post2", "tensorrt-llm"),
        ("dynamo-runtime:0.8.1.post2", "tensorrt-llm"),  # Dynamo's own version, not TensorRT-LLM's
        ("", "tensorrt-llm"),
    ],
)
def test_tensorrt_llm_rows_are_mapped_to_their_era(version, expected):
    from calculator.validate import framework_of

    assert framework_of({"framework": "tensorrt-llm", "framework_version": version}) == expected


def test_tensorrt_llm_1x_has_its_own_software_costs_and_0x_keeps_the_earlier_fit():
    from calculator import estimate
    from calculator.calibration import default_calibration

    calibration = default_calibration()
    sources = calibration.sources("tensorrt-llm", "datacenter_gpu")
    assert sources["decode_step_overhead_s"] == "tensorrt-llm/datacenter_gpu"
    assert calibration.sources("tensorrt-llm-v0", "datacenter_gpu")["decode_step_overhead_s"] == (
        "tensorrt-llm-v0/datacenter_gpu"
    )
    old = estimate(
        "llama-3.1-8b", "h100-sxm-80gb", framework="tensorrt-llm", framework_version="0.17",
        with_recommendations=False,
    )  # fmt: skip
    new = estimate("llama-3.1-8b", "h100-sxm-80gb", framework="tensorrt-llm", with_recommendations=False)
    assert old.inputs["framework"] == "tensorrt-llm-v0" and "before 1.0" in old.inputs["framework_era"]
    assert new.inputs["framework"] == "tensorrt-llm" and "1.x" in new.inputs["framework_era"]


def test_random_lengths_are_predicted_at_their_mean():
    """A stated length that is the top of a random draw is predicted at the run's mean: its printed totals
    over its requests, else (1 + ratio) / 2 of the stated length; fixed lengths stay as stated."""
    from calculator.validate import mean_length

    totals = {
        **BASE,
        "lengths": "assumed: ShareGPT; this run printed total input 215312 / generated 195544 tokens "
        "over 1000 requests",
    }
    assert mean_length(totals, "input_tokens") == pytest.approx(215.312)
    assert mean_length(totals, "output_tokens") == pytest.approx(195.544)
    drawn = {**BASE, "lengths": "stated: --random-input 1024 with random_range_ratio 0.0 (lengths vary)"}
    assert mean_length(drawn, "input_tokens") == pytest.approx((1 + 1000) / 2)
    fixed = {**BASE, "lengths": "stated: random 1024 in / 1024 out, --random-range-ratio 1 (fixed lengths)"}
    assert mean_length(fixed, "output_tokens") == 200
    e2e = {"metric": "e2e_latency_s", "concurrency": "1", "scenario": "single_stream"}
    assert predicted(**e2e, lengths=drawn["lengths"]) < 0.6 * predicted(**e2e, lengths="stated")


def test_an_offline_burst_is_a_finite_run_of_its_prompts():
    """An offline row whose notes count the prompts sent at once is that burst: its throughput is the total
    output over the time the last request ends: a short burst drains well below a full batch's rate, and the
    rate grows with the count."""
    offline = {"scenario": "offline_max_throughput", "concurrency": "", "request_rate": "inf"}
    steady = predicted(metric="output_tokens_per_s_total", **offline)
    few = predicted(metric="output_tokens_per_s_total", notes="all 10 prompts at once", **offline)
    many = predicted(metric="output_tokens_per_s_total", notes="all 5000 prompts at once", **offline)
    assert few < many
    assert few < 0.5 * steady


def test_a_short_open_loop_run_reports_its_finite_duration():
    """An open-loop run of few prompts counts its throughput over arrivals plus the last request's decode
    (finite_run_rate): below the offered rate x output, approaching it as the run lengthens."""
    rate = {"concurrency": "", "request_rate": "2", "metric": "output_tokens_per_s_total"}
    endless = predicted(**rate)
    short = predicted(**rate, notes="--num-prompts 20")
    long = predicted(**rate, notes="--num-prompts 20000")
    assert short < long <= endless
    assert endless == pytest.approx(2 * 200, rel=1e-6)
    assert long == pytest.approx(endless, rel=0.01)


def test_a_median_e2e_of_sampled_lengths_decodes_the_median_output():
    """ShareGPT-like output lengths (exponential spread) have a median of ln 2 of their mean: a median
    end-to-end latency decodes that many tokens, a mean one the mean."""
    rate = {"metric": "e2e_latency_s", "concurrency": "", "request_rate": "1", "statistic": "median"}
    fixed = predicted(**rate)
    sampled = predicted(**rate, notes="dataset sharegpt")
    assert sampled < 0.75 * fixed


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("SGLang v0.3.0", "sglang-v0.3"),
        ("0.2.7", "sglang-v0.3"),
        ("SGLang v0.4.1 (docker lmsysorg/sglang:dev)", "sglang-v0.4"),
        ("SGLang (docker lmsysorg/sglang:dev, Dec 2024; exact version not stated)", "sglang-v0.4"),
        ("lmsysorg/sglang:dev, built November 2024", "sglang-v0.3"),
        ("SGLang 0.5.6.post1", "sglang"),
        ("0.5.10.post1", "sglang"),
        ("nightly-dev-20260216-d3bae71e", "sglang"),
        ("SGLang (version not stated; FA3-backend era, 2025)", "sglang"),  # no month: the newest era
        ("", "sglang"),
    ],
)
def test_sglang_rows_are_mapped_to_their_era(version, expected):
    from calculator.validate import framework_of

    assert framework_of({"framework": "sglang", "framework_version": version}) == expected


def test_older_sglang_eras_are_legacy_and_fall_back_to_sglang_then_vllm():
    from calculator.calibration import _family_chain
    from calculator.frameworks import CURRENT_FRAMEWORKS, resolve_framework

    for key in ("sglang-v0.3", "sglang-v0.4"):
        assert resolve_framework(key).legacy and key not in CURRENT_FRAMEWORKS
        assert _family_chain(key) == (key, "sglang", "vllm")
    assert "sglang" in CURRENT_FRAMEWORKS
    assert _family_chain("sglang") == ("sglang", "vllm")  # the newest era does not fall back to older ones


def test_an_sglang_estimate_names_its_era():
    from calculator import estimate

    old = estimate("llama-3.1-8b", "h100-sxm-80gb", framework="sglang", framework_version="0.4.1")
    new = estimate("llama-3.1-8b", "h100-sxm-80gb", framework="sglang")
    assert old.inputs["framework"] == "sglang-v0.4" and old.inputs["framework_era"] == "SGLang 0.4"
    assert new.inputs["framework"] == "sglang" and new.inputs["framework_era"] == "SGLang 0.5 and later"


def test_a_whole_catalog_comparison_sweeps_the_newest_sglang_only():
    from calculator.planning.spec import resolve_spec

    one = {"models": ["llama-3.1-8b"], "hardware": ["h100-sxm-80gb"], "precisions": ["bf16"]}
    swept = resolve_spec({**one, "frameworks": "*"})
    assert "sglang" in swept.frameworks and not {"sglang-v0.3", "sglang-v0.4"} & set(swept.frameworks)
    dated = resolve_spec({**one, "frameworks": ["sglang"], "framework_versions": {"sglang": "v0.4.1"}})
    assert dated.frameworks == ("sglang-v0.4",)
