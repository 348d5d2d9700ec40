"""The per-process catalog cache (planner.specs.catalog_from_db): a hit reads no catalog table, and every kind
of catalog write (save, QuerySet.update, bulk, delete, raw SQL, price points, a rolled-back edit) shows in the
next estimate, because database triggers rewrite the revision token in the writing transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from calculator.catalog import default_catalog
from planner import specs
from planner.models import CatalogRevision, Hardware, LLMModel, PricePoint
from tests.planner.conftest import ESTIMATE_INPUTS

URL = "/api/v1/estimate/"
CATALOG_TABLES = ("planner_hardware", "planner_llmmodel", "planner_pricepoint")


def _hourly(client) -> float:
    response = client.post(URL, ESTIMATE_INPUTS, format="json")
    assert response.status_code == 200, response.content
    return response.json()["result"]["cost"]["hourly_usd"]


def _catalog_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if any(table in q["sql"] for table in CATALOG_TABLES)]


@pytest.mark.django_db
def test_a_second_estimate_reads_only_the_revision(client_for, catalog):
    client = client_for(None)
    _hourly(client)
    with CaptureQueriesContext(connection) as queries:
        _hourly(client)

    assert _catalog_queries(queries.captured_queries) == []
    assert any("planner_catalogrevision" in q["sql"] for q in queries.captured_queries)


def _public_price(hardware: Hardware, usd: float) -> PricePoint:
    return PricePoint.objects.create(
        hardware=hardware, provider="Acme", usd_per_gpu_hour=usd, as_of=dt.date(2026, 1, 1), source="quote"
    )


def _save(h: Hardware) -> float:
    h.cloud_usd_per_hour = 11.0
    h.save()
    return 11.0


def _update(h: Hardware) -> float:
    Hardware.objects.filter(pk=h.pk).update(cloud_usd_per_hour=12.0)
    return 12.0


def _raw_sql(h: Hardware) -> float:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE planner_hardware SET cloud_usd_per_hour = 13.0 WHERE id = %s", [h.pk])
    return 13.0


def _price_created(h: Hardware) -> float:
    _public_price(h, 4.5)
    return 4.5


def _price_bulk(h: Hardware) -> float:
    PricePoint.objects.bulk_create(
        [
            PricePoint(
                hardware=h, provider="Bulk", usd_per_gpu_hour=2.25, as_of=dt.date(2026, 6, 1), source="quote"
            )
        ]
    )
    return 2.25


WRITES = [
    pytest.param(_save, id="save"),
    pytest.param(_update, id="queryset-update"),
    pytest.param(_raw_sql, id="raw-sql"),
    pytest.param(_price_created, id="price-point"),
    pytest.param(_price_bulk, id="price-bulk-create"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("write", WRITES)
def test_every_kind_of_write_shows_in_the_next_estimate(client_for, catalog, write):
    client = client_for(None)
    before = _hourly(client)
    token = specs.catalog_revision()

    expected = write(Hardware.objects.get(key="h100-sxm-80gb"))

    assert specs.catalog_revision() != token
    assert before != expected
    assert _hourly(client) == expected


@pytest.mark.django_db
def test_price_point_edit_and_delete_show_at_once(client_for, catalog):
    client = client_for(None)
    point = _public_price(Hardware.objects.get(key="h100-sxm-80gb"), 3.0)
    assert _hourly(client) == 3.0

    PricePoint.objects.filter(pk=point.pk).update(usd_per_gpu_hour=3.5)
    assert _hourly(client) == 3.5

    point.delete()
    assert _hourly(client) == Hardware.objects.get(key="h100-sxm-80gb").cloud_usd_per_hour


@pytest.mark.django_db
def test_a_model_added_and_removed_is_seen_at_once(client_for, catalog):
    client = client_for(None)
    body = {**ESTIMATE_INPUTS, "model": "qwen3-32b"}
    assert client.post(URL, body, format="json").status_code == 400

    LLMModel.objects.create(**specs.model_row_values(default_catalog().models["qwen3-32b"]))
    assert client.post(URL, body, format="json").status_code == 200

    LLMModel.objects.filter(key="qwen3-32b").delete()
    assert client.post(URL, body, format="json").status_code == 400


@pytest.mark.django_db
def test_a_rolled_back_edit_leaves_no_stale_catalog(client_for, catalog):
    """The edit's transaction caches its own view under its token; that token dies with the rollback, so
    the next estimate rebuilds from the committed rows, even after another write bumps the counter back to
    the rolled-back value."""
    client = client_for(None)
    committed = _hourly(client)
    counter = CatalogRevision.objects.get(pk=1).counter

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=99.0)
        assert _hourly(client) == 99.0
        raise Rollback

    assert CatalogRevision.objects.get(pk=1).counter == counter
    assert _hourly(client) == committed
    LLMModel.objects.filter(key="qwen2.5-7b").update(notes="edited")
    assert CatalogRevision.objects.get(pk=1).counter == counter + 1
    assert _hourly(client) == committed


@pytest.mark.django_db
def test_team_prices_are_cached_per_team(client_for, editor, team, catalog):
    hardware = Hardware.objects.get(key="h100-sxm-80gb")
    _public_price(hardware, 3.0)
    PricePoint.objects.create(
        hardware=hardware,
        provider="Deal",
        usd_per_gpu_hour=1.5,
        as_of=dt.date(2026, 1, 1),
        source="c",
        team=team,
    )
    client = client_for(editor)

    for _ in range(2):
        public = client.post(URL, ESTIMATE_INPUTS, format="json").json()["result"]["cost"]["hourly_usd"]
        own = client.post(URL, {**ESTIMATE_INPUTS, "team": team.pk}, format="json").json()
        assert (public, own["result"]["cost"]["hourly_usd"]) == (3.0, 1.5)
