"""Plan writes keep their invariants (the reliability issue's data-integrity cases, replayed): only the
fields given are written, so concurrent edits of different fields both land and a stale copy never moves
`current_version` back; only the owner changes a plan's visibility; a comparison made from a private plan is
its owner's alone, like the plan."""

from __future__ import annotations

import pytest

from planner.models import ComparisonJob, Plan
from planner.services import plans
from tests.planner.conftest import ESTIMATE_INPUTS


@pytest.mark.django_db
def test_edits_of_different_fields_from_stale_copies_both_land(plan, editor):
    first, second = Plan.objects.get(pk=plan.pk), Plan.objects.get(pk=plan.pk)
    plans.plan_update(first, user=editor, name="Renamed")
    plans.plan_update(second, user=editor, description="Described")

    fresh = Plan.objects.get(pk=plan.pk)
    assert (fresh.name, fresh.description) == ("Renamed", "Described")


@pytest.mark.django_db
def test_a_stale_rename_never_moves_the_current_version_back(plan, editor):
    stale = Plan.objects.get(pk=plan.pk)
    for batch in (2, 4, 8):
        plans.plan_update(
            Plan.objects.get(pk=plan.pk), user=editor, inputs={**ESTIMATE_INPUTS, "batch_size": batch}
        )
    latest = Plan.objects.get(pk=plan.pk).current_version
    assert latest.number == 4

    plans.plan_update(stale, user=editor, name="Renamed late")
    fresh = Plan.objects.get(pk=plan.pk)
    assert fresh.current_version_id == latest.pk and fresh.name == "Renamed late"


@pytest.mark.django_db
def test_only_the_owner_changes_visibility(client_for, plan, editor, team_admin):
    url = f"/api/v1/plans/{plan.pk}/"
    refused = client_for(team_admin).patch(url, {"visibility": "private"}, format="json")
    assert refused.status_code == 403, refused.content
    assert Plan.objects.get(pk=plan.pk).visibility == "team"
    # Renaming someone else's plan stays an editor's right.
    assert client_for(team_admin).patch(url, {"name": "Ops bot"}, format="json").status_code == 200

    owner = client_for(editor).patch(url, {"visibility": "private"}, format="json")
    assert owner.status_code == 200, owner.content
    assert owner.json()["visibility"] == "private"
    assert client_for(team_admin).get(url).status_code == 404


@pytest.mark.django_db
def test_a_private_plans_comparison_is_its_owners_alone(
    client_for, plan, editor, viewer, team_admin, catalog
):
    plans.plan_update(plan, user=editor, visibility="private")
    response = client_for(editor).post(f"/api/v1/plans/{plan.pk}/compare/", {"top_k": 5}, format="json")
    assert response.status_code == 202, response.content
    job = ComparisonJob.objects.get(pk=response.json()["id"])
    url = f"/api/v1/comparisons/{job.pk}/"

    assert client_for(editor).get(url).status_code == 200
    for other in (viewer, team_admin):
        client = client_for(other)
        assert client.get(url).status_code == 404
        assert client.get(f"{url}results/").status_code == 404
        listed = client.get("/api/v1/comparisons/").json()
        assert job.pk not in [j["id"] for j in listed["results"]]
    # Shared again, the team sees it.
    plans.plan_update(plan, user=editor, visibility="team")
    assert client_for(viewer).get(url).status_code == 200
