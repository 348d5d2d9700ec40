"""Calibration: fitting lowers the error on the rows it fits, cross-validation predicts held-out rows,
a user's own calibration file is used instead of the shipped one, and the shipped one meets its targets."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calculator import estimate
from calculator.calibrate import FITTED, cross_validate, fit_group, fit_performance
from calculator.calibration import FAMILIES, FAMILY_PRIORS, Calibration, load_calibration
from calculator.catalog import default_catalog
from calculator.cli_validate import read_rows
from calculator.frameworks import FRAMEWORKS, resolve_framework
from calculator.validate import _performance_deployment, predict_performance, prepare_performance

ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = ROOT.parent / "shared" / "calibration" / "measurements.csv"


def items_for(source: str) -> list:
    rows = [r for r in read_rows(MEASUREMENTS) if r["source"] == source]
    return [(r, _performance_deployment(r, default_catalog())) for r in rows]


def median_ape(items: list, calibration: Calibration) -> float:
    prep = prepare_performance(items, calibration)
    predicted, _ = predict_performance(prep, calibration)
    return float(np.median(np.abs(predicted - prep.measured) / prep.measured))


def test_fitting_lowers_the_error_of_the_rows_it_fits():
    items = items_for("trtllm-perf-v0.9")
    before = median_ape(items, Calibration())
    fitted = fit_performance(items, sweeps=1)
    after = median_ape(items, fitted)
    assert after < before
    assert "*/*" in fitted.entries
    assert all(0 < e.get("bandwidth_efficiency", 0.5) <= 0.95 for e in fitted.entries.values())


def test_cross_validation_predicts_each_held_out_group():
    items = items_for("exllamav2-readme") + items_for("mlc-llm-perf-bench")
    held_out = cross_validate(items, lambda r: r["hardware"], sweeps=1, memory={}, workers=1)
    assert set(held_out) == {r["id"] for r, _ in items}
    assert all(np.isfinite(p) and p > 0 for _, p in held_out.values())


def test_a_users_calibration_file_replaces_the_shipped_one(tmp_path):
    slow = Calibration(entries={"*/*": {"bandwidth_efficiency": 0.1, "compute_efficiency": 0.1}})
    path = tmp_path / "mine.json"
    path.write_text(slow.to_json())
    mine = load_calibration(path)
    shipped = estimate("llama-3.1-8b", "h100-sxm-80gb", with_recommendations=False)
    own = estimate("llama-3.1-8b", "h100-sxm-80gb", calibration=mine, with_recommendations=False)
    assert own.performance.tpot_s > shipped.performance.tpot_s * 2
    out = subprocess.run(
        [sys.executable, "-m", "calculator", "estimate", "--json", "--calibration", str(path)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["performance"]["tpot_s"] == pytest.approx(
        estimate(
            "llama-3.1-8b", "h100-sxm-80gb", calibration=mine, with_recommendations=False
        ).performance.tpot_s
    )


def test_unknown_calibration_parameter_is_rejected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"entries": {"*/*": {"warp_speed": 9}}}))
    with pytest.raises(ValueError, match="warp_speed"):
        load_calibration(path)


def test_shipped_calibration_carries_cross_validated_error_bands():
    shipped = load_calibration()
    assert shipped.error_bands, "calibrate writes leave-one-source-out error bands"
    est = estimate(
        "llama-3.1-8b", "h100-sxm-80gb", framework="tensorrt-llm", precision="fp8", with_recommendations=False
    )
    assert est.calibrated
    assert est.error_bands["output_tokens_per_s_total"] is not None


def test_estimates_say_which_parameters_are_calibrated_and_which_are_priors():
    est = estimate(
        "llama-3.1-8b", "rtx-4090-24gb", framework="llama.cpp", precision="q4_k_m", with_recommendations=False
    )
    assert est.parameter_sources["bandwidth_efficiency"] == "llama.cpp/consumer_gpu"
    bare = Calibration()
    assert set(bare.sources("vllm", "cpu").values()) == {"prior"}
    assert not bare.is_calibrated("vllm", "cpu")


def test_per_layer_overhead_costs_each_layer_once_per_step():
    """TPOT at batch 1 grows by layers x layer_overhead_s: 32 layers for Llama-3.1-8B, 80 for 70B."""
    for model, layers in (("llama-3.1-8b", 32), ("llama-3.1-70b", 80)):
        base = {"*/*": {"layer_overhead_s": 0.0}}
        slow = {"*/*": {"layer_overhead_s": 1e-3}}
        tpot = [
            estimate(
                model,
                "h200-sxm-141gb",
                framework="vllm",
                calibration=Calibration(entries=entries),
                with_recommendations=False,
            ).performance.tpot_s
            for entries in (base, slow)
        ]
        assert tpot[1] - tpot[0] == pytest.approx(layers * 1e-3, rel=1e-6)


def test_a_small_group_is_shrunk_towards_its_parent():
    """Three rows alone would drag bandwidth efficiency far from the parent's; partial pooling keeps the
    fitted value between the parent and the unpooled fit."""
    items = [
        (r, d) for r, d in items_for("ik-llamacpp-wiki") if r["metric"] == "decode_tokens_per_s_per_user"
    ]
    assert len(items) == 3
    parent = {n: Calibration().param("llama.cpp", "cpu", n) for n in FITTED}
    prep = prepare_performance(items, Calibration())
    names = ("bandwidth_efficiency",)
    alone = fit_group(prep, Calibration(), "llama.cpp/cpu", parent, sweeps=2, names=names)
    pooled = fit_group(prep, Calibration(), "llama.cpp/cpu", parent, sweeps=2, names=names, parent=parent)
    assert alone["bandwidth_efficiency"] < pooled["bandwidth_efficiency"] < parent["bandwidth_efficiency"]


def test_a_power_cap_slows_only_cards_whose_peak_exceeds_it():
    """flops_per_watt caps the sustained tensor rate at TDP x cap: at 0.8 TFLOP/s per W the 300 W RTX 6000
    Ada (listed 364 TFLOP/s) is held to 240, while the 450 W RTX 4090 (330 listed) keeps its peak."""

    def prefill_s(hardware: str, cap: float) -> float:
        calibration = Calibration(entries={"*/*": {"flops_per_watt": cap}})
        return estimate(
            "llama-2-7b",
            hardware,
            framework="llama.cpp",
            precision="fp16",
            prompt_tokens=4096,
            output_tokens=1,
            calibration=calibration,
            with_recommendations=False,
        ).performance.ttft_s

    slowed = prefill_s("rtx-6000-ada-48gb", 0.8e12) / prefill_s("rtx-6000-ada-48gb", 1e13)
    assert 1.2 < slowed < 364 / 240 + 0.01
    assert prefill_s("rtx-4090-24gb", 0.8e12) == pytest.approx(prefill_s("rtx-4090-24gb", 1e13))


def test_llama_cpp_builds_of_2023_are_calibrated_as_their_own_family():
    rows = [r for r in read_rows(MEASUREMENTS) if r["framework"] == "llama.cpp"]
    mapped = {
        (("2023" in r["framework_version"]), _performance_deployment(r, default_catalog()).framework.key)
        for r in rows
    }
    assert mapped == {(True, "llama.cpp-2023"), (False, "llama.cpp")}
    assert FRAMEWORKS["llama.cpp-2023"].family in FAMILIES


def test_tensorrt_llm_modelopt_rows_run_an_fp8_kv_cache_at_fp8_and_fp4():
    """NVIDIA's ModelOpt FP8 and NVFP4 checkpoints set kv_cache_quant_algo FP8; other rows keep 16-bit KV."""
    kv = {
        (r["framework"], r["precision"]): _performance_deployment(r, default_catalog()).kv_bytes_per_element
        for r in read_rows(MEASUREMENTS)
        if r["metric"] == "output_tokens_per_s_total"
    }
    assert kv[("tensorrt-llm", "fp4")] == kv[("tensorrt-llm", "fp8")] == 1.0
    assert kv[("tensorrt-llm", "fp16")] == kv[("vllm", "fp8")] == 2.0


