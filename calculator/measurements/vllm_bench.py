"""`vllm bench serve --save-result` JSON (and the older `python benchmarks/benchmark_serving.py
--save-result`): one object per run, or one per line with `--append-result`.

Schema: vllm-project/vllm `vllm/benchmarks/serve.py` at 009e6d4a1cd6ba3fb2a9fc00f4ec06f5297232a1 (`main_async`
writes date, endpoint_type, backend, label, model_id, tokenizer_id, num_prompts, `--metadata` pairs,
request_rate ("inf" when unbounded), burstiness, max_concurrency; `benchmark` adds duration, completed,
failed, total_input_tokens, total_output_tokens, request_throughput, request_goodput, output_throughput,
total_token_throughput and, per `--percentile-metrics` (ttft, tpot, itl, e2el), mean_/median_/std_ and
p{N}_ (`--metric-percentiles`, default 99) in ms) and `benchmarks/benchmark_serving.py` at
0049e29c41fd383bda519a3f250e3227713081ef (the same keys without endpoint_type/label/failed). The file states
neither the dataset nor fixed lengths nor the server's version: lengths are the run's means (totals /
completed), the rest comes with the upload.

The JSON helpers here also read SGLang's bench_serving output (`sglang_bench`, a port of this client)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from calculator.measurements.base import (
    FieldError,
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    blank_row,
    catalog_model,
    fmt,
    number,
)

FORMAT = "vllm-bench"


class Record(NamedTuple):
    line: int
    start: int
    end: int
    value: Any


@dataclass(frozen=True)
class Metric:
    key: str
    metric: str
    statistic: str
    unit: str
    scale: float = 1.0


LATENCIES = (
    ("ttft", "ttft_ms", "ttft_p90_ms", "ttft_p99_ms", "ms", 1.0),
    ("tpot", "tpot_ms", "", "", "ms", 1.0),
    ("itl", "itl_ms", "", "", "ms", 1.0),
)


def latency_metrics(e2e_key: str) -> tuple[Metric, ...]:
    """TTFT, TPOT, ITL and end-to-end latency statistics; `e2e_key` is the client's name ("e2el" in vLLM,
    "e2e_latency" in SGLang). p90 and p99 have their own metrics where the calibration files have them."""
    out = []
    for name, metric, p90, p99, unit, scale in (
        *LATENCIES,
        (e2e_key, "e2e_latency_s", "e2e_latency_p90_s", "e2e_latency_p99_s", "s", 1e-3),
    ):
        out += [Metric(f"mean_{name}_ms", metric, "mean", unit, scale)]
        out += [Metric(f"median_{name}_ms", metric, "median", unit, scale)]
        out += [Metric(f"p90_{name}_ms", p90, "p90", unit, scale)] if p90 else []
        out += [Metric(f"p99_{name}_ms", p99, "p99", unit, scale)] if p99 else []
    return tuple(out)


METRICS = (
    *latency_metrics("e2el"),
    Metric("output_throughput", "output_tokens_per_s_total", "", "tok/s"),
    Metric("total_token_throughput", "total_tokens_per_s", "", "tok/s"),
    Metric("request_throughput", "requests_per_s", "", "req/s"),
)
SNIFF_KEYS = (b'"model_id"', b'"num_prompts"', b'"request_rate"')


def sniff(file_name: str, head: bytes) -> bool:
    text = head.lstrip()
    # tokenizer_id has been written since the first --save-result; burstiness since late 2024
    return (
        text[:1] in (b"{", b"[")
        and all(k in head for k in SNIFF_KEYS)
        and (b'"tokenizer_id"' in head or b'"burstiness"' in head)
    )


def parse(data: bytes, *, file_name: str) -> ParseResult:
    return parse_records(
        data,
        file_name=file_name,
        format_name=FORMAT,
        tool="vllm bench serve",
        example_keys="mean_ttft_ms, output_throughput",
        metrics=METRICS,
        read=read_record,
    )


def parse_records(
    data: bytes,
    *,
    file_name: str,
    format_name: str,
    tool: str,
    example_keys: str,
    metrics: tuple[Metric, ...],
    read: Callable[[str, Record, str, ParseResult], None],
) -> ParseResult:
    """A benchmark client's JSON result records (one object, an array, or one object per line): each record
    that holds one of `metrics` is read by `read`; the others, and values `read` refuses, are bad rows."""
    text = decode(data)
    records, errors = json_records(text)
    result = ParseResult(format=format_name, kind="performance", errors=errors)
    usable = 0
    for record in records:
        if not isinstance(record.value, dict):
            result.errors.append(RowError(record.line, None, "not a JSON object"))
            continue
        if not any(m.key in record.value for m in metrics):
            result.errors.append(RowError(record.line, None, f"no {tool} metric in this record"))
            continue
        usable += 1
        try:
            read(text, record, file_name, result)
        except FieldError as e:
            result.errors.append(e.error)
    if not usable:
        raise MeasurementFileError(f"no {tool} result ({example_keys}, ...) in the file", field="file")
    return result


def read_record(text: str, record: Record, file_name: str, result: ParseResult) -> None:
    r = record.value
    if r.get("ramp_up_strategy"):
        raise FieldError(
            key_line(text, record, "ramp_up_strategy"),
            "ramp_up_strategy",
            "a ramp-up run changes its request rate during the run: no single operating point",
        )
    fields = blank_row("performance")
    fields.update(traffic(text, record, r.get("max_concurrency")))
    completed, inputs, outputs = mean_lengths(text, record, "total_input_tokens", "total_output_tokens")
    backend = str(r.get("backend") or r.get("endpoint_type") or "")
    fields.update(
        model=catalog_model(str(r.get("model_id") or "")),
        framework=framework_of_backend(backend),
        input_tokens=fmt(inputs),
        output_tokens=fmt(outputs),
        lengths="mean",
        source=file_name,
    )
    note = "; ".join(
        p
        for p in (
            "vllm bench serve --save-result",
            f"backend={backend}" if backend else "",
            f"model_id={r.get('model_id')}" if r.get("model_id") else "",
            f"num_prompts={r.get('num_prompts')}",
            f"request_rate={r.get('request_rate')}",
            f"max_concurrency={r.get('max_concurrency')}" if r.get("max_concurrency") else "",
            arrivals(r),
            f"duration {float(r['duration']):.1f} s" if is_number(r.get("duration")) else "",
            f"{completed:g} completed" + (f", {r['failed']} failed" if r.get("failed") else ""),
            f"mean lengths from total_input_tokens {r['total_input_tokens']} / total_output_tokens "
            f"{r['total_output_tokens']} over {completed:g} requests",
            f"date {r['date']}" if r.get("date") else "",
        )
        if p
    )
    metric_rows(text, record, METRICS, fields, note, result)


def arrivals(r: dict[str, Any]) -> str:
    if str(r.get("request_rate")).lower() in ("inf", "infinity"):
        return ""
    burstiness = r.get("burstiness", 1.0)
    return "Poisson arrivals" if burstiness in (1, 1.0, None) else f"gamma arrivals, burstiness={burstiness}"


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MeasurementFileError(f"not UTF-8 text (byte {e.start})", field="file") from None


def json_records(text: str) -> tuple[list[Record], list[RowError]]:
    """Every top-level JSON value of `text` with its 1-based line and span: one object, an array of them, or
    values one after another (JSON lines). A value that does not parse is a RowError at its line (the
    following lines are still read); a file where nothing parses raises MeasurementFileError."""
    decoder = json.JSONDecoder()
    records: list[Record] = []
    errors: list[RowError] = []
    pos = skip_space(text, 0)
    array = text.startswith("[", pos)
    if array:
        pos = skip_space(text, pos + 1)
    while pos < len(text):
        if array and text.startswith("]", pos):
            break
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            errors.append(RowError(line_at(text, pos), None, f"invalid JSON ({e.msg}, line {e.lineno})"))
            if array:
                break
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else skip_space(text, newline + 1)
            continue
        records.append(Record(line_at(text, pos), pos, end, value))
        pos = skip_space(text, end)
        if array and text.startswith(",", pos):
            pos = skip_space(text, pos + 1)
    if not records:
        first = errors[0] if errors else RowError(1, None, "no JSON value")
        raise MeasurementFileError(f"{first.message}; truncated?", line=first.line, field="file")
    return records, errors


def skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def key_line(text: str, record: Record, key: str) -> int:
    """The line where `key` appears in the record (the record's first line if it does not)."""
    at = text.find(f'"{key}"', record.start, record.end)
    return line_at(text, at) if at >= 0 else record.line


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def traffic(text: str, record: Record, max_concurrency: Any) -> dict[str, str]:
    """scenario, request_rate and concurrency of one run (serving.csv's conventions): a finite rate is an
    open loop (online_rate); an unbounded rate with a concurrency cap is a closed loop (online_rate, "inf",
    concurrency); an unbounded rate without one sends every prompt at once (offline_max_throughput)."""
    raw = record.value.get("request_rate")
    line = key_line(text, record, "request_rate")
    if raw is None:
        raise FieldError(line, "request_rate", "no request_rate in this record")
    if isinstance(raw, str) and raw.strip().lower() in ("inf", "infinity"):
        rate = math.inf
    elif isinstance(raw, str) and raw.strip().lower() == "trace":
        raise FieldError(line, "request_rate", "a trace replay has no single request rate")
    else:
        try:
            rate = float(raw)
        except (TypeError, ValueError):
            raise FieldError(line, "request_rate", f"not a number: {str(raw)[:40]!r}") from None
    if not rate > 0:
        raise FieldError(line, "request_rate", f"must be positive, got {raw}")
    concurrency = ""
    if max_concurrency is not None:
        n = number(max_concurrency, line=key_line(text, record, "max_concurrency"), field="max_concurrency")
        concurrency = fmt(n) if n > 0 else ""
    if math.isinf(rate):
        scenario = "online_rate" if concurrency else "offline_max_throughput"
        return {"scenario": scenario, "request_rate": "inf", "concurrency": concurrency}
    return {"scenario": "online_rate", "request_rate": fmt(rate), "concurrency": concurrency}


def mean_lengths(text: str, record: Record, input_key: str, output_key: str) -> tuple[float, int, int]:
    """(completed, mean input tokens, mean output tokens) from the run's totals."""
    r = record.value
    values = {}
    for key in ("completed", input_key, output_key):
        if r.get(key) is None:
            raise FieldError(record.line, key, f"no {key!r} in this record")
        values[key] = number(r[key], line=key_line(text, record, key), field=key)
    if values["completed"] <= 0:
        raise FieldError(key_line(text, record, "completed"), "completed", "no request completed")
    completed = values["completed"]
    return completed, round(values[input_key] / completed), round(values[output_key] / completed)


def metric_rows(
    text: str,
    record: Record,
    metrics: tuple[Metric, ...],
    fields: dict[str, str],
    note: str,
    result: ParseResult,
) -> None:
    """One row per metric the record states (a zero is a statistic the client could not measure, e.g. TPOT of
    one-token outputs or TTFT without streaming: skipped); a value that is not a number is a RowError."""
    for m in metrics:
        raw = record.value.get(m.key)
        if raw is None:
            continue
        line = key_line(text, record, m.key)
        try:
            value = number(raw, line=line, field=m.key)
        except FieldError as e:
            result.errors.append(e.error)
            continue
        if value == 0:
            continue
        row = dict(fields)
        row.update(
            metric=m.metric,
            statistic=m.statistic,
            value=fmt(value * m.scale),
            unit=m.unit,
            notes=f"{note}; field {m.key}",
        )
        result.rows.append(ParsedRow(line, row))


_CLIENT_SUFFIX = re.compile(r"-(?:oai-chat|oai|chat|native|completions)$")
_BACKENDS = {"trt": "tensorrt-llm", "trtllm": "tensorrt-llm"}


def framework_of_backend(backend: str) -> str:
    """The serving framework a benchmark client's `--backend` names ("vllm", "sglang-oai", "lmdeploy-chat",
    "trt"); blank for a generic endpoint ("openai", "openai-chat": any OpenAI-compatible server)."""
    from calculator.frameworks import UnknownFrameworkError, resolve_framework

    name = _CLIENT_SUFFIX.sub("", backend.strip().lower())
    name = _BACKENDS.get(name, name)
    if not name or name.startswith("openai"):
        return ""
    try:
        return resolve_framework(name).key
    except UnknownFrameworkError:
        return ""
