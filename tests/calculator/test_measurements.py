"""`calculator.measurements`: the project's own CSV read back, and what every format shares (context for what
a file does not state, required fields, bad values by line, the catalog check, file-level refusals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calculator.measurements import FORMATS, MeasurementFileError, detect_format, parse_measurements

SHARED = Path(__file__).resolve().parents[3] / "shared" / "calibration"
HEADER = (
    "model,hardware,num_gpus,precision,framework,tp,pp,input_tokens,output_tokens,batch_size,concurrency,"
    "request_rate,scenario,metric,statistic,value,unit,source,framework_version,notes,lengths"
)
ROW = (
    "llama-3.1-8b,h100-sxm-80gb,1,fp8,vllm,1,1,1000,200,,,4,online_rate,ttft_ms,mean,31.5,ms,,0.11.0,,stated"
)


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_the_shipped_measurements_file_reads_back_row_for_row():
    data = (SHARED / "measurements.csv").read_bytes()
    assert detect_format("measurements.csv", data) == "csv"
    result = parse_measurements(data, file_name="measurements.csv")
    assert result.kind == "performance" and not result.errors
    lines = data.decode().splitlines()
    assert len(result.rows) == len(lines) - 1
    first = result.rows[0]
    assert first.line == 2 and first.fields["id"] == "m001" and first.fields["statistic"] == "unstated"


def test_the_shipped_memory_file_reads_as_memory_rows():
    result = parse_measurements((SHARED / "memory.csv").read_bytes(), file_name="memory.csv")
    assert result.kind == "memory" and len(result.rows) > 300
    # Rows without a framework version are that row's error, not the file's.
    assert {e.field for e in result.errors} <= {"framework_version", "tp", "precision", "model", "hardware"}


def test_context_fills_what_the_file_does_not_state_and_never_overrides_it():
    row = ROW.replace("h100-sxm-80gb", "")
    with pytest.raises(MeasurementFileError, match="does not state 'hardware'") as e:
        parse_measurements(_csv(row), file_name="x.csv")
    assert e.value.field == "hardware"
    result = parse_measurements(_csv(row, ROW), file_name="x.csv", context={"hardware": "a100-sxm-80gb"})
    assert [r.fields["hardware"] for r in result.rows] == ["a100-sxm-80gb", "h100-sxm-80gb"]
    with pytest.raises(MeasurementFileError, match="unknown context field 'gpu'"):
        parse_measurements(_csv(ROW), file_name="x.csv", context={"gpu": "h100"})


def test_bad_rows_are_reported_by_line_and_field_and_good_rows_kept():
    rows = [
        ROW,
        ROW.replace("31.5", "fast"),
        ROW.replace("31.5", "-2"),
        ROW.replace(",1,1,1000", ",1.5,1,1000"),
        ROW.replace("online_rate", "burst"),
        ROW.replace("ttft_ms", "ttft_p42_ms"),
        ROW.replace("llama-3.1-8b", "llama-99b"),
        ROW.replace("h100-sxm-80gb", "warp-drive"),
        ROW + ",extra",
    ]
    result = parse_measurements(_csv(*rows), file_name="x.csv")
    assert len(result.rows) == 1
    assert [(e.line, e.field) for e in result.errors] == [
        (3, "value"),
        (4, "value"),
        (5, "tp"),
        (6, "scenario"),
        (7, "metric"),
        (8, "model"),
        (9, "hardware"),
        (10, None),
    ]
    assert "closest" in result.errors[5].message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "file"),
        (b"   \n", "file"),
        (HEADER.encode() + b"\n", "file"),  # a header and no rows
        (b"model,hardware,value\nx,y,1\n", "metric"),
        (HEADER.encode() + b",colour\n", "colour"),
        (_csv(ROW).replace(b"31.5", b"3\x001"), None),
        (b"\xff\xfe" + _csv(ROW), "file"),
    ],
)
def test_a_file_that_cannot_be_read_names_the_field(data, field):
    with pytest.raises(MeasurementFileError) as e:
        parse_measurements(data, file_name="x.csv", format_name="csv" if data.strip() else None)
    assert e.value.field == field


def test_a_file_over_the_size_limit_is_refused_unread():
    with pytest.raises(MeasurementFileError, match=r"50\.0 MiB"):
        parse_measurements(b"x" * (50 * 2**20), file_name="big.csv")


def test_an_unknown_format_name_is_refused_with_the_list():
    with pytest.raises(MeasurementFileError, match="unknown format") as e:
        parse_measurements(_csv(ROW), file_name="x.csv", format_name="excel")
    assert e.value.field == "format"
    assert set(FORMATS) >= {"csv", "vllm-bench", "llama-bench", "vllm-log"}
