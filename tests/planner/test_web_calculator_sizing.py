"""The calculator page's traffic / SLO fields and sizing panel, and its cost block (Django test client)."""

from __future__ import annotations

import re

import pytest

import calculator
from planner.models import Hardware
from planner.web.calculator import present

SIZED = (
    "/?model=llama-3.1-70b&hardware=h100-sxm-80gb&precision=fp8&tensor_parallel=4&num_gpus=4"
    "&prompt_tokens=1000&output_tokens=200&requests_per_hour=36000&slo_ttft_p99_ms=1000&batch_size=8"
)


def _card(html: str, key: str) -> str:
    match = re.search(rf'id="fig-{key}".*?class="card-value">([^<]*)<', html, re.S)
    assert match, key
    return match.group(1)


@pytest.mark.django_db
def test_the_70b_example_is_sized_with_its_operating_point_and_chart(client, catalog):
    html = client.get(SIZED).content.decode()

    assert _card(html, "sizing_replicas") == "1"
    assert _card(html, "sizing_gpus") == "4"
    price = Hardware.objects.get(key="h100-sxm-80gb").cloud_usd_per_hour
    assert _card(html, "sizing_monthly") == f"${730 * 4 * price:,.0f}"
    assert "Limited by:</strong> the utilisation cap binds first" in html
    assert 'id="operating-point"' in html and "Headroom" in html
    assert 'id="load-chart"' in html and 'id="load-data"' in html


@pytest.mark.django_db
def test_an_unmeetable_slo_says_why_and_shows_no_sizing_cost(client, catalog):
    html = client.get(SIZED.replace("slo_ttft_p99_ms=1000", "slo_ttft_p99_ms=1")).content.decode()

    assert "Cannot be sized:</strong> TTFT p99 is" in html
    assert 'id="fig-sizing_monthly"' not in html
    assert 'id="cost-none"' in html and "no number of replicas serves this traffic" in html
    assert 'id="fig-monthly"' not in html and 'id="fig-cost_per_million"' not in html


@pytest.mark.django_db
def test_the_sizing_owns_the_monthly_cost_and_names_the_slo_in_words(client, catalog):
    html = client.get(SIZED).content.decode()

    assert "SLO: TTFT p99 ≤ 1,000 ms." in html
    assert "ttft_p99_ms" not in re.search(r'id="sizing".*?</p>', html, re.S).group(0)
    # The fixed-batch block keeps its per-request and per-1M figures, but one monthly figure only: the plan's.
    assert 'id="fig-monthly"' not in html
    assert _card(html, "cost_per_million").startswith("$")
    assert "Cost at a fixed batch of 8" in html


@pytest.mark.django_db
def test_a_bad_slo_is_an_error_next_to_its_field(client, catalog):
    html = client.get(SIZED + "&slo_tpot_p50_ms=90&slo_tpot_p99_ms=50").content.decode()

    errors = re.search(r'id="errors-slo_tpot_p50_ms"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert "exceeds tpot_p99_ms" in errors


@pytest.mark.django_db
def test_a_missing_price_is_never_zero_dollars(client, catalog):
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=0.0)
    html = client.get(SIZED).content.decode()

    assert _card(html, "sizing_monthly") == "no price in the catalog"
    assert _card(html, "cost_per_million") == "no price in the catalog"
    assert ">$0<" not in html


@pytest.mark.django_db
def test_a_configuration_that_does_not_fit_shows_no_cost(client, catalog):
    html = client.get("/?model=llama-3.1-70b&hardware=l40s-48gb&precision=fp16").content.decode()

    assert 'id="cost-none"' in html
    assert 'id="fig-monthly"' not in html
    assert (
        "Cannot be sized:</strong> the configuration cannot run: weights, activations and KV cache exceed"
        in html
    )
    assert "does_not_fit" not in html.split('id="sizing"')[1]


@pytest.mark.django_db
def test_gpus_beyond_tp_x_pp_are_replicas(client, catalog):
    ok = client.get("/?num_gpus=4&tensor_parallel=2&pipeline_parallel=1").content.decode()
    assert 'id="errors-num_gpus" data-swap></div>' in ok

    bad = client.get("/?num_gpus=6&tensor_parallel=2&pipeline_parallel=2").content.decode()
    assert "must be a multiple of TP x PP (4)" in bad


