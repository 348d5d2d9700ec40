"""Every operation in the API schema has permission tests: a new endpoint without them fails here.

PERMISSION_TESTS maps "METHOD /path" (as in /api/v1/schema/) to the tests that check who may call it
(anonymous, outsider, viewer, editor, team admin, staff). When you add an endpoint, add its operations here
with the tests that cover them. On top of that list, test_anonymous_callers_are_refused_everywhere sends an
anonymous request to every operation in the schema and expects 401, so a new endpoint is checked for that
much without any edit.
"""

from __future__ import annotations

import importlib
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

PERMISSIONS = "tests/planner/test_api_permissions.py"
CATALOG = f"{PERMISSIONS}::test_catalog_permissions"
TEAMS = f"{PERMISSIONS}::test_team_permissions"
PLANS = f"{PERMISSIONS}::test_plan_permissions"
PUT = "tests/hardening/test_security.py::test_full_updates_need_the_same_rights_as_partial_ones"
DUPLICATE = "tests/hardening/test_security.py::test_catalog_duplicate_is_staff_only"
PLAN_ROUTES = f"{PERMISSIONS}::test_another_teams_plan_is_404_on_every_route"
COMPARISONS = "tests/planner/test_api_comparisons.py"
COMPARISON_MATRIX = f"{COMPARISONS}::test_permission_matrix"
MEASUREMENTS = "tests/planner/test_api_measurements.py::test_permissions_follow_the_team_roles"
CALIBRATIONS = "tests/planner/test_api_calibrations.py::test_calibration_permissions"
MEMBERS = (
    "tests/planner/test_api_teams.py::test_members_listed_for_any_member",
    "tests/planner/test_api_teams.py::test_outsiders_see_no_member_list",
    "tests/planner/test_api_teams.py::test_non_admins_cannot_manage_members",
)
INVITATIONS = (
    "tests/planner/test_api_teams.py::test_an_invitation_is_seen_and_answered_by_its_invitee_alone",
    "tests/planner/test_api_teams.py::test_a_declined_invitation_is_gone_and_adds_no_one",
)
MEMBER = (
    "tests/planner/test_api_teams.py::test_non_admins_cannot_manage_members",
    "tests/planner/test_api_teams.py::test_a_member_may_leave",
    "tests/planner/test_api_teams.py::test_admin_adds_changes_and_removes_a_member",
)

