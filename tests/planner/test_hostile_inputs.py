"""Hostile request bodies get a 400 in the error shape, never a 500 and never a stored request (the
reliability issue's cases, replayed): deep nesting, non-finite and huge numbers, NUL characters, junk beside
a wildcard, grid integers beyond any deployment."""

from __future__ import annotations

import json

import pytest

from planner.models import ComparisonJob

GRID = {
    "models": ["llama-3.1-8b"],
    "hardware": ["h100-sxm-80gb"],
    "precisions": ["fp16"],
    "frameworks": ["vllm"],
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/estimate/", "/api/v1/capacity/", "/api/v1/breakeven/", "PLAN_COMPARE"]
)
def test_deep_nesting_is_a_400(client_for, editor, plan, path):
    client = client_for(editor)
    client.raise_request_exception = False
    url = f"/api/v1/plans/{plan.pk}/compare/" if path == "PLAN_COMPARE" else path
    response = client.post(url, "[" * 1000 + "]" * 1000, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error" and "nested" in response.json()["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "batch_size": 1e400}', "out of range"),
        ('{"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "batch_size": NaN}', "not a JSON number"),
        (
            '{"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "batch_size": 100000000000000000000}',
            "out of range",
        ),
        ('{"model": "llama\\u0000-3.1-8b", "hardware": "h100-sxm-80gb"}', "NUL"),
        # A lone surrogate in a choice field was a 500: the "not a valid choice" message could not be encoded.
        ('{"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "precision": "\\ud800"}', "surrogates"),
        ('{"model": "llama-3.1-8b", "\\udfff": 1}', "surrogates"),
    ],
)
def test_numbers_and_characters_a_request_cannot_hold_are_a_400(client_for, body, words):
    client = client_for(None)
    client.raise_request_exception = False
    response = client.post("/api/v1/estimate/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert words in response.json()["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"models": ["*", "x" * 500_000]}, "models"),
        ({"hardware": ["*", "warp-drive"]}, "hardware"),
        ({"deployment_modes": ["*", "orbit"]}, "deployment_modes"),
        ({"tensor_parallel": [10**15]}, "tensor_parallel"),
        ({"num_gpus": [10**15]}, "num_gpus"),
        ({"tensor_parallel": [1e400]}, None),
    ],
)
def test_grid_values_are_checked_even_beside_a_wildcard(client_for, editor, team, change, field):
    client = client_for(editor)
    client.raise_request_exception = False
    body = {"team": team.pk, "name": "hostile", "grid": {**GRID, **change}}
    if field is None:  # a non-finite number: written by hand, json.dumps would write Infinity
        text = json.dumps({**body, "grid": {**GRID, "tensor_parallel": ["TP"]}}).replace('"TP"', "1e400")
        response = client.post("/api/v1/comparisons/", text, content_type="application/json")
    else:
        response = client.post("/api/v1/comparisons/", body, format="json")
    assert response.status_code == 400, response.content
    if field is not None:
        assert field in response.json()["detail"], response.json()
        assert len(response.content) < 5000  # the junk is not echoed back whole
    assert not ComparisonJob.objects.exists()


@pytest.mark.django_db
def test_rotating_x_forwarded_for_does_not_escape_the_anonymous_throttle(client_for, catalog):
    client = client_for(None)
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb"}
    statuses = [
        client.post(
            "/api/v1/estimate/", body, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        ).status_code
        for i in range(40)
    ]
    assert statuses[:30] == [200] * 30
    assert set(statuses[30:]) == {429}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/breakeven/", "options"),
        ("/api/v1/comparisons/", "objective"),
        ("/api/v1/plans/", "visibility"),
    ],
)
def test_a_lone_surrogate_in_any_body_field_is_a_400_not_a_500(client_for, editor, url, field):
    """The hostile fuzz pass's three 500s (manage.py fuzz_api), replayed."""
    client = client_for(editor)
    client.raise_request_exception = False
    body = '{"' + field + '": "\\ud800"}'
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"
