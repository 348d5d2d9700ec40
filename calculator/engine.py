"""The vectorised estimate: every configuration's memory, operating point, latency, throughput and cost.

`evaluate(batch)` is array arithmetic over columns; `calculator.estimate` calls it with length-1 arrays and
the comparison service with millions of rows, so both paths are the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntFlag

import numpy as np

from calculator.columns import (
    Array,
    EfficiencyColumns,
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.cost import CostAssumptions, CostColumns, DeploymentMode, deployment_costs
from calculator.memory import (
    activation_peak_bytes,
    kv_bytes_per_sequence,
    kv_bytes_per_token_all_layers,
    kv_pool_bytes,
    memory_capacity_bytes,
    reserves_fraction_of_total,
    runtime_overhead_bytes,
    weight_bytes_per_device,
)
from calculator.performance import decode_roofline_tokens_per_s, decode_step_time_s, prefill_terms


class Blocker(IntFlag):
    """Why a configuration cannot run as specified, one bit each; `ResultColumns.blockers` holds their union
    per configuration as an integer array (0: it runs), so a grid is tested with `blockers & Blocker.X`."""

    DOES_NOT_FIT = 1
    TP_HEADS = 2
    GPU_COUNT = 4
    CONTEXT_TOO_LONG = 8
    PRECISION_UNSUPPORTED = 16
    NO_KV_ROOM = 32

    @property
    def code(self) -> str:
        """The name findings, rejections and API errors use ("does_not_fit", ...)."""
        return (self.name or "").lower()

    @classmethod
    def of(cls, code: str) -> Blocker:
        """The blocker a code names (`Blocker.of("tp_heads") is Blocker.TP_HEADS`)."""
        return cls[code.upper()]


BLOCKERS: dict[Blocker, tuple[str, str]] = {
    bit: (bit.code, message)
    for bit, message in (
        (Blocker.DOES_NOT_FIT, "weights, activations and KV cache exceed the device memory"),
        (
            Blocker.TP_HEADS,
            "tensor parallel degree must divide the attention heads and the KV heads (or be a multiple)",
        ),
        (
            Blocker.GPU_COUNT,
            "num_gpus must be a multiple of tensor_parallel x pipeline_parallel (whole replicas)",
        ),
        (Blocker.CONTEXT_TOO_LONG, "prompt + output tokens exceed the model's maximum context"),
        (Blocker.PRECISION_UNSUPPORTED, "the framework or hardware does not run this precision"),
        (Blocker.NO_KV_ROOM, "no memory left for even one sequence's KV cache"),
    )
}
"""Each blocker's (code, message): a configuration with any of them set cannot run as specified."""
BLOCKER_NAMES = {bit: name for bit, (name, _) in BLOCKERS.items()}


@dataclass(frozen=True, kw_only=True)
class ConfigBatch:
    model: ModelColumns
    hardware: HardwareColumns
    precision: PrecisionColumns
    framework: FrameworkColumns
    efficiency: EfficiencyColumns
    workload: WorkloadColumns
    deployment_mode: Array
    """`cost.DeploymentMode` codes (integers)."""
    requests_per_hour: Array
    compat_blockers: Array
    """`Blocker.PRECISION_UNSUPPORTED` or 0 per configuration, decided from the entities (framework x
    precision x hardware, `grid.compat_reasons`)."""
    memory_logits_factor: float
    memory_hidden_factor: float
    memory_base_bytes: float

    def __len__(self) -> int:
        return len(self.deployment_mode)


@dataclass(frozen=True, kw_only=True)
class ResultColumns:
    weights_bytes: Array
    kv_cache_bytes: Array
    activation_bytes: Array
    overhead_bytes: Array
    total_bytes: Array
    capacity_bytes: Array
    reserved_bytes: Array
    """What the framework holds: vLLM and SGLang reserve their whole memory fraction up front."""
    kv_pool_bytes: Array
    kv_bytes_per_token: Array
    memory_utilization: Array
    fits: Array
    max_batch_size: Array
    max_context_tokens: Array
    batch_size: Array
    ttft_s: Array
    prefill_s: Array
    tpot_s: Array
    e2e_latency_s: Array
    prefill_tokens_per_s: Array
    decode_tokens_per_s_per_user: Array
    output_tokens_per_s: Array
    requests_per_s: Array
    roofline_tokens_per_s_per_user: Array
    blockers: Array
    """The union of each configuration's `Blocker` bits, an integer array (0: it runs)."""
    cost: CostColumns

    def __len__(self) -> int:
        return len(self.ttft_s)

    def take(self, index: Array) -> ResultColumns:
        values = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "cost"}
        cost = CostColumns(**{f.name: getattr(self.cost, f.name)[index] for f in fields(self.cost)})
        return ResultColumns(**values, cost=cost)


