"""POST /api/v1/estimate/: the engine's full result on the catalog as it is in the database right now."""

from __future__ import annotations

import datetime as dt

import pytest

import calculator
from planner.models import Hardware, Plan, PlanVersion, PricePoint
from tests.planner.conftest import ESTIMATE_INPUTS

URL = "/api/v1/estimate/"


def _counts() -> tuple[int, ...]:
    return (
        Plan.objects.count(),
        PlanVersion.objects.count(),
        Hardware.objects.count(),
        PricePoint.objects.count(),
    )


@pytest.mark.django_db
def test_estimate_matches_the_engine_on_the_same_catalog(client_for, catalog):
    response = client_for(None).post(URL, ESTIMATE_INPUTS, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    expected = calculator.estimate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1024).to_dict()
    assert body["result"]["memory"] == expected["memory"]
    assert body["result"]["performance"] == expected["performance"]
    assert body["result"]["engine_version"] == calculator.ENGINE_VERSION
    assert body["inputs"]["model"] == "llama-3.1-8b"
    assert body["catalog"]["hardware"]["key"] == "h100-sxm-80gb"
    assert body["catalog"]["price"]["origin"] == "hardware"


@pytest.mark.django_db
def test_a_burst_is_served_as_one_and_recorded_in_the_inputs(client_for, catalog):
    body = {**ESTIMATE_INPUTS, "burst_requests": 320, "output_length_cv": 1.0, "precision": "fp8"}
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 200, response.content
    online = response.json()["result"]["online"]
    expected = calculator.estimate(
        "llama-3.1-8b",
        "h100-sxm-80gb",
        prompt_tokens=1024,
        precision="fp8",
        burst_requests=320,
        output_length_cv=1.0,
    ).online
    assert online["mode"] == "burst"
    assert online["output_tokens_per_s"] == pytest.approx(expected.output_tokens_per_s)
    assert online["concurrency"] == expected.concurrency < 320  # vLLM admits 256 at once
    assert response.json()["inputs"]["burst_requests"] == 320
    assert response.json()["inputs"]["output_length_cv"] == 1.0


