"""Object permissions by team role, from planner.access (the one table of rules). Reads are already scoped by
selectors (another team's object is a 404), so these classes only decide writes: 403 for a member whose role
is too weak."""

from __future__ import annotations

from rest_framework import permissions

from planner import access
from planner.models import ComparisonJob, Plan, Team


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
        if request.method == "DELETE":
            return access.allowed(request.user, "delete", plan)
        return access.allowed(request.user, "recompute" if view.action == "recompute" else "change", plan)


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
        return access.allowed(request.user, "change", team)


class ComparisonPermission(permissions.BasePermission):
    """Viewers read a team's comparisons and their results; editors submit and cancel; admins delete.
    Submission is checked against the chosen team in the view."""

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated

    def has_object_permission(self, request, view, job: ComparisonJob) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return access.allowed(request.user, "delete" if request.method == "DELETE" else "cancel", job)
