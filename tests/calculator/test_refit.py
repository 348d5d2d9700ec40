"""Refitting one family on newer rows: which rows it uses, and that nothing else moves."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np

from calculator.calibration import default_calibration
from calculator.catalog import default_catalog
from calculator.refit import family_items, fit_family
from calculator.validate import _performance_deployment, predict_performance, prepare_performance

ROW = {
    "id": "x1",
    "model": "llama-3.1-8b",
    "hardware": "h100-sxm-80gb",
    "num_gpus": "1",
    "precision": "fp8",
    "framework": "vllm",
    "framework_version": "0.19.0",
    "tp": "1",
    "pp": "1",
    "input_tokens": "1000",
    "output_tokens": "200",
    "batch_size": "",
    "concurrency": "16",
    "request_rate": "",
    "scenario": "online_rate",
    "statistic": "mean",
    "source": "test",
    "notes": "",
    "lengths": "",
}


def test_closed_loop_ttft_and_latency_rows_are_fitted_beside_throughput_and_tpot(tmp_path):
    """The serving model holds a closed loop's first wave and its steady prefill queue, so its TTFT and
    end-to-end rows are what measure a modern engine's prefill: the refit uses them."""
    path = tmp_path / "rows.csv"
    metrics = ("ttft_ms", "e2e_latency_p99_s", "tpot_ms")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*ROW, "metric", "value", "unit"])
        writer.writeheader()
        for i, metric in enumerate(metrics):
            writer.writerow({**ROW, "id": f"c{i}", "metric": metric, "value": "2.5", "unit": ""})
    assert sorted(row["metric"] for row, _ in family_items([str(path)], "vllm")) == sorted(metrics)
    assert family_items([str(path)], "sglang") == []


def test_fit_family_moves_only_that_familys_entries_towards_its_rows():
    catalog = default_catalog()
    calibration = default_calibration()
    rows = [
        {**ROW, "id": f"r{i}", "metric": "tpot_ms", "concurrency": str(c), "value": str(v)}
        for i, (c, v) in enumerate([(1, 4.0), (4, 4.5), (16, 5.5), (64, 8.0)])
    ]
    items = [(row, _performance_deployment(row, catalog)) for row in rows]
    fitted = fit_family(items, calibration, "vllm", sweeps=1)
    changed = {k for k in fitted.entries if fitted.entries.get(k) != calibration.entries.get(k)}
    assert changed and all(k.startswith("vllm/") for k in changed)
    measured = np.array([float(r["value"]) for r in rows])

    def error(cal):
        values, _ = predict_performance(prepare_performance(items, cal), cal)
        return float(np.mean(np.abs(np.log(values / measured))))

    # The fit starts from what the lookup gives without the family's entries and never ends above it.
    start = replace(
        calibration, entries={k: v for k, v in calibration.entries.items() if not k.startswith("vllm/")}
    )
    assert error(fitted) <= error(start) * (1 + 1e-9)
