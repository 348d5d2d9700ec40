"""GuideLLM's benchmark report (`guidellm benchmark ... --outputs json`, default file `benchmarks.json`).

Schema read (vllm-project/guidellm): report schema `metadata.version` 1, written by GuideLLM >= 0.5
(`GenerativeBenchmarksReport` = metadata, args, benchmarks: src/guidellm/benchmark/schemas/report.py at
2ffffa8d9eaa); each benchmark's `config.strategy` (src/guidellm/scheduler/strategies.py at 03820eba155d:
`type_` synchronous | concurrent (`streams`) | throughput | constant (`rate`) | poisson (`rate`)) and
`metrics` (src/guidellm/benchmark/schemas/generative/metrics.py at 06cef2910dc1), each metric a
StatusDistributionSummary whose `successful` entry is a DistributionSummary (mean, median, std_dev, count,
percentiles p001..p999: src/guidellm/schemas/statistics.py at 03820eba155d). GuideLLM 0.4 wrote the same
layout without `metadata` (read as version 1); GuideLLM <= 0.3 (strategy under each benchmark's `args`,
`run_stats`) is refused.

One row set per benchmark; a row's `line` is the benchmark's position in `benchmarks` (1-based: the dump is
one JSON line). Mapped (successful requests only): requests_per_second / output_tokens_per_second /
tokens_per_second means (GuideLLM's rate means are count / duration) -> requests_per_s /
output_tokens_per_s_total / total_tokens_per_s; time_to_first_token_ms mean, median, p90, p99 -> ttft_ms,
ttft_p90_ms, ttft_p99_ms; inter_token_latency_ms mean, median -> itl_ms (per request (last - first token) /
(tokens - 1), weighted by token gaps: the mean gap); request_latency (s) mean, median, p90, p99 ->
e2e_latency_s, e2e_latency_p90_s, e2e_latency_p99_s. time_per_output_token_ms is not mapped: GuideLLM divides
the whole request time, TTFT included, by the output tokens. Lengths are the measured prompt / output token
means. GuideLLM is a client of any server: `framework` stays blank unless the report's backend is vLLM
in-process.
"""

from __future__ import annotations

import math
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

FORMAT = "guidellm"
SCHEMA_VERSIONS = (1,)
METRICS: tuple[tuple[str, str, str, str], ...] = (
    # (GuideLLM metric, statistic key, our metric, our statistic)
    ("requests_per_second", "mean", "requests_per_s", ""),
    ("output_tokens_per_second", "mean", "output_tokens_per_s_total", ""),
    ("tokens_per_second", "mean", "total_tokens_per_s", ""),
    ("time_to_first_token_ms", "mean", "ttft_ms", "mean"),
    ("time_to_first_token_ms", "median", "ttft_ms", "median"),
    ("time_to_first_token_ms", "p90", "ttft_p90_ms", "p90"),
    ("time_to_first_token_ms", "p99", "ttft_p99_ms", "p99"),
    ("inter_token_latency_ms", "mean", "itl_ms", "mean"),
    ("inter_token_latency_ms", "median", "itl_ms", "median"),
    ("request_latency", "mean", "e2e_latency_s", "mean"),
    ("request_latency", "median", "e2e_latency_s", "median"),
    ("request_latency", "p90", "e2e_latency_p90_s", "p90"),
    ("request_latency", "p99", "e2e_latency_p99_s", "p99"),
)
UNITS = {
    "requests_per_s": "req/s",
    "output_tokens_per_s_total": "tok/s",
    "total_tokens_per_s": "tok/s",
    "ttft_ms": "ms",
    "ttft_p90_ms": "ms",
    "ttft_p99_ms": "ms",
    "itl_ms": "ms",
    "e2e_latency_s": "s",
    "e2e_latency_p90_s": "s",
    "e2e_latency_p99_s": "s",
}


def sniff(file_name: str, head: bytes) -> bool:
    if b'"benchmarks"' not in head:
        return False
    return any(
        key in head for key in (b'"guidellm_version"', b'"generative_benchmark"', b'"inter_token_latency_ms"')
    )


def parse(data: bytes, *, file_name: str) -> ParseResult:
    report = _load(data)
    version = _schema_version(report)
    benchmarks = report.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks:
        raise MeasurementFileError("the report holds no benchmarks", field="benchmarks")
    args = report.get("args") if isinstance(report.get("args"), dict) else {}
    result = ParseResult(format=FORMAT, kind="performance")
    for index, bench in enumerate(benchmarks, start=1):
        try:
            rows = _benchmark_rows(bench, index, args, file_name, version, result.errors)
        except _BenchmarkError as e:
            result.errors.append(RowError(index, e.field, e.message))
            continue
        result.rows.extend(rows)
    return result


class _BenchmarkError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _load(data: bytes) -> dict[str, Any]:
    return load_json_object(data, "a GuideLLM report")[1]


def _schema_version(report: dict[str, Any]) -> str:
    metadata = report.get("metadata")
    if metadata is None:
        benchmarks = report.get("benchmarks")
        first = benchmarks[0] if isinstance(benchmarks, list) and benchmarks else None
        if (
            isinstance(first, dict)
            and isinstance(first.get("config"), dict)
            and "strategy" in first["config"]
        ):
            return "unversioned (GuideLLM 0.4 layout)"
        raise MeasurementFileError(
            "unrecognised GuideLLM report: no metadata.version and no benchmarks[].config.strategy "
            "(GuideLLM 0.3 and older reports are not read; re-run with GuideLLM >= 0.4)",
            field="metadata.version",
        )
    version = metadata.get("version") if isinstance(metadata, dict) else None
    if version not in SCHEMA_VERSIONS:
        raise MeasurementFileError(
            f"GuideLLM report schema version {version!r} is not supported (read: "
            f"{', '.join(map(str, SCHEMA_VERSIONS))})",
            field="metadata.version",
        )
    return f"schema v{version}, GuideLLM {metadata.get('guidellm_version') or '?'}"


