"""seed_catalog: upsert by key from calculator/data; idempotent; admin edits kept unless --overwrite."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from calculator.catalog import load_catalog
from calculator.planning.breakeven import hosted_prices
from calculator.prices import load_price_points
from planner import specs
from planner.models import Hardware, HostedApiPrice, LLMModel, PricePoint
from planner.specs import catalog_from_db


def _counts() -> tuple[int, int, int]:
    return LLMModel.objects.count(), Hardware.objects.count(), PricePoint.objects.count()


@pytest.mark.django_db
def test_seed_is_idempotent_and_round_trips_the_engine_catalog():
    engine = load_catalog()
    call_command("seed_catalog")
    first = _counts()
    call_command("seed_catalog")

    assert _counts() == first
    assert first[:2] == (len(engine.models), len(engine.hardware))
    priced = [h for h in engine.hardware.values() if h.cloud_usd_per_hour > 0]
    points = load_price_points()
    assert len(priced) <= first[2] <= len(priced) + len(points)
    for point in points:  # every sourced public price is stored with its provenance
        stored = PricePoint.objects.get(
            hardware__key=point.hardware,
            provider=point.provider,
            region=point.region,
            kind=point.kind,
            as_of=point.as_of,
            team=None,
        )
        assert stored.usd_per_gpu_hour == point.usd_per_gpu_hour
        assert point.quote in stored.source
    db = catalog_from_db()
    assert db.catalog.models == engine.models
    assert db.catalog.hardware == engine.hardware


@pytest.mark.django_db
def test_admin_edit_survives_a_reseed_and_overwrite_restores_it():
    call_command("seed_catalog")
    Hardware.objects.filter(key="h100-sxm-80gb").update(memory_bandwidth_bytes_per_s=1.0)
    LLMModel.objects.filter(key="llama-3.1-8b").update(notes="curated")
    default = {"hardware__key": "h100-sxm-80gb", "provider": "Lambda", "as_of": dt.date(2026, 9, 9)}
    PricePoint.objects.filter(**default).update(usd_per_gpu_hour=99.0)

    call_command("seed_catalog")
    assert Hardware.objects.get(key="h100-sxm-80gb").memory_bandwidth_bytes_per_s == 1.0
    assert LLMModel.objects.get(key="llama-3.1-8b").notes == "curated"
    assert PricePoint.objects.get(**default).usd_per_gpu_hour == 99.0

    counts = _counts()
    call_command("seed_catalog", "--overwrite")
    engine = load_catalog()
    assert _counts() == counts
    assert Hardware.objects.get(key="h100-sxm-80gb").memory_bandwidth_bytes_per_s == (
        engine.hardware["h100-sxm-80gb"].memory_bandwidth_bytes_per_s
    )
    assert LLMModel.objects.get(key="llama-3.1-8b").notes == engine.models["llama-3.1-8b"].notes
    assert PricePoint.objects.get(**default).usd_per_gpu_hour == 4.29


@pytest.mark.django_db
def test_seeded_price_points_name_provider_and_date():
    call_command("seed_catalog")
    point = PricePoint.objects.get(
        hardware__key="h100-sxm-80gb", provider="Lambda", as_of=dt.date(2026, 9, 9)
    )

    assert point.provider == "Lambda"
    assert point.as_of.isoformat() == "2026-09-09"
    assert point.kind == "on_demand"
    assert point.team is None
    assert "Lambda" in point.source
    assert PricePoint.objects.get(hardware__key="a10g-24gb").region == "us-east-1"
    h200 = PricePoint.objects.filter(hardware__key="h200-sxm-141gb", kind="on_demand")
    assert {p.provider for p in h200} >= {"Nebius", "CoreWeave", "Hyperstack"}
    assert all(p.as_of.year == 2026 and "2026" in p.source for p in h200)


@pytest.mark.django_db
def test_hosted_prices_are_seeded_once_with_edits_kept_and_overwrite_restoring_them():
    call_command("seed_catalog")
    listed = hosted_prices()
    assert HostedApiPrice.objects.count() == len(listed)
    assert specs.hosted_prices() == tuple(sorted(listed, key=lambda p: p.as_of))

    lookup = {"provider": "fireworks", "api_model": listed[3].api_model, "as_of": listed[3].as_of}
    HostedApiPrice.objects.filter(**lookup).update(usd_per_million_output_tokens=1.25, notes="curated")
    call_command("seed_catalog")
    assert HostedApiPrice.objects.count() == len(listed)
    kept = HostedApiPrice.objects.get(**lookup)
    assert (kept.usd_per_million_output_tokens, kept.notes) == (1.25, "curated")

    call_command("seed_catalog", "--overwrite")
    assert HostedApiPrice.objects.count() == len(listed)
    restored = HostedApiPrice.objects.get(**lookup)
    assert restored.usd_per_million_output_tokens == listed[3].output_usd_per_million
    assert restored.notes == listed[3].notes