@pytest.mark.django_db
def test_aliases_resolve_to_catalog_keys(client_for, catalog):
    response = client_for(None).post(URL, {"model": "Llama 3.1 8B", "hardware": "H100 SXM"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["inputs"]["model"] == "llama-3.1-8b"
    assert response.json()["inputs"]["hardware"] == "h100-sxm-80gb"


@pytest.mark.django_db
def test_staff_edit_changes_the_next_estimate_but_not_a_stored_plan(client_for, staff, editor, plan, catalog):
    stored = plan.current_version
    before = client_for(editor).post(URL, ESTIMATE_INPUTS, format="json").json()["result"]

    edit = client_for(staff).patch(
        "/api/v1/hardware/h100-sxm-80gb/", {"memory_bandwidth_bytes_per_s": 1.0e12}, format="json"
    )
    assert edit.status_code == 200, edit.content
    after = client_for(editor).post(URL, ESTIMATE_INPUTS, format="json").json()["result"]

    # Decode is bandwidth-bound: a third of the bandwidth makes each output token slower.
    assert after["performance"]["tpot_s"] > before["performance"]["tpot_s"] * 1.5
    plan_body = client_for(editor).get(f"/api/v1/plans/{plan.pk}/").json()
    assert plan_body["current_version"] == 1
    assert plan_body["result"]["performance"] == before["performance"]
    stored.refresh_from_db()
    assert stored.catalog_snapshot["hardware"]["memory_bandwidth_bytes_per_s"] == 3.35e12
    assert stored.result["performance"] == before["performance"]

    # An explicit recompute picks the edit up, as a new version; version 1 is untouched.
    recomputed = client_for(editor).post(f"/api/v1/plans/{plan.pk}/recompute/")
    assert recomputed.status_code == 201
    assert recomputed.json()["number"] == 2
    assert recomputed.json()["result"]["performance"] == after["performance"]
    assert recomputed.json()["catalog_snapshot"]["hardware"]["memory_bandwidth_bytes_per_s"] == 1.0e12


@pytest.mark.django_db
def test_orm_edit_takes_effect_without_restart(client_for, catalog):
    before = client_for(None).post(URL, ESTIMATE_INPUTS, format="json").json()["result"]
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=10.0)
    after = client_for(None).post(URL, ESTIMATE_INPUTS, format="json").json()["result"]

    assert before["cost"]["hourly_usd"] != 10.0
    assert after["cost"]["hourly_usd"] == 10.0


@pytest.mark.django_db
def test_price_points_override_in_order_team_then_public_then_hardware(client_for, editor, team, catalog):
    hardware = Hardware.objects.get(key="h100-sxm-80gb")
    PricePoint.objects.create(
        hardware=hardware, provider="Old", usd_per_gpu_hour=9.0, as_of=dt.date(2025, 1, 1), source="old quote"
    )
    PricePoint.objects.create(
        hardware=hardware, provider="Public", usd_per_gpu_hour=3.0, as_of=dt.date(2026, 1, 1), source="quote"
    )
    # Older than the public quote, yet it wins for the team: a team's own price beats any public one.
    PricePoint.objects.create(
        hardware=hardware,
        provider="Deal",
        usd_per_gpu_hour=1.5,
        as_of=dt.date(2024, 1, 1),
        source="contract",
        team=team,
    )
    client = client_for(editor)

    public = client.post(URL, ESTIMATE_INPUTS, format="json").json()
    with_team = client.post(URL, {**ESTIMATE_INPUTS, "team": team.pk}, format="json").json()

    assert public["result"]["cost"]["hourly_usd"] == 3.0
    assert public["catalog"]["price"]["provider"] == "Public"
    assert with_team["result"]["cost"]["hourly_usd"] == 1.5
    assert with_team["catalog"]["price"]["origin"] == "team"


@pytest.mark.django_db
def test_another_teams_prices_cannot_be_used(client_for, outsider, team, catalog):
    response = client_for(outsider).post(URL, {**ESTIMATE_INPUTS, "team": team.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == {"team": ["not one of your teams"]}


BAD_INPUTS = [
    pytest.param({"model": "llama-9-mega", "hardware": "h100-sxm-80gb"}, "model", id="unknown-model"),
    pytest.param({"model": "llama-3.1-8b", "hardware": "tpu-v99"}, "hardware", id="unknown-hardware"),
    pytest.param({**ESTIMATE_INPUTS, "prompt_tokens": -5}, "prompt_tokens", id="negative-tokens"),
    pytest.param({**ESTIMATE_INPUTS, "output_tokens": "many"}, "output_tokens", id="not-a-number"),
    pytest.param({**ESTIMATE_INPUTS, "tensor_parallel": 3}, "tensor_parallel", id="tp-not-dividing-heads"),
    pytest.param({**ESTIMATE_INPUTS, "precision": "fp3"}, "precision", id="unknown-precision"),
    pytest.param({**ESTIMATE_INPUTS, "promt_tokens": 5}, "promt_tokens", id="misspelt-field"),
    pytest.param({"hardware": "h100-sxm-80gb"}, "model", id="missing-model"),
    pytest.param({**ESTIMATE_INPUTS, "model": '{"model_type": "llama"}'}, "model", id="inline-config"),
    pytest.param(
        {**ESTIMATE_INPUTS, "burst_requests": 64, "concurrency": 8}, "burst_requests", id="two-online-modes"
    ),
    pytest.param(
        {**ESTIMATE_INPUTS, "output_length_cv": 3.0}, "output_length_cv", id="length-spread-above-1"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), BAD_INPUTS)
def test_bad_estimate_input_is_a_400_naming_the_field(client_for, editor, catalog, body, field):
    before = _counts()
    response = client_for(editor).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid"
    assert error["message"]
    assert field in error["detail"]
    assert isinstance(error["detail"][field], list)
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("body", [p.values[0] for p in BAD_INPUTS])
def test_bad_plan_input_writes_nothing(client_for, editor, team, catalog, body):
    before = _counts()
    response = client_for(editor).post(
        "/api/v1/plans/", {"name": "Bad", "team": team.pk, "inputs": body}, format="json"
    )

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"code", "message", "detail"}
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("url", [URL, "/api/v1/plans/", "/api/v1/models/import/"])
def test_ten_megabyte_body_is_413_and_writes_nothing(client_for, editor, team, catalog, url):
    before = _counts()
    padding = "x" * (10 * 1024 * 1024)
    body = f'{{"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "notes": "{padding}"}}'
    response = client_for(editor).post(url, body, content_type="application/json")

    assert response.status_code == 413
    error = response.json()
    assert error["code"] == "request_too_large"
    assert error["detail"]["max_bytes"] == 1_048_576
    assert _counts() == before


@pytest.mark.django_db
def test_anonymous_estimates_are_throttled(client_for, catalog, settings):
    client = client_for(None)
    statuses = [client.post(URL, ESTIMATE_INPUTS, format="json").status_code for _ in range(31)]

    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    error = client.post(URL, ESTIMATE_INPUTS, format="json").json()
    assert error["code"] == "throttled"
    assert error["detail"]["wait_s"] > 0


@pytest.mark.django_db
def test_signed_in_users_get_a_higher_limit(client_for, editor, catalog):
    client = client_for(editor)
    statuses = {client.post(URL, ESTIMATE_INPUTS, format="json").status_code for _ in range(35)}

    assert statuses == {200}


@pytest.mark.django_db
def test_malformed_json_is_a_400_in_the_error_shape(client_for, catalog):
    response = client_for(None).post(URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.django_db
def test_every_invalid_field_is_reported_at_once(client_for, catalog):
    """A newcomer's first request names every field that is wrong, not the first one only."""
    body = {"model": "llama-3.1-8b", "hardware": "warp-drive", "prompt_tokens": -1, "batch_size": -3}
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert set(detail) == {"hardware", "prompt_tokens", "batch_size"}
    assert "must be at least 0, got -1" in detail["prompt_tokens"][0]


@pytest.mark.django_db
def test_an_unknown_name_suggests_catalog_entries_once_each(client_for, catalog):
    response = client_for(None).post(URL, {"model": "llama-3.1-8b", "hardware": "h100 sxm 8"}, format="json")

    message = response.json()["detail"]["hardware"][0]
    suggested = message.split("closest matches: ")[1].split(", ")
    assert suggested[0] == "h100-sxm-80gb"
    assert len(suggested) == len(set(suggested))


@pytest.mark.django_db
def test_the_cost_splits_into_input_and_output_tokens_as_documented(client_for, catalog):
    body = {**ESTIMATE_INPUTS, "output_tokens": 256, "batch_size": 8, "request_rate": 2.0}
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 200, response.content
    result = response.json()["result"]
    cost = result["cost"]
    expected = calculator.estimate(
        "llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1024, output_tokens=256, batch_size=8
    ).cost
    for name in (
        "prefill_cost_per_million_input_tokens_usd",
        "decode_cost_per_million_output_tokens_usd",
        "blended_cost_per_million_tokens_usd",
        "prefill_share",
    ):
        assert cost[name] == pytest.approx(getattr(expected, name), rel=1e-12)
    # input x prompt + output x output tokens = the cost per request; the old figure keeps its meaning.
    total = (
        cost["prefill_cost_per_million_input_tokens_usd"] * 1024
        + cost["decode_cost_per_million_output_tokens_usd"] * 256
    ) / 1e6
    assert total == pytest.approx(cost["cost_per_request_usd"], rel=1e-9)
    assert cost["cost_per_million_tokens_usd"] * 256 / 1e6 == pytest.approx(cost["cost_per_request_usd"])
    # With a traffic the sizing carries the same split at each replica's operating point.
    sizing = result["sizing"]
    sized = (
        sizing["prefill_cost_per_million_input_tokens_usd"] * 1024
        + sizing["decode_cost_per_million_output_tokens_usd"] * 256
    ) / 1e6
    assert sized == pytest.approx(sizing["cost_per_request_usd"], rel=1e-9)


@pytest.mark.django_db
def test_the_schema_documents_the_cost_fields_of_the_estimate(client_for, catalog):
    schema = client_for(None).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/estimate/"]["post"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    response = components[reference.rsplit("/", 1)[-1]]
    result = components[response["properties"]["result"]["$ref"].rsplit("/", 1)[-1]]
    cost = components[result["properties"]["cost"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    for name in (
        "cost_per_million_tokens_usd",
        "prefill_cost_per_million_input_tokens_usd",
        "decode_cost_per_million_output_tokens_usd",
        "blended_cost_per_million_tokens_usd",
        "prefill_share",
    ):
        assert name in cost
    assert "OUTPUT tokens" in cost["cost_per_million_tokens_usd"]["description"]


@pytest.mark.django_db
def test_attention_data_parallel_is_an_input_and_checked(client_for, catalog):
    """Data-parallel attention over TP 4: a dense model's weights are then held by each of the 2 groups
    (double per GPU), as the engine computes it; a degree that does not divide TP is a 400 on its field."""
    body = {
        **ESTIMATE_INPUTS,
        "model": "llama-3.1-70b",
        "precision": "fp8",
        "tensor_parallel": 4,
        "num_gpus": 4,
    }
    plain = client_for(None).post(URL, body, format="json")
    grouped = client_for(None).post(URL, {**body, "attention_data_parallel": 2}, format="json")
    bad = client_for(None).post(URL, {**body, "attention_data_parallel": 3}, format="json")

    assert plain.status_code == grouped.status_code == 200, grouped.content
    expected = calculator.estimate(
        "llama-3.1-70b",
        "h100-sxm-80gb",
        prompt_tokens=1024,
        precision="fp8",
        tensor_parallel=4,
        num_gpus=4,
        attention_data_parallel=2,
    ).to_dict()
    assert grouped.json()["result"]["memory"] == expected["memory"]
    weights = [r.json()["result"]["memory"]["weights_bytes"] for r in (plain, grouped)]
    assert weights[1] == pytest.approx(2 * weights[0])
    assert grouped.json()["inputs"]["attention_data_parallel"] == 2
    assert bad.status_code == 400 and "attention_data_parallel" in bad.json()["detail"]


@pytest.mark.django_db
def test_a_price_read_long_ago_is_flagged_in_the_estimate(client_for, catalog, settings):
    """Stale price points are flagged in results: a price read more than PRICE_STALE_AFTER_DAYS ago gives
    a stale_price warning naming its provider and date; a recent one, or the hardware row's own column,
    none."""
    settings.PRICE_STALE_AFTER_DAYS = 365
    hardware = Hardware.objects.get(key="h100-sxm-80gb")

    def warnings() -> list[dict]:
        body = client_for(None).post(URL, ESTIMATE_INPUTS, format="json").json()["result"]
        return [w for w in body["warnings"] if w["code"] == "stale_price"]

    assert warnings() == []  # the hardware row's price has no date
    point = PricePoint.objects.create(
        hardware=hardware, provider="Oldcloud", usd_per_gpu_hour=2.5, as_of=dt.date(2020, 1, 1), source="q"
    )
    (stale,) = warnings()
    assert "Oldcloud" in stale["message"] and "2020-01-01" in stale["message"]
    PricePoint.objects.filter(pk=point.pk).update(as_of=dt.date.today())
    assert warnings() == []
