"""Readers of vLLM bench, SGLang bench_serving and llama-bench result files (fixtures and their sources:
fixtures/measurements/README-a.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calculator.measurements import (
    MeasurementFileError,
    ParseResult,
    detect_format,
    llama_bench,
    parse_measurements,
    sglang_bench,
    vllm_bench,
)

FIXTURES = Path(__file__).parent / "fixtures" / "measurements"
CONTEXT = {"hardware": "h100-sxm-80gb", "precision": "bf16", "framework_version": "0.10.1", "tp": "1"}


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str, context: dict[str, str] | None = None, data: bytes | None = None) -> ParseResult:
    return parse_measurements(
        data or load(name), file_name=name, context=CONTEXT if context is None else context
    )


def rows_by(result: ParseResult, line: int | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """(metric, statistic) -> fields, of the rows from `line` (all rows when None; must be unique)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in result.rows:
        if line is None or row.line == line:
            key = (row.fields["metric"], row.fields["statistic"])
            assert key not in out, key
            out[key] = row.fields
    return out


def line_of(name: str, text: str) -> int:
    return next(i for i, line in enumerate(load(name).decode().splitlines(), 1) if text in line)


# vLLM ------------------------------------------------------------------------------------------------------


VLLM_C32 = "vllm_bench_serve_llama31_8b_h100_c32.json"


def test_vllm_serve_closed_loop() -> None:
    data = load(VLLM_C32)
    record = json.loads(data)
    assert detect_format(VLLM_C32, data) == "vllm-bench"
    result = parse(VLLM_C32)
    assert result.format == "vllm-bench" and result.errors == []
    rows = rows_by(result)
    assert len(result.rows) == 15
    assert float(rows["ttft_ms", "mean"]["value"]) == record["mean_ttft_ms"]
    assert float(rows["ttft_ms", "median"]["value"]) == record["median_ttft_ms"]
    assert float(rows["ttft_p90_ms", "p90"]["value"]) == record["p90_ttft_ms"]
    assert float(rows["ttft_p99_ms", "p99"]["value"]) == record["p99_ttft_ms"]
    assert float(rows["tpot_ms", "mean"]["value"]) == record["mean_tpot_ms"]
    assert float(rows["tpot_ms", "median"]["value"]) == record["median_tpot_ms"]
    assert float(rows["itl_ms", "median"]["value"]) == record["median_itl_ms"]
    assert float(rows["e2e_latency_s", "mean"]["value"]) == pytest.approx(record["mean_e2el_ms"] / 1000)
    assert float(rows["e2e_latency_p90_s", "p90"]["value"]) == pytest.approx(record["p90_e2el_ms"] / 1000)
    assert float(rows["e2e_latency_p99_s", "p99"]["value"]) == pytest.approx(record["p99_e2el_ms"] / 1000)
    assert rows["e2e_latency_s", "mean"]["unit"] == "s" and rows["ttft_ms", "mean"]["unit"] == "ms"
    assert float(rows["output_tokens_per_s_total", ""]["value"]) == record["output_throughput"]
    assert float(rows["total_tokens_per_s", ""]["value"]) == record["total_token_throughput"]
    assert float(rows["requests_per_s", ""]["value"]) == record["request_throughput"]
    assert rows["requests_per_s", ""]["unit"] == "req/s"
    for fields in rows.values():
        # request_rate "inf" with max_concurrency 32: a closed loop of 32 (serving.csv's convention)
        assert fields["scenario"] == "online_rate"
        assert (fields["request_rate"], fields["concurrency"]) == ("inf", "32")
        assert (fields["input_tokens"], fields["output_tokens"], fields["lengths"]) == ("1024", "128", "mean")
        assert (fields["model"], fields["framework"]) == ("llama-3.1-8b", "vllm")
        assert fields["hardware"] == "h100-sxm-80gb" and fields["framework_version"] == "0.10.1"
        assert fields["source"] == VLLM_C32
        assert fields["notes"].startswith("vllm bench serve --save-result; backend=vllm")
    assert "field p99_ttft_ms" in rows["ttft_p99_ms", "p99"]["notes"]


