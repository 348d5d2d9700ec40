"""Memory per device: weights, KV cache, activations and framework overhead, as array formulas.

All functions take column groups (see columns.py) and return float64 arrays in bytes.
"""

from __future__ import annotations

import numpy as np

from calculator.columns import (
    Array,
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.frameworks import MemoryRule
from calculator.precisions import WeightScope

ACTIVATION_BYTES = 2.0  # activations run in 16-bit on every path the engine models


def weight_bytes_total(m: ModelColumns, p: PrecisionColumns) -> Array:
    """Weight bytes = quantised params x bytes/param + the rest at 2 bytes (+ vision tower at 2 bytes).

    Which params are quantised follows the format's scope (precisions.py). Source: NOTES.md §3.5.
    """
    quantised = np.where(
        p.scope == WeightScope.ALL,
        m.params_total,
        np.where(p.scope == WeightScope.LINEAR, m.params_total - m.params_embedding, m.params_routed_experts),
    )
    rest_bytes = np.where(p.weight_bytes > 2.0, p.weight_bytes, 2.0)  # fp32 keeps fp32 everywhere
    return quantised * p.weight_bytes + (m.params_total - quantised) * rest_bytes + m.params_vision * 2.0


def weight_bytes_per_device(m: ModelColumns, p: PrecisionColumns, w: WorkloadColumns) -> Array:
    """Weights are sharded evenly over tensor- and pipeline-parallel ranks: W / (tp x pp). With d attention
    data-parallel groups every group holds the weights other than the routed experts (sharded over its
    tp / d GPUs) and the routed experts are sharded over all tp: (W - R + R / d) x d / (tp x pp)."""
    routed = m.params_routed_experts * p.weight_bytes
    d = w.attention_data_parallel
    return ((weight_bytes_total(m, p) - routed) * d + routed) / (w.tensor_parallel * w.pipeline_parallel)


def kv_bytes_per_token_per_layer(m: ModelColumns, w: WorkloadColumns) -> Array:
    """KV bytes one token adds to one layer on one device.

    MHA/GQA/MQA: 2 (K and V) x ceil(kv_heads / tp) x head_dim x bytes; heads are replicated when tp >
    kv_heads.
    MLA: (kv_lora_rank + qk_rope_head_dim) x bytes, the compressed latent, replicated on every TP rank
    (DeepSeek-V2 paper §2.1; vLLM MLA backend).
    With d attention data-parallel groups a sequence lives in one group only, split over its tp / d GPUs:
    per device, averaged over the sequences, the bytes above at tp / d, divided by d (why SGLang and
    TensorRT-LLM run DeepSeek's MLA data-parallel: its latent is no longer replicated on every GPU).
    """
    d = w.attention_data_parallel
    kv_heads_per_device = np.ceil(m.num_kv_heads * d / w.tensor_parallel)
    standard = 2.0 * kv_heads_per_device * m.head_dim * w.kv_bytes_per_element
    latent = (m.kv_lora_rank + m.qk_rope_head_dim) * w.kv_bytes_per_element
    return np.where(m.is_mla > 0, latent, standard) / d


def kv_bytes_per_token_all_layers(m: ModelColumns, w: WorkloadColumns) -> Array:
    """KV bytes per token per device counting every layer as full attention (how vLLM reports pool tokens)."""
    return kv_bytes_per_token_per_layer(m, w) * m.num_layers / w.pipeline_parallel


def kv_bytes_per_sequence(m: ModelColumns, w: WorkloadColumns, tokens: Array) -> Array:
    """KV bytes of one sequence of `tokens` on one device: full layers hold every token, sliding-window
    layers at most `window` tokens. KV = per_layer x (L_full x n + L_swa x min(n, window)) / pp."""
    swa = np.where(m.sliding_window_tokens > 0, m.sliding_window_layers, 0.0)
    full = m.num_layers - swa
    windowed = np.minimum(tokens, np.where(m.sliding_window_tokens > 0, m.sliding_window_tokens, tokens))
    return kv_bytes_per_token_per_layer(m, w) * (full * tokens + swa * windowed) / w.pipeline_parallel


def activation_peak_bytes(
    m: ModelColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    logits_factor: Array,
    hidden_factor: Array,
    base_bytes: Array,
) -> Array:
    """Peak activation memory of one forward pass of the prefill budget N = max_num_batched_tokens.

    peak = base + logits_factor x N x vocab x 2 bytes + hidden_factor x N x (hidden + 2 x intermediate /
    tp) x 2.
    vLLM profiles a dummy batch of N tokens and the logits dominate (vLLM 0.19 logs: 1.89 GiB for
    Llama-3.1-8B at N=8192, identical at TP=1, 2 and 4); factors are fitted on memory.csv.
    """
    tokens = np.minimum(
        f.max_num_batched_tokens, np.maximum(w.prompt_tokens, 1.0) * np.maximum(w.batch_size, 1.0)
    )
    tokens = np.where(f.memory_rule == MemoryRule.UTILIZATION_OF_TOTAL, f.max_num_batched_tokens, tokens)
    logits = logits_factor * tokens * m.vocab_size * ACTIVATION_BYTES
    hidden = hidden_factor * tokens * (m.hidden_size + 2.0 * m.intermediate_size / w.tensor_parallel)
    return base_bytes + logits + hidden * ACTIVATION_BYTES


def runtime_overhead_bytes(f: FrameworkColumns, w: WorkloadColumns) -> Array:
    """Non-tensor memory: CUDA context and allocator slack, plus communication buffers when TP > 1."""
    return f.runtime_overhead_bytes + np.where(w.tensor_parallel > 1, f.tp_comm_buffer_bytes, 0.0)


def reserves_fraction_of_total(f: FrameworkColumns) -> Array:
    """Whether the framework holds its fraction of total memory up front, used or not (vLLM, SGLang)."""
    return (f.memory_rule == MemoryRule.UTILIZATION_OF_TOTAL) | (f.memory_rule == MemoryRule.STATIC_FRACTION)


def memory_capacity_bytes(h: HardwareColumns, f: FrameworkColumns, w: WorkloadColumns) -> Array:
    """Bytes the framework lets the model use: vLLM and SGLang reserve a fraction of total memory."""
    fraction = np.where(w.gpu_memory_utilization > 0, w.gpu_memory_utilization, f.memory_fraction)
    return np.where(reserves_fraction_of_total(f), h.memory_bytes * fraction, h.memory_bytes)


def kv_pool_bytes(
    h: HardwareColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    weights: Array,
    activations: Array,
    overhead: Array,
) -> Array:
    """KV pool per device under the framework's memory rule (frameworks.py); negative = weights do not fit.

    vLLM:          util x total - weights - activations - non-torch
    TensorRT-LLM:  fraction x (total - weights - activations - runtime)
    SGLang:        fraction x total - weights - runtime
    llama.cpp and dynamic engines: total - weights - activations - runtime (all of it may hold KV).
    """
    fraction = np.where(w.gpu_memory_utilization > 0, w.gpu_memory_utilization, f.memory_fraction)
    free_after_load = h.memory_bytes - weights - activations - overhead
    vllm = h.memory_bytes * fraction - weights - activations - overhead
    trt = np.where(free_after_load > 0, fraction * free_after_load, free_after_load)
    sglang = h.memory_bytes * fraction - weights - overhead
    return np.select(
        [
            f.memory_rule == MemoryRule.UTILIZATION_OF_TOTAL,
            f.memory_rule == MemoryRule.FRACTION_OF_FREE,
            f.memory_rule == MemoryRule.STATIC_FRACTION,
        ],
        [vllm, trt, sglang],
        default=free_after_load,
    )
