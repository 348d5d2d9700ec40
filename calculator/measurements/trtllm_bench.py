"""The report `trtllm-bench --model ... throughput --dataset ...` prints (its console output or a saved log).

Layout read: NVIDIA/TensorRT-LLM tensorrt_llm/bench/dataclasses/reporting.py at 0249976575050 (ReportUtility.
report_statistics: sections "= ENGINE DETAILS" or "= PYTORCH BACKEND" (Model, TensorRT LLM Version, Dtype, KV
Cache Dtype, Quantization), "= MACHINE DETAILS", "= REQUEST DETAILS" (Number of requests, Average Input /
Output Length (tokens)), "= WORLD + RUNTIME INFORMATION" (TP Size, PP Size, Max Runtime Batch Size, ...), "=
PERFORMANCE OVERVIEW" (Request Throughput (req/sec), Total Output Throughput (tokens/sec), Total Token
Throughput (tokens/sec), Average request latency (ms), with streaming: Average time-to-first-token [TTFT]
(ms), Average time-per-output-token [TPOT] (ms) and "[TTFT] P50 : ..." breakdowns; "[Latency] P50 : ..."),
then "= DATASET DETAILS" with a MIN / MAX / AVG percentile table) and docs/source/performance/
perf-benchmarking.md at 04276b44f20b (the v0.17 layout: "TensorRT-LLM Version:", and "Token Throughput
(tokens/sec)" = output tokens / total time under PERFORMANCE OVERVIEW). Quantization names are QuantAlgo
(tensorrt_llm/quantization/mode.py).

The throughput subcommand submits the whole dataset at once (the docs: "as fast as possible (offline mode)"):
scenario offline_max_throughput at request rate inf. The report states TP / PP (num_gpus = tp x pp), the
checkpoint's quantization (precision; dtype when unquantized) and the version; `framework` is tensorrt-llm.
Mapped: request throughput -> requests_per_s; total output throughput -> output_tokens_per_s_total; total
token throughput -> total_tokens_per_s; average request latency and [Latency] P50 / P90 / P99 -> e2e_latency_s
(mean, median), e2e_latency_p90_s, e2e_latency_p99_s; TTFT average / P50 / P90 / P99 -> ttft_ms, ttft_p90_ms,
ttft_p99_ms; TPOT average / P50 -> tpot_ms. Per-user throughputs are not mapped (the "[w/ ctx]" one includes
TTFT). A row's `line` is the report line its value is on; the last report in the file is read.
"""

from __future__ import annotations

import re

from calculator.measurements.base import (
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    blank_row,
    catalog_model,
    finite_float,
    fmt,
)

