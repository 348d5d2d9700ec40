"""The calculator page in headless Chromium: inputs -> result, chart and figures equal to the API's estimate;
impossible combinations disabled with the engine's reason, suggestions, errors next to their field."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from tests.e2e.conftest import wait_for_update

pytestmark = pytest.mark.django_db(transaction=True)


def api_estimate(**inputs) -> dict:
    response = Client().post("/api/v1/estimate/", json.dumps(inputs), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["result"]


def raw(page, figure: str) -> float:
    return float(page.get_attribute(f"#fig-{figure}", "data-raw"))


def shown(page, figure: str) -> str:
    return page.inner_text(f"#fig-{figure} .card-value")


def test_filling_the_form_shows_the_apis_estimate_and_a_rendered_chart(page, seeded_catalog, shoot):
    page.goto("/")
    page.select_option("#id_model", "llama-3.1-8b")
    page.select_option("#id_hardware", "h100-sxm-80gb")
    page.fill("#id_prompt_tokens", "2048")
    page.fill("#id_output_tokens", "512")
    page.fill("#id_batch_size", "16")
    page.select_option("#id_precision", "fp8")
    page.select_option("#id_kv_cache_precision", "fp8")
    page.fill("#id_requests_per_hour", "3600")
    wait_for_update(page)

    expected = api_estimate(
        model="llama-3.1-8b", hardware="h100-sxm-80gb", prompt_tokens=2048, output_tokens=512, batch_size=16,
        num_gpus=1, tensor_parallel=1, precision="fp8", kv_cache_precision="fp8", framework="vllm",
        deployment_mode="cloud", requests_per_hour=3600,
    )  # fmt: skip
    perf, cost = expected["performance"], expected["cost"]
    assert page.get_attribute("#fit-status", "data-status") == expected["memory"]["status"] == "fits"
    assert raw(page, "ttft") == perf["ttft_s"]
    assert shown(page, "ttft") == f"{perf['ttft_s'] * 1e3:,.1f} ms"
    assert raw(page, "tpot") == perf["tpot_s"]
    assert shown(page, "tpot") == f"{perf['tpot_s'] * 1e3:,.1f} ms"
    assert raw(page, "throughput") == perf["output_tokens_per_s"]
    assert raw(page, "cost_per_request") == cost["cost_per_request_usd"]
    assert raw(page, "cost_per_million") == cost["cost_per_million_tokens_usd"]
    # With a traffic the monthly figure is the sizing's (the replicas that carry it), shown once.
    assert page.locator("#fig-monthly").count() == 0
    sizing = expected["sizing"]
    assert raw(page, "sizing_monthly") == sizing["monthly_usd"]
    assert shown(page, "sizing_monthly") == f"${sizing['monthly_usd']:,.0f}"
    assert float(page.get_attribute("#score", "data-raw")) == expected["performance_score"]
    band = expected["error_bands"]["ttft_ms"]
    assert page.inner_text("#fig-ttft .card-band") == f"±{band * 100:.0f}% (cross-validated)"
    # Weights and KV carry their error against measured startup logs (memory.csv), not a cross-validated one.
    weights_band = expected["error_bands"]["weights_gib"]
    assert f"Weights ±{weights_band * 100:.1f}% (median vs measured startup logs)" in page.inner_text(
        "#results"
    )

    # The chart: Chart.js drew every batch size that fits onto the canvas (non-blank pixels).
    points = int(page.get_attribute("#sweep-chart", "data-rendered"))
    assert points >= 5
    painted = page.evaluate(
        """() => { const c = document.getElementById('sweep-chart');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert painted > 2000
    assert page.locator("#memory-bar .seg").count() == 4

    # The URL encodes the inputs: opening it elsewhere shows the same result.
    query = parse_qs(urlparse(page.url).query)
    assert query["batch_size"] == ["16"] and query["precision"] == ["fp8"]
    assert page.input_value("#share-url") == page.url
    shoot(page, "calculator")
    other = page.context.new_page()
    other.goto(page.url)
    assert other.inner_text("#fig-ttft .card-value") == shown(page, "ttft")
    other.close()


def test_seventy_billion_on_one_rtx_4090_is_refused_with_suggestions(page, seeded_catalog, shoot):
    page.goto("/?model=llama-3.1-70b&hardware=rtx-4090-24gb&batch_size=1")

    expected = api_estimate(model="llama-3.1-70b", hardware="rtx-4090-24gb", batch_size=1, prompt_tokens=1024,
                            requests_per_hour=1000)  # fmt: skip
    assert page.get_attribute("#fit-status", "data-status") == "does_not_fit"
    assert "Does not fit" in page.inner_text("#fit-status")
    suggestions = page.locator("#suggestions li span").all_inner_texts()
    assert suggestions == [rec["text"] for rec in expected["recommendations"]]
    assert any("int4" in text or "fp8" in text for text in suggestions)
    assert "nothing to chart" in page.inner_text("#results")
    shoot(page, "calculator-does-not-fit")

    # Applying a suggestion loads a configuration that fits.
    page.locator("#suggestions a", has_text="Apply").first.click()
    page.wait_for_load_state()
    assert page.get_attribute("#fit-status", "data-status") in ("fits", "tight")
    assert page.locator("#sweep-chart").count() == 1


def test_impossible_choices_are_disabled_with_the_reason(page, seeded_catalog):
    page.goto("/?model=qwen2.5-7b")

    gguf = page.locator("#id_precision option[value='q4_k_m']")
    assert gguf.is_disabled()
    assert "runs only on llama.cpp" in gguf.inner_text()
    tp8 = page.locator("#id_tensor_parallel option[value='8']")
    assert tp8.is_disabled()
    assert "does not divide" in tp8.inner_text()
    assert page.locator("#id_tensor_parallel option[value='2']").is_enabled()

    # Switching the framework to llama.cpp enables GGUF and disables what llama.cpp cannot load.
    page.select_option("#id_framework", "llama.cpp")
    wait_for_update(page)
    assert gguf.is_enabled()
    assert page.locator("#id_precision option[value='int4-awq']").is_disabled()
    page.select_option("#id_precision", "q4_k_m")
    wait_for_update(page)
    assert page.get_attribute("#fit-status", "data-status") == "fits"
    assert page.locator("#id_framework option[value='vllm']").is_disabled()


def test_errors_appear_next_to_the_field_that_caused_them(page, seeded_catalog, shoot):
    # A shared link with an impossible combination: the chosen option stays selected and says why.
    page.goto("/?precision=q4_k_m&framework=vllm")
    assert "runs only on llama.cpp" in page.inner_text("#errors-precision")
    assert page.get_attribute("#id_precision", "aria-invalid") == "true"
    assert page.get_attribute("#fit-status", "data-status") == "blocked"

    page.goto("/")
    page.fill("#id_num_gpus", "3")
    page.select_option("#id_tensor_parallel", "2")
    wait_for_update(page)
    assert "multiple of TP" in page.inner_text("#errors-num_gpus")
    assert page.get_attribute("#id_num_gpus", "aria-invalid") == "true"
    assert page.inner_text("#errors-prompt_tokens") == ""

    page.fill("#id_prompt_tokens", "-5")
    wait_for_update(page)
    assert "greater than or equal to 0" in page.inner_text("#errors-prompt_tokens")
    shoot(page, "calculator-errors")

    page.fill("#id_num_gpus", "2")
    page.fill("#id_prompt_tokens", "512")
    wait_for_update(page)
    assert page.inner_text("#errors-num_gpus") == ""
    assert page.get_attribute("#fit-status", "data-status") == "fits"


def test_keyboard_reaches_the_form_through_the_skip_link(page, seeded_catalog):
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_model"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_hardware"
    assert page.locator("label[for='id_hardware']").inner_text() == "Hardware"
