"""Serving frameworks: how each one reserves memory, which calibration family it belongs to, and where and on
which weight formats it runs (the fields `grid.compat_reasons` checks).

Memory rules (the engines' documented semantics):
- vllm: KV pool = gpu_memory_utilization x total memory - weights - profiled activation peak - non-torch
memory
  (vLLM docs, "gpu_memory_utilization"; worker log "Available KV cache memory"). Default 0.9.
- tensorrt-llm: KV pool = kv_cache_free_gpu_mem_fraction x memory free after the engine loads (TensorRT-LLM
  docs, KV cache manager; default 0.9).
- sglang: weights + KV pool = mem_fraction_static x total memory (SGLang server arguments; default ~0.88).
- llama.cpp: KV cache allocated for the whole context (n_ctx x n_seq) up front, plus a compute buffer
  (llama.cpp `llama_context` logs "KV self size", "compute buffer size").
- lmdeploy (TurboMind): KV pool = cache_max_entry_count x memory free after the weights load (LMDeploy CLI
  help: "The percentage of free gpu memory occupied by the k/v cache, excluding weights", default 0.8).
- exllamav2 / mlc-llm / hf-transformers / mlx: KV sized for the requests actually served (static cache per
  sequence for exllamav2 and mlc-llm, dynamic for transformers and mlx-lm), plus the runtime context.

A framework without measurements of its own is calibrated with the family whose kernels and scheduling it
shares (`family`); its estimates carry that family's error band and a `proxy_calibration` warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import IntEnum

GIB = 2**30


class MemoryRule(IntEnum):
    """How a framework sizes its KV pool (each engine's documented rule in the module docstring); the code
    `FrameworkColumns.memory_rule` carries."""

    UTILIZATION_OF_TOTAL = 0
    """A fraction of total memory holds everything; the KV pool is what the rest leaves of it (vLLM)."""
    FRACTION_OF_FREE = 1
    """The KV pool is a fraction of the memory free after loading (TensorRT-LLM, LMDeploy)."""
    STATIC_FRACTION = 2
    """Weights and KV pool are a fraction of total memory (SGLang)."""
    FULL_CONTEXT = 3
    """KV for the whole context allocated up front (llama.cpp)."""
    DYNAMIC = 4
    """KV sized for the requests actually served."""


@dataclass(frozen=True, kw_only=True)
class FrameworkSpec:
    key: str
    name: str
    """How messages name it ("vLLM", "TensorRT-LLM")."""
    family: str
    memory_rule: MemoryRule
    memory_fraction: float
    runtime_overhead_bytes: float
    """CUDA context, allocator slack and framework buffers on one device (non-torch memory at TP=1)."""
    tp_comm_buffer_bytes: float
    """Extra per-device memory for NCCL / custom all-reduce buffers when TP > 1 (vLLM 0.19 logs: ~1.8 GiB)."""
    cuda_graph_bytes: float
    max_num_seqs: int
    """Scheduler cap on concurrent sequences (vLLM max_num_seqs, TensorRT-LLM max_batch_size)."""
    max_num_batched_tokens: int
    """Tokens per forward pass during prefill (chunked prefill budget); sizes the activation peak."""
    tp_splits_heads: bool = True
    """Tensor parallelism shards attention heads (so TP must divide them); llama.cpp splits matrix rows
    freely."""
    fp16_accumulate: bool = False
    """16-bit GEMMs accumulate in FP16 (llama.cpp's cuBLAS path uses CUBLAS_COMPUTE_16F; ExLlama's half2
    kernels)."""
    materialises_attention: bool = False
    """Prefill writes and reads the n x n attention scores in fp32 (no fused/flash attention): llama.cpp
    before flash attention became its default, eager transformers."""
    mixes_prefill_and_decode: bool = False
    """Each iteration runs up to max_num_batched_tokens of new prompts beside every running sequence's decode
    step (vLLM V1's chunked prefill, TensorRT-LLM in-flight batching); otherwise waiting prompts are
    prefilled first while decoding pauses (vLLM's V0 scheduler, SGLang without --enable-mixed-chunk). A mixed
    step is one roofline, so prompts cost a memory-bound decode little (serving.py), and a burst's
    inter-token gaps differ."""
    native_precisions: tuple[tuple[str, str], ...] = ()
    """Generic precision names this framework stores in a format of its own (MLX: "int4" is its 4-bit
    group-64 affine format, not AWQ)."""
    legacy: bool = False
    """An old build kept to model measurements made with it; left out of whole-catalog ("*") comparisons."""
    era: str = ""
    """How an estimate names the engine era this entry models (`inputs.framework_era`); empty where the
    framework has one era so far."""
    needs_discrete_gpu: bool = False
    """Runs on discrete GPUs only: a CPU or Apple silicon cannot run it."""
    nvidia_only: bool = False
    """Runs on NVIDIA GPUs only (CUDA kernels without a port to other vendors)."""
    apple_only: bool = False
    """Runs on Apple silicon's GPU only (Metal)."""
    no_metal_backend: bool = False
    """Has no Metal backend, so Apple silicon cannot run it (vLLM: its CPU backend still serves CPUs)."""
    fp8_needs_fp8_tensor_cores: bool = False
    """FP8 checkpoints run only on FP8 tensor cores (Ada, Hopper or newer); without this, a framework upcasts
    FP8 weights to 16-bit on older hardware (an estimate's `fp8_weight_only` warning)."""
    fp4_without_fp4_tensor_cores: bool = False
    """Runs FP4-compute checkpoints on hardware without FP4 tensor cores by dequantising them; otherwise FP4
    needs Blackwell."""
    weight_formats: tuple[str, ...] | None = None
    """None: it loads any precision that allows it (`PrecisionSpec.frameworks`). Otherwise it loads only its
    own file formats, the precisions made for it (whose `frameworks` name it), plus these keys."""
    weight_formats_note: str = ""
    """How a refusal describes `weight_formats` ("loads GGUF files (fp16, q8_0, q4_k_m, ...)")."""
    smaller_precisions: tuple[str, ...] = ("fp8", "int8", "int4-awq")
    """Precisions the advice suggests to shrink the weights, largest first (those smaller than the one
    asked)."""
    aliases: tuple[str, ...] = ()
    description: str = ""


_LLAMA_CPP = FrameworkSpec(
    key="llama.cpp",
    name="llama.cpp",
    family="llama.cpp",
    memory_rule=MemoryRule.FULL_CONTEXT,
    memory_fraction=1.0,
    runtime_overhead_bytes=0.3 * GIB,
    tp_comm_buffer_bytes=0.0,
    cuda_graph_bytes=0.0,
    max_num_seqs=16,
    max_num_batched_tokens=512,
    tp_splits_heads=False,
    fp16_accumulate=True,
    materialises_attention=True,
    # GGUF files: the precisions made for llama.cpp (precisions.py) and these unquantised or natively
    # quantised (gpt-oss MXFP4) weights.
    weight_formats=("fp32", "fp16", "bf16", "mxfp4"),
    weight_formats_note="loads GGUF files (fp16, q8_0, q4_k_m, ...)",
    smaller_precisions=("q8_0", "q5_k_m", "q4_k_m"),
    aliases=("llamacpp", "llama-cpp", "ik_llama.cpp", "ollama", "gguf", "llamafile"),
    description="llama.cpp: GGUF, CPU/GPU/Metal, KV cache for the whole context up front",
)


_VLLM = FrameworkSpec(
    key="vllm",
    name="vLLM",
    family="vllm",
    memory_rule=MemoryRule.UTILIZATION_OF_TOTAL,
    memory_fraction=0.9,
    runtime_overhead_bytes=0.25 * GIB,
    tp_comm_buffer_bytes=1.82 * GIB,
    cuda_graph_bytes=0.9 * GIB,
    max_num_seqs=256,
    max_num_batched_tokens=8192,
    # The V1 engine (the default since 0.8) always schedules chunked prefill: each step carries up to
    # max_num_batched_tokens of prompts beside the running sequences' decodes.
    mixes_prefill_and_decode=True,
    era="vLLM V1 engine (0.8 and later)",
    no_metal_backend=True,
    fp4_without_fp4_tensor_cores=True,
    # Text Generation Inference serves with the same machinery (paged and flash attention kernels,
    # continuous batching, CUDA graphs), not with transformers' eager generate().
    aliases=("vLLM", "tgi", "text-generation-inference"),
    description="vLLM: PagedAttention, continuous batching, CUDA graphs",
)

_TENSORRT_LLM = FrameworkSpec(
    key="tensorrt-llm",
    name="TensorRT-LLM",
    family="tensorrt-llm",
    memory_rule=MemoryRule.FRACTION_OF_FREE,
    memory_fraction=0.9,
    runtime_overhead_bytes=0.75 * GIB,
    tp_comm_buffer_bytes=0.5 * GIB,
    cuda_graph_bytes=0.5 * GIB,
    max_num_seqs=2048,
    max_num_batched_tokens=8192,
    mixes_prefill_and_decode=True,
    era="TensorRT-LLM 1.x (PyTorch backend)",
    needs_discrete_gpu=True,
    nvidia_only=True,
    fp8_needs_fp8_tensor_cores=True,
    aliases=("trt-llm", "trtllm", "tensorrt_llm"),
    description="NVIDIA TensorRT-LLM 1.x: PyTorch backend (trtllm-serve), in-flight batching",
)

FRAMEWORKS: dict[str, FrameworkSpec] = {
    f.key: f
    for f in (
        _VLLM,
        replace(
            _VLLM,
            key="vllm-v0",
            family="vllm-v0",
            legacy=True,
            mixes_prefill_and_decode=False,
            era="vLLM V0 engine (before 0.8)",
            # No release had a Metal backend; FP4 weights without FP4 tensor cores (Marlin's weight-only
            # path) came with the V1 era.
            fp4_without_fp4_tensor_cores=False,
            aliases=("vllm-v0-engine", "vllm-legacy"),
            # The V0 engine (vLLM before 0.8, when V1 became the default) scheduled prompts first and spent
            # milliseconds of Python per step; its 2024 rows are calibrated as their own family, shrunk
            # towards vLLM's (calibration.FAMILY_PARENT); estimates use V1 ("vllm").
            description="vLLM's V0 engine (releases before 0.8): prefill-first scheduling, Python per step",
        ),
        _TENSORRT_LLM,
        replace(
            _TENSORRT_LLM,
            key="tensorrt-llm-v0",
            family="tensorrt-llm-v0",
            legacy=True,
            era="TensorRT-LLM before 1.0 (TensorRT engines)",
            # TensorRT engines ran on NVIDIA discrete GPUs only, FP8 on FP8 tensor cores (Ada, Hopper), like
            # 1.x: the platform rules carry over.
            aliases=("trt-llm-v0", "tensorrt-llm-legacy"),
            # Releases before 1.0 built a TensorRT engine per model; 1.0 made the PyTorch backend the
            # default (trtllm-serve / trtllm-bench), with its own kernels and scheduler. The 0.x perf tables
            # and Triton runs are calibrated as their own family, shrunk towards 1.x's (FAMILY_PARENT).
            description="TensorRT-LLM before 1.0: compiled TensorRT engines (gptSessionBenchmark, Triton)",
        ),
        FrameworkSpec(
            key="sglang",
            name="SGLang",
            family="sglang",
            memory_rule=MemoryRule.STATIC_FRACTION,
            memory_fraction=0.88,
            runtime_overhead_bytes=0.5 * GIB,
            tp_comm_buffer_bytes=1.0 * GIB,
            cuda_graph_bytes=0.9 * GIB,
            max_num_seqs=1024,
            max_num_batched_tokens=8192,
            era="SGLang 0.5 and later",
            needs_discrete_gpu=True,
            fp4_without_fp4_tensor_cores=True,
            aliases=("sgl",),
            description="SGLang: RadixAttention, continuous batching",
        ),
        _LLAMA_CPP,
        replace(
            _LLAMA_CPP,
            key="llama.cpp-2023",
            family="llama.cpp-2023",
            legacy=True,
            era="llama.cpp builds of 2023",
            aliases=("llama.cpp-legacy", "llamacpp-2023"),
            description="llama.cpp builds of 2023 (cuBLAS prompt processing, before the 2024 CUDA kernels), "
            "calibrated on their own measurements: ~1.4x slower prompt processing per FLOP on the same GPU",
        ),
        FrameworkSpec(
            key="lmdeploy",
            name="LMDeploy",
            # TurboMind is a compiled C++/CUDA engine (fused attention, persistent batching, paged "blocked"
            # KV cache): the compiled-engine family is its nearest measured kin.
            family="tensorrt-llm-v0",
            memory_rule=MemoryRule.FRACTION_OF_FREE,
            memory_fraction=0.8,  # TurbomindEngineConfig.cache_max_entry_count default
            runtime_overhead_bytes=0.5 * GIB,  # assumed: CUDA context and workspace, as for the other engines
            tp_comm_buffer_bytes=0.5 * GIB,
            cuda_graph_bytes=0.0,
            max_num_seqs=128,  # TurbomindEngineConfig.max_batch_size default
            max_num_batched_tokens=8192,  # max_prefill_token_num default
            needs_discrete_gpu=True,
            nvidia_only=True,
            aliases=("turbomind", "lmdeploy-turbomind"),
            description="LMDeploy TurboMind: C++/CUDA engine, persistent batching; calibrated as the "
            "compiled engines of its time (TensorRT-LLM before 1.0) until LMDeploy has its own entries",
        ),
        FrameworkSpec(
            key="exllamav2",
            name="ExLlamaV2",
            family="exllamav2",
            memory_rule=MemoryRule.DYNAMIC,
            memory_fraction=1.0,
            runtime_overhead_bytes=0.4 * GIB,
            tp_comm_buffer_bytes=0.0,
            cuda_graph_bytes=0.0,
            max_num_seqs=32,
            max_num_batched_tokens=2048,
            aliases=("exllama", "exl2", "tabbyapi"),
            fp16_accumulate=True,
            needs_discrete_gpu=True,
            # EXL2 (the precisions made for it) and GPTQ checkpoints, or unquantised fp16.
            weight_formats=("int4-gptq", "fp16"),
            weight_formats_note="runs EXL2, GPTQ or fp16 weights",
            smaller_precisions=("exl2-6.0bpw", "exl2-4.0bpw", "int4-gptq"),
            description="ExLlamaV2: EXL2/GPTQ kernels for consumer GPUs",
        ),
        FrameworkSpec(
            key="mlc-llm",
            name="MLC LLM",
            family="mlc-llm",
            memory_rule=MemoryRule.DYNAMIC,
            memory_fraction=1.0,
            runtime_overhead_bytes=0.4 * GIB,
            tp_comm_buffer_bytes=0.3 * GIB,
            cuda_graph_bytes=0.0,
            max_num_seqs=64,
            max_num_batched_tokens=2048,
            aliases=("mlc", "mlc_llm"),
            description="MLC LLM: TVM-compiled kernels for GPUs, Apple and mobile",
        ),
        FrameworkSpec(
            key="hf-transformers",
            name="Hugging Face transformers",
            family="hf-transformers",
            memory_rule=MemoryRule.DYNAMIC,
            memory_fraction=1.0,
            runtime_overhead_bytes=0.5 * GIB,
            tp_comm_buffer_bytes=0.5 * GIB,
            cuda_graph_bytes=0.0,
            max_num_seqs=64,
            max_num_batched_tokens=4096,
            # PyTorch's fused scaled_dot_product_attention has been the default since transformers 4.36:
            # measured on an H200 (measured/README.md), eager attention took 4.5x the SDPA prefill time at
            # 8,192 tokens (1,148 vs 256 ms, Llama 3.1 8B), SDPA's tokens/s barely falls from 2,048 to 8,192.
            materialises_attention=False,
            aliases=("transformers", "huggingface", "hf"),
            description="Hugging Face transformers generate(): eager PyTorch, SDPA attention, static batches",
        ),
        FrameworkSpec(
            key="mlx",
            name="MLX",
            # Metal kernels over unified memory, like llama.cpp's Metal backend: llama.cpp's Apple entries are
            # the nearest measured kin. MLX accumulates in fp32 and fuses attention
            # (mx.fast.scaled_dot_product_attention).
            family="llama.cpp",
            memory_rule=MemoryRule.DYNAMIC,
            memory_fraction=1.0,
            runtime_overhead_bytes=0.2 * GIB,  # assumed: Metal command buffers and the Python runtime
            tp_comm_buffer_bytes=0.0,
            cuda_graph_bytes=0.0,
            max_num_seqs=16,
            max_num_batched_tokens=2048,  # mlx_lm generate_step prefill_step_size default
            native_precisions=(("int4", "mlx-q4"), ("int8", "mlx-q8"), ("q4", "mlx-q4"), ("q8", "mlx-q8")),
            apple_only=True,
            aliases=("mlx-lm", "mlx_lm"),
            description="Apple MLX (mlx-lm): Metal kernels on Apple silicon; calibrated as llama.cpp on the "
            "same hardware class until MLX measurements exist",
        ),
    )
}


def _older_sglang(series: str, era: str, what: str) -> FrameworkSpec:
    """An SGLang series before 0.5 (`sglang_era`), kept to model measurements made with it: calibrated as its
    own family, shrunk towards 0.5's and falling back to it (calibration.FAMILY_PARENT); estimates use the
    newest era unless a release names this one. FP4 checkpoints without FP4 tensor cores came with 0.5."""
    return replace(
        FRAMEWORKS["sglang"],
        key=f"sglang-v{series}",
        family=f"sglang-v{series}",
        legacy=True,
        era=era,
        fp4_without_fp4_tensor_cores=False,
        aliases=(f"sglang-{series}",),
        description=f"{era}: {what}",
    )


# 0.4 (December 2024 to mid-2025) brought the overlap ("zero-overhead") scheduler and the first DeepSeek V3
# MLA/MoE kernels; 0.3 (autumn 2024) scheduled on the CPU between GPU steps.
FRAMEWORKS.update(
    (f.key, f)
    for f in (
        _older_sglang("0.4", "SGLang 0.4", "overlap scheduler, first DeepSeek V3 kernels"),
        _older_sglang("0.3", "SGLang 0.3 and earlier", "CPU scheduling between GPU steps"),
    )
)


CURRENT_FRAMEWORKS: tuple[str, ...] = tuple(k for k, f in FRAMEWORKS.items() if not f.legacy)
"""What a whole-catalog comparison ("*") covers."""


def is_llama_cpp(framework: FrameworkSpec) -> bool:
    return framework.key.startswith("llama.cpp")


class UnknownFrameworkError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def resolve_framework(name: str) -> FrameworkSpec:
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    for spec in FRAMEWORKS.values():
        names = {spec.key, *(a.lower().replace("_", "-") for a in spec.aliases)}
        if key in names:
            return spec
    raise UnknownFrameworkError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")


_VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?:\.\d+)?")


def vllm_engine(version: str) -> str:
    """ "v0" for vLLM releases before 0.8 (the V0 engine was the default until 0.8.0) or a version that says
    it ran V0, else "v1" (V1 releases, and no version: the newest era)."""
    text = (version or "").lower()
    if "v0 engine" in text:
        return "v0"
    if "v1 engine" in text:
        return "v1"
    match = _VERSION.search(text)
    if match and int(match.group(1)) == 0 and int(match.group(2)) < 8:
        return "v0"
    return "v1"


def framework_for_version(framework: FrameworkSpec, version: str | None) -> FrameworkSpec:
    """The entry of `framework`'s engine era for a release `version`: vLLM's V0 engine before 0.8 (else
    V1), llama.cpp's builds dated 2023 (their CUDA prompt processing runs ~1.4x slower per FLOP than the
    2024 builds on the same card), TensorRT-LLM before 1.0 (TensorRT engines; 1.x runs the PyTorch
    backend), SGLang 0.3 and 0.4 (`sglang_era`); other frameworks have one era so far."""
    if not version:
        return framework
    if framework.key == "vllm" and vllm_engine(version) == "v0":
        return FRAMEWORKS["vllm-v0"]
    if framework.key == "llama.cpp" and "2023" in version:
        return FRAMEWORKS["llama.cpp-2023"]
    if framework.key == "tensorrt-llm" and tensorrt_llm_major(version) == 0:
        return FRAMEWORKS["tensorrt-llm-v0"]
    if framework.key == "sglang":
        era = sglang_era(version)
        if era is not None:
            return FRAMEWORKS[f"sglang-v{era}"]
    return framework


def tensorrt_llm_major(version: str) -> int | None:
    """TensorRT-LLM's major release in a version string ("v0.17", "TensorRT-LLM v0.9.0 (...)", "1.2.0rc6");
    None when it names no TensorRT-LLM release (a Dynamo runtime image's own version is not one)."""
    text = (version or "").lower()
    if "dynamo" in text:
        return None
    match = _VERSION.search(text)
    return int(match.group(1)) if match else None


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_YEAR = re.compile(r"\b(" + "|".join(_MONTHS) + r")[a-z]*\.?\s+(20\d\d)\b")
_SGLANG_RELEASES = ((2024, 12, "0.4"), (2025, 8, None))
"""When each SGLang series after 0.3 began (its GitHub releases: v0.4.0 on 4 December 2024, v0.5.0 in August
2025): a build named only by its date (a `lmsysorg/sglang:dev` image) belongs to the series out then."""


def sglang_era(version: str) -> str | None:
    """The legacy SGLang series a version string names: "0.3" (0.3 and earlier), "0.4", or None for 0.5 and
    later, a nightly, or no version (the newest era). Reads a release number ("v0.3.0", "SGLang v0.4.1
    (...)", "0.5.9") or, without one, a month and year ("docker lmsysorg/sglang:dev, Dec 2024")."""
    text = (version or "").lower()
    match = _VERSION.search(text)
    if match:
        major, minor = int(match.group(1)), int(match.group(2))
        if major == 0 and minor <= 3:
            return "0.3"
        return "0.4" if (major, minor) == (0, 4) else None
    dated = _MONTH_YEAR.search(text)
    if not dated:
        return None
    when = (int(dated.group(2)), _MONTHS.index(dated.group(1)[:3]) + 1)
    era: str | None = "0.3"
    for year, month, series in _SGLANG_RELEASES:
        if when >= (year, month):
            era = series
    return era


def framework_era(framework: FrameworkSpec) -> str:
    """How an estimate names the era it used (`FrameworkSpec.era`)."""
    return framework.era
