"""Readers for GuideLLM reports, genai-perf / AIPerf exports, trtllm-bench reports and vLLM start-up logs
(fixtures and their sources: fixtures/measurements/README-b.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calculator.measurements import (
    MeasurementFileError,
    ParseResult,
    detect_format,
    parse_measurements,
    reader,
)
from calculator.validate import predict_rows

FIXTURES = Path(__file__).parent / "fixtures" / "measurements"
VLLM_H100 = {
    "hardware": "h100-sxm-80gb",
    "precision": "bf16",
    "framework": "vllm",
    "framework_version": "0.9.1",
    "tp": "1",
}


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def line_of(name: str, text: str, after: str | None = None) -> int:
    """1-based line of the first line containing `text` (after the first line containing `after`)."""
    lines = read(name).decode().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def pick(
    result: ParseResult, metric: str, statistic: str | None = None, line: int | None = None
) -> dict[str, str]:
    rows = [
        r
        for r in result.rows
        if r.fields["metric"] == metric
        and (statistic is None or r.fields.get("statistic") == statistic)
        and (line is None or r.line == line)
    ]
    assert len(rows) == 1, [(r.line, r.fields["metric"], r.fields.get("statistic")) for r in rows]
    return rows[0].fields


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("guidellm_sweep.json", "guidellm"),
        ("guidellm_concurrent.json", "guidellm"),
        ("guidellm_bad_nan.json", "guidellm"),
        ("guidellm_bad_version.json", "guidellm"),
        ("guidellm_truncated.json", "guidellm"),
        ("genai_perf_concurrency16.json", "genai-perf"),
        ("genai_perf_triton_trtllm_rate8.json", "genai-perf"),
        ("genai_perf_aiperf_concurrency32.json", "genai-perf"),
        ("genai_perf_bad_nan.json", "genai-perf"),
        ("genai_perf_truncated.json", "genai-perf"),
        ("trtllm_bench_pytorch_fp8_llama31_8b.txt", "trtllm-bench"),
        ("trtllm_bench_v0.17_engine_llama31_70b_tp2.txt", "trtllm-bench"),
        ("trtllm_bench_bad_nan.txt", "trtllm-bench"),
        ("trtllm_bench_truncated.txt", "trtllm-bench"),
        ("vllm_log_v1_0.9.1_llama31_8b_h100.log", "vllm-log"),
        ("vllm_log_v0_0.6.6_llama31_8b_h100.log", "vllm-log"),
        ("vllm_log_v0_no_kv_memory_rtx4090.log", "vllm-log"),
        ("vllm_log_crashed_before_loading.log", "vllm-log"),
    ],
)
def test_detect_format(name: str, expected: str) -> None:
    assert detect_format(name, read(name)) == expected


@pytest.mark.parametrize(
    ("format_name", "fixture"),
    [
        ("guidellm", "guidellm_sweep.json"),
        ("genai-perf", "genai_perf_concurrency16.json"),
        ("trtllm-bench", "trtllm_bench_pytorch_fp8_llama31_8b.txt"),
        ("vllm-log", "vllm_log_v1_0.9.1_llama31_8b_h100.log"),
    ],
)
def test_sniffers_claim_only_their_own_files(format_name: str, fixture: str) -> None:
    others = [
        "guidellm_sweep.json",
        "genai_perf_concurrency16.json",
        "trtllm_bench_pytorch_fp8_llama31_8b.txt",
        "vllm_log_v1_0.9.1_llama31_8b_h100.log",
    ]
    for name in others:
        head = read(name)[: 64 * 1024]
        assert reader(format_name).sniff(name, head) == (name == fixture), name


# GuideLLM


def test_guidellm_sweep_rows() -> None:
    result = parse_measurements(
        read("guidellm_sweep.json"), file_name="guidellm_sweep.json", context=VLLM_H100
    )
    assert result.format == "guidellm" and result.kind == "performance"
    assert not result.errors
    assert len(result.rows) == 4 * 13
    assert {r.line for r in result.rows} == {1, 2, 3, 4}
    for r in result.rows:
        f = r.fields
        assert (f["model"], f["hardware"], f["framework"], f["tp"]) == (
            "llama-3.1-8b",
            "h100-sxm-80gb",
            "vllm",
            "1",
        )
        assert (f["input_tokens"], f["output_tokens"], f["lengths"]) == ("1024", "128", "stated")
        assert f["source"] == "guidellm_sweep.json"
        assert f["metric"] != "tpot_ms"  # GuideLLM's TPOT includes TTFT: not mapped
    sync = pick(result, "ttft_ms", "median", line=1)
    assert (sync["scenario"], sync["value"], sync["unit"]) == ("single_stream", "31.2", "ms")
    burst = pick(result, "output_tokens_per_s_total", line=2)
    assert (burst["scenario"], burst["request_rate"], burst["value"], burst["statistic"]) == (
        "offline_max_throughput",
        "inf",
        "4021.76",
        "",
    )
    rate = pick(result, "ttft_p99_ms", line=3)
    assert (
        rate["scenario"],
        rate["request_rate"],
        rate["concurrency"],
        rate["value"],
        rate["statistic"],
    ) == (
        "online_rate",
        "11.2703",
        "",
        "96.2",
        "p99",
    )
    assert "evenly spaced" in rate["notes"]
    assert pick(result, "itl_ms", "mean", line=4)["value"] == "18.91"
    assert pick(result, "e2e_latency_p90_s", line=4)["value"] == "2.7119"
    assert pick(result, "requests_per_s", line=1)["unit"] == "req/s"


def test_guidellm_concurrent_is_a_closed_loop_with_mean_lengths() -> None:
    name = "guidellm_concurrent.json"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert not result.errors and len(result.rows) == 2 * 13
    c16 = pick(result, "total_tokens_per_s", line=1)
    assert (c16["scenario"], c16["concurrency"], c16["request_rate"], c16["value"]) == (
        "online_rate",
        "16",
        "",
        "5452.1",
    )
    c64 = pick(result, "e2e_latency_s", "median", line=2)
    assert (c64["concurrency"], c64["value"], c64["unit"]) == ("64", "3.2733", "s")
    assert (c64["input_tokens"], c64["output_tokens"], c64["lengths"]) == ("512", "252", "mean")
    assert c64["model"] == "llama-3.1-8b"  # meta-llama/Meta-Llama-3.1-8B-Instruct


def test_guidellm_leaves_framework_to_the_upload() -> None:
    raw = reader("guidellm").parse(read("guidellm_sweep.json"), file_name="guidellm_sweep.json")
    assert {r.fields["framework"] for r in raw.rows} == {""}
    context = {k: v for k, v in VLLM_H100.items() if k != "framework"}
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("guidellm_sweep.json"), file_name="guidellm_sweep.json", context=context)
    assert caught.value.field == "framework"


def test_guidellm_nan_is_a_row_error_of_its_benchmark() -> None:
    name = "guidellm_bad_nan.json"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert [(e.line, e.field) for e in result.errors] == [(2, "value")]
    assert "time_to_first_token_ms" in result.errors[0].message
    assert len(result.rows) == 2 * 13 - 1
    assert pick(result, "ttft_ms", "median", line=2)["value"] == "96.1"


def test_guidellm_unknown_schema_version_is_refused() -> None:
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("guidellm_bad_version.json"), file_name="b.json", context=VLLM_H100)
    assert caught.value.field == "metadata.version"
    assert "version 2" in caught.value.message


def test_guidellm_truncated_file() -> None:
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("guidellm_truncated.json"), file_name="t.json", context=VLLM_H100)
    assert caught.value.field == "file" and caught.value.line == 1


# genai-perf / AIPerf


def test_genai_perf_concurrency_export() -> None:
    name = "genai_perf_concurrency16.json"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert result.format == "genai-perf" and not result.errors
    assert len(result.rows) == 12  # no total_token_throughput in genai-perf
    for r in result.rows:
        f = r.fields
        assert (f["scenario"], f["concurrency"], f["request_rate"]) == ("online_rate", "16", "")
        assert (f["model"], f["input_tokens"], f["output_tokens"], f["lengths"]) == (
            "llama-3.1-8b",
            "1024",
            "128",
            "stated",
        )
    rps = pick(result, "requests_per_s")
    assert (rps["value"], rps["statistic"], rps["unit"]) == ("13.521974", "", "req/s")
    assert pick(result, "requests_per_s") == next(
        r.fields for r in result.rows if r.line == line_of(name, '"avg"', '"request_throughput"')
    )
    assert pick(result, "ttft_ms", "median")["value"] == "46.207158"
    assert pick(result, "tpot_ms", "mean")["value"] == "8.907993"  # inter_token_latency: vLLM's TPOT
    e2e = pick(result, "e2e_latency_s", "mean")
    assert (e2e["value"], e2e["unit"]) == ("1.183412", "s")
    assert pick(result, "e2e_latency_p99_s", "p99")["value"] == "1.251018"
    p90 = next(r for r in result.rows if r.fields["metric"] == "ttft_p90_ms")
    assert p90.line == line_of(name, '"p90"', '"time_to_first_token"')


def test_genai_perf_openai_backend_default_names_no_framework() -> None:
    raw = reader("genai-perf").parse(read("genai_perf_concurrency16.json"), file_name="x.json")
    assert {r.fields["framework"] for r in raw.rows} == {""}  # endpoint.backend defaults to tensorrtllm


def test_genai_perf_triton_export_names_the_engine_but_not_a_catalog_model() -> None:
    name = "genai_perf_triton_trtllm_rate8.json"
    raw = reader("genai-perf").parse(read(name), file_name=name)
    f = pick(raw, "requests_per_s")
    assert (f["framework"], f["scenario"], f["request_rate"], f["concurrency"]) == (
        "tensorrt-llm",
        "online_rate",
        "8",
        "",
    )
    assert f["model"] == "tensorrt_llm_bls"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert not result.rows and result.errors
    assert {e.field for e in result.errors} == {"model"}
    assert "closest matches" in result.errors[0].message


def test_aiperf_export() -> None:
    name = "genai_perf_aiperf_concurrency32.json"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert not result.errors and len(result.rows) == 13
    total = pick(result, "total_tokens_per_s")
    assert (total["value"], total["concurrency"], total["scenario"]) == ("21728.309698", "32", "online_rate")
    assert (total["input_tokens"], total["output_tokens"], total["lengths"]) == ("2048", "256", "mean")
    assert total["notes"].startswith("AIPerf export")
    assert pick(result, "ttft_p90_ms")["value"] == "210.402215"


def test_genai_perf_nan_is_a_row_error_at_its_line() -> None:
    name = "genai_perf_bad_nan.json"
    result = parse_measurements(read(name), file_name=name, context=VLLM_H100)
    assert [(e.line, e.field) for e in result.errors] == [
        (line_of(name, '"p99"', '"time_to_first_token"'), "value")
    ]
    assert result.errors[0].line == 37
    assert len(result.rows) == 11


def test_genai_perf_truncated_and_missing_context() -> None:
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("genai_perf_truncated.json"), file_name="t.json", context=VLLM_H100)
    assert caught.value.field == "file" and caught.value.line
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("genai_perf_concurrency16.json"), file_name="g.json")
    assert caught.value.field == "hardware"


# trtllm-bench


def test_trtllm_bench_pytorch_report() -> None:
    name = "trtllm_bench_pytorch_fp8_llama31_8b.txt"
    result = parse_measurements(read(name), file_name=name, context={"hardware": "h100-sxm-80gb"})
    assert result.format == "trtllm-bench" and not result.errors
    assert len(result.rows) == 13
    for r in result.rows:
        f = r.fields
        assert (f["model"], f["precision"], f["framework"], f["framework_version"]) == (
            "llama-3.1-8b",
            "fp8",
            "tensorrt-llm",
            "1.0.0",
        )
        assert (f["tp"], f["pp"], f["num_gpus"], f["scenario"], f["request_rate"]) == (
            "1",
            "1",
            "1",
            "offline_max_throughput",
            "inf",
        )
        assert (f["input_tokens"], f["output_tokens"], f["lengths"]) == ("1024", "128", "stated")
    out = pick(result, "output_tokens_per_s_total")
    assert (out["value"], out["unit"], out["statistic"]) == ("6674.1504", "tok/s", "")
    assert next(r.line for r in result.rows if r.fields["metric"] == "output_tokens_per_s_total") == 80
    assert pick(result, "requests_per_s")["value"] == "52.1418"
    assert pick(result, "total_tokens_per_s")["value"] == "60067.3536"
    assert pick(result, "e2e_latency_s", "mean")["value"] == "27.104552"
    assert pick(result, "e2e_latency_s", "median")["value"] == "27.61244"
    assert pick(result, "e2e_latency_p99_s")["value"] == "52.004332"
    assert pick(result, "ttft_ms", "mean")["value"] == "24817.0211"
    ttft90 = next(r for r in result.rows if r.fields["metric"] == "ttft_p90_ms")
    assert (ttft90.fields["value"], ttft90.line) == ("45291.4416", line_of(name, "[TTFT] P90"))
    assert pick(result, "tpot_ms", "median")["value"] == "18.4402"
    assert "KV cache dtype FP8" in out["notes"]


def test_trtllm_bench_v017_engine_report() -> None:
    name = "trtllm_bench_v0.17_engine_llama31_70b_tp2.txt"
    result = parse_measurements(read(name), file_name=name, context={"hardware": "h100-sxm-80gb"})
    assert not result.errors
    assert sorted(r.fields["metric"] for r in result.rows) == ["output_tokens_per_s_total", "requests_per_s"]
    out = pick(result, "output_tokens_per_s_total")  # v0.17's "Token Throughput" is output tokens / time
    assert (out["value"], out["model"], out["tp"], out["num_gpus"], out["framework_version"]) == (
        "7810.7392",
        "llama-3.1-70b",
        "2",
        "2",
        "0.17.0",
    )
    assert (out["input_tokens"], out["output_tokens"], out["lengths"]) == ("128", "128", "mean")
    assert pick(result, "requests_per_s")["value"] == "61.0214"


def test_trtllm_bench_bad_value_truncated_and_missing_hardware() -> None:
    result = parse_measurements(
        read("trtllm_bench_bad_nan.txt"), file_name="b.txt", context={"hardware": "h100-sxm-80gb"}
    )
    assert [(e.line, e.field) for e in result.errors] == [(80, "value")]
    assert len(result.rows) == 12
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(
            read("trtllm_bench_truncated.txt"), file_name="t.txt", context={"hardware": "h100-sxm-80gb"}
        )
    assert caught.value.field == "file"
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("trtllm_bench_pytorch_fp8_llama31_8b.txt"), file_name="p.txt")
    assert caught.value.field == "hardware"


# vLLM start-up logs


def test_vllm_v1_log() -> None:
    name = "vllm_log_v1_0.9.1_llama31_8b_h100.log"
    result = parse_measurements(read(name), file_name=name, context={"hardware": "h100-sxm-80gb"})
    assert result.format == "vllm-log" and result.kind == "memory" and not result.errors
    values = {r.fields["metric"]: (r.fields["value"], r.fields["unit"], r.line) for r in result.rows}
    assert values == {
        "weights_gib": ("14.9889", "GiB", line_of(name, "Model loading took")),
        "kv_cache_gib": ("54.63", "GiB", line_of(name, "Available KV cache memory")),
        "kv_cache_tokens": ("447520", "tokens", line_of(name, "GPU KV cache size")),
        "max_concurrency": ("54.63", "x", line_of(name, "Maximum concurrency")),
        "cuda_graph_gib": ("0.53", "GiB", line_of(name, "Graph capturing finished")),
    }
    for r in result.rows:
        f = r.fields
        assert (
            f["model"],
            f["precision"],
            f["kv_cache_precision"],
            f["framework"],
            f["framework_version"],
        ) == (
            "llama-3.1-8b",
            "bf16",
            "bf16",
            "vllm",
            "0.9.1",
        )
        assert (f["tp"], f["num_gpus"], f["max_model_len"], f["gpu_memory_utilization"]) == (
            "1",
            "1",
            "8192",
            "0.9",
        )


def test_vllm_v0_log_counts_blocks_times_block_size() -> None:
    name = "vllm_log_v0_0.6.6_llama31_8b_h100.log"
    result = parse_measurements(read(name), file_name=name, context={"hardware": "h100-sxm-80gb"})
    assert not result.errors
    profile = line_of(name, "model weights take")
    values = {r.fields["metric"]: (r.fields["value"], r.line) for r in result.rows}
    assert values == {
        "weights_gib": ("14.9888", line_of(name, "Loading model weights took")),
        "non_torch_gib": ("0.13", profile),
        "activation_peak_gib": ("1.23", profile),
        "kv_cache_gib": ("54.84", profile),
        "kv_cache_tokens": ("449232", line_of(name, "# GPU blocks")),  # 28077 blocks x 16
        "max_concurrency": ("54.84", line_of(name, "Maximum concurrency")),
        "cuda_graph_gib": ("0.26", line_of(name, "Graph capturing finished")),
    }
    f = result.rows[0].fields
    assert (f["framework_version"], f["gpu_memory_utilization"], f["max_model_len"]) == (
        "0.6.6.post1",
        "0.9",
        "8192",
    )


@pytest.mark.parametrize(
    "name", ["vllm_log_v1_0.9.1_llama31_8b_h100.log", "vllm_log_v0_0.6.6_llama31_8b_h100.log"]
)
def test_vllm_memory_rows_predict(name: str) -> None:
    result = parse_measurements(read(name), file_name=name, context={"hardware": "h100-sxm-80gb"})
    report = predict_rows([row.fields for row in result.rows])
    assert not report.unresolved
    assert len(report.predictions) == len(result.rows)
    weights = next(p for p in report.predictions if p.metric == "weights_gib")
    assert weights.ape < 0.03, (weights.measured, weights.predicted)
    kv = next(p for p in report.predictions if p.metric == "kv_cache_gib")
    assert kv.ape < 0.05, (kv.measured, kv.predicted)


def test_vllm_log_without_kv_memory_gives_row_errors() -> None:
    name = "vllm_log_v0_no_kv_memory_rtx4090.log"
    result = parse_measurements(read(name), file_name=name, context={"hardware": "rtx-4090-24gb"})
    assert [(e.line, e.field) for e in result.errors] == [
        (line_of(name, "reserved for KV Cache is -0.62GiB"), "value"),
        (line_of(name, "Maximum concurrency"), "value"),
    ]
    assert sorted(r.fields["metric"] for r in result.rows) == [
        "activation_peak_gib",
        "non_torch_gib",
        "weights_gib",
    ]
    assert result.rows[0].fields["max_model_len"] == "131072"


def test_vllm_log_without_memory_lines_or_hardware() -> None:
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(
            read("vllm_log_crashed_before_loading.log"),
            file_name="c.log",
            context={"hardware": "h100-sxm-80gb"},
        )
    assert caught.value.field == "file"
    with pytest.raises(MeasurementFileError) as caught:
        parse_measurements(read("vllm_log_v1_0.9.1_llama31_8b_h100.log"), file_name="v.log")
    assert caught.value.field == "hardware"
