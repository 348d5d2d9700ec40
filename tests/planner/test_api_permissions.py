"""The permission matrix: every actor x list/retrieve/create/update/delete on plans, teams and the catalog.

Reads of tenant data are scoped (another team's plan or team is a 404, never a 403); writes need a role
(viewer < editor < admin); catalog writes need staff. Staff get no special rights on teams and plans:
they are catalog curators, not tenants (the Django admin is where a superuser sees everything).
"""

from __future__ import annotations

import pytest

from planner.models import Hardware, HostedApiPrice, LLMModel, Plan, PricePoint, Team
from tests.planner.conftest import ESTIMATE_INPUTS

ACTORS = ("anonymous", "outsider", "viewer", "editor", "team_admin", "staff")


def _row(actor: str, **statuses: int) -> list:
    return [
        pytest.param(actor, action, status, id=f"{actor}-{action}") for action, status in statuses.items()
    ]


PLAN_MATRIX = [
    *_row("anonymous", list=401, retrieve=401, create=401, update=401, delete=401),
    *_row("outsider", list=200, retrieve=404, create=400, update=404, delete=404),
    *_row("viewer", list=200, retrieve=200, create=403, update=403, delete=403),
    *_row("editor", list=200, retrieve=200, create=201, update=200, delete=403),
    *_row("team_admin", list=200, retrieve=200, create=201, update=200, delete=204),
    *_row("staff", list=200, retrieve=404, create=400, update=404, delete=404),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("actor", "action", "expected"), PLAN_MATRIX)
def test_plan_permissions(actor, action, expected, users, client_for, plan, other_plan, team):
    client = client_for(users[actor])
    url, detail = "/api/v1/plans/", f"/api/v1/plans/{plan.pk}/"
    plans_before = Plan.objects.count()
    if action == "list":
        response = client.get(url)
    elif action == "retrieve":
        response = client.get(detail)
    elif action == "create":
        body = {"name": "New", "team": team.pk, "inputs": ESTIMATE_INPUTS}
        response = client.post(url, body, format="json")
    elif action == "update":
        response = client.patch(detail, {"name": "Renamed"}, format="json")
    else:
        response = client.delete(detail)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"code", "message", "detail"}
    if action == "list" and expected == 200:
        ids = {row["id"] for row in response.json()["results"]}
        assert other_plan.pk not in ids or actor == "outsider"
        assert (plan.pk in ids) == (actor in ("viewer", "editor", "team_admin"))
    if not (action == "delete" and expected == 204):
        plan.refresh_from_db()
    created = 1 if (action == "create" and expected == 201) else 0
    deleted = 1 if (action == "delete" and expected == 204) else 0
    assert Plan.objects.count() == plans_before + created - deleted
    if action == "update":
        assert (plan.name == "Renamed") == (expected == 200)


TEAM_MATRIX = [
    *_row("anonymous", list=401, retrieve=401, create=401, update=401, delete=401),
    *_row("outsider", list=200, retrieve=404, create=201, update=404, delete=404),
    *_row("viewer", list=200, retrieve=200, create=201, update=403, delete=403),
    *_row("editor", list=200, retrieve=200, create=201, update=403, delete=403),
    *_row("team_admin", list=200, retrieve=200, create=201, update=200, delete=204),
    *_row("staff", list=200, retrieve=404, create=201, update=404, delete=404),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("actor", "action", "expected"), TEAM_MATRIX)
def test_team_permissions(actor, action, expected, users, client_for, team):
    client = client_for(users[actor])
    url, detail = "/api/v1/teams/", f"/api/v1/teams/{team.pk}/"
    teams_before = Team.objects.count()
    if action == "list":
        response = client.get(url)
    elif action == "retrieve":
        response = client.get(detail)
    elif action == "create":
        response = client.post(url, {"name": "New team", "slug": "new-team"}, format="json")
    elif action == "update":
        response = client.patch(detail, {"name": "Renamed"}, format="json")
    else:
        response = client.delete(detail)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"code", "message", "detail"}
    if action == "list" and expected == 200:
        names = {row["name"] for row in response.json()["results"]}
        assert ("Inference" in names) == (actor in ("viewer", "editor", "team_admin"))
    if action == "create" and expected == 201:
        body = response.json()
        assert body["my_role"] == "admin"
        assert body["member_count"] == 1
    created = 1 if (action == "create" and expected == 201) else 0
    deleted = 1 if (action == "delete" and expected == 204) else 0
    assert Team.objects.count() == teams_before + created - deleted


CATALOG_MATRIX = [
    *_row("anonymous", list=401, retrieve=401, create=401, update=401, delete=401),
    *_row("outsider", list=200, retrieve=200, create=403, update=403, delete=403),
    *_row("viewer", list=200, retrieve=200, create=403, update=403, delete=403),
    *_row("editor", list=200, retrieve=200, create=403, update=403, delete=403),
    *_row("team_admin", list=200, retrieve=200, create=403, update=403, delete=403),
    *_row("staff", list=200, retrieve=200, create=201, update=200, delete=204),
]

