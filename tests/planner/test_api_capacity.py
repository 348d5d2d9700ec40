"""POST /api/v1/capacity/: the catalog-wide capacity plan, synchronously, on the catalog and prices an
estimate gets; anonymous callers allowed under the estimate throttles."""

from __future__ import annotations

import datetime as dt

import pytest

from planner.models import Hardware, PricePoint

URL = "/api/v1/capacity/"
EXAMPLE_70B = {
    "model": "llama-3.1-70b",
    "hardware": ["h100-sxm-80gb"],
    "precisions": ["fp8"],
    "frameworks": ["vllm"],
    "tensor_parallel": [4],
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "requests_per_hour": 36000,
    "slo": {"ttft_p99_ms": 1000},
}


@pytest.mark.django_db
def test_the_70b_example_is_one_replica_of_four_h100s(client_for, catalog):
    response = client_for(None).post(URL, EXAMPLE_70B, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["evaluated"] == 1
    assert body["feasible"] == 1
    best = body["options"][0]
    assert best["rank"] == 1
    assert (best["replicas"], best["gpus"], best["tensor_parallel"]) == (1, 4, 4)
    price = Hardware.objects.get(key="h100-sxm-80gb").cloud_usd_per_hour
    assert price > 0
    assert best["monthly_usd"] == pytest.approx(730 * price * 4)
    assert best["ttft_p99_ms"] <= 1000
    assert best["price_missing"] is False
    assert body["closest"] is None


@pytest.mark.django_db
def test_costs_match_the_estimate_endpoint_prices(client_for, editor, team, catalog):
    hardware = Hardware.objects.get(key="h100-sxm-80gb")
    PricePoint.objects.create(
        hardware=hardware, provider="Public", usd_per_gpu_hour=3.0, as_of=dt.date(2026, 1, 1), source="q"
    )
    PricePoint.objects.create(
        hardware=hardware,
        provider="Deal",
        usd_per_gpu_hour=1.5,
        as_of=dt.date(2024, 1, 1),
        source="contract",
        team=team,
    )
    client = client_for(editor)

    public = client.post(URL, EXAMPLE_70B, format="json").json()["options"][0]
    with_team = client.post(URL, {**EXAMPLE_70B, "team": team.pk}, format="json").json()["options"][0]
    estimate = client.post(
        "/api/v1/estimate/",
        {
            "model": "llama-3.1-70b",
            "hardware": "h100-sxm-80gb",
            "precision": "fp8",
            "tensor_parallel": 4,
            "prompt_tokens": 1000,
            "output_tokens": 200,
            "requests_per_hour": 36000,
            "slo": {"ttft_p99_ms": 1000},
            "team": team.pk,
        },
        format="json",
    ).json()

    assert public["hourly_usd"] == pytest.approx(3.0 * 4)
    assert with_team["hourly_usd"] == pytest.approx(1.5 * 4)
    assert with_team["monthly_usd"] == pytest.approx(estimate["result"]["sizing"]["monthly_usd"])


@pytest.mark.django_db
def test_another_teams_prices_cannot_be_used(client_for, outsider, team, catalog):
    response = client_for(outsider).post(URL, {**EXAMPLE_70B, "team": team.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == {"team": ["not one of your teams"]}


@pytest.mark.django_db
def test_a_gpu_budget_ranks_replicas_above_one_wide_group_by_throughput(client_for, catalog):
    body = {
        "model": "llama-3.1-70b",
        "hardware": "h100-sxm-80gb",
        "precisions": "fp8",
        "frameworks": "vllm",
        "tensor_parallel": [2, 8],
        "max_total_gpus": 8,
        "objective": "throughput",
    }
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 200, response.content
    layouts = [(o["tensor_parallel"], o["replicas"], o["gpus"]) for o in response.json()["options"]]
    assert layouts.index((2, 4, 8)) < layouts.index((8, 1, 8))


@pytest.mark.django_db
def test_an_unmeetable_slo_answers_with_the_closest_miss(client_for, catalog):
    body = {**EXAMPLE_70B, "slo": {"ttft_p99_ms": 1}}
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 200, response.content
    plan = response.json()
    assert plan["feasible"] == 0
    assert plan["options"] == []
    assert plan["rejected"]["slo"] == 1
    assert plan["closest"]["constraint"] == "ttft_p99_ms"
    assert plan["closest"]["ratio"] > 1


@pytest.mark.django_db
def test_an_unpriced_hardware_row_has_no_cost_never_zero(client_for, catalog):
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=0.0)  # 0 = no price
    best = client_for(None).post(URL, EXAMPLE_70B, format="json").json()["options"][0]

    assert best["price_missing"] is True
    assert best["monthly_usd"] is None
    assert best["hourly_usd"] is None
    assert best["replicas"] == 1


BAD = [
    pytest.param({**EXAMPLE_70B, "slo": {"ttft_p99_ms": -1}}, "slo.ttft_p99_ms", id="negative-slo"),
    pytest.param({**EXAMPLE_70B, "model": "llama-9-mega"}, "models", id="unknown-model"),
    pytest.param({**EXAMPLE_70B, "hardware": ["tpu-v99"]}, "hardware", id="unknown-hardware"),
    pytest.param({**EXAMPLE_70B, "precisions": ["fp3"]}, "precisions", id="unknown-precision"),
    pytest.param({**EXAMPLE_70B, "objective": "vibes"}, "objective", id="unknown-objective"),
    pytest.param({**EXAMPLE_70B, "peak_to_mean": 0.5}, "peak_to_mean", id="peak-below-mean"),
    pytest.param({**EXAMPLE_70B, "max_utilization": 2}, "max_utilization", id="utilisation-above-1"),
    pytest.param({**EXAMPLE_70B, "tensor_parallel": [0]}, "tensor_parallel", id="tp-zero"),
    pytest.param({**EXAMPLE_70B, "requests_per_hour": None}, "requests_per_s", id="no-traffic-no-budget"),
    pytest.param({**EXAMPLE_70B, "promt_tokens": 5}, "promt_tokens", id="misspelt-field"),
    pytest.param({k: v for k, v in EXAMPLE_70B.items() if k != "model"}, "model", id="missing-model"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_input_is_a_400_naming_the_field(client_for, catalog, body, field):
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["detail"], error
    assert isinstance(error["detail"][field], list)


@pytest.mark.django_db
def test_anonymous_capacity_plans_share_the_estimate_throttle(client_for, catalog):
    client = client_for(None)
    statuses = [client.post(URL, EXAMPLE_70B, format="json").status_code for _ in range(31)]

    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    assert client.post("/api/v1/estimate/", {}, format="json").status_code == 429


def test_the_schema_documents_request_and_response():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/capacity/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    assert {"model", "slo", "requests_per_hour", "max_total_gpus", "objective"} <= set(
        components[request.rsplit("/", 1)[1]]["properties"]
    )
    assert {"options", "rejected", "closest", "feasible"} <= set(
        components[response.rsplit("/", 1)[1]]["properties"]
    )
