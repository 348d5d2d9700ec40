"""The measurements pages: upload through the form, bad rows listed, a set's rows shown, permissions."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from planner.models import Measurement, MeasurementSet
from tests.planner.conftest import HEADER
from tests.planner.test_api_measurements import ROWS


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _file(*rows: str) -> io.BytesIO:
    f = io.BytesIO(("\n".join([HEADER, *rows]) + "\n").encode())
    f.name = "mine.csv"
    return f


@pytest.mark.django_db
def test_an_editor_uploads_through_the_form_and_sees_the_rows(catalog, team, editor):
    client = _client(editor)
    page = client.get("/measurements/")
    assert page.status_code == 200 and b'id="upload-form"' in page.content
    response = client.post("/measurements/", {"team": team.pk, "name": "lab", "file": _file(*ROWS)})
    assert response.status_code == 302
    stored = MeasurementSet.objects.get()
    assert response["Location"] == f"/measurements/{stored.pk}/"
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert b"tpot_ms" in detail.content and b"31.5" in detail.content and b"lab" in detail.content
    assert b'id="delete-set"' not in detail.content  # editors do not delete


@pytest.mark.django_db
def test_the_form_lists_invalid_rows_and_stores_nothing_until_confirmed(catalog, team, editor):
    client = _client(editor)
    bad = ROWS[1].replace("7.9", "quick")
    response = client.post("/measurements/", {"team": team.pk, "name": "lab", "file": _file(ROWS[0], bad)})
    assert response.status_code == 400
    assert b'id="invalid-rows"' in response.content and b"not a number" in response.content
    assert not MeasurementSet.objects.exists()
    response = client.post(
        "/measurements/",
        {"team": team.pk, "name": "lab", "file": _file(ROWS[0], bad), "confirm_partial": "on"},
    )
    assert response.status_code == 302
    assert Measurement.objects.count() == 1


@pytest.mark.django_db
def test_a_file_the_form_cannot_read_names_the_line(catalog, team, editor):
    client = _client(editor)
    response = client.post(
        "/measurements/",
        {
            "team": team.pk,
            "name": "lab",
            "file": _file(ROWS[0].replace("llama-3.1-8b,h100-sxm-80gb", ",h100-sxm-80gb")),
        },
    )
    assert response.status_code == 400
    assert b"does not state &#x27;model&#x27;" in response.content


@pytest.mark.django_db
def test_viewers_see_no_form_outsiders_get_404_admins_delete(
    catalog, team, editor, viewer, outsider, team_admin
):
    _client(editor).post("/measurements/", {"team": team.pk, "name": "h100-lab", "file": _file(*ROWS)})
    stored = MeasurementSet.objects.get()
    page = _client(viewer).get("/measurements/")
    assert b'id="upload-form"' not in page.content and b"h100-lab" in page.content
    assert _client(viewer).post(f"/measurements/{stored.pk}/").status_code == 403
    assert _client(outsider).get(f"/measurements/{stored.pk}/").status_code == 404
    assert b"h100-lab" not in _client(outsider).get("/measurements/").content
    response = _client(team_admin).post(f"/measurements/{stored.pk}/")
    assert response.status_code == 302 and not MeasurementSet.objects.exists()