PERMISSION_TESTS: dict[str, tuple[str, ...]] = {
    "POST /api/v1/estimate/": (
        "tests/planner/test_api_estimate.py::test_another_teams_prices_cannot_be_used",
        "tests/planner/test_api_estimate.py::test_anonymous_estimates_are_throttled",
    ),
    **{
        f"{method} /api/v1/{resource}/{lookup}": (CATALOG, PUT) if method == "PUT" else (CATALOG,)
        for resource, param in (
            ("hardware", "{key}"),
            ("models", "{key}"),
            ("prices", "{id}"),
            ("hosted-api-prices", "{id}"),
        )
        for method, lookup in (
            ("GET", ""),
            ("POST", ""),
            ("GET", f"{param}/"),
            ("PUT", f"{param}/"),
            ("PATCH", f"{param}/"),
            ("DELETE", f"{param}/"),
        )
    },
    "POST /api/v1/hardware/{key}/duplicate/": (DUPLICATE,),
    "POST /api/v1/models/{key}/duplicate/": (DUPLICATE,),
    "POST /api/v1/models/import/": ("tests/planner/test_api_catalog.py::test_import_is_staff_only",),
    "GET /api/v1/teams/": (TEAMS,),
    "POST /api/v1/teams/": (TEAMS,),
    "GET /api/v1/teams/{id}/": (TEAMS,),
    "PUT /api/v1/teams/{id}/": (TEAMS, PUT),
    "PATCH /api/v1/teams/{id}/": (TEAMS,),
    "DELETE /api/v1/teams/{id}/": (TEAMS,),
    "GET /api/v1/teams/{id}/members/": MEMBERS,
    "POST /api/v1/teams/{id}/members/": MEMBERS,
    "PATCH /api/v1/teams/{id}/members/{user_id}/": MEMBER,
    "DELETE /api/v1/teams/{id}/members/{user_id}/": MEMBER,
    "GET /api/v1/invitations/": INVITATIONS,
    "GET /api/v1/invitations/{id}/": INVITATIONS,
    "DELETE /api/v1/invitations/{id}/": INVITATIONS,
    "POST /api/v1/invitations/{id}/accept/": INVITATIONS,
    "GET /api/v1/plans/": (PLANS,),
    "POST /api/v1/plans/": (PLANS,),
    "GET /api/v1/plans/{id}/": (
        PLANS,
        f"{PERMISSIONS}::test_private_plan_is_seen_and_deleted_only_by_its_owner",
    ),
    "PUT /api/v1/plans/{id}/": (PLANS, PUT),
    "PATCH /api/v1/plans/{id}/": (PLANS, PLAN_ROUTES),
    "DELETE /api/v1/plans/{id}/": (PLANS, PLAN_ROUTES),
    "GET /api/v1/plans/{id}/versions/": (PLAN_ROUTES,),
    "GET /api/v1/plans/{id}/versions/{number}/": (PLAN_ROUTES,),
    "GET /api/v1/plans/{id}/diff/": (PLAN_ROUTES,),
    "POST /api/v1/plans/{id}/recompute/": (
        PLAN_ROUTES,
        "tests/planner/test_api_plans.py::test_recompute_needs_editor",
    ),
    "POST /api/v1/capacity/": (
        "tests/planner/test_api_capacity.py::test_another_teams_prices_cannot_be_used",
        "tests/planner/test_api_capacity.py::test_anonymous_capacity_plans_share_the_estimate_throttle",
    ),
    "POST /api/v1/breakeven/": (
        "tests/planner/test_api_breakeven.py::test_another_teams_prices_cannot_be_used",
        "tests/planner/test_api_breakeven.py::test_anonymous_break_evens_share_the_estimate_throttle",
    ),
    "POST /api/v1/export/": (
        "tests/planner/test_api_export.py::test_another_teams_prices_cannot_be_used",
        "tests/planner/test_api_export.py::test_anonymous_exports_share_the_estimate_throttle",
    ),
    "GET /api/v1/comparisons/": (f"{COMPARISONS}::test_list_shows_only_the_callers_teams",),
    "POST /api/v1/comparisons/": (f"{COMPARISONS}::test_who_may_submit",),
    "GET /api/v1/comparisons/{id}/": (COMPARISON_MATRIX,),
    "GET /api/v1/comparisons/{id}/results/": (COMPARISON_MATRIX,),
    "POST /api/v1/comparisons/{id}/cancel/": (COMPARISON_MATRIX,),
    "DELETE /api/v1/comparisons/{id}/": (COMPARISON_MATRIX,),
    "POST /api/v1/plans/{id}/compare/": (f"{COMPARISONS}::test_plan_compare_needs_the_editor_role",),
    **{
        f"{method} /api/v1/measurement-sets/{path}": (MEASUREMENTS,)
        for method, path in (
            ("GET", ""),
            ("POST", ""),
            ("GET", "{id}/"),
            ("DELETE", "{id}/"),
            ("GET", "{id}/rows/"),
        )
    },
    **{
        f"{method} /api/v1/calibrations/{path}": (CALIBRATIONS,)
        for method, path in (
            ("GET", ""),
            ("POST", ""),
            ("GET", "{id}/"),
            ("DELETE", "{id}/"),
            ("POST", "{id}/cancel/"),
            ("POST", "{id}/default/"),
            ("DELETE", "{id}/default/"),
            ("GET", "{id}/download/"),
        )
    },
}

# Operations an anonymous caller may use.
PUBLIC = {
    "POST /api/v1/estimate/",
    "POST /api/v1/capacity/",
    "POST /api/v1/breakeven/",
    "POST /api/v1/export/",
}


def _schema_operations() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item)


def test_every_schema_operation_has_permission_tests():
    operations = _schema_operations()

    missing = [operation for operation in operations if operation not in PERMISSION_TESTS]
    assert not missing, (
        f"{len(missing)} API operation(s) have no permission tests listed in {__name__}.PERMISSION_TESTS:\n  "
        + "\n  ".join(missing)
        + "\nWrite tests of who may call each (anonymous, outsider, viewer, editor, team admin, staff) and "
        "list them there."
    )
    stale = sorted(set(PERMISSION_TESTS) - set(operations))
    assert not stale, f"PERMISSION_TESTS lists operations that are no longer in the schema: {stale}"


def test_listed_permission_tests_exist():
    for operation, node_ids in PERMISSION_TESTS.items():
        for node_id in node_ids:
            path, function = node_id.split("::")
            module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            assert callable(getattr(module, function, None)), f"{operation}: {node_id} does not exist"


@pytest.mark.django_db
@pytest.mark.parametrize("operation", _schema_operations())
def test_anonymous_callers_are_refused_everywhere(operation):
    method, path = operation.split(" ", 1)
    # Any value will do: authentication is decided before any object is looked up.
    url = re.sub(r"\{key\}", "llama-3.1-8b", path)
    url = re.sub(r"\{[^}]+\}", "1", url)

    response = APIClient().generic(method, url, "{}", content_type="application/json")

    if operation in PUBLIC:
        assert response.status_code != 401
        return
    assert response.status_code == 401, (operation, response.status_code)
    assert set(response.json()) == {"code", "message", "detail"}
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
