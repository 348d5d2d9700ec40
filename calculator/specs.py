"""Frozen input specifications for the estimation engine.

Units live in the field names and are SI: bytes, seconds, FLOP/s, bytes/s, parameter counts.
Conversions to GiB, ms or dollars happen only at the edges (CLI, API serializers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttentionKind = Literal["mha", "gqa", "mqa", "mla"]
HardwareKind = Literal["datacenter_gpu", "consumer_gpu", "apple", "cpu", "edge"]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A transformer decoder as the engine sees it.

    Parameter counts are exact counts (not billions). For a dense model params_active == params_total.
    For a mixture of experts, params_routed_experts is the total of all routed-expert weights over all
    layers; params_active = params_total - params_routed_experts * (1 - experts_per_token / num_experts).
    params_embedding counts the input embedding plus an untied output head (V*d or 2*V*d); those stay at
    16 bits under weight-only quantisation (AWQ/GPTQ/int8) in most engines.
    """

    key: str
    name: str
    family: str = ""
    params_total: int
    params_active: int
    params_embedding: int = 0
    params_routed_experts: int = 0
    params_vision: int = 0
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_context_tokens: int
    attention: AttentionKind = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window_tokens: int = 0
    sliding_window_layers: int = 0
    moe_num_experts: int = 0
    moe_experts_per_token: int = 0
    moe_intermediate_size: int = 0
    moe_shared_experts: int = 0
    tied_embeddings: bool = False
    native_precision: str = "bf16"
    proxy_note: str = ""
    """Set when the row stands in for a model whose architecture is unpublished: why, as every estimate of it
    warns (`proxy_model`). Empty for a model described by its own published figures."""
    aliases: tuple[str, ...] = ()
    notes: str = ""
    source: str = ""

    @property
    def is_moe(self) -> bool:
        return self.moe_num_experts > 0


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """One accelerator (or one CPU socket set / Apple SoC) as the engine sees it.

    Dense tensor throughput is per precision; 0.0 means the hardware has no such tensor path.
    memory_bytes is what the vendor sells; usable_memory_bytes is what the runtime reports as total
    (for example torch.cuda.mem_get_info on an H100 80GB reports 79.19 GiB) where a source gives it.
    interconnect_bytes_per_s is unidirectional per device on the scale-up link (NVLink) or PCIe.
    """

    key: str
    name: str
    vendor: str = ""
    kind: HardwareKind
    memory_bytes: float
    usable_memory_bytes: float = 0.0
    memory_bandwidth_bytes_per_s: float
    fp32_flops: float = 0.0
    tf32_dense_flops: float = 0.0
    fp16_dense_flops: float = 0.0
    bf16_dense_flops: float = 0.0
    fp8_dense_flops: float = 0.0
    fp4_dense_flops: float = 0.0
    int8_dense_ops: float = 0.0
    int4_dense_ops: float = 0.0
    tdp_watts: float = 0.0
    interconnect_bytes_per_s: float = 0.0
    interconnect_latency_s: float = 0.0
    cloud_usd_per_hour: float = 0.0
    purchase_usd: float = 0.0
    aliases: tuple[str, ...] = ()
    notes: str = ""
    source: str = ""

    @property
    def runtime_memory_bytes(self) -> float:
        return self.usable_memory_bytes or self.memory_bytes


@dataclass(frozen=True, kw_only=True)
class Catalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    hardware: dict[str, HardwareSpec] = field(default_factory=dict)
