"""The break-even page (Django test client): the same figures as POST /api/v1/breakeven/, the crossovers
in words, the chart's data, and the engine's errors next to their field."""

from __future__ import annotations

import json
import re

import pytest

from calculator.planning.breakeven import DAYS_PER_MONTH
from planner.models import HostedApiPrice

PAGE = (
    "/breakeven/?model=llama-3.1-70b&hardware=h100-sxm-80gb&precisions=fp8&frameworks=vllm"
    "&levels=1000%2C+100000%2C+1000000&prompt_tokens=1000&output_tokens=200&slo_ttft_p99_ms=2000&options=rent"
)
API = {
    "model": "llama-3.1-70b",
    "hardware": ["h100-sxm-80gb"],
    "precisions": ["fp8"],
    "frameworks": ["vllm"],
    "requests_per_day": [1000, 100000, 1000000],
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "slo": {"ttft_p99_ms": 2000},
    "options": ["rent"],
}


@pytest.mark.django_db
def test_the_page_shows_the_apis_figures_and_the_chart_data(client, catalog):
    page = client.get(PAGE).content.decode()
    api = client.post("/api/v1/breakeven/", API, content_type="application/json").json()

    for level, row in zip(
        api["levels"], re.findall(r"<tr data-requests-per-day=.*?</tr>", page, re.S), strict=True
    ):
        for name, option in level["options"].items():
            cell = re.search(rf'data-option="{re.escape(name)}" data-monthly="([^"]*)"', row).group(1)
            assert float(cell) == pytest.approx(option["monthly_usd"])
    chart = json.loads(
        re.search(r'<script id="breakeven-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    )
    labels = {line["label"] for line in chart["lines"]}
    assert "rent (on-demand)" in labels and "fireworks API" in labels
    assert all(len(line["points"]) >= 10 for line in chart["lines"])
    crossing = next(c for c in api["crossovers"] if c["provider"] == "fireworks")
    assert f"undercuts fireworks's API from {crossing['requests_per_day']:,.0f}" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("levels=lots", "levels"),
        ("levels=-3", "levels"),
        ("hardware=warp-drive", "hardware"),
        ("pue=0.5", "pue"),
    ],
)
def test_errors_are_shown_next_to_their_field(client, catalog, query, field):
    name = query.split("=")[0]
    url = re.sub(rf"([?&]){name}=[^&]*", "", PAGE) + f"&{query}"
    page = client.get(url).content.decode()
    errors = re.search(rf'id="errors-{field}">(.*?)</div>', page, re.S).group(1)
    assert "field-error" in errors, (field, errors)


@pytest.mark.django_db
def test_the_page_compares_the_hosted_prices_in_the_database(client, catalog):
    HostedApiPrice.objects.filter(provider="fireworks", model__key="llama-3.1-70b").update(
        usd_per_million_input_tokens=2.0, usd_per_million_output_tokens=2.0
    )
    HostedApiPrice.objects.filter(provider="together").delete()

    page = client.get(PAGE.replace("levels=1000%2C+100000%2C+1000000", "levels=100000")).content.decode()

    row = re.search(r"<tr data-requests-per-day=.*?</tr>", page, re.S).group(0)
    cell = re.search(r'data-option="fireworks" data-monthly="([^"]*)"', row).group(1)
    assert float(cell) == pytest.approx(100000 * DAYS_PER_MONTH * 1200 * 2.0 / 1e6)
    assert 'data-option="together"' not in row
