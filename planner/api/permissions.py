"""Object permissions by team role. Reads are already scoped by selectors (another team's object is a 404),
so these classes only decide writes: 403 for a member whose role is too weak."""

from __future__ import annotations

from rest_framework import permissions

from planner.models import ComparisonJob, Membership, Plan, Role, Team
from planner.selectors import role_at_least, role_of


class IsStaffOrReadOnly(permissions.BasePermission):
    """Catalog: any signed-in user reads, staff write."""

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class PlanPermission(permissions.BasePermission):
    """Viewers read; editors create, edit and recompute; admins delete (owners may delete their private
    plans). Creation is checked against the chosen team in the view."""

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated

    def has_object_permission(self, request, view, plan: Plan) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        role = role_of(request.user, plan.team_id)
        if request.method == "DELETE":
            own_private = plan.visibility == Plan.Visibility.PRIVATE and plan.owner_id == request.user.pk
            return role_at_least(role, Role.ADMIN) or (own_private and role_at_least(role, Role.EDITOR))
        return role_at_least(role, Role.EDITOR)


class TeamPermission(permissions.BasePermission):
    """Members read the team and its members; team admins rename, delete and manage members. Any signed-in
    user may create a team (and becomes its admin); a member may leave (delete their own membership)."""

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated

    def has_object_permission(self, request, view, team: Team) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        leaving = view.action == "member" and request.method == "DELETE"
        if leaving and str(request.user.pk) == str(view.kwargs.get("user_id")):
            return True
        return role_at_least(role_of(request.user, team), Role.ADMIN)


def can_create_plan_in(user, team: Team) -> bool:
    return Membership.objects.filter(user=user, team=team, role__in=[Role.EDITOR, Role.ADMIN]).exists()


class ComparisonPermission(permissions.BasePermission):
    """Viewers read a team's comparisons and their results; editors submit and cancel; admins delete.
    Submission is checked against the chosen team in the view."""

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated

    def has_object_permission(self, request, view, job: ComparisonJob) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        needed = Role.ADMIN if request.method == "DELETE" else Role.EDITOR
        return role_at_least(role_of(request.user, job.team_id), needed)
