"""Catalog entries that serving.csv (2025-2026 serving measurements) needs, checked against sources."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from calculator.catalog import UnknownNameError, resolve_hardware, resolve_model

SERVING = Path(__file__).resolve().parents[2].parent / "shared" / "calibration" / "serving.csv"
needs_serving = pytest.mark.skipif(not SERVING.is_file(), reason="shared serving.csv not present")

# Keys serving.csv uses that the catalog does not hold yet, each for a stated reason (none left: the six
# devices added on 2026-12-03 carry their sources in hardware.csv).
NOT_YET_CATALOGUED: set[str] = set()


def _serving_keys(column: str) -> set[str]:
    with SERVING.open(newline="", encoding="utf-8") as fh:
        return {row[column] for row in csv.DictReader(fh) if row[column]}


@needs_serving
def test_every_serving_model_resolves():
    for key in sorted(_serving_keys("model")):
        resolve_model(key)


@needs_serving
def test_every_serving_hardware_resolves_except_the_named_gaps():
    missing = set()
    for key in sorted(_serving_keys("hardware")):
        try:
            resolve_hardware(key)
        except UnknownNameError:
            missing.add(key)
    assert missing <= NOT_YET_CATALOGUED
    assert {"b300-288gb", "gb300-288gb"}.isdisjoint(missing)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("deepseek-v3-671b", "deepseek-v3"),
        ("deepseek-v3.1", "deepseek-v3"),
        ("deepseek-ai/DeepSeek-V3.1", "deepseek-v3"),
        ("moonshotai/Kimi-K2.5", "kimi-k2.5"),
        ("zai-org/GLM-5", "glm-5"),
        ("MiniMaxAI/MiniMax-M2.5", "minimax-m2.5"),
        ("Qwen/Qwen3.5-397B-A17B", "qwen3.5-397b-a17b"),
        ("tinyllama-1.1b-1t-openorca", "tinyllama-1.1b"),
        ("mistralai/Mistral-7B-Instruct-v0.2", "mistral-7b-v0.2"),
    ],
)
def test_serving_model_aliases(name, key):
    assert resolve_model(name).key == key


def test_m1_max_64gb_is_the_existing_row():
    assert resolve_hardware("apple-m1-max-64gb").key == "apple-m1-max-32c-64gb"


def test_kimi_k25_matches_its_config():
    # ai-dynamo/aiconfigurator moonshotai--Kimi-K2.5_config.json
    m = resolve_model("kimi-k2.5")
    assert (m.num_layers, m.hidden_size, m.num_attention_heads) == (61, 7168, 64)
    assert (m.attention, m.kv_lora_rank, m.qk_rope_head_dim) == ("mla", 512, 64)
    assert (m.moe_num_experts, m.moe_experts_per_token, m.moe_intermediate_size, m.moe_shared_experts) == (
        384,
        8,
        2048,
        1,
    )
    assert abs(m.params_total - 1.0e12) < 0.05e12  # card: 1T total


def test_glm5_matches_its_config():
    # ai-dynamo/aiconfigurator zai-org--GLM-5-FP8_config.json; README: 744B total, 40B active
    m = resolve_model("glm-5")
    assert (m.num_layers, m.hidden_size, m.vocab_size, m.attention) == (78, 6144, 154880, "mla")
    assert (m.moe_num_experts, m.moe_experts_per_token) == (256, 8)
    assert abs(m.params_total - 744e9) < 1e9


def test_minimax_m25_is_gqa_moe():
    m = resolve_model("minimax-m2.5")
    assert (m.attention, m.num_attention_heads, m.num_kv_heads, m.head_dim) == ("gqa", 48, 8, 128)
    assert (m.num_layers, m.moe_num_experts, m.moe_experts_per_token, m.moe_shared_experts) == (62, 256, 8, 0)
    # MiniMax's "10B activated" excludes the embedding and the head
    assert abs(m.params_active - m.params_embedding - 10e9) < 0.3e9


def test_qwen35_397b_matches_its_config():
    # ai-dynamo/aiconfigurator Qwen--Qwen3.5-397B-A17B_config.json: 15 full-attention layers of 60
    m = resolve_model("qwen3.5-397b-a17b")
    assert (m.num_layers, m.hidden_size, m.num_kv_heads, m.head_dim) == (60, 4096, 2, 256)
    assert (m.moe_num_experts, m.moe_experts_per_token, m.moe_intermediate_size) == (512, 10, 1024)
    assert m.num_layers - m.sliding_window_layers == 15
    assert abs(m.params_active - 17e9) < 0.5e9


@pytest.mark.parametrize(
    ("key", "layers", "hidden", "kv_heads", "total"),
    [
        ("tinyllama-1.1b", 22, 2048, 4, 1_100_048_384),
        ("mistral-nemo-12b", 40, 5120, 8, 12_247_782_400),
        ("mistral-7b-v0.2", 32, 4096, 8, 7_241_732_096),
        ("yi-34b", 60, 7168, 8, 34_388_917_248),
    ],
)
def test_dense_serving_models(key, layers, hidden, kv_heads, total):
    m = resolve_model(key)
    assert (m.num_layers, m.hidden_size, m.num_kv_heads, m.params_total) == (layers, hidden, kv_heads, total)


@pytest.mark.parametrize(
    ("key", "gb_per_s"),
    [
        ("radeon-pro-w7900-48gb", 864),  # 384-bit x 18 Gbps
        ("rx-7900-xtx-24gb", 960),  # 384-bit x 20 Gbps
        ("rtx-pro-6000-blackwell-96gb", 1792),
        ("radeon-8060s-ryzen-ai-max-plus-395-128gb", 256),  # 256-bit LPDDR5X-8000
        ("epyc-9r14-2s", 921.6),  # 2 x 12 x 4800 MT/s x 8 B
        ("apple-m3-ultra-80c-512gb", 819),
    ],
)
def test_serving_hardware_bandwidth(key, gb_per_s):
    assert resolve_hardware(key).memory_bandwidth_bytes_per_s == pytest.approx(gb_per_s * 1e9)


def test_one_catalog_row_per_physical_product_and_no_machine_paths():
    from calculator.catalog import default_catalog

    catalog = default_catalog()
    for kind, specs in (("hardware", catalog.hardware), ("models", catalog.models)):
        names = [spec.name for spec in specs.values()]
        duplicates = {name for name in names if names.count(name) > 1}
        assert not duplicates, f"{kind}: one row per product (make the others aliases): {duplicates}"
    data = Path(__file__).resolve().parents[2] / "calculator" / "data"
    for path in data.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        for prefix in ("/work/", "/home/", "/Users/", "/root/", "/tmp/"):
            assert prefix not in text, f"{path.name} cites a machine path ({prefix}...)"
    assert resolve_hardware("h100-80gb").key == "h100-sxm-80gb"
    assert resolve_hardware("a100-40gb").key == "a100-sxm-40gb"
