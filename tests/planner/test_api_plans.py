"""Plans: creating, editing (new versions), recomputing, listing and diffing versions."""

from __future__ import annotations

import pytest

from planner.models import Hardware, PlanVersion
from tests.planner.conftest import ESTIMATE_INPUTS


@pytest.mark.django_db
def test_create_stores_version_one_with_inputs_result_and_snapshot(api, team, editor, catalog):
    body = {"name": "Chat", "description": "support bot", "team": team.pk, "inputs": ESTIMATE_INPUTS}
    response = api.post("/api/v1/plans/", body, format="json")

    assert response.status_code == 201, response.content
    plan = response.json()
    assert plan["owner"] == "editor"
    assert plan["current_version"] == 1
    assert plan["inputs"]["prompt_tokens"] == 1024
    assert plan["inputs"]["output_tokens"] == 256  # default filled in
    assert plan["summary"]["fits"] is True
    version = PlanVersion.objects.get(plan_id=plan["id"])
    assert version.created_by == editor
    assert version.result["performance"] == plan["result"]["performance"]
    snapshot = version.catalog_snapshot
    hardware = Hardware.objects.get(key="h100-sxm-80gb")
    assert snapshot["hardware"]["id"] == hardware.pk
    assert snapshot["hardware"]["memory_bandwidth_bytes_per_s"] == hardware.memory_bandwidth_bytes_per_s
    assert snapshot["model"]["key"] == "llama-3.1-8b"
    assert snapshot["model"]["num_kv_heads"] == 8
    assert snapshot["price"] == {
        "usd_per_gpu_hour": hardware.cloud_usd_per_hour,
        "origin": "hardware",
        "price_point_id": None,
        "provider": "",
        "as_of": "",
        "source": hardware.source,
    }
    assert snapshot["engine_version"] == version.engine_version


