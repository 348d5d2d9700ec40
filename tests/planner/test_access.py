"""planner.access: the one table of who may do what, as the services enforce it whoever calls them (API, web,
a management command), and `restrict(queryset, user, action)` as the lists use it."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from planner import access
from planner.models import ComparisonJob, Plan, Team
from planner.services import comparisons, plans
from tests.planner.conftest import ESTIMATE_INPUTS, SMALL_COMPARISON


def test_every_rule_names_a_role_and_every_kind_has_view():
    kinds = {kind for kind, _ in access.RULES}
    assert kinds == {"plan", "comparison", "team", "measurements", "calibration"}
    assert all((kind, "view") in access.RULES for kind in kinds)


@pytest.mark.django_db
def test_services_refuse_what_the_role_does_not_allow(team, plan, editor, viewer, catalog):
    with pytest.raises(PermissionDenied, match="editor or admin role in the team to create a plan"):
        plans.plan_create(user=viewer, team=team, name="x", inputs=ESTIMATE_INPUTS)
    with pytest.raises(PermissionDenied):
        plans.plan_update(plan, user=viewer, name="renamed")
    with pytest.raises(PermissionDenied):
        plans.plan_recompute(plan, user=viewer)
    with pytest.raises(PermissionDenied, match="admin role in the team to delete a plan"):
        plans.plan_delete(plan, user=editor)  # a team plan: admins delete
    with pytest.raises(PermissionDenied):
        comparisons.comparison_submit(user=viewer, team=team, name="x", request=SMALL_COMPARISON)
    assert Plan.objects.filter(name="x").count() == 0 and ComparisonJob.objects.count() == 0


@pytest.mark.django_db
def test_what_the_role_allows_goes_through(team, plan, editor, team_admin, catalog):
    plans.plan_update(plan, user=editor, name="renamed")
    job = comparisons.comparison_submit(user=editor, team=team, name="ok", request=SMALL_COMPARISON)
    assert comparisons.comparison_cancel(job, user=editor)
    with pytest.raises(PermissionDenied):
        comparisons.comparison_delete(job, user=editor)
    comparisons.comparison_delete(job, user=team_admin)
    plans.plan_delete(plan, user=team_admin)
    assert not Plan.objects.filter(pk=plan.pk).exists()


@pytest.mark.django_db
def test_restrict_narrows_each_kind_by_role_and_privacy(team, other_team, plan, editor, viewer, outsider):
    private = plans.plan_create(
        user=editor, team=team, name="mine", inputs=ESTIMATE_INPUTS, visibility="private"
    )
    all_plans = Plan.objects.all()
    assert set(access.restrict(all_plans, viewer, "view")) == {plan}  # the private plan is its owner's alone
    assert set(access.restrict(all_plans, viewer, "change")) == set()
    assert set(access.restrict(all_plans, editor, "change")) == {plan, private}
    assert set(access.restrict(all_plans, outsider, "view")) == set(Plan.objects.filter(team=other_team))
    assert set(access.restrict(Team.objects.all(), viewer, "change")) == set()
    assert set(access.teams_where(editor, "plan", "create")) == {team}
    assert access.allowed(editor, "delete", private) and not access.allowed(viewer, "delete", private)
