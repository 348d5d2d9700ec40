"""Teams, invitations and memberships. Invariant kept here: a team always has an admin (every change of a
team's admins takes the team row's lock, _locked_membership)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from planner.models import Invitation, Membership, Role, Team


def team_create(*, user, name: str, slug: str | None = None) -> Team:
    """A new team with its creator as admin. A slug given and taken (two creations at once included) is a
    400; without one it is derived from the name ("GPU Team" -> "gpu-team", then "gpu-team-2", ...)."""
    candidates = [slug] if slug else _derived_slugs(name)
    for candidate in candidates:
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, slug=candidate)
                Membership.objects.create(team=team, user=user, role=Role.ADMIN)
            return team
        except IntegrityError:
            continue
    raise ValidationError({"slug": "team with this slug already exists."})


def team_update(team: Team, **fields: Any) -> Team:
    """Rename a team or change its slug (the caller checked that the user is a team admin). Only the fields
    given are written, so a concurrent change of another column (the team's default calibration) is kept."""
    for name, value in fields.items():
        setattr(team, name, value)
    if fields:
        team.save(update_fields=list(fields))
    return team


def _derived_slugs(name: str, tries: int = 50):
    """Slugs for a team named `name`: its slugified name, then with -2, -3, ... (the first free ones)."""
    base = slugify(name)[:100] or "team"
    taken = set(Team.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    count = 0
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base}-{n}"
        if candidate not in taken:
            yield candidate
            count += 1
            if count >= tries:
                return


def _admins_left(team_id: int, without: Membership) -> bool:
    return Membership.objects.filter(team_id=team_id, role=Role.ADMIN).exclude(pk=without.pk).exists()


def _locked_membership(membership: Membership) -> Membership:
    """The membership as it is now, with its team's row locked: every change of a team's admins takes the
    same lock, so two admins demoting each other (or both leaving) at once are serialised and the second
    sees the first's change. Invariant: a team always has an admin."""
    Team.objects.select_for_update().filter(pk=membership.team_id).first()
    return Membership.objects.select_for_update().get(pk=membership.pk)


def invitation_send(*, team: Team, username: str, role: str, invited_by) -> None:
    """Invite the active user `username` to `team` as `role` (a team admin's "add member").

    Says nothing about the username: an unknown or inactive one, a member already and one invited already
    (whose invitation takes the new role) all return the same, so the caller cannot learn which usernames
    exist. The invitee sees the invitation and accepts or declines it (`invitation_accept`)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or Membership.objects.filter(team=team, user=user).exists():
        return
    values = {"role": role, "invited_by": invited_by}
    try:
        with transaction.atomic():
            Invitation.objects.update_or_create(team=team, user=user, defaults=values)
    except IntegrityError:  # a concurrent invitation of the same user was created first: take its row
        Invitation.objects.filter(team=team, user=user).update(**values)


def invitation_accept(invitation: Invitation) -> Membership:
    """The invitee joins the team with the invited role; the invitation is used up (once: the row is locked,
    so a double accept finds it gone and answers 404)."""
    with transaction.atomic():
        current = Invitation.objects.select_for_update().get(pk=invitation.pk)
        membership, _ = Membership.objects.get_or_create(
            team_id=current.team_id, user_id=current.user_id, defaults={"role": current.role}
        )
        current.delete()
    return membership


def invitation_decline(invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk).delete()


def membership_set_role(membership: Membership, *, role: str) -> Membership:
    with transaction.atomic():
        current = _locked_membership(membership)
        if current.role == Role.ADMIN and role != Role.ADMIN and not _admins_left(current.team_id, current):
            raise ValidationError({"role": "a team needs at least one admin."})
        current.role = role
        current.save(update_fields=["role"])
    membership.role = role
    return current


def membership_remove(membership: Membership) -> None:
    with transaction.atomic():
        current = _locked_membership(membership)
        if current.role == Role.ADMIN and not _admins_left(current.team_id, current):
            raise ValidationError({"user": "a team needs at least one admin."})
        current.delete()
