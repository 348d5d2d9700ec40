"""Column groups: the engine's inputs as numpy arrays, one element per configuration.

Each group is a frozen dataclass of equally long float64 arrays; a code column holds its enum's values
(`frameworks.MemoryRule`, `precisions.WeightScope`) and formulas compare it with the members. A grid of
configurations is built by taking rows of small per-entity tables with index arrays (`take`), so a million
configurations cost a few gathers, and a single estimate is the same code with length-1 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

import numpy as np

from calculator.frameworks import FrameworkSpec
from calculator.precisions import PrecisionSpec, WeightScope
from calculator.specs import HardwareSpec, ModelSpec

Array = np.ndarray

HARDWARE_CLASSES = ("datacenter_gpu", "consumer_gpu", "apple", "cpu", "edge")


def hardware_class(kind: str) -> str:
    """The calibration class of a hardware kind; an unknown kind is treated as a consumer GPU."""
    return kind if kind in HARDWARE_CLASSES else "consumer_gpu"


class Columns:
    """Mixin: gather rows of every array field with one index array."""

    def take(self, index: Array) -> Self:
        return type(self)(
            **{
                f.name: value[index] if np.ndim(value := getattr(self, f.name)) else value
                for f in fields(self)
            }
        )  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]


def _stack(records: list[dict[str, float]], cls: type) -> Columns:
    names = [f.name for f in fields(cls)]
    return cls(**{n: np.array([r[n] for r in records], dtype=np.float64) for n in names})


@dataclass(frozen=True, kw_only=True)
class ModelColumns(Columns):
    params_total: Array
    params_active: Array
    params_embedding: Array
    params_routed_experts: Array
    params_vision: Array
    num_layers: Array
    hidden_size: Array
    num_attention_heads: Array
    num_kv_heads: Array
    head_dim: Array
    intermediate_size: Array
    vocab_size: Array
    max_context_tokens: Array
    is_mla: Array
    kv_lora_rank: Array
    qk_rope_head_dim: Array
    sliding_window_tokens: Array
    sliding_window_layers: Array
    moe_num_experts: Array
    moe_experts_per_token: Array
    tied_embeddings: Array

    @classmethod
    def from_specs(cls, specs: list[ModelSpec]) -> ModelColumns:
        return _stack([_model_record(s) for s in specs], cls)  # type: ignore[return-value]


def _model_record(s: ModelSpec) -> dict[str, float]:
    return {
        "params_total": s.params_total,
        "params_active": s.params_active,
        "params_embedding": s.params_embedding,
        "params_routed_experts": s.params_routed_experts,
        "params_vision": s.params_vision,
        "num_layers": s.num_layers,
        "hidden_size": s.hidden_size,
        "num_attention_heads": s.num_attention_heads,
        "num_kv_heads": s.num_kv_heads,
        "head_dim": s.head_dim,
        "intermediate_size": s.intermediate_size,
        "vocab_size": s.vocab_size,
        "max_context_tokens": s.max_context_tokens,
        "is_mla": float(s.attention == "mla"),
        "kv_lora_rank": s.kv_lora_rank,
        "qk_rope_head_dim": s.qk_rope_head_dim,
        "sliding_window_tokens": s.sliding_window_tokens,
        "sliding_window_layers": s.sliding_window_layers,
        "moe_num_experts": s.moe_num_experts,
        "moe_experts_per_token": s.moe_experts_per_token,
        "tied_embeddings": float(s.tied_embeddings),
    }


@dataclass(frozen=True, kw_only=True)
class HardwareColumns(Columns):
    memory_bytes: Array
    memory_bandwidth_bytes_per_s: Array
    tdp_watts: Array
    interconnect_bytes_per_s: Array
    interconnect_latency_s: Array
    cloud_usd_per_hour: Array
    purchase_usd: Array
    hardware_class: Array
    fp32_flops: Array
    fp16_dense_flops: Array
    fp16_accumulate_dense_flops: Array
    """FP16 tensor rate with FP16 accumulation: GeForce cards run it at twice their FP32-accumulate rate
    (4 x the FP32 vector rate on Ampere/Ada, NVIDIA GA102 and Ada whitepapers via reference/NOTES.md)."""
    bf16_dense_flops: Array
    fp8_dense_flops: Array
    fp4_dense_flops: Array
    int8_dense_ops: Array

    @classmethod
    def from_specs(cls, specs: list[HardwareSpec]) -> HardwareColumns:
        records = []
        for s in specs:
            fp16 = s.fp16_dense_flops or s.bf16_dense_flops or s.fp32_flops
            records.append(
                {
                    "memory_bytes": s.runtime_memory_bytes,
                    "memory_bandwidth_bytes_per_s": s.memory_bandwidth_bytes_per_s,
                    "tdp_watts": s.tdp_watts,
                    "interconnect_bytes_per_s": s.interconnect_bytes_per_s,
                    "interconnect_latency_s": s.interconnect_latency_s,
                    "cloud_usd_per_hour": s.cloud_usd_per_hour,
                    "purchase_usd": s.purchase_usd,
                    "hardware_class": float(HARDWARE_CLASSES.index(s.kind)),
                    "fp32_flops": s.fp32_flops,
                    "fp16_dense_flops": fp16,
                    "fp16_accumulate_dense_flops": max(fp16, 4.0 * s.fp32_flops)
                    if s.kind == "consumer_gpu" and s.vendor.lower() == "nvidia"
                    else fp16,
                    "bf16_dense_flops": s.bf16_dense_flops or fp16,
                    "fp8_dense_flops": s.fp8_dense_flops,
                    "fp4_dense_flops": s.fp4_dense_flops,
                    "int8_dense_ops": s.int8_dense_ops,
                }
            )
        return _stack(records, cls)  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class PrecisionColumns(Columns):
    weight_bytes: Array
    scope: Array
    """`WeightScope` code: every weight quantised, linear layers only or routed experts only."""
    compute_path: Array
    """Index into COMPUTE_PATHS."""
    weight_only: Array

    @classmethod
    def from_specs(cls, specs: list[PrecisionSpec]) -> PrecisionColumns:
        records = [
            {
                "weight_bytes": s.bytes_per_weight,
                "scope": float(WeightScope.of(s.scope)),
                "compute_path": float(COMPUTE_PATHS.index(s.compute_path)),
                "weight_only": float(s.weight_only),
            }
            for s in specs
        ]
        return _stack(records, cls)  # type: ignore[return-value]


COMPUTE_PATHS = ("fp32", "fp16", "bf16", "fp8", "fp4", "int8")


@dataclass(frozen=True, kw_only=True)
class FrameworkColumns(Columns):
    memory_rule: Array
    """`frameworks.MemoryRule` code."""
    memory_fraction: Array
    runtime_overhead_bytes: Array
    tp_comm_buffer_bytes: Array
    cuda_graph_bytes: Array
    max_num_seqs: Array
    max_num_batched_tokens: Array
    tp_splits_heads: Array
    fp16_accumulate: Array
    materialises_attention: Array
    mixes_prefill_and_decode: Array

    @classmethod
    def from_specs(cls, specs: list[FrameworkSpec]) -> FrameworkColumns:
        records = [
            {
                "memory_rule": float(s.memory_rule),
                "memory_fraction": s.memory_fraction,
                "runtime_overhead_bytes": s.runtime_overhead_bytes,
                "tp_comm_buffer_bytes": s.tp_comm_buffer_bytes,
                "cuda_graph_bytes": s.cuda_graph_bytes,
                "max_num_seqs": s.max_num_seqs,
                "max_num_batched_tokens": s.max_num_batched_tokens,
                "mixes_prefill_and_decode": float(s.mixes_prefill_and_decode),
                "tp_splits_heads": float(s.tp_splits_heads),
                "fp16_accumulate": float(s.fp16_accumulate),
                "materialises_attention": float(s.materialises_attention),
            }
            for s in specs
        ]
        return _stack(records, cls)  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class EfficiencyColumns(Columns):
    """Calibrated factors for each configuration's (framework family, hardware class); see calibration.py."""

    bandwidth_efficiency: Array
    compute_efficiency: Array
    decode_step_overhead_s: Array
    prefill_overhead_s: Array
    layer_overhead_s: Array
    """Fixed cost per transformer layer per forward pass (kernel launches and synchronisation: the floor that
    makes a deep small-batch step slower than its bytes alone say)."""
    allreduce_latency_s: Array
    link_efficiency: Array
    flops_per_watt: Array
    """Sustained tensor FLOP/s per watt of TDP: a card whose listed peak exceeds TDP x this runs its tensor
    cores below boost clock under load (power-limited workstation and PCIe parts)."""
    dequant_efficiency: Array
    """Share of the fp16 GEMM rate that weight-only quantised formats reach in prefill (dequantisation
    cost)."""
    per_sequence_overhead_s: Array
    """Host-side scheduling and sampling cost per sequence per decode step (the large-batch curve)."""
    expert_overhead_s: Array
    """Fixed cost per routed expert per layer of a prefill pass: serving engines run prefill eagerly (CUDA
    graphs cover decode only), so each touched expert's GEMM problem, its routing, permutation and scale
    handling cost launch and host time that no roofline term holds. 0 for dense models."""


@dataclass(frozen=True, kw_only=True)
class WorkloadColumns(Columns):
    tensor_parallel: Array
    pipeline_parallel: Array
    num_gpus: Array
    prompt_tokens: Array
    output_tokens: Array
    batch_size: Array
    """Concurrent sequences; 0 = pick the largest batch that fits (offline max throughput)."""
    kv_bytes_per_element: Array
    context_tokens: Array
    """Context the KV cache is sized for per sequence (llama.cpp n_ctx, vLLM max_model_len); 0 =
    prompt+output."""
    gpu_memory_utilization: Array
    """Framework memory fraction override; 0 = the framework's default."""
    attention_data_parallel: Array | float = 1.0
    """Attention data-parallel groups among the tensor_parallel GPUs of a stage (SGLang --enable-dp-attention,
    TensorRT-LLM enable_attention_dp): attention runs tensor-parallel over tp / d GPUs with its own sequences
    in each of the d groups, while routed experts stay sharded over all tp GPUs (expert parallel). 1 = off."""
