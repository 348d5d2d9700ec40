"""Selectors: reads scoped to a user (services write). Tenant data is read through access.restrict(queryset,
user, "view") (the models' visible_to rules)."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery

from planner import access
from planner.models import (
    ComparisonJob,
    ComparisonResultRow,
    Hardware,
    HostedApiPrice,
    LLMModel,
    Membership,
    Plan,
    PlanVersion,
    PricePoint,
    Team,
)


def teams_for(user) -> QuerySet[Team]:
    """The user's teams, each with `my_role` and `member_count` annotated (one query for a page)."""
    if not user.is_authenticated:
        return Team.objects.none()
    my_role = Membership.objects.filter(team=OuterRef("pk"), user=user).values("role")[:1]
    return (
        access.restrict(Team.objects.all(), user, "view")
        .annotate(my_role=Subquery(my_role), member_count=Count("memberships", distinct=True))
        .order_by("name", "id")
    )


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def plans_for(user) -> QuerySet[Plan]:
    return access.restrict(Plan.objects.all(), user, "view").select_related(
        "team", "owner", "current_version"
    )


def plan_versions(plan: Plan) -> QuerySet[PlanVersion]:
    return plan.versions.select_related("created_by").order_by("number")


def hardware_list() -> QuerySet[Hardware]:
    return Hardware.objects.all()


def model_list() -> QuerySet[LLMModel]:
    return LLMModel.objects.all()


def hosted_api_prices() -> QuerySet[HostedApiPrice]:
    return HostedApiPrice.objects.select_related("model")


def prices_for(user) -> QuerySet[PricePoint]:
    return PricePoint.objects.visible_to(user).select_related("hardware", "team")


def comparisons_for(user) -> QuerySet[ComparisonJob]:
    """Comparison jobs of the user's teams, without the bulky inputs (loaded on demand)."""
    return (
        access.restrict(ComparisonJob.objects.all(), user, "view")
        .select_related("team", "created_by")
        .defer("catalog_snapshot")
    )


def comparison_rows(job: ComparisonJob) -> QuerySet[ComparisonResultRow]:
    """A job's stored configurations, best first (the objective's rank value, then the key)."""
    return job.result_rows.all()
