"""llama.cpp `llama-bench` results: `-o json` (an array), `-o jsonl`, `-o csv` and `-o md` (the default
table).

Schema: ggml-org/llama.cpp `tools/llama-bench/llama-bench.cpp` at 0104b151c56d54143e2e3554aabe9e2b2b8dbdba
(`test::get_fields`: build_commit, build_number, cpu_info, gpu_info, backends, model_filename, model_type,
model_size, model_n_params, n_batch, n_ubatch, n_threads, ..., n_prompt, n_gen, n_depth, test_time, avg_ns,
stddev_ns, avg_ts, stddev_ts; `json_printer` / `jsonl_printer` add samples_ns and samples_ts; `csv_printer`
quotes every value; `markdown_printer` prints model (= model_type) | size | params | backend | ... | test |
t/s with test "pp512", "tg128", "pp512+tg128", each optionally " @ d4096", t/s "mean ± stddev", and a footer
"build: <commit> (<number>)"). t/s is (n_prompt + n_gen) / time; the n_depth tokens already in the KV cache
are not counted. Older builds lack n_depth (0) and some columns.

Rows follow serving.csv's llama-bench rows: scenario single_stream, batch 1, statistic mean, lengths stated;
pp<N> is prefill_tokens_per_s with input N / output 0, tg<N> decode_tokens_per_s_per_user with input 0 /
output N. A depth D (" @ dD") is the context already cached: tg<N> @ dD decodes N tokens after D (input D),
pp<N> @ dD prefills N new tokens after D (input D + N, the prompt the last token sees). Combined pp+tg tests
mix prefill and decode in one figure and are reported, not read. framework_version is "<commit> (<number>)"
as serving.csv writes it; precision comes from the file type in model_type (Q4_K - Medium: q4_k_m) when the
catalog knows it; model only when model_filename names a catalog model."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from calculator.measurements.base import (
    FieldError,
    MeasurementFileError,
    ParsedRow,
    ParseResult,
    RowError,
    blank_row,
    fmt,
    number,
)
from calculator.measurements.vllm_bench import Record, decode, json_records, key_line

FORMAT = "llama-bench"
JSON_KEYS = (b'"build_commit"', b'"n_prompt"', b'"n_gen"', b'"avg_ts"')
REQUIRED = ("n_prompt", "n_gen", "avg_ts")
FTYPES = {
    "all F32": "fp32", "F16": "fp16", "BF16": "bf16", "Q4_0": "q4_0", "Q4_1": "q4_1", "Q5_0": "q5_0",
    "Q5_1": "q5_1", "Q8_0": "q8_0", "MXFP4 MoE": "mxfp4", "Q2_K - Medium": "q2_k", "Q3_K - Small": "q3_k_s",
    "Q3_K - Medium": "q3_k_m", "Q3_K - Large": "q3_k_l", "Q4_K - Small": "q4_k_s", "Q4_K - Medium": "q4_k_m",
    "Q5_K - Small": "q5_k_s", "Q5_K - Medium": "q5_k_m", "Q6_K": "q6_k", "IQ4_NL - 4.5 bpw": "iq4_nl",
    "IQ4_XS - 4.25 bpw": "iq4_xs",
}  # fmt: skip
"""llama.cpp's file-type names (src/llama-model-loader.cpp `llama_model_ftype_name`) -> precision keys."""
UNSLOTH = re.compile(r"\bUD-(Q[48]_K_XL)\b", re.IGNORECASE)
QUANT_SUFFIX = re.compile(
    r"[-._](?:ud-|i1-)?(?:i?q\d\w*|tq\d\w*|f16|f32|bf16|fp16|mxfp4\w*)$|-\d{5}-of-\d{5}$", re.IGNORECASE
)
TEST = re.compile(r"^(?:pp\s*(\d+))?\+?(?:tg\s*(\d+))?(?:\s*@\s*d\s*(\d+))?$")
BUILD = re.compile(r"^build:\s*(\S+)\s*\((\d+)\)")
NOTE_FIELDS = ("backends", "backend", "gpu_info", "cpu_info", "n_gpu_layers", "flash_attn", "n_threads",
               "n_batch", "n_ubatch", "type_k", "type_v", "split_mode", "test_time")  # fmt: skip


