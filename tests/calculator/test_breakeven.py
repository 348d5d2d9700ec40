"""Break-even between hosted APIs and self-hosting (calculator.planning.breakeven)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest

from calculator import InputError
from calculator.catalog import default_catalog
from calculator.cost import HOURS_PER_MONTH, HOURS_PER_YEAR, CostAssumptions
from calculator.planning.breakeven import (
    DAYS_PER_MONTH,
    compute_breakeven,
    current_prices,
    hosted_prices,
    resolve_breakeven_request,
)

QUESTION = {
    "model": "llama-3.1-70b",
    "hardware": ["h100-sxm-80gb", "l40s-48gb"],
    "frameworks": ["vllm"],
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "requests_per_day": [1000, 30000, 1_000_000],
    "slo": {"ttft_p99_ms": 2000},
}


def test_every_hosted_price_names_catalog_weights_a_source_and_a_date():
    catalog = default_catalog()
    prices = hosted_prices()
    assert len(prices) >= 5
    for p in prices:
        assert p.model in catalog.models, p
        assert p.source.startswith("https://"), p
        assert p.input_usd_per_million > 0 and p.output_usd_per_million > 0, p
        assert dt.date(2024, 1, 1) <= p.as_of <= dt.date.today(), p
        assert p.notes, p


def test_self_hosting_is_the_capacity_plan_and_the_api_a_straight_line():
    result = compute_breakeven(resolve_breakeven_request(QUESTION))
    assume = CostAssumptions()
    catalog = default_catalog()
    for level in result.levels:
        for p in result.prices:
            per_request = (1000 * p.input_usd_per_million + 200 * p.output_usd_per_million) / 1e6
            assert level.api_monthly_usd[p.provider] == pytest.approx(
                level.requests_per_day * DAYS_PER_MONTH * per_request
            )
        rent, buy = level.self_hosted["rent"], level.self_hosted["buy"]
        assert rent is not None and buy is not None
        r, b = rent.deployment, buy.deployment
        hw = catalog.hardware[r.hardware]
        assert rent.monthly_usd == pytest.approx(hw.cloud_usd_per_hour * r.gpus * HOURS_PER_MONTH)
        owned = catalog.hardware[b.hardware]
        hourly = owned.purchase_usd * b.gpus / (assume.lifetime_years * HOURS_PER_YEAR) + (
            owned.tdp_watts * b.gpus * assume.power_utilization / 1000 * assume.usd_per_kwh * assume.pue
        )
        assert buy.monthly_usd == pytest.approx(hourly * HOURS_PER_MONTH)
        assert r.ttft_p99_ms <= 2000 and r.utilization <= 0.9 + 1e-9
    # More traffic never needs fewer GPUs.
    gpus = [lv.self_hosted["rent"].deployment.gpus for lv in result.levels]
    assert gpus == sorted(gpus)


def test_the_crossover_is_where_self_hosting_stops_costing_more():
    request = resolve_breakeven_request({**QUESTION, "options": ["rent"], "providers": ["fireworks"]})
    result = compute_breakeven(request)
    (cross,) = result.crossovers
    assert cross.requests_per_day is not None and cross.at is not None
    assert cross.at.monthly_usd <= cross.api_monthly_usd * (1 + 1e-9)
    below = compute_breakeven(
        resolve_breakeven_request(
            {
                **QUESTION,
                "options": ["rent"],
                "providers": ["fireworks"],
                "requests_per_day": [cross.requests_per_day * 0.97],
            }
        )
    ).levels[0]
    assert below.self_hosted["rent"].monthly_usd > below.api_monthly_usd["fireworks"]
    # Ops costs per GPU make buying dearer, so it crosses later.
    cheap = compute_breakeven(
        resolve_breakeven_request({**QUESTION, "options": ["buy"], "providers": ["fireworks"]})
    )
    dear = compute_breakeven(
        resolve_breakeven_request(
            {**QUESTION, "options": ["buy"], "providers": ["fireworks"], "ops_usd_per_gpu_month": 500}
        )
    )
    assert dear.crossovers[0].requests_per_day > cheap.crossovers[0].requests_per_day


def test_stale_and_secondary_prices_are_flagged():
    request = resolve_breakeven_request({**QUESTION, "max_price_age_days": 1})
    request = type(request)(**{**request.__dict__, "today": dt.date.today() + dt.timedelta(days=30)})
    notes = " ".join(compute_breakeven(request).notes)
    assert "days ago" in notes and "secondary page" in notes


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": ""}, "model"),
        ({"requests_per_day": []}, "requests_per_day"),
        ({"requests_per_day": [0]}, "requests_per_day"),
        ({"options": ["lease"]}, "options"),
        ({"providers": ["nobody"]}, "providers"),
        ({"prompt_tokens": 0}, "prompt_tokens"),
        ({"pue": 0.9}, "pue"),
        ({"hardware": ["warp-drive"]}, "hardware"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_questions_name_the_field(change, field):
    with pytest.raises(InputError) as error:
        resolve_breakeven_request({**QUESTION, **change})
    assert error.value.field == field


def test_a_price_list_given_replaces_the_file_and_the_latest_price_per_provider_counts():
    listed = [p for p in hosted_prices() if p.model == "llama-3.1-70b" and p.provider == "fireworks"]
    older = dataclasses.replace(listed[0], as_of=dt.date(2026, 1, 1), output_usd_per_million=5.0)
    newer = dataclasses.replace(listed[0], output_usd_per_million=1.5)
    prices = (newer, older)
    assert current_prices(prices, "llama-3.1-70b") == (newer,)

    question = {**QUESTION, "requests_per_day": [1000], "options": ["rent"]}
    result = compute_breakeven(resolve_breakeven_request(question, prices=prices), prices=prices)
    assert result.prices == (newer,)
    assert result.levels[0].api_monthly_usd == {
        "fireworks": pytest.approx(1000 * DAYS_PER_MONTH * (1000 * 0.9 + 200 * 1.5) / 1e6)
    }
    with pytest.raises(InputError) as error:
        resolve_breakeven_request({**question, "providers": ["deepinfra"]}, prices=prices)
    assert error.value.field == "providers"
    # An empty list is a list with no APIs in it, not a reason to fall back on the file.
    empty = compute_breakeven(resolve_breakeven_request(question, prices=()), prices=())
    assert empty.prices == () and "no hosted API price" in " ".join(empty.notes)


def _point(hardware, kind, usd_per_gpu_hour, gpus_per_instance=1, provider="Example"):
    from calculator.prices import PricePointRow

    return PricePointRow(
        hardware=hardware,
        provider=provider,
        region="",
        kind=kind,
        usd_per_gpu_hour=usd_per_gpu_hour,
        as_of=dt.date(2026, 9, 20),
        source="test",
        quote="test",
        gpus_per_instance=gpus_per_instance,
        usd_per_instance_hour=usd_per_gpu_hour * gpus_per_instance,
    )


H100_ONLY = {**QUESTION, "hardware": ["h100-sxm-80gb"], "requests_per_day": [1000, 2000, 5000, 1_000_000]}


def test_each_rent_kind_is_its_own_labelled_line():
    points = (
        _point("h100-sxm-80gb", "spot", 2.0),
        _point("h100-sxm-80gb", "reserved_1y", 3.0, 8),
        _point("h100-sxm-80gb", "reserved_3y", 2.5, 8),
        _point("h100-sxm-80gb", "capacity_block", 4.9, 8),
    )
    result = compute_breakeven(resolve_breakeven_request(H100_ONLY), rental_points=points)
    body = result.to_dict()
    options = body["levels"][0]["options"]
    for name, label in (
        ("rent", "rent (on-demand)"),
        ("rent_spot", "rent (spot)"),
        ("rent_reserved_1y", "rent (1-year reserved)"),
        ("rent_reserved_3y", "rent (3-year reserved)"),
        ("rent_capacity_block", "rent (capacity blocks)"),
        ("buy", "buy"),
    ):
        assert options[name]["label"] == label
        assert options[name]["monthly_usd"] > 0
    # The existing keys are still there, and rent (the catalog default) names no price point.
    assert {"kind", "monthly_usd", "usd_per_request", "deployment"} <= set(options["rent"])
    assert options["rent"]["price"] is None
    assert options["rent_reserved_1y"]["price"]["kind"] == "reserved_1y"
    assert {c["option"] for c in body["crossovers"]} == set(body["request"]["options"])
    assert any("every hour of the 1-year term" in n for n in result.notes)
    assert any("blocks of days to weeks" in n for n in result.notes)
    # Eight GPUs of one 8-GPU instance at $4.90/GPU-hour, every hour of the month.
    block = options["rent_capacity_block"]
    assert block["price"]["instances"] == math.ceil(block["deployment"]["gpus"] / 8)
    assert block["monthly_usd"] == pytest.approx(block["price"]["instances"] * 4.9 * 8 * HOURS_PER_MONTH)


def test_a_reserved_term_costs_the_same_at_every_level_the_same_instances_serve():
    points = (_point("h100-sxm-80gb", "reserved_1y", 3.0, 8),)
    question = {**H100_ONLY, "requests_per_day": [1000, 2000, 5000, 20_000_000]}
    result = compute_breakeven(resolve_breakeven_request(question), rental_points=points)
    costs = {}
    for level in result.levels:
        hosted = level.self_hosted["rent_reserved_1y"]
        assert hosted is not None
        instances = hosted.price["instances"]
        assert instances == -(-hosted.deployment.gpus // 8)
        assert hosted.monthly_usd == pytest.approx(instances * 24.0 * HOURS_PER_MONTH)
        costs.setdefault(instances, set()).add(round(hosted.monthly_usd, 6))
    # One 8-GPU instance serves 1,000 to 5,000 requests/day at one flat price; 20M/day needs more.
    assert len(costs) >= 2 and all(len(v) == 1 for v in costs.values())


def test_spot_is_cheaper_than_on_demand_at_a_lower_rate_and_a_kind_without_points_has_no_line():
    catalog = default_catalog()
    on_demand = catalog.hardware["h100-sxm-80gb"].cloud_usd_per_hour
    points = (_point("h100-sxm-80gb", "spot", on_demand / 2),)
    result = compute_breakeven(resolve_breakeven_request(H100_ONLY), rental_points=points)
    for level in result.levels:
        rent, spot = level.self_hosted["rent"], level.self_hosted["rent_spot"]
        assert rent is not None and spot is not None
        assert spot.monthly_usd < rent.monthly_usd
        assert level.self_hosted["rent_reserved_3y"] is None
    assert any("rent (3-year reserved): no catalog deployment" in n for n in result.notes)


def test_buy_prices_a_published_whole_server_per_gpu_and_buys_whole_servers():
    from calculator.prices import ServerPrice

    server = ServerPrice(
        server="Example 8-GPU server",
        hardware="h100-sxm-80gb",
        gpus_per_server=8,
        usd=400_000.0,
        kind="list",
        as_of=dt.date(2026, 12, 3),
        source="test",
        quote="test",
    )
    question = {**H100_ONLY, "options": ["buy"], "requests_per_day": [1000]}
    plain = compute_breakeven(resolve_breakeven_request(question), server_prices=())
    whole = compute_breakeven(resolve_breakeven_request(question), server_prices=(server,))
    before, after = plain.levels[0].self_hosted["buy"], whole.levels[0].self_hosted["buy"]
    assert before is not None and after is not None
    assert before.price == {"basis": "accelerator", "usd_per_gpu": 30_000.0}
    assert after.price["basis"] == "server" and after.price["usd_per_gpu"] == 50_000.0
    assert after.price["servers"] == 1
    gpus = after.deployment.gpus
    amortised = 400_000.0 / (3.0 * HOURS_PER_YEAR) * HOURS_PER_MONTH
    accelerators = 30_000.0 * gpus / (3.0 * HOURS_PER_YEAR) * HOURS_PER_MONTH
    assert after.monthly_usd - before.monthly_usd == pytest.approx(amortised - accelerators, rel=1e-6)
    assert any("Example 8-GPU server" in n for n in whole.notes)