def replica_count(w: WorkloadColumns) -> Array:
    """Whole replicas of tensor_parallel x pipeline_parallel GPUs in num_gpus (0 when not a multiple)."""
    group = w.tensor_parallel * w.pipeline_parallel
    replicas = np.floor(w.num_gpus / group + 1e-9)
    return np.where(np.abs(replicas * group - w.num_gpus) < 1e-9, replicas, 0.0)


def _edge_scaled(batch: ConfigBatch, assumptions: CostAssumptions) -> HardwareColumns:
    """Edge deployments run power-capped with part of memory left to the OS (cost.CostAssumptions)."""
    h = batch.hardware
    edge = batch.deployment_mode == DeploymentMode.EDGE
    if not edge.any():
        return h
    power = np.where(edge, assumptions.edge_power_factor, 1.0)
    return HardwareColumns(
        **{
            **{f.name: getattr(h, f.name) for f in fields(h)},
            "memory_bytes": h.memory_bytes * np.where(edge, assumptions.edge_memory_share, 1.0),
            "memory_bandwidth_bytes_per_s": h.memory_bandwidth_bytes_per_s * power,
            "fp32_flops": h.fp32_flops * power,
            "fp16_dense_flops": h.fp16_dense_flops * power,
            "fp16_accumulate_dense_flops": h.fp16_accumulate_dense_flops * power,
            "bf16_dense_flops": h.bf16_dense_flops * power,
            "fp8_dense_flops": h.fp8_dense_flops * power,
            "fp4_dense_flops": h.fp4_dense_flops * power,
            "int8_dense_ops": h.int8_dense_ops * power,
        }
    )


