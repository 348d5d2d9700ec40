"""Time per phase: a roofline of compute and memory traffic per device, times calibrated efficiencies.

    t_phase = max(FLOPs / (tp x peak x compute_eff), bytes / (bandwidth x bandwidth_eff)) + comm + overhead

Sources: Williams et al., "Roofline" (CACM 2009); FLOP counts from Kaplan et al. 2020 (2 x params per token)
and NOTES.md §3.5 for attention; ring all-reduce cost from Patarasuk & Yuan 2009 (2 (p-1)/p x message / bw).
Pipeline stages run one after another for a single request, so latency divides by tp only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from calculator.columns import (
    COMPUTE_PATHS,
    Array,
    EfficiencyColumns,
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.memory import ACTIVATION_BYTES, kv_bytes_per_sequence, weight_bytes_total

PIPELINE_LINK_EFFICIENCY = 0.7
SCORE_BYTES = 16.0
"""Memory traffic per attention-score element when attention is not fused: 4 passes over fp32 scores."""
ROW_SPLIT_MATMULS = 7.0
"""Weight matrices per decoder layer (q, k, v, o, gate, up, down), each split by rows across the devices."""
ROW_SPLIT_BYTES = 4.0
"""ggml passes activations between operations in fp32."""


def peak_flops(h: HardwareColumns, p: PrecisionColumns, f: FrameworkColumns) -> Array:
    """Dense tensor FLOP/s on the precision's compute path, falling back to the next wider path the hardware
    has (fp4 -> fp8 -> fp16, int8 -> fp16, bf16 -> fp16, fp16 -> fp32): weight-only formats compute in fp16,
    at the FP16-accumulate rate for frameworks that accumulate in FP16."""
    path = p.compute_path
    fp16_rate = np.where(f.fp16_accumulate > 0, h.fp16_accumulate_dense_flops, h.fp16_dense_flops)
    fp16 = np.where(fp16_rate > 0, fp16_rate, h.fp32_flops)
    bf16 = np.where(h.bf16_dense_flops > 0, h.bf16_dense_flops, fp16)
    fp8 = np.where(h.fp8_dense_flops > 0, h.fp8_dense_flops, fp16)
    fp4 = np.where(h.fp4_dense_flops > 0, h.fp4_dense_flops, fp8)
    int8 = np.where(h.int8_dense_ops > 0, h.int8_dense_ops, fp16)
    choices = [h.fp32_flops, fp16, bf16, fp8, fp4, int8]
    peak = np.select([path == i for i in range(len(COMPUTE_PATHS))], choices, default=fp16)
    # A catalog row without any compute figure is blocked (grid.compat_reasons); keep its times finite.
    return np.maximum(peak, 1.0)


def sustained_flops(
    h: HardwareColumns, p: PrecisionColumns, f: FrameworkColumns, e: EfficiencyColumns
) -> Array:
    """Peak a long GEMM can hold: min(listed peak, TDP x sustained FLOP/s per watt). Listed tensor peaks are
    at boost clock; under full tensor load a card is held to its TDP, so a 300 W workstation card with the
    4090's silicon sustains about 300/450 of the 4090's rate (llama.cpp prompt speed on the RTX 6000 Ada vs
    the RTX 4090, measurements.csv). Hardware without a TDP figure is not capped."""
    peak = peak_flops(h, p, f)
    cap = np.where(h.tdp_watts > 0, h.tdp_watts * e.flops_per_watt, np.inf)
    return np.minimum(peak, cap)


def expert_fraction_touched(m: ModelColumns, tokens: Array) -> Array:
    """Expected share of routed experts read when `tokens` tokens are routed independently, top-k of E:
    1 - (1 - k/E)^tokens. Dense models: 1."""
    share = np.where(m.moe_num_experts > 0, m.moe_experts_per_token / np.maximum(m.moe_num_experts, 1.0), 1.0)
    return 1.0 - (1.0 - share) ** np.maximum(tokens, 1.0)


def weight_bytes_read(m: ModelColumns, p: PrecisionColumns, tokens: Array) -> Array:
    """Weight bytes streamed from memory in one forward pass over `tokens` tokens (all devices together):
    the dense part always, the routed experts in proportion to the experts touched; the vision tower is
    idle."""
    total = weight_bytes_total(m, p) - m.params_vision * 2.0
    expert_bytes = m.params_routed_experts * p.weight_bytes  # every scope quantises the experts
    return total - expert_bytes * (1.0 - expert_fraction_touched(m, tokens))


def matmul_params(m: ModelColumns) -> Array:
    """Params that multiply every token: active params minus the embedding table(s); the output head is added
    separately because prefill computes logits only for each sequence's last token."""
    return m.params_active - m.params_embedding


