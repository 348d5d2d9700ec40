"""Guessing passwords is stopped (reliability issue: 100 wrong passwords at ~3/s, then the right one logged
in): after the failure limit one username from one address is refused, on the site's and the admin's login,
for the cool-off; the right password from elsewhere still works, and a rotated X-Forwarded-For is no
"elsewhere" (it is not believed without trusted proxies)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.planner.conftest import _user

ATTACKER = "198.51.100.7"


def _attempt(path: str, password: str, address: str, **headers) -> str:
    """ "in" (signed in), "locked" (429) or "wrong" (the form again)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(path, {"username": "ada", "password": password}, **headers)
    if response.status_code == 429:
        return "locked"
    return "in" if "_auth_user_id" in client.session else "wrong"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_right_password_after_the_limit_is_refused_from_the_guessing_address(path):
    _user("ada", is_staff=True)
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        _attempt(path, f"wrong-{i}", ATTACKER, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        for i in range(limit + 5)
    ]
    assert statuses[: limit - 1] == ["wrong"] * (limit - 1)
    assert "locked" in statuses and statuses.index("locked") <= limit
    assert _attempt(path, "pw-ada", ATTACKER) == "locked"
    # The user, from their own address, is not locked out by a stranger's guesses.
    assert _attempt(path, "pw-ada", "192.0.2.10") == "in"


@pytest.mark.django_db
def test_a_right_password_resets_the_count():
    _user("ada")
    limit = settings.AXES_FAILURE_LIMIT
    for i in range(limit - 1):
        assert _attempt("/accounts/login/", f"wrong-{i}", ATTACKER) == "wrong"
    assert _attempt("/accounts/login/", "pw-ada", ATTACKER) == "in"
    # The count started again: one more wrong password is not the limit.
    assert _attempt("/accounts/login/", "wrong-again", ATTACKER) == "wrong"


@pytest.mark.django_db
def test_guessing_api_tokens_is_locked_out_per_address(settings):
    """Reliability issue: bad API tokens had no limit. After the limit of wrong tokens from one address, that
    address gets 429 (a right token included) for the window; another address is unaffected, and a rotated
    X-Forwarded-For is no other address."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.TOKEN_FAILURE_LIMIT = 5
    token = Token.objects.create(user=_user("tokenholder")).key
    guesser = APIClient(REMOTE_ADDR=ATTACKER)

    answers = [
        guesser.get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {'0' * 39}{i}").status_code for i in range(5)
    ]
    assert answers == [401] * 5
    rotated = {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert guesser.get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token}", **rotated).status_code == 429
    body = guesser.get("/api/v1/teams/", HTTP_AUTHORIZATION="Token x").json()
    assert body["code"] == "throttled"
    elsewhere = APIClient(REMOTE_ADDR="192.0.2.44")
    assert elsewhere.get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