def _benchmark_rows(
    bench: Any, index: int, args: dict[str, Any], file_name: str, version: str, errors: list[RowError]
) -> list[ParsedRow]:
    if not isinstance(bench, dict):
        raise _BenchmarkError("benchmarks", "not a benchmark object")
    config = bench.get("config") if isinstance(bench.get("config"), dict) else {}
    strategy = config.get("strategy")
    metrics = bench.get("metrics")
    if not isinstance(strategy, dict) or not isinstance(metrics, dict):
        raise _BenchmarkError("benchmarks", "benchmark without config.strategy or metrics")
    base = blank_row("performance")
    base.update(_scenario(strategy))
    backend = config.get("backend") if isinstance(config.get("backend"), dict) else {}
    model = args.get("model") or backend.get("model")
    if model:
        base["model"] = catalog_model(str(model))
    backend_type = str(backend.get("type_") or args.get("backend") or "")
    if "vllm" in backend_type.lower():  # GuideLLM's in-process vLLM backend names the engine
        base["framework"] = "vllm"
    lengths = _lengths(metrics)
    if lengths is None:
        raise _BenchmarkError("input_tokens", "no prompt_token_count / output_token_count means")
    base["input_tokens"], base["output_tokens"], base["lengths"], length_note = lengths
    base["source"] = file_name
    totals = metrics.get("request_totals") if isinstance(metrics.get("request_totals"), dict) else {}
    concurrency = _stat(metrics, "request_concurrency", "mean")
    base["notes"] = "; ".join(
        p
        for p in (
            f"GuideLLM report ({version}), benchmark {index} {_describe(strategy)}",
            f"target {args.get('target')}" if args.get("target") else "",
            f"data {args.get('data')}" if args.get("data") else "",
            length_note,
            f"{totals.get('successful')} successful / {totals.get('errored')} errored / "
            f"{totals.get('incomplete')} incomplete requests"
            if totals
            else "",
            f"mean concurrency {concurrency:.1f}" if isinstance(concurrency, float) else "",
            "successful requests only",
        )
        if p
    )
    rows = []
    for name, key, metric, statistic in METRICS:
        raw = _stat(metrics, name, key)
        if raw is None:
            continue
        if isinstance(raw, str):
            errors.append(RowError(index, "value", f"{name}.successful.{key}: not a number: {raw[:40]!r}"))
            continue
        fields = dict(base, metric=metric, statistic=statistic, value=fmt(round(raw, 6)))
        fields["unit"] = UNITS[metric]
        rows.append(ParsedRow(index, fields))
    return rows


def _scenario(strategy: dict[str, Any]) -> dict[str, str]:
    kind = strategy.get("type_")
    if kind == "synchronous":
        return {"scenario": "single_stream"}
    if kind == "concurrent":
        streams = _count(strategy.get("streams"), "streams")
        return {"scenario": "single_stream" if streams == "1" else "online_rate", "concurrency": streams}
    if kind == "throughput":
        return {"scenario": "offline_max_throughput", "request_rate": "inf"}
    if kind in ("constant", "poisson"):
        rate = strategy.get("rate")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
            raise _BenchmarkError("request_rate", f"{kind} strategy without a positive rate: {rate!r}")
        return {"scenario": "online_rate", "request_rate": fmt(float(rate))}
    raise _BenchmarkError("scenario", f"unknown GuideLLM strategy type {kind!r}")


def _count(value: Any, name: str) -> str:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _BenchmarkError("concurrency", f"strategy {name} is not a whole number >= 1: {value!r}")
    return str(value)


def _describe(strategy: dict[str, Any]) -> str:
    kind = strategy.get("type_")
    if kind == "concurrent":
        return f"concurrent@{strategy.get('streams')} (closed loop)"
    if kind == "constant":
        return f"constant@{strategy.get('rate')} req/s (evenly spaced arrivals)"
    if kind == "poisson":
        return f"poisson@{strategy.get('rate')} req/s (Poisson arrivals)"
    if kind == "throughput":
        return f"throughput (all requests issued at once, up to {strategy.get('max_concurrency')} in flight)"
    return str(kind)


def _stat(metrics: dict[str, Any], name: str, key: str) -> float | str | None:
    """metrics[name].successful[key] (pNN from `percentiles`); None when absent or counted over no request."""
    summary = metrics.get(name)
    successful = summary.get("successful") if isinstance(summary, dict) else None
    if not isinstance(successful, dict) or successful.get("count") == 0:
        return None
    holder = successful.get("percentiles") if key.startswith("p") else successful
    value = holder.get(key) if isinstance(holder, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    return float(value)


def _lengths(metrics: dict[str, Any]) -> tuple[str, str, str, str] | None:
    prompt = _summary(metrics, "prompt_token_count")
    output = _summary(metrics, "output_token_count")
    if prompt is None or output is None:
        return None
    exact = prompt[1] == 0 and output[1] == 0
    note = f"measured mean prompt {prompt[0]:g} / output {output[0]:g} tokens"
    return fmt(round(prompt[0])), fmt(round(output[0])), "stated" if exact else "mean", note


def _summary(metrics: dict[str, Any], name: str) -> tuple[float, float] | None:
    mean, spread = _stat(metrics, name, "mean"), _stat(metrics, name, "std_dev")
    if not isinstance(mean, float) or mean < 0:
        return None
    return mean, spread if isinstance(spread, float) else 1.0
