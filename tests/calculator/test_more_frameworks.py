"""LMDeploy (TurboMind) and Apple MLX: resolved, sized by their own memory rules and formats, and blocked
where they do not run."""

import csv

import pytest

from calculator import estimate
from calculator.catalog import resolve_hardware, resolve_model
from calculator.frameworks import resolve_framework
from calculator.validate import predict_rows


def test_lmdeploy_reserves_its_share_of_free_memory_for_kv():
    """TurboMind: KV pool = cache_max_entry_count (0.8) x (total - weights - activations - runtime)."""
    e = estimate("llama-3.1-8b", "h100-sxm-80gb", precision="bf16", framework="turbomind")
    m = e.memory
    free = m.device_memory_bytes - m.weights_bytes - m.activation_bytes - m.overhead_bytes
    assert e.inputs["framework"] == "lmdeploy"
    assert m.kv_pool_bytes == pytest.approx(0.8 * free, rel=1e-9)
    trt = estimate("llama-3.1-8b", "h100-sxm-80gb", precision="bf16", framework="tensorrt-llm").memory
    assert m.kv_pool_bytes < trt.kv_pool_bytes  # 0.8 of free memory against TensorRT-LLM's 0.9


def test_lmdeploy_runs_awq_but_not_on_apple_or_amd():
    assert not estimate("llama-3.1-8b", "a100-sxm-80gb", precision="awq", framework="lmdeploy").blockers
    for hardware in ("apple-m2-ultra-76c-192gb", "mi300x-192gb"):
        e = estimate("llama-3.1-8b", hardware, precision="fp16", framework="lmdeploy")
        assert {b.code for b in e.blockers} == {"precision_unsupported"}, hardware


def test_mlx_int4_is_its_group_64_affine_format():
    """mlx.nn.quantize defaults: group 64, fp16 scale and bias per group -> 4.5 bits on every weight."""
    spec = resolve_model("llama-3.1-8b")
    e = estimate("llama-3.1-8b", "apple-m2-ultra-76c-192gb", precision="int4", framework="mlx-lm")
    assert e.inputs["precision"] == "mlx-q4"
    assert e.memory.weights_bytes == pytest.approx(spec.params_total * 4.5 / 8)
    assert not e.blockers
    # Single-stream decode stays under the unified-memory roofline: bandwidth / bytes read per token.
    hw = resolve_hardware("apple-m2-ultra-76c-192gb")
    roofline = hw.memory_bandwidth_bytes_per_s / e.memory.weights_bytes
    assert e.performance.decode_tokens_per_s_per_user < roofline


def test_mlx_runs_only_on_apple_silicon():
    e = estimate("llama-3.1-8b", "rtx-4090-24gb", precision="int4", framework="mlx")
    assert any("Apple silicon" in b.message for b in e.blockers)
    assert resolve_framework("mlx").family == "llama.cpp"


def test_rows_of_either_framework_are_predicted(tmp_path):
    header = (
        "id,model,hardware,num_gpus,precision,framework,tp,pp,input_tokens,output_tokens,batch_size,"
        "concurrency,request_rate,scenario,metric,value,unit,source,framework_version,notes,lengths"
    )
    rows = [
        "t1,llama-3-8b,a100-sxm-80gb,1,fp16,lmdeploy,1,1,512,128,,,,offline_max_throughput,"
        "output_tokens_per_s_total,3000,tokens/s,t,,,stated",
        "t2,llama-3-8b,apple-m2-ultra-76c-192gb,1,int4,mlx,1,1,0,128,1,,,single_stream,"
        "decode_tokens_per_s_per_user,90,tokens/s,t,,,stated",
    ]
    path = tmp_path / "rows.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    with open(path, newline="") as handle:
        report = predict_rows(list(csv.DictReader(handle)))
    assert not report.unresolved
    assert len(report.predictions) == 2
    assert all(p.predicted > 0 for p in report.predictions)


@pytest.mark.parametrize(
    ("framework", "hardware"), [("lmdeploy", "h100-sxm-80gb"), ("mlx", "apple-m3-max-40c-64gb")]
)
def test_a_framework_calibrated_by_proxy_says_so(framework, hardware):
    e = estimate("llama-3.1-8b", hardware, precision="int4", framework=framework)
    family = resolve_framework(framework).family
    expected = (
        f"{framework} has no measurements of its own: its efficiencies and error bands are the {family}"
    )
    assert [w.message for w in e.warnings if w.code == "proxy_calibration"] == [expected + " family's"]
    measured = estimate("llama-3.1-8b", hardware, precision="fp16", framework=family)
    assert not [w for w in measured.warnings if w.code == "proxy_calibration"]
