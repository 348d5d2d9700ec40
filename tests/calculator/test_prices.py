"""The public price file: every point sourced and dated; every datacenter accelerator priced, or why not."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from calculator.catalog import default_catalog
from calculator.prices import NO_PUBLIC_PRICE, PriceDataError, load_price_points


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


def test_a_malformed_row_names_its_line_and_column(tmp_path):
    path = tmp_path / "prices.csv"
    header = "hardware,provider,region,kind,usd_per_gpu_hour,as_of,source,quote\n"
    path.write_text(header + "h100-sxm-80gb,X,,rental,1.0,2026-01-01,s,q\n")
    with pytest.raises(PriceDataError, match="line 2: kind 'rental'"):
        load_price_points(path)
    path.write_text(header + "h100-sxm-80gb,X,,spot,-1,2026-01-01,s,q\n")
    with pytest.raises(PriceDataError, match="line 2: usd_per_gpu_hour must be positive"):
        load_price_points(path)
    path.write_text(header + "h100-sxm-80gb,X,,spot,1,2026-01-01,,q\n")
    with pytest.raises(PriceDataError, match="line 2: source is empty"):
        load_price_points(path)
