"""Security settings and access rules not covered elsewhere.

Already covered, not repeated here: a missing or empty SECRET_KEY and DEBUG=true stop a production start and
`check --deploy` passes with no warning (tests/planner/test_configuration.py); the 413 body limit and the
anonymous estimate throttle with its error shape (tests/planner/test_api_estimate.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from planner.models import Hardware, LLMModel, Plan, Team
from tests.planner.conftest import ESTIMATE_INPUTS
from tests.planner.test_configuration import PRODUCTION_ENV, manage

ROOT = Path(__file__).resolve().parents[2]
ERROR_KEYS = {"code", "message", "detail"}


def _env_example_secret() -> str:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            return line.split("=", 1)[1]
    raise AssertionError(".env.example has no SECRET_KEY line")


@pytest.mark.parametrize(
    "secret",
    [
        "django-insecure-dev-only-key-not-for-production",  # the development default
        "django-insecure-+k3$w9z!q0x#4m8r7t2v5b1n6c0f9d3e8a7s2g5h4j1",  # what startproject generates
        _env_example_secret(),
    ],
    ids=["dev-default", "django-insecure", "env-example-placeholder"],
)
def test_production_refuses_a_published_secret_key(secret):
    result = manage("check", **{**PRODUCTION_ENV, "SECRET_KEY": secret})

    assert result.returncode != 0
    assert "SECRET_KEY: is a published default or placeholder" in result.stderr


def test_production_settings_are_hardened():
    script = (
        "import json; from django.conf import settings as s;"
        "print(json.dumps({name: getattr(s, name, None) for name in ("
        "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY',"
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS',"
        "'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS', 'MIDDLEWARE')}))"
    )
    result = manage("shell", "--no-imports", "-c", script, **PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert "django.middleware.csrf.CsrfViewMiddleware" in values["MIDDLEWARE"]


@pytest.mark.django_db
def test_session_callers_need_a_csrf_token_for_api_writes(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    body = json.dumps({"name": "Forged", "slug": "forged"})

    forged = client.post("/api/v1/teams/", body, content_type="application/json")

    assert forged.status_code == 403
    assert set(forged.json()) == ERROR_KEYS
    assert "CSRF" in forged.json()["message"]
    assert not Team.objects.filter(slug="forged").exists()

    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    allowed = client.post("/api/v1/teams/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 201


@pytest.mark.django_db
def test_admin_is_for_staff_only(editor, staff):
    anonymous = Client().get("/admin/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")

    member = Client()
    member.force_login(editor)
    refused = member.get("/admin/")
    assert refused.status_code == 302
    assert refused["Location"].startswith("/admin/login/")
    assert member.get("/admin/planner/plan/").status_code == 302

    login = Client().post("/admin/login/?next=/admin/", {"username": "editor", "password": "pw-editor"})
    assert login.status_code == 200  # the form again: a non-staff password does not open the admin
    assert "_auth_user_id" not in login.wsgi_request.session

    admin = Client()
    admin.force_login(staff)
    assert admin.get("/admin/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("resource", "model_class"), [("hardware", Hardware), ("models", LLMModel)])
@pytest.mark.parametrize(("actor", "expected"), [("anonymous", 401), ("editor", 403), ("staff", 201)])
def test_catalog_duplicate_is_staff_only(resource, model_class, actor, expected, users, client_for, catalog):
    row = catalog["hardware" if resource == "hardware" else "models"][0]
    before = model_class.objects.count()

    response = client_for(users[actor]).post(f"/api/v1/{resource}/{row.key}/duplicate/")

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == ERROR_KEYS
    assert model_class.objects.count() == before + (expected == 201)


@pytest.mark.django_db
def test_full_updates_need_the_same_rights_as_partial_ones(users, client_for, plan, team, catalog):
    """PUT goes through the same permission classes as PATCH (covered by the matrices); pin it anyway."""
    plan_body = {"name": "Put", "description": "", "visibility": "team", "inputs": ESTIMATE_INPUTS}
    hardware = catalog["hardware"][0]

    assert (
        client_for(users["viewer"]).put(f"/api/v1/plans/{plan.pk}/", plan_body, format="json").status_code
        == 403
    )
    assert (
        client_for(users["outsider"]).put(f"/api/v1/plans/{plan.pk}/", plan_body, format="json").status_code
        == 404
    )
    assert (
        client_for(users["editor"])
        .put(f"/api/v1/teams/{team.pk}/", {"name": "T", "slug": "t"}, format="json")
        .status_code
        == 403
    )
    assert (
        client_for(users["editor"]).put(f"/api/v1/hardware/{hardware.key}/", {}, format="json").status_code
        == 403
    )
    hosted = catalog["hosted_prices"][0]
    assert (
        client_for(users["editor"])
        .put(f"/api/v1/hosted-api-prices/{hosted.pk}/", {}, format="json")
        .status_code
        == 403
    )
    assert Plan.objects.get(pk=plan.pk).name == "Chat bot"
    assert Team.objects.get(pk=team.pk).name == "Inference"
