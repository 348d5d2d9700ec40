"""OpenAPI schema and interactive docs, served without any CDN; JSON errors for unknown API URLs."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    text = out.read_text()
    for path in ("/api/v1/estimate/", "/api/v1/plans/{id}/diff/", "/api/v1/models/import/", "/api/v1/teams/"):
        assert path in text


@pytest.mark.django_db
def test_schema_and_docs_are_public_and_use_no_cdn(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/v1/docs/")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert docs.status_code == 200
    html = docs.content.decode()
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
    # No CDN host anywhere (a word match: the page's random CSRF token may contain the letters "cdn").
    assert not re.search(r"//[\w.-]*cdn[\w.-]*\.|jsdelivr|unpkg|cdnjs", html, re.IGNORECASE)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("swagger-ui" in asset for asset in assets)


@pytest.mark.django_db
def test_docs_assets_are_served_by_whitenoise(live_server):
    import urllib.request

    from django.test import Client

    html = Client().get("/api/v1/docs/").content.decode()
    bundle = next(a for a in re.findall(r'src="(/static/[^"]+\.js)"', html) if "bundle" in a)
    with urllib.request.urlopen(live_server.url + bundle) as response:  # noqa: S310 - local test server
        assert response.status == 200
        assert len(response.read()) > 100_000


@pytest.mark.django_db
def test_unknown_api_url_is_a_json_404(client, settings):
    settings.DEBUG = False
    response = client.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found.", "detail": None}
