"""A team's own benchmark files read into the calibration files' rows (issue: calibrate on your own
benchmarks). Each format has a reader module with `sniff(file_name, head) -> bool` and
`parse(data, *, file_name) -> ParseResult` (rows with what the file states, blank elsewhere, and bad rows);
`parse_measurements` picks the reader, fills what the file does not say from the upload's context (never a
guess: a field neither gives is an error naming it) and checks every row against the catalog."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from calculator.measurements.base import (
    CONTEXT_FIELDS,
    KINDS,
    MEMORY_COLUMNS,
    PERFORMANCE_COLUMNS,
    REQUIRED_MEMORY,
    REQUIRED_PERFORMANCE,
    SCENARIOS,
    FieldError,
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    number,
    with_context,
)

__all__ = [
    "CONTEXT_FIELDS",
    "FORMATS",
    "MEMORY_COLUMNS",
    "PERFORMANCE_COLUMNS",
    "MeasurementFileError",
    "ParseResult",
    "ParsedRow",
    "RowError",
    "detect_format",
    "parse_measurements",
]

FORMATS: dict[str, str] = {
    "csv": "project_csv",
    "vllm-bench": "vllm_bench",
    "sglang-bench": "sglang_bench",
    "guidellm": "guidellm",
    "genai-perf": "genai_perf",
    "trtllm-bench": "trtllm_bench",
    "llama-bench": "llama_bench",
    "vllm-log": "vllm_log",
}
"""Format name -> reader module in this package. Sniffing tries them in this order."""
SIGNED_MEMORY_METRICS = frozenset({"non_torch_gib", "cuda_graph_gib"})
MAX_FILE_BYTES = 20 * 2**20
"""Largest file read (a benchmark's result files are kilobytes; a 50 MB upload is refused, not parsed)."""


def reader(format_name: str) -> Any:
    if format_name not in FORMATS:
        raise MeasurementFileError(
            f"unknown format {format_name!r}; one of {', '.join(FORMATS)}", field="format"
        )
    return importlib.import_module(f"calculator.measurements.{FORMATS[format_name]}")


def detect_format(file_name: str, data: bytes) -> str:
    """The first format whose reader recognises the file (its name and first 64 KiB)."""
    head = data[: 64 * 1024]
    for name in FORMATS:
        try:
            if reader(name).sniff(file_name, head):
                return name
        except ModuleNotFoundError:
            continue
    raise MeasurementFileError(
        "the format is not recognised; name it (format: " + ", ".join(FORMATS) + ")", field="format"
    )


def parse_measurements(
    data: bytes,
    *,
    file_name: str,
    format_name: str | None = None,
    context: Mapping[str, Any] | None = None,
    catalog: Any = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> ParseResult:
    """Read one uploaded file into calibration rows: `format_name` (None: sniffed), `context` (the upload's
    CONTEXT_FIELDS for what the file does not state). Raises MeasurementFileError when the whole file is
    unusable; bad rows are in `errors` (their lines), the good ones in `rows`, each checked against the
    catalog (model, hardware, precision, framework and layout resolve to a deployment)."""
    if len(data) > max_bytes:
        raise MeasurementFileError(
            f"the file is {len(data) / 2**20:.1f} MiB; at most {max_bytes / 2**20:.0f} MiB is read",
            field="file",
        )
    if not data.strip():
        raise MeasurementFileError("the file is empty", field="file")
    context = {k: str(v).strip() for k, v in (context or {}).items() if v not in (None, "")}
    unknown = sorted(set(context) - set(CONTEXT_FIELDS))
    if unknown:
        raise MeasurementFileError(
            f"unknown context field {unknown[0]!r}; one of {', '.join(CONTEXT_FIELDS)}", field=unknown[0]
        )
    if b"\x00" in data:
        raise MeasurementFileError(
            "NUL bytes: not a text file", line=data[: data.index(b"\x00")].count(b"\n") + 1
        )
    name = format_name or detect_format(file_name, data)
    try:
        result: ParseResult = reader(name).parse(data, file_name=file_name)
    except MeasurementFileError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        # A reader that meets a shape it does not expect says so instead of failing the request.
        raise MeasurementFileError(f"not a readable {name} file ({type(e).__name__}: {e})"[:300]) from e
    if result.kind not in KINDS:
        raise AssertionError(f"reader {name} returned kind {result.kind!r}")
    required = REQUIRED_PERFORMANCE if result.kind == "performance" else REQUIRED_MEMORY
    rows: list[ParsedRow] = []
    errors = list(result.errors)
    filled = []
    for row in result.rows:
        fields = with_context(row.fields, context)
        fields["source"] = fields.get("source") or file_name
        missing = [group[0] for group in required if not any((fields.get(f) or "").strip() for f in group)]
        filled.append((row.line, fields, missing))
    # A field no row states is the file's gap, asked for once with the upload; a field some rows lack is
    # those rows' error.
    for field, *_ in required:
        if filled and all(field in missing for _, _, missing in filled):
            hint = "give it with the upload" if field in CONTEXT_FIELDS else "the reader found none"
            raise MeasurementFileError(f"the file does not state {field!r}; {hint}", field=field)
    for line, fields, missing in filled:
        if missing:
            errors.append(RowError(line, missing[0], f"no {missing[0]!r} in this row"))
            continue
        try:
            _check_values(fields, result.kind, line)
        except FieldError as e:
            errors.append(e.error)
            continue
        rows.append(ParsedRow(line, fields))
    if not rows and not errors:
        raise MeasurementFileError("the file holds no measurements", field="file")
    checked, bad = check_rows(rows, result.kind, catalog)
    errors.extend(bad)
    errors.sort(key=lambda e: e.line)
    return ParseResult(format=name, kind=result.kind, rows=checked, errors=errors)


def _check_values(fields: dict[str, str], kind: str, line: int) -> None:
    value = number(fields["value"], line=line, field="value")
    # vLLM's non-torch and CUDA-graph memory are differences of two readings: memory.csv has negative ones.
    if value <= 0 and not (kind == "memory" and fields.get("metric") in SIGNED_MEMORY_METRICS):
        raise FieldError(line, "value", f"must be positive, got {fields['value']}")
    numeric = ("num_gpus", "tp", "pp", "input_tokens", "output_tokens", "batch_size", "concurrency")
    if kind == "memory":
        numeric = ("num_gpus", "tp", "max_model_len")
    for name in numeric:
        text = (fields.get(name) or "").strip()
        if text:
            n = number(text, line=line, field=name)
            if n < 0 or not float(n).is_integer():
                raise FieldError(line, name, f"must be a whole number >= 0, got {text}")
    if kind == "performance":
        if fields["scenario"] not in SCENARIOS:
            raise FieldError(line, "scenario", f"unknown scenario {fields['scenario']!r}; one of {SCENARIOS}")
        from calculator.validate import PERFORMANCE_METRICS

        if fields["metric"] not in PERFORMANCE_METRICS:
            raise FieldError(
                line, "metric", f"unknown metric {fields['metric']!r}; one of {sorted(PERFORMANCE_METRICS)}"
            )
        rate = (fields.get("request_rate") or "").strip()
        if rate and rate.lower() not in ("inf", "infinite"):
            number(rate, line=line, field="request_rate")
    else:
        from calculator.validate import MEMORY_METRICS

        if fields["metric"] not in MEMORY_METRICS:
            raise FieldError(
                line, "metric", f"unknown metric {fields['metric']!r}; one of {sorted(MEMORY_METRICS)}"
            )


def check_rows(
    rows: list[ParsedRow], kind: str, catalog: Any = None
) -> tuple[list[ParsedRow], list[RowError]]:
    """(the rows whose deployment resolves against the catalog, a RowError for each that does not)."""
    from calculator.catalog import UnknownNameError, default_catalog
    from calculator.deployment import InputError
    from calculator.validate import _memory_deployment, _performance_deployment

    catalog = catalog or default_catalog()
    build = _performance_deployment if kind == "performance" else _memory_deployment
    good, bad = [], []
    for row in rows:
        try:
            build(row.fields, catalog)
        except InputError as e:
            bad.append(RowError(row.line, e.field, e.message))
        except UnknownNameError as e:
            message = str(e)
            field = next((f for f in ("model", "hardware") if message.startswith(f"unknown {f}")), None)
            bad.append(RowError(row.line, field, message))
        except (KeyError, ValueError) as e:
            bad.append(RowError(row.line, None, str(e)))
        else:
            good.append(row)
    return good, bad