def sniff(file_name: str, head: bytes) -> bool:
    if head.lstrip()[:1] in (b"[", b"{"):
        return all(k in head for k in JSON_KEYS)
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if first.startswith("build_commit,"):
        return set(REQUIRED) <= {c.strip().strip('"') for c in first.split(",")}
    return any(_is_md_header(line) for line in head.decode("utf-8", "replace").splitlines()[:50])


def parse(data: bytes, *, file_name: str) -> ParseResult:
    text = decode(data)
    result = ParseResult(format=FORMAT, kind="performance")
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        how, records = "json" if start == "[" else "jsonl", _json_tests(text, result)
    elif text.lstrip().startswith("build_commit,"):
        how, records = "csv", _csv_tests(text)
    elif any(_is_md_header(line) for line in text.splitlines()):
        how, records = "md", _md_tests(text)
    else:
        raise MeasurementFileError("not llama-bench output (json, jsonl, csv or md)", line=1, field="file")
    seen = 0
    for line, test in records:
        seen += 1
        try:
            row = _row(test, line, how, file_name)
        except FieldError as e:
            result.errors.append(e.error)
            continue
        if row is not None:
            result.rows.append(ParsedRow(line, row))
    if not seen and not result.errors:
        raise MeasurementFileError("no llama-bench test in the file", field="file")
    return result


def _json_tests(text: str, result: ParseResult) -> Iterator[tuple[int, Mapping[str, Any]]]:
    records, errors = json_records(text)
    result.errors.extend(errors)
    for record in records:
        if not isinstance(record.value, dict):
            result.errors.append(RowError(record.line, None, "not a JSON object"))
            continue
        yield _field_line(text, record), record.value


def _field_line(text: str, record: Record) -> int:
    return key_line(text, record, "avg_ts") if "\n" in text[record.start : record.end] else record.line


def _csv_tests(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip() for c in next(reader)]
    missing = [f for f in REQUIRED if f not in header]
    if missing:
        raise MeasurementFileError(f"no {missing[0]!r} column", line=1, field=missing[0])
    for values in reader:
        if any(v.strip() for v in values):
            yield reader.line_num, dict(zip(header, values, strict=False))


def _is_md_header(line: str) -> bool:
    cells = _cells(line)
    return bool(cells) and cells[0] == "model" and "test" in cells and "t/s" in cells


def _cells(line: str) -> list[str]:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return []
    return [c.strip() for c in line[1:-1].split("|")]


