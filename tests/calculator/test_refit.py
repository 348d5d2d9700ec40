"""Refitting one family on newer rows: which rows it uses, and that nothing else moves."""

from __future__ import annotations

import numpy as np

from calculator.calibration import default_calibration
from calculator.catalog import default_catalog
from calculator.refit import closed_loop_latency, fit_family
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


def test_closed_loop_latency_rows_are_not_fitted_but_throughput_and_tpot_are():
    assert closed_loop_latency({**ROW, "metric": "ttft_ms"})
    assert closed_loop_latency({**ROW, "metric": "e2e_latency_p99_s"})
    assert not closed_loop_latency({**ROW, "metric": "tpot_ms"})
    assert not closed_loop_latency({**ROW, "metric": "ttft_ms", "concurrency": "", "request_rate": "4"})


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
        return float(np.median(np.abs(np.log(values / measured))))

    assert error(fitted) <= error(calibration)