def _attention_head_dim(m: ModelColumns) -> Array:
    """Width of the attention dot products: head_dim, or the latent rank for absorbed MLA decode."""
    return np.where(m.is_mla > 0, m.kv_lora_rank + m.qk_rope_head_dim, m.head_dim)


def _layers_split(m: ModelColumns) -> tuple[Array, Array, Array]:
    swa = np.where(m.sliding_window_tokens > 0, m.sliding_window_layers, 0.0)
    window = np.where(m.sliding_window_tokens > 0, m.sliding_window_tokens, np.inf)
    return m.num_layers - swa, swa, window


def prefill_flops(m: ModelColumns, prompt_tokens: Array, sequences: Array) -> Array:
    """FLOPs to prefill `sequences` prompts of n tokens: 2 x matmul_params x N + 2 x vocab x d per sequence
    (last-token logits) + causal attention 2 x h x d_head x n^2 per full layer (n x window on sliding
    layers)."""
    n = prompt_tokens
    full, swa, window = _layers_split(m)
    pairs_full = n * n
    pairs_swa = np.where(n > window, 2.0 * n * np.minimum(window, n) - np.minimum(window, n) ** 2, n * n)
    attn = 2.0 * m.num_attention_heads * _attention_head_dim(m) * (full * pairs_full + swa * pairs_swa)
    per_sequence = 2.0 * matmul_params(m) * n + 2.0 * m.vocab_size * m.hidden_size + attn
    return per_sequence * sequences


def decode_flops_per_token(m: ModelColumns, context_tokens: Array) -> Array:
    """FLOPs for one decoded token at context c: 2 x (matmul_params + vocab x d) + 4 x h x d_head x c per
    layer
    (QK^T and AV over the cached context; sliding layers see at most the window)."""
    full, swa, window = _layers_split(m)
    attended = full * context_tokens + swa * np.minimum(context_tokens, window)
    attn = 4.0 * m.num_attention_heads * _attention_head_dim(m) * attended
    return 2.0 * (matmul_params(m) + m.vocab_size * m.hidden_size) + attn


def allreduce_time_s(
    m: ModelColumns,
    h: HardwareColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    e: EfficiencyColumns,
    tokens: Array,
) -> Array:
    """Tensor-parallel communication per forward pass.

    Head-sharded TP (Megatron): 2 all-reduces per layer of tokens x d x 2 bytes, each
    alpha + 2 (tp-1)/tp x bytes / (link bandwidth x efficiency) (ring all-reduce).
    llama.cpp's row split (ggml-cuda ggml_cuda_op_mul_mat): each of a layer's 7 weight matrices is split by
    rows; the main device copies the matmul's fp32 input to every other device and gathers their output
    slices, then synchronises: 7 alphas per layer and (tp-1) x tokens x (7 d + 2 q_dim + 2 kv_dim +
    3 ffn) x 4 bytes (inputs: q, k, v, gate, up read d, o reads q_dim, down reads ffn; outputs the same
    matrices' widths). Pipeline hops add (pp-1) x tokens x d x 2 / link."""
    tp = w.tensor_parallel
    message = tokens * m.hidden_size * ACTIVATION_BYTES
    link = np.maximum(h.interconnect_bytes_per_s * e.link_efficiency, 1.0)
    ring = 2.0 * (e.allreduce_latency_s + 2.0 * (tp - 1.0) / tp * message / link)
    q_dim = m.num_attention_heads * m.head_dim
    kv_dim = m.num_kv_heads * m.head_dim
    ffn = m.intermediate_size * np.maximum(m.moe_experts_per_token, 1.0)
    row_elements = 7.0 * m.hidden_size + 2.0 * q_dim + 2.0 * kv_dim + 3.0 * ffn
    row = (
        ROW_SPLIT_MATMULS * e.allreduce_latency_s
        + (tp - 1.0) * tokens * row_elements * ROW_SPLIT_BYTES / link
    )
    per_layer = np.where(f.tp_splits_heads > 0, ring, row)
    tp_time = np.where(tp > 1, m.num_layers * per_layer, 0.0)
    # Pipeline hops are one point-to-point copy per stage boundary at the link's nominal rate.
    pp_time = (
        (w.pipeline_parallel - 1.0)
        * message
        / np.maximum(h.interconnect_bytes_per_s * PIPELINE_LINK_EFFICIENCY, 1.0)
    )
    return tp_time + pp_time