def _md_tests(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Table rows as llama-bench fields; each table's footer ("build: <commit> (<number>)") names the build of
    the rows above it (rows are yielded once their table's footer, or the end of the file, is reached)."""
    header: list[str] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    for number_, line in enumerate(text.splitlines(), start=1):
        build = BUILD.match(line.strip())
        if build:
            for _, test in pending:
                test["build_commit"], test["build_number"] = build.group(1), build.group(2)
            yield from pending
            pending = []
            continue
        cells = _cells(line)
        if _is_md_header(line):
            header = cells
        elif header and cells and not set("".join(cells)) <= set("-: "):
            test: dict[str, Any] = dict(zip(header, cells, strict=False))
            test["model_type"] = test.pop("model", "")
            test.update(_md_test(str(test.get("test", ""))))
            speed = str(test.get("t/s", "")).replace("±", " ").split()
            test["avg_ts"] = speed[0] if speed else ""
            test["stddev_ts"] = speed[1] if len(speed) > 1 else ""
            pending.append((number_, test))
    yield from pending


def _md_test(name: str) -> dict[str, Any]:
    match = TEST.match(name.strip())
    if not name.strip() or not match:
        return {"_error": f"unknown test {name!r} (pp<N>, tg<N>, pp<N>+tg<M>, optionally ' @ d<D>')"}
    prompt, gen, depth = (int(g) if g else 0 for g in match.groups())
    return {"n_prompt": prompt, "n_gen": gen, "n_depth": depth}


def _int(test: Mapping[str, Any], name: str, line: int, default: int | None = None) -> int:
    raw = test.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise FieldError(line, name, f"no {name!r} in this test")
    value = number(raw, line=line, field=name)
    if value < 0 or not value.is_integer():
        raise FieldError(line, name, f"must be a whole number >= 0, got {raw}")
    return int(value)


def _row(test: Mapping[str, Any], line: int, how: str, file_name: str) -> dict[str, str] | None:
    if test.get("_error"):
        raise FieldError(line, "test", str(test["_error"]))
    n_prompt, n_gen = _int(test, "n_prompt", line), _int(test, "n_gen", line)
    depth = _int(test, "n_depth", line, default=0)
    name = "+".join(p for p in (f"pp{n_prompt}" if n_prompt else "", f"tg{n_gen}" if n_gen else "") if p)
    name += f" @ d{depth}" if depth else ""
    if n_prompt and n_gen:
        raise FieldError(
            line, "n_gen", f"{name}: a combined prompt + generation test mixes prefill and decode"
        )
    if not n_prompt and not n_gen:
        raise FieldError(line, "n_prompt", "a test with no prompt and no generated tokens")
    value = number(test.get("avg_ts"), line=line, field="avg_ts")
    model_type = str(test.get("model_type") or "").strip()
    filename = str(test.get("model_filename") or "").strip()
    fields = blank_row("performance")
    fields.update(
        model=_model(filename),
        precision=_precision(model_type, filename),
        framework="llama.cpp",
        framework_version=_version(test),
        input_tokens=fmt(n_prompt + depth if n_prompt else depth),
        output_tokens=fmt(n_gen),
        batch_size="1",
        concurrency="1",
        scenario="single_stream",
        metric="prefill_tokens_per_s" if n_prompt else "decode_tokens_per_s_per_user",
        statistic="mean",
        value=fmt(value),
        unit="tokens/s",
        source=file_name,
        lengths="stated",
    )
    sd = test.get("stddev_ts")
    extras = [f"{k}={test[k]}" for k in NOTE_FIELDS if str(test.get(k, "")).strip()]
    fields["notes"] = "; ".join(
        p
        for p in (
            f"llama-bench -o {how}, line {line}: {name} = {fields['value']}"
            + (f" ± {sd}" if str(sd or "").strip() else "")
            + " t/s",
            f"{n_prompt} new prompt tokens after {depth} in the KV cache" if n_prompt and depth else "",
            f"{n_gen} tokens generated after {depth} in the KV cache" if n_gen and depth else "",
            f"model_type '{model_type}'" if model_type else "",
            f"model_filename {filename}" if filename else "",
            *extras,
        )
        if p
    )
    return fields


def _version(test: Mapping[str, Any]) -> str:
    commit = str(test.get("build_commit") or "").strip()
    build = str(test.get("build_number") or "").strip()
    return f"{commit} ({build})" if commit and build else commit or (f"b{build}" if build else "")


def _precision(model_type: str, filename: str) -> str:
    """The precision key of the model's file type, when the catalog knows it (blank otherwise)."""
    from calculator.precisions import UnknownPrecisionError, resolve_precision

    unsloth = UNSLOTH.search(os.path.basename(filename))
    ftype = model_type.removesuffix(" (guessed)")
    candidates = [f"ud-{unsloth.group(1).lower()}"] if unsloth else []
    candidates += [key for name, key in FTYPES.items() if ftype == name or ftype.endswith(" " + name)]
    for candidate in candidates:
        try:
            resolve_precision(candidate)
        except UnknownPrecisionError:
            continue
        return candidate
    return ""


def _model(filename: str) -> str:
    """The catalog key of the model a GGUF file name names (quant and split suffixes removed); blank when none
    resolves (the upload then names the model)."""
    from calculator.catalog import UnknownNameError, resolve_model

    name = os.path.basename(filename.replace("\\", "/"))
    name = re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    while True:
        stripped = QUANT_SUFFIX.sub("", name)
        if stripped == name:
            break
        name = stripped
    if not name:
        return ""
    try:
        return resolve_model(name).key
    except UnknownNameError:
        return ""
