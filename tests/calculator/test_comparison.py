"""Bulk comparisons: validation, chunking, ranking, Pareto front, constraint counts, agreement with
estimate."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calculator import estimate, resolve_deployment
from calculator.catalog import default_catalog
from calculator.frameworks import FRAMEWORKS
from calculator.planning import (
    OBJECTIVE_TABLE,
    OBJECTIVES,
    REASONS,
    ComparisonError,
    PartialResult,
    ResultRow,
    balanced_index,
    evaluate_chunk,
    merge_partials,
    pareto_indices,
    plan_chunks,
    rank_value,
    resolve_spec,
    run_comparison,
)
from calculator.planning.objectives import SIZED_OBJECTIVES
from calculator.precisions import PRECISIONS

SMALL = {
    "models": ["llama-3.1-8b", "qwen3-30b-a3b", "gemma-2-9b"],
    "hardware": ["h100-sxm-80gb", "rtx-4090-24gb", "l40s-48gb"],
    "precisions": ["fp32", "fp16", "fp8", "q4_k_m"],
    "frameworks": ["vllm", "llama.cpp", "tensorrt-llm"],
    "tensor_parallel": [1, 2],
    "num_gpus": [1, 2, 4],
    "batch_sizes": ["auto", 4],
    "deployment_modes": ["cloud", "local", "edge"],
    "prompt_tokens": 700,
    "output_tokens": 300,
    "requests_per_hour": 5000,
}
EVERYTHING = 10**6  # a top_k that keeps every ranked row of the small grids


def small(**changes):
    """SMALL with changes; a per-deployment objective (sized comparison) lets the serving model pick the
    batch."""
    if changes.get("objective") in SIZED_OBJECTIVES:
        changes = {"batch_sizes": ["auto"], **changes}
    return resolve_spec({**SMALL, **changes})


def without_chunk_count(result):
    data = result.to_dict()
    data.pop("chunks")
    return data


def dominates(a: ResultRow, b: ResultRow) -> bool:
    le = (
        a.cost_per_million_tokens_usd <= b.cost_per_million_tokens_usd
        and a.tpot_ms <= b.tpot_ms
        and a.output_tokens_per_s >= b.output_tokens_per_s
    )
    lt = (
        a.cost_per_million_tokens_usd < b.cost_per_million_tokens_usd
        or a.tpot_ms < b.tpot_ms
        or a.output_tokens_per_s > b.output_tokens_per_s
    )
    return le and lt


# ------------------------------------------------------------------------------------------- validation


def test_unknown_names_raise_with_detail_per_field():
    with pytest.raises(ComparisonError) as error:
        resolve_spec(
            {
                **SMALL,
                "models": ["llama-3.1-8b", "llama-99b"],
                "hardware": ["h100-sxm-80gb", "tpu-v9"],
                "precisions": ["fp7"],
                "frameworks": ["vllm", "fastllm"],
                "deployment_modes": ["orbit"],
            }
        )
    assert isinstance(error.value, ValueError)
    assert error.value.detail == {
        "models": ["llama-99b"],
        "hardware": ["tpu-v9"],
        "precisions": ["fp7"],
        "frameworks": ["fastllm"],
        "deployment_modes": ["orbit"],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tensor_parallel", [0]),
        ("num_gpus", [-1]),
        ("batch_sizes", [1.5]),
        ("prompt_tokens", 0),
        ("output_tokens", -3),
        ("requests_per_hour", -1),
        ("max_tpot_ms", 0),
        ("min_output_tokens_per_s", float("nan")),
        ("top_k", 0),
        ("objective", "vibes"),
    ],
)
def test_invalid_numbers_name_their_field(field, value):
    with pytest.raises(ComparisonError) as error:
        resolve_spec({**SMALL, field: value})
    assert list(error.value.detail) == [field]


def test_unknown_fields_are_rejected():
    with pytest.raises(ComparisonError) as error:
        resolve_spec({**SMALL, "max_tpot": 20})
    assert error.value.detail == {"unknown_fields": ["max_tpot"]}


def test_over_limit_grid_names_its_size():
    raw = {"models": "*", "hardware": "*", "precisions": "*", "frameworks": "*", "tensor_parallel": [1, 2]}
    size = resolve_spec(raw).size
    with pytest.raises(ComparisonError, match=f"{size:,}") as error:
        resolve_spec(raw, max_configurations=size - 1)
    assert error.value.detail == {"size": size, "max_configurations": size - 1}


def test_star_expands_to_the_catalog_and_names_resolve_to_keys():
    catalog = default_catalog()
    spec = resolve_spec(
        {"models": ["*"], "hardware": "*", "precisions": ["*"], "frameworks": ["*"], "deployment_modes": "*"},
        max_configurations=100_000_000,  # the whole catalog in every mode is over the API's limit
    )
    assert spec.models == tuple(catalog.models)
    assert spec.hardware == tuple(catalog.hardware)
    assert spec.precisions == tuple(PRECISIONS)
    # Legacy builds (kept to model old measurements) are named explicitly, never swept by "*".
    assert spec.frameworks == tuple(k for k in FRAMEWORKS if not FRAMEWORKS[k].legacy)
    assert "llama.cpp-2023" in FRAMEWORKS and "llama.cpp-2023" not in spec.frameworks
    assert spec.deployment_modes == ("local", "cloud", "edge")
    assert (
        spec.size == len(catalog.models) * len(catalog.hardware) * len(PRECISIONS) * len(spec.frameworks) * 3
    )
    legacy = resolve_spec({**SMALL, "frameworks": ["llama.cpp-legacy"]})
    assert legacy.frameworks == ("llama.cpp-2023",)
    alias = resolve_spec({**SMALL, "models": ["LLaMA 3.1 8B", "llama-3.1-8b"], "batch_sizes": "auto"})
    assert alias.models == ("llama-3.1-8b",)
    assert alias.batch_sizes == (0,)


def test_spec_round_trips_through_json():
    spec = small(max_tpot_ms=40, objective="balanced")
    assert resolve_spec(json.loads(json.dumps(spec.to_dict()))) == spec


# --------------------------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("target", [1, 50, 1_000, 250_000])
def test_chunks_cover_the_grid_exactly_once(target):
    spec = small()
    chunks = plan_chunks(spec, target)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert sum(c.size(spec) for c in chunks) == spec.size
    covered = {(m, h) for c in chunks for m in range(c.model_start, c.model_stop)
               for h in range(c.hardware_start, c.hardware_stop)}  # fmt: skip
    assert len(covered) == len(spec.models) * len(spec.hardware)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_chunked_equals_unchunked_whatever_the_order(objective):
    spec = small(objective=objective, top_k=25, max_ttft_ms=3000)
    whole = run_comparison(spec, target=10**9)
    assert whole.chunks == 1
    chunks = plan_chunks(spec, 40)
    assert len(chunks) > 5
    partials = [evaluate_chunk(spec, c) for c in chunks]
    # through JSON, as a Celery result backend stores them, shuffled, with one chunk delivered twice
    stored = [PartialResult.from_dict(json.loads(json.dumps(p.to_dict()))) for p in partials]
    shuffled = [*random.Random(7).sample(stored, len(stored)), stored[3]]
    merged = merge_partials(spec, shuffled)
    assert merged.chunks == len(chunks)
    assert without_chunk_count(merged) == without_chunk_count(whole)
    assert merged.top == whole.top


def test_merge_rejects_partials_of_another_spec():
    spec = small()
    other = small(output_tokens=301)
    with pytest.raises(ValueError, match="another comparison"):
        merge_partials(spec, [evaluate_chunk(other, plan_chunks(other)[0])])


def test_partial_merge_reports_incomplete():
    spec = small()
    chunks = plan_chunks(spec, 40)
    result = merge_partials(spec, [evaluate_chunk(spec, chunks[0])])
    assert not result.complete
    assert result.evaluated == chunks[0].size(spec)


# ---------------------------------------------------------------------------------------------- ranking


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_ranking_order_per_objective(objective):
    spec = small(objective=objective, top_k=EVERYTHING)
    result = run_comparison(spec, target=200)
    rows = result.top
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
    keys = [(rank_value(r, objective), r.key) for r in rows]
    assert keys == sorted(keys)
    scores = [r.score for r in rows]
    if OBJECTIVE_TABLE[objective].sign > 0:
        assert scores == sorted(scores)
    else:
        assert scores == sorted(scores, reverse=True)
    ranked = result.feasible - (result.unpriced if objective in ("cost", "balanced") else 0)
    assert len(rows) == ranked > 0
    assert len({r.key for r in rows}) == len(rows)
    assert result.best[objective].key == rows[0].key
    top5 = run_comparison(small(objective=objective, top_k=5), target=200).top
    assert [r.key for r in top5] == [r.key for r in rows[:5]]


def test_balanced_score_is_the_geometric_mean_of_normalised_metrics():
    # reference point: $1 per 1M tokens, 50 ms TPOT, 1000 tokens/s -> 1.0
    assert balanced_index(1.0, 50.0, 1000.0) == pytest.approx(1.0)
    assert balanced_index(0.5, 25.0, 2000.0) == pytest.approx(2.0)
    assert balanced_index(math.inf, 10.0, 10.0) == 0.0
    result = run_comparison(small(objective="balanced", top_k=10))
    for row in result.top:
        assert row.score == pytest.approx(
            balanced_index(row.cost_per_million_tokens_usd, row.tpot_ms, row.output_tokens_per_s)
        )


def test_best_per_hardware_and_model_are_the_first_ranked_rows_of_each():
    spec = small(objective="latency", top_k=EVERYTHING)
    result = run_comparison(spec, target=100)
    for group, best in (("hardware", result.best_by_hardware), ("model", result.best_by_model)):
        first = {}
        for row in result.top:
            first.setdefault(getattr(row, group), row)
        assert {k: v.key for k, v in best.items()} == {k: v.key for k, v in first.items()}
    assert result.best["cost"].cost_per_million_tokens_usd == min(
        r.cost_per_million_tokens_usd for r in result.top
    )
    assert result.best["throughput"].output_tokens_per_s == max(r.output_tokens_per_s for r in result.top)


# ----------------------------------------------------------------------------------------------- pareto


def test_pareto_front_matches_brute_force():
    spec = small(objective="cost", top_k=EVERYTHING)
    result = run_comparison(spec, target=100)
    rows = result.top  # every priced feasible row under the cost objective
    assert len(rows) == result.feasible - result.unpriced
    front = {a.key for a in rows if not any(dominates(b, a) for b in rows)}
    assert {r.key for r in result.pareto} == front
    assert all(r.is_pareto == (r.key in front) for r in rows)
    assert all(r.is_pareto for r in result.pareto)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=0, max_size=80),
    st.integers(1, 9),
)
def test_pareto_indices_match_brute_force_with_ties(points, block):
    c, t, s = (np.array([p[i] for p in points], dtype=float) for i in range(3))
    expected = [
        i
        for i in range(len(points))
        if not any(
            c[j] <= c[i] and t[j] <= t[i] and s[j] >= s[i] and (c[j] < c[i] or t[j] < t[i] or s[j] > s[i])
            for j in range(len(points))
        )
    ]
    assert pareto_indices(c, t, s, block=block).tolist() == expected


# ------------------------------------------------------------------------------------------ constraints


def test_constraints_are_counted_under_their_first_reason():
    limits = {"max_ttft_ms": 900.0, "max_tpot_ms": 30.0, "max_monthly_cost_usd": 20_000.0,
              "min_output_tokens_per_s": 500.0}  # fmt: skip
    free = run_comparison(small(objective="latency", top_k=EVERYTHING), target=100)
    constrained = run_comparison(small(objective="latency", top_k=EVERYTHING, **limits), target=100)
    assert free.evaluated == constrained.evaluated == free.spec.size
    for result in (free, constrained):
        assert result.feasible + sum(result.infeasible.values()) == result.evaluated
        assert list(result.infeasible) == list(REASONS)
    runnable = free.top  # every configuration the engine can run
    assert len(runnable) == free.feasible
    expected = dict.fromkeys(("ttft", "tpot", "monthly_cost", "throughput"), 0)
    passing = 0
    for row in runnable:
        if row.ttft_ms > limits["max_ttft_ms"]:
            expected["ttft"] += 1
        elif row.tpot_ms > limits["max_tpot_ms"]:
            expected["tpot"] += 1
        elif not row.monthly_cost_usd <= limits["max_monthly_cost_usd"]:  # unpriced rows fail too
            expected["monthly_cost"] += 1
        elif row.output_tokens_per_s < limits["min_output_tokens_per_s"]:
            expected["throughput"] += 1
        else:
            passing += 1
    assert all(v > 0 for v in expected.values())
    assert {k: constrained.infeasible[k] for k in expected} == expected
    assert constrained.feasible == passing
    engine = [r for r in REASONS if r not in expected]
    assert {k: constrained.infeasible[k] for k in engine} == {k: free.infeasible[k] for k in engine}


def test_gpu_count_pairs_are_skipped_and_counted():
    spec = small(tensor_parallel=[1, 2, 4], num_gpus=[1, 2])  # (2, 1), (4, 1), (4, 2) are invalid
    result = run_comparison(spec, target=100)
    assert result.infeasible["gpu_count"] == spec.size // 2
    assert all(r.num_gpus % r.tensor_parallel == 0 for r in result.top)
    assert all(r.pipeline_parallel == r.num_gpus // r.tensor_parallel for r in result.top)


def test_recommendations_explain_an_unmet_constraint():
    result = run_comparison(small(max_tpot_ms=0.01), target=100)
    assert result.feasible == 0
    assert not result.top and not result.pareto and not result.best
    fastest = min(result.infeasible.items(), key=lambda kv: -kv[1])[0]
    text = " ".join(result.recommendations)
    assert "No configuration meets max_tpot_ms=0.01: the fastest is" in text
    assert f"Most common reason a configuration is infeasible: {fastest}" in text
    ok = run_comparison(small(), target=100)
    assert any(line.startswith("Cheapest feasible: ") and "per 1M output tokens" in line
               for line in ok.recommendations)  # fmt: skip


# ----------------------------------------------------------------------------------------- vs estimate


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o not in SIZED_OBJECTIVES])
def test_top_rows_agree_with_estimate(objective):
    spec = small(objective=objective, top_k=8)
    result = run_comparison(spec, target=100)
    rows = list(result.top) + list(result.pareto[:4]) + [result.best_by_hardware["rtx-4090-24gb"]]
    fp32 = run_comparison(small(objective=objective, precisions=["fp32"], top_k=2))
    for row in rows + list(fp32.top):
        est = estimate(
            row.model,
            row.hardware,
            precision=row.precision,
            framework=row.framework,
            tensor_parallel=row.tensor_parallel,
            num_gpus=row.num_gpus,
            pipeline_parallel=row.pipeline_parallel,
            batch_size=row.requested_batch_size,
            prompt_tokens=spec.prompt_tokens,
            output_tokens=spec.output_tokens,
            deployment_mode=row.deployment_mode,
            requests_per_hour=spec.requests_per_hour,
            with_recommendations=False,
        )
        assert est.feasible
        assert est.performance.batch_size == row.batch_size
        assert row.tpot_ms == pytest.approx(est.performance.tpot_s * 1e3, rel=1e-9)
        assert row.ttft_ms == pytest.approx(est.performance.ttft_s * 1e3, rel=1e-9)
        assert row.output_tokens_per_s == pytest.approx(est.performance.output_tokens_per_s, rel=1e-9)
        if row.priced:
            assert row.cost_per_million_tokens_usd == pytest.approx(
                est.cost.cost_per_million_tokens_usd, rel=1e-9
            )
            assert row.monthly_cost_usd == pytest.approx(est.cost.monthly_usd, rel=1e-9)
            for name in (
                "prefill_cost_per_million_input_tokens_usd",
                "decode_cost_per_million_output_tokens_usd",
                "blended_cost_per_million_tokens_usd",
            ):
                assert getattr(row, name) == pytest.approx(getattr(est.cost, name), rel=1e-9)
        else:  # estimate reports $0 and says why; the comparison keeps such rows out of cost rankings
            assert est.cost.price_source.startswith("no ")
            assert row.monthly_cost_usd == math.inf
        assert row.memory_utilization == pytest.approx(est.memory.utilization, rel=1e-9)


# ------------------------------------------------------------------------------------------------ scale


def test_a_million_configurations_are_all_evaluated():
    spec = resolve_spec(
        {
            "models": "*",
            "hardware": "*",
            "precisions": "*",
            "frameworks": "*",
            "tensor_parallel": [1, 2],
            "batch_sizes": ["auto"],
            "objective": "balanced",
            "max_tpot_ms": 100,
        }
    )
    assert spec.size >= 1_000_000
    result = run_comparison(spec)
    assert result.complete
    assert result.evaluated == spec.size
    assert result.feasible + sum(result.infeasible.values()) == spec.size
    assert 0 < len(result.top) <= spec.top_k
    assert result.pareto and all(r.is_pareto for r in result.pareto)


# ------------------------------------------------------------------------------- at the load they carry


def test_a_sized_comparison_agrees_with_sizing_one_configuration():
    from calculator.planning.sizing import size_deployment
    from calculator.planning.slo import resolve_slo, resolve_traffic

    spec = resolve_spec(
        {
            "models": ["llama-3.1-70b"],
            "hardware": ["h100-sxm-80gb", "a100-sxm-80gb"],
            "precisions": ["fp8", "fp16"],
            "frameworks": ["vllm"],
            "tensor_parallel": [2, 4, 8],
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "requests_per_hour": 36_000,
            "slo": {"ttft_p99_ms": 1000},
            "objective": "cost",
            "top_k": 50,
        }
    )
    assert spec.sized
    result = run_comparison(spec, target=10)
    assert result.top and result.feasible + sum(result.infeasible.values()) == result.evaluated
    for row in result.top:
        d = resolve_deployment(
            row.model,
            row.hardware,
            precision=row.precision,
            framework=row.framework,
            tensor_parallel=row.tensor_parallel,
            prompt_tokens=1000,
            output_tokens=200,
        )
        s = size_deployment(d, resolve_slo({"ttft_p99_ms": 1000}), resolve_traffic(requests_per_hour=36_000))
        # The bulk path interpolates the load curve between 10 exact points and searches it in 11 steps:
        # a configuration needing many replicas may land one away from the exact sizing.
        assert abs(row.replicas - s.replicas) <= max(1, 0.02 * s.replicas)
        assert row.num_gpus == row.replicas * row.tensor_parallel
        assert row.monthly_cost_usd == pytest.approx(s.monthly_usd / s.replicas * row.replicas, rel=1e-9)
        assert row.ttft_p99_ms == pytest.approx(s.ttft_p99_ms, rel=0.02)  # coarser capacity grid in bulk
        assert row.ttft_p99_ms <= 1000 * (1 + 1e-6)
        assert row.output_tokens_per_s >= 10 * 200 * (1 - 1e-9)  # what the replicas serve within the SLO
        per_million = s.cost_per_million_output_tokens_usd / s.replicas * row.replicas
        assert row.cost_per_million_tokens_usd == pytest.approx(per_million)
        # The split at the row's own operating point adds up to its cost per request.
        per_request = row.cost_per_million_tokens_usd * 200 / 1e6
        both = (
            row.prefill_cost_per_million_input_tokens_usd * 1000
            + row.decode_cost_per_million_output_tokens_usd * 200
        ) / 1e6
        assert both == pytest.approx(per_request, rel=1e-9)
        assert row.blended_cost_per_million_tokens_usd == pytest.approx(per_request / 1200 * 1e6, rel=1e-9)
    monthly = [r.monthly_cost_usd for r in result.top]
    assert monthly == sorted(monthly)


def test_a_gpu_budget_ranks_the_layouts_of_the_budget():
    spec = resolve_spec(
        {
            "models": ["llama-3.1-70b"],
            "hardware": ["h100-sxm-80gb"],
            "precisions": ["fp8"],
            "frameworks": ["vllm"],
            "tensor_parallel": [1, 2, 4, 8],
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "max_total_gpus": 8,
            "objective": "throughput",
        }
    )
    rows = run_comparison(spec).top
    layouts = {(r.tensor_parallel, r.replicas): r for r in rows}
    assert rows[0].replicas > 1 and rows[0].num_gpus == 8
    assert layouts[(2, 4)].output_tokens_per_s > layouts[(8, 1)].output_tokens_per_s
    assert all(r.num_gpus == 8 and r.utilization <= 0.9 + 1e-9 for r in rows)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slo": {"ttft_p99_ms": 500}}, "batch_sizes"),
        ({"slo": {"ttft_p99_ms": -5}, "batch_sizes": ["auto"]}, "slo.ttft_p99_ms"),
        ({"max_total_gpus": 8, "batch_sizes": ["auto"]}, "num_gpus"),
        ({"objective": "gpus", "requests_per_hour": 0, "batch_sizes": ["auto"]}, "objective"),
        ({"peak_to_mean": 0.5}, "peak_to_mean"),
        ({"requests_per_s": 2, "requests_per_hour": 5000}, "requests_per_s"),
    ],
)
def test_sized_comparison_errors_name_the_field(changes, field):
    with pytest.raises(ComparisonError) as error:
        resolve_spec({**SMALL, **changes})
    assert field in error.value.detail


def test_a_framework_release_runs_its_engine_era_in_a_comparison():
    spec = resolve_spec({**SMALL, "frameworks": ["vllm", "sglang"], "framework_versions": {"vLLM": "0.5.4"}})
    assert spec.frameworks == ("vllm-v0", "sglang")
    assert spec.framework_versions == {"vllm": "0.5.4"}
    assert resolve_spec(json.loads(json.dumps(spec.to_dict()))) == spec
    newest = resolve_spec({**SMALL, "frameworks": ["vllm"], "framework_versions": {"vllm": "0.19.0"}})
    assert newest.frameworks == ("vllm",)
    result = run_comparison(spec)
    assert {row.framework for row in result.top} <= {"vllm-v0", "sglang"}


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ({"warp": "1.0"}, "warp"),
        ({"tensorrt-llm": "0.17"}, "not among the grid's frameworks"),
        ("0.5.4", "a mapping of framework to release"),
        ({"vllm": ""}, "a mapping of framework to release"),
    ],
)
def test_a_bad_framework_release_names_the_field(versions, message):
    with pytest.raises(ComparisonError) as error:
        resolve_spec({**SMALL, "frameworks": ["vllm"], "framework_versions": versions})
    assert message in str(error.value.detail["framework_versions"])