@dataclass(frozen=True, kw_only=True)
class PhaseTerms:
    """One phase's time as a function of the sequences n it carries, with everything that does not depend on
    n computed once:
        t(n) = max(n x compute_s, (weights(n x tokens) / tp + n x bytes) / bandwidth) + fixed_s + n x extra_s,
        weights(T) = weight_bytes - expert_bytes x expert_miss^max(T, 1)
    (the roofline of `prefill_time_s` / `decode_step_time_s`; the all-reduce is affine in the tokens, the
    routed experts not touched by T tokens are not read). The serving model evaluates it at many in-flight
    counts."""

    compute_s: Array
    """Compute time per sequence."""
    weight_bytes: Array
    """Weight bytes read when every routed expert is touched (all devices together)."""
    expert_bytes: Array
    expert_miss: Array
    """1 - top-k / experts: the chance one token leaves a routed expert untouched (0 for dense models)."""
    tokens: Array
    """Tokens per sequence in the pass (the prompt for prefill, 1 for decode)."""
    tensor_parallel: Array
    bytes_per_sequence: Array
    """KV bytes written or read per sequence (all pipeline stages)."""
    bandwidth: Array
    """Effective memory bandwidth, bytes/s."""
    fixed_s: Array
    extra_s: Array
    """Time per sequence outside the roofline: all-reduce of its tokens, unfused scores, host overhead."""

    def time_s(self, sequences: Array) -> Array:
        return self.compact().time_s(sequences)

    def compact(self) -> PhaseLines:
        """The same time as two lines and the routed-expert correction (what the serving model evaluates at
        many in-flight counts)."""
        bandwidth = self.tensor_parallel * self.bandwidth
        return PhaseLines(
            compute_fixed_s=self.fixed_s,
            compute_per_sequence_s=self.compute_s + self.extra_s,
            memory_fixed_s=self.weight_bytes / bandwidth + self.fixed_s,
            memory_per_sequence_s=self.bytes_per_sequence / self.bandwidth + self.extra_s,
            experts_s=self.expert_bytes / bandwidth,
            expert_miss=self.expert_miss,
            tokens=self.tokens,
        )


