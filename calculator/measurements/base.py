"""What every measurement-file reader returns: rows in the calibration files' own columns, with the line each
came from, and the errors that name the line and the field."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

PERFORMANCE_COLUMNS = (
    "id", "model", "hardware", "num_gpus", "precision", "framework", "tp", "pp", "input_tokens",
    "output_tokens", "batch_size", "concurrency", "request_rate", "scenario", "metric", "statistic", "value",
    "unit", "source", "framework_version", "notes", "lengths",
)  # fmt: skip
"""`serving.csv`'s columns (`measurements.csv`'s plus `statistic`): ../shared/calibration/README.md."""
MEMORY_COLUMNS = (
    "id", "model", "params_b", "hardware", "num_gpus", "tp", "precision", "kv_cache_precision", "framework",
    "framework_version", "max_model_len", "gpu_memory_utilization", "metric", "value", "unit", "source",
    "notes",
)  # fmt: skip
"""`memory.csv`'s columns."""
CONTEXT_FIELDS = (
    "model", "hardware", "num_gpus", "precision", "framework", "framework_version", "tp", "pp", "scenario",
    "kv_cache_precision", "max_model_len", "gpu_memory_utilization",
)  # fmt: skip
"""What an upload may state beside the file, for what the file does not say (never guessed)."""
REQUIRED_PERFORMANCE = (
    ("model",), ("hardware",), ("precision",), ("framework",), ("framework_version",), ("tp", "num_gpus"),
    ("input_tokens",), ("output_tokens",), ("scenario",), ("metric",), ("value",),
)  # fmt: skip
"""Fields a performance row must have, from the file or the upload's context (any one of each group: a blank
tp with num_gpus takes the layout the scenario would, as in serving.csv)."""
REQUIRED_MEMORY = (
    ("model",), ("hardware",), ("precision",), ("framework",), ("framework_version",), ("tp",), ("metric",),
    ("value",),
)  # fmt: skip
SCENARIOS = ("single_stream", "static_batch", "offline_max_throughput", "online_rate", "online_disagg")
"""`scenario` values (online_rate with a `concurrency` is a closed loop; online_disagg: not modelled yet)."""
KINDS = ("performance", "memory")


class MeasurementFileError(ValueError):
    """The whole file is unusable (not the format, a column missing, a field the file does not state and the
    upload did not give): `line` (1-based, None for the whole file) and `field` say where."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        where = ", ".join(p for p in (f"line {line}" if line else "", field or "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.line = line
        self.field = field

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class RowError:
    """One bad row: the line it came from (1-based; for a JSON file, the record's position counted from 1),
    the field and why."""

    line: int
    field: str | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ParsedRow:
    line: int
    fields: dict[str, str]
    """Values by the calibration file's column names (PERFORMANCE_COLUMNS or MEMORY_COLUMNS), as strings,
    blank where unknown."""


@dataclass
class ParseResult:
    format: str
    kind: str
    """"performance" (serving.csv columns) or "memory" (memory.csv columns)."""
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return PERFORMANCE_COLUMNS if self.kind == "performance" else MEMORY_COLUMNS


def blank_row(kind: str) -> dict[str, str]:
    return dict.fromkeys(PERFORMANCE_COLUMNS if kind == "performance" else MEMORY_COLUMNS, "")


def with_context(fields: dict[str, str], context: dict[str, str]) -> dict[str, str]:
    """`fields` with each blank column the upload's context states filled in (the file wins where it says)."""
    out = dict(fields)
    for name, value in context.items():
        if name in out and not (out[name] or "").strip() and value not in (None, ""):
            out[name] = str(value)
    return out


def number(value: object, *, line: int, field: str) -> float:
    """A finite number from a file's value, or RowError-worthy ValueError naming the field."""
    try:
        out = float(str(value).strip())
    except (TypeError, ValueError):
        raise FieldError(line, field, f"not a number: {str(value)[:40]!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise FieldError(line, field, f"not a finite number: {value!r}")
    return out


class FieldError(ValueError):
    """A bad value in one row (turned into a RowError by the reader)."""

    def __init__(self, line: int, field: str | None, message: str):
        super().__init__(message)
        self.error = RowError(line, field, message)


def fmt(value: float) -> str:
    """A number as the calibration files write it (no trailing .0 on integers)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def finite_float(raw: str) -> float | None:
    """The number in `raw`, or None where it is not a finite number."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def load_json_object(data: bytes, what: str) -> tuple[str, dict[str, Any]]:
    """(the text, the JSON object) of a report file, or MeasurementFileError naming the line where the JSON
    breaks (`what` names the report in the message)."""
    try:
        text = data.decode("utf-8-sig")
        value = json.loads(text)
    except UnicodeDecodeError as e:
        raise MeasurementFileError(f"not UTF-8 text (byte {e.start})", field="file") from None
    except json.JSONDecodeError as e:
        raise MeasurementFileError(
            f"not valid JSON ({e.msg}; truncated?)", line=e.lineno, field="file"
        ) from None
    if not isinstance(value, dict):
        raise MeasurementFileError(f"{what} is a JSON object", field="file")
    return text, value


def catalog_model(name: str) -> str:
    """The catalog key of a model name or Hugging Face id (or of a local path's last part); the name itself
    when nothing resolves, so the catalog check reports it with its closest matches."""
    from calculator.catalog import UnknownNameError, resolve_model

    name = name.strip()
    for candidate in dict.fromkeys((name, os.path.basename(name.rstrip("/")))):
        if not candidate:
            continue
        try:
            return resolve_model(candidate).key
        except UnknownNameError:
            continue
    return name
