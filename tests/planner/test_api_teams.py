"""Teams: members and roles, managed by team admins."""

from __future__ import annotations

import pytest

from planner.models import Membership


def _members_url(team, user=None) -> str:
    return f"/api/v1/teams/{team.pk}/members/" + (f"{user.pk}/" if user else "")


@pytest.mark.django_db
def test_members_listed_for_any_member(client_for, viewer, team):
    response = client_for(viewer).get(_members_url(team))

    assert response.status_code == 200
    roles = {m["username"]: m["role"] for m in response.json()["results"]}
    assert roles == {"editor": "editor", "team_admin": "admin", "viewer": "viewer"}


@pytest.mark.django_db
def test_admin_adds_changes_and_removes_a_member(client_for, team_admin, outsider, team):
    client = client_for(team_admin)

    added = client.post(_members_url(team), {"username": "outsider", "role": "editor"}, format="json")
    assert added.status_code == 201, added.content
    assert Membership.objects.get(team=team, user=outsider).role == "editor"
    assert client.post(_members_url(team), {"username": "outsider"}, format="json").status_code == 400

    changed = client.patch(_members_url(team, outsider), {"role": "admin"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["role"] == "admin"

    removed = client.delete(_members_url(team, outsider))
    assert removed.status_code == 204
    assert not Membership.objects.filter(team=team, user=outsider).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["editor", "viewer"])
def test_non_admins_cannot_manage_members(client_for, users, team, outsider, actor):
    client = client_for(users[actor])
    before = list(Membership.objects.filter(team=team).values_list("user_id", "role"))

    assert client.post(_members_url(team), {"username": "outsider"}, format="json").status_code == 403
    assert (
        client.patch(_members_url(team, users["viewer"]), {"role": "admin"}, format="json").status_code == 403
    )
    assert client.delete(_members_url(team, users["team_admin"])).status_code == 403
    assert list(Membership.objects.filter(team=team).values_list("user_id", "role")) == before


@pytest.mark.django_db
def test_outsiders_see_no_member_list(client_for, outsider, team):
    assert client_for(outsider).get(_members_url(team)).status_code == 404


@pytest.mark.django_db
def test_a_member_may_leave(client_for, viewer, team):
    assert client_for(viewer).delete(_members_url(team, viewer)).status_code == 204
    assert not Membership.objects.filter(team=team, user=viewer).exists()


@pytest.mark.django_db
def test_the_last_admin_cannot_leave_or_be_demoted(client_for, team_admin, team):
    client = client_for(team_admin)

    demoted = client.patch(_members_url(team, team_admin), {"role": "viewer"}, format="json")
    left = client.delete(_members_url(team, team_admin))

    assert demoted.status_code == 400
    assert demoted.json()["detail"] == {"role": ["a team needs at least one admin."]}
    assert left.status_code == 400
    assert Membership.objects.get(team=team, user=team_admin).role == "admin"


@pytest.mark.django_db
def test_bad_role_and_unknown_user_are_field_errors(client_for, team_admin, team):
    client = client_for(team_admin)

    response = client.post(_members_url(team), {"username": "nobody", "role": "owner"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["detail"]) == {"username", "role"}


@pytest.mark.django_db
def test_duplicate_team_slug_is_a_field_error(client_for, editor, team):
    response = client_for(editor).post("/api/v1/teams/", {"name": "x", "slug": team.slug}, format="json")

    assert response.status_code == 400
    assert "slug" in response.json()["detail"]