FORMAT = "trtllm-bench"
LOG_PREFIX = re.compile(
    r"^\s*(?:\[\d\d/\d\d/\d{4}-[\d:]+\]\s*\[TRT-LLM\]\s*\[\w\]\s*|\[TensorRT-LLM\](?:\[\w+\])?\s*)"
)
BREAKDOWN = re.compile(r"^\s*\[(TTFT|TPOT|Latency|GTPS)\]\s+([A-Z0-9]+)\s*:\s*(\S+)\s*$")
TABLE_ROW = re.compile(r"^\s*(MIN|MAX|AVG|P50|P90|P95|P99):\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
LABEL = re.compile(r"^\s*([A-Za-z][\w .,/()\[\]%+-]*?)\s*:\s*(.*?)\s*$")
VERSION_LINE = re.compile(r"TensorRT-LLM version:\s*(\S+)", re.IGNORECASE)
SECTION = re.compile(r"^\s*=\s+([A-Za-z].*?)\s*$")
# (report label, lowercased, whitespace collapsed) -> (metric, statistic, scale to our unit)
SCALARS: dict[str, tuple[str, str, float]] = {
    "request throughput (req/sec)": ("requests_per_s", "", 1.0),
    "total output throughput (tokens/sec)": ("output_tokens_per_s_total", "", 1.0),
    "token throughput (tokens/sec)": ("output_tokens_per_s_total", "", 1.0),  # v0.17: output tokens / time
    "total token throughput (tokens/sec)": ("total_tokens_per_s", "", 1.0),
    "average request latency (ms)": ("e2e_latency_s", "mean", 1e-3),
    "average time-to-first-token [ttft] (ms)": ("ttft_ms", "mean", 1.0),
    "average time-per-output-token [tpot] (ms)": ("tpot_ms", "mean", 1.0),
}
BREAKDOWNS: dict[tuple[str, str], tuple[str, str, float]] = {
    ("Latency", "P50"): ("e2e_latency_s", "median", 1e-3),
    ("Latency", "P90"): ("e2e_latency_p90_s", "p90", 1e-3),
    ("Latency", "P99"): ("e2e_latency_p99_s", "p99", 1e-3),
    ("TTFT", "P50"): ("ttft_ms", "median", 1.0),
    ("TTFT", "P90"): ("ttft_p90_ms", "p90", 1.0),
    ("TTFT", "P99"): ("ttft_p99_ms", "p99", 1.0),
    ("TPOT", "P50"): ("tpot_ms", "median", 1.0),
}
UNITS = {"requests_per_s": "req/s", "output_tokens_per_s_total": "tok/s", "total_tokens_per_s": "tok/s"}
PRECISION_OF_QUANT = {
    "FP8": "fp8",
    "FP8_PER_CHANNEL_PER_TOKEN": "fp8",
    "FP8_BLOCK_SCALES": "fp8-block",
    "NVFP4": "fp4",
    "W4A16_MXFP4": "mxfp4",
    "W4A8_MXFP4_FP8": "mxfp4",
    "W4A8_MXFP4_MXFP8": "mxfp4",
    "W4A16_AWQ": "int4-awq",
    "W4A16_GPTQ": "int4-gptq",
    "W4A16": "int4-wo",
    "W8A16": "int8-weight-only",
    "W8A16_GPTQ": "int8-weight-only",
    "W8A8_SQ_PER_CHANNEL": "int8",
    "INT8": "int8",
}
PRECISION_OF_DTYPE = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def sniff(file_name: str, head: bytes) -> bool:
    report = b"= PERFORMANCE OVERVIEW" in head and (
        b"= WORLD + RUNTIME INFORMATION" in head or b"TensorRT" in head or b"Request Throughput" in head
    )
    return report or (b"[TRT-LLM]" in head and b"throughput benchmark" in head)


def parse(data: bytes, *, file_name: str) -> ParseResult:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MeasurementFileError(f"not UTF-8 text (byte {e.start})", field="file") from None
    labels, breakdowns, table, version = _scan(text.splitlines())
    if "request throughput (req/sec)" not in labels:
        raise MeasurementFileError(
            "no trtllm-bench report: no 'Request Throughput (req/sec)' line under '= PERFORMANCE OVERVIEW' "
            "(was the benchmark cut off before its report?)",
            field="file",
        )
    result = ParseResult(format=FORMAT, kind="performance")
    base = _context(labels, table, version, result.errors)
    base["source"] = file_name
    found = [(labels[k], *SCALARS[k]) for k in SCALARS if k in labels]
    found += [(breakdowns[k], *BREAKDOWNS[k]) for k in BREAKDOWNS if k in breakdowns]
    for (line, raw), metric, statistic, scale in found:
        value = finite_float(raw)
        if value is None:
            result.errors.append(RowError(line, "value", f"{metric}: not a number: {raw[:40]!r}"))
            continue
        unit = UNITS.get(metric) or ("s" if metric.endswith("_s") else "ms")
        fields = dict(base, metric=metric, statistic=statistic, value=fmt(round(value * scale, 6)), unit=unit)
        result.rows.append(ParsedRow(line, fields))
    result.rows.sort(key=lambda r: r.line)
    return result


def _scan(
    lines: list[str],
) -> tuple[dict[str, tuple[int, str]], dict[tuple[str, str], tuple[int, str]], dict[str, list[str]], str]:
    """(labels, breakdown entries, dataset percentile table rows, version line's version), last value wins."""
    labels: dict[str, tuple[int, str]] = {}
    breakdowns: dict[tuple[str, str], tuple[int, str]] = {}
    table: dict[str, list[str]] = {}
    version = ""
    section = ""
    for number, raw in enumerate(lines, start=1):
        line = LOG_PREFIX.sub("", raw)
        if match := VERSION_LINE.search(line):
            version = match.group(1)
        if match := SECTION.match(line):
            section = match.group(1).upper()
            continue
        if match := BREAKDOWN.match(line):
            breakdowns[(match.group(1), match.group(2))] = (number, match.group(3))
            continue
        if section.startswith("MACHINE") and line.strip() and not line.lstrip().startswith("="):
            labels.setdefault("machine", (number, line.strip()))
            continue
        if section.startswith("DATASET") and (match := TABLE_ROW.match(line)):
            table[match.group(1)] = [match.group(2), match.group(3), match.group(4)]
            continue
        if match := LABEL.match(line):
            key = re.sub(r"\s+", " ", match.group(1)).lower()
            labels[key] = (number, match.group(2))
    return labels, breakdowns, table, version


def _context(
    labels: dict[str, tuple[int, str]], table: dict[str, list[str]], version: str, errors: list[RowError]
) -> dict[str, str]:
    fields = blank_row("performance")
    fields.update(framework="tensorrt-llm", scenario="offline_max_throughput", request_rate="inf")
    text = {key: value for key, (_, value) in labels.items()}
    model = text.get("model", "")
    if model and model.lower() != "none":
        fields["model"] = catalog_model(model)
    fields["framework_version"] = (
        text.get("tensorrt llm version") or text.get("tensorrt-llm version") or version
    ).lstrip("v")
    fields["precision"] = _precision(text.get("quantization", ""), text.get("dtype", ""))
    for name, column in (("tp size", "tp"), ("pp size", "pp")):
        if name in labels:
            line, raw = labels[name]
            value = finite_float(raw)
            if value is None or value < 1 or not value.is_integer():
                errors.append(RowError(line, column, f"{name}: not a whole number >= 1: {raw[:40]!r}"))
            else:
                fields[column] = fmt(value)
    if fields["tp"]:
        fields["num_gpus"] = fmt(int(fields["tp"]) * int(fields["pp"] or 1))
    lengths = [finite_float(text.get(f"average {kind} length (tokens)", "")) for kind in ("input", "output")]
    if lengths[0] is not None and lengths[1] is not None:
        fields["input_tokens"], fields["output_tokens"] = fmt(round(lengths[0])), fmt(round(lengths[1]))
        exact = all(table.get("MIN", [None] * 2)[i] == table.get("MAX", [""] * 2)[i] for i in (0, 1))
        fields["lengths"] = "stated" if exact else "mean"
    notes = [
        "trtllm-bench throughput report (all requests submitted at once)",
        f"quantization {text.get('quantization')}, KV cache dtype {text.get('kv cache dtype')}"
        if "quantization" in text
        else "",
        f"{text['number of requests']} requests" if "number of requests" in text else "",
        f"average concurrency {text['number of concurrent requests']}"
        if "number of concurrent requests" in text
        else "",
        f"average input {lengths[0]:g} / output {lengths[1]:g} tokens" if None not in lengths else "",
        f"max runtime batch size {text['max runtime batch size']}"
        if "max runtime batch size" in text
        else "",
        f"GPU: {text['machine']}" if "machine" in text else "",
    ]
    fields["notes"] = "; ".join(n for n in notes if n)
    return fields


def _precision(quantization: str, dtype: str) -> str:
    quant = quantization.strip().upper()
    if quant in ("", "NONE", "NO_QUANT"):
        return PRECISION_OF_DTYPE.get(dtype.strip().lower(), dtype.strip().lower())
    return PRECISION_OF_QUANT.get(quant, quant.lower())
