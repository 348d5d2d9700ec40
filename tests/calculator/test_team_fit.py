"""calculator.team_fit: which parameters a team's rows may move, how its rows are split for the error band,
and that a run's rows are predicted together in every fold."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from calculator.calibration import default_calibration
from calculator.team_fit import _folds, cross_validate, params_for, predict_items, usable_items

SHARED = Path(__file__).resolve().parents[3] / "shared" / "calibration"


def _rows(**match: str) -> list[dict[str, str]]:
    with open(SHARED / "serving.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if all(r[k] == v for k, v in match.items())]


def test_the_parameters_a_cell_may_move_are_those_its_metrics_measure():
    items, _ = usable_items(_rows(source="gpustack-perflab-qwen3-14b_h100"))
    decode_only = [item for item in items if item[0]["metric"] == "tpot_ms"]
    prefill_only = [item for item in items if item[0]["metric"] == "ttft_ms"]
    assert params_for(decode_only) == (
        "bandwidth_efficiency",
        "compute_efficiency",
        "decode_step_overhead_s",
        "per_sequence_overhead_s",
    )
    assert params_for(prefill_only) == ("compute_efficiency", "prefill_overhead_s")
    tensor_parallel = list(usable_items(_rows(source="gpustack-perflab-qwen3-235b-a22b_h100"))[0])
    assert "allreduce_latency_s" in params_for(tensor_parallel)


def test_rows_from_several_files_are_held_out_file_by_file_one_file_in_k_folds():
    items, _ = usable_items(_rows(source="gpustack-perflab-qwen3-14b_h100"))
    folds, scheme = _folds(items, lambda row: row["source"])
    assert scheme == "5-fold" and len(folds) == 5
    assert np.array_equal(np.sum(folds, axis=0), np.ones(len(items)))  # each row held out exactly once
    folds, scheme = _folds(items, lambda row: str(row["metric"].startswith("tt")))  # two groups
    assert scheme == "leave-one-group-out" and len(folds) == 2
    # More groups than folds: whole groups dealt into 5 folds (a fit per fold bounds the time).
    folds, scheme = _folds(items, lambda row: row["metric"] + row["concurrency"])
    assert scheme.startswith("5 folds of whole groups") and len(folds) == 5
    assert np.array_equal(np.sum(folds, axis=0), np.ones(len(items)))
    for fold in folds:
        held = {items[i][0]["metric"] + items[i][0]["concurrency"] for i in np.flatnonzero(fold)}
        kept = {items[i][0]["metric"] + items[i][0]["concurrency"] for i in np.flatnonzero(~fold)}
        assert not held & kept  # a group is never split across folds


def test_a_fold_without_enough_rows_to_fit_predicts_as_the_base_with_the_runs_rows_together():
    """Folds of two rows fit nothing (MIN_ROWS is 3): the held-out predictions are the base calibration's,
    computed with every row of a run present (a burst's notes sit on one of its rows)."""
    items, _ = usable_items(_rows(source="gpustack-perflab-qwen3-14b_h100")[:4])
    base = default_calibration()
    first_two = {items[0][0]["id"], items[1][0]["id"]}
    held_out, scheme = cross_validate(items, base, lambda row: str(row["id"] in first_two))
    assert scheme == "leave-one-group-out"
    assert np.allclose(held_out, predict_items(items, base))


def test_memory_rows_refit_the_activation_peak_where_three_vllm_logs_give_it():
    from calculator.team_fit import fit_team_memory

    with open(SHARED / "memory.csv", newline="") as f:
        memory = list(csv.DictReader(f))
    peaks = [r for r in memory if r["metric"] == "activation_peak_gib" and r["framework"] == "vllm"][:6]
    weights = [r for r in memory if r["metric"] == "weights_gib"][:4]
    base = default_calibration()
    params, report = fit_team_memory(weights, base)
    assert params == base.memory and report["fitted"] is False  # no peaks: the shipped parameters
    assert report["metrics"]["weights_gib"]["shipped"] == report["metrics"]["weights_gib"]["team"]
    params, report = fit_team_memory(peaks + weights, base)
    assert report["fitted"] is True and report["rows_used"] == 10
    assert params != base.memory
    assert set(report["metrics"]) == {"activation_peak_gib", "weights_gib"}
    assert params["logits_factor"] > 0 and report["parameters"] == params