def test_vllm_benchmark_serving_open_loop_means() -> None:
    name = "vllm_bench_serving_rate4_llama31_8b_h100.json"
    record = json.loads(load(name))
    assert detect_format(name, load(name)) == "vllm-bench"
    result = parse(name)
    rows = rows_by(result)
    assert result.errors == [] and len(result.rows) == 10  # ttft mean/median/p99, tpot, itl, 3 throughputs
    assert ("e2e_latency_s", "mean") not in rows  # the default percentile metrics have no e2el
    fields = rows["ttft_ms", "mean"]
    assert (fields["scenario"], fields["request_rate"], fields["concurrency"]) == ("online_rate", "4", "")
    assert fields["input_tokens"] == str(round(record["total_input_tokens"] / record["completed"]))
    assert fields["output_tokens"] == str(round(record["total_output_tokens"] / record["completed"]))
    assert fields["lengths"] == "mean" and "Poisson arrivals" in fields["notes"]
    assert float(fields["value"]) == record["mean_ttft_ms"]


def test_vllm_appended_runs_and_generic_backend() -> None:
    name = "vllm_bench_sweep_append.json"
    records = [json.loads(line) for line in load(name).decode().splitlines()]
    with pytest.raises(MeasurementFileError) as e:
        parse(name)  # backend openai-chat: any OpenAI-compatible server, the upload names the framework
    assert e.value.field == "framework"
    result = parse(name, {**CONTEXT, "framework": "vllm"})
    assert result.errors == [] and len(result.rows) == 30
    for line, record in enumerate(records, start=1):
        rows = rows_by(result, line)
        assert float(rows["ttft_ms", "mean"]["value"]) == record["mean_ttft_ms"]
        assert rows["ttft_ms", "mean"]["request_rate"] == f"{record['request_rate']:g}"
        assert rows["ttft_ms", "mean"]["framework"] == "vllm"


def test_vllm_unbounded_rate_without_cap_is_offline() -> None:
    record = json.loads(load(VLLM_C32))
    record["max_concurrency"] = None
    result = parse("run.json", data=json.dumps(record).encode())
    assert {
        (r.fields["scenario"], r.fields["request_rate"], r.fields["concurrency"]) for r in result.rows
    } == {("offline_max_throughput", "inf", "")}


def test_vllm_ramp_up_and_unknown_model_are_row_errors() -> None:
    record = json.loads(load(VLLM_C32))
    ramp = {**record, "ramp_up_strategy": "linear", "ramp_up_start_rps": 1, "ramp_up_end_rps": 20}
    unknown = {**record, "model_id": "acme/SuperLM-7B"}
    data = (json.dumps(ramp) + "\n" + json.dumps(unknown)).encode()
    result = parse("two.json", data=data)
    assert result.rows == []
    assert result.errors[0].line == 1 and result.errors[0].field == "ramp_up_strategy"
    assert all(e.line == 2 and "acme/SuperLM-7B" in e.message for e in result.errors[1:])
    assert "closest matches" in result.errors[1].message


def test_vllm_bad_value_is_a_row_error_at_its_line() -> None:
    name = "vllm_bench_bad_value.json"
    result = parse(name)
    assert [(e.line, e.field) for e in result.errors] == [(line_of(name, '"mean_ttft_ms"'), "mean_ttft_ms")]
    assert len(result.rows) == 14
    assert rows_by(result)["ttft_ms", "median"]["value"] == repr(json.loads(load(name))["median_ttft_ms"])
    assert next(r for r in result.rows if r.fields["statistic"] == "median").line == line_of(
        name, "median_ttft"
    )


def test_vllm_truncated_file() -> None:
    name = "vllm_bench_truncated.json"
    assert detect_format(name, load(name)) == "vllm-bench"
    with pytest.raises(MeasurementFileError) as e:
        parse(name)
    assert (e.value.field, e.value.line) == ("file", 1) and "truncated" in e.value.message


