"""POST /api/v1/export/: the estimate endpoint's inputs turned into a launch command, a Kubernetes manifest
and a docker-compose service; anonymous callers allowed under the estimate throttles."""

from __future__ import annotations

import shlex

import pytest
import yaml

URL = "/api/v1/export/"
EXAMPLE_70B = {
    "model": "llama-3.1-70b",
    "hardware": "h100-sxm-80gb",
    "precision": "fp8",
    "framework": "vllm",
    "tensor_parallel": 4,
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "request_rate": 10,
    "slo": {"ttft_p99_ms": 1000},
}


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.django_db
def test_the_70b_example_exports_one_replica_of_four_gpus(client_for, catalog):
    response = client_for(None).post(URL, EXAMPLE_70B, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {"command", "kubernetes", "compose", "replicas", "gpus"} <= set(body)
    assert (body["replicas"], body["gpus"]) == (1, 4)
    argv = shlex.split(body["command"])
    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert _flag(argv, "--tensor-parallel-size") == "4"
    assert _flag(argv, "--max-model-len") == str(body["context_tokens"])
    estimate = client_for(None).post("/api/v1/estimate/", EXAMPLE_70B, format="json").json()
    assert body["context_tokens"] == estimate["result"]["memory"]["max_context_tokens"]
    assert body["replicas"] == estimate["result"]["sizing"]["replicas"]
    deployment, service = yaml.safe_load_all(body["kubernetes"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 1
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container["command"] == argv
    assert service["kind"] == "Service"
    (compose,) = yaml.safe_load(body["compose"])["services"].values()
    assert compose["command"] == argv


BAD = [
    pytest.param({**EXAMPLE_70B, "model": "llama-9-mega"}, "model", id="unknown-model"),
    pytest.param({**EXAMPLE_70B, "tensor_parallel": 3}, "tensor_parallel", id="tp-not-dividing-heads"),
    pytest.param(
        {**EXAMPLE_70B, "precision": "fp16", "hardware": "l40s-48gb", "tensor_parallel": 1},
        "deployment",
        id="does-not-fit",
    ),
    pytest.param({**EXAMPLE_70B, "slo": {"ttft_p99_ms": 1}}, "slo", id="cannot-be-sized"),
    pytest.param({**EXAMPLE_70B, "framework": "hf-transformers"}, "framework", id="no-launch-command"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), BAD)
def test_what_cannot_be_exported_is_a_400_naming_the_reason(client_for, catalog, body, field):
    response = client_for(None).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["detail"], error
    if field in ("deployment", "slo"):
        assert "cannot be exported" in error["detail"][field][0]


@pytest.mark.django_db
def test_another_teams_prices_cannot_be_used(client_for, outsider, team, catalog):
    response = client_for(outsider).post(URL, {**EXAMPLE_70B, "team": team.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == {"team": ["not one of your teams"]}


@pytest.mark.django_db
def test_anonymous_exports_share_the_estimate_throttle(client_for, catalog):
    client = client_for(None)
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb"}
    statuses = [client.post(URL, body, format="json").status_code for _ in range(31)]

    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    assert client.post("/api/v1/estimate/", {}, format="json").status_code == 429


def test_the_schema_documents_request_and_response():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/export/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert request.endswith("/EstimateRequestRequest")  # drf-spectacular suffixes request components
    assert response.endswith("/Export")
    properties = schema["components"]["schemas"]["Export"]["properties"]
    assert {"command", "kubernetes", "compose", "replicas", "gpus"} <= set(properties)
