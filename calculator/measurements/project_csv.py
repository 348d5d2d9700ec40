"""The project's own CSV: `serving.csv` / `measurements.csv` columns for performance, `memory.csv` columns for
memory (../shared/calibration/README.md explains every column). The header decides which; `statistic` may be
absent (measurements.csv predates it: "unstated")."""

from __future__ import annotations

import csv
import io

from calculator.measurements.base import (
    MEMORY_COLUMNS,
    PERFORMANCE_COLUMNS,
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    blank_row,
)

KEY_PERFORMANCE = {"model", "hardware", "metric", "value", "scenario"}
KEY_MEMORY = {"model", "hardware", "metric", "value", "max_model_len"}


def sniff(file_name: str, head: bytes) -> bool:
    """A header naming at least two of the calibration files' key columns (a file missing the others is
    then reported by `parse` as this format's missing column)."""
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lower()
    columns = {c.strip() for c in first.split(",")}
    return len(columns & (KEY_PERFORMANCE | KEY_MEMORY)) >= 2


def parse(data: bytes, *, file_name: str) -> ParseResult:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MeasurementFileError(f"not UTF-8 text (byte {e.start})", field="file") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [c.strip() for c in (reader.fieldnames or [])]
    if not header:
        raise MeasurementFileError("no header row", line=1, field="file")
    columns = set(header)
    if columns >= KEY_PERFORMANCE:
        kind, known = "performance", PERFORMANCE_COLUMNS
    elif columns >= KEY_MEMORY:
        kind, known = "memory", MEMORY_COLUMNS
    else:
        missing = sorted(KEY_PERFORMANCE - columns)
        raise MeasurementFileError(
            f"missing column {missing[0]!r}: a performance file needs {', '.join(sorted(KEY_PERFORMANCE))}; "
            f"a memory file {', '.join(sorted(KEY_MEMORY))}",
            line=1,
            field=missing[0],
        )
    extra = [c for c in header if c not in known]
    if extra:
        raise MeasurementFileError(
            f"unknown column {extra[0]!r} (columns: {', '.join(known)})", line=1, field=extra[0]
        )
    result = ParseResult(format="csv", kind=kind)
    for number, raw in enumerate(reader, start=2):
        if None in raw:  # more values than header columns
            result.errors.append(RowError(number, None, f"{len(header) + len(raw[None])} values for "
                                          f"{len(header)} columns"))  # fmt: skip
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue
        fields = blank_row(kind)
        fields.update({k.strip(): (v or "").strip() for k, v in raw.items()})
        if kind == "performance" and not fields["statistic"]:
            fields["statistic"] = "unstated"
        result.rows.append(ParsedRow(number, fields))
    return result