def test_unfused_attention_reads_and_writes_sixteen_bytes_per_score():
    """Materialised attention adds 4 passes x 4 bytes x layers x heads x n^2 of traffic to prefill."""
    from dataclasses import replace

    from calculator.deployment import deployments_batch, resolve_deployment
    from calculator.performance import prefill_time_s

    n = 4096
    d = resolve_deployment(
        "llama-2-7b", "rtx-4090-24gb", framework="llama.cpp", prompt_tokens=n, output_tokens=1
    )
    fused = d.replace(framework=replace(d.framework, materialises_attention=False))
    calibration = Calibration()
    times = []
    for deployment in (d, fused):
        b = deployments_batch([deployment], calibration)
        times.append(
            prefill_time_s(b.model, b.hardware, b.precision, b.framework, b.workload, b.efficiency, 1.0)
        )
    bandwidth = d.hardware.memory_bandwidth_bytes_per_s * calibration.param(
        "llama.cpp", "consumer_gpu", "bandwidth_efficiency"
    )
    assert float(times[0][0] - times[1][0]) == pytest.approx(16 * 32 * 32 * n * n / bandwidth, rel=1e-9)


def test_rows_at_an_unbounded_rate_are_bursts_and_paced_rows_are_not():
    items = items_for("trtllm-triton-v0.14") + items_for("lambda-vllm")
    prep = prepare_performance(items, Calibration())
    rows = [prep.rows[i] for i in prep.online_index]
    sizes: dict[tuple[bool, bool], set[float]] = {}
    for r, burst in zip(rows, prep.online_burst, strict=True):
        sizes.setdefault(("QPS=2" in r["notes"], r["source"] == "lambda-vllm"), set()).add(float(burst))
    assert sizes[(True, False)] == {0.0}  # paced at 2 req/s: open loop
    assert sizes[(False, False)] == {512.0}  # QPS=INF without a count: UNBOUNDED_RATE_BURST
    assert sizes[(False, True)] == {320.0}  # "320 prompts sent at once"
    lambda_cv = {cv for r, cv in zip(rows, prep.online_cv, strict=True) if r["source"] == "lambda-vllm"}
    assert lambda_cv == {1.0}  # ShareGPT lengths


