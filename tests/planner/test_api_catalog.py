"""Catalog endpoints: validation of staff writes, config.json import, duplicate, history, filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry

from planner.models import Hardware, LLMModel
from tests.planner.test_api_permissions import NEW_HARDWARE, NEW_MODEL

FIXTURES = Path(__file__).resolve().parent.parent / "calculator" / "fixtures"


@pytest.fixture
def staff_api(client_for, staff):
    return client_for(staff)


BAD_MODELS = [
    pytest.param({"params_active": 2_000_000_000}, "params_active", id="active-above-total"),
    pytest.param({"num_kv_heads": 6}, "num_kv_heads", id="heads-not-divisible-by-kv-heads"),
    pytest.param({"num_layers": 0}, "num_layers", id="zero-layers"),
    pytest.param({"hidden_size": -1}, "hidden_size", id="negative-hidden-size"),
    pytest.param({"key": "Bad Key"}, "key", id="bad-key"),
    pytest.param({"source": ""}, "source", id="no-source"),
    pytest.param({"attention": "mla"}, "kv_lora_rank", id="mla-without-rank"),
    pytest.param({"moe_num_experts": 8}, "moe_experts_per_token", id="moe-without-top-k"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "field"), BAD_MODELS)
def test_invalid_model_rows_are_refused(staff_api, catalog, change, field):
    before = LLMModel.objects.count()
    response = staff_api.post("/api/v1/models/", {**NEW_MODEL, **change}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert LLMModel.objects.count() == before


@pytest.mark.django_db
def test_model_patch_is_validated_against_the_stored_row(staff_api, catalog):
    response = staff_api.patch("/api/v1/models/llama-3.1-8b/", {"num_kv_heads": 5}, format="json")

    assert response.status_code == 400
    assert "num_kv_heads" in response.json()["detail"]
    assert LLMModel.objects.get(key="llama-3.1-8b").num_kv_heads == 8


BAD_HARDWARE = [
    pytest.param({"memory_bytes": 0}, "memory_bytes", id="zero-memory"),
    pytest.param({"memory_bandwidth_bytes_per_s": -1}, "memory_bandwidth_bytes_per_s", id="negative-bw"),
    pytest.param({"fp16_dense_flops": -5}, "fp16_dense_flops", id="negative-flops"),
    pytest.param({"usable_memory_bytes": 32 * 2**30}, "usable_memory_bytes", id="usable-above-total"),
    pytest.param({"kind": "quantum"}, "kind", id="unknown-kind"),
    pytest.param({"aliases": [""]}, "aliases", id="empty-alias"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "field"), BAD_HARDWARE)
def test_invalid_hardware_rows_are_refused(staff_api, catalog, change, field):
    before = Hardware.objects.count()
    response = staff_api.post("/api/v1/hardware/", {**NEW_HARDWARE, **change}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert Hardware.objects.count() == before


@pytest.mark.django_db
def test_hardware_row_reports_human_units_and_can_be_estimated(staff_api, client_for, catalog):
    created = staff_api.post("/api/v1/hardware/", NEW_HARDWARE, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["memory_gib"] == 16.0
    assert created.json()["memory_bandwidth_gb_per_s"] == 500.0
    estimate = client_for(None).post(
        "/api/v1/estimate/", {"model": "llama-3.1-8b", "hardware": "test-gpu-16gb"}, format="json"
    )
    assert estimate.status_code == 200
    assert estimate.json()["catalog"]["hardware"]["key"] == "test-gpu-16gb"


@pytest.mark.django_db
def test_import_model_from_config_json(staff_api, staff, catalog):
    config = json.loads((FIXTURES / "qwen2.5-7b.json").read_text())
    response = staff_api.post(
        "/api/v1/models/import/",
        {"config": config, "key": "qwen2.5-7b-imported", "source": "https://huggingface.co/Qwen/Qwen2.5-7B"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    row = LLMModel.objects.get(key="qwen2.5-7b-imported")
    reference = LLMModel.objects.get(key="qwen2.5-7b")
    assert body["model"]["key"] == row.key
    assert isinstance(body["warnings"], list)
    assert (row.num_attention_heads, row.num_kv_heads, row.num_layers) == (28, 4, 28)
    assert abs(row.params_total - reference.params_total) / reference.params_total < 0.01
    assert row.source == "https://huggingface.co/Qwen/Qwen2.5-7B"
    assert LogEntry.objects.filter(object_id=str(row.pk), user=staff).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"model_type": "llama"}, id="missing-fields"),
        pytest.param({"model_type": "unknown-arch", "hidden_size": 8}, id="unsupported"),
        pytest.param("/etc/passwd", id="a-path-is-not-read"),
        pytest.param([1, 2], id="not-an-object"),
    ],
)
def test_bad_config_import_is_a_field_error(staff_api, catalog, config):
    before = LLMModel.objects.count()
    response = staff_api.post("/api/v1/models/import/", {"config": config}, format="json")

    assert response.status_code == 400, response.content
    assert "config" in response.json()["detail"]
    assert LLMModel.objects.count() == before


@pytest.mark.django_db
def test_import_refuses_an_existing_key(staff_api, catalog):
    config = json.loads((FIXTURES / "llama-3.1-8b.json").read_text())
    response = staff_api.post(
        "/api/v1/models/import/", {"config": config, "key": "llama-3.1-8b"}, format="json"
    )

    assert response.status_code == 400
    assert "key" in response.json()["detail"]


@pytest.mark.django_db
def test_import_is_staff_only(client_for, editor, catalog):
    config = json.loads((FIXTURES / "llama-3.1-8b.json").read_text())
    response = client_for(editor).post("/api/v1/models/import/", {"config": config}, format="json")

    assert response.status_code == 403


@pytest.mark.django_db
def test_duplicate_copies_under_a_free_key(staff_api, catalog):
    first = staff_api.post("/api/v1/hardware/h100-sxm-80gb/duplicate/")
    second = staff_api.post("/api/v1/hardware/h100-sxm-80gb/duplicate/")

    assert first.status_code == 201
    assert first.json()["key"] == "h100-sxm-80gb-copy"
    assert second.json()["key"] == "h100-sxm-80gb-copy-2"
    assert first.json()["aliases"] == []
    original = Hardware.objects.get(key="h100-sxm-80gb")
    assert first.json()["memory_bandwidth_bytes_per_s"] == original.memory_bandwidth_bytes_per_s


@pytest.mark.django_db
def test_api_edits_appear_in_the_admin_history(staff_api, staff, catalog):
    staff_api.patch("/api/v1/hardware/h100-sxm-80gb/", {"tdp_watts": 650}, format="json")
    row = Hardware.objects.get(key="h100-sxm-80gb")

    entry = LogEntry.objects.get(object_id=str(row.pk), user=staff)
    assert entry.is_change()
    assert "tdp_watts" in entry.get_change_message()


@pytest.mark.django_db
def test_catalog_filters_and_ordering(client_for, editor, catalog):
    client = client_for(editor)

    by_kind = client.get(
        "/api/v1/hardware/?kind=datacenter_gpu&ordering=-memory_bandwidth_bytes_per_s"
    ).json()
    keys = [h["key"] for h in by_kind["results"]]
    assert keys == ["h100-sxm-80gb", "a100-sxm-80gb", "l40s-48gb"]
    big = client.get("/api/v1/models/?min_params_total=50000000000").json()
    assert [m["key"] for m in big["results"]] == ["llama-3.1-70b"]
    assert client.get("/api/v1/models/?search=qwen").json()["count"] == 1
    paged = client.get("/api/v1/models/?page_size=2").json()
    assert len(paged["results"]) == 2
    assert paged["next"]