def test_missing_context_names_the_field() -> None:
    with pytest.raises(MeasurementFileError) as e:
        parse(VLLM_C32, {"precision": "bf16", "framework_version": "0.10.1", "tp": "1"})
    assert e.value.field == "hardware"


def test_vllm_rows_feed_predict_rows() -> None:
    from calculator.validate import predict_rows

    result = parse(VLLM_C32)
    report = predict_rows([row.fields for row in result.rows])
    assert report.unresolved == []
    assert len(report.predictions) == len(result.rows)
    assert all(p.predicted > 0 for p in report.predictions)


# SGLang ----------------------------------------------------------------------------------------------------


SGLANG = "sglang_bench_llama31_8b_h100.jsonl"


def test_sglang_runs() -> None:
    data = load(SGLANG)
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert detect_format(SGLANG, data) == "sglang-bench"
    result = parse(SGLANG, {**CONTEXT, "model": "llama-3.1-8b"})
    assert result.format == "sglang-bench" and result.errors == []
    assert len(result.rows) == 48  # 12 per run: no total_throughput and no p90 in this release
    for line, (record, concurrency) in enumerate(zip(records[:3], ("1", "16", "64"), strict=True), start=1):
        rows = rows_by(result, line)
        assert float(rows["ttft_ms", "mean"]["value"]) == record["mean_ttft_ms"]
        assert float(rows["ttft_p99_ms", "p99"]["value"]) == record["p99_ttft_ms"]
        assert float(rows["e2e_latency_s", "median"]["value"]) == pytest.approx(
            record["median_e2e_latency_ms"] / 1000
        )
        assert float(rows["e2e_latency_p99_s", "p99"]["value"]) == pytest.approx(
            record["p99_e2e_latency_ms"] / 1000
        )
        assert float(rows["output_tokens_per_s_total", ""]["value"]) == record["output_throughput"]
        fields = rows["tpot_ms", "mean"]
        assert (fields["scenario"], fields["request_rate"], fields["concurrency"]) == (
            "online_rate",
            "inf",
            concurrency,
        )
        # random 1024/256 with random_range_ratio 1: the stated lengths (the totals say 1023: the BOS)
        assert (fields["input_tokens"], fields["output_tokens"], fields["lengths"]) == (
            "1024",
            "256",
            "stated",
        )
        assert (fields["framework"], fields["model"]) == ("sglang", "llama-3.1-8b")
        assert ("total_tokens_per_s", "") not in rows
    rows = rows_by(result, 4)
    sharegpt = rows["ttft_ms", "median"]
    assert (sharegpt["scenario"], sharegpt["request_rate"], sharegpt["concurrency"]) == (
        "online_rate",
        "8",
        "",
    )
    assert sharegpt["lengths"] == "mean" and "dataset sharegpt" in sharegpt["notes"]
    assert sharegpt["input_tokens"] == str(round(records[3]["total_input_tokens"] / records[3]["completed"]))


def test_sglang_without_model_asks_for_it() -> None:
    with pytest.raises(MeasurementFileError) as e:
        parse(SGLANG)
    assert e.value.field == "model"


def test_sglang_older_key_set_offline() -> None:
    name = "sglang_bench_old_schema.jsonl"
    records = [json.loads(line) for line in load(name).decode().splitlines()]
    assert detect_format(name, load(name)) == "sglang-bench"
    result = parse(name, {**CONTEXT, "model": "llama-3.1-8b"})
    assert result.errors == [] and len(result.rows) == 10
    rows = rows_by(result, 1)
    assert set(rows) == {
        ("ttft_ms", "median"),
        ("itl_ms", "median"),
        ("e2e_latency_s", "mean"),
        ("e2e_latency_s", "median"),
        ("output_tokens_per_s_total", ""),
    }
    fields = rows["ttft_ms", "median"]
    assert float(fields["value"]) == records[0]["median_ttft_ms"]
    assert (fields["scenario"], fields["request_rate"], fields["concurrency"]) == (
        "offline_max_throughput",
        "inf",
        "",
    )
    # random_range_ratio 0: lengths uniform in [1, 1024], so the means, not the stated maximum
    assert fields["lengths"] == "mean"
    assert fields["input_tokens"] == str(round(records[0]["total_input_tokens"] / records[0]["completed"]))