def test_an_older_build_falls_back_to_its_frameworks_entries_before_the_global_ones():
    calibration = Calibration(
        entries={
            "*/*": {"decode_step_overhead_s": 1e-3, "bandwidth_efficiency": 0.5},
            "*/consumer_gpu": {"bandwidth_efficiency": 0.6},
            "llama.cpp/*": {"decode_step_overhead_s": 2e-3, "bandwidth_efficiency": 0.7},
            "llama.cpp/consumer_gpu": {"bandwidth_efficiency": 0.8},
            "llama.cpp-2023/*": {"prefill_overhead_s": 5e-3},
        }
    )
    sources = calibration.sources("llama.cpp-2023", "consumer_gpu")
    assert sources["prefill_overhead_s"] == "llama.cpp-2023/*"
    assert sources["decode_step_overhead_s"] == "llama.cpp/*"
    assert sources["bandwidth_efficiency"] == "llama.cpp/consumer_gpu"
    assert calibration.sources("vllm", "consumer_gpu")["bandwidth_efficiency"] == "*/consumer_gpu"


def test_a_framework_without_a_cell_takes_its_older_builds_cell_before_other_frameworks():
    """FAMILY_KIN: llama.cpp on a class it has no entry for uses the 2023 builds' entry for that class, not
    the compiled engines' "*/class"; its own cell, where it has one, comes first."""
    entries = {
        "*/*": {"compute_efficiency": 0.6},
        "*/datacenter_gpu": {"compute_efficiency": 0.55},
        "llama.cpp/*": {"decode_step_overhead_s": 2e-3},
        "llama.cpp-2023/datacenter_gpu": {"compute_efficiency": 0.2},
    }
    calibration = Calibration(entries=entries)
    assert calibration.param("llama.cpp", "datacenter_gpu", "compute_efficiency") == 0.2
    assert (
        calibration.sources("llama.cpp", "datacenter_gpu")["compute_efficiency"]
        == "llama.cpp-2023/datacenter_gpu"
    )
    assert calibration.param("vllm", "datacenter_gpu", "compute_efficiency") == 0.55
    own = Calibration(entries={**entries, "llama.cpp/datacenter_gpu": {"compute_efficiency": 0.25}})
    assert own.param("llama.cpp", "datacenter_gpu", "compute_efficiency") == 0.25


