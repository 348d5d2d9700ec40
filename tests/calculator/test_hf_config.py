"""model_from_hf_config: fixtures (trimmed config.json copies) must reproduce the catalog rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calculator.catalog import resolve_model
from calculator.hf_config import ConfigImportError, model_from_hf_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_KEYS = sorted(p.stem for p in FIXTURES.glob("*.json"))
FIELDS = (
    "params_total",
    "params_active",
    "params_embedding",
    "params_routed_experts",
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_context_tokens",
    "attention",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "moe_num_experts",
    "moe_experts_per_token",
    "moe_intermediate_size",
    "tied_embeddings",
)


def test_required_fixtures_exist():
    for key in (
        "llama-2-7b",
        "llama-3.1-8b",
        "mixtral-8x7b",
        "qwen2.5-7b",
        "qwen3-30b-a3b",
        "gemma-2-9b",
        "gemma-3-27b",
        "phi-3-mini-4k",
        "deepseek-v3",
        "deepseek-v2-lite",
        "gpt-oss-20b",
    ):
        assert key in FIXTURE_KEYS


@pytest.mark.parametrize("key", FIXTURE_KEYS)
def test_fixture_reproduces_catalog_row(key):
    path = FIXTURES / f"{key}.json"
    spec, _warnings = model_from_hf_config(path, key=key)
    row = resolve_model(key)
    for field in FIELDS:
        assert getattr(spec, field) == getattr(row, field), (key, field)
    assert json.loads(path.read_text())["_source"]


def test_accepts_dict_text_and_path():
    path = FIXTURES / "llama-3.1-8b.json"
    from_path, _ = model_from_hf_config(path)
    from_text, _ = model_from_hf_config(path.read_text())
    from_dict, _ = model_from_hf_config(json.loads(path.read_text()), key="x", name="X")
    assert from_path.params_total == from_text.params_total == from_dict.params_total == 8_030_261_248
    assert from_dict.key == "x" and from_dict.name == "X"


def test_sliding_windows():
    gemma2, _ = model_from_hf_config(FIXTURES / "gemma-2-9b.json")
    assert (gemma2.sliding_window_tokens, gemma2.sliding_window_layers) == (4096, 21)
    gemma3, warnings = model_from_hf_config(FIXTURES / "gemma-3-27b.json")
    assert (gemma3.sliding_window_tokens, gemma3.sliding_window_layers) == (1024, 52)
    assert any("vision" in w for w in warnings)
    oss, _ = model_from_hf_config(FIXTURES / "gpt-oss-20b.json")
    assert (oss.sliding_window_tokens, oss.sliding_window_layers) == (128, 12)
    assert oss.native_precision == "mxfp4"


def test_mla_and_precision():
    v3, _ = model_from_hf_config(FIXTURES / "deepseek-v3.json")
    assert (
        v3.attention == "mla" and v3.kv_lora_rank == 512 and v3.qk_rope_head_dim == 64 and v3.head_dim == 192
    )
    assert v3.native_precision == "fp8"


def test_qkv_bias_and_qk_norm_counted():
    base = json.loads((FIXTURES / "qwen2.5-7b.json").read_text())
    with_bias, _ = model_from_hf_config(base)
    as_llama, _ = model_from_hf_config(dict(base, model_type="llama"))
    d_bias = (28 * 128 + 2 * 4 * 128) * 28
    assert with_bias.params_total - as_llama.params_total == d_bias


def test_warns_about_unknown_fields():
    cfg = json.loads((FIXTURES / "llama-2-7b.json").read_text())
    _, warnings = model_from_hf_config(dict(cfg, mystery_knob=3))
    assert any("mystery_knob" in w for w in warnings)
    _, clean = model_from_hf_config(cfg)
    assert clean == []


def test_missing_field_raises():
    cfg = json.loads((FIXTURES / "llama-2-7b.json").read_text())
    del cfg["hidden_size"]
    with pytest.raises(ConfigImportError, match="hidden_size"):
        model_from_hf_config(cfg)
    with pytest.raises(ConfigImportError, match="model_type"):
        model_from_hf_config({"hidden_size": 1})
    with pytest.raises(ConfigImportError):
        model_from_hf_config("{not json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_hidden_layers", 10**30),
        ("hidden_size", -4),
        ("vocab_size", float("inf")),
        ("num_experts", "many"),
    ],
)
def test_sizes_no_model_has_are_refused_before_any_loop(field, value):
    from calculator.hf_config import ConfigImportError, model_from_hf_config

    config = {
        "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 11008,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, field: value,
    }  # fmt: skip
    with pytest.raises(ConfigImportError) as error:
        model_from_hf_config(config)
    assert field in str(error.value)
