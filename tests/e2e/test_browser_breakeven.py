"""The break-even page in headless Chromium: the form -> the API's figures, a drawn log-log chart with the
crossovers, and the page within the screen at phone and desktop widths."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_form_draws_the_costs_and_the_crossover(page, seeded_catalog, shoot):
    page.goto("/breakeven/")
    page.select_option("#id_model", "llama-3.1-70b")
    page.fill("#id_levels", "1000, 100000, 1000000")
    page.select_option("#id_hardware", ["h100-sxm-80gb", "l40s-48gb"])
    page.select_option("#id_precisions", ["fp8"])
    page.select_option("#id_frameworks", ["vllm"])
    page.fill("#id_slo_ttft_p99_ms", "2000")
    page.click("#breakeven-form button[type=submit]")
    page.wait_for_selector("#breakeven-chart[data-rendered]")

    api = (
        Client()
        .post(
            "/api/v1/breakeven/",
            json.dumps(
                {
                    "model": "llama-3.1-70b",
                    "requests_per_day": [1000, 100000, 1000000],
                    "hardware": ["h100-sxm-80gb", "l40s-48gb"],
                    "precisions": ["fp8"],
                    "frameworks": ["vllm"],
                    "slo": {"ttft_p99_ms": 2000},
                }
            ),
            content_type="application/json",
        )
        .json()
    )
    rows = page.locator("#breakeven-table tbody tr")
    assert rows.count() == len(api["levels"])
    for i, level in enumerate(api["levels"]):
        row = rows.nth(i)
        assert float(row.get_attribute("data-requests-per-day")) == level["requests_per_day"]
        for name, option in level["options"].items():
            shown = row.locator(f'td[data-option="{name}"]').get_attribute("data-monthly")
            if option["monthly_usd"] is None:  # a price kind none of these accelerators has
                assert shown == ""
            else:
                assert float(shown) == pytest.approx(option["monthly_usd"])
    # Chart.js drew every line and the crossovers onto the canvas (non-blank pixels).
    points = int(page.get_attribute("#breakeven-chart", "data-rendered"))
    assert points >= 25 * (len(api["prices"]) + 2)
    painted = page.evaluate(
        """() => { const c = document.getElementById('breakeven-chart');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert painted > 3000
    crossing = next(c for c in api["crossovers"] if c["provider"] == "fireworks" and c["option"] == "rent")
    item = page.locator('#crossovers li[data-provider="fireworks"][data-option="rent"]')
    assert float(item.get_attribute("data-requests-per-day")) == pytest.approx(crossing["requests_per_day"])
    assert "undercuts fireworks's API from" in item.inner_text()
    shoot(page, "breakeven")


def test_a_bad_level_is_shown_next_to_its_field(page, seeded_catalog):
    page.goto("/breakeven/?model=llama-3.1-70b&levels=lots&prompt_tokens=1000&output_tokens=200")
    assert "is not a number" in page.inner_text("#errors-levels")
    assert page.locator("#breakeven-chart").count() == 0