def test_error_bands_hold_out_sources_where_there_are_several_and_hardware_where_there_is_one():
    from types import SimpleNamespace

    from calculator.calibrate import error_bands

    def item(i: int, family: str, source: str) -> tuple[dict[str, str], SimpleNamespace]:
        row = {
            "id": f"r{i}",
            "metric": "decode_tokens_per_s_per_user",
            "scenario": "single_stream",
            "source": source,
        }
        d = SimpleNamespace(
            framework=SimpleNamespace(family=family), hardware=SimpleNamespace(kind="consumer_gpu")
        )
        return row, d

    one_source = [item(i, "exllamav2", "readme") for i in range(3)]
    two_sources = [item(i, "mlc-llm", "a" if i % 2 else "b") for i in range(3, 7)]
    items = one_source + two_sources
    loso = {row["id"]: (100.0, 150.0) for row, _ in items}  # 50% when the source is held out
    loho = {row["id"]: (100.0, 110.0) for row, _ in items}  # 10% when the card is held out
    bands = error_bands(items, loso, loho)
    assert bands["exllamav2/consumer_gpu"]["decode_tokens_per_s_per_user"] == pytest.approx(0.10)
    assert bands["mlc-llm/consumer_gpu"]["decode_tokens_per_s_per_user"] == pytest.approx(0.50)
    assert bands["*/*"]["decode_tokens_per_s_per_user"] == pytest.approx(0.50)


def test_eager_pytorch_starts_from_its_own_host_overhead_prior_not_the_compiled_engines():
    """hf-transformers' software parameters fall back to FAMILY_PRIORS before the measured "*/class" and "*/*"
    entries (fitted mostly on CUDA-graph engines); a fitted hf-transformers entry still wins."""
    compiled = Calibration(entries={"*/*": {"layer_overhead_s": 2e-5}, "*/datacenter_gpu": {}})
    assert (
        compiled.param("hf-transformers", "datacenter_gpu", "layer_overhead_s")
        == FAMILY_PRIORS["hf-transformers"]["layer_overhead_s"]
    )
    assert compiled.sources("hf-transformers", "datacenter_gpu")["layer_overhead_s"] == "prior"
    assert compiled.param("vllm", "datacenter_gpu", "layer_overhead_s") == 2e-5
    # Hardware parameters are not the framework's to override.
    assert compiled.param("hf-transformers", "datacenter_gpu", "bandwidth_efficiency") == 0.8
    fitted = Calibration(entries={"hf-transformers/*": {"layer_overhead_s": 7e-4}})
    assert fitted.param("hf-transformers", "datacenter_gpu", "layer_overhead_s") == 7e-4


def test_eager_host_overhead_makes_hf_transformers_decode_slower_than_a_compiled_engine():
    """Same card, model and precision, uncalibrated: ~0.4 ms per layer of Python dispatch per step is
    several times the memory time of a 1B model's weights on an H200."""
    empty = Calibration()
    hf = estimate(
        "llama-3.2-1b", "h200-sxm-141gb", precision="bf16", framework="hf-transformers", calibration=empty
    )
    vllm = estimate("llama-3.2-1b", "h200-sxm-141gb", precision="bf16", framework="vllm", calibration=empty)
    assert hf.performance.decode_tokens_per_s_per_user < 0.4 * vllm.performance.decode_tokens_per_s_per_user
    # Text Generation Inference is a compiled server, not transformers' generate().
    assert FRAMEWORKS[resolve_framework("tgi").key] is FRAMEWORKS["vllm"]
