"""Physics guard and invariants over the whole catalog (vectorised) and random inputs (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calculator import estimate
from calculator.catalog import default_catalog
from calculator.engine import evaluate
from calculator.frameworks import FRAMEWORKS
from calculator.grid import EntityTables, Grid, tensor_batch
from calculator.precisions import PRECISIONS

CATALOG = default_catalog()
MODELS = sorted(CATALOG.models)
DENSE_GPUS = sorted(k for k, h in CATALOG.hardware.items() if h.kind in ("datacenter_gpu", "consumer_gpu"))


def test_no_estimate_beats_the_roofline_over_the_whole_catalog():
    """Every catalog model x hardware x precision x framework x TP: batch-1 decode never exceeds aggregate
    bandwidth / bytes read per token, and no time is negative or NaN."""
    tables = EntityTables(
        models=list(CATALOG.models.values()),
        hardware=list(CATALOG.hardware.values()),
        precisions=list(PRECISIONS.values()),
        frameworks=list(FRAMEWORKS.values()),
    )
    grid = Grid(
        tables=tables, tensor_parallel=(1, 2, 8), batch_sizes=(1,), prompt_tokens=1024, output_tokens=256
    )
    r = evaluate(tensor_batch(grid))
    shape = grid.shape
    per_user = np.broadcast_to(r.decode_tokens_per_s_per_user, shape)
    roofline = np.broadcast_to(r.roofline_tokens_per_s_per_user, shape)
    assert per_user.size == len(grid) > 100_000
    assert np.all(per_user <= roofline * (1 + 1e-9))
    for name in ("ttft_s", "tpot_s", "e2e_latency_s", "weights_bytes", "kv_cache_bytes"):
        values = np.broadcast_to(getattr(r, name), shape)
        assert np.all(np.isfinite(values) & (values >= 0)), name


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    hardware=st.sampled_from(DENSE_GPUS),
    prompt=st.integers(1, 4000),
    extra=st.integers(1, 4000),
    output=st.integers(1, 500),
)
def test_more_tokens_never_need_less_memory(model, hardware, prompt, extra, output):
    short = estimate(model, hardware, prompt_tokens=prompt, output_tokens=output, with_recommendations=False)
    long = estimate(
        model, hardware, prompt_tokens=prompt + extra, output_tokens=output, with_recommendations=False
    )
    assert long.memory.kv_cache_bytes >= short.memory.kv_cache_bytes
    assert long.memory.total_bytes >= short.memory.total_bytes


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4, 8]))
def test_more_tensor_parallelism_never_raises_per_gpu_weights(model, tp):
    spec = CATALOG.models[model]
    if spec.num_attention_heads % (2 * tp) or (spec.num_kv_heads % (2 * tp) and (2 * tp) % spec.num_kv_heads):
        return
    one = estimate(model, "h100-sxm-80gb", tensor_parallel=tp, with_recommendations=False)
    two = estimate(model, "h100-sxm-80gb", tensor_parallel=2 * tp, with_recommendations=False)
    assert two.memory.weights_bytes <= one.memory.weights_bytes


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), hardware=st.sampled_from(DENSE_GPUS), batch=st.integers(1, 64))
def test_bigger_batches_never_lower_throughput_or_speed_up_each_stream(model, hardware, batch):
    a = estimate(model, hardware, batch_size=batch, with_recommendations=False)
    b = estimate(model, hardware, batch_size=batch * 2, with_recommendations=False)
    assert b.performance.tpot_s >= a.performance.tpot_s
    assert b.performance.output_tokens_per_s >= a.performance.output_tokens_per_s * 0.999
