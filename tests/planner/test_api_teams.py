"""Teams: members and roles, managed by team admins."""

from __future__ import annotations

import pytest

from planner.models import Invitation, Membership


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

    invited = client.post(_members_url(team), {"username": "outsider", "role": "editor"}, format="json")
    assert invited.status_code == 202, invited.content
    assert not Membership.objects.filter(team=team, user=outsider).exists()  # not before they accept
    invitation = client_for(outsider).get("/api/v1/invitations/").json()["results"][0]
    assert (invitation["team_slug"], invitation["role"], invitation["invited_by"]) == (
        team.slug,
        "editor",
        "team_admin",
    )
    accepted = client_for(outsider).post(f"/api/v1/invitations/{invitation['id']}/accept/")
    assert accepted.status_code == 201
    assert Membership.objects.get(team=team, user=outsider).role == "editor"

    changed = client.patch(_members_url(team, outsider), {"role": "admin"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["role"] == "admin"

    removed = client.delete(_members_url(team, outsider))
    assert removed.status_code == 204
    assert not Membership.objects.filter(team=team, user=outsider).exists()


@pytest.mark.django_db
def test_an_invitation_answers_the_same_whether_or_not_the_username_exists(
    client_for, team_admin, viewer, outsider, team, django_user_model
):
    """Adding a member used to answer 400 for an unknown username and 201 for a real one: any signed-in user
    could list the site's usernames. Now every username gets the same 202 and body."""
    django_user_model.objects.create_user("retired", password="x", is_active=False)
    client = client_for(team_admin)
    answers = {
        name: client.post(_members_url(team), {"username": name, "role": "viewer"}, format="json")
        for name in ("outsider", "nobody-at-all", "retired", "viewer")
    }

    assert {(r.status_code, r.content) for r in answers.values()} == {(202, answers["outsider"].content)}
    assert list(Invitation.objects.values_list("user__username", flat=True)) == ["outsider"]
    # Inviting again changes the role of the pending invitation, still with the same answer.
    again = client.post(_members_url(team), {"username": "outsider", "role": "editor"}, format="json")
    assert (again.status_code, again.content) == (202, answers["outsider"].content)
    assert Invitation.objects.get(user=outsider).role == "editor"


@pytest.mark.django_db
def test_an_invitation_is_seen_and_answered_by_its_invitee_alone(
    client_for, team_admin, outsider, editor, team
):
    client_for(team_admin).post(_members_url(team), {"username": "outsider"}, format="json")
    invitation = Invitation.objects.get(user=outsider)
    url = f"/api/v1/invitations/{invitation.pk}/"

    for other in (team_admin, editor):
        assert client_for(other).get("/api/v1/invitations/").json()["results"] == []
        assert client_for(other).get(url).status_code == 404
        assert client_for(other).post(url + "accept/").status_code == 404
        assert client_for(other).delete(url).status_code == 404
    assert client_for(None).get("/api/v1/invitations/").status_code == 401

    assert client_for(outsider).post(url + "accept/").status_code == 201
    assert client_for(outsider).post(url + "accept/").status_code == 404  # used up
    assert Membership.objects.get(team=team, user=outsider).role == "viewer"


@pytest.mark.django_db
def test_a_declined_invitation_is_gone_and_adds_no_one(client_for, team_admin, outsider, team):
    client_for(team_admin).post(_members_url(team), {"username": "outsider"}, format="json")
    invitation = Invitation.objects.get(user=outsider)

    assert client_for(outsider).delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 204
    assert not Invitation.objects.exists()
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
def test_bad_role_and_missing_username_are_field_errors(client_for, team_admin, team):
    client = client_for(team_admin)

    response = client.post(_members_url(team), {"role": "owner"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["detail"]) == {"username", "role"}
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_duplicate_team_slug_is_a_field_error(client_for, editor, team):
    response = client_for(editor).post("/api/v1/teams/", {"name": "x", "slug": team.slug}, format="json")

    assert response.status_code == 400
    assert "slug" in response.json()["detail"]


@pytest.mark.django_db
def test_a_teams_slug_is_derived_from_its_name_when_left_out(client_for, editor):
    api = client_for(editor)
    first = api.post("/api/v1/teams/", {"name": "GPU Team!"}, format="json")
    second = api.post("/api/v1/teams/", {"name": "GPU team"}, format="json")
    assert first.status_code == second.status_code == 201
    assert (first.json()["slug"], second.json()["slug"]) == ("gpu-team", "gpu-team-2")
    assert api.post("/api/v1/teams/", {"name": "x", "slug": "gpu-team"}, format="json").status_code == 400
    odd = api.post("/api/v1/teams/", {"name": "✓✓"}, format="json").json()
    assert odd["slug"] == "team"  # nothing sluggable in the name