@pytest.mark.django_db
def test_editing_inputs_adds_a_version_and_keeps_the_old_one(api, plan):
    url = f"/api/v1/plans/{plan.pk}/"
    response = api.patch(url, {"inputs": {"output_tokens": 1024}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["current_version"] == 2
    assert response.json()["inputs"]["prompt_tokens"] == 1024  # merged over the current inputs
    assert response.json()["inputs"]["output_tokens"] == 1024
    v1, v2 = PlanVersion.objects.filter(plan=plan).order_by("number")
    assert v1.inputs["output_tokens"] == 256
    assert v2.inputs["output_tokens"] == 1024
    assert v2.result["performance"]["e2e_latency_s"] > v1.result["performance"]["e2e_latency_s"]


@pytest.mark.django_db
def test_renaming_or_resubmitting_the_same_inputs_adds_no_version(api, plan):
    url = f"/api/v1/plans/{plan.pk}/"
    renamed = api.patch(url, {"name": "Renamed", "visibility": "private"}, format="json")
    same = api.patch(url, {"inputs": {"model": "Llama 3.1 8B"}}, format="json")

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"
    assert same.status_code == 200
    assert plan.versions.count() == 1


@pytest.mark.django_db
def test_bad_edit_keeps_the_plan_as_it_was(api, plan):
    response = api.patch(
        f"/api/v1/plans/{plan.pk}/", {"name": "X", "inputs": {"tensor_parallel": 3}}, format="json"
    )

    assert response.status_code == 400
    assert "tensor_parallel" in response.json()["detail"]
    plan.refresh_from_db()
    assert plan.name == "Chat bot"
    assert plan.versions.count() == 1


@pytest.mark.django_db
def test_versions_listed_and_diffed_side_by_side(api, plan):
    api.patch(f"/api/v1/plans/{plan.pk}/", {"inputs": {"batch_size": 8}}, format="json")

    listed = api.get(f"/api/v1/plans/{plan.pk}/versions/").json()
    assert [v["number"] for v in listed["results"]] == [1, 2]
    assert listed["results"][1]["created_by"] == "editor"
    one = api.get(f"/api/v1/plans/{plan.pk}/versions/1/").json()
    assert one["catalog_snapshot"]["hardware"]["key"] == "h100-sxm-80gb"

    diff = api.get(f"/api/v1/plans/{plan.pk}/diff/?a=1&b=2")
    assert diff.status_code == 200
    body = diff.json()
    assert (body["a"], body["b"]) == (1, 2)
    changed_inputs = {row["field"]: (row["a"], row["b"]) for row in body["inputs"] if row["changed"]}
    assert changed_inputs == {"batch_size": (1, 8)}
    results = {row["field"]: row for row in body["results"]}
    assert results["performance.batch_size"]["a"] == 1
    assert results["performance.batch_size"]["b"] == 8
    assert results["memory.kv_cache_bytes"]["changed"] is True
    assert results["memory.weights_bytes"]["changed"] is False
    assert not any(row["changed"] for row in body["catalog"])


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "?a=1", "?a=1&b=x", "?a=0&b=1"])
def test_diff_needs_two_version_numbers(api, plan, query):
    response = api.get(f"/api/v1/plans/{plan.pk}/diff/{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_diff_with_a_missing_version_is_404(api, plan):
    assert api.get(f"/api/v1/plans/{plan.pk}/diff/?a=1&b=9").status_code == 404


@pytest.mark.django_db
def test_recompute_needs_editor(client_for, viewer, plan):
    response = client_for(viewer).post(f"/api/v1/plans/{plan.pk}/recompute/")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert plan.versions.count() == 1


@pytest.mark.django_db
def test_recompute_uses_the_teams_price_override(api, plan, team):
    from planner.models import PricePoint

    PricePoint.objects.create(
        hardware=Hardware.objects.get(key="h100-sxm-80gb"),
        provider="Deal",
        usd_per_gpu_hour=1.0,
        as_of="2026-01-01",
        source="contract",
        team=team,
    )
    response = api.post(f"/api/v1/plans/{plan.pk}/recompute/")

    assert response.status_code == 201
    assert response.json()["result"]["cost"]["hourly_usd"] == 1.0
    assert response.json()["catalog_snapshot"]["price"]["origin"] == "team"
    assert plan.versions.get(number=1).result["cost"]["hourly_usd"] != 1.0


@pytest.mark.django_db
def test_plans_filter_and_order_on_whitelisted_fields_only(api, team, editor, catalog):
    for name in ("b-plan", "a-plan"):
        api.post("/api/v1/plans/", {"name": name, "team": team.pk, "inputs": ESTIMATE_INPUTS}, format="json")

    ordered = api.get("/api/v1/plans/?ordering=name").json()["results"]
    assert [p["name"] for p in ordered] == ["a-plan", "b-plan"]
    filtered = api.get(f"/api/v1/plans/?team={team.pk}&visibility=private").json()
    assert filtered["count"] == 0
    # An ordering field outside the whitelist is ignored, not an error or a data leak.
    assert api.get("/api/v1/plans/?ordering=owner__password").status_code == 200


SPLIT = (
    "prefill_cost_per_million_input_tokens_usd",
    "decode_cost_per_million_output_tokens_usd",
    "blended_cost_per_million_tokens_usd",
    "prefill_share",
    "prefill_device_s",
    "decode_device_s",
)


@pytest.mark.django_db
def test_a_version_stored_before_the_cost_split_renders_and_recompute_adds_the_split(
    api, client, editor, plan
):
    """Versions never change: one stored before the split keeps its result (and its pages still render);
    a recompute makes a new version whose cost carries the split."""
    old = plan.versions.get(number=1)
    for name in SPLIT:
        del old.result["cost"][name]
    PlanVersion.objects.filter(pk=old.pk).update(result=old.result)
    client.force_login(editor)

    assert client.get(f"/plans/{plan.pk}/").status_code == 200
    assert client.get("/plans/").status_code == 200
    response = api.post(f"/api/v1/plans/{plan.pk}/recompute/")

    assert response.status_code == 201, response.content
    cost = response.json()["result"]["cost"]
    assert set(SPLIT) <= set(cost)
    both = (
        cost["prefill_cost_per_million_input_tokens_usd"] * 1024
        + cost["decode_cost_per_million_output_tokens_usd"] * 256
    ) / 1e6
    assert both == pytest.approx(cost["cost_per_request_usd"], rel=1e-9)
    assert not set(SPLIT) & set(plan.versions.get(number=1).result["cost"])
    assert client.get(f"/plans/{plan.pk}/diff/?a=1&b=2").status_code == 200