@pytest.mark.django_db
def test_a_link_with_a_near_miss_name_resolves_it_or_names_the_closest_entries(catalog, client):
    """A model or hardware name in a link resolves as the API resolves it; one that matches nothing is an
    error on its field with the closest catalog entries, not another entry shown silently."""
    page = client.get("/?hardware=H100_SXM_80GB&model=Llama 3.1 8B").content.decode()
    assert 'id="fig-ttft"' in page and 'class="field-error"' not in page
    page = client.get("/?hardware=h100-sxm-80gb&model=llama-3.1-8").content.decode()
    assert "unknown model &#x27;llama-3.1-8&#x27;; closest matches: llama-3.1-8b" in page
    assert 'id="fig-ttft"' not in page


@pytest.mark.django_db
def test_batch_zero_means_the_largest_batch_that_fits(client, catalog):
    """The API's batch 0 ("the largest batch that fits") is accepted by the form and shown resolved."""
    largest = calculator.estimate("llama-3.1-8b", "h100-sxm-80gb", batch_size=0).performance.batch_size
    html = client.get(
        "/?model=llama-3.1-8b&hardware=h100-sxm-80gb&precision=fp16&batch_size=0"
    ).content.decode()

    assert largest > 1
    assert f"Speed at batch {largest} (the largest that fits)" in html
    assert "errorlist" not in html


@pytest.mark.django_db
def test_a_framework_release_picks_its_engine_era(client, catalog):
    """framework_version is an input of the web form as of the API: vLLM 0.5.4 runs the V0 engine's
    calibration, which the page names; a blank release is the newest era."""
    url = "/?model=llama-3.1-8b&hardware=h100-sxm-80gb&precision=fp16&framework=vllm"
    old = client.get(url + "&framework_version=0.5.4").content.decode()
    new = client.get(url).content.decode()

    assert "vllm-v0 0.5.4: calibrated as the vLLM V0 engine (before 0.8)" in old
    assert "vllm: calibrated as the vLLM V1 engine (0.8 and later)" in new
    assert 'name="framework_version"' in new


def _raw(html: str, key: str) -> float:
    match = re.search(rf'id="fig-{key}" data-raw="([^"]*)"', html)
    assert match, key
    return float(match.group(1))


@pytest.mark.django_db
def test_the_cost_cards_split_input_and_output_tokens_and_add_up(client, catalog):
    html = client.get(SIZED).content.decode()

    for prefix in ("cost", "sizing"):
        for kind in ("input", "output", "blended"):
            assert _card(html, f"{prefix}_per_million_{kind}").startswith("$")
    per_request = _raw(html, "cost_per_request")
    both = (_raw(html, "cost_per_million_input") * 1000 + _raw(html, "cost_per_million_output") * 200) / 1e6
    assert both == pytest.approx(per_request, rel=1e-9)
    assert _raw(html, "cost_per_million_blended") == pytest.approx(per_request / 1200 * 1e6, rel=1e-9)
    assert 'id="cost-split-note"' in html and "as hosted APIs price input and output tokens apart" in html


def test_a_result_stored_before_the_split_still_renders():
    result = calculator.estimate("llama-3.1-8b", "h100-sxm-80gb").to_dict()
    for name in (
        "prefill_cost_per_million_input_tokens_usd",
        "decode_cost_per_million_output_tokens_usd",
        "blended_cost_per_million_tokens_usd",
        "prefill_share",
        "prefill_device_s",
        "decode_device_s",
    ):
        del result["cost"][name]
    keys = [figure.key for figure in present(result)["costs"]]

    assert keys == ["cost_per_request", "cost_per_million", "monthly"]


@pytest.mark.django_db
def test_a_missing_price_gives_no_split_in_dollars(client, catalog):
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=0.0)
    html = client.get(SIZED).content.decode()

    for kind in ("input", "output", "blended"):
        assert _card(html, f"cost_per_million_{kind}") == "no price in the catalog"
        assert _card(html, f"sizing_per_million_{kind}") == "no price in the catalog"
