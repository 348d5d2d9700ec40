"""Who may do what: the one table of team-role rules, used by the API's permission classes, the web views
and the services that write (which refuse a write the caller may not make, whoever calls them).

    object       action     least role   besides
    plan         view       viewer       a private plan: its owner alone (Plan.objects.visible_to)
    plan         create     editor       (in the chosen team)
    plan         change     editor       visibility: the owner alone (services.plans.plan_update)
    plan         recompute  editor
    plan         delete     admin        or the owner of a private plan (with the editor role)
    comparison   view       viewer       one made from a private plan: that plan's owner alone
    comparison   submit     editor       (in the chosen team)
    comparison   cancel     editor
    comparison   delete     admin
    team         view       viewer
    team         change     admin        rename, delete, manage members (a member may leave)
    measurements view       viewer       a team's uploaded benchmark files and their rows
    measurements upload     editor       (in the chosen team)
    measurements delete     admin
    calibration  view       viewer       fits of the team's measurement sets
    calibration  fit        editor       (in the chosen team)
    calibration  cancel     editor
    calibration  delete     admin        (choosing the team's default is a team change: admin)

`restrict(queryset, user, action)` narrows a plan, comparison or team queryset to the objects the user may
act on (NetBox's RestrictedQuerySet.restrict(user, action) is the model); `allowed(user, action, obj)` and
`require(...)` decide one object (or a team, for create and submit).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from planner.models import (
    ROLE_RANK,
    ComparisonJob,
    MeasurementSet,
    Membership,
    Plan,
    Role,
    Team,
    TeamCalibration,
)

RULES: dict[tuple[str, str], Role] = {
    ("plan", "view"): Role.VIEWER,
    ("plan", "create"): Role.EDITOR,
    ("plan", "change"): Role.EDITOR,
    ("plan", "recompute"): Role.EDITOR,
    ("plan", "delete"): Role.ADMIN,
    ("comparison", "view"): Role.VIEWER,
    ("comparison", "submit"): Role.EDITOR,
    ("comparison", "cancel"): Role.EDITOR,
    ("comparison", "delete"): Role.ADMIN,
    ("team", "view"): Role.VIEWER,
    ("team", "change"): Role.ADMIN,
    ("measurements", "view"): Role.VIEWER,
    ("measurements", "upload"): Role.EDITOR,
    ("measurements", "delete"): Role.ADMIN,
    ("calibration", "view"): Role.VIEWER,
    ("calibration", "fit"): Role.EDITOR,
    ("calibration", "cancel"): Role.EDITOR,
    ("calibration", "delete"): Role.ADMIN,
}
"""(object kind, action) -> the least team role that may do it."""

_KIND = {
    Plan: "plan",
    ComparisonJob: "comparison",
    Team: "team",
    MeasurementSet: "measurements",
    TeamCalibration: "calibration",
}
NOUNS = {"measurements": "measurement sets"}
WORDS = {Role.VIEWER: "a member", Role.EDITOR: "the editor or admin role", Role.ADMIN: "the admin role"}


def _kind(obj: object) -> str:
    for cls, kind in _KIND.items():
        if isinstance(obj, cls) or obj is cls:
            return kind
    raise TypeError(f"no access rules for {type(obj).__name__}")


def role_of(user, team: Team | int | None) -> str | None:
    """The user's role in the team, or None (anonymous users and non-members)."""
    if team is None or not getattr(user, "is_authenticated", False):
        return None
    team_id = team.pk if isinstance(team, Team) else team
    return Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


def needed_role(kind: str, action: str) -> Role:
    try:
        return RULES[(kind, action)]
    except KeyError:
        raise ValueError(f"no rule for {action!r} on a {kind}") from None


def allowed(
    user,
    action: str,
    obj: Plan | ComparisonJob | Team | MeasurementSet | TeamCalibration,
    *,
    kind: str | None = None,
) -> bool:
    """Whether `user` may do `action` on `obj`; for "create" and "submit", `obj` is the team and `kind`
    names what is made ("plan" or "comparison")."""
    kind = kind or _kind(obj)
    needed = needed_role(kind, action)
    team_id = obj.pk if isinstance(obj, Team) else obj.team_id
    role = role_of(user, team_id)
    if isinstance(obj, Plan) and obj.visibility == Plan.Visibility.PRIVATE and obj.owner_id != user.pk:
        return False  # a private plan exists for its owner alone
    if isinstance(obj, Plan) and action == "delete" and obj.visibility == Plan.Visibility.PRIVATE:
        return role_at_least(role, Role.EDITOR)  # its owner (checked above) may delete it
    return role_at_least(role, needed)


def require(
    user,
    action: str,
    obj: Plan | ComparisonJob | Team | MeasurementSet | TeamCalibration,
    *,
    kind: str | None = None,
) -> None:
    """`allowed` or PermissionDenied naming the role the action needs (403 in the API, a message on the
    web)."""
    if not allowed(user, action, obj, kind=kind):
        what = kind or _kind(obj)
        noun = NOUNS.get(what, f"a {what}")
        raise PermissionDenied(f"Needs {WORDS[needed_role(what, action)]} in the team to {action} {noun}.")


def teams_where(user, kind: str, action: str) -> QuerySet[Team]:
    """Teams in which `user` may `action` a `kind` (e.g. the teams to offer for a new plan)."""
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    needed = needed_role(kind, action)
    roles = [role for role in Role if ROLE_RANK[role] >= ROLE_RANK[needed]]
    return Team.objects.filter(pk__in=Membership.objects.filter(user=user, role__in=roles).values("team_id"))


def restrict(queryset: QuerySet, user, action: str) -> QuerySet:
    """The objects of `queryset` (plans, comparisons or teams) that `user` may `action`."""
    kind = _kind(queryset.model)
    visible = queryset.visible_to(user)  # members' teams; private plans (and their comparisons) owner-only
    if action == "view":
        return visible
    teams = teams_where(user, kind, action).values("pk")
    return visible.filter(pk__in=teams) if kind == "team" else visible.filter(team_id__in=teams)
