"""Unit tests of the engine's formulas against hand-computed values (sources in each docstring)."""

import numpy as np
import pytest

from calculator.catalog import resolve_hardware, resolve_model
from calculator.columns import (
    EfficiencyColumns,
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.frameworks import resolve_framework
from calculator.memory import kv_bytes_per_sequence, kv_bytes_per_token_all_layers, weight_bytes_total
from calculator.performance import (
    allreduce_time_s,
    decode_flops_per_token,
    expert_fraction_touched,
    prefill_flops,
)
from calculator.precisions import resolve_precision


def workload(tp: float = 1, pp: float = 1, kv_bytes: float = 2.0) -> WorkloadColumns:
    one = np.array([1.0])
    return WorkloadColumns(
        tensor_parallel=np.array([float(tp)]),
        pipeline_parallel=np.array([float(pp)]),
        num_gpus=one * tp * pp,
        prompt_tokens=one * 512,
        output_tokens=one * 128,
        batch_size=one,
        kv_bytes_per_element=one * kv_bytes,
        context_tokens=one * 0,
        gpu_memory_utilization=one * 0,
    )


def model(key: str) -> ModelColumns:
    return ModelColumns.from_specs([resolve_model(key)])


def precision(key: str) -> PrecisionColumns:
    return PrecisionColumns.from_specs([resolve_precision(key)])


def test_fp16_weights_are_two_bytes_per_parameter():
    m = resolve_model("llama-2-7b")
    assert weight_bytes_total(model("llama-2-7b"), precision("fp16"))[0] == m.params_total * 2


def test_int8_quantised_layers_are_half_of_fp16_and_embeddings_stay_16_bit():
    spec = resolve_model("llama-3.1-8b")
    fp16 = weight_bytes_total(model("llama-3.1-8b"), precision("fp16"))[0]
    int8 = weight_bytes_total(model("llama-3.1-8b"), precision("int8"))[0]
    embedding = spec.params_embedding * 2
    assert int8 - embedding == pytest.approx((fp16 - embedding) / 2)


def test_gguf_q4_0_is_4_5_bits_on_every_weight():
    spec = resolve_model("llama-2-7b")
    assert weight_bytes_total(model("llama-2-7b"), precision("q4_0"))[0] == pytest.approx(
        spec.params_total * 4.5 / 8
    )


@pytest.mark.parametrize(
    ("key", "bytes_per_token"),
    [
        # reference/NOTES.md §3.5: KV cache per token in BF16.
        ("llama-2-7b", 512 * 1024),
        ("llama-3.1-8b", 128 * 1024),
        ("llama-3.1-70b", 320 * 1024),
        ("llama-3.1-405b", 504 * 1024),
        ("mixtral-8x7b", 128 * 1024),
        ("deepseek-v3", 70_272),  # MLA: 61 layers x (512 + 64) x 2 bytes
    ],
)
def test_kv_bytes_per_token_match_published_figures(key, bytes_per_token):
    assert kv_bytes_per_token_all_layers(model(key), workload())[0] == bytes_per_token


def test_tensor_parallel_shards_kv_heads_and_replicates_beyond_them():
    m = model("llama-3.1-8b")  # 8 KV heads
    per_token = kv_bytes_per_token_all_layers(m, workload())[0]
    assert kv_bytes_per_token_all_layers(m, workload(tp=2))[0] == per_token / 2
    assert kv_bytes_per_token_all_layers(m, workload(tp=16))[0] == per_token / 8  # one head per device


def test_sliding_window_layers_cache_at_most_the_window():
    spec = resolve_model("gemma-2-9b")
    assert spec.sliding_window_tokens == 4096 and spec.sliding_window_layers > 0
    m, w = model("gemma-2-9b"), workload()
    per_layer = kv_bytes_per_token_all_layers(m, w)[0] / spec.num_layers
    long = kv_bytes_per_sequence(m, w, np.array([8192.0]))[0]
    full = spec.num_layers - spec.sliding_window_layers
    assert long == per_layer * (full * 8192 + spec.sliding_window_layers * 4096)


def test_prefill_flops_are_two_per_parameter_per_token_plus_attention():
    spec = resolve_model("llama-2-7b")
    n = 512.0
    flops = prefill_flops(model("llama-2-7b"), np.array([n]), np.array([1.0]))[0]
    matmul = 2 * (spec.params_active - spec.params_embedding) * n + 2 * spec.vocab_size * spec.hidden_size
    attention = 2 * spec.num_layers * spec.num_attention_heads * spec.head_dim * n * n
    assert flops == pytest.approx(matmul + attention)


def test_decode_flops_grow_with_context():
    m = model("llama-3.1-8b")
    short, long = decode_flops_per_token(m, np.array([128.0, 8192.0]))
    assert long > short > 2 * 7e9


def test_moe_reads_more_experts_as_the_batch_grows():
    m = model("mixtral-8x7b")  # top-2 of 8
    one, many = expert_fraction_touched(m, np.array([1.0, 64.0]))
    assert one == pytest.approx(2 / 8)
    assert many == pytest.approx(1 - (6 / 8) ** 64)
    assert expert_fraction_touched(model("llama-2-7b"), np.array([1.0]))[0] == 1.0


def _efficiency(alpha: float, link: float) -> EfficiencyColumns:
    one = np.array([1.0])
    return EfficiencyColumns(
        bandwidth_efficiency=one,
        compute_efficiency=one,
        decode_step_overhead_s=one * 0,
        prefill_overhead_s=one * 0,
        layer_overhead_s=one * 0,
        allreduce_latency_s=one * alpha,
        link_efficiency=one * link,
        flops_per_watt=one * 1e13,
        dequant_efficiency=one,
        per_sequence_overhead_s=one * 0,
        expert_overhead_s=one * 0,
    )


@pytest.mark.parametrize("tokens", [1.0, 512.0])
def test_llama_cpp_row_split_syncs_and_moves_every_matmul_and_megatron_tp_two_all_reduces(tokens):
    """Llama 2 7B at TP=2 on an RTX 3090's PCIe link: llama.cpp's row split pays 7 latencies per layer and
    moves (tp-1) x tokens x (7 d + 2 q_dim + 2 kv_dim + 3 ffn) = 78,080 fp32 values per token per layer;
    head-sharded TP two ring all-reduces of tokens x d x 2 bytes."""
    hw = HardwareColumns.from_specs([resolve_hardware("rtx-3090-24gb")])
    link = hw.interconnect_bytes_per_s[0] * 0.5
    e = _efficiency(alpha=50e-6, link=0.5)
    m, w = model("llama-2-7b"), workload(tp=2)
    row = allreduce_time_s(m, hw, FrameworkColumns.from_specs([resolve_framework("llama.cpp")]), w, e, tokens)
    vllm = allreduce_time_s(m, hw, FrameworkColumns.from_specs([resolve_framework("vllm")]), w, e, tokens)
    assert 7 * 4096 + 2 * 4096 + 2 * 4096 + 3 * 11008 == 78080
    assert row[0] == pytest.approx(32 * (7 * 50e-6 + tokens * 78080 * 4 / link))
    assert vllm[0] == pytest.approx(32 * 2 * (50e-6 + 2 * 0.5 * tokens * 4096 * 2 / link))


def test_attention_data_parallel_replicates_dense_weights_and_splits_the_sequences():
    """DeepSeek-R1 on 8 B200s: with 8 attention data-parallel groups each GPU holds the non-expert weights
    whole and 1/8 of the routed experts, and only its own sequences' MLA latent; with plain TP 8 it holds
    1/8 of everything and every sequence's latent (MLA is replicated over TP ranks)."""
    from calculator import resolve_deployment
    from calculator.deployment import deployments_batch
    from calculator.engine import evaluate
    from calculator.memory import kv_bytes_per_token_per_layer, weight_bytes_per_device

    common = {"precision": "fp8", "framework": "tensorrt-llm", "tensor_parallel": 8, "num_gpus": 8}
    tp = resolve_deployment("deepseek-r1", "b200-180gb", **common)
    dp = resolve_deployment("deepseek-r1", "b200-180gb", attention_data_parallel=8, **common)
    batch = deployments_batch([tp, dp])
    m, p, w = batch.model, batch.precision, batch.workload

    weights = weight_bytes_per_device(m, p, w)
    routed = float(m.params_routed_experts[0] * p.weight_bytes[0])
    total = weights[0] * 8
    assert weights[1] == pytest.approx((total - routed) + routed / 8)
    kv = kv_bytes_per_token_per_layer(m, w)
    assert kv[1] == pytest.approx(kv[0] / 8)
    r = evaluate(batch)
    assert r.max_batch_size[1] > r.max_batch_size[0]


def test_attention_data_parallel_must_divide_the_tensor_parallel_gpus():
    from calculator import InputError, resolve_deployment

    with pytest.raises(InputError) as error:
        resolve_deployment(
            "deepseek-r1", "b200-180gb", tensor_parallel=8, num_gpus=8, attention_data_parallel=3
        )
    assert error.value.field == "attention_data_parallel"