NEW_HARDWARE = {
    "key": "test-gpu-16gb",
    "name": "Test GPU 16GB",
    "kind": "consumer_gpu",
    "memory_bytes": 16 * 2**30,
    "memory_bandwidth_bytes_per_s": 500e9,
    "fp16_dense_flops": 50e12,
    "source": "test fixture",
}
NEW_MODEL = {
    "key": "tiny-1b",
    "name": "Tiny 1B",
    "params_total": 1_000_000_000,
    "params_active": 1_000_000_000,
    "num_layers": 16,
    "hidden_size": 2048,
    "num_attention_heads": 32,
    "num_kv_heads": 8,
    "head_dim": 64,
    "intermediate_size": 8192,
    "vocab_size": 32000,
    "max_context_tokens": 8192,
    "source": "test fixture",
}


def _catalog_case(resource: str, catalog) -> tuple[str, str, dict, dict, type]:
    """(list url, detail url, create body, update body, model class) for one catalog resource."""
    if resource == "hardware":
        row = catalog["hardware"][0]
        return (
            "/api/v1/hardware/",
            f"/api/v1/hardware/{row.key}/",
            NEW_HARDWARE,
            {"memory_bandwidth_bytes_per_s": 4e12},
            Hardware,
        )
    if resource == "models":
        row = catalog["models"][0]
        return "/api/v1/models/", f"/api/v1/models/{row.key}/", NEW_MODEL, {"notes": "edited"}, LLMModel
    if resource == "hosted-api-prices":
        row = catalog["hosted_prices"][0]
        body = {
            "provider": "acme",
            "model": catalog["models"][0].key,
            "api_model": "acme/tiny",
            "usd_per_million_input_tokens": 0.1,
            "usd_per_million_output_tokens": 0.3,
            "as_of": "2026-02-01",
            "source": "https://acme.example/pricing",
        }
        return (
            "/api/v1/hosted-api-prices/",
            f"/api/v1/hosted-api-prices/{row.pk}/",
            body,
            {"usd_per_million_output_tokens": 0.5},
            HostedApiPrice,
        )
    point = PricePoint.objects.create(
        hardware=catalog["hardware"][0],
        provider="Acme",
        usd_per_gpu_hour=2.5,
        as_of="2026-01-01",
        source="quote",
    )
    body = {
        "hardware": catalog["hardware"][1].key,
        "provider": "Acme",
        "kind": "spot",
        "usd_per_gpu_hour": 1.2,
        "as_of": "2026-02-01",
        "source": "quote",
    }
    return "/api/v1/prices/", f"/api/v1/prices/{point.pk}/", body, {"usd_per_gpu_hour": 2.0}, PricePoint


@pytest.mark.django_db
@pytest.mark.parametrize("resource", ["hardware", "models", "prices", "hosted-api-prices"])
@pytest.mark.parametrize(("actor", "action", "expected"), CATALOG_MATRIX)
def test_catalog_permissions(resource, actor, action, expected, users, client_for, catalog):
    url, detail, create_body, update_body, model_class = _catalog_case(resource, catalog)
    client = client_for(users[actor])
    before = model_class.objects.count()
    if action == "list":
        response = client.get(url)
    elif action == "retrieve":
        response = client.get(detail)
    elif action == "create":
        response = client.post(url, create_body, format="json")
    elif action == "update":
        response = client.patch(detail, update_body, format="json")
    else:
        response = client.delete(detail)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"code", "message", "detail"}
    created = 1 if (action == "create" and expected == 201) else 0
    deleted = 1 if (action == "delete" and expected == 204) else 0
    assert model_class.objects.count() == before + created - deleted


@pytest.mark.django_db
def test_another_teams_plan_is_404_on_every_route(client_for, outsider, plan):
    client = client_for(outsider)
    base = f"/api/v1/plans/{plan.pk}/"
    for response in (
        client.get(base),
        client.get(base + "versions/"),
        client.get(base + "versions/1/"),
        client.get(base + "diff/?a=1&b=1"),
        client.post(base + "recompute/"),
        client.patch(base, {"name": "x"}, format="json"),
        client.delete(base),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert plan.versions.count() == 1


@pytest.mark.django_db
def test_private_plan_is_seen_and_deleted_only_by_its_owner(
    client_for, editor, viewer, team_admin, team, catalog
):
    owner = client_for(editor)
    body = {"name": "Mine", "team": team.pk, "visibility": "private", "inputs": ESTIMATE_INPUTS}
    created = owner.post("/api/v1/plans/", body, format="json")
    assert created.status_code == 201
    url = f"/api/v1/plans/{created.json()['id']}/"

    for other in (viewer, team_admin):
        assert client_for(other).get(url).status_code == 404
        assert client_for(other).delete(url).status_code == 404
        listed = client_for(other).get("/api/v1/plans/").json()["results"]
        assert created.json()["id"] not in {row["id"] for row in listed}
    assert owner.get(url).status_code == 200
    assert owner.delete(url).status_code == 204
    assert not Plan.objects.filter(pk=created.json()["id"]).exists()
