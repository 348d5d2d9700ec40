"""POST /api/v1/estimate/ with a traffic and an SLO: the `sizing` object (replicas, GPUs, cost, operating
point), the new num_gpus / replicas meaning, and plans keeping the sizing inputs."""

from __future__ import annotations

import dataclasses

import pytest

from calculator import resolve_deployment
from calculator.planning.sizing import size_deployment
from calculator.planning.slo import resolve_slo, resolve_traffic
from planner import specs
from planner.models import Hardware, PlanVersion

URL = "/api/v1/estimate/"
SIZED = {
    "model": "llama-3.1-70b",
    "hardware": "h100-sxm-80gb",
    "precision": "fp8",
    "tensor_parallel": 4,
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "requests_per_hour": 36000,
    "slo": {"ttft_p99_ms": 1000},
}


@pytest.mark.django_db
def test_a_traffic_adds_the_engines_sizing(client_for, catalog):
    response = client_for(None).post(URL, SIZED, format="json")

    assert response.status_code == 200, response.content
    sizing = response.json()["result"]["sizing"]
    db = specs.catalog_from_db()
    d = resolve_deployment(
        "llama-3.1-70b",
        "h100-sxm-80gb",
        precision="fp8",
        tensor_parallel=4,
        prompt_tokens=1000,
        output_tokens=200,
        catalog=db.catalog,
    )
    expected = dataclasses.asdict(
        size_deployment(d, resolve_slo({"ttft_p99_ms": 1000}), resolve_traffic(requests_per_hour=36000))
    )
    assert sizing["replicas"] == expected["replicas"] == 1
    assert sizing["gpus"] == 4
    assert sizing["ttft_p99_ms"] == pytest.approx(expected["ttft_p99_ms"])
    assert sizing["ttft_p99_ms"] <= 1000
    assert sizing["binding_constraint"] == "max_utilization"  # TTFT p99 ~0.25 s at the 90% cap (serving.py)
    price = Hardware.objects.get(key="h100-sxm-80gb").cloud_usd_per_hour
    assert sizing["monthly_usd"] == pytest.approx(730 * price * 4)
    assert len(sizing["curve"]) > 3
    assert response.json()["inputs"]["slo"] == {"ttft_p99_ms": 1000}


@pytest.mark.django_db
def test_peak_to_mean_sizes_for_the_peak(client_for, catalog):
    body = {**SIZED, "peak_to_mean": 3}
    sizing = client_for(None).post(URL, body, format="json").json()["result"]["sizing"]

    assert sizing["traffic"]["peak_requests_per_s"] == pytest.approx(30.0)
    assert sizing["replicas"] >= 3


@pytest.mark.django_db
def test_no_traffic_no_sizing(client_for, catalog):
    body = {k: v for k, v in SIZED.items() if k != "requests_per_hour"}
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 200, response.content
    assert "sizing" not in response.json()["result"]


@pytest.mark.django_db
def test_an_unpriced_row_has_no_cost_never_zero(client_for, catalog):
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=0.0)  # 0 = no price
    sizing = client_for(None).post(URL, SIZED, format="json").json()["result"]["sizing"]

    assert sizing["price_missing"] is True
    assert sizing["monthly_usd"] is None
    assert sizing["replicas"] == 1


@pytest.mark.django_db
def test_gpus_beyond_tp_x_pp_are_replicas(client_for, catalog):
    body = {"model": "llama-3.1-70b", "hardware": "h100-sxm-80gb", "precision": "fp8"}
    ok = client_for(None).post(URL, {**body, "tensor_parallel": 4, "num_gpus": 8}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["inputs"]["num_gpus"] == 8

    by_replicas = client_for(None).post(URL, {**body, "tensor_parallel": 4, "replicas": 2}, format="json")
    assert by_replicas.status_code == 200, by_replicas.content
    assert by_replicas.json()["inputs"]["replicas"] == 2

    bad = client_for(None).post(URL, {**body, "tensor_parallel": 4, "num_gpus": 6}, format="json")
    assert bad.status_code == 400
    assert "num_gpus" in bad.json()["detail"]


BAD_SIZING = [
    pytest.param({**SIZED, "slo": {"ttft_p99_ms": -1}}, "slo.ttft_p99_ms", id="negative-slo"),
    pytest.param({**SIZED, "slo": {"ttft_p99": 5}}, "slo.ttft_p99", id="unknown-slo-field"),
    pytest.param({**SIZED, "slo": {"ttft_p50_ms": 900, "ttft_p99_ms": 100}}, "slo.ttft_p50_ms", id="p50>p99"),
    pytest.param({**SIZED, "peak_to_mean": 0.5}, "peak_to_mean", id="peak-below-mean"),
    pytest.param({**SIZED, "max_utilization": 1.5}, "max_utilization", id="utilisation-above-1"),
    pytest.param(
        {**SIZED, "requests_per_hour": 0, "peak_to_mean": 2}, "request_rate", id="peak-without-mean"
    ),
    pytest.param({**SIZED, "num_gpus": 6}, "num_gpus", id="gpus-not-whole-replicas"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), BAD_SIZING)
def test_bad_sizing_input_is_a_400_naming_the_field(client_for, catalog, body, field):
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid"
    assert list(error["detail"]) == [field]


@pytest.mark.django_db
def test_a_plan_keeps_the_slo_and_traffic_and_its_result_has_the_sizing(api, team, catalog):
    inputs = {**SIZED, "peak_to_mean": 1.5, "max_utilization": 0.8}
    response = api.post(
        "/api/v1/plans/", {"name": "70B chat", "team": team.pk, "inputs": inputs}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["inputs"]["slo"] == {"ttft_p99_ms": 1000}
    assert body["inputs"]["peak_to_mean"] == 1.5
    assert body["inputs"]["max_utilization"] == 0.8
    assert body["result"]["sizing"]["traffic"]["peak_requests_per_s"] == pytest.approx(15.0)
    assert body["result"]["sizing"]["max_utilization"] == 0.8

    patched = api.patch(
        f"/api/v1/plans/{body['id']}/", {"inputs": {"slo": {"ttft_p99_ms": 2000}}}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["current_version"] == 2
    assert patched.json()["inputs"]["peak_to_mean"] == 1.5
    assert patched.json()["result"]["sizing"]["slo"] == {"ttft_p99_ms": 2000.0}

    renamed = api.patch(f"/api/v1/plans/{body['id']}/", {"name": "renamed"}, format="json")
    assert renamed.json()["current_version"] == 2


@pytest.mark.django_db
def test_a_plan_without_sizing_inputs_keeps_its_canonical_form(api, plan):
    """Plans saved before SLOs existed: resubmitting the same inputs adds no version."""
    inputs = plan.current_version.inputs
    assert not {"slo", "replicas", "peak_to_mean", "max_utilization"} & set(inputs)

    response = api.patch(f"/api/v1/plans/{plan.pk}/", {"inputs": inputs}, format="json")
    assert response.status_code == 200, response.content
    assert PlanVersion.objects.filter(plan=plan).count() == 1


@pytest.mark.django_db
def test_the_estimate_api_takes_a_framework_release(client_for, catalog):
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "framework_version": "0.5.4"}
    response = client_for(None).post("/api/v1/estimate/", body, format="json")
    assert response.status_code == 200, response.content
    inputs = response.json()["result"]["inputs"]
    assert inputs["framework"] == "vllm-v0" and "V0" in inputs["framework_era"]
