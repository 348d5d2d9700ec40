"""NVIDIA genai-perf's `profile_export_genai_perf.json` and AIPerf's `profile_export_aiperf.json` (one family:
top-level metrics, each `{"unit": ..., "avg": ..., "p50": ..., "p90": ..., "p99": ..., "min", "max", "std"}`,
plus the run's `input_config`).

Schemas read: triton-inference-server/perf_analyzer genai-perf/genai_perf/metrics/statistics.py at
0518df11a864 (avg, p1..p99, min, max, std; units "ms", "requests/sec", "tokens/sec", "tokens") and
metrics/llm_metrics.py at 2877380ed981 (metric names); export_data/json_exporter.py at 4cc7650c23bc (stats +
`input_config` = the argparse namespace: flat `model`, `concurrency`, `request_rate`, `service_kind`,
`backend`) and its 2025 ConfigCommand version (`input_config` = config.to_json_dict(): `model_names`,
`endpoint.service_kind`, `endpoint.backend`, `perf_analyzer.stimulus` {concurrency | request_rate},
`input.synthetic_tokens`: config/input/config_command.py at 0472f54edee4, config_perf_analyzer.py at
00d6a4679c97); AIPerf: ai-dynamo/aiperf docs/tutorials/working-with-profile-exports.md at e51cbbaf65a6 (same
metric objects, `input_config.endpoint.model_names`, `input_config.loadgen` {concurrency | request_rate}).

Mapped: request_throughput avg -> requests_per_s; output_token_throughput avg -> output_tokens_per_s_total;
total_token_throughput avg (AIPerf) -> total_tokens_per_s; time_to_first_token avg, p50, p90, p99 -> ttft_ms
(mean, median), ttft_p90_ms, ttft_p99_ms; inter_token_latency avg, p50 -> tpot_ms (both tools define it per
request as (latency - TTFT) / (output tokens - 1), vLLM's TPOT); request_latency avg, p50, p90, p99 ->
e2e_latency_s, e2e_latency_p90_s, e2e_latency_p99_s (converted by each metric's `unit`). Lengths are the
measured input / output sequence length means. A concurrency stimulus is a closed loop (online_rate with
`concurrency`; 1 is single_stream); a request rate is online_rate at that rate. The tools are clients of any
server: `framework` is filled only for genai-perf's Triton service kind, whose `backend` names the engine. A
row's `line` is the line of the statistic's key in the file (genai-perf writes indented JSON).
"""

from __future__ import annotations

import math
import re
from typing import Any

from calculator.measurements.base import (
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    blank_row,
    catalog_model,
    fmt,
    load_json_object,
)

FORMAT = "genai-perf"
METRICS: tuple[tuple[str, str, str, str], ...] = (
    # (export metric, statistic key, our metric, our statistic)
    ("request_throughput", "avg", "requests_per_s", ""),
    ("output_token_throughput", "avg", "output_tokens_per_s_total", ""),
    ("total_token_throughput", "avg", "total_tokens_per_s", ""),
    ("time_to_first_token", "avg", "ttft_ms", "mean"),
    ("time_to_first_token", "p50", "ttft_ms", "median"),
    ("time_to_first_token", "p90", "ttft_p90_ms", "p90"),
    ("time_to_first_token", "p99", "ttft_p99_ms", "p99"),
    ("inter_token_latency", "avg", "tpot_ms", "mean"),
    ("inter_token_latency", "p50", "tpot_ms", "median"),
    ("request_latency", "avg", "e2e_latency_s", "mean"),
    ("request_latency", "p50", "e2e_latency_s", "median"),
    ("request_latency", "p90", "e2e_latency_p90_s", "p90"),
    ("request_latency", "p99", "e2e_latency_p99_s", "p99"),
)
TIME_UNITS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3}
"""Milliseconds per unit of a time metric."""
METRIC_SIGNATURE = re.compile(
    rb'"(?:request_throughput|time_to_first_token|request_latency)"\s*:\s*\{[^{}]*"avg"'
)
FRAMEWORK_OF_BACKEND = {"tensorrtllm": "tensorrt-llm", "vllm": "vllm"}


def sniff(file_name: str, head: bytes) -> bool:
    return bool(METRIC_SIGNATURE.search(head))


