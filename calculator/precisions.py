"""Weight and KV-cache precisions: bytes per stored element and the tensor path used for compute.

bits_per_weight includes the quantisation scales and zero points of the format:
- fp8 / int8 (per-channel scales): 8 bits; the scales add < 0.1%.
- int4 AWQ / GPTQ with group size 128: 4 + (16-bit scale + 4-bit zero) / 128 = 4.156 bits
  (AutoAWQ / AutoGPTQ default group size 128).
- NVFP4: 4 bits + one fp8 scale per 16 values = 4.5 bits (NVIDIA TensorRT Model Optimizer docs).
- MXFP4: 4 bits + one 8-bit shared exponent per 32 values = 4.25 bits (OCP Microscaling spec v1.0).
- GGUF block formats (ggml-quants.h): q4_0 = 18 bytes / 32 weights = 4.5 bits, q8_0 = 34 / 32 = 8.5 bits,
  q4_k_m averages 4.85 bits and q5_k_m 5.69 bits over a Llama-2-7B file (llama.cpp quantize README table).
- MLX affine quantisation (mlx.nn.quantize defaults: group size 64, a 16-bit scale and bias per group):
  4 + 32 / 64 = 4.5 bits, 8-bit 8.5 bits; it quantises every Linear and Embedding layer.
- EXL2 at N bits: N bits per weight on average (ExLlamaV2 README), the head at 6 bits is ignored.

scope says which weights the format quantises; the rest stay at 16 bits:
- "all": every weight (GGUF files quantise the embedding too);
- "linear": linear layers only, embedding and output head stay 16-bit (vLLM AWQ/GPTQ/fp8 checkpoints);
- "experts": routed MoE experts only (gpt-oss MXFP4 checkpoints).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

ComputePath = Literal["fp32", "fp16", "bf16", "fp8", "fp4", "int8"]
Scope = Literal["all", "linear", "experts"]


class WeightScope(IntEnum):
    """Which weights a format quantises (`PrecisionSpec.scope`, module docstring), as the code
    `PrecisionColumns.scope` carries."""

    ALL = 0
    LINEAR = 1
    EXPERTS = 2

    @classmethod
    def of(cls, scope: Scope) -> WeightScope:
        return cls[scope.upper()]


@dataclass(frozen=True, kw_only=True)
class PrecisionSpec:
    key: str
    bits_per_weight: float
    scope: Scope
    compute_path: ComputePath
    weight_only: bool
    frameworks: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def bytes_per_weight(self) -> float:
        return self.bits_per_weight / 8.0


GGUF_MORE_BITS = {
    # Single-type block formats, bytes per block from ggml's block structs (ggml-common.h):
    "q4_1": 5.0,  # fp16 scale + fp16 min + 16 bytes of nibbles per 32 weights = 20 bytes
    "q5_0": 5.5,  # fp16 scale + 4 bytes of high bits + 16 bytes per 32 weights = 22 bytes
    "q5_1": 6.0,  # fp16 scale + fp16 min + 4 + 16 bytes per 32 weights = 24 bytes
    "iq4_nl": 4.5,  # fp16 scale + 16 bytes per 32 weights = 18 bytes
    "iq4_xs": 4.25,  # fp16 scale + 2 + 4 bytes of scales + 128 bytes per 256 weights = 136 bytes
    # k-quant mixes, file averages over Llama 2 7B (llama.cpp tools/quantize/README.md, "Llama 2 7B" table):
    "q2_k": 3.35,
    "q3_k_s": 3.50,
    "q3_k_m": 3.91,
    "q3_k_l": 4.27,
    "q4_k_s": 4.58,
    "q5_k_s": 5.52,
    "q6_k": 6.56,  # a single type: 210 bytes per 256 weights = 6.5625
}
"""More GGUF formats llama.cpp loads, with bits per weight including their block scales."""
_ALL = ()  # empty tuple: every framework accepts the format
_GGUF = ("llama.cpp", "llama.cpp-2023")

PRECISIONS: dict[str, PrecisionSpec] = {
    p.key: p
    for p in (
        PrecisionSpec(
            key="fp32",
            bits_per_weight=32,
            scope="all",
            compute_path="fp32",
            weight_only=False,
            aliases=("float32", "f32"),
            description="full precision",
        ),
        PrecisionSpec(
            key="fp16",
            bits_per_weight=16,
            scope="all",
            compute_path="fp16",
            weight_only=False,
            aliases=("float16", "f16", "half", "gguf-f16"),
            description="half precision",
        ),
        PrecisionSpec(
            key="bf16",
            bits_per_weight=16,
            scope="all",
            compute_path="bf16",
            weight_only=False,
            aliases=("bfloat16",),
            description="bfloat16",
        ),
        PrecisionSpec(
            key="fp8",
            bits_per_weight=8,
            scope="linear",
            compute_path="fp8",
            weight_only=False,
            aliases=("float8", "fp8-e4m3", "w8a8-fp8"),
            description="FP8 weights and activations",
        ),
        PrecisionSpec(
            key="fp8-block",
            # One fp32 scale per 128 x 128 block: 8 + 32 / 16384 bits per weight (DeepSeek-V3 report §3.3).
            bits_per_weight=8.0 + 32.0 / 16384.0,
            scope="linear",
            compute_path="fp8",
            weight_only=False,
            aliases=("fp8-blockwise", "fp8-block-scaled", "fp8_block", "block-fp8"),
            description="FP8 weights and activations with 128x128 block scales (DeepSeek-style)",
        ),
        PrecisionSpec(
            key="fp4",
            bits_per_weight=4.5,
            scope="linear",
            compute_path="fp4",
            weight_only=False,
            aliases=("nvfp4",),
            description="NVFP4 weights and activations (Blackwell)",
        ),
        PrecisionSpec(
            key="mxfp4",
            bits_per_weight=4.25,
            scope="experts",
            compute_path="bf16",
            weight_only=True,
            description="MXFP4 routed experts, other weights bf16 (gpt-oss checkpoints)",
        ),
        PrecisionSpec(
            key="int8",
            bits_per_weight=8,
            scope="linear",
            compute_path="int8",
            weight_only=False,
            aliases=("int8-w8a8", "w8a8", "smoothquant"),
            description="INT8 weights and activations",
        ),
        PrecisionSpec(
            key="int8-weight-only",
            bits_per_weight=8,
            scope="linear",
            compute_path="fp16",
            weight_only=True,
            aliases=("w8a16", "int8-w8a16"),
            description="INT8 weights, fp16 compute",
        ),
        PrecisionSpec(
            key="int4-awq",
            bits_per_weight=4.156,
            scope="linear",
            compute_path="fp16",
            weight_only=True,
            frameworks=("vllm", "tensorrt-llm", "sglang", "hf-transformers", "mlc-llm", "lmdeploy"),
            aliases=("awq", "int4", "w4a16", "int4-w4a16"),
            description="AWQ 4-bit, group 128",
        ),
        PrecisionSpec(
            key="int4-wo",
            # Moonshot's Kimi K2 Thinking / K2.5 checkpoints: routed-expert weights INT4 with one bf16 scale
            # per 32 weights (4 + 16 / 32 = 4.5 bits), the rest bf16 (compressed-tensors config, group 32).
            bits_per_weight=4.5,
            scope="experts",
            compute_path="fp16",
            weight_only=True,
            aliases=("int4-weight-only", "w4a16-experts", "int4-experts"),
            description="INT4 weight-only experts, group 32 (Kimi K2 native)",
        ),
        PrecisionSpec(
            key="int4-gptq",
            bits_per_weight=4.156,
            scope="linear",
            compute_path="fp16",
            weight_only=True,
            frameworks=(
                "vllm",
                "tensorrt-llm",
                "sglang",
                "hf-transformers",
                "exllamav2",
                "mlc-llm",
                "lmdeploy",
            ),
            aliases=("gptq",),
            description="GPTQ 4-bit, group 128",
        ),
        PrecisionSpec(
            key="q4_0",
            bits_per_weight=4.5,
            scope="all",
            compute_path="fp16",
            weight_only=True,
            frameworks=_GGUF,
            aliases=("gguf-q4_0",),
            description="GGUF Q4_0",
        ),
        PrecisionSpec(
            key="q4_k_m",
            bits_per_weight=4.85,
            scope="all",
            compute_path="fp16",
            weight_only=True,
            frameworks=_GGUF,
            # Unsloth's dynamic UD-Q4_K_XL keeps a few tensors at higher precision around a Q4_K base: counted
            # as Q4_K_M's bits (an approximation).
            aliases=("gguf-q4_k_m", "ud-q4_k_xl"),
            description="GGUF Q4_K_M",
        ),
        PrecisionSpec(
            key="q5_k_m",
            bits_per_weight=5.69,
            scope="all",
            compute_path="fp16",
            weight_only=True,
            frameworks=_GGUF,
            aliases=("gguf-q5_k_m",),
            description="GGUF Q5_K_M",
        ),
        PrecisionSpec(
            key="q8_0",
            bits_per_weight=8.5,
            scope="all",
            compute_path="fp16",
            weight_only=True,
            frameworks=_GGUF,
            aliases=("gguf-q8_0", "ud-q8_k_xl"),  # Unsloth UD-Q8_K_XL counted as Q8_0's bits (approximation)
            description="GGUF Q8_0",
        ),
        *(
            PrecisionSpec(
                key=key,
                bits_per_weight=bits,
                scope="all",
                compute_path="fp16",
                weight_only=True,
                frameworks=_GGUF,
                aliases=(f"gguf-{key}",),
                description=f"GGUF {key.upper()}",
            )
            for key, bits in GGUF_MORE_BITS.items()
        ),
        *(
            PrecisionSpec(
                key=f"mlx-q{bits}",
                bits_per_weight=bits + 0.5,
                scope="all",
                compute_path="fp16",
                weight_only=True,
                frameworks=("mlx",),
                aliases=(f"mlx-{bits}bit", f"mlx-int{bits}"),
                description=f"MLX {bits}-bit affine, group 64 (fp16 scale and bias per group)",
            )
            for bits in (4, 8)
        ),
    )
}

KV_PRECISION_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "q8_0": 1.0625,
    "q4_0": 0.5625,
    "int4": 0.5,
}
_KV_ALIASES = {"f16": "fp16", "f32": "fp32", "auto": "", "": "", "fp8_e4m3": "fp8", "fp8-e4m3": "fp8"}

_EXL2 = re.compile(r"^exl2[-_]?(\d+(?:\.\d+)?)(?:bpw)?$")


class UnknownPrecisionError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


def resolve_precision(name: str, native: Mapping[str, str] | None = None) -> PrecisionSpec:
    """Look a precision up by key or alias; `exl2-N.Nbpw` builds an EXL2 spec at N.N bits per weight.
    `native` maps generic names to the format a framework stores them in (FrameworkSpec.native_precisions)."""
    key = _normalise(name)
    key = (native or {}).get(key, key)
    if key in PRECISIONS:
        return PRECISIONS[key]
    for spec in PRECISIONS.values():
        if key in spec.aliases:
            return spec
    match = _EXL2.match(key)
    if match:
        bits = float(match.group(1))
        if not 1.0 <= bits <= 16.0:
            raise UnknownPrecisionError(f"EXL2 bits per weight must be between 1 and 16, got {bits}")
        return PrecisionSpec(
            key=f"exl2-{bits:g}bpw",
            bits_per_weight=bits,
            scope="linear",
            compute_path="fp16",
            weight_only=True,
            frameworks=("exllamav2",),
            description=f"EXL2 {bits:g} bits/weight",
        )
    known = ", ".join(sorted(PRECISIONS)) + ", exl2-<bits>bpw"
    raise UnknownPrecisionError(f"unknown precision {name!r}; known: {known}")


def kv_bytes_per_element(kv_precision: str | None, weight_precision: PrecisionSpec) -> float:
    """KV-cache bytes per element; by default 16-bit (engines keep KV at the activation dtype)."""
    key = _KV_ALIASES.get(_normalise(kv_precision or ""), _normalise(kv_precision or ""))
    if not key:
        return 4.0 if weight_precision.key == "fp32" else 2.0
    if key not in KV_PRECISION_BYTES:
        raise UnknownPrecisionError(
            f"unknown KV-cache precision {kv_precision!r}; known: {', '.join(sorted(KV_PRECISION_BYTES))}"
        )
    return KV_PRECISION_BYTES[key]
