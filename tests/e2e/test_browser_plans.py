"""Plans in the browser: sign in, save an estimate as a plan, edit it into version 2, diff the two side by
side, recompute, sign out; plus the web views' permission edges (viewer, outsider, anonymous)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from planner.models import Membership, Plan, Role
from planner.services import plans
from tests.e2e.conftest import wait_for_update

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, username: str, password: str, next_url: str = "/") -> None:
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_sign_in_save_a_plan_edit_it_and_diff_the_versions(page, seeded_catalog, planner_user, shoot):
    page.goto("/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "correct username and password" in page.inner_text(".form-errors")
    shoot(page, "sign-in-error")

    sign_in(page, "ada", "correct-horse-battery", "/?model=llama-3.1-70b&hardware=h100-sxm-80gb")
    assert page.inner_text(".who") == "ada"
    page.fill("#id_num_gpus", "2")
    page.select_option("#id_tensor_parallel", "2")
    page.select_option("#id_precision", "fp8")
    wait_for_update(page)
    page.fill("#id_name", "Support bot")
    page.click("#save-plan")
    page.wait_for_load_state()

    plan = Plan.objects.get(name="Support bot")
    assert page.url.endswith(f"/plans/{plan.pk}/")
    assert "Saved “Support bot” as version 1." in page.inner_text(".messages")
    assert plan.current_version.inputs["tensor_parallel"] == 2
    assert plan.current_version.inputs["precision"] == "fp8"

    # Edit: the calculator opens on the plan's inputs; a change saved becomes version 2.
    page.click("#edit-plan")
    page.wait_for_load_state()
    assert page.input_value("#id_num_gpus") == "2"
    assert page.input_value("#id_precision") == "fp8"
    page.fill("#id_output_tokens", "1024")
    wait_for_update(page)
    assert page.inner_text("#save-version") == "Save as version 2"
    page.click("#save-version")
    page.wait_for_load_state()
    assert "Saved version 2." in page.inner_text(".messages")
    assert page.locator("#version-2").count() == 1
    shoot(page, "plan-detail")

    # Diff: version 1 (A) and 2 (B) are preselected; both appear side by side with the change marked.
    page.click("#compare")
    page.wait_for_load_state()
    assert "/diff/?a=1&b=2" in page.url
    assert page.inner_text("#side-a h2") == "Version 1"
    assert page.inner_text("#side-b h2") == "Version 2"
    a_box, b_box = page.locator("#side-a").bounding_box(), page.locator("#side-b").bounding_box()
    assert a_box["x"] < b_box["x"] and abs(a_box["y"] - b_box["y"]) < 1  # side by side
    row = page.locator("#section-inputs tr[data-field='output_tokens']")
    assert row.get_attribute("class") == "changed"
    assert row.locator("td").all_inner_texts()[1:] == ["256", "1024"]
    assert page.locator("#section-results tr.changed").count() > 0
    shoot(page, "plan-diff")

    # Recompute adds version 3 from today's catalog; then sign out.
    page.goto(f"/plans/{plan.pk}/")
    page.click("#recompute")
    page.wait_for_load_state()
    assert "as version 3" in page.inner_text(".messages")
    assert plan.versions.count() == 3
    page.goto("/plans/")
    assert "Support bot" in page.inner_text("main")
    shoot(page, "plans")
    page.click("text=Sign out")
    page.wait_for_load_state()
    assert page.locator(".account").inner_text().strip() == "Sign in"


def test_creating_a_team_from_the_plans_page(page, seeded_catalog):
    get_user_model().objects.create_user(username="grace", password="hopper-cobol-1959")
    sign_in(page, "grace", "hopper-cobol-1959", "/plans/")
    assert "in no team yet" in page.inner_text("main")
    page.fill("#id_name", "Research")
    page.fill("#id_slug", "bad slug!")
    page.click("text=Create team")
    page.wait_for_load_state()
    assert "valid “slug”" in page.inner_text(".has-error")
    page.fill("#id_slug", "research")
    page.click("text=Create team")
    page.wait_for_load_state()
    assert "Created team “Research”" in page.inner_text(".messages")
    page.goto("/")
    assert page.locator("#save-plan").count() == 1


def test_viewers_cannot_add_versions_and_outsiders_see_nothing(seeded_catalog, planner_user):
    team = planner_user.memberships.get().team
    inputs = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb"}
    plan = plans.plan_create(user=planner_user, team=team, name="P", inputs=inputs)
    users = get_user_model().objects
    viewer = users.create_user(username="vic", password="x")
    Membership.objects.create(team=plan.team, user=viewer, role=Role.VIEWER)
    outsider = users.create_user(username="olga", password="x")
    form = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "prompt_tokens": 1, "output_tokens": 1,
            "batch_size": 1, "num_gpus": 1, "tensor_parallel": 1, "precision": "fp16", "framework": "vllm",
            "deployment_mode": "cloud", "requests_per_hour": 0}  # fmt: skip

    client = Client()
    assert client.get(f"/plans/{plan.pk}/").status_code == 302  # anonymous: to sign-in
    client.force_login(viewer)
    page = client.get(f"/plans/{plan.pk}/")
    assert page.status_code == 200 and b"edit-plan" not in page.content
    client.post(f"/plans/{plan.pk}/versions/new/", form)
    client.post(f"/plans/{plan.pk}/recompute/")
    assert plan.versions.count() == 1
    response = client.post(
        "/plans/new/", {**form, "name": "mine", "team": plan.team_id, "visibility": "team"}
    )
    assert response.status_code == 302 and Plan.objects.count() == 1  # the team is not offered to a viewer

    client.force_login(outsider)
    assert client.get(f"/plans/{plan.pk}/").status_code == 404
    assert client.get(f"/plans/{plan.pk}/diff/?a=1&b=1").status_code == 404
    client.post(f"/plans/{plan.pk}/versions/new/", form)
    assert plan.versions.count() == 1
