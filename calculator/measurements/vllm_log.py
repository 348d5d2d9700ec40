"""vLLM start-up logs (`vllm serve ...` / `LLM(...)` console output): memory.csv rows, one per figure.

Message strings read in vllm-project/vllm (V0 engine, v0.6-0.8, and V1 engine, v0.8+):
- engine config: "Initializing an LLM engine (v0.6.6.post1) with config: model='...', ...,
  dtype=torch.bfloat16, max_seq_len=8192, ..., tensor_parallel_size=1, pipeline_parallel_size=1, ...,
  quantization=None, ..., kv_cache_dtype=auto, ..." (vllm/engine/llm_engine.py); V1: "Initializing a V1 LLM
  engine (v0.9.1) with config: ..." (vllm/v1/engine/core.py); `--gpu-memory-utilization` / `--block-size` from
  the server's "args: Namespace(...)" (V0) or "non-default args: {...}" (V1) line;
- weights: "Loading model weights took %.4f GB" (V0 <= 0.6, the figure is bytes / 2**30 despite "GB"), "Model
  loading took %.4f GiB and %.6f seconds" (vllm/worker/model_runner.py, vllm/v1/worker/gpu_model_runner.py);
- V0 profile (vllm/worker/worker.py determine_num_available_blocks): "Memory profiling takes %.2f seconds" /
  "the current vLLM instance can use total_gpu_memory (%.2fGiB) x gpu_memory_utilization (%.2f) = %.2fGiB" /
  "model weights take %.2fGiB; non_torch_memory takes %.2fGiB; PyTorch activation peak memory takes %.2fGiB;
  the rest of the memory reserved for KV Cache is %.2fGiB."; "# GPU blocks: %d, # CPU blocks: %d"
  (vllm/executor/gpu_executor.py) or "# cuda blocks: %d, # CPU blocks: %d" (executor_base.py);
- V1: "Available KV cache memory: %.2f GiB" (vllm/v1/worker/gpu_worker.py), "GPU KV cache size: %s tokens" and
  "Maximum concurrency for %s tokens per request: %.2fx" (vllm/v1/core/kv_cache_utils.py; V0's executor prints
  the latter too), "Graph capturing finished in %.0f secs, took %.2f GiB" (model runners).

Mapped (memory.csv metrics, per GPU): weights_gib (loading line, else the profile's "model weights take"),
kv_cache_gib ("reserved for KV Cache" / "Available KV cache memory"), kv_cache_tokens ("GPU KV cache size",
else GPU blocks x block size when the args state the block size), max_concurrency (for the line's tokens per
request), non_torch_gib, activation_peak_gib, cuda_graph_gib; gpu_memory_utilization, model, tp,
max_model_len, precision (dtype, or quantization fp8 / awq / gptq / modelopt_fp4 / mxfp4; other schemes are
left to the upload) and kv_cache_precision ("auto" is the model dtype) from the config lines; framework vllm
and its version. Each row's `line` is the log line its figure is on; with several ranks logging, the first
figure of each kind is read.
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

FORMAT = "vllm-log"
ENGINE = re.compile(r"Initializing an? (?:V\d )?LLM engine \(v?([^)\s]+)\) with config: (.*)$")
SERVER_VERSION = re.compile(r"vLLM API server version (\S+)")
ARGS = re.compile(r"(?:non-default args: \{|args: Namespace\()")
FIGURES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # (metric, pattern whose group 1 is the figure, what the log says)
    (
        "weights_gib",
        re.compile(r"(?:Model loading took|Loading model weights took) (\S+) Gi?B"),
        "model loading",
    ),
    ("weights_gib", re.compile(r"model weights take (\S+?)GiB"), "profile: model weights take"),
    ("non_torch_gib", re.compile(r"non_torch_memory takes (\S+?)GiB"), "profile: non_torch_memory"),
    (
        "activation_peak_gib",
        re.compile(r"PyTorch activation peak memory takes (\S+?)GiB"),
        "profile: PyTorch activation peak memory",
    ),
    (
        "kv_cache_gib",
        re.compile(r"reserved for KV Cache is (\S+?)GiB"),
        "profile: rest reserved for KV Cache",
    ),
    ("kv_cache_gib", re.compile(r"Available KV cache memory: (\S+) GiB"), "Available KV cache memory"),
    ("kv_cache_tokens", re.compile(r"GPU KV cache size: (\S+) tokens"), "GPU KV cache size"),
    (
        "max_concurrency",
        re.compile(r"Maximum concurrency for \S+ tokens per request: (\S+?)x"),
        "Maximum concurrency",
    ),
    ("cuda_graph_gib", re.compile(r"Graph capturing finished in \S+ secs?, took (\S+) GiB"), "graph capture"),
)
BLOCKS = re.compile(r"# (?:GPU|cuda|CUDA) blocks: (\S+?), # CPU blocks")
CONCURRENCY_TOKENS = re.compile(r"Maximum concurrency for (\S+) tokens per request")
UTILIZATION = re.compile(r"gpu_memory_utilization(?: \(|'?: |=)(\d+(?:\.\d+)?)")
TOTAL_MEMORY = re.compile(r"total_gpu_memory \(([\d.]+)GiB\)")
BLOCK_SIZE = re.compile(r"\bblock_size(?:'?: |=)(\d+)")
UNITS = {"kv_cache_tokens": "tokens", "max_concurrency": "x"}
PRECISION_OF_DTYPE = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32"}
PRECISION_OF_QUANT = {
    "fp8": "fp8",
    "awq": "int4-awq",
    "awq_marlin": "int4-awq",
    "gptq": "int4-gptq",
    "gptq_marlin": "int4-gptq",
    "modelopt_fp4": "fp4",
    "mxfp4": "mxfp4",
}
KV_OF_DTYPE = {"fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "bfloat16": "bf16", "float16": "fp16"}
SIGNATURES = (
    b"Model loading took",
    b"Loading model weights took",
    b"GPU KV cache size:",
    b"# GPU blocks:",
    b"# cuda blocks:",
    b"Memory profiling takes",
    b"Available KV cache memory:",
)


def sniff(file_name: str, head: bytes) -> bool:
    engine = re.search(rb"Initializing an? (?:V\d )?LLM engine \(v", head)
    return bool(engine) or sum(signature in head for signature in SIGNATURES) >= 2


def parse(data: bytes, *, file_name: str) -> ParseResult:
    text = data.decode("utf-8", "replace")
    context, figures, blocks = _scan(text.splitlines())
    if not figures and blocks is None:
        raise MeasurementFileError(
            "no vLLM start-up memory lines (model loading, memory profiling, KV cache size) in the file",
            field="file",
        )
    result = ParseResult(format=FORMAT, kind="memory")
    block_size = context.pop("_block_size", "")
    notes = context.pop("_notes")
    if "kv_cache_tokens" not in figures and blocks is not None and block_size:
        figures["kv_cache_tokens"] = blocks  # GPU blocks, times the block size below
    base = blank_row("memory")
    base.update({k: v for k, v in context.items() if k in base})
    base["source"] = file_name
    for metric, (line, raw, what) in sorted(figures.items(), key=lambda item: item[1][0]):
        value = finite_float(raw)
        if value is None:
            result.errors.append(RowError(line, "value", f"{metric} ({what}): not a number: {raw[:40]!r}"))
            continue
        note = f"vLLM log '{what}'"
        if metric == "kv_cache_tokens" and what.startswith("#"):
            value *= int(block_size)
            note = f"vLLM log '{what}' x block size {block_size} (from the args)"
        fields = dict(base, metric=metric, value=fmt(round(value, 6)), unit=UNITS.get(metric, "GiB"))
        fields["notes"] = f"{note}; {notes}"
        result.rows.append(ParsedRow(line, fields))
    return result


def _scan(
    lines: list[str],
) -> tuple[dict[str, str], dict[str, tuple[int, str, str]], tuple[int, str, str] | None]:
    """(context fields and notes, first figure of each metric, first GPU-blocks line)."""
    context: dict[str, str] = {"framework": "vllm"}
    figures: dict[str, tuple[int, str, str]] = {}
    blocks: tuple[int, str, str] | None = None
    notes: list[str] = []
    for number, line in enumerate(lines, start=1):
        if (match := ENGINE.search(line)) and "model" not in context:
            context["framework_version"] = match.group(1)
            notes.extend(_engine_config(match.group(2), context))
        elif (match := SERVER_VERSION.search(line)) and "framework_version" not in context:
            context["framework_version"] = match.group(1)
        if ARGS.search(line) and (size := BLOCK_SIZE.search(line)):
            context.setdefault("_block_size", size.group(1))
        if (match := UTILIZATION.search(line)) and "gpu_memory_utilization" not in context:
            context["gpu_memory_utilization"] = fmt(float(match.group(1)))
        if (match := TOTAL_MEMORY.search(line)) and not any(n.startswith("vLLM saw") for n in notes):
            notes.append(f"vLLM saw total_gpu_memory {match.group(1)} GiB per GPU")
        if (match := BLOCKS.search(line)) and blocks is None:
            blocks = (number, match.group(1), f"# GPU blocks {match.group(1)}")
        if (match := CONCURRENCY_TOKENS.search(line)) and "max_model_len" not in context:
            context["max_model_len"] = match.group(1).replace(",", "")
        for metric, pattern, what in FIGURES:
            if metric not in figures and (match := pattern.search(line)):
                figures[metric] = (number, match.group(1).replace(",", ""), what)
    if blocks is not None:
        notes.append(f"{blocks[1]} GPU blocks")
    context["_notes"] = "; ".join(["per GPU, first rank that logs it", *notes])
    return context, figures, blocks


def _engine_config(config: str, context: dict[str, str]) -> list[str]:
    """Fill model, max_model_len, tp, num_gpus, precision, kv_cache_precision from the engine config line."""

    def value(name: str) -> str:
        match = re.search(rf"(?<![\w.]){name}=('[^']*'|[^,\s]+)", config)
        return match.group(1).strip("'") if match else ""

    notes = []
    model = value("model")
    if model:
        context["model"] = catalog_model(model)
        notes.append(f"model {model}")
    if (length := value("max_seq_len")).isdigit():
        context["max_model_len"] = length
    tp, pp = value("tensor_parallel_size"), value("pipeline_parallel_size") or "1"
    if tp.isdigit() and pp.isdigit():
        context["tp"], context["num_gpus"] = tp, str(int(tp) * int(pp))
    dtype = value("dtype").removeprefix("torch.")
    quantization = value("quantization")
    if quantization in ("", "None"):
        context["precision"] = PRECISION_OF_DTYPE.get(dtype, "")
    elif quantization in PRECISION_OF_QUANT:
        context["precision"] = PRECISION_OF_QUANT[quantization]
    else:
        notes.append(f"quantization={quantization} (the scheme's precision is not in the log)")
    kv = value("kv_cache_dtype")
    context["kv_cache_precision"] = KV_OF_DTYPE.get(dtype if kv == "auto" else kv, "")
    notes.append(f"dtype={dtype}, quantization={quantization or 'None'}, kv_cache_dtype={kv or '?'}")
    if size := value("block_size"):
        context.setdefault("_block_size", size)
    return notes