@dataclass(frozen=True, kw_only=True)
class PhaseLines:
    """`PhaseTerms` rearranged, each line a + b x n:
        t(n) = max(compute line, memory line - experts_s x expert_miss^max(n x tokens, 1)).
    Exactly two lines where no routed experts are read (`dense`): the serving model solves its load
    equations on them in closed form."""

    compute_fixed_s: Array
    compute_per_sequence_s: Array
    memory_fixed_s: Array
    memory_per_sequence_s: Array
    experts_s: Array
    """Time to read every routed expert: the part n sequences leave untouched is not read."""
    expert_miss: Array
    tokens: Array

    def time_s(self, sequences: Array) -> Array:
        return np.maximum(self.compute_time_s(sequences), self.memory_time_s(sequences))

    def compute_time_s(self, sequences: Array) -> Array:
        return self.compute_fixed_s + sequences * self.compute_per_sequence_s

    def memory_time_s(self, sequences: Array) -> Array:
        n = sequences
        memory = self.memory_fixed_s + n * self.memory_per_sequence_s
        if not np.any(self.experts_s):  # dense batches skip the power
            return memory
        shape = np.shape(memory)
        moe = self._moe_rows(shape)
        if moe is None:
            return memory - self.experts_s * self.expert_miss ** np.maximum(n * self.tokens, 1.0)
        rows, experts_s, miss, tokens = moe
        flat = memory.reshape(-1)
        at_rows = np.broadcast_to(n, shape).reshape(-1)[rows]
        flat[rows] -= experts_s * miss ** np.maximum(at_rows * tokens, 1.0)
        return memory

    def _moe_rows(self, shape: tuple[int, ...]) -> tuple[Array, Array, Array, Array] | None:
        """(flat rows that read routed experts, their experts_s, expert_miss, tokens) at `shape`, found once
        per shape (a search evaluates the memory line many times); None where every row reads them."""
        cache = self.__dict__.setdefault("_moe_cache", {})
        if shape not in cache:
            rows = np.flatnonzero(np.broadcast_to(self.experts_s > 0, shape))
            if rows.size == int(np.prod(shape, dtype=np.int64)):
                cache[shape] = None
            else:

                def at(value: Array) -> Array:
                    return np.broadcast_to(value, shape).reshape(-1)[rows]

                cache[shape] = (rows, at(self.experts_s), at(self.expert_miss), at(self.tokens))
        return cache[shape]

    def lines(self) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        """((a, b) compute, (a, b) memory): t(n) = max of the two lines where `dense`."""
        return (
            (self.compute_fixed_s, self.compute_per_sequence_s),
            (self.memory_fixed_s, self.memory_per_sequence_s),
        )

    @property
    def dense(self) -> Array:
        """Rows whose time is exactly `lines` (no routed experts whose reads grow with n)."""
        return self.experts_s <= 0

    def take(self, index: np.ndarray, shape: tuple[int, ...]) -> PhaseLines:
        """The lines of the rows at flat `index` of a batch of `shape` (a value shared by every row stays one
        scalar)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                np.reshape(value, ())
                if np.size(value) == 1
                else np.broadcast_to(value, shape).reshape(-1)[index]
            )
        return PhaseLines(**out)


def _weight_terms(
    m: ModelColumns, p: PrecisionColumns, attention_data_parallel: Array | float = 1.0
) -> tuple[Array, Array, Array]:
    """(bytes when every expert is read, routed-expert bytes, 1 - k/E): `weight_bytes_read` split so that the
    token count enters once. With d attention data-parallel groups each group reads the weights other than
    the routed experts (memory.weight_bytes_per_device), so all devices together read (W - R) x d + R."""
    routed = m.params_routed_experts * p.weight_bytes
    total = (weight_bytes_total(m, p) - m.params_vision * 2.0 - routed) * attention_data_parallel + routed
    share = np.where(m.moe_num_experts > 0, m.moe_experts_per_token / np.maximum(m.moe_num_experts, 1.0), 1.0)
    return total, routed, 1.0 - share


def _phase(m: ModelColumns, p: PrecisionColumns, w: WorkloadColumns, **terms: Array) -> PhaseTerms:
    """PhaseTerms with the weights read (`_weight_terms`) and the tensor-parallel width filled in."""
    weights, experts, miss = _weight_terms(m, p, w.attention_data_parallel)
    return PhaseTerms(
        weight_bytes=weights,
        expert_bytes=experts,
        expert_miss=miss,
        tensor_parallel=w.tensor_parallel,
        **terms,
    )


def _allreduce_terms(
    m: ModelColumns, h: HardwareColumns, f: FrameworkColumns, w: WorkloadColumns, e: EfficiencyColumns
) -> tuple[Array, Array]:
    """`allreduce_time_s` as (time at zero tokens, time per token): it is affine in the tokens."""
    zero = allreduce_time_s(m, h, f, w, e, np.zeros(()))
    return zero, allreduce_time_s(m, h, f, w, e, np.ones(())) - zero


def prefill_terms(
    m: ModelColumns,
    h: HardwareColumns,
    p: PrecisionColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    e: EfficiencyColumns,
) -> PhaseTerms:
    """Prefilling n prompts together (TTFT of a lone request at n = 1):
    max(n x FLOPs / (tp x sustained peak x eff), (weights read / tp + n x KV written) / (bw x eff))
    + unfused attention scores + all-reduce + prefill, per-layer and per-touched-expert overhead."""
    n = np.maximum(w.prompt_tokens, 1.0)
    # Weight-only formats dequantise inside the GEMM: a calibrated share of the fp16 rate.
    efficiency = e.compute_efficiency * np.where(p.weight_only > 0, e.dequant_efficiency, 1.0)
    compute = prefill_flops(m, n, 1.0) / (w.tensor_parallel * sustained_flops(h, p, f, e) * efficiency)
    bandwidth = h.memory_bandwidth_bytes_per_s * e.bandwidth_efficiency
    # Unfused attention materialises the full n x n fp32 score matrix per head and layer (the causal mask is
    # applied to it, not skipped) and passes over it four times: QK^T writes it, the masked softmax reads and
    # rewrites it, the AV product reads it (llama.cpp's ggml_mul_mat / ggml_soft_max_ext / ggml_mul_mat):
    # SCORE_BYTES = 4 passes x 4 bytes per element.
    heads_per_device = m.num_attention_heads / w.tensor_parallel
    scores = f.materialises_attention * SCORE_BYTES * m.num_layers * heads_per_device * n * n
    comm_fixed, comm_per_token = _allreduce_terms(m, h, f, w, e)
    # Every routed expert an n-token prompt touches (1 - (1 - k/E)^n of them) costs its eager launch.
    _, _, miss = _weight_terms(m, p)
    touched = m.moe_num_experts * (1.0 - miss**n)
    experts = e.expert_overhead_s * m.num_layers * touched
    return _phase(
        m,
        p,
        w,
        compute_s=compute,
        tokens=n,
        bytes_per_sequence=kv_bytes_per_sequence(m, w, n) * w.pipeline_parallel,
        bandwidth=bandwidth,
        fixed_s=comm_fixed + e.prefill_overhead_s + e.layer_overhead_s * m.num_layers + experts,
        extra_s=scores / bandwidth + comm_per_token * n,
    )


def prefill_time_s(
    m: ModelColumns,
    h: HardwareColumns,
    p: PrecisionColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    e: EfficiencyColumns,
    sequences: Array,
) -> Array:
    """Time to prefill `sequences` prompts together (TTFT of a lone request when sequences = 1)."""
    return prefill_terms(m, h, p, f, w, e).time_s(sequences)


def decode_step_terms(
    m: ModelColumns,
    h: HardwareColumns,
    p: PrecisionColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    e: EfficiencyColumns,
    context_tokens: Array,
) -> PhaseTerms:
    """One decode step for n sequences at `context_tokens` each (TPOT):
    max(n x FLOPs/token / (tp x peak x eff), (weights read / tp + n x KV per sequence) / (bw x eff))
    + all-reduce + step overhead + layers x per-layer overhead + per-sequence host overhead x n."""
    compute = decode_flops_per_token(m, context_tokens) / (
        w.tensor_parallel * sustained_flops(h, p, f, e) * e.compute_efficiency
    )
    comm_fixed, comm_per_token = _allreduce_terms(m, h, f, w, e)
    return _phase(
        m,
        p,
        w,
        compute_s=compute,
        tokens=np.ones(()),
        bytes_per_sequence=kv_bytes_per_sequence(m, w, context_tokens) * w.pipeline_parallel,
        bandwidth=h.memory_bandwidth_bytes_per_s * e.bandwidth_efficiency,
        fixed_s=comm_fixed + e.decode_step_overhead_s + e.layer_overhead_s * m.num_layers,
        # Attention data-parallel groups each run their own scheduler over their share of the sequences.
        extra_s=comm_per_token + e.per_sequence_overhead_s / w.attention_data_parallel,
    )


def decode_step_time_s(
    m: ModelColumns,
    h: HardwareColumns,
    p: PrecisionColumns,
    f: FrameworkColumns,
    w: WorkloadColumns,
    e: EfficiencyColumns,
    batch: Array,
    context_tokens: Array,
) -> Array:
    """One decode step for `batch` sequences at `context_tokens` each (TPOT): `decode_step_terms` at
    n = batch."""
    return decode_step_terms(m, h, p, f, w, e, context_tokens).time_s(batch)


def decode_roofline_tokens_per_s(
    m: ModelColumns, h: HardwareColumns, p: PrecisionColumns, w: WorkloadColumns, context_tokens: Array
) -> Array:
    """Physics guard for one stream: aggregate bandwidth / bytes read per token (efficiency 1, no
    overhead)."""
    bytes_per_token = (
        weight_bytes_read(m, p, np.ones_like(context_tokens))
        + kv_bytes_per_sequence(m, w, context_tokens) * w.pipeline_parallel * w.tensor_parallel
    )
    return w.tensor_parallel * h.memory_bandwidth_bytes_per_s / bytes_per_token
