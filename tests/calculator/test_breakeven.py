"""Break-even between hosted APIs and self-hosting (calculator.planning.breakeven)."""

from __future__ import annotations

import dataclasses
import datetime as dt

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
