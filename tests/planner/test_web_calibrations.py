"""The calibrations pages: fit from the form, the report page (errors, scatter data, moved parameters,
disagreeing rows), the team-default switch, permissions."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from planner.models import Team, TeamCalibration


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_editor_fits_from_the_form(measurement_set, team, editor, sent):
    client = _client(editor)
    page = client.get("/calibrations/")
    assert page.status_code == 200 and b'id="fit-form"' in page.content
    response = client.post(
        "/calibrations/", {"team": team.pk, "name": "from the form", "measurement_sets": [measurement_set.pk]}
    )
    assert response.status_code == 302
    job = TeamCalibration.objects.get()
    assert response["Location"] == f"/calibrations/{job.pk}/"
    detail = client.get(response["Location"])
    assert b"Queued" in detail.content and b'http-equiv="refresh"' in detail.content


@pytest.mark.django_db
def test_the_report_page_shows_errors_scatter_and_moved_parameters(
    fitted, team, team_admin, viewer, outsider
):
    page = _client(viewer).get(f"/calibrations/{fitted.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="errors"' in html and "tpot_ms" in html and 'id="moved"' in html and 'id="disagreeing"' in html
    data = json.loads(re.search(r'id="calibration-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert len(data) == 6 and {"measured", "team", "shipped", "metric"} <= set(data[0])
    assert 'id="make-default"' not in html  # viewers do not choose the team's default
    assert _client(outsider).get(f"/calibrations/{fitted.pk}/").status_code == 404
    admin = _client(team_admin)
    assert b'id="make-default"' in admin.get(f"/calibrations/{fitted.pk}/").content
    assert admin.post(f"/calibrations/{fitted.pk}/", {"action": "default"}).status_code == 302
    assert Team.objects.get(pk=team.pk).default_calibration_id == fitted.pk
    assert b"team default" in admin.get("/calibrations/").content
