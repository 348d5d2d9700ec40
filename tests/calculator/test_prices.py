"""The public price file: every point sourced and dated; every datacenter accelerator priced, or why not."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from calculator.catalog import default_catalog
from calculator.prices import (
    KINDS,
    NO_PUBLIC_PRICE,
    PriceDataError,
    cheapest_by_hardware,
    load_price_points,
    load_server_prices,
)


def test_every_point_names_a_catalog_accelerator_a_date_and_its_source():
    catalog = default_catalog()
    points = load_price_points()
    assert points
    for point in points:
        assert point.hardware in catalog.hardware, point
        assert dt.date(2024, 1, 1) <= point.as_of <= dt.date.today()
        assert point.source and point.quote
    keys = collections.Counter((p.hardware, p.provider, p.region, p.kind, p.as_of) for p in points)
    assert [k for k, n in keys.items() if n > 1] == [], "one point per provider, region, kind and date"


def test_every_datacenter_accelerator_has_a_dated_on_demand_price_or_a_reason():
    catalog = default_catalog()
    on_demand = collections.defaultdict(list)
    for point in load_price_points():
        if point.kind == "on_demand":
            on_demand[point.hardware].append(point.usd_per_gpu_hour)
    for key, spec in catalog.hardware.items():
        if spec.kind != "datacenter_gpu":
            continue
        if key in NO_PUBLIC_PRICE:
            assert not on_demand[key] and spec.cloud_usd_per_hour == 0, key
            continue
        assert on_demand[key] or spec.cloud_usd_per_hour > 0, f"{key}: no public price and no reason"
        if on_demand[key] and spec.cloud_usd_per_hour > 0:
            # The engine's default is one of the sourced points.
            assert any(abs(spec.cloud_usd_per_hour - v) < 1e-9 for v in on_demand[key]), key


HEADER = (
    "hardware,provider,region,kind,usd_per_gpu_hour,gpus_per_instance,usd_per_instance_hour,"
    "as_of,source,quote\n"
)


def test_a_malformed_row_names_its_line_and_column(tmp_path):
    path = tmp_path / "prices.csv"
    good = "h100-sxm-80gb,X,,spot,1.0,1,1.0,2026-01-01,s,q\n"
    for row, message in (
        ("h100-sxm-80gb,X,,rental,1.0,1,1.0,2026-01-01,s,q", "line 3: kind 'rental'"),
        ("h100-sxm-80gb,X,,reserved,1.0,1,1.0,2026-01-01,s,q", "line 3: kind 'reserved' is not one of"),
        ("h100-sxm-80gb,X,,spot,-1,1,1.0,2026-01-01,s,q", "line 3: usd_per_gpu_hour must be positive"),
        ("h100-sxm-80gb,X,,spot,1,1,1.0,2026-01-01,,q", "line 3: source is empty"),
        ("h100-sxm-80gb,X,,spot,1,,1.0,2026-01-01,s,q", "line 3: gpus_per_instance is empty"),
        ("h100-sxm-80gb,X,,spot,1,2.5,2.5,2026-01-01,s,q", "line 3: gpus_per_instance must be a whole"),
        ("h100-sxm-80gb,X,,spot,1,0,0,2026-01-01,s,q", "line 3: gpus_per_instance must be positive"),
        ("h100-sxm-80gb,X,,spot,1,1,1.0,2026-13-01,s,q", "line 3: as_of must be an ISO date"),
    ):
        path.write_text(HEADER + good + row + "\n")
        with pytest.raises(PriceDataError, match=message):
            load_price_points(path)


def test_an_instance_price_must_be_the_gpu_price_times_the_gpus(tmp_path):
    path = tmp_path / "prices.csv"
    # CoreWeave's HGX H100 line: $49.24 an hour for 8 GPUs is $6.155 a GPU.
    path.write_text(HEADER + "h100-sxm-80gb,CoreWeave,,on_demand,6.155,8,49.24,2026-09-20,s,q\n")
    (point,) = load_price_points(path)
    assert (point.gpus_per_instance, point.usd_per_instance_hour) == (8, 49.24)
    # Rounded to the cent per GPU is accepted (a provider quoting both rounds each).
    path.write_text(HEADER + "h100-sxm-80gb,CoreWeave,,spot,2.464,8,19.71,2026-09-20,s,q\n")
    assert load_price_points(path)[0].usd_per_instance_hour == 19.71
    path.write_text(HEADER + "h100-sxm-80gb,CoreWeave,,on_demand,6.155,8,6.155,2026-09-20,s,q\n")
    with pytest.raises(
        PriceDataError, match=r"prices.csv line 2: usd_per_instance_hour 6.155 is not usd_per_gpu_hour"
    ):
        load_price_points(path)


def test_every_shipped_point_has_a_term_kind_and_a_consistent_instance_price():
    points = load_price_points()
    assert {p.kind for p in points} <= set(KINDS)
    for p in points:
        assert p.gpus_per_instance >= 1
        assert abs(p.usd_per_instance_hour - p.usd_per_gpu_hour * p.gpus_per_instance) <= 0.01 * (
            p.gpus_per_instance
        ), p
    # Whole instances as the providers list them (the quotes say so).
    by_key = {(p.hardware, p.provider, p.kind): p for p in points}
    assert by_key["b200-180gb", "CoreWeave", "on_demand"].gpus_per_instance == 8
    assert by_key["gb200-192gb", "CoreWeave", "on_demand"].usd_per_instance_hour == 42.00
    # AWS's Capacity Blocks reserve GPUs for days to weeks, not a 1- or 3-year term: their own kind.
    blocks = [p for p in points if p.kind == "capacity_block"]
    assert {(p.hardware, p.provider) for p in blocks} == {
        ("h100-sxm-80gb", "AWS"),
        ("h200-sxm-141gb", "AWS"),
        ("a100-sxm-40gb", "AWS"),
    }
    assert all("Capacity Block" in p.quote and p.gpus_per_instance == 8 for p in blocks)


def test_the_cheapest_point_of_a_kind_is_the_rent_option_price():
    spot = cheapest_by_hardware(load_price_points(), "spot")
    assert spot["h100-sxm-80gb"].provider == "CoreWeave"
    assert spot["l4-24gb"].usd_per_gpu_hour == 0.44
    assert "mi300x-192gb" not in spot


def test_whole_server_prices_are_sourced_and_per_gpu(tmp_path):
    catalog = default_catalog()
    servers = load_server_prices()
    assert servers
    for server in servers:
        assert server.hardware in catalog.hardware and server.source and server.quote
        assert server.usd_per_gpu == server.usd / server.gpus_per_server
    path = tmp_path / "servers.csv"
    path.write_text(
        "server,hardware,gpus_per_server,usd,kind,as_of,source,quote\n"
        "DGX,h100-sxm-80gb,8,-5,list,2026-01-01,s,q\n"
    )
    with pytest.raises(PriceDataError, match=r"servers\.csv line 2: usd must be positive"):
        load_server_prices(path)
