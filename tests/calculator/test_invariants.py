"""Physics guard and invariants over the whole catalog (vectorised) and random inputs (hypothesis), on the
batches production evaluates: `grid.parallel_tensor_batch`, the 7-D builder of the comparison workers
(calculator/planning/partials.py::evaluate_chunk) and the capacity plan, called the way they call it."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calculator.catalog import default_catalog
from calculator.engine import BLOCKERS, ResultColumns, evaluate
from calculator.frameworks import FRAMEWORKS
from calculator.grid import EntityTables, parallel_tensor_batch
from calculator.precisions import PRECISIONS, kv_bytes_per_element

CATALOG = default_catalog()
MODELS = sorted(CATALOG.models)
DENSE_GPUS = sorted(k for k, h in CATALOG.hardware.items() if h.kind in ("datacenter_gpu", "consumer_gpu"))
TABLES = EntityTables(
    models=[CATALOG.models[k] for k in MODELS],
    hardware=list(CATALOG.hardware.values()),
    precisions=list(PRECISIONS.values()),
    frameworks=list(FRAMEWORKS.values()),
)
HARDWARE_INDEX = {h.key: i for i, h in enumerate(TABLES.hardware)}
TP_HEADS = next(bit for bit, (name, _) in BLOCKERS.items() if name == "tp_heads")


def evaluate_block(
    *,
    models: slice = slice(None),
    hardware: slice = slice(None),
    parallel: tuple[tuple[int, int], ...] = ((1, 1),),
    batch_sizes: tuple[int, ...] = (1,),
    prompt_tokens: int = 1024,
    output_tokens: int = 256,
) -> tuple[ResultColumns, tuple[int, ...]]:
    """Evaluate a block of the catalog as evaluate_chunk does; the 7-D shape is (models, hardware,
    precisions, frameworks, (tp, pp) pairs, batch sizes, deployment modes)."""
    batch = parallel_tensor_batch(
        TABLES,
        models=models,
        hardware=hardware,
        tensor_parallel=[tp for tp, _ in parallel],
        pipeline_parallel=[pp for _, pp in parallel],
        batch_sizes=batch_sizes,
        kv_bytes_per_element=[kv_bytes_per_element(None, p) for p in TABLES.precisions],
        deployment_modes=("cloud",),
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        results = evaluate(batch)
    shape = (
        len(range(len(TABLES.models))[models]),
        len(range(len(TABLES.hardware))[hardware]),
        len(TABLES.precisions),
        len(TABLES.frameworks),
        len(parallel),
        len(batch_sizes),
        1,
    )
    return results, shape


def full(results: ResultColumns, name: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(getattr(results, name), shape)


def test_no_estimate_beats_the_roofline_over_the_whole_catalog():
    """Every catalog model x hardware x precision x framework x TP (and a pipelined layout): batch-1 decode
    never exceeds aggregate bandwidth / bytes read per token, and no time or size is negative or NaN."""
    r, shape = evaluate_block(parallel=((1, 1), (2, 1), (8, 1), (2, 2)))
    per_user = full(r, "decode_tokens_per_s_per_user", shape)
    roofline = full(r, "roofline_tokens_per_s_per_user", shape)
    assert per_user.size == int(np.prod(shape)) > 100_000
    assert shape[:4] == (len(CATALOG.models), len(CATALOG.hardware), len(PRECISIONS), len(FRAMEWORKS))
    assert np.all(per_user <= roofline * (1 + 1e-9))
    for name in ("ttft_s", "tpot_s", "e2e_latency_s", "weights_bytes", "kv_cache_bytes"):
        values = full(r, name, shape)
        assert np.all(np.isfinite(values) & (values >= 0)), name


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(range(len(MODELS))),
    hardware=st.sampled_from([HARDWARE_INDEX[k] for k in DENSE_GPUS]),
    prompt=st.integers(1, 4000),
    extra=st.integers(1, 4000),
    output=st.integers(1, 500),
)
def test_more_tokens_never_need_less_memory(model, hardware, prompt, extra, output):
    """A model x hardware block (as a worker's chunk slices it), every precision x framework x TP x batch."""
    block = {
        "models": slice(model, model + 1),
        "hardware": slice(hardware, hardware + 1),
        "parallel": ((1, 1), (2, 1), (4, 1), (8, 1)),
        "batch_sizes": (1, 8, 64),
        "output_tokens": output,
    }
    short, shape = evaluate_block(prompt_tokens=prompt, **block)
    long, _ = evaluate_block(prompt_tokens=prompt + extra, **block)
    for name in ("kv_cache_bytes", "total_bytes"):
        assert np.all(full(long, name, shape) >= full(short, name, shape)), name


def test_more_tensor_parallelism_never_raises_per_gpu_weights():
    """Every catalog model x precision x framework on an H100, TP 1 -> 2 -> 4 -> 8 wherever both degrees
    divide the heads (the tp_heads blocker is clear)."""
    h100 = HARDWARE_INDEX["h100-sxm-80gb"]
    r, shape = evaluate_block(hardware=slice(h100, h100 + 1), parallel=((1, 1), (2, 1), (4, 1), (8, 1)))
    weights = full(r, "weights_bytes", shape)
    valid = (full(r, "blockers", shape).astype(np.int64) & TP_HEADS) == 0
    both = valid[:, :, :, :, :-1] & valid[:, :, :, :, 1:]
    assert np.count_nonzero(both) > 1_000
    doubled, single = weights[:, :, :, :, 1:], weights[:, :, :, :, :-1]
    assert np.all(doubled[both] <= single[both])


@settings(max_examples=15, deadline=None)
@given(
    model=st.sampled_from(range(len(MODELS))),
    hardware=st.sampled_from([HARDWARE_INDEX[k] for k in DENSE_GPUS]),
)
def test_bigger_batches_never_lower_throughput_or_speed_up_each_stream(model, hardware):
    """Batch 1 -> 2 -> ... -> 128 for every precision x framework x TP of a model on a dense GPU."""
    r, shape = evaluate_block(
        models=slice(model, model + 1),
        hardware=slice(hardware, hardware + 1),
        parallel=((1, 1), (2, 1), (4, 1), (8, 1)),
        batch_sizes=tuple(2**i for i in range(8)),
    )
    tpot = full(r, "tpot_s", shape)
    throughput = full(r, "output_tokens_per_s", shape)
    assert np.all(tpot[..., 1:, :] >= tpot[..., :-1, :])
    assert np.all(throughput[..., 1:, :] >= throughput[..., :-1, :] * 0.999)
