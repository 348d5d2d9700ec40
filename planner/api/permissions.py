"""Object permissions by team role, from planner.access (the one table of rules). Reads are already scoped by
selectors (another team's object is a 404), so these classes only decide writes: 403 for a member whose role
is too weak."""

from __future__ import annotations

from rest_framework import permissions

from planner import access
from planner.models import ComparisonJob, MeasurementSet, Plan, Team, TeamCalibration


class IsStaffOrReadOnly(permissions.BasePermission):
    """Catalog: any signed-in user reads, staff write."""

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class MemberWrites(permissions.BasePermission):
    """Signed-in users only; reads of an object the view found are allowed (its queryset is already scoped
    to the user's teams), writes are decided by `may_write` with planner.access."""

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in permissions.SAFE_METHODS or self.may_write(request, view, obj)

    def may_write(self, request, view, obj) -> bool:
        raise NotImplementedError


class PlanPermission(MemberWrites):
    """Viewers read; editors create, edit and recompute; admins delete (owners may delete their private
    plans). Creation is checked against the chosen team in the view."""

    def may_write(self, request, view, plan: Plan) -> bool:
        if request.method == "DELETE":
            return access.allowed(request.user, "delete", plan)
        return access.allowed(request.user, "recompute" if view.action == "recompute" else "change", plan)


class TeamPermission(MemberWrites):
    """Members read the team and its members; team admins rename, delete and manage members. Any signed-in
    user may create a team (and becomes its admin); a member may leave (delete their own membership)."""

    def may_write(self, request, view, team: Team) -> bool:
        leaving = view.action == "member" and request.method == "DELETE"
        if leaving and str(request.user.pk) == str(view.kwargs.get("user_id")):
            return True
        return access.allowed(request.user, "change", team)


class ComparisonPermission(MemberWrites):
    """Viewers read a team's comparisons and their results; editors submit and cancel; admins delete.
    Submission is checked against the chosen team in the view."""

    def may_write(self, request, view, job: ComparisonJob) -> bool:
        return access.allowed(request.user, "delete" if request.method == "DELETE" else "cancel", job)


class MeasurementSetPermission(MemberWrites):
    """Viewers read a team's measurement sets and rows; admins delete. Uploads are checked against the
    chosen team by the service."""

    def may_write(self, request, view, measurement_set: MeasurementSet) -> bool:
        return access.allowed(request.user, "delete", measurement_set)


class CalibrationPermission(MemberWrites):
    """Viewers read a team's calibrations; editors cancel a fit; admins delete one and choose the team's
    default. Fits are checked against the chosen team by the service."""

    def may_write(self, request, view, job: TeamCalibration) -> bool:
        if view.action == "cancel":
            return access.allowed(request.user, "cancel", job)
        if view.action == "default":
            return access.allowed(request.user, "change", job.team)
        return access.allowed(request.user, "delete", job)
