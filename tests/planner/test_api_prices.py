"""Price points: GPUs per instance, the instance price and the reserved terms through the API (staff write,
validation naming the field, filters), a team's reserved price in the break-even, and migration 0013's
mapping of the old `reserved` kind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from calculator.catalog import default_catalog
from planner import specs
from planner.models import CatalogRevision, Hardware, PricePoint

URL = "/api/v1/prices/"


@pytest.fixture
def staff_api(client_for, staff):
    return client_for(staff)


def _body(**change):
    return {
        "hardware": "h100-sxm-80gb",
        "provider": "AWS",
        "region": "us-east-1",
        "kind": "reserved_3y",
        "gpus_per_instance": 8,
        "usd_per_instance_hour": 24.0,
        "usd_per_gpu_hour": 3.0,
        "as_of": "2026-12-03",
        "source": "example",
        **change,
    }


@pytest.mark.django_db
def test_a_price_point_stores_its_instance_and_term(staff_api, catalog):
    response = staff_api.post(URL, _body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    stored = (body["kind"], body["gpus_per_instance"], body["usd_per_instance_hour"])
    assert stored == ("reserved_3y", 8, 24.0)
    point = PricePoint.objects.get(pk=body["id"])
    assert (point.gpus_per_instance, point.instance_usd_per_hour) == (8, 24.0)
    # Empty instance price means GPUs x $/GPU-hour.
    response = staff_api.post(URL, _body(usd_per_instance_hour=None, provider="Other"), format="json")
    assert response.status_code == 201
    assert PricePoint.objects.get(pk=response.json()["id"]).instance_usd_per_hour == 24.0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"usd_per_instance_hour": 3.0}, "usd_per_instance_hour", id="instance-not-gpus-x-price"),
        pytest.param({"gpus_per_instance": 0}, "gpus_per_instance", id="no-gpus"),
        pytest.param({"kind": "reserved"}, "kind", id="term-not-stated"),
    ],
)
def test_an_inconsistent_price_point_is_a_400_naming_the_field(staff_api, catalog, change, field):
    response = staff_api.post(URL, _body(**change), format="json")
    assert response.status_code == 400
    assert field in response.json()["detail"], response.json()
    assert not PricePoint.objects.exists()


@pytest.mark.django_db
def test_prices_filter_by_kind(staff_api, catalog):
    for kind in ("on_demand", "spot", "reserved_1y", "reserved_3y"):
        price = {"on_demand": 4.0, "spot": 2.0, "reserved_1y": 3.0, "reserved_3y": 2.5}[kind]
        body = _body(kind=kind, usd_per_gpu_hour=price, usd_per_instance_hour=price * 8)
        assert staff_api.post(URL, body, format="json").status_code == 201
    listed = staff_api.get(URL, {"kind": "reserved_1y"}).json()["results"]
    assert [p["kind"] for p in listed] == ["reserved_1y"]


@pytest.mark.django_db
def test_a_teams_reserved_price_beats_the_public_one_in_the_break_even(client_for, editor, team, catalog):
    h100 = Hardware.objects.get(key="h100-sxm-80gb")
    common = {"hardware": h100, "region": "", "kind": "reserved_1y", "as_of": dt.date(2026, 9, 20)}
    PricePoint.objects.create(
        **common, provider="Public", usd_per_gpu_hour=3.0, gpus_per_instance=8, source="s"
    )
    PricePoint.objects.create(
        **common, provider="Ours", usd_per_gpu_hour=5.0, gpus_per_instance=8, source="s", team=team
    )
    question = {
        "model": "llama-3.1-8b",
        "hardware": ["h100-sxm-80gb"],
        "frameworks": ["vllm"],
        "requests_per_day": [1000],
        "options": ["rent_reserved_1y"],
    }
    public = client_for(editor).post("/api/v1/breakeven/", question, format="json").json()
    ours = client_for(editor).post("/api/v1/breakeven/", {**question, "team": team.pk}, format="json").json()
    assert public["levels"][0]["options"]["rent_reserved_1y"]["price"]["provider"] == "Public"
    option = ours["levels"][0]["options"]["rent_reserved_1y"]
    assert option["label"] == "rent (1-year reserved)"
    assert option["price"]["provider"] == "Ours" and option["price"]["usd_per_instance_hour"] == 40.0


@pytest.mark.django_db(transaction=True)
def test_migration_0013_maps_reserved_to_its_kind_and_keeps_the_revision_triggers():
    executor = MigrationExecutor(connection)
    executor.migrate([("planner", "0012_hosted_api_prices")])
    old = executor.loader.project_state([("planner", "0012_hosted_api_prices")]).apps
    OldHardware = old.get_model("planner", "Hardware")
    names = {f.name for f in OldHardware._meta.concrete_fields}
    values = specs.hardware_row_values(default_catalog().hardware["h100-sxm-80gb"])
    hardware = OldHardware.objects.create(**{k: v for k, v in values.items() if k in names})
    OldPoint = old.get_model("planner", "PricePoint")
    capacity_block = OldPoint.objects.create(
        hardware=hardware, provider="AWS", region="us-east-1", kind="reserved", usd_per_gpu_hour=4.916,
        as_of=dt.date(2024, 12, 1), source="s",
    )  # fmt: skip
    termless = OldPoint.objects.create(
        hardware=hardware, provider="Staff", region="", kind="reserved", usd_per_gpu_hour=3.0,
        as_of=dt.date(2026, 1, 5), source="s",
    )  # fmt: skip
    edited = OldPoint.objects.create(
        hardware=hardware, provider="AWS", region="us-east-1", kind="on_demand", usd_per_gpu_hour=7.0,
        as_of=dt.date(2026, 11, 9), source="s",
    )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    point = PricePoint.objects.get(pk=capacity_block.pk)
    # The file's Capacity Block: its own kind, 8 GPUs at $39.33 an instance-hour; a reserved point that states
    # no term takes the 1-year one.
    assert (point.kind, point.gpus_per_instance, point.usd_per_instance_hour) == ("capacity_block", 8, 39.33)
    assert PricePoint.objects.get(pk=termless.pk).kind == "reserved_1y"
    # A point whose price is not the file's keeps an empty instance price (GPUs x $/GPU-hour).
    assert PricePoint.objects.get(pk=edited.pk).usd_per_instance_hour is None
    before = CatalogRevision.objects.get(pk=1).token
    PricePoint.objects.filter(pk=point.pk).update(usd_per_gpu_hour=4.0, usd_per_instance_hour=32.0)
    assert CatalogRevision.objects.get(pk=1).token != before, "the rebuild kept the revision triggers"
    executor = MigrationExecutor(connection)
    executor.migrate([("planner", "0012_hosted_api_prices")])
    reverted = executor.loader.project_state([("planner", "0012_hosted_api_prices")]).apps
    assert reverted.get_model("planner", "PricePoint").objects.get(pk=point.pk).kind == "reserved"
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
