"""Every list endpoint runs a fixed number of queries however many rows it returns (no N+1).

Clients use force_authenticate, so no session or token lookups are counted.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from planner.models import Membership, PricePoint, Role
from planner.services import plans, teams
from tests.planner.conftest import ESTIMATE_INPUTS


@pytest.fixture
def many(catalog, team, editor, team_admin):
    """Several rows behind every list: plans with versions, price points, members, teams."""
    for i in range(4):
        plan = plans.plan_create(user=editor, team=team, name=f"Plan {i}", inputs=ESTIMATE_INPUTS)
        plans.plan_recompute(plan, user=editor)
    for hardware in catalog["hardware"]:
        for day in (1, 2):
            PricePoint.objects.create(
                hardware=hardware,
                provider="Acme",
                usd_per_gpu_hour=day,
                as_of=dt.date(2026, 1, day),
                source="q",
            )
        PricePoint.objects.create(
            hardware=hardware,
            provider="Deal",
            usd_per_gpu_hour=1,
            as_of=dt.date(2026, 1, 1),
            source="q",
            team=team,
        )
    for i in range(4):
        user = get_user_model().objects.create_user(username=f"member{i}")
        Membership.objects.create(team=team, user=user, role=Role.VIEWER)
        teams.team_create(user=editor, name=f"Team {i}", slug=f"team-{i}")
    return team


LISTS = [
    pytest.param("/api/v1/hardware/", 2, id="hardware"),
    pytest.param("/api/v1/hardware/?kind=datacenter_gpu&ordering=-memory_bytes", 2, id="hardware-filtered"),
    pytest.param("/api/v1/models/", 2, id="models"),
    pytest.param("/api/v1/models/?search=llama&ordering=params_total", 2, id="models-searched"),
    pytest.param("/api/v1/prices/", 2, id="prices"),
    pytest.param("/api/v1/hosted-api-prices/", 2, id="hosted-api-prices"),
    pytest.param("/api/v1/hosted-api-prices/?model=llama-3.1-70b&search=meta", 2, id="hosted-filtered"),
    pytest.param("/api/v1/teams/", 2, id="teams"),
    pytest.param("/api/v1/plans/", 2, id="plans"),
    pytest.param("/api/v1/plans/?ordering=name&search=Plan", 2, id="plans-searched"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "queries"), LISTS)
def test_list_query_count_is_pinned(client_for, editor, many, url, queries, django_assert_max_num_queries):
    client = client_for(editor)
    with django_assert_max_num_queries(queries):
        response = client.get(url)

    assert response.status_code == 200
    assert response.json()["count"] >= 2


@pytest.mark.django_db
def test_nested_list_query_counts_are_pinned(client_for, editor, many, django_assert_max_num_queries):
    client = client_for(editor)
    plan = many.plans.first()
    # Object lookup (1), permission-free read; then count + page.
    with django_assert_max_num_queries(3):
        versions = client.get(f"/api/v1/plans/{plan.pk}/versions/")
    with django_assert_max_num_queries(3):
        members = client.get(f"/api/v1/teams/{many.pk}/members/")

    assert versions.status_code == 200
    assert [v["number"] for v in versions.json()["results"]] == [1, 2]
    assert members.status_code == 200
    assert members.json()["count"] == 7
