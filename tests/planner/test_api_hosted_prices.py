"""/api/v1/hosted-api-prices/: the hosted-API price list the break-even compares against, read by anyone
signed in and edited by staff (who may see and change it in the admin too); an edit counts in the next
break-even. Who may call what is in test_api_permissions.py::test_catalog_permissions; the list's query
count is pinned in test_query_counts.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from calculator.planning.breakeven import DAYS_PER_MONTH
from planner.models import HostedApiPrice

URL = "/api/v1/hosted-api-prices/"
BREAKEVEN = {
    "model": "llama-3.1-70b",
    "hardware": ["h100-sxm-80gb"],
    "precisions": ["fp8"],
    "frameworks": ["vllm"],
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "requests_per_day": [100000],
    "slo": {"ttft_p99_ms": 2000},
    "options": ["rent"],
    "providers": ["fireworks"],
}
NEW_PRICE = {
    "provider": "acme",
    "model": "llama-3.1-70b",
    "api_model": "acme/llama-70b",
    "usd_per_million_input_tokens": 0.2,
    "usd_per_million_output_tokens": 0.6,
    "usd_per_million_cached_input_tokens": 0.05,
    "precision": "fp8",
    "as_of": "2026-11-30",
    "source": "https://acme.example/pricing",
}


def _api_monthly(body: dict, provider: str) -> float:
    return body["levels"][0]["options"][provider]["monthly_usd"]


def _monthly(input_price: float, output_price: float) -> float:
    return 100000 * DAYS_PER_MONTH * (1000 * input_price + 200 * output_price) / 1e6


@pytest.mark.django_db
def test_a_staff_edit_shows_in_the_next_break_even(client_for, staff, viewer, catalog):
    row = HostedApiPrice.objects.get(provider="fireworks", model__key="llama-3.1-70b")
    before = client_for(viewer).post("/api/v1/breakeven/", BREAKEVEN, format="json")
    assert before.status_code == 200, before.content
    assert _api_monthly(before.json(), "fireworks") == pytest.approx(_monthly(0.9, 0.9))

    edited = client_for(staff).patch(
        f"{URL}{row.pk}/",
        {"usd_per_million_input_tokens": 0.3, "usd_per_million_output_tokens": 1.2},
        format="json",
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["usd_per_million_output_tokens"] == 1.2

    after = client_for(viewer).post("/api/v1/breakeven/", BREAKEVEN, format="json")
    assert after.status_code == 200
    body = after.json()
    assert _api_monthly(body, "fireworks") == pytest.approx(_monthly(0.3, 1.2))
    (price,) = body["prices"]
    assert (price["input_usd_per_million"], price["output_usd_per_million"]) == (0.3, 1.2)
    entry = LogEntry.objects.get(object_id=str(row.pk), content_type__model="hostedapiprice")
    assert entry.action_flag == CHANGE and entry.user_id == staff.pk


@pytest.mark.django_db
def test_a_new_provider_and_a_newer_price_count_and_a_deleted_one_is_gone(client_for, staff, catalog):
    client = client_for(staff)
    created = client.post(URL, NEW_PRICE, format="json")
    assert created.status_code == 201, created.content
    newer = client.post(
        URL,
        {**NEW_PRICE, "as_of": "2026-12-02", "usd_per_million_output_tokens": 0.5},
        format="json",
    )
    assert newer.status_code == 201, newer.content

    body = client.post("/api/v1/breakeven/", {**BREAKEVEN, "providers": ["acme"]}, format="json").json()
    # The latest price per provider is the one compared; the older row stays as history.
    assert _api_monthly(body, "acme") == pytest.approx(_monthly(0.2, 0.5))
    assert body["prices"][0]["as_of"] == "2026-12-02"
    assert body["prices"][0]["cached_input_usd_per_million"] == 0.05

    for row in HostedApiPrice.objects.filter(provider="acme"):
        assert client.delete(f"{URL}{row.pk}/").status_code == 204
    gone = client.post("/api/v1/breakeven/", {**BREAKEVEN, "providers": ["acme"]}, format="json")
    assert gone.status_code == 400
    assert "acme" in str(gone.json()["detail"]["providers"])


@pytest.mark.django_db
def test_filters_by_model_and_provider(client_for, viewer, catalog):
    client = client_for(viewer)
    everything = client.get(URL).json()
    assert everything["count"] == HostedApiPrice.objects.count() > 2

    by_model = client.get(URL, {"model": "llama-3.1-70b"}).json()["results"]
    assert {row["model"] for row in by_model} == {"llama-3.1-70b"}
    assert len(by_model) == HostedApiPrice.objects.filter(model__key="llama-3.1-70b").count()

    both = client.get(URL, {"model": "llama-3.1-70b", "provider": "deepinfra"}).json()["results"]
    assert [(row["provider"], row["model"]) for row in both] == [("deepinfra", "llama-3.1-70b")]
    assert both[0]["api_model"] == "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo"
    assert both[0]["as_of"] == "2026-12-03"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"usd_per_million_input_tokens": -0.1}, "usd_per_million_input_tokens"),
        ({"usd_per_million_output_tokens": "Infinity"}, "usd_per_million_output_tokens"),
        ({"usd_per_million_cached_input_tokens": "NaN"}, "usd_per_million_cached_input_tokens"),
        ({"model": "no-such-model"}, "model"),
        ({"source": "  "}, "source"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
def test_bad_prices_get_400_naming_the_field_and_nothing_is_written(
    client_for, staff, catalog, change, field
):
    before = HostedApiPrice.objects.count()

    response = client_for(staff).post(URL, {**NEW_PRICE, **change}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["detail"]
    assert HostedApiPrice.objects.count() == before


@pytest.mark.django_db
def test_one_price_per_provider_model_name_and_date(client_for, staff, catalog):
    client = client_for(staff)
    assert client.post(URL, NEW_PRICE, format="json").status_code == 201

    again = client.post(URL, {**NEW_PRICE, "usd_per_million_input_tokens": 0.25}, format="json")

    assert again.status_code == 400
    assert HostedApiPrice.objects.filter(provider="acme").count() == 1
    later = client.post(URL, {**NEW_PRICE, "as_of": dt.date(2026, 12, 1).isoformat()}, format="json")
    assert later.status_code == 201
