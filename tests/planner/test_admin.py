"""Admin: catalog lists with search and filters, validation, duplicate action, config.json import, history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry

from planner.models import Hardware, HostedApiPrice, LLMModel

FIXTURES = Path(__file__).resolve().parent.parent / "calculator" / "fixtures"


@pytest.fixture
def admin_client_with_catalog(admin_client, catalog):
    return admin_client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/planner/hardware/?q=h100&kind__exact=datacenter_gpu",
        "/admin/planner/llmmodel/?q=llama&attention__exact=gqa",
        "/admin/planner/pricepoint/",
        "/admin/planner/hostedapiprice/?q=llama&provider=deepinfra",
        "/admin/planner/team/",
        "/admin/planner/plan/",
        "/admin/planner/llmmodel/import-config/",
    ],
)
def test_admin_pages_load(admin_client_with_catalog, url):
    assert admin_client_with_catalog.get(url).status_code == 200


@pytest.mark.django_db
def test_admin_refuses_inconsistent_model(admin_client_with_catalog):
    row = LLMModel.objects.get(key="llama-3.1-8b")
    url = f"/admin/planner/llmmodel/{row.pk}/change/"
    form = admin_client_with_catalog.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"num_kv_heads": 5, "aliases": json.dumps(row.aliases)})

    response = admin_client_with_catalog.post(url, data)

    assert response.status_code == 200  # the form again, with the error
    assert "num_kv_heads" in response.context["adminform"].form.errors
    row.refresh_from_db()
    assert row.num_kv_heads == 8


@pytest.mark.django_db
def test_admin_duplicate_action(admin_client_with_catalog):
    row = Hardware.objects.get(key="l40s-48gb")
    response = admin_client_with_catalog.post(
        "/admin/planner/hardware/", {"action": "duplicate_rows", "_selected_action": [row.pk]}
    )

    assert response.status_code == 302
    copy = Hardware.objects.get(key="l40s-48gb-copy")
    assert copy.memory_bytes == row.memory_bytes
    assert LogEntry.objects.filter(object_id=str(copy.pk)).exists()


@pytest.mark.django_db
def test_admin_imports_a_pasted_config(admin_client_with_catalog):
    config = (FIXTURES / "qwen3-8b.json").read_text()
    response = admin_client_with_catalog.post(
        "/admin/planner/llmmodel/import-config/",
        {
            "config": config,
            "key": "qwen3-8b-pasted",
            "name": "Qwen3 8B",
            "source": "https://hf.co/Qwen/Qwen3-8B",
        },
    )

    assert response.status_code == 302
    row = LLMModel.objects.get(key="qwen3-8b-pasted")
    assert row.num_layers == 36
    history = admin_client_with_catalog.get(f"/admin/planner/llmmodel/{row.pk}/history/")
    assert "Imported from config.json" in history.content.decode()


@pytest.mark.django_db
def test_admin_import_shows_config_errors(admin_client_with_catalog):
    before = LLMModel.objects.count()
    response = admin_client_with_catalog.post(
        "/admin/planner/llmmodel/import-config/", {"config": '{"model_type": "llama"}'}
    )

    assert response.status_code == 200
    assert "config" in response.context["form"].errors
    assert LLMModel.objects.count() == before


@pytest.mark.django_db
def test_admin_edits_a_hosted_price_and_records_it(admin_client_with_catalog, catalog):
    row = HostedApiPrice.objects.get(provider="fireworks", model__key="llama-3.1-70b")
    url = f"/admin/planner/hostedapiprice/{row.pk}/change/"
    form = {
        "provider": row.provider,
        "model": row.model_id,
        "api_model": row.api_model,
        "usd_per_million_input_tokens": "0.5",
        "usd_per_million_output_tokens": "-1",
        "usd_per_million_cached_input_tokens": "",
        "precision": row.precision,
        "notes": row.notes,
        "as_of": row.as_of.isoformat(),
        "source": row.source,
    }

    refused = admin_client_with_catalog.post(url, form)
    assert refused.status_code == 200  # the form again, with the error
    assert HostedApiPrice.objects.get(pk=row.pk).usd_per_million_output_tokens == 0.9

    saved = admin_client_with_catalog.post(url, {**form, "usd_per_million_output_tokens": "0.7"})
    assert saved.status_code == 302
    row.refresh_from_db()
    assert (row.usd_per_million_input_tokens, row.usd_per_million_output_tokens) == (0.5, 0.7)
    assert LogEntry.objects.filter(object_id=str(row.pk), content_type__model="hostedapiprice").exists()