def test_sglang_bad_lines() -> None:
    name = "sglang_bench_bad_lines.jsonl"
    result = parse(name, {**CONTEXT, "model": "llama-3.1-8b"})
    assert [(e.line, e.field) for e in result.errors] == [(2, None), (3, "completed")]
    assert "invalid JSON" in result.errors[0].message
    assert len(result.rows) == 12 and {r.line for r in result.rows} == {1}


def test_sniffers_tell_the_json_formats_apart() -> None:
    vllm = [load(n) for n in (VLLM_C32, "vllm_bench_serving_rate4_llama31_8b_h100.json")]
    sglang = [load(n) for n in (SGLANG, "sglang_bench_old_schema.jsonl")]
    llama = [load(n) for n in ("llama_bench_llama31_8b_h100.json", "llama_bench_qwen3_8b_h100.jsonl")]
    for module, own in ((vllm_bench, vllm), (sglang_bench, sglang), (llama_bench, llama)):
        for data in vllm + sglang + llama:
            assert module.sniff("x", data[: 64 * 1024]) == (data in own)


# llama-bench -----------------------------------------------------------------------------------------------


LLAMA_CONTEXT = {"hardware": "h100-sxm-80gb", "tp": "1", "precision": "bf16"}


def check_llama_row(fields: dict[str, str], test: str) -> None:
    """The fields every llama-bench row has (the file's precision wins over the upload's bf16)."""
    assert (fields["scenario"], fields["statistic"], fields["unit"]) == ("single_stream", "mean", "tokens/s")
    assert (fields["batch_size"], fields["concurrency"], fields["lengths"]) == ("1", "1", "stated")
    assert (fields["framework"], fields["framework_version"]) == ("llama.cpp", "79c1160 (6123)")
    assert fields["hardware"] == "h100-sxm-80gb"
    assert f": {test} = " in fields["notes"]


def test_llama_bench_json() -> None:
    name = "llama_bench_llama31_8b_h100.json"
    tests = json.loads(load(name))
    assert detect_format(name, load(name)) == "llama-bench"
    result = parse(name, LLAMA_CONTEXT)
    assert result.format == "llama-bench" and result.errors == []
    expected = [
        ("pp512", "prefill_tokens_per_s", "512", "0"),
        ("tg128", "decode_tokens_per_s_per_user", "0", "128"),
        ("pp512 @ d4096", "prefill_tokens_per_s", "4608", "0"),  # 512 new tokens after 4096 cached
        ("tg128 @ d4096", "decode_tokens_per_s_per_user", "4096", "128"),
    ]
    avg_ts_lines = [i for i, line in enumerate(load(name).decode().splitlines(), 1) if '"avg_ts"' in line]
    assert [r.line for r in result.rows] == avg_ts_lines
    for row, test, (label, metric, inputs, outputs) in zip(result.rows, tests, expected, strict=True):
        fields = row.fields
        check_llama_row(fields, label)
        assert float(fields["value"]) == test["avg_ts"]
        assert (fields["metric"], fields["input_tokens"], fields["output_tokens"]) == (
            metric,
            inputs,
            outputs,
        )
        assert (fields["model"], fields["precision"]) == ("llama-3.1-8b", "q4_k_m")


def test_llama_bench_jsonl() -> None:
    name = "llama_bench_qwen3_8b_h100.jsonl"
    tests = [json.loads(line) for line in load(name).decode().splitlines()]
    assert detect_format(name, load(name)) == "llama-bench"
    result = parse(name, LLAMA_CONTEXT)
    assert result.errors == [] and [r.line for r in result.rows] == [1, 2]
    prefill, decode = (r.fields for r in result.rows)
    check_llama_row(prefill, "pp512")
    check_llama_row(decode, "tg128")
    assert (prefill["model"], prefill["precision"]) == ("qwen3-8b", "q8_0")
    assert float(prefill["value"]) == tests[0]["avg_ts"] and float(decode["value"]) == tests[1]["avg_ts"]
    assert decode["metric"] == "decode_tokens_per_s_per_user" and decode["output_tokens"] == "128"