def evaluate(batch: ConfigBatch, assumptions: CostAssumptions | None = None) -> ResultColumns:
    """Estimate every configuration of `batch`.

    Columns may be 1-D (one row per configuration) or broadcastable N-D arrays (a grid with one axis per
    dimension, see grid.Grid.tensor_batch): every formula is elementwise, so each intermediate is computed
    at the smallest shape its inputs span, and the grid's full size is reached only where dimensions meet.

    Operating point: batch_size > 0 is a static batch of that many sequences; batch_size == 0 picks the
    largest batch the KV pool and the scheduler allow (continuous batching at offline max throughput).
    A batch cycle prefills every prompt, then decodes at the mean context prompt + output/2:
        e2e = TTFT + (output - 1) x TPOT,
        output tokens/s = replicas x batch x output x min(batch, pp) / (prefill + (output - 1) x TPOT)
    (the network round trip of a cloud deployment adds to TTFT and e2e, not to the device's cycle);
    replicas = num_gpus / (tensor_parallel x pipeline_parallel): data-parallel copies, each with its own
    batch, so memory and per-request latency are one replica's and throughput and cost count them all.
    The cost's per-token split (cost.token_costs) takes the same cycle's phases: prefill(batch) for the
    prompts, (output - 1) x TPOT for the output tokens (the first comes out of the prefill pass), each over
    the batch, so prefill share = prefill / (prefill + (output - 1) x TPOT).
    """
    assumptions = assumptions or CostAssumptions()
    m, p, f, e, w = batch.model, batch.precision, batch.framework, batch.efficiency, batch.workload
    h = _edge_scaled(batch, assumptions)

    weights = weight_bytes_per_device(m, p, w)
    overhead = runtime_overhead_bytes(f, w)
    activations = activation_peak_bytes(
        m,
        f,
        w,
        np.float64(batch.memory_logits_factor),
        np.float64(batch.memory_hidden_factor),
        np.float64(batch.memory_base_bytes),
    )
    pool = kv_pool_bytes(h, f, w, weights, activations, overhead)
    capacity = memory_capacity_bytes(h, f, w)

    sequence_tokens = w.prompt_tokens + w.output_tokens
    context = np.where(w.context_tokens > 0, w.context_tokens, sequence_tokens)
    kv_per_sequence = kv_bytes_per_sequence(m, w, np.maximum(context, 1.0))
    safe_kv_seq = np.maximum(kv_per_sequence, 1.0)
    max_batch = np.where(pool > 0, np.floor(pool / safe_kv_seq), 0.0)
    scheduler_cap = f.max_num_seqs
    auto_batch = np.clip(np.minimum(max_batch, scheduler_cap), 1.0, None)
    batch_size = np.where(w.batch_size > 0, w.batch_size, auto_batch)

    kv_needed = kv_per_sequence * batch_size
    kv_per_token = kv_bytes_per_token_all_layers(m, w)
    needed = weights + activations + overhead + kv_needed
    reserved = np.where(reserves_fraction_of_total(f), capacity, needed)
    fits = (pool > 0) & (kv_needed <= pool + 1.0)
    max_context = np.where(pool > 0, np.floor(pool / np.maximum(kv_per_token * batch_size, 1.0)), 0.0)
    max_context = np.minimum(max_context, m.max_context_tokens)

    prefill_phase = prefill_terms(m, h, p, f, w, e).compact()
    prefill = prefill_phase.time_s(batch_size)
    lone_prefill = prefill_phase.time_s(np.ones(()))  # no batch axis: one prompt alone
    mean_context = w.prompt_tokens + w.output_tokens / 2.0
    tpot = decode_step_time_s(m, h, p, f, w, e, batch_size, mean_context)
    rtt = np.where(batch.deployment_mode == DeploymentMode.CLOUD, assumptions.network_rtt_s, 0.0)
    ttft = prefill + rtt
    decode = np.maximum(w.output_tokens - 1.0, 0.0) * tpot
    e2e = ttft + decode
    pipeline_overlap = np.minimum(batch_size, w.pipeline_parallel)
    replicas = replica_count(w)
    cycle = e2e - rtt
    requests_per_s = replicas * batch_size * pipeline_overlap / cycle
    output_tps = np.where(w.output_tokens > 0, requests_per_s * w.output_tokens, 0.0)
    roofline = decode_roofline_tokens_per_s(m, h, p, w, mean_context)

    # Not in place: with broadcast (grid-shaped) columns each term may have a different shape.
    blockers = batch.compat_blockers.astype(np.int64)
    blockers = blockers | np.where(~fits & (pool > 0), Blocker.DOES_NOT_FIT, 0)
    blockers = blockers | np.where(pool <= 0, Blocker.DOES_NOT_FIT | Blocker.NO_KV_ROOM, 0)
    heads_ok = (f.tp_splits_heads == 0) | (m.num_attention_heads % w.tensor_parallel == 0) & (
        (m.num_kv_heads % w.tensor_parallel == 0) | (w.tensor_parallel % m.num_kv_heads == 0) | (m.is_mla > 0)
    )
    blockers = blockers | np.where(heads_ok, 0, Blocker.TP_HEADS)
    blockers = blockers | np.where(replicas >= 1.0, 0, Blocker.GPU_COUNT)
    blockers = blockers | np.where(sequence_tokens <= m.max_context_tokens, 0, Blocker.CONTEXT_TOO_LONG)

    cost = deployment_costs(
        mode=batch.deployment_mode,
        num_gpus=w.num_gpus,
        cloud_usd_per_hour=h.cloud_usd_per_hour,
        purchase_usd=h.purchase_usd,
        tdp_watts=h.tdp_watts,
        requests_per_s=requests_per_s,
        output_tokens_per_s=output_tps,
        prompt_tokens=w.prompt_tokens,
        output_tokens=w.output_tokens,
        prefill_s=prefill,
        decode_s=decode,
        assumptions=assumptions,
    )
    return ResultColumns(
        weights_bytes=weights,
        kv_cache_bytes=kv_needed,
        activation_bytes=activations,
        overhead_bytes=overhead,
        total_bytes=needed,
        capacity_bytes=capacity,
        reserved_bytes=reserved,
        kv_pool_bytes=pool,
        kv_bytes_per_token=kv_per_token,
        memory_utilization=needed / h.memory_bytes,
        fits=fits,
        max_batch_size=np.minimum(max_batch, scheduler_cap),
        max_context_tokens=max_context,
        batch_size=batch_size,
        ttft_s=ttft,
        prefill_s=lone_prefill,
        tpot_s=tpot,
        e2e_latency_s=e2e,
        prefill_tokens_per_s=w.prompt_tokens / lone_prefill,
        decode_tokens_per_s_per_user=1.0 / tpot,
        output_tokens_per_s=output_tps,
        requests_per_s=requests_per_s,
        roofline_tokens_per_s_per_user=roofline,
        blockers=blockers,
        cost=cost,
    )
