"""Catalog data and loader tests."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from calculator.catalog import (
    CatalogError,
    UnknownNameError,
    default_catalog,
    load_catalog,
    normalize_name,
    resolve_hardware,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CALIBRATION = SHARED / "calibration"
needs_shared = pytest.mark.skipif(not CALIBRATION.is_dir(), reason="../shared/calibration not present")


def _readme_keys() -> tuple[list[str], list[str]]:
    text = (CALIBRATION / "README.md").read_text(encoding="utf-8")
    section = text.split("## Catalog keys the engine must know", 1)[1].split("\n## ", 1)[0]
    hw_text = section.split("Hardware:", 1)[1].split("Models:", 1)[0]
    model_text = section.split("Models:", 1)[1].split("Their architectures", 1)[0]
    hw_text = re.sub(r"\([^)]*\)", "", hw_text.split("and the seed's names")[0] + hw_text.split("Also", 1)[1])
    model_text = re.sub(r"\([^)]*\)", "", model_text)

    def keys(chunk: str) -> list[str]:
        return [
            k.strip().rstrip(".")
            for k in re.split(r"[,\s]+", chunk)
            if re.fullmatch(r"[a-z0-9][a-z0-9.\-]+", k)
        ]

    return [k for k in keys(model_text) if "-" in k], [k for k in keys(hw_text) if "-" in k]


@needs_shared
def test_readme_keys_resolve_to_their_product():
    models, hardware = _readme_keys()
    assert len(models) >= 50 and len(hardware) >= 40
    for key in models:
        assert resolve_model(key).key == key
    for key in hardware:
        # One row per physical product: a key the README names may be an alias of the product's row.
        resolved = resolve_hardware(key)
        assert resolved.key == key or key in resolved.aliases


@needs_shared
@pytest.mark.parametrize("name", ["measurements.csv", "memory.csv"])
def test_calibration_csv_values_resolve(name):
    with (CALIBRATION / name).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert resolve_model(row["model"]).key == row["model"]
        hardware = resolve_hardware(row["hardware"])
        assert hardware.key == row["hardware"] or row["hardware"] in hardware.aliases


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("7B", "llama-2-7b"),
        ("13B", "llama-2-13b"),
        ("GPT-4", "gpt-3-175b"),
        ("llama2-7b", "llama-2-7b"),
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b"),
        ("Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("LLAMA_3.1_8B", "llama-3.1-8b"),
        ("qwen3 30b a3b", "qwen3-30b-a3b"),
    ],
)
def test_model_aliases(name, key):
    assert resolve_model(name).key == key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("RTX4090", "rtx-4090-24gb"),
        ("RTX 4090", "rtx-4090-24gb"),
        ("V100", "v100-sxm2-16gb"),  # the seed README: V100 16 GB
        ("A100", "a100-sxm-40gb"),  # the seed README: A100 40 GB
        ("A100 80GB", "a100-sxm-80gb"),
        ("H100", "h100-sxm-80gb"),
        ("H100 SXM", "h100-sxm-80gb"),
        ("h100_sxm", "h100-sxm-80gb"),
        ("CPU", "cpu-server-64gb"),
    ],
)
def test_hardware_aliases(name, key):
    assert resolve_hardware(name).key == key


def test_seed_cpu_is_a_64gb_cpu():
    cpu = resolve_hardware("CPU")
    assert cpu.kind == "cpu" and cpu.memory_bytes == 64 * 2**30


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError) as info:
        resolve_model("llama-3.1-9b")
    assert "llama-3.1-8b" in str(info.value)
    with pytest.raises(UnknownNameError) as info:
        resolve_hardware("h100-sxm-81gb")
    assert "h100-sxm-80gb" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_normalize_name():
    assert normalize_name("  H100__SXM  ") == "h100-sxm"
    assert normalize_name("Llama 3.1 8B") == "llama-3.1-8b"


def test_every_row_has_a_source():
    catalog = default_catalog()
    for spec in (*catalog.models.values(), *catalog.hardware.values()):
        assert spec.source.strip(), spec.key


def test_only_the_gpt4_stand_in_has_a_proxy_note_and_its_estimates_say_so():
    from calculator import estimate

    models = default_catalog().models
    assert [key for key, spec in models.items() if spec.proxy_note] == ["gpt-3-175b"]
    warned = estimate("GPT-4", "h100-sxm-80gb", tensor_parallel=8, with_recommendations=False)
    notes = [w.message for w in warned.warnings if w.code == "proxy_model"]
    assert notes == [models["gpt-3-175b"].proxy_note]
    plain = estimate("llama-3.1-8b", "h100-sxm-80gb", with_recommendations=False)
    assert all(w.code != "proxy_model" for w in plain.warnings)


def test_reference_rows_present():
    for key in (
        "deepseek-v3",
        "falcon-40b",
        "gpt-3-175b",
        "phi-3-mini-4k",
        "llama-3.2-1b",
        "qwen2.5-32b",
        "gemma-2-27b",
        "mistral-7b-v0.3",
        "phi-3-medium-4k",
        "qwen3-32b",
    ):
        assert resolve_model(key).key == key
    for key in (
        "t4-16gb",
        "l4-24gb",
        "a10g-24gb",
        "h100-nvl-94gb",
        "mi250x-128gb",
        "mi325x-256gb",
        "gaudi2-96gb",
        "gaudi3-128gb",
        "rtx-5090-32gb",
        "jetson-agx-orin-64gb",
        "cpu-2x-xeon-8480plus",
        "cpu-epyc-9654",
    ):
        assert resolve_hardware(key).key == key


# NOTES.md section 3.4: formula results and the sources' exact counts.
KNOWN_PARAMS = {
    "llama-2-7b": 6_738_415_616,
    "llama-2-13b": 13_015_864_320,
    "llama-2-70b": 68_976_648_192,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.1-70b": 70_553_706_496,
    "llama-3.1-405b": 405_853_388_800,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
    "mistral-7b-v0.3": 7_248_023_552,
    "mixtral-8x7b": 46_702_792_704,
    "mixtral-8x22b": 140_620_634_112,
    "qwen2.5-7b": 7_615_616_512,
    "qwen2.5-14b": 14_770_033_664,
    "qwen2.5-32b": 32_763_876_352,
    "qwen2.5-72b": 72_706_203_648,
    "qwen3-8b": 8_190_735_360,
    "qwen3-32b": 32_762_123_264,
    "qwen3-30b-a3b": 30_532_122_624,
    "qwen3-235b-a22b": 235_093_634_560,
    "gemma-2-9b": 9_241_705_984,
    "gemma-2-27b": 27_227_128_320,
    "gemma-3-27b": 27_009_346_304,  # 262208-row vocab; keras 27,009,002,240 uses 262144 rows
    "phi-3-mini-4k": 3_821_079_552,
    "phi-3-medium-4k": 13_960_238_080,
    "deepseek-v3": 671_026_419_200,
    "falcon-40b": 41_303_293_952,
}


@pytest.mark.parametrize(("key", "count"), sorted(KNOWN_PARAMS.items()))
def test_known_parameter_counts(key, count):
    assert resolve_model(key).params_total == count


def test_known_active_counts():
    assert resolve_model("mixtral-8x7b").params_active == 12_879_925_248
    assert resolve_model("mixtral-8x22b").params_active == 39_152_031_744
    gpt_oss = resolve_model("gpt-oss-20b")
    assert abs(gpt_oss.params_total - 20.91e9) < 0.01e9
    # OpenAI's 3.61B active excludes the input embedding (V*d).
    assert abs(gpt_oss.params_active - gpt_oss.vocab_size * gpt_oss.hidden_size - 3.61e9) < 0.01e9


def test_moe_active_formula_consistent():
    for spec in default_catalog().models.values():
        if spec.is_moe:
            expected = spec.params_total - spec.params_routed_experts * (
                1 - spec.moe_experts_per_token / spec.moe_num_experts
            )
            assert abs(spec.params_active - expected) <= 1, spec.key
        else:
            assert spec.params_active == spec.params_total and spec.params_routed_experts == 0, spec.key


def test_kv_bytes_per_token_llama_31_8b():
    m = resolve_model("llama-3.1-8b")
    assert m.num_layers * m.num_kv_heads * m.head_dim * 2 * 2 == 131072


def test_mla_latent_bytes_deepseek_v3():
    m = resolve_model("deepseek-v3")
    assert m.attention == "mla"
    assert m.num_layers * (m.kv_lora_rank + m.qk_rope_head_dim) * 2 == 70_272


def test_si_units():
    h100 = resolve_hardware("h100-sxm-80gb")
    assert h100.memory_bytes == 80 * 2**30
    assert h100.usable_memory_bytes == pytest.approx(79.19 * 2**30)
    assert h100.memory_bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert h100.bf16_dense_flops == pytest.approx(989.5e12)
    assert h100.interconnect_bytes_per_s == pytest.approx(450e9)


def test_geforce_rates_are_fp32_accumulate():
    assert resolve_hardware("rtx-4090-24gb").fp16_dense_flops == pytest.approx(165.2e12)
    assert resolve_hardware("rtx-3090-24gb").bf16_dense_flops == pytest.approx(71.2e12)


def test_hardware_kinds_and_dense_values():
    for hw in default_catalog().hardware.values():
        assert hw.memory_bytes > 0 and hw.memory_bandwidth_bytes_per_s > 0, hw.key
        if hw.kind in ("datacenter_gpu", "consumer_gpu") and hw.fp16_dense_flops:
            assert hw.fp16_dense_flops >= hw.fp32_flops, hw.key


@pytest.mark.parametrize(
    ("cpu", "soc", "clusters"),
    [
        ("apple-m1-max-cpu", "apple-m1-max-32c-64gb", 2),
        ("apple-m2-max-cpu", None, 2),
        ("apple-m2-pro-cpu", "apple-m2-pro-19c-32gb", 2),
        ("apple-m2-ultra-cpu", "apple-m2-ultra-76c-192gb", 4),
        ("apple-m3-cpu", "apple-m3-10c-16gb", 1),
        ("apple-m3-max-cpu", "apple-m3-max-40c-64gb", 2),
    ],
)
def test_apple_cpu_cores_get_what_their_clusters_pull_not_the_socs_bandwidth(cpu, soc, clusters):
    """An Apple SoC's CPU clusters reach about 112 GB/s each (AnandTech: ~224 GB/s for the M1 Max's two),
    never more than the SoC's own figure, which is the GPU's."""
    bandwidth = resolve_hardware(cpu).memory_bandwidth_bytes_per_s
    limit = resolve_hardware(soc).memory_bandwidth_bytes_per_s if soc else float("inf")
    assert bandwidth == pytest.approx(min(limit, clusters * 112e9))


def _write(tmp_path: Path, source: Path, edit) -> Path:
    rows = list(csv.DictReader(source.open(newline="", encoding="utf-8")))
    edit(rows)
    out = tmp_path / source.name
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_loader_rejects_heads_not_divisible(tmp_path):
    from calculator.catalog import MODELS_CSV

    def edit(rows):
        next(r for r in rows if r["key"] == "llama-3.1-8b")["num_kv_heads"] = "7"

    bad = _write(tmp_path, MODELS_CSV, edit)
    with pytest.raises(CatalogError, match=r"models\.csv.*llama-3\.1-8b.*num_kv_heads"):
        load_catalog(models_path=bad)


def test_loader_rejects_bad_kind_and_missing_source(tmp_path):
    from calculator.catalog import HARDWARE_CSV

    def bad_kind(rows):
        rows[0]["kind"] = "gpu"

    with pytest.raises(CatalogError, match="kind"):
        load_catalog(hardware_path=_write(tmp_path, HARDWARE_CSV, bad_kind))

    def no_source(rows):
        rows[1]["source"] = ""

    with pytest.raises(CatalogError, match="source"):
        load_catalog(hardware_path=_write(tmp_path, HARDWARE_CSV, no_source))


def test_loader_rejects_active_above_total(tmp_path):
    from calculator.catalog import MODELS_CSV

    def edit(rows):
        row = next(r for r in rows if r["key"] == "phi-2")
        row["params_active"] = str(int(row["params_total"]) + 1)

    with pytest.raises(CatalogError, match=r"phi-2.*params_active"):
        load_catalog(models_path=_write(tmp_path, MODELS_CSV, edit))


@pytest.mark.parametrize(
    ("name", "bits"),
    [("Q6_K", 6.56), ("q3_k_m", 3.91), ("q4_k_s", 4.58), ("q5_0", 5.5), ("q4_1", 5.0), ("IQ4_XS", 4.25)],
)
def test_more_gguf_formats_load_on_llama_cpp_only(name, bits):
    from calculator import estimate
    from calculator.precisions import resolve_precision

    spec = resolve_precision(name)
    assert spec.bits_per_weight == bits
    gguf = estimate(
        "llama-2-7b", "rtx-4090-24gb", framework="llama.cpp", precision=name, with_recommendations=False
    )
    fp16 = estimate(
        "llama-2-7b", "rtx-4090-24gb", framework="llama.cpp", precision="fp16", with_recommendations=False
    )
    assert not gguf.blockers
    # Every weight (embedding included) is stored at the format's bits.
    assert gguf.memory.weights_bytes == pytest.approx(fp16.memory.weights_bytes * bits / 16, rel=1e-6)
    blocked = estimate(
        "llama-2-7b", "rtx-4090-24gb", framework="vllm", precision=name, with_recommendations=False
    )
    assert [b.code for b in blocked.blockers] == ["precision_unsupported"]