def test_llama_bench_csv_reports_the_combined_test() -> None:
    name = "llama_bench_llama31_8b_h100.csv"
    assert detect_format(name, load(name)) == "llama-bench"
    result = parse(name, LLAMA_CONTEXT)
    assert [r.line for r in result.rows] == [2, 3]
    check_llama_row(result.rows[0].fields, "pp512")
    assert result.rows[0].fields["value"] == load(name).decode().splitlines()[1].split(",")[-2].strip('"')
    assert [(e.line, e.field) for e in result.errors] == [(4, "n_gen")]
    assert "pp512+tg128" in result.errors[0].message


def test_llama_bench_markdown() -> None:
    name = "llama_bench_llama31_8b_h100.md"
    assert detect_format(name, load(name)) == "llama-bench"
    with pytest.raises(MeasurementFileError) as e:
        parse(name, LLAMA_CONTEXT)  # the table names the model type only: the upload names the model
    assert e.value.field == "model"
    result = parse(name, {**LLAMA_CONTEXT, "model": "llama-3.1-8b"})
    assert result.errors == []
    assert [r.line for r in result.rows] == [
        line_of(name, t + " |") for t in ("pp512", "tg128", "pp512 @ d4096")
    ] + [line_of(name, "tg128 @ d4096")]
    values = [(r.fields["metric"], r.fields["input_tokens"], r.fields["value"]) for r in result.rows]
    assert values == [
        ("prefill_tokens_per_s", "512", "10843.21"),
        ("decode_tokens_per_s_per_user", "0", "171.35"),
        ("prefill_tokens_per_s", "4608", "7421.56"),
        ("decode_tokens_per_s_per_user", "4096", "152.41"),
    ]
    check_llama_row(result.rows[1].fields, "tg128")
    assert result.rows[0].fields["precision"] == "q4_k_m" and "± 45.30" in result.rows[0].fields["notes"]


def test_llama_bench_bad_files() -> None:
    result = parse("llama_bench_bad.csv", LLAMA_CONTEXT)
    assert [(e.line, e.field) for e in result.errors] == [(3, "avg_ts")]
    assert [r.line for r in result.rows] == [2]
    result = parse("llama_bench_bad.jsonl", LLAMA_CONTEXT)
    assert [(e.line, e.field) for e in result.errors] == [(3, None)]
    assert [r.line for r in result.rows] == [1, 2]
    cut = b'[\n  {\n    "build_commit": "79c1160",\n    "n_prompt": 512,'
    with pytest.raises(MeasurementFileError) as e:
        parse_measurements(cut, file_name="cut.json", format_name="llama-bench", context=LLAMA_CONTEXT)
    assert (e.value.field, e.value.line) == ("file", 2)


@pytest.mark.parametrize(
    ("model_type", "filename", "precision", "model"),
    [
        ("llama 8B Q4_K - Medium", "/m/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "q4_k_m", "llama-3.1-8b"),
        ("llama 7B Q4_0", "llama-2-7b.Q4_0.gguf", "q4_0", "llama-2-7b"),
        ("qwen3moe 30B.A3B Q4_K - Medium", "Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf", "ud-q4_k_xl", ""),
        ("gpt-oss 120B MXFP4 MoE", "gpt-oss-120b-mxfp4.gguf", "mxfp4", "gpt-oss-120b"),
        ("llama 8B IQ2_XXS - 2.0625 bpw", "", "", ""),
        ("llama 70B Q4_K - Medium", "shisa-v2-llama3.3-70b.i1-Q4_K_M.gguf", "q4_k_m", ""),
        ("llama 8B F16 (guessed)", "", "fp16", ""),
    ],
)
def test_llama_bench_precision_and_model(model_type: str, filename: str, precision: str, model: str) -> None:
    assert llama_bench._precision(model_type, filename) == precision
    if model:
        assert llama_bench._model(filename) == model
    elif filename.startswith("shisa"):
        assert llama_bench._model(filename) == ""
