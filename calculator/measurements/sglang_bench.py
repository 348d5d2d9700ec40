"""SGLang `python -m sglang.bench_serving --output-file out.jsonl`: one JSON object appended per run (one line
each; several runs per file).

Schema: sgl-project/sglang `python/sglang/bench_serving.py` at 0033168f0f58b2bc05aa0273bd475d9c01bafb1c
(`benchmark`: backend, dataset_name, request_rate (a float: `Infinity` when unbounded), max_concurrency,
sharegpt_output_len, random_input_len, random_output_len, random_range_ratio, duration, completed,
total_input_tokens, total_output_tokens, total_output_tokens_retokenized, request_throughput,
input_throughput, output_throughput, mean_/median_/std_/p99_e2e_latency_ms, mean_/median_/std_/p99_ttft_ms,
mean_/median_/std_/p99_tpot_ms, mean_/median_/std_/p95_/p99_itl_ms, concurrency, accept_length), the JSONL
section of docs/developer_guide/bench_serving.md (same repository, 0229689b6730cccb5b7f0d4eeef06d7de423b6e1),
the fields of older releases (datacrunch-research/h200-benchmarks sglang/outputs/*.jsonl at c091ef530a52:
median_ttft_ms and median_itl_ms only) and those newer releases add (tag, server_info = the server's
/get_server_info, whose model_path names the model; total_throughput, p90_* percentiles; request_rate "trace"
for a timestamp replay).

Lengths: random_input_len / random_output_len when the run drew them fixed (a random dataset with
random_range_ratio 1: every request is exactly that long) and the totals agree; otherwise the run's means
(totals / completed)."""

from __future__ import annotations

from typing import Any

from calculator.measurements.base import (
    ParseResult,
    blank_row,
    fmt,
    number,
)
from calculator.measurements.vllm_bench import (
    Metric,
    Record,
    catalog_model,
    framework_of_backend,
    is_number,
    key_line,
    latency_metrics,
    mean_lengths,
    metric_rows,
    parse_records,
    traffic,
)

FORMAT = "sglang-bench"
METRICS = (
    *latency_metrics("e2e_latency"),
    Metric("output_throughput", "output_tokens_per_s_total", "", "tok/s"),
    Metric("total_throughput", "total_tokens_per_s", "", "tok/s"),
    Metric("request_throughput", "requests_per_s", "", "req/s"),
)
SNIFF_KEYS = (b'"dataset_name"', b'"random_input_len"', b'"random_range_ratio"', b'"completed"')
LENGTH_TOLERANCE = 0.01
"""Stated random lengths are kept when the run's means are within 1% (a text prompt loses the special tokens
the server adds back, e.g. 1023 of 1024)."""


def sniff(file_name: str, head: bytes) -> bool:
    return head.lstrip()[:1] == b"{" and all(k in head for k in SNIFF_KEYS) and b'"model_id"' not in head


def parse(data: bytes, *, file_name: str) -> ParseResult:
    return parse_records(
        data,
        file_name=file_name,
        format_name=FORMAT,
        tool="sglang.bench_serving",
        example_keys="median_ttft_ms, output_throughput",
        metrics=METRICS,
        read=read_record,
    )


def read_record(text: str, record: Record, file_name: str, result: ParseResult) -> None:
    r = record.value
    fields = blank_row("performance")
    fields.update(traffic(text, record, r.get("max_concurrency")))
    completed, inputs, outputs = mean_lengths(text, record, "total_input_tokens", "total_output_tokens")
    stated = fixed_lengths(text, record, inputs, outputs)
    dataset = str(r.get("dataset_name") or "")
    server_info = r.get("server_info") if isinstance(r.get("server_info"), dict) else {}
    model = str(server_info.get("model_path") or "")
    fields.update(
        model=catalog_model(model) if model else "",
        framework=framework_of_backend(str(r.get("backend") or "")),
        input_tokens=fmt(stated[0] if stated else inputs),
        output_tokens=fmt(stated[1] if stated else outputs),
        lengths="stated" if stated else "mean",
        source=file_name,
    )
    random = dataset.startswith("random")
    note = "; ".join(
        p
        for p in (
            f"sglang.bench_serving --output-file, line {record.line}",
            f"backend={r.get('backend')}",
            f"tag={r['tag']}" if r.get("tag") else "",
            f"dataset {dataset}" if dataset else "",
            f"random_input_len={r.get('random_input_len')}, random_output_len={r.get('random_output_len')}, "
            f"random_range_ratio={r.get('random_range_ratio')}"
            if random
            else "",
            f"sharegpt_output_len={r['sharegpt_output_len']}" if r.get("sharegpt_output_len") else "",
            f"request_rate={r.get('request_rate')}"
            + ("" if str(r.get("request_rate")).lower() in ("inf", "infinity") else " (Poisson arrivals)"),
            f"max_concurrency={r['max_concurrency']}" if r.get("max_concurrency") else "",
            f"duration {float(r['duration']):.1f} s" if is_number(r.get("duration")) else "",
            f"total_input_tokens {r['total_input_tokens']} / total_output_tokens "
            f"{r['total_output_tokens']} over {completed:g} completed requests"
            + ("" if stated else " (lengths: their means)"),
        )
        if p
    )
    metric_rows(text, record, METRICS, fields, note, result)


def fixed_lengths(text: str, record: Record, inputs: int, outputs: int) -> tuple[int, int] | None:
    """(random_input_len, random_output_len) when the run drew every request at exactly those lengths
    (`random_range_ratio` 1; SGLang draws uniformly from [len x ratio, len]) and its means agree."""
    r: dict[str, Any] = record.value
    if not str(r.get("dataset_name") or "").startswith("random") or r.get("random_range_ratio") is None:
        return None
    ratio = number(
        r["random_range_ratio"], line=key_line(text, record, "random_range_ratio"), field="random_range_ratio"
    )
    if ratio != 1.0:
        return None
    lengths = []
    for key, mean in (("random_input_len", inputs), ("random_output_len", outputs)):
        if r.get(key) is None:
            return None
        stated = number(r[key], line=key_line(text, record, key), field=key)
        if abs(mean - stated) > max(1.0, LENGTH_TOLERANCE * stated):
            return None
        lengths.append(int(stated))
    return lengths[0], lengths[1]