def parse(data: bytes, *, file_name: str) -> ParseResult:
    text, export = _load(data)
    config = export.get("input_config") if isinstance(export.get("input_config"), dict) else {}
    tool = _tool(config, file_name)
    base = blank_row("performance")
    base["source"] = file_name
    model = _model(config)
    if model:
        base["model"] = catalog_model(model)
    base["framework"] = _framework(config)
    base.update(_scenario(config))
    lengths = _lengths(export, config)
    notes = [f"{tool} export"]
    if lengths:
        base["input_tokens"], base["output_tokens"], base["lengths"], note = lengths
        notes.append(note)
    if base["concurrency"]:
        notes.append(f"closed loop, {base['concurrency']} requests in flight")
    elif base["request_rate"]:
        notes.append(f"request rate {base['request_rate']} req/s{_arrivals(config)}")
    count = _number(export.get("request_count"), "avg")
    if isinstance(count, float):
        notes.append(f"{count:g} requests")
    base["notes"] = "; ".join(notes)
    result = ParseResult(format=FORMAT, kind="performance")
    for name, key, metric, statistic in METRICS:
        raw = _number(export.get(name), key)
        if raw is None:
            continue
        line = _line_of(text, name, key)
        if isinstance(raw, str):
            result.errors.append(RowError(line, "value", f"{name}.{key}: not a number: {raw[:40]!r}"))
            continue
        try:
            value, unit = _convert(metric, raw, export[name].get("unit"))
        except ValueError as e:
            result.errors.append(RowError(line, "unit", f"{name}: {e}"))
            continue
        fields = dict(base, metric=metric, statistic=statistic, value=fmt(round(value, 6)), unit=unit)
        result.rows.append(ParsedRow(line, fields))
    result.rows.sort(key=lambda row: row.line)
    if not result.rows and not result.errors:
        raise MeasurementFileError(f"no {tool} metrics in the file", field="file")
    return result


def _load(data: bytes) -> tuple[str, dict[str, Any]]:
    return load_json_object(data, "a genai-perf / AIPerf export")


def _tool(config: dict[str, Any], file_name: str) -> str:
    aiperf = "loadgen" in config or str(config.get("cli_command", "")).startswith("aiperf")
    return "AIPerf" if aiperf or "aiperf" in file_name.lower() else "genai-perf"


def _model(config: dict[str, Any]) -> str:
    endpoint = config.get("endpoint") if isinstance(config.get("endpoint"), dict) else {}
    for names in (config.get("model_names"), endpoint.get("model_names"), config.get("model")):
        if isinstance(names, str) and names:
            return names
        if isinstance(names, list) and names and isinstance(names[0], str):
            return names[0]
    return ""


def _framework(config: dict[str, Any]) -> str:
    endpoint = config.get("endpoint") if isinstance(config.get("endpoint"), dict) else config
    kind = str(endpoint.get("service_kind") or "").lower()
    if kind == "tensorrtllm_engine":
        return "tensorrt-llm"
    if kind == "triton":  # `backend` only means something for Triton (it defaults to tensorrtllm elsewhere)
        return FRAMEWORK_OF_BACKEND.get(str(endpoint.get("backend") or "").lower(), "")
    return ""


def _scenario(config: dict[str, Any]) -> dict[str, str]:
    perf = config.get("perf_analyzer") if isinstance(config.get("perf_analyzer"), dict) else {}
    for holder in (perf.get("stimulus"), config.get("loadgen"), config):
        if not isinstance(holder, dict):
            continue
        concurrency, rate = holder.get("concurrency"), holder.get("request_rate")
        if _positive(concurrency) and float(concurrency).is_integer():
            n = int(concurrency)
            return {"scenario": "single_stream" if n == 1 else "online_rate", "concurrency": str(n)}
        if _positive(rate):
            return {"scenario": "online_rate", "request_rate": fmt(float(rate))}
    return {}


def _arrivals(config: dict[str, Any]) -> str:
    loadgen = config.get("loadgen") if isinstance(config.get("loadgen"), dict) else {}
    mode = loadgen.get("request_rate_mode") or config.get("request_distribution")
    return f" ({mode} arrivals)" if mode else ""


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _lengths(export: dict[str, Any], config: dict[str, Any]) -> tuple[str, str, str, str] | None:
    isl, osl = (
        _number(export.get("input_sequence_length"), "avg"),
        _number(export.get("output_sequence_length"), "avg"),
    )
    if not isinstance(isl, float) or not isinstance(osl, float):
        return None
    exact = all(
        _number(export.get(k), "std") == 0.0 for k in ("input_sequence_length", "output_sequence_length")
    )
    note = f"measured mean input {isl:g} / output {osl:g} tokens"
    return fmt(round(isl)), fmt(round(osl)), "stated" if exact else "mean", note


def _number(metric: Any, key: str) -> float | str | None:
    """metric[key] as a float; the raw text when it is not a finite number; None when absent."""
    value = metric.get(key) if isinstance(metric, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    return float(value)


def _convert(metric: str, value: float, unit: Any) -> tuple[float, str]:
    if metric.endswith(("_per_s", "_per_s_total")):
        return value, "req/s" if metric == "requests_per_s" else "tok/s"
    per_ms = TIME_UNITS.get(str(unit or "").strip().lower())
    if per_ms is None:
        raise ValueError(f"unknown time unit {unit!r} (one of {', '.join(TIME_UNITS)})")
    ms = value * per_ms
    return (ms / 1e3, "s") if metric.endswith("_s") else (ms, "ms")


def _line_of(text: str, name: str, key: str) -> int:
    """1-based line of `key` in the metric object `name` (else the metric's line; 1 when neither is found)."""
    match = re.search(rf'"{re.escape(name)}"\s*:\s*\{{', text)
    if not match:
        return 1
    end = text.find("}", match.end())
    inner = re.compile(rf'"{re.escape(key)}"\s*:').search(text, match.end(), end if end >= 0 else len(text))
    offset = inner.start() if inner else match.start()
    return text.count("\n", 0, offset) + 1
